"""``filter`` / ``order`` / ``start`` semantics of Bitrix24 list methods.

Filter key prefixes [fact sheet §5, EN:api-reference/crm/companies/crm-company-list.md]: ``>=``, ``>``, ``<=``, ``<``,
``@`` (IN), ``!@`` (NOT IN), ``%`` (LIKE substring), ``=%`` / ``%=`` (LIKE with explicit ``%``), ``=`` (default),
``!=``, ``!``; ``crm.item.list`` / ``crm.requisite.list`` also ``!%``, ``!=%``, ``!%=`` (NOT LIKE).
Paging: 50 rows, ``next`` only when more rows follow, ``start=-1`` = no COUNT (``total`` 0, no ``next``)
[§5, EN:settings/performance/huge-data.md].
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from itertools import islice
from typing import Any, Callable, Iterable

PAGE = 50  # fixed page size [EN:settings/how-to-call-rest-api/list-methods-pecularities.md]

_OPS = ("!=%", "!%=", ">=", "<=", "!@", "!%", "=%", "%=", "!=", ">", "<", "@", "%", "=", "!")
NUMERIC = {"integer", "double", "user", "crm_company", "crm_contact", "crm_lead", "crm_quote", "crm_category",
           "crm_entity", "int", "float", "money_num", "employee", "enumeration", "crm_deal"}
DATES = {"datetime", "date"}


class FilterError(ValueError):
    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


def split_key(key: str) -> tuple[str, str]:
    for op in _OPS:
        if key.startswith(op) and len(key) > len(op):
            return op, key[len(op):]
    return "=", key


def parse_date(v: Any) -> float | None:
    if v is None or v == "" or v is False:
        return None
    s = str(v).strip()
    for fmt in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S",
                "%Y-%m-%d", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y"):
        try:
            d = datetime.strptime(s, fmt)
        except ValueError:
            continue
        if d.tzinfo is None:
            from .model import PORTAL_TZ
            d = d.replace(tzinfo=PORTAL_TZ)
        return d.timestamp()
    try:
        return datetime.fromisoformat(s).replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return None


def coerce(ftype: str, v: Any) -> Any:
    if v is None:
        return None
    if ftype in NUMERIC:
        if v == "" or v is False:
            return None
        try:
            return float(v)
        except (TypeError, ValueError):
            return str(v).lower()
    if ftype in DATES:
        return parse_date(v)
    if isinstance(v, bool):
        return "y" if v else "n"
    return str(v).lower()


def _like(pattern: str) -> re.Pattern[str]:
    rx = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern.lower())
    return re.compile(f"^{rx}$", re.S)


class Cond:
    __slots__ = ("op", "field", "ftype", "value", "values", "rx", "negate")

    def __init__(self, op: str, field: str, ftype: str, value: Any) -> None:
        self.op, self.field, self.ftype = op, field, ftype
        self.negate = op.startswith("!")
        self.rx = None
        self.values = None
        if op in ("@", "!@") or (op in ("=", "!", "!=") and isinstance(value, (list, dict))):
            vals = value.values() if isinstance(value, dict) else (value if isinstance(value, list) else [value])
            self.values = {coerce(ftype, x) for x in vals}
            self.value = None
        elif op in ("%", "!%"):
            self.rx = re.compile(re.escape(str(value).lower()), re.S)
            self.value = None
        elif op in ("=%", "%=", "!=%", "!%="):
            self.rx = _like(str(value))
            self.value = None
        else:
            self.value = coerce(ftype, value)

    def test_one(self, x: Any) -> bool:
        op = self.op
        if self.values is not None:
            hit = x in self.values or (x is None and ("" in self.values or None in self.values))
            return not hit if self.negate else hit
        if self.rx is not None:
            hit = x is not None and bool(self.rx.search(str(x)) if op in ("%", "!%") else self.rx.match(str(x)))
            return not hit if self.negate else hit
        v = self.value
        if op in ("=",):
            return x == v or (v is None and x in ("", None)) or (v == "" and x is None)
        if op in ("!", "!="):
            return not (x == v or (v in ("", None) and x in ("", None)))
        if x is None or v is None:
            return False
        try:
            if op == ">":
                return x > v
            if op == ">=":
                return x >= v
            if op == "<":
                return x < v
            if op == "<=":
                return x <= v
        except TypeError:
            return str(x) > str(v) if op[0] == ">" else str(x) < str(v)
        return False


def build_conditions(flt: Any, types: dict[str, str], strict: bool, resolve: Callable[[str], str | None]) -> list[Cond]:
    conds: list[Cond] = []
    if not isinstance(flt, dict):
        return conds
    for key, value in flt.items():
        if isinstance(value, dict) and (str(key).isdigit() or key == "logic"):
            continue  # OR-groups are handled by match_group (crm.item.list only)
        op, name = split_key(str(key))
        field = resolve(name)
        if field is None:
            if strict:
                raise FilterError(name)
            continue
        conds.append(Cond(op, field, types.get(field, "string"), value))
    return conds


def match(row_value: Callable[[str], Any], conds: list[Cond]) -> bool:
    for c in conds:
        raw = row_value(c.field)
        if isinstance(raw, list):  # multi-fields and multiple values: any element may match [EN: crm-company-list]
            vals = [coerce(c.ftype, x) for x in raw] or [None]
            ok = any(c.test_one(x) for x in vals) if not c.negate else all(c.test_one(x) for x in vals)
        else:
            ok = c.test_one(coerce(c.ftype, raw))
        if not ok:
            return False
    return True


def id_bounds(conds: list[Cond], id_field: str) -> tuple[dict[str, Any], list[Cond]]:
    """Pull ID range conditions out so the table can be range-scanned (indexed by ID)."""
    b: dict[str, Any] = {"lo": None, "lo_incl": True, "hi": None, "hi_incl": True, "in": None}
    rest: list[Cond] = []
    for c in conds:
        if c.field == id_field and isinstance(c.value, float) and c.op in (">", ">=", "<", "<=", "="):
            if c.op in (">", ">="):
                if b["lo"] is None or c.value >= b["lo"]:
                    b["lo"], b["lo_incl"] = c.value, c.op == ">="
            elif c.op in ("<", "<="):
                if b["hi"] is None or c.value <= b["hi"]:
                    b["hi"], b["hi_incl"] = c.value, c.op == "<="
            else:
                b["in"] = {c.value}
        elif c.field == id_field and c.values is not None and c.op in ("@", "="):
            b["in"] = {x for x in c.values if isinstance(x, float)}
        else:
            rest.append(c)
    return b, rest


def parse_order(order: Any, resolve: Callable[[str], str | None], strict: bool = False) -> list[tuple[str, bool]]:
    out: list[tuple[str, bool]] = []
    if isinstance(order, dict):
        for k, v in order.items():
            f = resolve(str(k))
            if f is None:
                if strict:
                    raise FilterError(str(k))
                continue
            out.append((f, str(v).upper() == "DESC"))
    return out


def page(table, conds: list[Cond], order: list[tuple[str, bool]], start: int, id_field: str,
         row_value: Callable[[dict, str], Any], types: dict[str, str],
         extra: Callable[[dict], bool] | None = None) -> tuple[list[dict], int | None, int]:
    """Return (rows, next, total). ``start < 0`` → no count. Ordering by ID alone (or none) walks the ID index lazily."""
    bounds, rest = id_bounds(conds, id_field)

    def ok(row: dict) -> bool:
        return match(lambda f: row_value(row, f), rest) and (extra is None or extra(row))

    by_id_only = not order or (len(order) == 1 and order[0][0] == id_field)
    reverse = bool(order) and order[0][1]
    if bounds["in"] is not None:
        ids: Iterable[int] = sorted((int(x) for x in bounds["in"] if int(x) in table.rows), reverse=reverse)
        ids = [i for i in ids if _in_bounds(i, bounds)]
    else:
        ids = table.id_range(bounds["lo"], bounds["hi"], bounds["lo_incl"], bounds["hi_incl"], reverse=reverse)
    rows_iter = (r for r in (table.rows.get(i) for i in ids) if r is not None and ok(r))
    if by_id_only:
        if start < 0:
            return list(islice(rows_iter, PAGE)), None, 0
        matched = list(rows_iter)
    else:
        matched = list(rows_iter)
        for field, desc in reversed(order):
            ftype = types.get(field, "string")
            matched.sort(key=lambda r: _sort_key(coerce(ftype, row_value(r, field))), reverse=desc)
        if start < 0:
            return matched[:PAGE], None, 0
    total = len(matched)
    chunk = matched[start:start + PAGE]
    nxt = start + PAGE if start + PAGE < total else None
    return chunk, nxt, total


def _in_bounds(i: int, b: dict[str, Any]) -> bool:
    if b["lo"] is not None and (i < b["lo"] or (i == b["lo"] and not b["lo_incl"])):
        return False
    if b["hi"] is not None and (i > b["hi"] or (i == b["hi"] and not b["hi_incl"])):
        return False
    return True


def _sort_key(v: Any) -> tuple[int, Any]:
    if v is None:
        return (0, 0)
    if isinstance(v, float):
        return (1, v)
    return (2, str(v))


def parse_start(v: Any) -> int:
    try:
        return int(float(v))
    except (TypeError, ValueError):
        return 0

"""Odoo search domains: prefix-notation lists of ``(field, operator, value)`` with ``&``, ``|``, ``!``
(implicit ``&`` between terms), dotted paths through many2one fields, and the operators a client sends."""

from __future__ import annotations

import re
from typing import Any

from b24sync.sandbox.odoo.db import Database, fields_of

OPERATORS = {"=", "!=", "<", "<=", ">", ">=", "in", "not in", "like", "ilike", "not like", "not ilike", "=like",
             "=ilike", "child_of", "parent_of"}


def _norm(domain: Any) -> list[Any]:
    if domain in (None, False):
        return []
    if not isinstance(domain, list):
        raise ValueError(f"Invalid domain: {domain!r}")
    out = []
    for t in domain:
        if isinstance(t, str) and t in ("&", "|", "!"):
            out.append(t)
        elif isinstance(t, (list, tuple)) and len(t) == 3 and isinstance(t[0], str):
            if t[1] not in OPERATORS:
                raise ValueError(f"Invalid operator {t[1]!r} in domain term {list(t)!r}")
            out.append(tuple(t))
        elif t in (True, False) or t in ([1, "=", 1], [0, "=", 1], (1, "=", 1), (0, "=", 1)):
            out.append(t)
        else:
            raise ValueError(f"Invalid domain term {t!r}")
    return out


def _value(db: Database, model: str, row: dict[str, Any], path: str) -> Any:
    head, _, rest = path.partition(".")
    f = fields_of(model).get(head)
    if f is None:
        raise ValueError(f"Invalid field {model}.{head} in leaf {path!r}")
    v = row.get(head) if head != "id" else row["id"]
    if f.type == "one2many":
        v = [r["id"] for r in db.tables[f.relation or ""].values() if r.get(f.inverse or "") == row["id"]]
    if not rest:
        return v
    if f.type != "many2one":
        raise ValueError(f"Invalid path {path!r}: {head} is not a many2one")
    target = db.tables[f.relation or ""].get(v) if v else None
    return _value(db, f.relation or "", target, rest) if target else False


def _like(pattern: str, value: str, *, ci: bool, exact: bool) -> bool:
    if exact:
        rx = "^" + re.escape(pattern).replace("%", ".*").replace("_", ".") + "$"
        return re.match(rx, value, re.I if ci else 0) is not None
    return (pattern.lower() in value.lower()) if ci else (pattern in value)


def _leaf(db: Database, model: str, row: dict[str, Any], leaf: tuple[Any, ...]) -> bool:
    path, op, want = leaf
    have = _value(db, model, row, path)
    if isinstance(have, list) and op in ("=", "in"):  # x2many: any of
        return bool(set(have) & set(want if isinstance(want, list) else [want]))
    if have is None:
        have = False
    if op == "=":
        return have == want or (want is False and have in (False, "", None))
    if op == "!=":
        return not (have == want or (want is False and have in (False, "", None)))
    if op in ("in", "not in"):
        inside = have in (want or []) or (False in (want or []) and have in (False, "", None))
        return inside if op == "in" else not inside
    if op in ("like", "ilike", "not like", "not ilike", "=like", "=ilike"):
        if have is False:
            return op.startswith("not")
        hit = _like(str(want), str(have), ci="ilike" in op, exact=op.startswith("="))
        return not hit if op.startswith("not") else hit
    if have is False or want is False:
        return False
    try:
        return {"<": have < want, "<=": have <= want, ">": have > want, ">=": have >= want}[op]
    except TypeError:
        raise ValueError(f"Cannot compare {path} {op} {want!r}") from None


def matches(db: Database, model: str, row: dict[str, Any], domain: Any) -> bool:
    terms = _norm(domain)
    stack: list[bool] = []
    for t in reversed(terms):
        if t == "!":
            stack.append(not stack.pop())
        elif t in ("&", "|"):
            a, b = stack.pop(), stack.pop()
            stack.append((a and b) if t == "&" else (a or b))
        elif t is True or t in ([1, "=", 1], (1, "=", 1)):
            stack.append(True)
        elif t is False or t in ([0, "=", 1], (0, "=", 1)):
            stack.append(False)
        else:
            stack.append(_leaf(db, model, row, t))
    return all(stack)


def _sort_key(v: Any) -> tuple[bool, Any]:
    empty = v is None or v is False
    return (empty, 0 if empty else v)


def search(db: Database, model: str, domain: Any, *, offset: int = 0, limit: int | None = None,
           order: str | None = None, active_test: bool = True) -> list[int]:
    table = db.table(model)
    has_active = "active" in fields_of(model)
    mentions_active = any(isinstance(t, tuple) and t[0] == "active" for t in _norm(domain))
    rows = [r for r in table.values() if (not has_active or not active_test or mentions_active or r.get("active", True))
            and matches(db, model, r, domain)]
    keys = [(p.split()[0], len(p.split()) > 1 and p.split()[1].lower() == "desc")
            for p in (order or "id").split(",") if p.strip()]
    for fname, desc in reversed(keys):
        if fname not in fields_of(model):
            raise ValueError(f"Invalid field {fname!r} in order by")
        rows.sort(key=lambda r, f=fname: _sort_key(r.get(f)), reverse=desc)
    rows = rows[offset:]
    if limit:
        rows = rows[:limit]
    return [r["id"] for r in rows]

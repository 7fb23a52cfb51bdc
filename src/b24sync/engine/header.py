"""Header values (``Entity.header``): constants and lookups the target record gets that no source field carries —
the ERP's Организация, the Партнёр taken from the counterparty, the Соглашение, the Склад, the business operation,
the currency. Resolved in the order the spec lists them, so a lookup can use a value resolved before it
(``{target:Контрагент_Key}``) or a source field (``{field:NAME}``). A lookup that finds nothing holds the record
with the spec's message (in Russian by default)."""

from __future__ import annotations

import re
import weakref
from typing import Any

from b24sync.engine.errors import HoldError
from b24sync.engine.ports import ObjectRef
from b24sync.engine.runtime import Runtime
from b24sync.spec.models import Entity, HeaderValue, Lookup, Side
from b24sync.store.fingerprints import canonical


def _subst(v: Any, target: dict[str, Any], source: dict[str, Any]) -> Any:
    if isinstance(v, str) and v.startswith("{target:") and v.endswith("}") and v.count("{") == 1:
        return target.get(v[8:-1])
    if isinstance(v, str) and v.startswith("{field:") and v.endswith("}") and v.count("{") == 1:
        return source.get(v[7:-1])
    return v


_PLACE = re.compile(r"\{(field|target):([^{}]+)\}")


def _text(v: Any, target: dict[str, Any], source: dict[str, Any]) -> Any:
    """A constant with ``{field:NAME}`` / ``{target:NAME}`` inside (``"Заказ 1С {field:Number}"``): the names'
    values written in; a constant that is one placeholder alone takes the value as it is (its type kept)."""
    if not isinstance(v, str) or "{" not in v:
        return v
    whole = _subst(v, target, source)
    if whole is not v:
        return whole
    return _PLACE.sub(lambda m: str((source if m.group(1) == "field" else target).get(m.group(2)) or ""), v)


async def apply(rt: Runtime, entity: Entity, tgt: Side, source: dict[str, Any], values: dict[str, Any], *,
                for_create: bool) -> None:
    adapter = rt.adapter(entity, tgt)
    cache: dict[tuple[str, str], Any] = {}
    for h in entity.header:
        name = h.erp if tgt == "erp" else h.crm
        if name is None or (h.on == "create" and not for_create) or not applies(h, source):
            continue
        if h.lookup is None:
            values[name] = _text(h.value, values, source)
            continue
        values[name] = await lookup_value(adapter, h.lookup, name, source, values, h.message, cache)


def applies(h: HeaderValue, source: dict[str, Any]) -> bool:
    """``when``: each named source field holds one of its values (a boolean matches only a boolean)."""
    for name, allowed in h.when.items():
        v = source.get(name)
        if not any((v is a) if isinstance(a, bool) or isinstance(v, bool) else canonical(v) == canonical(a)
                   for a in allowed):
            return False
    return True


# Constant lookups (no {target:…}/{field:…} in `where`: the organisation, the currency, the warehouse) are the same
# for every record: answered from memory for CONSTANT_TTL seconds instead of once per job. Lookups that depend on
# the record are always asked.
CONSTANT_TTL = 120.0
_constant: weakref.WeakKeyDictionary[Any, dict[tuple[str, str], tuple[float, Any]]] = weakref.WeakKeyDictionary()


def _is_constant(lookup: Lookup) -> bool:
    return not any(isinstance(v, str) and v.startswith(("{target:", "{field:")) for v in lookup.where.values())


async def lookup_value(adapter: Any, lookup: Lookup, name: str, source: dict[str, Any], target: dict[str, Any],
                       message: str | None, cache: dict[tuple[str, str], Any] | None = None) -> Any:
    """One lookup on the target system; exactly one live record must match, else the record is held."""
    import time

    where = {k: _subst(v, target, source) for k, v in lookup.where.items()}
    ckey = (lookup.object, repr(sorted(where.items())))
    memo = _constant.setdefault(adapter, {})
    hit = memo.get(ckey) if _is_constant(lookup) else None
    if hit is not None and time.monotonic() - hit[0] < CONSTANT_TTL:
        return hit[1]
    value = await _lookup(adapter, lookup, name, where, message, cache)
    if _is_constant(lookup):
        memo[ckey] = (time.monotonic(), value)
    return value


async def _lookup(adapter: Any, lookup: Lookup, name: str, where: dict[str, Any], message: str | None,
                  cache: dict[tuple[str, str], Any] | None) -> Any:
    empty = [k for k, v in where.items() if v in (None, "", "00000000-0000-0000-0000-000000000000")]
    if empty:
        raise HoldError(message or f"Не заполнено {', '.join(empty)} — по нему ищется {name} в {lookup.object}; "
                        "заполните и повторите.", detail={"header": name})
    key = (lookup.object, repr(sorted(where.items())))
    cache = {} if cache is None else cache
    if key not in cache:
        cache[key] = await adapter.find(ObjectRef(lookup.object), where)
    found = [r for r in cache[key] if not r.deleted]
    if len(found) != 1:
        what = "не найден" if not found else f"найдено {len(found)} записей"
        raise HoldError(message or f"{name}: в {lookup.object} по {where} {what} — заполните справочник или "
                        "исправьте спецификацию.", detail={"header": name, "found": len(found)})
    rec = found[0]
    return rec.values.get(lookup.take, rec.id if lookup.take in ("Ref_Key", "ID", "id") else None)


async def write_back(rt: Runtime, entity: Entity, src: Side, src_id: str, source: dict[str, Any],
                     target: dict[str, Any]) -> dict[str, Any]:
    """``Entity.write_back``: copy the target's fields (the ERP's number and id) onto the source record, only where
    they differ. Returns what was written."""
    want: dict[str, Any] = {}
    for wb in entity.write_back:
        to_name, from_name = (wb.crm, wb.erp) if src == "crm" else (wb.erp, wb.crm)
        v = target.get(from_name)
        if v not in (None, "") and str(source.get(to_name) or "") != str(v):
            want[to_name] = v
    if want:
        await rt.adapter(entity, src).update(rt.objref(entity, src), src_id, want)
    return want

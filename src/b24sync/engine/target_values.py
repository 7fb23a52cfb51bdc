"""The values a source record gives its target record: mapped fields (references resolved through the identity
map), then header constants and lookups, then the rows and their total."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from b24sync.engine import header, route, rows
from b24sync.engine.mapper import UnresolvedRef, map_record, other
from b24sync.engine.ports import Record
from b24sync.engine.related import push_or_hold
from b24sync.engine.runtime import Runtime
from b24sync.spec.models import Entity, Side
from b24sync.store import identity


async def target_values(rt: Runtime, name: str, entity: Entity, src: Side, record: Record, *,
                        for_create: bool) -> dict[str, Any]:
    """The target record's values: mapped fields, then header constants and lookups, then the rows and their
    total (``rows`` are sent whole, or not at all once the record sits in a ``frozen_at`` stage)."""
    tgt = other(src)
    try:
        values = map_record(rt.spec, entity, src, record.values, for_create=for_create, resolve=resolver(rt))
    except UnresolvedRef as e:
        if src == "erp" and for_create:
            await rows.push_items_early(rt, entity, name, record.values, resolver(rt))
        push_or_hold(rt, name, e)
    await header.apply(rt, entity, tgt, record.values, values, for_create=for_create)
    if for_create and tgt == "crm" and (source := await route.crm_value(rt, name, entity)) is not None:
        values[source[0]] = source[1]  # a record from a routed base carries it (the seller)
    if src == "crm":
        await rows.apply(rt, entity, record.values, values, resolver(rt), for_create=for_create)
    else:
        await rows.apply_to_crm(rt, entity, name, record.values, values, resolver(rt), for_create=for_create)
    return values


def resolver(rt: Runtime) -> Callable[[str, str, str], str | None]:
    """A reference's partner id through the identity map (None: not linked)."""
    def resolve(entity_name: str, side: str, record_id: str) -> str | None:
        with rt.db.connect() as conn:
            b = identity.find(conn, rt.spec.scope(entity_name), side, record_id)
        return b.id_on(other(side)) if b else None  # type: ignore[arg-type]

    return resolve

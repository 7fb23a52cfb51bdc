"""Resync: re-read both sides of an entity and repair drift (the cure after a fixed typo, a restored backup, a
field edited behind b24sync's back without a change stamp).

Every record of each side the entity flows from is read in full (not from the poll cursor, which stays where it
is) and enqueued as a *forced* sync: the fingerprints that normally skip an unchanged record are bypassed, so each
record is compared field by field with its partner on the other side and only the differences are written (a
record missing there is found by its link field or match keys, else created). Nothing new is invented: the same
record sync, the same guards, holds and dead letters as a poll's jobs. ``record_id`` resyncs one record (and, for a
two-way entity, its linked partner too).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from b24sync.engine.errors import PermanentError
from b24sync.engine.mapper import flows_from, other
from b24sync.engine.ports import ChangeCursor
from b24sync.engine.runtime import Runtime
from b24sync.engine.enqueue import enqueue_sync
from b24sync.spec.models import Side
from b24sync.store import identity


@dataclass
class ResyncPlan:
    read: dict[str, int] = field(default_factory=dict)  # side -> records read
    enqueued: int = 0


def source_sides(rt: Runtime, entity_name: str) -> list[Side]:
    entity = rt.entity(entity_name)
    return [s for s in ("crm", "erp") if flows_from(rt.spec, entity, s)]  # type: ignore[misc]


async def enqueue_resync(rt: Runtime, entity_name: str, *, record_id: str | None = None, side: Side | None = None,
                         on_page: Callable[[str, int], None] | None = None) -> ResyncPlan:
    """Read and enqueue. ``on_page(side, n)`` reports progress after each page of ``n`` records."""
    entity = rt.entity(entity_name)
    sides = source_sides(rt, entity_name)
    if not sides:
        raise PermanentError(f"entity {entity_name} flows from neither side — nothing to resync")
    if side is not None and side not in sides:
        raise PermanentError(f"entity {entity_name} does not flow from the {side} side (direction {entity.direction})")
    scope = rt.spec.scope(entity_name)
    plan = ResyncPlan()
    if record_id is not None:
        first: Side = side or (sides[0] if len(sides) == 1 else rt.spec.master_side(entity))  # type: ignore[assignment]
        todo: list[tuple[Side, str]] = [(first, record_id)]
        with rt.db.connect() as conn:
            b = identity.find(conn, scope, first, record_id)
        partner = b.id_on(other(first)) if b else None
        if partner is not None and other(first) in sides:
            todo.append((other(first), partner))
        with rt.db.begin() as conn:
            for s, rid in todo:
                enqueue_sync(conn, entity_name, s, rid, force=True, scope=scope, reason="resync")
                plan.read[s] = plan.read.get(s, 0) + 1
        plan.enqueued = len(todo)
        return plan
    for s in [side] if side else sides:
        adapter, obj = rt.adapter(entity, s), rt.objref(entity, s)
        cursor = ChangeCursor()
        plan.read[s] = 0
        while True:
            page = await adapter.read_changes(obj, cursor, overlap_seconds=0.0, limit=rt.spec.defaults.poll_page)
            records = [r for r in page.records if not r.deleted]

            def commit(records=records, s=s) -> None:  # type: ignore[no-untyped-def]
                with rt.db.begin() as conn:
                    for r in records:
                        enqueue_sync(conn, entity_name, s, r.id, record=r, force=True, scope=scope, reason="resync")

            await asyncio.to_thread(commit)
            plan.read[s] += len(page.records)
            plan.enqueued += len(records)
            if on_page is not None:
                on_page(s, len(page.records))
            if not page.more or page.cursor == cursor:
                break
            cursor = page.cursor
    return plan

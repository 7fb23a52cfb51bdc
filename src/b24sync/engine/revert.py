"""A change on a side the entity does not flow from: a field the other side owns that someone edited there is put
back (ERP-owned fields are read-only in the CRM) by a forced sync from the owner, and the ``on_revert`` hook says
why."""

from __future__ import annotations

from sqlalchemy import Connection

from b24sync.engine.enqueue import enqueue_sync
from b24sync.engine.mapper import edited_owned_fields, other
from b24sync.engine.ports import Record
from b24sync.engine.runtime import Outcome, Runtime
from b24sync.spec.models import Entity, Side
from b24sync.store import fingerprints, identity
from b24sync.store.queue import ClaimedJob


async def revert_owned_edits(rt: Runtime, entity: Entity, job: ClaimedJob, record: Record,
                             binding: identity.Binding | None, seen: fingerprints.Seen | None) -> Outcome:
    """A change on a side that does not own the entity's fields: if someone edited a field the other side owns,
    put the owner's value back (ERP-owned fields are read-only in the CRM) and say why."""
    side: Side = job.payload["side"]
    owner_side = other(side)
    if binding is None or binding.id_on(owner_side) is None or seen is None or not seen.written_values:
        return Outcome("skipped", detail={"why": f"{job.entity} does not flow from {side}"})
    edited = edited_owned_fields(rt.spec, entity, side, record.values, seen.written_values)
    if edited and job.payload.get("snapshot") is not None:
        # The poll's snapshot may predate our own write in this lane (stale, not a manual edit): look again.
        fresh = await rt.adapter(entity, side).get(rt.objref(entity, side), record.id)
        edited = [] if fresh is None else [
            n for n in edited_owned_fields(rt.spec, entity, side, fresh.values, seen.written_values) if n in edited]
    if not edited:
        return Outcome("skipped", detail={"why": "no owned field was edited"})
    owner_id = binding.id_on(owner_side)
    assert owner_id is not None

    def effects(conn: Connection) -> None:
        enqueue_sync(conn, job.entity, owner_side, owner_id, force=True, scope=rt.spec.scope(job.entity),
                     reason=f"revert manual edit of {', '.join(edited)} in {side}")

    hook = rt.hooks.get("on_revert")
    if hook is not None:
        await hook(rt, entity=entity, side=side, record_id=record.id, fields=edited)
    return Outcome("reverted", target=side, target_id=record.id, detail={"fields": edited}, effects=effects)

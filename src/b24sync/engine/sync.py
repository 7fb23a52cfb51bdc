"""The generic record sync: one job brings one record from its source side to the other side.

Steps (each a place where a flow can differ, in the OCA importer/exporter vocabulary):
1. read the source record (from the job's snapshot when the poll carried one, else a fresh ``get``);
2. skip it if its fingerprint equals what we last read (unchanged) or last wrote (the echo of our own write);
3. guards (engine/guards.py): do-not-sync flags skip, required fields and related records hold with a message;
4. bind (engine/binder.py): the identity map, else a lookup on the target by the link field (our natural key on
   the remote) and by the match keys — so a create whose response was lost is found, never repeated;
5. create (engine/create.py, with a write intent committed first) or update only the fields that differ
   (engine/update.py, diff-before-write: a value already there is never written again, which also ends any
   ping-pong);
6. commit fingerprints, binding, history and the job's completion in one transaction (engine/commit.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

from b24sync.engine import apart, binder, guards, route, rows, stages
from b24sync.engine.create import create_target, in_doubt
from b24sync.engine.enqueue import enqueue_sync, enqueue_sync_many, lane_for
from b24sync.engine.mapper import flows_from, project
from b24sync.engine.ports import Record
from b24sync.engine.record_job import RecordJob
from b24sync.engine.revert import revert_owned_edits
from b24sync.engine.runtime import Outcome, Runtime
from b24sync.engine.target_values import target_values
from b24sync.engine.update import diff_and_update
from b24sync.spec.models import Entity, Side
from b24sync.store.fingerprints import fingerprint
from b24sync.store.queue import ClaimedJob

__all__ = ["enqueue_sync", "enqueue_sync_many", "lane_for", "sync_record"]  # enqueueing lives in engine/enqueue.py


async def sync_record(rt: Runtime, job: ClaimedJob) -> Outcome:
    if rt.entity(job.entity).apart:  # a sum over documents, a credit limit: their own modules (engine/apart.py)
        return await apart.handle(rt, job)
    memo = stages.Memo()  # the watched stage fields this job saw, remembered with its outcome
    return memo.attach(await _sync(rt, job, memo))


async def _sync(rt: Runtime, job: ClaimedJob, memo: stages.Memo) -> Outcome:
    entity = rt.entity(job.entity)
    p = job.payload
    rj = RecordJob(rt, job, entity, p["side"], str(p["id"]))
    src, tgt, src_id = rj.src, rj.tgt, rj.src_id

    record = await _read_source(rt, entity, src, src_id, p)
    if record is None or record.deleted:
        return _gone(rj)
    skipped = guards.skipped_by_flag(rj, record)
    if skipped is not None:
        return skipped
    if (routed := await route.decide(rt, job.entity, entity, src, src_id, record, p)) is not None:
        return routed  # spec `erp.route`: another base's record (engine/route.py)
    memo.saw(rt.spec, entity, src, record)
    # store reads and writes run in a thread: hundreds of jobs share one event loop, and a blocked loop starves the
    # connectors' batchers (one SQLite commit is milliseconds)
    binding, seen_src, seen_tgt = await asyncio.to_thread(binder.recall, rt, rj.scope, job.entity, src, tgt, src_id)

    if "snapshot" in p and seen_src is not None and seen_src.written_hash is not None and flows_from(rt.spec, entity, src):
        # We have written to this record: a poll snapshot may predate our write (the job was enqueued before the
        # pair was linked), and syncing it would carry old values back. Read the record as it is now.
        record = await rt.adapter(entity, src).get(rt.objref(entity, src), src_id)
        if record is None or record.deleted:
            return _gone(rj)
    if not flows_from(rt.spec, entity, src):
        return await revert_owned_edits(rt, entity, job, record, binding, seen_src)

    record = await rows.with_rows(rt, entity, src, record)  # rows kept apart from the record (Bitrix24)
    h = fingerprint(project(rt.spec, entity, src, record.values))
    if not p.get("force") and seen_src and binding and binding.id_on(tgt):
        if h == seen_src.written_hash:
            return Outcome("echo", effects=rj.remember_read(record, h))
        if h == seen_src.read_hash:
            return Outcome("unchanged")

    criteria = await binder.match_keys(rj, record, binding)
    found = await binder.bind(rj, binding, criteria)
    if found.id is None:
        return await create_target(rj, record, h, found, memo)
    completing = await in_doubt(rj, found)  # a create of ours whose answer was lost: completed, not just linked
    await guards.check_holds(rt, entity, src, src_id, record, creating=completing)
    values = await target_values(rt, job.entity, entity, src, record, for_create=completing)
    binder.stamp_keys(rj, values, criteria if completing else None)
    return await diff_and_update(rj, record, h, found, seen_tgt, values)


async def _read_source(rt: Runtime, entity: Entity, src: Side, src_id: str, payload: dict[str, Any]) -> Record | None:
    snap = payload.get("snapshot")
    if snap is not None and (not payload.get("force") or payload.get("fresh")):
        return Record(src_id, snap["values"], version=snap.get("version"))
    return await rt.adapter(entity, src).get(rt.objref(entity, src), src_id)


def _gone(rj: RecordJob) -> Outcome:
    return Outcome("skipped", detail={"why": f"record {rj.src_id} no longer exists in {rj.src}"})

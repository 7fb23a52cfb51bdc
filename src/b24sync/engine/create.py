"""Creating the target record: the creation gates (``create``, the stage trigger, a match key or
``without_match_key``, the guards, ``dedupe.before_create``), then a write intent committed *before* the create —
so a create whose outcome is unknown (answer lost, process killed) is known to be in doubt, and the retry that
finds the record completes it (``in_doubt``) instead of creating a second one."""

from __future__ import annotations

import asyncio

from sqlalchemy import insert, select

from b24sync.engine import guards, header, review, route, rows, stages
from b24sync.engine.binder import Target, stamp_keys
from b24sync.engine.commit import committed
from b24sync.engine.dedupe import check_before_create
from b24sync.engine.errors import ValidationError
from b24sync.engine.ports import Record
from b24sync.engine.record_job import RecordJob
from b24sync.engine.runtime import Outcome
from b24sync.engine.target_values import target_values
from b24sync.messages import t
from b24sync.store.db import utcnow
from b24sync.store.models import WriteIntent


async def create_target(rj: RecordJob, record: Record, src_hash: str, found: Target, memo: stages.Memo) -> Outcome:
    """No target record is bound or found: create one (or say why not)."""
    rt, entity, src, src_id, tgt = rj.rt, rj.entity, rj.src, rj.src_id, rj.tgt
    criteria = found.criteria
    if not entity.create:
        return Outcome("skipped", detail={"why": f"no {tgt} record to update and the entity does not create"})
    gate = await stages.creation_gate(rt, entity, src, record, memo)
    if not gate.allowed:
        return Outcome("skipped", detail={"why": gate.why}, effects=rj.remember_read(record, src_hash))
    if not criteria and entity.without_match_key != "create":
        if guards.has_require_valid(entity, src):
            await guards.check_holds(rt, entity, src, src_id, record, creating=True)  # a required INN: the guard's text
        names = ", ".join(k.crm if src == "crm" else k.erp for r in entity.match for k in r.keys)
        why = t("sync.no_match_key", title=entity.title or rj.name, id=src_id, names=names)
        if entity.without_match_key == "skip":
            return Outcome("skipped", detail={"why": why}, effects=rj.remember_read(record, src_hash))
        raise ValidationError(why)
    await route.check_create(rt, rj.name, entity, src, record)  # no base named: hold, saying what to fill
    await guards.check_holds(rt, entity, src, src_id, record, creating=True)
    target, obj = rj.target, rj.obj
    await check_before_create(entity, src, src_id, record, tgt, target, obj,  # spec `dedupe.before_create`
                              distinct=await asyncio.to_thread(review.distinct, rt, rj.name, src, src_id)
                              if entity.dedupe is not None else None)
    values = await target_values(rt, rj.name, entity, src, record, for_create=True)
    stamp_keys(rj, values, criteria)  # a new record carries its match keys, so it can be found again later
    await asyncio.to_thread(declare_intent, rj)
    apart = rows.pop_apart(rt, entity, tgt, values)  # deal rows: one replace-all call after the deal
    new_id = await target.create(obj, values)
    if apart is not None:
        await rows.write_apart(rt, entity, tgt, str(new_id), apart)
        values[entity.rows.crm if tgt == "crm" else entity.rows.erp] = apart  # type: ignore[union-attr]
    if entity.write_back:
        created = await target.get(obj, str(new_id))
        await header.write_back(rt, entity, src, src_id, record.values, created.values if created else values)
    # A partner deleted on the target is brought back: "recreated" lets the link move to the new record.
    return committed(rj, str(new_id), record, src_hash, values, values, None,
                     "recreated" if found.action == "recreated" else "created", found.match_key)


async def in_doubt(rj: RecordJob, found: Target) -> bool:
    """A create of ours whose outcome was unknown (answer lost, process killed) and whose record is now found: the
    create is completed, not merely linked — a composite card cut mid-way gets its missing pieces, with the
    create-only fields too (the retry writes what the lost create would have written, never a second record)."""
    return found.action == "linked" and await asyncio.to_thread(_create_in_doubt, rj)


def _create_in_doubt(rj: RecordJob) -> bool:
    """Whether a create of this record on the target side was declared and never resolved (outcome unknown)."""
    with rj.rt.db.connect() as conn:
        return conn.execute(select(WriteIntent.id).where(
            WriteIntent.entity == rj.name, WriteIntent.side == rj.tgt,
            WriteIntent.natural_key == f"{rj.src}:{rj.src_id}", WriteIntent.resolved_at.is_(None)
        ).limit(1)).first() is not None


def declare_intent(rj: RecordJob) -> int:
    """Commit the intent to create this record on the target side (settled with the job's outcome, engine/commit.py)."""
    with rj.rt.db.begin() as conn:
        return int(conn.execute(insert(WriteIntent).values(
            entity=rj.name, side=rj.tgt, op="create", natural_key=f"{rj.src}:{rj.src_id}", job_id=rj.job.id,
            created_at=utcnow(),
        ).returning(WriteIntent.id)).scalar_one())

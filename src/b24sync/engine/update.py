"""Updating the bound target record: only the fields that differ are written (diff-before-write: a value already
there is never written again, which also ends any ping-pong), after two-sided conflicts are resolved — a field
both sides own that the target changed since our last write goes to the entity's master side."""

from __future__ import annotations

import logging
from typing import Any

from b24sync.engine import header, rows
from b24sync.engine.binder import Target
from b24sync.engine.commit import committed
from b24sync.engine.errors import ConflictError, RetryableError
from b24sync.messages import t
from b24sync.engine.ports import Record
from b24sync.engine.record_job import RecordJob
from b24sync.engine.runtime import Outcome, Runtime
from b24sync.spec.models import Entity, Side
from b24sync.store import fingerprints
from b24sync.store.fingerprints import canonical

log = logging.getLogger("b24sync.sync")


async def diff_and_update(rj: RecordJob, record: Record, src_hash: str, found: Target,
                          seen_tgt: fingerprints.Seen | None, values: dict[str, Any]) -> Outcome:
    """Write to ``found`` what of ``values`` differs from it now (its conflicts resolved first)."""
    rt, entity, src, src_id, tgt = rj.rt, rj.entity, rj.src, rj.src_id, rj.tgt
    current, target_id = found.current, found.id
    assert current is not None and target_id is not None
    conflicts = resolve_conflicts(rt, entity, tgt, current, seen_tgt, values, ours=rj.job.payload.get("ours"))
    if rows.rows_field(entity, tgt) in values:
        current = await rows.with_rows(rt, entity, tgt, current)  # rows kept apart are compared too
    diff = {k: v for k, v in values.items() if not rows.same_value(current.values.get(k), v)}
    apart = rows.pop_apart(rt, entity, tgt, diff)
    version = current.version
    if diff:
        try:
            version = await rj.target.update(rj.obj, target_id, diff, expected_version=current.version) or None
        except ConflictError as e:
            # Changed between our read and our write (the version guard: 1C DataVersion, an ETag, a row version).
            await version_conflict(rj, record, src_hash, target_id, current, diff, e)
    if apart is not None:
        await rows.write_apart(rt, entity, tgt, target_id, apart)
        diff[rows.rows_field(entity, tgt)] = apart  # type: ignore[index]
    merged = {**current.values, **diff}
    if entity.write_back:
        await header.write_back(rt, entity, src, src_id, record.values, merged)
    action = found.action
    out = committed(rj, target_id, record, src_hash, values, merged, version,
                    action if diff or action != "updated" else "unchanged", found.match_key,
                    conflicts=conflicts, diff=diff)
    if found.relinked_from is not None:  # the history line says whose link this was and why it moved
        out.detail.update({"relinked_from": found.relinked_from,
                           "why": f"{src} record {found.relinked_from} no longer exists"})
        log.warning("%s: %s record %s found %s record %s by its match key and takes over its link: the old partner, "
                    "%s record %s, no longer exists", rj.name, src, src_id, tgt, target_id, src, found.relinked_from)
    return out


async def version_conflict(rj: RecordJob, record: Record, src_hash: str, target_id: str, current: Record,
                           diff: dict[str, Any], e: ConflictError) -> None:
    """The target refused our write (or its guard did) because the record changed since we read it. Read it again:
    when the change touched none of the fields we write, retry shortly (the next try reads the new version); when
    it changed a field we were about to overwrite, park the record for a person (review kind ``version``) with
    the evidence — per field our value, the target's value now and what it was when we read it, and both
    versions. Always raises."""
    fresh = await rj.target.get(rj.obj, target_id)
    if fresh is None or fresh.deleted:
        raise RetryableError(f"{e.reason} — the record is gone now; will re-read and retry", retry_after=1.0) from e
    fields = [{"field": k, "ours": v, "theirs": fresh.values.get(k), "before": current.values.get(k)}
              for k, v in diff.items() if canonical(fresh.values.get(k)) != canonical(current.values.get(k))
              and not rows.same_value(fresh.values.get(k), v)]
    if not fields:
        raise RetryableError(f"{e.reason} — will re-read and retry", retry_after=1.0) from e
    names = ", ".join(f["field"] for f in fields)
    raise ConflictError(
        t("sync.version_conflict", side=t(f"side.{rj.tgt}"), id=target_id, fields=names),
        detail={"kind": "version", "target_side": rj.tgt, "target_id": target_id, "fields": fields,
                "read_version": current.version, "current_version": fresh.version,
                "guard": {k: v for k, v in (e.detail or {}).items() if k in ("expected", "current", "status", "code")},
                "src_hash": src_hash, "src_version": record.version}) from e


def resolve_conflicts(rt: Runtime, entity: Entity, tgt: Side, current: Record, seen_tgt: fingerprints.Seen | None,
                      values: dict[str, Any], *, ours: list[str] | None = None) -> list[dict[str, Any]]:
    """Fields owned by both sides that the target changed since our last write: the master's value wins — except
    the fields ``ours`` names (a person accepted our values over the target's in a version conflict)."""
    if seen_tgt is None or not seen_tgt.written_values:
        return []
    master = rt.spec.master_side(entity)
    found = []
    for f in entity.fields:
        if rt.spec.owner_of(entity, f) != "both":
            continue
        name = f.crm if tgt == "crm" else f.erp
        if name not in values:
            continue
        theirs, ours_before, ours_now = current.values.get(name), seen_tgt.written_values.get(name), values[name]
        if canonical(theirs) not in (canonical(ours_before), canonical(ours_now)):
            found.append({"field": name, "target_value": theirs, "source_value": ours_now, "winner": master})
            if name in (ours or ()):
                found.pop()  # a person chose our value (review of a version conflict): decided, not a conflict
            elif master == tgt:
                values.pop(name)  # the target is master for this entity: keep its edit
    return found

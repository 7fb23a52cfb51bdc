"""A write's outcome and its store effects, committed with the job's completion in one transaction: the binding,
both fingerprints, the watched stages, the settled write intents, the pair's files next, the conflicts resolved."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, update

from b24sync.engine import files, stages
from b24sync.engine.errors import ConflictError
from b24sync.engine.mapper import project
from b24sync.engine.ports import Record
from b24sync.engine.record_job import RecordJob
from b24sync.engine.runtime import Outcome
from b24sync.store import fingerprints, identity
from b24sync.store.db import utcnow
from b24sync.store.fingerprints import fingerprint
from b24sync.store.models import Conflict, WriteIntent


def committed(rj: RecordJob, target_id: str, record: Record, src_hash: str, values: dict[str, Any],
              merged: dict[str, Any], version: str | None, action: str, match_key: str | None, *,
              conflicts: list[dict[str, Any]] | None = None, diff: dict[str, Any] | None = None) -> Outcome:
    """``values``: what we wrote (remembered as written); ``merged``: the target record as it now is; ``diff``: the
    fields an update sent (all of ``values`` for a create)."""
    rt, entity, src, src_id, tgt, name = rj.rt, rj.entity, rj.src, rj.src_id, rj.tgt, rj.name
    tgt_hash = fingerprint(project(rt.spec, entity, tgt, merged))

    def effects(conn: Connection) -> None:
        ids = {"crm_id": src_id, "erp_id": target_id} if src == "crm" else {"crm_id": target_id, "erp_id": src_id}
        try:
            identity.bind(conn, rt.spec.scope(name), match_key=match_key, replace=action in ("recreated", "relinked"),
                          **ids)
        except identity.RelinkRefused as e:
            raise ConflictError(
                f"refusing to re-point a link: {e} — two records claim one partner; merge the duplicates (or "
                "correct the key), then replay", detail={"kind": "relink", "linked_crm_id": e.existing.crm_id,
                                                       "linked_erp_id": e.existing.erp_id, **ids}) from None
        fingerprints.mark_read(conn, name, src, src_id, src_hash, record.version)
        stages.note_written(conn, rt.spec, entity, tgt, target_id, values)
        fingerprints.mark_written(conn, name, tgt, target_id, written_hash=tgt_hash, written_values=values,
                                  version=version)
        # This attempt's intent and any left open by an earlier attempt (a lost answer, a kill) are settled now.
        conn.execute(update(WriteIntent).where(
            WriteIntent.entity == name, WriteIntent.side == tgt, WriteIntent.natural_key == f"{src}:{src_id}",
            WriteIntent.resolved_at.is_(None)).values(remote_id=target_id, resolved_at=utcnow()))
        files.enqueue_after(conn, rt, name, ids["crm_id"], ids["erp_id"])  # spec `files`: the pair's files next
        for c in conflicts or []:
            conn.execute(insert(Conflict).values(
                entity=name, crm_id=ids["crm_id"], erp_id=ids["erp_id"], field=c["field"], detail=c,
                created_at=utcnow(), resolved_at=utcnow()))

    detail: dict[str, Any] = {"fields": sorted((diff if diff is not None else values).keys())}
    if conflicts:
        detail["conflicts"] = conflicts
    links = {"crm": src_id, "erp": target_id} if src == "crm" else {"crm": target_id, "erp": src_id}
    return Outcome(action, target=tgt, target_id=target_id, detail=detail, effects=effects,
                   event={"target": tgt, "values": values, "links": links})

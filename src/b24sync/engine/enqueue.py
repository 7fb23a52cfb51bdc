"""Enqueueing a record's sync: the job's lane (one linked pair, one lane), payload (the poll's snapshot) and
coalescing key. Polls, webhooks, resyncs and follow-ups (a related record pushed first, a revert) all come here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from b24sync.engine.ports import Record
from b24sync.store import identity
from b24sync.store import queue as jobs
from b24sync.store.db import utcnow


def lane_for(entity: str, side: str, record_id: str, binding: identity.Binding | None = None) -> str:
    """Jobs of one linked pair share a lane, so the two directions of one record never race each other."""
    if binding is not None:
        return f"{entity}:link:{binding.id}"
    return f"{entity}:{side}:{record_id}"


def enqueue_sync(conn: Connection, entity: str, side: str, record_id: str, *, record: Record | None = None,
                 force: bool = False, reason: str = "", scope: str | None = None) -> int:
    """Enqueue a sync of one record. ``scope`` is the entity's identity scope (``Spec.scope``), which names its
    links and lanes; it defaults to the entity itself. ``force`` bypasses the fingerprints (a resync, a revert); with
    ``record`` too, that record was just read in full and is used as it is (not read again)."""
    scope = scope or entity
    binding = identity.find(conn, scope, side, record_id)
    job = _sync_job(scope, entity, side, record_id, binding, record, force, reason)
    return jobs.enqueue(conn, kind="sync", entity=entity, lane=job.lane, payload=job.payload,
                        dedup_key=job.dedup_key)


def enqueue_sync_many(conn: Connection, entity: str, side: str, items: list[tuple[str, Record | None]], *,
                      force: bool = False, reason: str = "", scope: str | None = None) -> int:
    """``enqueue_sync`` for many records of one side (``(record_id, record or None)``) in a few statements: a poll
    page, an initial load. Same lanes, payloads and coalescing as one by one."""
    scope = scope or entity
    bindings = identity.find_many(conn, scope, side, [rid for rid, _ in items])
    return jobs.enqueue_many(conn, kind="sync", entity=entity, jobs=[
        _sync_job(scope, entity, side, rid, bindings.get(rid), rec, force, reason) for rid, rec in items])


def _sync_job(scope: str, entity: str, side: str, record_id: str, binding: identity.Binding | None,
              record: Record | None, force: bool, reason: str) -> jobs.NewJob:
    lane = lane_for(scope, side, record_id, binding)
    payload: dict[str, Any] = {"side": side, "id": record_id, "force": force, "reason": reason,
                               "enqueued_at": utcnow().isoformat()}  # the sync-lag metric's fallback start
    if record is not None:
        payload["snapshot"] = {"values": record.values, "version": record.version,
                               "modified": record.modified.isoformat() if record.modified else None}
        if force:
            payload["fresh"] = True
    return jobs.NewJob(lane, payload, f"sync:{entity}:{side}:{record_id}")

"""Retention of personal data in the store (152-ФЗ: personal data is kept no longer than its purpose needs;
operations.md). Message history older than ``retention.days`` is deleted; resolved dead letters and holds older
than that are deleted; open ones keep their entry (a person still has to act) but lose any payload beyond what a
replay needs. Each purge is recorded in the shared state with counts and the cutoff only — no personal data."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete

from b24sync.engine.runtime import Runtime
from b24sync.store.db import utcnow
from b24sync.store.kv import SqlState
from b24sync.store.models import DeadLetter, HistoryEntry


def purge(rt: Runtime, *, days: int | None = None) -> dict[str, Any]:
    days = days if days is not None else rt.spec.retention.days
    cutoff = utcnow() - timedelta(days=days)
    with rt.db.begin() as conn:
        history = conn.execute(delete(HistoryEntry).where(HistoryEntry.at < cutoff)).rowcount
        parked = conn.execute(delete(DeadLetter).where(DeadLetter.resolved_at.is_not(None),
                                                       DeadLetter.resolved_at < cutoff)).rowcount
    entry = {"at": utcnow().isoformat(), "cutoff": cutoff.isoformat(), "days": days, "history_deleted": history,
             "resolved_parked_deleted": parked}

    def log(old: dict[str, Any] | None) -> tuple[dict[str, Any], None]:
        runs = list((old or {}).get("runs", []))[-99:]  # the last 100 purges
        return {"runs": [*runs, entry]}, None

    SqlState(rt.db).update("retention:log", log)
    return entry


async def run_retention(rt: Runtime, *, every_seconds: float = 6 * 3600) -> None:
    import asyncio

    while True:
        await asyncio.to_thread(purge, rt)
        await asyncio.sleep(every_seconds)

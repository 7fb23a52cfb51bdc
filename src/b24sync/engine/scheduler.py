"""The scheduler: runs each entity's polls at the interval its spec gives.

A poll reads changes since the stored cursor, re-reading an overlap window (late commits and clock skew lose
nothing), skips records whose fingerprint shows nothing changed (the boundary rows re-read by the overlap fall out
here), enqueues one sync job per changed record carrying its snapshot, and stores the advanced cursor in the same
transaction as those jobs — the cursor only moves once the slice's work is committed. Sources with an exchange
package (1C exchange plans) are acknowledged only after that commit.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import structlog

from b24sync.engine.mapper import edited_owned_fields, flows_from, project
from b24sync.engine.metrics import ENQUEUED, POLLED
from b24sync.engine.ports import ChangeCursor, ChangePage
from b24sync.engine.runtime import Runtime
from b24sync.engine.sync import enqueue_sync
from b24sync.spec.models import Side, parse_duration
from b24sync.store import cursors, fingerprints
from b24sync.store.fingerprints import fingerprint

log = structlog.get_logger("b24sync.scheduler")


@dataclass(frozen=True)
class PollTask:
    entity: str
    side: Side
    interval: float


@dataclass
class PollResult:
    read: int = 0
    enqueued: int = 0
    pages: int = 0


def poll_plan(rt: Runtime) -> list[PollTask]:
    tasks: dict[tuple[str, str], PollTask] = {}
    for name, entity in rt.spec.entities.items():
        if name in rt.refused:
            continue
        for t in entity.triggers:
            if t.poll is None:
                continue
            sides: list[Side] = [t.side] if t.side else [s for s in ("crm", "erp") if flows_from(rt.spec, entity, s)]  # type: ignore[misc]
            for side in sides:
                interval = parse_duration(t.poll)
                key = (name, side)
                if key not in tasks or tasks[key].interval > interval:
                    tasks[key] = PollTask(name, side, interval)
    return list(tasks.values())


def cursor_name(entity: str, side: str) -> str:
    return f"poll:{entity}:{side}"


async def poll_once(rt: Runtime, entity_name: str, side: Side, *, max_pages: int | None = None) -> PollResult:
    """Read and enqueue the changes since the cursor; the outcome is recorded for health (engine/health.py)."""
    from b24sync.engine.health import record_poll

    try:
        result = await _poll_pages(rt, entity_name, side, max_pages=max_pages)
    except Exception as e:
        await asyncio.to_thread(record_poll, rt, entity_name, side, error=e)
        raise
    await asyncio.to_thread(record_poll, rt, entity_name, side)
    return result


async def _poll_pages(rt: Runtime, entity_name: str, side: Side, *, max_pages: int | None) -> PollResult:
    entity = rt.entity(entity_name)
    adapter = rt.adapter(entity, side)
    obj = rt.objref(entity, side)
    overlap = parse_duration(rt.spec.defaults.poll_overlap)
    name = cursor_name(entity_name, side)
    with rt.db.connect() as conn:
        cursor = ChangeCursor.from_json(cursors.get(conn, name))
    result = PollResult()
    first = True
    while max_pages is None or result.pages < max_pages:
        page = await adapter.read_changes(obj, cursor, overlap_seconds=overlap if first else 0.0,
                                          limit=rt.spec.defaults.poll_page)
        first = False
        result.pages += 1
        result.read += len(page.records)
        POLLED.labels(entity_name, side).inc(len(page.records))
        result.enqueued += await asyncio.to_thread(_commit_page, rt, entity_name, side, name, page)
        await adapter.acknowledge(obj, page)
        cursor = page.cursor
        if not page.more:
            break
    return result


def _commit_page(rt: Runtime, entity_name: str, side: Side, name: str, page: ChangePage) -> int:
    entity = rt.spec.entities[entity_name]
    n = 0
    with rt.db.begin() as conn:
        seen = fingerprints.get_many(conn, entity_name, side, [r.id for r in page.records])
        flowing = flows_from(rt.spec, entity, side)
        for r in page.records:
            s = seen.get(r.id)
            if s is not None and flowing:
                h = fingerprint(project(rt.spec, entity, side, r.values))
                if h in (s.read_hash, s.written_hash):
                    continue  # unchanged, or the echo of our own write
            if not flowing:
                # A side the entity does not flow from is watched only for manual edits of fields the other side
                # owns: a record still holding what we wrote there needs no job.
                if s is None or not edited_owned_fields(rt.spec, entity, side, r.values, s.written_values):
                    continue
            enqueue_sync(conn, entity_name, side, r.id, record=r, reason="poll", scope=rt.spec.scope(entity_name))
            n += 1
        cursors.put(conn, name, page.cursor.to_json())
    if n:
        ENQUEUED.labels(entity_name, "poll").inc(n)
    return n


class Scheduler:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.plan = poll_plan(rt)
        self._stopping = asyncio.Event()
        self.last_ok: dict[tuple[str, str], float] = {}

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        next_due = {(t.entity, t.side): 0.0 for t in self.plan}
        while not self._stopping.is_set() and self.plan:
            now = time.monotonic()
            for t in self.plan:
                key = (t.entity, t.side)
                if next_due[key] <= now:
                    try:
                        res = await poll_once(self.rt, t.entity, t.side)
                        self.last_ok[key] = time.time()
                        log.info("polled", entity=t.entity, side=t.side, read=res.read, enqueued=res.enqueued)
                    except Exception as e:  # noqa: BLE001 - a failing poll is retried at the next interval
                        log.warning("poll failed", entity=t.entity, side=t.side, error=str(e))
                    next_due[key] = time.monotonic() + t.interval
            wait = max(0.05, min(next_due.values()) - time.monotonic())
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=wait)
            except TimeoutError:
                pass

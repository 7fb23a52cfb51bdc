"""The scheduler: runs each entity's polls at the interval its spec gives.

A poll reads changes since the stored cursor, re-reading an overlap window (late commits and clock skew lose
nothing), skips records whose fingerprint shows nothing changed (the boundary rows re-read by the overlap fall out
here), enqueues one sync job per changed record carrying its snapshot, and stores the advanced cursor in the same
transaction as those jobs — the cursor only moves once the slice's work is committed. Sources with an exchange
package (1C exchange plans) are acknowledged only after that commit.

Several processes on one store poll each entity and side one at a time: a poll runs only under the named lease
``poll:ENTITY:SIDE`` (``store/leases.py``), which its holder keeps while it lives (the worker heartbeat renews it)
and which another process takes over when the holder dies; each page commits only while the lease is still held.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import structlog

from b24sync.engine.mapper import edited_owned_fields, flows_from, project
from b24sync.engine.metrics import ENQUEUED, POLLED
from b24sync.engine.ports import ChangeCursor, ChangePage, ObjectRef
from b24sync.engine.runtime import Runtime
from b24sync.engine.enqueue import enqueue_sync_many
from b24sync.spec.models import Side, parse_duration
from b24sync.store import cursors, fingerprints, leases
from b24sync.store.fingerprints import fingerprint

log = structlog.get_logger("b24sync.scheduler")
SWEEP_EVERY = 60.0  # seconds between looks at the daily timers (a sweep itself runs once a day)


@dataclass(frozen=True)
class PollTask:
    entity: str
    side: Side
    interval: float


class PollLeaseLost(Exception):
    """Another process took this entity's poll over (ours stalled past the lease): stop, commit nothing more."""


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


async def poll_once(rt: Runtime, entity_name: str, side: Side, *, max_pages: int | None = None,
                    owner: str | None = None) -> PollResult:
    """Read and enqueue the changes since the cursor; the outcome is recorded for health (engine/health.py). With
    ``owner``, every page commits only while ``owner`` still holds the poll lease (raises ``PollLeaseLost``)."""
    from b24sync.engine.health import record_poll

    try:
        result = await _poll_pages(rt, entity_name, side, max_pages=max_pages, owner=owner)
    except PollLeaseLost:
        raise  # not a failure of the poll: another process polls this entity now
    except Exception as e:
        await asyncio.to_thread(record_poll, rt, entity_name, side, error=e)
        raise
    await asyncio.to_thread(record_poll, rt, entity_name, side)
    return result


def poll_ref(rt: Runtime, entity_name: str, side: Side) -> ObjectRef:
    """The object a poll reads. A second entity polling the same object of the same system (orders → deals beside
    order status → stage) names itself (option ``poller``), so a system that remembers what a poller has seen (the
    1C DataVersion scan) keeps one memory per entity — else the first entity's poll would hide the changes from
    the second."""
    entity = rt.entity(entity_name)
    obj = rt.objref(entity, side)
    system = rt.spec.system_for(entity, side)
    first = next((n for n, e in rt.spec.entities.items() if rt.spec.system_for(e, side) == system
                  and (e.crm if side == "crm" else e.erp).object == obj.object), entity_name)
    return obj if first == entity_name else ObjectRef(obj.object, {**obj.options, "poller": entity_name})


async def _poll_pages(rt: Runtime, entity_name: str, side: Side, *, max_pages: int | None,
                      owner: str | None = None) -> PollResult:
    entity = rt.entity(entity_name)
    adapter = rt.adapter(entity, side)
    obj = poll_ref(rt, entity_name, side)
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
        result.enqueued += await asyncio.to_thread(_commit_page, rt, entity_name, side, name, page, owner)
        await adapter.acknowledge(obj, page)
        cursor = page.cursor
        if not page.more:
            break
    return result


def _commit_page(rt: Runtime, entity_name: str, side: Side, name: str, page: ChangePage,
                 owner: str | None = None) -> int:
    entity = rt.spec.entities[entity_name]
    todo: list[tuple[str, Any]] = []
    with rt.db.begin() as conn:
        if owner is not None and not leases.holds(conn, name, owner):
            raise PollLeaseLost(f"{name}: another process holds the poll lease now")
        seen = fingerprints.get_many(conn, entity_name, side, [r.id for r in page.records])
        flowing = flows_from(rt.spec, entity, side)
        for r in page.records:
            s = seen.get(r.id)
            if s is not None and flowing:
                h = fingerprint(project(rt.spec, entity, side, r.values))
                if h in (s.read_hash, s.written_hash):
                    continue  # unchanged, or the echo of our own write
            if not flowing and not entity.apart:  # an aggregate's, a credit limit's CRM side: every change counts
                # A side the entity does not flow from is watched only for manual edits of fields the other side
                # owns: a record still holding what we wrote there needs no job.
                if s is None or not edited_owned_fields(rt.spec, entity, side, r.values, s.written_values):
                    continue
            todo.append((r.id, r))
        n = enqueue_sync_many(conn, entity_name, side, todo, reason="poll", scope=rt.spec.scope(entity_name))
        cursors.put(conn, name, page.cursor.to_json())
    if n:
        ENQUEUED.labels(entity_name, "poll").inc(n)
    return n


class Scheduler:
    def __init__(self, rt: Runtime, *, owner: str | None = None, lease_seconds: float = 15.0) -> None:
        """``owner`` (the worker identity) makes polls coordinated across processes by poll leases held for
        ``lease_seconds`` and renewed by that worker's heartbeat; without it every poll runs (one process)."""
        self.rt = rt
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.plan = poll_plan(rt)
        self._stopping = asyncio.Event()
        self.last_ok: dict[tuple[str, str], float] = {}

    def stop(self) -> None:
        self._stopping.set()

    @property
    def timers(self) -> bool:
        """Daily timers to look at (entities with ``overdue:`` notices)."""
        return any(e.overdue is not None for n, e in self.rt.spec.entities.items() if n not in self.rt.refused)

    async def sweep(self) -> int:
        """The daily sweeps that are due (engine/overdue.py): each enqueues its day's jobs once; a failing sweep is
        logged and tried again at the next look."""
        if not self.timers:
            return 0
        from b24sync.engine import overdue

        try:
            n = await asyncio.to_thread(overdue.sweep_all, self.rt)
        except Exception as e:  # noqa: BLE001 - the next look tries again
            log.warning("daily sweep failed", error=str(e))
            return 0
        if n:
            log.info("daily sweep", enqueued=n)
        return n

    async def run(self) -> None:
        next_due = {(t.entity, t.side): 0.0 for t in self.plan}
        next_sweep = 0.0
        while not self._stopping.is_set() and (self.plan or self.timers):
            now = time.monotonic()
            if self.timers and next_sweep <= now:
                await self.sweep()
                next_sweep = time.monotonic() + SWEEP_EVERY
            for t in self.plan:
                key = (t.entity, t.side)
                if next_due[key] <= now:
                    if not await self.poll(t):
                        # Another live process polls this one; look again soon to take over if it dies.
                        next_due[key] = time.monotonic() + min(t.interval, max(0.5, self.lease_seconds / 3))
                        continue
                    next_due[key] = time.monotonic() + t.interval
            wait = max(0.05, min([*next_due.values(), next_sweep if self.timers else float("inf")])
                       - time.monotonic())
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=wait)
            except TimeoutError:
                pass

    async def poll(self, t: PollTask, *, raise_errors: bool = False) -> bool:
        """Poll ``t`` if this process holds (or can take) its lease. False when another process holds it. A failing
        poll is logged and retried at the next interval (``raise_errors``: raised to the caller instead)."""
        name = cursor_name(t.entity, t.side)
        if self.owner is not None and not await asyncio.to_thread(
                leases.acquire, self.rt.db, name, self.owner, seconds=self.lease_seconds):
            return False
        started = time.time()  # epoch seconds (a float: log redaction leaves numbers alone)
        try:
            res = await poll_once(self.rt, t.entity, t.side, owner=self.owner)
            self.last_ok[(t.entity, t.side)] = time.time()
            log.info("polled", entity=t.entity, side=t.side, read=res.read, enqueued=res.enqueued, owner=self.owner,
                     started=round(started, 3), ended=round(time.time(), 3))
        except PollLeaseLost as e:
            log.warning("poll taken over by another process", entity=t.entity, side=t.side, error=str(e))
        except Exception as e:  # noqa: BLE001 - a failing poll is retried at the next interval
            if raise_errors:
                raise
            log.warning("poll failed", entity=t.entity, side=t.side, error=str(e))
        return True

"""Workers: claim jobs, run their handlers concurrently, and settle each job by what its handler raised.

- success: the handler's effects, the history line and the job's completion commit in one transaction;
- RetryableError / unexpected exceptions: back off exponentially with jitter, up to ``max_attempts``;
- DeferError: parked until the given time, no attempt spent (a budget, not the record, is the problem);
- PermanentError: straight to the dead letters with its human-readable reason;
- HoldError: parked as ``held`` with the message for the manager;
- ConflictError: recorded as a conflict and parked for review.
A SIGTERM stops claiming and drains the jobs in flight. Each worker registers itself (``store/workers.py``) and beats
a heartbeat; a worker that starts, and every heartbeat after, frees the jobs and leases of dead workers (same host and
pid gone, or heartbeat stale), so a killed worker's jobs resume within seconds; a lease that is never freed expires.
"""

from __future__ import annotations

import asyncio
import random
import time
import traceback
import uuid
from dataclasses import dataclass, field

import structlog
from sqlalchemy import insert

from b24sync.engine.errors import ConflictError, DeferError, HoldError, PermanentError, RetryableError, SyncError
from b24sync.engine.metrics import JOB_DURATION, JOBS_DONE, observe_lag
from b24sync.engine.runtime import Outcome, Runtime
from b24sync.store import outbox
from b24sync.store import queue as jobs
from b24sync.store import workers as presence
from b24sync.store.db import utcnow
from b24sync.store.models import Conflict
from b24sync.store.queue import Backoff, ClaimedJob

log = structlog.get_logger("b24sync.worker")


class LeaseLost(Exception):
    pass


@dataclass
class WorkerStats:
    done: int = 0
    retried: int = 0
    dead: int = 0
    held: int = 0
    actions: dict[str, int] = field(default_factory=dict)
    # ``run --once``: polls that failed (entity, side, error) — the other entities still ran
    failed_polls: list[tuple[str, str, BaseException]] = field(default_factory=list)


class Worker:
    def __init__(self, rt: Runtime, *, concurrency: int | None = None, idle_sleep: float = 0.2,
                 rng: random.Random | None = None) -> None:
        self.rt = rt
        self.concurrency = concurrency or rt.spec.defaults.workers
        self.idle_sleep = idle_sleep
        self.me = presence.Identity.here(uuid.uuid4().hex[:8])
        self.owner = self.me.owner
        lease = rt.lease_seconds
        # Heartbeat cadence and the age after which a silent worker (on any host) counts as dead. Named leases
        # (poll leases) are held for ``stale_seconds`` and renewed by the heartbeat.
        self.beat_seconds = min(5.0, max(1.0, lease / 6))
        # Not tied to a short job lease: a store busy for a few seconds (SQLite under load) must not make live
        # workers look dead; a worker on this host that died is recognised by its pid at once anyway.
        self.stale_seconds = max(3 * self.beat_seconds, 15.0)
        self._announced = False
        self._heartbeat_task: asyncio.Task[None] | None = None
        r = rt.spec.defaults.retry
        self.backoff = Backoff(r.base_seconds, r.max_seconds)
        self.max_attempts = r.max_attempts
        self.rng = rng or random.Random()
        self.stats = WorkerStats()
        self._stopping = asyncio.Event()
        self._inflight: dict[int, ClaimedJob] = {}
        self._parked: list[tuple[ClaimedJob, str, str, dict]] = []

    def announce(self) -> presence.Freed:
        """Register this worker and free what dead predecessors held (their jobs resume now, not at lease expiry)."""
        presence.register(self.rt.db, self.me)
        self._announced = True
        freed = presence.free_dead(self.rt.db, self.me, stale_seconds=self.stale_seconds)
        if freed.workers:
            log.info("freed the work of dead workers", workers=freed.workers, jobs=freed.jobs, leases=freed.leases)
        return freed

    def start_heartbeat(self) -> None:
        """Beat from now on (also while the scheduler polls before ``run``: poll leases are renewed by it)."""
        if self._heartbeat_task is None or self._heartbeat_task.done():
            self._heartbeat_task = asyncio.create_task(self._heartbeat())

    def stop(self) -> None:
        """Stop claiming; jobs in flight finish (drain)."""
        self._stopping.set()

    async def run(self, *, until_idle: bool = False) -> WorkerStats:
        """Run until ``stop()``; with ``until_idle`` return once the queue has nothing due."""
        tasks: set[asyncio.Task[None]] = set()
        if not self._announced:
            await asyncio.to_thread(self.announce)
        self.start_heartbeat()
        try:
            while not self._stopping.is_set():
                free = self.concurrency - len(tasks)
                claimed = []
                if free > 0:
                    claimed = await asyncio.to_thread(jobs.claim, self.rt.db, self.owner, limit=free,
                                                      lease_seconds=self.rt.lease_seconds)
                started = 0
                for job in claimed:
                    if job.id in self._inflight:
                        # our own lease ran out while the job was still running (a stalled heartbeat) and we claimed it
                        # again: it is already running here — a second run beside it could create a duplicate
                        continue
                    self._inflight[job.id] = job
                    t = asyncio.create_task(self._run_one(job))
                    tasks.add(t)
                    t.add_done_callback(tasks.discard)
                    started += 1
                if started:
                    continue
                if until_idle and not tasks and not await asyncio.to_thread(self._anything_due):
                    break
                waiters = [asyncio.create_task(self._stopping.wait())]
                if tasks:
                    waiters.append(asyncio.create_task(asyncio.wait(set(tasks), return_when=asyncio.FIRST_COMPLETED)))
                done, pending = await asyncio.wait(waiters, timeout=self.idle_sleep, return_when=asyncio.FIRST_COMPLETED)
                for w in pending:
                    w.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)  # drain
        finally:
            if self._heartbeat_task is not None:
                self._heartbeat_task.cancel()
            await asyncio.to_thread(presence.unregister, self.rt.db, self.me)
            self._announced = False
        return self.stats

    def _anything_due(self) -> bool:
        from sqlalchemy import func, select

        from b24sync.store.models import Job

        with self.rt.db.connect() as conn:
            n = conn.execute(select(func.count()).select_from(Job).where(Job.run_at <= utcnow())).scalar_one()
            return bool(n)

    async def _heartbeat(self) -> None:
        """Extend the leases of jobs in flight every third of the job lease; beat (and free dead peers) every
        ``beat_seconds``."""
        lease = self.rt.lease_seconds
        extend_every = max(0.25, lease / 3)
        tick = min(self.beat_seconds, extend_every)
        last_extend = last_beat = time.monotonic()
        while True:
            await asyncio.sleep(tick)
            try:
                now = time.monotonic()
                if self._inflight and now - last_extend >= extend_every - tick / 2:
                    await asyncio.to_thread(jobs.extend_lease, self.rt.db, list(self._inflight.values()), lease)
                    last_extend = now
                if now - last_beat >= self.beat_seconds - tick / 2:
                    await asyncio.to_thread(self._beat)
                    last_beat = now
            except Exception as e:  # noqa: BLE001 - a store hiccup must not end the heartbeat
                log.warning("heartbeat failed", error=str(e))

    def _beat(self) -> None:
        if not presence.beat(self.rt.db, self.me, lease_seconds=self.stale_seconds):
            log.warning("this worker was taken for dead (heartbeat too late); registering again", owner=self.owner)
            presence.register(self.rt.db, self.me)
        freed = presence.free_dead(self.rt.db, self.me, stale_seconds=self.stale_seconds)
        if freed.workers:
            log.info("freed the work of dead workers", workers=freed.workers, jobs=freed.jobs, leases=freed.leases)

    async def _run_one(self, job: ClaimedJob) -> None:
        t0 = time.monotonic()
        handler = self.rt.handlers.get(job.kind)
        try:
            if handler is None:
                raise PermanentError(f"no handler for job kind {job.kind!r} — is a flow missing from this version?")
            outcome = await handler(self.rt, job)
            await asyncio.to_thread(self._settle_ok, job, outcome, int((time.monotonic() - t0) * 1000))
        except Exception as e:  # noqa: BLE001 - every failure is settled, none escapes
            await asyncio.to_thread(self._settle_error, job, e, int((time.monotonic() - t0) * 1000))
            await self._notify_parked()
        finally:
            self._inflight.pop(job.id, None)
            JOB_DURATION.labels(job.entity).observe(time.monotonic() - t0)

    def _settle_ok(self, job: ClaimedJob, outcome: Outcome, duration_ms: int) -> None:
        try:
            with self.rt.db.begin() as conn:
                if outcome.effects is not None:
                    outcome.effects(conn)
                jobs.record(conn, job=job, entity=job.entity, lane=job.lane, kind=job.kind, action=outcome.action,
                            outcome="ok", duration_ms=duration_ms, target=outcome.target, target_id=outcome.target_id,
                            detail=outcome.detail or None)
                keep = None
                if outcome.held is not None:  # done, with a part held: its entry stays open (waits re-queue it)
                    keep = jobs.hold_open(conn, job, reason=outcome.held.reason, error_type="HoldError",
                                          waits_for=(outcome.held.detail or {}).get("waits_for"))
                jobs.resolve_parked(conn, job.lane, record=jobs.record_key(job.entity, job.lane, job.payload),
                                    entity=job.entity, keep=keep)  # its own entries only (a shared lane is not a
                                                                   # shared reason), but the part still held
                if outcome.event is not None and self.rt.spec.bus is not None and self.rt.spec.bus.publish:
                    outbox.add(conn, entity=job.entity, action=outcome.action, event=outcome.event)
                if not jobs.complete(conn, job):
                    raise LeaseLost()
        except LeaseLost:
            log.warning("lease lost; another worker owns the job now", job=job.id, lane=job.lane)
            return
        self.stats.done += 1
        self.stats.actions[outcome.action] = self.stats.actions.get(outcome.action, 0) + 1
        JOBS_DONE.labels(job.entity, outcome.action).inc()
        if outcome.action in ("created", "updated", "linked", "relinked", "recreated", "reverted"):
            observe_lag(job.entity, job.payload)

    def _settle_error(self, job: ClaimedJob, e: Exception, duration_ms: int) -> None:
        attempt = job.attempts + 1
        reason = e.reason if isinstance(e, SyncError) else f"unexpected {type(e).__name__}: {e}"
        etype = type(e).__name__
        if isinstance(e, DeferError):
            delay = max(0.0, (e.until - utcnow()).total_seconds())
            jobs.retry(self.rt.db, job, delay_seconds=delay, error=reason, count_attempt=False)
            self._history(job, "deferred", "retry", duration_ms, {"reason": reason, "until": e.until.isoformat()})
            return
        if isinstance(e, HoldError):
            self._park(job, "held", reason, etype, duration_ms, e.detail)
            self.stats.held += 1
            return
        if isinstance(e, ConflictError):
            self._park(job, "conflict", reason, etype, duration_ms, e.detail, conflict=True)
            self.stats.dead += 1
            return
        if isinstance(e, PermanentError):
            self._park(job, "dead", reason, etype, duration_ms, e.detail)
            self.stats.dead += 1
            return
        if not isinstance(e, RetryableError):
            log.error("unexpected error in job", job=job.id, lane=job.lane, error=reason,
                      trace="".join(traceback.format_exception(e))[-3000:])
        if attempt >= self.max_attempts:
            self._park(job, "dead", f"gave up after {attempt} attempts: {reason}", etype, duration_ms, None)
            self.stats.dead += 1
            return
        delay = self.backoff.delay(attempt, self.rng)
        if isinstance(e, RetryableError) and e.retry_after is not None:
            delay = max(delay, e.retry_after)
        jobs.retry(self.rt.db, job, delay_seconds=delay, error=reason)
        self.stats.retried += 1
        self._history(job, "retry", "retry", duration_ms, {"reason": reason, "attempt": attempt, "delay_s": round(delay, 2)})

    def _park(self, job: ClaimedJob, kind: str, reason: str, etype: str, duration_ms: int, detail: dict | None,
              conflict: bool = False) -> None:
        with self.rt.db.begin() as conn:
            if not jobs.park(conn, job, kind=kind, reason=reason, error_type=etype,
                             waits_for=(detail or {}).get("waits_for") if kind == "held" else None):
                return
            if conflict:
                conn.execute(insert(Conflict).values(entity=job.entity, crm_id=None, erp_id=None, field=None,
                                                     detail={"reason": reason, **(detail or {})}, created_at=utcnow()))
            jobs.record(conn, job=job, entity=job.entity, lane=job.lane, kind=job.kind, action=kind,
                        outcome="held" if kind == "held" else "failed", duration_ms=duration_ms,
                        detail={"reason": reason, **(detail or {})})
        JOBS_DONE.labels(job.entity, kind).inc()
        log.info("job parked", kind=kind, entity=job.entity, lane=job.lane, reason=reason)
        self._parked.append((job, kind, reason, detail or {}))

    async def _notify_parked(self) -> None:
        """Tell people about parked records (e.g. a Bitrix24 notification to the manager), through the
        ``on_parked`` hook a flow installs. A failing notification never changes the job's outcome."""
        hook = self.rt.hooks.get("on_parked")
        while self._parked:
            job, kind, reason, detail = self._parked.pop(0)
            if hook is None:
                continue
            try:
                await hook(self.rt, job=job, kind=kind, reason=reason, detail=detail)
            except Exception as e:  # noqa: BLE001
                log.warning("could not notify about a parked record", lane=job.lane, error=str(e))

    def _history(self, job: ClaimedJob, action: str, outcome: str, duration_ms: int, detail: dict) -> None:
        with self.rt.db.begin() as conn:
            jobs.record(conn, job=job, entity=job.entity, lane=job.lane, kind=job.kind, action=action,
                        outcome=outcome, duration_ms=duration_ms, detail=detail)

"""The durable job queue, kept in the store so a state change and the jobs it causes commit together.

Semantics:
- A job belongs to a *lane* (entity + record). Only the oldest live job of a lane can be claimed, so jobs of one
  lane run strictly one at a time and in order; different lanes run in parallel.
- ``enqueue`` with a ``dedup_key`` coalesces: while a job with that key waits (pending, not yet claimed), a new
  enqueue replaces its payload with the newer one instead of adding a second job.
- A claim takes a lease. ``complete``/``retry``/``dead`` only act while the worker still holds the lease; an
  expired lease (the worker was killed) makes the job claimable again, attempt counted.
- PostgreSQL claims with ``FOR UPDATE SKIP LOCKED``; SQLite serialises claims with ``BEGIN IMMEDIATE``.
Delivery is at-least-once; handlers make the effect idempotent (bindings, natural-key lookups, fingerprints).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.orm import aliased

from b24sync.store.db import is_postgres, utcnow
from b24sync.store.models import DeadLetter, HistoryEntry, HoldWait, Job


# The queue's clock. Tests replace it to expire leases and backoffs without sleeping.
CLOCK: Callable[[], datetime] = utcnow


def _now() -> datetime:
    return CLOCK()


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    lane: str
    kind: str
    entity: str
    payload: dict[str, Any]
    attempts: int  # attempts before this one
    lease_owner: str


@dataclass(frozen=True)
class Backoff:
    base_seconds: float = 2.0
    max_seconds: float = 900.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Exponential backoff with jitter: between half and all of base·2^(attempt-1), capped."""
        ceiling = min(self.max_seconds, self.base_seconds * (2 ** max(0, attempt - 1)))
        return (rng or random).uniform(ceiling / 2, ceiling)


def _aware(dt: datetime | None) -> datetime | None:
    # SQLite hands timezone-aware columns back naive; every time we store is UTC.
    if dt is not None and dt.tzinfo is None:
        from datetime import UTC

        return dt.replace(tzinfo=UTC)
    return dt


def enqueue(
    conn: Connection,
    *,
    kind: str,
    entity: str,
    lane: str,
    payload: dict[str, Any],
    dedup_key: str | None = None,
    run_at: datetime | None = None,
    priority: int = 100,
) -> int:
    """Add a job inside the caller's transaction (the outbox). Returns the job id (an existing one when coalesced)."""
    now = _now()
    if dedup_key is not None:
        existing = conn.execute(
            select(Job.id).where(Job.dedup_key == dedup_key, Job.state == "pending").order_by(Job.id.desc()).limit(1)
        ).scalar()
        if existing is not None:
            conn.execute(update(Job).where(Job.id == existing, Job.state == "pending").values(payload=payload))
            return int(existing)
    return int(
        conn.execute(
            insert(Job)
            .values(
                lane=lane, kind=kind, entity=entity, payload=payload, dedup_key=dedup_key, state="pending",
                priority=priority, attempts=0, run_at=run_at or now, created_at=now,
            )
            .returning(Job.id)
        ).scalar_one()
    )


@dataclass(frozen=True)
class NewJob:
    lane: str
    payload: dict[str, Any]
    dedup_key: str | None = None


def enqueue_many(conn: Connection, *, kind: str, entity: str, jobs: Sequence[NewJob],
                 run_at: datetime | None = None, priority: int = 100) -> int:
    """``enqueue`` for many jobs in the caller's transaction, with the same coalescing (a waiting job with the same
    dedup key gets the newer payload; so does an earlier job of the same list), in a few statements instead of
    three per job — a poll page or an initial load enqueues thousands (issue 13). Returns the jobs added or
    coalesced."""
    if not jobs:
        return 0
    now = _now()
    todo: list[NewJob] = []
    at: dict[str, int] = {}
    for j in jobs:
        if j.dedup_key is not None and j.dedup_key in at:
            first = todo[at[j.dedup_key]]
            todo[at[j.dedup_key]] = NewJob(first.lane, j.payload, j.dedup_key)
            continue
        if j.dedup_key is not None:
            at[j.dedup_key] = len(todo)
        todo.append(j)
    keys = [j.dedup_key for j in todo if j.dedup_key is not None]
    existing: dict[str, int] = {}
    for i in range(0, len(keys), 500):
        rows = conn.execute(select(Job.id, Job.dedup_key).where(
            Job.dedup_key.in_(keys[i:i + 500]), Job.state == "pending").order_by(Job.id.desc())).all()
        for r in rows:
            existing.setdefault(r.dedup_key, int(r.id))  # the newest waiting job of a key, as enqueue takes
    new_rows = []
    for j in todo:
        if j.dedup_key is not None and j.dedup_key in existing:
            conn.execute(update(Job).where(Job.id == existing[j.dedup_key], Job.state == "pending")
                         .values(payload=j.payload))
            continue
        new_rows.append({"lane": j.lane, "kind": kind, "entity": entity, "payload": j.payload,
                         "dedup_key": j.dedup_key, "state": "pending", "priority": priority, "attempts": 0,
                         "run_at": run_at or now, "created_at": now})
    if new_rows:
        conn.execute(insert(Job), new_rows)
    return len(todo)


def claim(engine: Engine, owner: str, *, limit: int, lease_seconds: float, kinds: Sequence[str] | None = None) -> list[ClaimedJob]:
    """Claim up to ``limit`` jobs that are the head of their lane and due (or whose lease expired)."""
    now = _now()
    earlier = aliased(Job)
    head_of_lane = ~exists().where(
        earlier.lane == Job.lane, earlier.id < Job.id, earlier.state.in_(("pending", "running"))
    )
    due = or_(
        and_(Job.state == "pending", Job.run_at <= now),
        and_(Job.state == "running", Job.lease_until < now),
    )
    q = select(Job).where(due, head_of_lane).order_by(Job.priority, Job.id).limit(limit)
    if kinds:
        q = q.where(Job.kind.in_(kinds))
    with engine.begin() as conn:
        if is_postgres(engine):
            q = q.with_for_update(skip_locked=True, of=Job)
        rows = conn.execute(q).all()
        if not rows:
            return []
        until = now + timedelta(seconds=lease_seconds)
        claimed = []
        for job in rows:
            # An expired lease means the last attempt died mid-way: it counts as an attempt.
            attempts = job.attempts + (1 if job.state == "running" else 0)
            conn.execute(
                update(Job).where(Job.id == job.id)
                .values(state="running", lease_owner=owner, lease_until=until, attempts=attempts)
            )
            claimed.append(ClaimedJob(job.id, job.lane, job.kind, job.entity, job.payload, attempts, owner))
        return claimed


def extend_lease(engine: Engine, jobs: Sequence[ClaimedJob], lease_seconds: float) -> int:
    if not jobs:
        return 0
    until = _now() + timedelta(seconds=lease_seconds)
    n = 0
    with engine.begin() as conn:
        for j in jobs:
            n += conn.execute(
                update(Job).where(Job.id == j.id, Job.lease_owner == j.lease_owner, Job.state == "running")
                .values(lease_until=until)
            ).rowcount
    return n


def _owned(job: ClaimedJob):  # type: ignore[no-untyped-def]
    return and_(Job.id == job.id, Job.lease_owner == job.lease_owner, Job.state == "running")


def complete(conn: Connection, job: ClaimedJob) -> bool:
    """Finish a job inside the caller's transaction. False if the lease was lost (another worker took over)."""
    return conn.execute(delete(Job).where(_owned(job))).rowcount == 1


def retry(engine: Engine, job: ClaimedJob, *, delay_seconds: float, error: str, count_attempt: bool = True) -> bool:
    with engine.begin() as conn:
        return conn.execute(
            update(Job).where(_owned(job)).values(
                state="pending", run_at=_now() + timedelta(seconds=delay_seconds), lease_owner=None,
                lease_until=None, last_error=error[:4000],
                attempts=job.attempts + (1 if count_attempt else 0),
            )
        ).rowcount == 1


def record_key(entity: str, lane: str, payload: dict[str, Any]) -> str:
    """Which record a job is about, independent of its lane (the lane changes once the pair is linked)."""
    if payload.get("side") and payload.get("id") is not None:
        return f"{entity}:{payload['side']}:{payload['id']}"[:400]
    return f"{entity}:{lane}"[:400]


_DIGITS = re.compile(r"\d+")


def reason_key(error_type: str, reason: str) -> str:
    """Two parkings of a record are "the same reason" when their type and text agree up to counters."""
    norm = _DIGITS.sub("#", reason.strip().lower())[:2000]
    return f"{error_type[:100]}:{hashlib.sha1(norm.encode()).hexdigest()[:16]}"


def replay_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """What a dead letter keeps of a job: everything replay needs, not the record's snapshot (with its phones and
    e-mails) — a replay reads the record afresh."""
    return {k: v for k, v in payload.items() if k != "snapshot"}


def park(conn: Connection, job: ClaimedJob, *, kind: str, reason: str, error_type: str,
         waits_for: list[str] | None = None) -> bool:
    """Move a job to the dead letters (``dead`` or ``held``) inside the caller's transaction.

    One open entry per record and reason: parking the same record again for the same reason (each poll of a held
    record, each retry cycle) updates that entry — its count, last-seen time and latest text — instead of adding one.
    ``waits_for``: the related records (``scope:side:id``) whose link would let a held record go on — when one of
    them is linked, ``release_waiting`` puts it back on the queue (the entry's waits are replaced each time).
    """
    if conn.execute(delete(Job).where(_owned(job))).rowcount != 1:
        return False
    _letter(conn, job, kind=kind, reason=reason, error_type=error_type, waits_for=waits_for)
    return True


def hold_open(conn: Connection, job: ClaimedJob, *, reason: str, error_type: str,
              waits_for: list[str] | None = None) -> int:
    """A job that went through with a part of its record held (a payment of two orders, one not linked yet): the
    record's open ``held`` entry for this reason is created or updated — like ``park``, but the job is left to
    complete. Returns the entry's id (keep it open: ``resolve_parked(keep=...)``)."""
    return _letter(conn, job, kind="held", reason=reason, error_type=error_type, waits_for=waits_for)


def _letter(conn: Connection, job: ClaimedJob, *, kind: str, reason: str, error_type: str,
            waits_for: list[str] | None) -> int:
    now = _now()
    rk = record_key(job.entity, job.lane, job.payload)
    why = reason_key(error_type, reason)
    payload = replay_payload(job.payload)
    existing = conn.execute(
        select(DeadLetter.id).where(DeadLetter.record_key == rk, DeadLetter.reason_key == why,
                                    DeadLetter.kind == kind, DeadLetter.resolved_at.is_(None))
        .order_by(DeadLetter.id).limit(1)
    ).scalar()
    if existing is not None:
        conn.execute(update(DeadLetter).where(DeadLetter.id == existing).values(
            count=DeadLetter.count + 1, last_seen_at=now, reason=reason[:8000], payload=payload, lane=job.lane,
            attempts=job.attempts + 1))
    else:
        existing = conn.execute(
            insert(DeadLetter).values(
                kind=kind, entity=job.entity, lane=job.lane, job_kind=job.kind, payload=payload,
                reason=reason[:8000], error_type=error_type, attempts=job.attempts + 1, created_at=now,
                record_key=rk, reason_key=why, count=1, last_seen_at=now,
            ).returning(DeadLetter.id)
        ).scalar_one()
    conn.execute(delete(HoldWait).where(HoldWait.dead_letter_id == existing))
    for key in dict.fromkeys(waits_for or ()):
        conn.execute(insert(HoldWait).values(dead_letter_id=existing, wait_key=str(key)[:400]))
    return int(existing)


def wait_key(scope: str, side: str, record_id: str) -> str:
    """What a held record waits for: the link of ``record_id`` on ``side`` in the identity scope ``scope``."""
    return f"{scope}:{side}:{record_id}"[:400]


def release_waiting(conn: Connection, keys: list[str], *, why: str) -> int:
    """Put the held records waiting for any of ``keys`` back on the queue (their entries closed ``replayed``), in
    the caller's transaction — the link that frees them and their new jobs commit together."""
    keys = [k for k in dict.fromkeys(keys) if k]
    if not keys:
        return 0
    ids = sorted({i for (i,) in conn.execute(select(HoldWait.dead_letter_id).where(HoldWait.wait_key.in_(keys)))})
    if not ids:
        return 0
    letters = conn.execute(select(DeadLetter).where(DeadLetter.id.in_(ids), DeadLetter.resolved_at.is_(None))
                           .order_by(DeadLetter.id)).all()
    for dl in letters:
        enqueue(conn, kind=dl.job_kind, entity=dl.entity, lane=dl.lane,
                payload={**replay_payload(dl.payload), "reason": why[:200]}, dedup_key=f"{dl.job_kind}:{dl.lane}")
        conn.execute(update(DeadLetter).where(DeadLetter.id == dl.id)
                     .values(resolved_at=_now(), resolution="replayed"))
    conn.execute(delete(HoldWait).where(HoldWait.dead_letter_id.in_(ids)))
    return len(letters)


def recheck_held(conn: Connection, *, older_than_seconds: float, limit: int = 200) -> int:
    """Put held records back on the queue for a fresh look when they were last looked at more than
    ``older_than_seconds`` ago (the timer of ``defaults.recheck_held``). Their entries stay open: a record still
    held updates its entry (count, last seen), one that goes through closes it. A record with a job waiting is left
    alone (the job will look)."""
    cutoff = _now() - timedelta(seconds=older_than_seconds)
    letters = conn.execute(select(DeadLetter).where(
        DeadLetter.kind == "held", DeadLetter.resolved_at.is_(None),
        func.coalesce(DeadLetter.last_seen_at, DeadLetter.created_at) < cutoff)
        .order_by(func.coalesce(DeadLetter.last_seen_at, DeadLetter.created_at)).limit(limit)).all()
    n = 0
    for dl in letters:
        if conn.execute(select(Job.id).where(Job.lane == dl.lane).limit(1)).first() is None:
            enqueue(conn, kind=dl.job_kind, entity=dl.entity, lane=dl.lane,
                    payload={**replay_payload(dl.payload), "reason": "recheck held"},
                    dedup_key=f"{dl.job_kind}:{dl.lane}")
            n += 1
        # looked at now (also when a job was waiting): the next sweep takes the others first
        conn.execute(update(DeadLetter).where(DeadLetter.id == dl.id).values(last_seen_at=_now()))
    return n


def resolve_parked(conn: Connection, lane: str, resolution: str = "superseded", *,
                   record: str | None = None, entity: str | None = None, keep: int | None = None) -> int:
    """A later successful sync of the same record makes its open dead letters moot (found by lane or record) — all
    but ``keep``, the entry of a part still held (``hold_open``).

    ``entity``: only that entity's letters. Entities over the same pair share an identity scope and so a lane
    (order, order status, orders from 1C): a job of one of them that ends well (even ``skipped``) says nothing about
    why another one is held — it closes only its own entity's entries."""
    which = DeadLetter.lane == lane if record is None else or_(DeadLetter.lane == lane, DeadLetter.record_key == record)
    own = [DeadLetter.entity == entity] if entity is not None else []
    if keep is not None:
        own.append(DeadLetter.id != keep)
    return conn.execute(
        update(DeadLetter).where(which, *own, DeadLetter.resolved_at.is_(None))
        .values(resolved_at=_now(), resolution=resolution)
    ).rowcount


def discard(engine: Engine, dead_letter_id: int, *, why: str) -> bool:
    """Close an open dead letter without replaying it (a person decided the record is not to be synced)."""
    with engine.begin() as conn:
        return conn.execute(
            update(DeadLetter).where(DeadLetter.id == dead_letter_id, DeadLetter.resolved_at.is_(None))
            .values(resolved_at=_now(), resolution="discarded", reason=DeadLetter.reason + f"\n[discarded: {why}]")
        ).rowcount == 1


def replay(engine: Engine, *, dead_letter_id: int | None = None, entity: str | None = None, kind: str | None = None,
           reason_key: str | None = None, extra: dict[str, Any] | None = None) -> int:
    """Put open dead letters back on the queue (one, all of an entity or of one reason, or all). Returns how many.
    ``extra`` is added to each replayed job's payload (a review decision the job must honour)."""
    with engine.begin() as conn:
        q = select(DeadLetter).where(DeadLetter.resolved_at.is_(None))
        if dead_letter_id is not None:
            q = q.where(DeadLetter.id == dead_letter_id)
        if entity is not None:
            q = q.where(DeadLetter.entity == entity)
        if kind is not None:
            q = q.where(DeadLetter.kind == kind)
        if reason_key is not None:
            q = q.where(or_(DeadLetter.reason_key == reason_key, DeadLetter.error_type == reason_key))
        letters = conn.execute(q.order_by(DeadLetter.id)).all()
        for dl in letters:
            enqueue(conn, kind=dl.job_kind, entity=dl.entity, lane=dl.lane,
                    payload={**replay_payload(dl.payload), **(extra or {})},
                    dedup_key=f"{dl.job_kind}:{dl.lane}")
            conn.execute(update(DeadLetter).where(DeadLetter.id == dl.id)
                         .values(resolved_at=_now(), resolution="replayed"))
        return len(letters)


def record(conn: Connection, *, job: ClaimedJob | None, entity: str, lane: str, kind: str, action: str,
           outcome: str, duration_ms: int = 0, target: str | None = None, target_id: str | None = None,
           detail: dict[str, Any] | None = None) -> None:
    """Append one line to the message history."""
    conn.execute(insert(HistoryEntry).values(
        at=_now(), job_id=job.id if job else None, entity=entity, lane=lane, kind=kind, action=action,
        target=target, target_id=target_id, outcome=outcome, duration_ms=duration_ms, detail=detail,
    ))


@dataclass
class EntityStatus:
    entity: str
    pending: int
    running: int
    oldest_pending_age_s: float | None
    dead: int
    held: int


def status(engine: Engine) -> list[EntityStatus]:
    now = _now()
    out: dict[str, EntityStatus] = {}
    with engine.connect() as conn:
        for entity, state, n, oldest in conn.execute(
            select(Job.entity, Job.state, func.count(), func.min(Job.created_at)).group_by(Job.entity, Job.state)
        ):
            st = out.setdefault(entity, EntityStatus(entity, 0, 0, None, 0, 0))
            if state == "pending":
                st.pending = n
                st.oldest_pending_age_s = (now - _aware(oldest)).total_seconds() if oldest else None
            else:
                st.running = n
        for entity, kind, n in conn.execute(
            select(DeadLetter.entity, DeadLetter.kind, func.count())
            .where(DeadLetter.resolved_at.is_(None)).group_by(DeadLetter.entity, DeadLetter.kind)
        ):
            st = out.setdefault(entity, EntityStatus(entity, 0, 0, None, 0, 0))
            if kind == "held":
                st.held = n
            else:
                st.dead = n
    return sorted(out.values(), key=lambda s: s.entity)


def depth(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Job)).scalar_one())

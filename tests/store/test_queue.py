"""The durable queue on SQLite and PostgreSQL: lanes, coalescing, leases, dead letters, replay."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from b24sync.store import queue as q
from b24sync.store.db import make_engine, migrate
from b24sync.store.models import DeadLetter, Job


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(q, "CLOCK", c)
    return c


@pytest.fixture
def db(store_url: str) -> Iterator[Engine]:
    engine = make_engine(store_url)
    migrate(engine)
    yield engine
    engine.dispose()


def put(db: Engine, lane: str, n: int, dedup: str | None = None) -> int:
    with db.begin() as c:
        return q.enqueue(c, kind="sync", entity="e", lane=lane, payload={"n": n}, dedup_key=dedup)


def test_one_job_per_lane_in_order(db: Engine, clock: Clock) -> None:
    for i in range(3):
        put(db, "a", i)
    put(db, "b", 0)
    first = q.claim(db, "w1", limit=10, lease_seconds=30)
    assert sorted((j.lane, j.payload["n"]) for j in first) == [("a", 0), ("b", 0)]
    assert q.claim(db, "w2", limit=10, lease_seconds=30) == []  # a:1 waits for a:0
    with db.begin() as c:
        assert q.complete(c, next(j for j in first if j.lane == "a"))
    nxt = q.claim(db, "w2", limit=10, lease_seconds=30)
    assert [(j.lane, j.payload["n"]) for j in nxt] == [("a", 1)]


def test_dedup_key_coalesces_pending_but_not_running(db: Engine, clock: Clock) -> None:
    a = put(db, "a", 1, dedup="k")
    assert put(db, "a", 2, dedup="k") == a  # newer payload replaces the waiting one
    (job,) = q.claim(db, "w", limit=5, lease_seconds=30)
    assert job.payload == {"n": 2}
    b = put(db, "a", 3, dedup="k")  # the running one may have read stale data: a new job is queued
    assert b != a


def test_expired_lease_returns_the_job_and_the_zombie_cannot_complete(db: Engine, clock: Clock) -> None:
    put(db, "a", 0)
    (job,) = q.claim(db, "w1", limit=1, lease_seconds=10)
    clock.advance(5)
    assert q.claim(db, "w2", limit=1, lease_seconds=10) == []
    clock.advance(6)
    (again,) = q.claim(db, "w2", limit=1, lease_seconds=10)
    assert again.id == job.id and again.attempts == 1
    with db.begin() as c:
        assert not q.complete(c, job)  # w1 lost its lease
    with db.begin() as c:
        assert q.complete(c, again)


def test_retry_backs_off_and_keeps_lane_order(db: Engine, clock: Clock) -> None:
    put(db, "a", 0)
    put(db, "a", 1)
    (job,) = q.claim(db, "w", limit=5, lease_seconds=30)
    assert q.retry(db, job, delay_seconds=60, error="503")
    assert q.claim(db, "w", limit=5, lease_seconds=30) == []  # a:0 backs off, a:1 must not overtake it
    clock.advance(61)
    (again,) = q.claim(db, "w", limit=5, lease_seconds=30)
    assert again.payload == {"n": 0} and again.attempts == 1


def test_dead_letter_and_replay(db: Engine, clock: Clock) -> None:
    put(db, "a", 0)
    (job,) = q.claim(db, "w", limit=1, lease_seconds=30)
    with db.begin() as c:
        assert q.park(c, job, kind="dead", reason="INN 7707083894: check digit should be 3", error_type="ValidationError")
    with db.connect() as c:
        (dl,) = c.execute(select(DeadLetter)).all()
        assert dl.reason.startswith("INN 7707083894") and dl.resolved_at is None
        assert c.execute(select(Job)).all() == []
    st = {s.entity: s for s in q.status(db)}
    assert st["e"].dead == 1
    assert q.replay(db, entity="e") == 1
    (back,) = q.claim(db, "w", limit=1, lease_seconds=30)
    assert back.payload == {"n": 0} and back.lane == "a"
    assert q.replay(db, entity="e") == 0  # replayed letters are closed


def test_backoff_is_exponential_with_jitter_and_capped() -> None:
    b = q.Backoff(base_seconds=2, max_seconds=60)
    import random

    rng = random.Random(1)
    for attempt, ceiling in [(1, 2), (2, 4), (3, 8), (10, 60)]:
        d = b.delay(attempt, rng)
        assert ceiling / 2 <= d <= ceiling


def _park_sync(db: Engine, record_id: str, reason: str, lane: str | None = None, kind: str = "held") -> None:
    with db.begin() as c:
        q.enqueue(c, kind="sync", entity="company", lane=lane or f"company:erp:{record_id}",
                  payload={"side": "erp", "id": record_id, "snapshot": {"values": {"PHONE": "+79161234567"}}})
    job = q.claim(db, "w", limit=1, lease_seconds=30)[0]
    with db.begin() as c:
        assert q.park(c, job, kind=kind, reason=reason, error_type="HoldError")


def test_one_open_dead_letter_per_record_and_reason(db: Engine, clock: Clock) -> None:
    # a held record polled again and again (and once more under its linked lane) stays ONE open entry, counted
    for i in range(5):
        clock.advance(60)
        _park_sync(db, "42", "Заполните ИНН (попытка 1)", lane="company:link:7" if i == 4 else None)
    _park_sync(db, "42", "Заполните КПП")  # another reason: its own entry
    _park_sync(db, "43", "Заполните ИНН (попытка 1)")  # another record: its own entry
    with db.connect() as c:
        rows = c.execute(select(DeadLetter).where(DeadLetter.resolved_at.is_(None)).order_by(DeadLetter.id)).all()
    assert [(r.record_key, r.count) for r in rows] == [
        ("company:erp:42", 5), ("company:erp:42", 1), ("company:erp:43", 1)]
    assert rows[0].last_seen_at is not None and rows[0].lane == "company:link:7"
    # replay of the one entry replays it once; the dead letter keeps no snapshot with personal data
    assert all("snapshot" not in r.payload for r in rows)
    assert q.replay(db, dead_letter_id=rows[0].id) == 1
    with db.connect() as c:
        pending = c.execute(select(Job)).all()
    assert len(pending) == 1 and "snapshot" not in pending[0].payload


def test_success_under_the_linked_lane_resolves_the_records_old_dead_letters(db: Engine, clock: Clock) -> None:
    _park_sync(db, "42", "нет связи", kind="dead")
    with db.begin() as c:
        n = q.resolve_parked(c, "company:link:1", record=q.record_key("company", "company:link:1",
                                                                      {"side": "erp", "id": "42"}))
    assert n == 1


def test_success_of_another_entity_on_the_same_lane_leaves_the_entry_open(db: Engine, clock: Clock) -> None:
    # order and order_status share the deal ⇄ order pair's scope, so their jobs run on one lane: the status job
    # ending well (or skipped) must not close the order entity's hold — only the order's own success does
    _park_sync(db, "42", "нет соглашения", lane="deal:crm:42")
    with db.begin() as c:
        other = q.resolve_parked(c, "deal:crm:42", record=q.record_key("order_status", "deal:crm:42",
                                                                        {"side": "erp", "id": "42"}),
                                 entity="order_status")
    assert other == 0
    with db.begin() as c:
        own = q.resolve_parked(c, "deal:crm:42", record=q.record_key("company", "deal:crm:42",
                                                                      {"side": "erp", "id": "42"}), entity="company")
    assert own == 1


def test_enqueue_many_coalesces_like_enqueue_one_by_one(db: Engine, clock: Clock) -> None:
    with db.begin() as c:
        waiting = q.enqueue(c, kind="sync", entity="e", lane="L1", payload={"v": 0}, dedup_key="k1")
        running = q.enqueue(c, kind="sync", entity="e", lane="L2", payload={"v": 0}, dedup_key="k2")
    assert [j.id for j in q.claim(db, "w", limit=1, lease_seconds=60)] == [waiting]  # k1 runs now
    with db.begin() as c:
        waiting = q.enqueue(c, kind="sync", entity="e", lane="L1", payload={"v": 1}, dedup_key="k1")
    jobs = [q.NewJob("L1", {"v": 2}, "k1"), q.NewJob("L2", {"v": 2}, "k2"), q.NewJob("L3", {"v": 1}, "k3"),
            q.NewJob("L3b", {"v": 2}, "k3"), q.NewJob("L4", {"v": 1}, None), q.NewJob("L4", {"v": 2}, None)]
    with db.begin() as c:
        assert q.enqueue_many(c, kind="sync", entity="e", jobs=jobs) == 5
    with db.connect() as c:
        rows = [(r.lane, r.payload["v"], r.dedup_key, r.state) for r in c.execute(select(Job).order_by(Job.id))]
    assert rows == [
        ("L1", 0, "k1", "running"),  # claimed: never coalesced into
        ("L2", 2, "k2", "pending"),  # waiting: takes the newer payload, keeps its id
        ("L1", 2, "k1", "pending"),  # the job enqueued while k1 ran: coalesced
        ("L3", 2, "k3", "pending"),  # twice in one list: one job, the later payload, the first lane
        ("L4", 1, None, "pending"),  # no dedup key: every job, in order
        ("L4", 2, None, "pending"),
    ]
    assert running  # (its id was coalesced above)
    with db.begin() as c:
        assert q.enqueue_many(c, kind="sync", entity="e", jobs=[]) == 0

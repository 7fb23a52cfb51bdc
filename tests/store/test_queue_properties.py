"""Property test of the queue: any interleaving of enqueue / claim / complete / fail-retry / park / lease expiry
keeps per-lane order and loses no job (on SQLite and on PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import delete, select

from b24sync.store import queue as q
from b24sync.store.db import make_engine, migrate
from b24sync.store.models import DeadLetter, Job

LANES = ["a", "b", "c"]
WORKERS = ["w1", "w2"]
LEASE = 10.0


def machine_for(url: str) -> type[RuleBasedStateMachine]:
    engine = make_engine(url)
    migrate(engine)

    class QueueMachine(RuleBasedStateMachine):
        @initialize()
        def setup(self) -> None:
            with engine.begin() as c:
                c.execute(delete(Job))
                c.execute(delete(DeadLetter))
            self.now = datetime(2026, 1, 1, tzinfo=UTC)
            q.CLOCK = lambda: self.now
            self.seq = 0
            self.enqueued: dict[str, list[int]] = {lane: [] for lane in LANES}
            self.finished: dict[str, list[int]] = {lane: [] for lane in LANES}  # completed or parked, in order
            self.held: dict[str, list[q.ClaimedJob]] = {w: [] for w in WORKERS}

        @rule(lane=st.sampled_from(LANES))
        def enqueue(self, lane: str) -> None:
            self.seq += 1
            with engine.begin() as c:
                q.enqueue(c, kind="k", entity="e", lane=lane, payload={"seq": self.seq})
            self.enqueued[lane].append(self.seq)

        @rule(worker=st.sampled_from(WORKERS), limit=st.integers(1, 4))
        def claim(self, worker: str, limit: int) -> None:
            got = q.claim(engine, worker, limit=limit, lease_seconds=LEASE)
            for j in got:
                done = set(self.finished[j.lane])
                head = next(s for s in self.enqueued[j.lane] if s not in done)
                assert j.payload["seq"] == head, f"lane {j.lane}: claimed {j.payload['seq']} before {head}"
            # A job re-claimed after its lease expired stays in the old holder's list too: that zombie's
            # complete/retry/park must then fail, which the rules below rely on.
            self.held[worker] += got

        @rule(worker=st.sampled_from(WORKERS), data=st.data())
        def complete(self, worker: str, data: st.DataObject) -> None:
            if not self.held[worker]:
                return
            job = data.draw(st.sampled_from(self.held[worker]))
            self.held[worker].remove(job)
            with engine.begin() as c:
                ok = q.complete(c, job)
            if ok:
                self.finished[job.lane].append(job.payload["seq"])

        @rule(worker=st.sampled_from(WORKERS), delay=st.sampled_from([0.0, 1.0, 30.0]), data=st.data())
        def fail_and_retry(self, worker: str, delay: float, data: st.DataObject) -> None:
            if not self.held[worker]:
                return
            job = data.draw(st.sampled_from(self.held[worker]))
            self.held[worker].remove(job)
            q.retry(engine, job, delay_seconds=delay, error="transient")

        @rule(worker=st.sampled_from(WORKERS), data=st.data())
        def park(self, worker: str, data: st.DataObject) -> None:
            if not self.held[worker]:
                return
            job = data.draw(st.sampled_from(self.held[worker]))
            self.held[worker].remove(job)
            with engine.begin() as c:
                ok = q.park(c, job, kind="dead", reason="bad data", error_type="ValidationError")
            if ok:
                self.finished[job.lane].append(job.payload["seq"])

        @rule(seconds=st.sampled_from([1.0, 5.0, LEASE + 1, 31.0]))
        def time_passes(self, seconds: float) -> None:
            self.now += timedelta(seconds=seconds)

        @invariant()
        def per_lane_order_and_nothing_lost(self) -> None:
            if not hasattr(self, "enqueued"):
                return
            with engine.connect() as c:
                live = {r.payload["seq"] for r in c.execute(select(Job.payload)).all()}
                dead = {r.payload["seq"] for r in c.execute(select(DeadLetter.payload)).all()}
            for lane in LANES:
                # finished in exactly the order enqueued (a prefix of it)
                assert self.finished[lane] == self.enqueued[lane][: len(self.finished[lane])]
                for s in self.enqueued[lane]:
                    assert s in live or s in dead or s in self.finished[lane], f"job {s} lost"

        def teardown(self) -> None:
            q.CLOCK = q.utcnow

    return QueueMachine


@pytest.mark.slow(25)
@pytest.mark.parametrize("examples", [60])
def test_queue_state_machine(store_url: str, examples: int) -> None:
    Machine = machine_for(store_url)
    Machine.TestCase.settings = settings(max_examples=examples, stateful_step_count=30, deadline=None,
                                         suppress_health_check=[HealthCheck.too_slow])
    Machine.TestCase().runTest()

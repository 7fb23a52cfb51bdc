from __future__ import annotations

import math

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from b24sync.sandbox.bitrix24 import Bitrix24Sandbox, ManualClock
from b24sync.sandbox.bitrix24.limits import LeakyBucket

QUERY_LIMIT = {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 3), st.integers(0, 60)), max_size=30),
       st.sampled_from([(2.0, 50), (5.0, 250), (1.0, 3)]))
def test_leaky_bucket_model(steps, cfg):
    """Against a reference model: the counter drains by `rate` once per whole second; a request passes iff the
    counter is below `burst`; refused requests do not count [fact sheet §3.2]."""
    rate, burst = cfg
    clock = ManualClock(0.0)
    bucket = LeakyBucket(clock, rate, burst)
    level, tick = 0.0, None  # the drain schedule starts with the first request from the source
    accepted = 0
    for dt, n in steps:
        clock.advance(dt)
        if n and tick is None:
            tick = first = clock.now()
        ticks = math.floor(clock.now() - tick) if tick is not None else 0
        if ticks > 0:
            level, tick = max(0.0, level - ticks * rate), tick + ticks
        for _ in range(n):
            expect = level + 1 <= burst
            assert bucket.try_acquire("ip") == expect
            if expect:
                level += 1
                accepted += 1
    assert accepted <= burst + rate * (math.floor(clock.now() - first) if tick is not None else 0)


def test_http_burst_then_two_per_second(manual_sandbox):
    sb, clock = manual_sandbox
    url = sb.webhook_url + "user.current"
    codes = [httpx.post(url, json={}).status_code for _ in range(52)]
    assert codes[:50] == [200] * 50 and codes[50:] == [503, 503]
    refused = httpx.post(url, json={})
    assert refused.status_code == 503 and refused.json() == QUERY_LIMIT
    clock.advance(1.0)
    assert [httpx.post(url, json={}).status_code for _ in range(3)] == [200, 200, 503]
    batch = httpx.post(sb.webhook_url + "batch", json={"cmd": {"a": "user.current"}})
    assert batch.status_code == 503  # one batch = one request, still counted
    assert sb.query_limit_exceeded == 5 and sb.requests_served == 57


def test_operating_budget_counted_vs_uncounted():
    clock = ManualClock()
    sb = Bitrix24Sandbox(clock=clock, rate=None, operating_limit=20.0)
    sb.seed(companies=60_000)  # counted page ≈ 0.097 + 60000 × 2.09e-5 ≈ 1.35 s
    sb.start()
    try:
        url = sb.webhook_url
        for _ in range(40):  # start=-1 + >ID filter: 0.097 s each → never blocked
            r = httpx.post(url + "crm.company.list", json={"filter": {">ID": 100}, "order": {"ID": "ASC"}, "start": -1})
            assert r.status_code == 200 and r.json()["total"] == 0
        assert sb.operating_used("crm.company.list") < 20
        statuses, last_ok = [], None
        for _ in range(20):
            r = httpx.post(url + "crm.company.list", json={"start": 0})
            statuses.append(r.status_code)
            if r.status_code == 200:
                last_ok = r.json()
        first_block = statuses.index(429)
        assert 5 < first_block < 19 and set(statuses[first_block:]) == {429}
        assert last_ok["time"]["operating"] > 20  # the crossing call completed and reported the total
        blocked = httpx.post(url + "crm.company.list", json={"start": -1})
        assert blocked.json() == {"error": "OPERATION_TIME_LIMIT",
                                  "error_description": "Method is blocked due to operation time limit."}
        assert httpx.post(url + "crm.company.get", json={"id": 1}).status_code == 200  # other methods still work
        clock.advance(last_ok["time"]["operating_reset_at"] - clock.now() + 60)
        assert httpx.post(url + "crm.company.list", json={"start": -1}).status_code == 200
        assert sb.operation_time_limit_hits >= 2 and sb.operating_seconds > 20
    finally:
        sb.close()


def test_paging_fast_on_100k():
    import time  # CPU seconds below: other processes on a loaded machine do not count
    sb = Bitrix24Sandbox(rate=None)
    t0 = time.process_time()
    sb.seed(companies=100_000)
    assert time.process_time() - t0 < 30
    from b24sync.sandbox.bitrix24.portal import Ctx
    ctx = Ctx(principal="t", user_id=1)
    t0 = time.process_time()
    last, n = 0, 0
    while n < 200:
        page = sb.portal.call(ctx, "crm.company.list", {"filter": {">ID": last}, "order": {"ID": "ASC"}, "start": -1,
                                                          "select": ["ID"]})
        last = int(page.result[-1]["ID"])
        n += 1
    assert last == 10_000 and time.process_time() - t0 < 3.0  # 200 pages without scanning the table
    sb.close()

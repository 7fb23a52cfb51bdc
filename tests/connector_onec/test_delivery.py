"""Delivery rules of the 1C OData client (connectors/delivery.py, issue 13): reads are resent with bounded backoff,
a write whose answer was lost is never resent, a page of counterparties joins its bank accounts with set reads."""

from __future__ import annotations

import asyncio
import random
import time

import httpx
import pytest

from b24sync.connectors.delivery import RetryPolicy
from b24sync.connectors.onec.odata import ODataClient, from_config
from b24sync.engine.errors import OutcomeUnknownError, RetryableError
from b24sync.engine.ports import ChangeCursor, ObjectRef
from b24sync.flows.counterparties import ACCOUNTS, BANKS, CATALOG, OneCCounterparty
from b24sync.sandbox.onec import OneCSandbox
from b24sync.store.kv import MemoryState

FAST = RetryPolicy(attempts=5, base=0.01, cap=0.05, total=10.0)


def run(coro):
    return asyncio.run(coro)


def _mock(handler) -> httpx.MockTransport:
    return httpx.MockTransport(handler)


def test_onec_reads_retry_with_backoff() -> None:
    calls: list[float] = []

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise httpx.ReadTimeout("slow 1C", request=req)
        if len(calls) == 2:
            return httpx.Response(503, text="<html>503</html>", headers={"Retry-After": "1"})
        if len(calls) == 3:
            return httpx.Response(200, text="<html>proxy page</html>", headers={"Content-Type": "text/html"})
        return httpx.Response(200, json={"value": [{"Ref_Key": "a"}]})

    async def go():
        async with ODataClient("http://1c/odata/", transport=_mock(handler), retry=FAST) as c:
            page = await c.query("Catalog_X")
            return page, c.stats

    page, stats = run(go())
    assert [r["Ref_Key"] for r in page.rows] == ["a"]
    assert len(calls) == 4 and stats.retries == 3
    assert calls[2] - calls[1] >= 0.95, "Retry-After: 1 is a floor for the next try"


def test_onec_read_retries_are_bounded_in_attempts_and_time() -> None:
    calls = 0

    def handler(req: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(500, json={"odata.error": {"code": "-1", "message": {"value": "внутренняя ошибка"}}})

    async def go(policy: RetryPolicy):
        async with ODataClient("http://1c/odata/", transport=_mock(handler), retry=policy) as c:
            t0 = time.monotonic()
            with pytest.raises(RetryableError):
                await c.get("Catalog_X", "00000000-0000-0000-0000-000000000001")
            return time.monotonic() - t0

    run(go(FAST))
    assert calls == FAST.attempts
    calls = 0
    took = run(go(RetryPolicy(attempts=50, base=0.2, cap=0.4, total=1.0)))
    assert took < 1.5 and calls < 50, "the total time budget ends the retries"


def test_a_1c_create_whose_answer_was_lost_is_never_resent() -> None:
    for lose in ("reset", "timeout", "504", "html"):
        applied = 0

        def handler(req: httpx.Request) -> httpx.Response:
            nonlocal applied
            applied += 1  # the base applied it; what follows is the answer getting lost
            if lose == "reset":
                raise httpx.RemoteProtocolError("peer closed connection", request=req)
            if lose == "timeout":
                raise httpx.ReadTimeout("no answer", request=req)
            if lose == "504":
                return httpx.Response(504, text="<html><h1>504 Gateway Time-out</h1></html>")
            return httpx.Response(201, text="<html>ok</html>", headers={"Content-Type": "text/html"})

        async def go():
            async with ODataClient("http://1c/odata/", transport=_mock(handler), retry=FAST) as c:
                with pytest.raises(OutcomeUnknownError):
                    await c.create("Catalog_X", {"Description": "x"})
                return c.stats.unknown_outcomes

        assert run(go()) == 1
        assert applied == 1, f"{lose}: a write whose answer was lost was sent again"


def test_a_1c_write_refused_before_sending_is_retried_inside_the_client() -> None:
    calls = 0

    def handler(req: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ConnectError("connection refused", request=req)
        if calls == 2:
            return httpx.Response(429, text="slow down")
        return httpx.Response(201, json={"Ref_Key": "k1", "Description": "x"})

    async def go():
        async with ODataClient("http://1c/odata/", transport=_mock(handler), retry=FAST) as c:
            return await c.create("Catalog_X", {"Description": "x"})

    assert run(go())["Ref_Key"] == "k1" and calls == 3


@pytest.fixture(scope="module")
def base_with_accounts():
    sb = OneCSandbox(random_seed=5)
    sb.faults.retry_after_s = 1
    sb.faults.max_query_bytes = 2048  # IIS's default: the set reads must stay under it
    rng = random.Random(3)
    banks = [sb.create(BANKS, Code=f"0445252{i:02d}", Description=f"Банк {i}", КоррСчет=f"301018104000000002{i:02d}")
             for i in range(8)]
    made = []
    for i in range(1000):
        cp = sb.create(CATALOG, Description=f"ООО Ромашка {i}", ИНН=f"77{i:08d}", ЮрФизЛицо="ЮрЛицо")
        acc = None
        if i % 3:
            bank = rng.choice(banks)
            acc = sb.create(ACCOUNTS, Owner_Key=cp["Ref_Key"], НомерСчета=f"40702810{i:012d}",
                            Банк_Key=bank["Ref_Key"], Description="счёт")
        made.append((cp["Ref_Key"], acc["НомерСчета"] if acc else "", bank["Code"] if acc else ""))
    sb.start()
    yield sb, made
    sb.stop()


async def _poll_all(sb: OneCSandbox, **cfg) -> tuple[dict[str, dict], list[int]]:
    base = from_config("onec", {"url": sb.odata_url, "username": "odata", "password": "secret",
                                "state": MemoryState(), **cfg})
    base.client.retry = RetryPolicy(attempts=6, base=0.05, cap=0.5, total=30.0)
    cp = OneCCounterparty(base, "onec")
    seen: dict[str, dict] = {}
    per_page: list[int] = []
    cursor = ChangeCursor()
    try:
        while True:
            before = base.client.stats.requests
            page = await cp.read_changes(ObjectRef("counterparty"), cursor, overlap_seconds=0, limit=500)
            per_page.append(base.client.stats.requests - before)
            for r in page.records:
                seen[r.id] = r.values
            await cp.acknowledge(ObjectRef("counterparty"), page)
            cursor = page.cursor
            if not page.more:
                return seen, per_page
    finally:
        await base.aclose()


def test_bank_accounts_are_read_per_page_not_per_record(base_with_accounts) -> None:
    sb, made = base_with_accounts
    seen, per_page = run(_poll_all(sb))
    assert len(seen) >= len(made)  # and the demo seed's 30
    assert {r: (seen[r]["НомерСчета"], seen[r]["БИК"]) for r, _, _ in made} == {r: (a, b) for r, a, b in made}
    # 500 counterparties per page: 1 page read + the accounts in chunks under the 2048-byte query budget + banks;
    # the per-record join made 1 + 500 + banks requests.
    print("requests per poll page (2048-byte query budget):", per_page)
    assert max(per_page) <= 25, per_page
    sb.faults.max_query_bytes = 8190
    seen_wide, per_page_wide = run(_poll_all(sb, max_query_bytes=8000))  # Apache: LimitRequestLine 8190
    sb.faults.max_query_bytes = 2048
    print("requests per poll page (8000-byte query budget):", per_page_wide)
    assert seen_wide == seen and max(per_page_wide) <= 8, per_page_wide


def test_a_poll_completes_at_10_percent_read_faults(base_with_accounts) -> None:
    sb, made = base_with_accounts
    sb.faults.read_fail_rate = 0.10
    try:
        seen, _ = run(_poll_all(sb))
    finally:
        sb.faults.read_fail_rate = 0.0
    assert {r: seen[r]["НомерСчета"] for r, _, _ in made if r in seen} == {r: a for r, a, _ in made}
    assert any(code >= 500 for _, _, code in sb.service.request_log), "no fault was injected"


def test_an_exchange_package_read_is_retried_whole_after_a_fault() -> None:
    sb = OneCSandbox()
    sb.faults.retry_after_s = 0
    sb.start()
    try:
        node = sb.add_exchange_node("B24-retry", "retry")
        refs = [r["Ref_Key"] for r in sb.find(CATALOG)[:5]]
        for ref in refs:
            sb.edit(CATALOG, ref, Комментарий="changed")
        sb.inject_fault("SelectChanges", "503", times=1)
        sb.inject_fault("SelectChanges", "reset", times=1)  # headers, half a body, then the connection drops

        async def go():
            a = from_config("onec", {"url": sb.odata_url, "username": "odata", "password": "secret",
                                     "exchange_plan": "ОбменСB24", "nodes": {"counterparties": node}})
            a.client.retry = FAST
            try:
                page = await a.read_changes(ObjectRef("counterparties"), ChangeCursor(), overlap_seconds=0, limit=100)
                return page, a.client.stats.retries
            finally:
                await a.aclose()

        page, retries = run(go())
        assert set(refs) <= {r.id for r in page.records} and retries == 2
    finally:
        sb.stop()

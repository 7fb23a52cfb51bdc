"""The connector against the Bitrix24 sandbox (an independently written emulator) on an ephemeral port."""

from __future__ import annotations

import asyncio
import time

import pytest

from b24sync.connectors.bitrix24.adapter import Bitrix24Adapter, client_from_config
from b24sync.connectors.bitrix24.auth import OAuthAuth, WebhookAuth
from b24sync.connectors.bitrix24.client import Bitrix24Client
from b24sync.connectors.bitrix24.errors import Bitrix24OperationLimit
from b24sync.engine.errors import DeferError
from b24sync.engine.ports import ChangeCursor, ObjectRef
from b24sync.sandbox.bitrix24.clock import ManualClock
from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox
from b24sync.store.kv import MemoryState

pytestmark = pytest.mark.anyio


@pytest.fixture
def sandbox():
    sb = Bitrix24Sandbox(rate=2.0, burst=50)  # the sandbox's default plan limits
    yield sb
    sb.close()


async def test_full_read_20000_rows_at_default_limits(sandbox):
    sandbox.seed(contacts=20_000)
    url = sandbox.start()
    async with Bitrix24Client(WebhookAuth(url)) as c:
        ids = [int(r["ID"]) async for page in c.list_all("crm.contact.list", {"select": ["ID", "NAME"]})
               for r in page]
    assert len(ids) == 20_000 and ids == sorted(set(ids))
    assert sandbox.query_limit_exceeded == 0 and sandbox.operation_time_limit_hits == 0
    assert c.stats.http_requests == 8  # 2,500 rows per request
    assert 20_000 / sandbox.requests_served >= 2_400


async def test_bulk_write_5000_records_at_default_limits(sandbox):
    url = sandbox.start()
    adapter = Bitrix24Adapter("b24", client_from_config({"webhook_url": url}))
    obj = ObjectRef("crm.contact")
    t0 = time.monotonic()
    ids = await asyncio.gather(*[adapter.create(obj, {"NAME": f"Имя {i}", "LAST_NAME": "Bulk",
                                                      "ORIGIN_ID": f"ext-{i}"}) for i in range(5_000)])
    elapsed = time.monotonic() - t0
    await adapter.aclose()
    assert len(set(ids)) == 5_000 and sandbox.count("contact") == 5_000
    assert sandbox.query_limit_exceeded == 0
    assert 5_000 / sandbox.requests_served >= 49
    assert elapsed < 60


async def test_one_invalid_record_among_50_keeps_the_other_49(sandbox):
    url = sandbox.start()
    async with Bitrix24Client(WebhookAuth(url)) as c:
        outs = await asyncio.gather(*[
            c.call("crm.requisite.add", {"fields": {"ENTITY_TYPE_ID": 4, "ENTITY_ID": 999_999 if i == 7 else 0,
                                                    "PRESET_ID": 1, "NAME": f"r{i}"}})
            for i in range(50)], return_exceptions=True)
    failed = [i for i, o in enumerate(outs) if isinstance(o, Exception)]
    assert 7 in failed
    assert sandbox.requests_served == 1


async def test_incremental_cursor_loses_nothing_modified_in_the_same_second():
    clock = ManualClock()
    sb = Bitrix24Sandbox(rate=None, clock=clock)
    try:
        url = sb.start()
        adapter = Bitrix24Adapter("b24", client_from_config({"webhook_url": url}))
        obj = ObjectRef("crm.contact", {"select": ["ID", "NAME", "DATE_MODIFY"]})
        expected: set[str] = set()
        for second in range(4):  # 130 records in second 0, then a few per second
            n = 130 if second == 0 else 7
            ids = await asyncio.gather(*[adapter.create(obj, {"NAME": f"s{second}-{i}"}) for i in range(n)])
            expected |= set(ids)
            clock.advance(1)
        got: list[str] = []
        cursor = ChangeCursor()
        for _ in range(50):
            page = await adapter.read_changes(obj, cursor, overlap_seconds=0, limit=40)
            got += [r.id for r in page.records]
            cursor = page.cursor
            if not page.more and not page.records:
                break
        assert set(got) == expected and len(got) == len(expected)
        # modify two records in one new second, one with a lower id: both come, nothing else
        clock.advance(5)
        first, last = sorted(expected, key=int)[0], sorted(expected, key=int)[-1]
        await adapter.update(obj, last, {"NAME": "changed"})
        await adapter.update(obj, first, {"NAME": "changed"})
        page = await adapter.read_changes(obj, cursor, overlap_seconds=0, limit=40)
        assert sorted(r.id for r in page.records) == sorted([first, last], key=str)
        await adapter.aclose()
    finally:
        sb.close()


async def test_operation_time_limit_parks_the_method():
    sb = Bitrix24Sandbox(rate=None, operating_limit=1.0)
    try:
        url = sb.start()
        # a client that knows the budget parks the method before the portal must refuse it
        async with Bitrix24Client(WebhookAuth(url), operating_limit_seconds=1.0) as c:
            with pytest.raises(Bitrix24OperationLimit) as ei:
                for _ in range(30):
                    await c.call("crm.contact.list", {"start": -1})
            assert isinstance(ei.value, DeferError) and ei.value.until.timestamp() > time.time() + 60
            assert sb.operation_time_limit_hits == 0
            await c.call("crm.company.list", {"start": -1})  # other methods keep working
        # a client with a wrong (too generous) budget gets the portal's 429 once, then parks without calling
        async with Bitrix24Client(WebhookAuth(url), operating_limit_seconds=10_000) as c:
            await c.call("crm.deal.list", {"start": -1})
            with pytest.raises(Bitrix24OperationLimit):
                for _ in range(30):
                    await c.call("crm.deal.list", {"start": -1})
            served = sb.requests_served
            with pytest.raises(Bitrix24OperationLimit):
                await c.call("crm.deal.list", {"start": -1})
            assert sb.requests_served == served
            assert sb.operation_time_limit_hits == 1
    finally:
        sb.close()


async def test_oauth_refresh_once_for_20_callers_against_sandbox():
    clock = ManualClock(time.time())
    sb = Bitrix24Sandbox(rate=None, clock=clock, client_id="local.app.1", client_secret="sandbox-secret-1")
    try:
        sb.start()
        tok = sb.oauth_tokens()
        state = MemoryState()
        auth = OAuthAuth(client_id="local.app.1", client_secret="sandbox-secret-1", state=state, key="b24:oauth:sb",
                         token_endpoint=sb.oauth_token_url, client_endpoint=sb.base_url + "/rest/",
                         access_token=tok["access_token"], refresh_token=tok["refresh_token"])
        async with Bitrix24Client(auth, state=state) as c:
            assert await c.call("crm.contact.list", {"start": -1}, batch=False) == []
            clock.advance(3700)  # the access token expires
            res = await asyncio.gather(*[c.call("crm.contact.list", {"start": -1}, batch=False) for _ in range(20)])
        assert res == [[]] * 20
        assert auth.refreshes == 1 and state.get("b24:oauth:sb")["version"] == 2
    finally:
        sb.close()


async def test_incremental_on_crm_item_and_shared_sql_state(tmp_path):
    from b24sync.store.db import make_engine, migrate
    from b24sync.store.kv import SqlState

    clock = ManualClock()
    sb = Bitrix24Sandbox(rate=2.0, burst=50, clock=clock)
    try:
        url = sb.start()
        engine = make_engine(f"sqlite:///{tmp_path}/state.db")
        migrate(engine)
        state = SqlState(engine)
        adapter = Bitrix24Adapter("b24", client_from_config({"webhook_url": url, "state": state}))
        obj = ObjectRef("crm.item:2")  # deals through the universal API: id / updatedTime / result.items
        created = set(await asyncio.gather(*[adapter.create(obj, {"title": f"d{i}"}) for i in range(75)]))
        clock.advance(1)
        created |= set(await asyncio.gather(*[adapter.create(obj, {"title": f"e{i}"}) for i in range(10)]))
        seen: list[str] = []
        cursor = ChangeCursor()
        for _ in range(20):
            page = await adapter.read_changes(obj, cursor, overlap_seconds=0, limit=30)
            seen += [r.id for r in page.records]
            cursor = page.cursor
            if not page.more:
                break
        assert set(seen) == created and len(seen) == len(created)
        assert state.get(f"b24:bucket:{adapter.client.portal}")["level"] > 0  # the bucket lives in the store
        await adapter.aclose()
        assert sb.query_limit_exceeded == 0
    finally:
        sb.close()


async def test_poll_cursor_same_second_change_of_a_lower_id_is_reread_by_the_overlap():
    """A record with a lower ID changed in the cursor's own second *after* the poll read it carries the cursor's
    time: the tail (> cursor ID) and the window before the cursor second both miss it. The overlap re-reads the
    cursor second up to the cursor ID."""
    clock = ManualClock()
    sb = Bitrix24Sandbox(rate=None, clock=clock)
    try:
        url = sb.start()
        adapter = Bitrix24Adapter("b24", client_from_config({"webhook_url": url}))
        obj = ObjectRef("crm.contact", {"select": ["ID", "NAME", "DATE_MODIFY"]})
        early = [await adapter.create(obj, {"NAME": f"early {i}"}) for i in range(3)]
        clock.advance(30)
        same = [await adapter.create(obj, {"NAME": f"same {i}"}) for i in range(70)]  # > one page in one second
        cursor = ChangeCursor()
        while True:
            page = await adapter.read_changes(obj, cursor, overlap_seconds=0, limit=500)
            cursor = page.cursor
            if not page.more:
                break
        assert cursor.last_id == same[-1]
        # still in the cursor's second: a low-ID record of that second changes, and so does one from before
        await adapter.update(obj, same[3], {"NAME": "changed after the read"})
        page = await adapter.read_changes(obj, cursor, overlap_seconds=120, limit=500)
        names = {r.id: r.values["NAME"] for r in page.records}
        assert names.get(same[3]) == "changed after the read"
        assert set(same) <= set(names)  # the whole second re-read (overlap rows), beyond one page of 50
        assert page.cursor == cursor  # re-read rows never move the cursor
        assert set(early) <= set(names)  # 30 s before the cursor: inside the 120 s window
        page = await adapter.read_changes(obj, cursor, overlap_seconds=0, limit=500)
        assert page.records == []  # without an overlap (a poll's later pages) nothing is read twice
    finally:
        sb.close()

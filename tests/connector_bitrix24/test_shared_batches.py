"""Full batches on the write path: coalesced lookups, composite cards in shared batches, the portal's own
operating report driving the budget (issue 13 items 2 and 4). Against the Bitrix24 sandbox on an ephemeral port."""

from __future__ import annotations

import asyncio

import httpx
import pytest

import b24sync.connectors.bitrix24.company_card  # noqa: F401 - registers crm.company+requisite
from b24sync.connectors.bitrix24.adapter import Bitrix24Adapter
from b24sync.connectors.bitrix24.auth import WebhookAuth
from b24sync.connectors.bitrix24.client import Bitrix24Client
from b24sync.connectors.bitrix24.company_card import CompanyCard
from b24sync.connectors.bitrix24.encoding import Ref
from b24sync.connectors.bitrix24.limits import OperatingBudget
from b24sync.engine.errors import OutcomeUnknownError
from b24sync.engine.ports import ObjectRef
from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox
from b24sync.store.kv import MemoryState

pytestmark = pytest.mark.anyio

CARD = ObjectRef("crm.company+requisite")


@pytest.fixture
def sb():
    s = Bitrix24Sandbox(rate=None)
    s.start()
    yield s
    s.close()


async def _ensure_uf(c: Bitrix24Client) -> None:
    await c.call("crm.company.userfield.add", {"fields": {"FIELD_NAME": "ERP_ID", "USER_TYPE_ID": "string"}})


def _card(i: int) -> dict:
    return {"TITLE": f"ООО Ромашка {i}", "UF_CRM_ERP_ID": f"erp-{i}", "RQ_INN": f"77{i:08d}", "RQ_KPP": "770101001",
            "RQ_COMPANY_NAME": f"Ромашка {i}", "BANK_RQ_BANK_NAME": "Банк", "BANK_RQ_BIK": "044525225",
            "BANK_RQ_ACC_NUM": f"407028100{i:011d}", "ADDR_ADDRESS_1": f"ул. Ленина, {i}", "ADDR_CITY": "Москва"}


async def test_lookups_before_creates_are_one_list_call_per_50_link_values(sb):
    async with Bitrix24Client(WebhookAuth(sb.webhook_url)) as c:
        await _ensure_uf(c)
        a = Bitrix24Adapter("b", c)
        # every other record exists already; two companies share erp-10
        await asyncio.gather(*(c.call("crm.company.add", {"fields": {"TITLE": f"C{i}", "UF_CRM_ERP_ID": f"erp-{i}"}})
                               for i in range(0, 130, 2)))
        await c.call("crm.company.add", {"fields": {"TITLE": "dup", "UF_CRM_ERP_ID": "ERP-10"}})
        before = sb.method_calls["crm.company.list"]
        found = await asyncio.gather(*(a.find(ObjectRef("crm.company"), {"UF_CRM_ERP_ID": f"erp-{i}"})
                                       for i in range(130)))
        assert sb.method_calls["crm.company.list"] - before == 3  # 130 values → ⌈130 / 50⌉ list calls
        for i, rows in enumerate(found):
            if i == 10:
                assert len(rows) == 2  # the portal compares case-insensitively; the engine sees both
            else:
                assert [r.values["TITLE"] for r in rows] == ([f"C{i}"] if i % 2 == 0 else [])
        # the INN lookup of the company card: one crm.requisite.list per 50 INNs, KPP compared on the rows
        await asyncio.gather(*(CARDS_ADD(a, i) for i in range(3)))
        before = sb.method_calls["crm.requisite.list"]
        hits = await asyncio.gather(*(a.find(CARD, {"RQ_INN": f"77{i:08d}", "RQ_KPP": "770101001"})
                                      for i in range(60)))
        assert sb.method_calls["crm.requisite.list"] - before <= 2 + 3 * 4  # 2 INN lookups + 3 hits enriched
        assert [len(h) for h in hits[:4]] == [1, 1, 1, 0]
        assert not await a.find(CARD, {"RQ_INN": "7700000001", "RQ_KPP": "999999999"})


async def CARDS_ADD(a: Bitrix24Adapter, i: int) -> str:
    return await a.create(CARD, _card(i))


async def test_company_cards_share_batches_with_result_references(sb):
    async with Bitrix24Client(WebhookAuth(sb.webhook_url), batch_linger=0.02) as c:
        await _ensure_uf(c)
        a = Bitrix24Adapter("b", c)
        r0 = sb.requests_served
        ids = await asyncio.gather(*(a.create(CARD, _card(i)) for i in range(48)))
        # 48 cards × 4 commands = 192 commands: 4 shared requests of ≤ 50, never one request per card
        assert sb.requests_served - r0 <= 5
        assert sb.count("company") == 48 and sb.count("requisite") == 48
        assert sb.count("bankdetail") == 48 and sb.count("address") == 48
        t = sb.portal.t
        rq_of = {int(r["ENTITY_ID"]): r for r in t("requisite").rows.values()}
        bd_of = {int(r["ENTITY_ID"]): r for r in t("bankdetail").rows.values()}
        ad_of = {int(r["ENTITY_ID"]): r for r in t("address").rows.values()}
        for i, cid in enumerate(ids):  # every piece hangs on its own company (references renamed correctly)
            rq = rq_of[int(cid)]
            assert rq["RQ_INN"] == f"77{i:08d}"
            assert bd_of[int(rq["ID"])]["RQ_ACC_NUM"] == f"407028100{i:011d}"
            assert ad_of[int(rq["ID"])]["ADDRESS_1"] == f"ул. Ленина, {i}"
        rec = await a.get(CARD, ids[7])  # and the card reads back whole
        assert rec is not None and rec.values["BANK_RQ_ACC_NUM"] == f"407028100{7:011d}"


async def test_card_reads_of_concurrent_jobs_share_batches(sb):
    """The read-back of company cards (``get`` before an update, ``find`` hits): each card's company, requisite,
    bank-detail and address reads are commands in the shared batches, not requests of their own."""
    async with Bitrix24Client(WebhookAuth(sb.webhook_url), batch_linger=0.02) as c:
        await _ensure_uf(c)
        a = Bitrix24Adapter("b", c)
        ids = await asyncio.gather(*(a.create(CARD, _card(i)) for i in range(40)))
        r0 = sb.requests_served
        recs = await asyncio.gather(*(a.get(CARD, cid) for cid in ids))
        # 40 cards × 4 reads = 160 commands: 4 requests of ≤ 50 — it was 2 requests of their own per card (80+)
        assert sb.requests_served - r0 <= 6
        for i, rec in enumerate(recs):
            assert rec is not None and rec.values["RQ_INN"] == f"77{i:08d}"
            assert rec.values["BANK_RQ_ACC_NUM"] == f"407028100{i:011d}"
            assert rec.values["ADDR_ADDRESS_1"] == f"ул. Ленина, {i}"
        # more than one page of requisites for one company set still reads whole (the ID-chained read)
        extra = [await c.call("crm.requisite.add", {"fields": {"ENTITY_TYPE_ID": 4, "ENTITY_ID": int(ids[0]),
                                                               "PRESET_ID": 1, "NAME": f"r{j}"}}) for j in range(55)]
        card = CompanyCard(c)
        rows = await card._rows("crm.requisite.list", {"ENTITY_TYPE_ID": 4, "@ENTITY_ID": [int(ids[0])]})
        assert len(rows) == 56 and {str(r["ID"]) for r in rows} >= {str(x) for x in extra}
        rec = await a.get(CARD, ids[0])
        assert rec is not None and rec.values["RQ_INN"] == "7700000000"  # still the first (lowest ID) requisite


async def test_a_failed_card_does_not_fail_the_cards_sharing_its_batch(sb):
    async with Bitrix24Client(WebhookAuth(sb.webhook_url), batch_linger=0.02) as c:
        await _ensure_uf(c)
        a = Bitrix24Adapter("b", c)
        bad = {**_card(5), "PRESET_ID": "999"}  # no such requisite template: crm.requisite.add fails
        r0 = sb.requests_served
        results = await asyncio.gather(a.create(CARD, _card(1)), a.create(CARD, bad), a.create(CARD, _card(2)),
                                       return_exceptions=True)
        assert sb.requests_served - r0 == 1  # one shared request
        assert isinstance(results[0], str) and isinstance(results[2], str)
        assert isinstance(results[1], Exception) and "PRESET_ID" in str(results[1])
        # the bad card's company exists (its link field set: the engine's retry finds it and completes it); its
        # bank detail and address referred to the failed requisite and failed with it
        assert sb.count("company") == 3 and sb.count("requisite") == 2
        assert sb.count("bankdetail") == 2 and sb.count("address") == 2


async def test_batch_reference_to_a_failed_command_fails_the_referring_command_and_halt_stops(sb):
    """Sheet §4: halt=0 runs every command and collects errors; halt=1 stops at the first error and later commands
    do not run (no result, no error). A reference to a command that failed resolves to nothing, so the referring
    command fails its own validation (the docs are silent on the value; the sandbox substitutes an empty one)."""
    async with Bitrix24Client(WebhookAuth(sb.webhook_url)) as c:
        cmds = {"co": ("crm.company.add", {"fields": {"TITLE": ""}}),  # TITLE required → error
                "rq": ("crm.requisite.add", {"fields": {"ENTITY_TYPE_ID": 4, "ENTITY_ID": Ref("$result[co]"),
                                                        "PRESET_ID": 1, "NAME": "R"}}),
                "ok": ("crm.company.add", {"fields": {"TITLE": "fine"}})}
        out = await c.batch(cmds, halt=False)
        assert not out["co"].ok and not out["rq"].ok and out["ok"].ok
        assert sb.count("requisite") == 0
        out = await c.batch(cmds, halt=True)
        assert not out["co"].ok
        assert out["rq"].error is not None and "no outcome" in str(out["rq"].error)  # not executed
        assert sb.count("company") == 1


async def test_lost_answer_of_a_shared_batch_is_outcome_unknown_for_every_card_in_it(sb):
    async with Bitrix24Client(WebhookAuth(sb.webhook_url), batch_linger=0.02) as c:
        await _ensure_uf(c)
        a = Bitrix24Adapter("b", c)

        real = c.http._transport  # noqa: SLF001

        class LoseBatch(httpx.AsyncBaseTransport):
            async def handle_async_request(self, request):  # the portal applies, the answer is lost
                resp = await real.handle_async_request(request)
                await resp.aread()
                if request.url.path.endswith("/batch"):
                    raise httpx.RemoteProtocolError("connection closed")
                return resp

        c.http._transport = LoseBatch()  # noqa: SLF001
        res = await asyncio.gather(*(a.create(CARD, _card(i)) for i in range(5)), return_exceptions=True)
        assert all(isinstance(r, OutcomeUnknownError) for r in res)
        c.http._transport = real  # noqa: SLF001
        assert sb.count("company") == 5  # applied once; never resent by the client
        found = await asyncio.gather(*(a.find(CARD, {"UF_CRM_ERP_ID": f"erp-{i}"}) for i in range(5)))
        assert [len(f) for f in found] == [1] * 5  # the engine's link-field lookup finds each


async def test_budget_follows_the_portals_report_not_the_model():
    now = [1_000_000.0]
    b = OperatingBudget(MemoryState(), "t", limit_seconds=480.0, clock=lambda: now[0])
    # answers that took long (the model would sum them past the limit) but the portal reports little: no throttle
    for _ in range(100):
        await b.observe("crm.requisite.list", {"finish": now[0], "duration": 9.0, "operating": 12.5,
                                                "operating_reset_at": now[0] + 600})
        now[0] += 0.1
    d = await b.decide("crm.requisite.list")
    assert d.park_until is None and d.delay == 0
    # the portal reports the method near its limit: parked until the portal's own reset time
    await b.observe("crm.requisite.list", {"finish": now[0], "duration": 0.1, "operating": 440.0,
                                            "operating_reset_at": now[0] + 123})
    d = await b.decide("crm.requisite.list")
    assert d.park_until == pytest.approx(now[0] + 123, abs=1)
    # past the reported reset the method goes again and learns the new figure from its answers
    now[0] += 124
    assert (await b.decide("crm.requisite.list")).park_until is None
    # a method whose answers carry no report: the fallback model sums the answers' durations over 10 minutes
    for _ in range(50):
        await b.observe("crm.address.list", {"finish": now[0], "duration": 9.0})
        now[0] += 1
    d = await b.decide("crm.address.list")
    assert d.park_until is not None and d.park_until > now[0]
    now[0] += 700  # the modelled baskets left the window
    assert (await b.decide("crm.address.list")).park_until is None


async def test_sandbox_reports_operating_in_every_answer_and_refuses_the_next_call_over_the_limit():
    sb = Bitrix24Sandbox(rate=None, operating_limit=0.3)
    try:
        sb.start()
        async with httpx.AsyncClient() as h:
            url = sb.webhook_url
            total = 0.0
            for _ in range(3):  # counted list pages cost ≈ 0.1 s each
                r = (await h.post(url + "crm.company.list", json={})).json()
                assert r["time"]["operating"] > total and r["time"]["operating_reset_at"] > r["time"]["start"]
                total = r["time"]["operating"]
            r = await h.post(url + "crm.company.list", json={})  # the call that crossed the limit completed
            assert r.status_code == 200
            r = await h.post(url + "crm.company.list", json={})
            assert r.status_code == 429 and r.json()["error"] == "OPERATION_TIME_LIMIT"
            b = (await h.post(url + "batch", json={"cmd": {"a": "crm.company.list", "b": "crm.contact.list"}})).json()
            assert b["result"]["result_error"]["a"]["error"] == "OPERATION_TIME_LIMIT"
            assert b["result"]["result_time"]["b"]["operating"] > 0  # other methods keep working, with reports
            assert "operating" not in b["time"]  # the outer batch call is not counted (sheet §3.3)
    finally:
        sb.close()


async def _trickle(c: Bitrix24Client, n: int, every: float) -> None:
    async def one(i: int) -> None:
        await asyncio.sleep(i * every)
        await c.call("crm.company.list", {"filter": {"ID": i + 1}, "start": -1})

    await asyncio.gather(*(one(i) for i in range(n)))


async def test_requests_fill_to_50_commands_once_requests_are_scarce(sb):
    """Bulk work that trickles in (a job's next command every few ms): while the bucket is mostly empty a request
    leaves after a short gap, part-full; once a quarter of the burst is spent, each request waits (up to 1 s,
    ending on a 0.25 s pause) for 50 commands — on a 5,000-company load the burst's first 90 requests had carried
    ~38 commands each, each part-empty request costing a whole request later."""
    async with Bitrix24Client(WebhookAuth(sb.webhook_url)) as c:
        r0 = sb.requests_served
        await _trickle(c, 50, 0.015)
        plentiful = sb.requests_served - r0
    state = MemoryState()
    async with Bitrix24Client(WebhookAuth(sb.webhook_url), state=state) as c:
        import time as _t

        state.update(c.bucket.key, lambda old: ({"level": c.bucket.capacity * 0.5, "ts": _t.time()}, None))
        r0 = sb.requests_served
        await _trickle(c, 50, 0.015)
        scarce = sb.requests_served - r0
    assert plentiful >= 3  # ~0.2 s of arrivals per request
    assert scarce <= 2

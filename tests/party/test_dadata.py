"""The official ``dadata`` client (only its base URL changed) and our DadataLookup against the DaData sandbox."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import httpx
import pytest
from dadata import Dadata
from dadata.sync import SuggestClient

from b24sync.connectors.dadata import DadataLookup, next_quota_reset, party_from_suggestion
from b24sync.connectors.party import (
    BranchType,
    CachedPartyLookup,
    PartyKind,
    PartyStatus,
    check_can_push,
    legal_address_fields,
    requisite_fields,
)
from b24sync.engine.errors import AuthError, DeferError, HoldError, RetryableError, ValidationError
from b24sync.sandbox.dadata import create_app
from b24sync.sandbox.party_registry import build_registry
from b24sync.store.kv import MemoryState

TOKEN = "test-token"
SBER = "7707083893"


@pytest.fixture
def official_client(monkeypatch):
    """The unmodified official client; only the suggestions base URL (the class attribute the client reads) is
    pointed at the sandbox."""

    def make(base: str, token: str = TOKEN) -> Dadata:
        monkeypatch.setattr(SuggestClient, "BASE_URL", base + "/suggestions/api/4_1/rs/")
        return Dadata(token)

    return make


def entity(status: str, kind: str = "LEGAL"):
    return next(e for e in build_registry(0) if e.status == status and e.kind == kind)


def test_official_client_by_inn_returns_main_and_branches(serve, official_client):
    with serve(create_app(token=TOKEN)) as base:
        c = official_client(base)
        res = c.find_by_id("party", SBER)
        assert len(res) == 4
        assert res[0]["data"]["branch_type"] == "MAIN" and res[0]["data"]["inn"] == SBER
        assert res[0]["value"] == "ПАО СБЕРБАНК" == res[0]["data"]["name"]["short_with_opf"]
        assert {r["data"]["branch_type"] for r in res[1:]} == {"BRANCH"}
        assert len({r["data"]["kpp"] for r in res}) == 4 and {r["data"]["inn"] for r in res} == {SBER}
        # epoch milliseconds (§7.2)
        assert isinstance(res[0]["data"]["state"]["registration_date"], int)
        assert datetime.fromtimestamp(res[0]["data"]["state"]["registration_date"] / 1000, UTC).year == 1991
        branch_kpp = res[2]["data"]["kpp"]
        one = c.find_by_id("party", SBER, kpp=branch_kpp)
        assert [r["data"]["kpp"] for r in one] == [branch_kpp]
        assert c.find_by_id("party", SBER, branch_type="MAIN")[0]["data"]["kpp"] == "773601001"
        assert c.find_by_id("party", "7707083894") == []
        c.close()


def test_official_client_liquidated_and_quota(serve, official_client):
    liq = entity("LIQUIDATED")
    with serve(create_app(token=TOKEN, daily_quota=2)) as base:
        c = official_client(base)
        res = c.find_by_id("party", liq.inn)
        assert res[0]["data"]["state"]["status"] == "LIQUIDATED"
        assert res[0]["data"]["state"]["liquidation_date"] is not None
        c.find_by_id("party", SBER)
        with pytest.raises(httpx.HTTPStatusError) as e:
            c.find_by_id("party", SBER)
        assert e.value.response.status_code == 403
        body = e.value.response.json()
        assert body["family"] == "CLIENT_ERROR" and body["reason"] == "Forbidden"
        assert body["message"].startswith("Feature 'SUGGESTIONS' disabled for token")
        c.close()
        bad = official_client(base, token="wrong")
        with pytest.raises(httpx.HTTPStatusError) as e:
            bad.find_by_id("party", SBER)
        assert e.value.response.status_code == 401
        bad.close()


def test_lookup_maps_parties(serve):
    async def go(base):
        lk = DadataLookup(TOKEN, base_url=base + "/suggestions/api/4_1/rs/")
        parties = await lk.find_by_inn(SBER)
        main = parties[0]
        assert main.branch_type is BranchType.MAIN and [p.branch_type for p in parties[1:]] == [BranchType.BRANCH] * 3
        assert main.short_name == "ПАО СБЕРБАНК" and main.full_name.startswith("ПУБЛИЧНОЕ АКЦИОНЕРНОЕ ОБЩЕСТВО")
        assert main.kind is PartyKind.LEGAL and main.status is PartyStatus.ACTIVE and main.ogrn == "1027700132195"
        assert main.director and main.director.name.startswith("Греф")
        assert main.registration_date == date(1991, 6, 20)
        assert main.legal_address and main.legal_address.postal_code == "117312"
        only_main = await lk.find_by_inn(SBER, branches=False)
        assert [p.kpp for p in only_main] == ["773601001"]
        branch = await lk.find_by_inn(SBER, kpp=parties[1].kpp)
        assert len(branch) == 1 and branch[0].is_branch
        assert (await lk.find_by_ogrn("1027700132195"))[0].inn == SBER
        ip = entity("ACTIVE", "INDIVIDUAL")
        [p] = await lk.find_by_inn(ip.inn)
        assert p.kind is PartyKind.INDIVIDUAL and p.kpp is None and p.person and p.person.last == ip.fio[0]
        fields = requisite_fields(p)
        assert fields["RQ_OGRNIP"] == ip.ogrn and "RQ_KPP" not in fields and fields["RQ_LAST_NAME"] == ip.fio[0]
        [odd] = await lk.find_by_inn(entity("SUSPENDED").inn)
        assert odd.status is PartyStatus.UNKNOWN and odd.status_raw == "SUSPENDED"
        with pytest.raises(ValidationError):
            await lk.find_by_inn("7707083894")
        return main

    with serve(create_app(token=TOKEN)) as base:
        main = asyncio.run(go(base))
    f = requisite_fields(main)
    assert f["RQ_INN"] == SBER and f["RQ_KPP"] == "773601001" and f["RQ_OGRN"] == "1027700132195"
    assert f["RQ_COMPANY_NAME"] == "ПАО СБЕРБАНК" and f["RQ_DIRECTOR"].startswith("Греф")
    assert f["RQ_COMPANY_REG_DATE"] == "20.06.1991"
    addr = legal_address_fields(main)
    assert addr["TYPE_ID"] == 6 and addr["POSTAL_CODE"] == "117312" and "Вавилова" in addr["ADDRESS_1"]
    check_can_push(main)


def test_liquidated_and_liquidating_are_held(serve):
    async def go(base):
        lk = DadataLookup(TOKEN, base_url=base + "/suggestions/api/4_1/rs/")
        return (await lk.find_by_inn(entity("LIQUIDATED").inn))[0], (await lk.find_by_inn(entity("LIQUIDATING").inn))[0]

    with serve(create_app(token=TOKEN)) as base:
        liq, liqing = asyncio.run(go(base))
    assert liq.status is PartyStatus.LIQUIDATED and liq.liquidation_date == date(2021, 6, 30)
    with pytest.raises(HoldError) as e:
        check_can_push(liq)
    assert "ликвидирована 30.06.2021" in e.value.reason and liq.inn in e.value.reason
    with pytest.raises(HoldError) as e:
        check_can_push(liqing)
    assert "в процессе ликвидации" in e.value.reason


def test_quota_defers_and_is_shared_between_workers(serve):
    state = MemoryState()

    async def go(base):
        url = base + "/suggestions/api/4_1/rs/"
        w1, w2 = DadataLookup(TOKEN, base_url=url, state=state), DadataLookup(TOKEN, base_url=url, state=state)
        await w1.find_by_inn(SBER)
        with pytest.raises(DeferError) as e:
            await w1.find_by_inn("7736207543")
        assert e.value.until == next_quota_reset()
        assert TOKEN not in e.value.reason
        with pytest.raises(DeferError):  # the second worker parks without calling DaData
            await w2.find_by_inn("7736050003")

    app = create_app(token=TOKEN, daily_quota=1)
    with serve(app) as base:
        asyncio.run(go(base))
    assert app.state.sandbox["requests"] == 2


def test_next_reset_is_midnight_moscow():
    assert next_quota_reset(datetime(2026, 3, 1, 20, 59, tzinfo=UTC)) == datetime(2026, 3, 1, 21, 0, tzinfo=UTC)
    assert next_quota_reset(datetime(2026, 3, 1, 21, 0, tzinfo=UTC)) == datetime(2026, 3, 2, 21, 0, tzinfo=UTC)


def test_auth_and_retryable_errors(serve):
    async def go(base):
        url = base + "/suggestions/api/4_1/rs/"
        with pytest.raises(AuthError):
            await DadataLookup("wrong", base_url=url).find_by_inn(SBER)
        with pytest.raises(RetryableError):
            await DadataLookup(TOKEN, base_url=url).find_by_inn(SBER)

    with serve(create_app(token=TOKEN, fail_rate=1.0)) as base:
        asyncio.run(go(base))


def test_cache_shares_results_between_workers(serve):
    state = MemoryState()

    async def go(base):
        url = base + "/suggestions/api/4_1/rs/"
        a = CachedPartyLookup(DadataLookup(TOKEN, base_url=url), state)
        b = CachedPartyLookup(DadataLookup(TOKEN, base_url=url), state)
        first = await a.find_by_inn(SBER)
        again = await a.find_by_inn(SBER)
        other_worker = await b.find_by_inn(SBER)
        assert first == again == other_worker
        assert (a.misses, a.hits, b.misses, b.hits) == (1, 1, 0, 1)
        await a.find_by_inn(SBER, branches=False)  # a different question: a new request
        assert a.misses == 2

    app = create_app(token=TOKEN)
    with serve(app) as base:
        asyncio.run(go(base))
    assert app.state.sandbox["requests"] == 2


def test_cache_expires():
    now = [1000.0]

    class Fake:
        name = "fake"
        calls = 0

        async def find_by_inn(self, inn, kpp=None, branches=True):
            Fake.calls += 1
            return []

        async def find_by_ogrn(self, ogrn):
            return []

    c = CachedPartyLookup(Fake(), MemoryState(), negative_ttl=10, clock=lambda: now[0])
    asyncio.run(c.find_by_inn(SBER))
    asyncio.run(c.find_by_inn(SBER))
    now[0] += 11
    asyncio.run(c.find_by_inn(SBER))
    assert Fake.calls == 2


def test_party_from_suggestion_is_lenient():
    p = party_from_suggestion({"value": "ООО X", "data": {"inn": "7707083893", "state": {"status": "WEIRD"}}})
    assert p.status is PartyStatus.UNKNOWN and p.status_raw == "WEIRD" and p.short_name == "ООО X"

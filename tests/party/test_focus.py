"""FocusLookup against the Kontur.Focus sandbox; raw shapes of the sandbox checked over plain httpx."""

from __future__ import annotations

import asyncio
from datetime import date

import httpx
import pytest

from b24sync.connectors.kontur_focus import FocusLookup, parties_from_req
from b24sync.connectors.party import BranchType, PartyKind, PartyStatus, check_can_push, requisite_fields
from b24sync.engine.errors import AuthError, HoldError, RetryableError, ValidationError
from b24sync.sandbox.focus import create_app
from b24sync.sandbox.party_registry import build_registry

KEY = "focus-key"
SBER = "7707083893"


def entity(status: str, kind: str = "LEGAL"):
    return next(e for e in build_registry(0) if e.status == status and e.kind == kind)


def test_raw_shapes(serve):
    with serve(create_app(key=KEY)) as base:
        r = httpx.get(base + "/api3/req", params={"key": KEY, "inn": SBER})
        assert r.status_code == 200
        [item] = r.json()
        assert item["inn"] == SBER and item["ogrn"] == "1027700132195" and "UL" in item and "IP" not in item
        assert item["UL"]["status"] == {"statusString": "Действующее"}
        assert item["UL"]["registrationDate"] == "1991-06-20"
        assert httpx.get(base + "/api3/req", params={"key": KEY, "inn": "7707083894"}).json() == []
        ip = entity("ACTIVE", "INDIVIDUAL")
        [ipi] = httpx.get(base + "/api3/req", params={"key": KEY, "inn": ip.inn}).json()
        assert "IP" in ipi and "UL" not in ipi
        both = httpx.get(base + "/api3/req", params={"key": KEY, "inn": f"{SBER},{ip.inn}"}).json()
        assert len(both) == 2
        assert httpx.get(base + "/api3/req", params={"inn": SBER}).status_code == 401


def test_lookup(serve):
    async def go(base):
        lk = FocusLookup(KEY, base_url=base + "/api3/")
        parties = await lk.find_by_inn(SBER)
        assert parties[0].branch_type is BranchType.MAIN and parties[0].kpp == "773601001"
        assert [p.branch_type for p in parties[1:]] == [BranchType.BRANCH] * 3
        assert parties[0].short_name == "ПАО СБЕРБАНК" and parties[0].status is PartyStatus.ACTIVE
        assert parties[0].legal_address.postal_code == "117312"
        assert [p.kpp for p in await lk.find_by_inn(SBER, branches=False)] == ["773601001"]
        [br] = await lk.find_by_inn(SBER, kpp=parties[2].kpp)
        assert br.is_branch and br.kpp == parties[2].kpp
        assert await lk.find_by_inn("7736207543", kpp="999901001") == []
        assert (await lk.find_by_ogrn("1027700132195"))[0].inn == SBER
        assert await lk.find_by_inn("1234567894") == []
        liq = (await lk.find_by_inn(entity("LIQUIDATED").inn))[0]
        liqing = (await lk.find_by_inn(entity("LIQUIDATING").inn))[0]
        bankrupt = (await lk.find_by_inn(entity("BANKRUPT").inn))[0]
        ip = entity("ACTIVE", "INDIVIDUAL")
        [ipp] = await lk.find_by_inn(ip.inn)
        [ip_by_ogrnip] = await lk.find_by_ogrn(ip.ogrn)
        with pytest.raises(ValidationError):
            await lk.find_by_ogrn("1027700132196")
        return liq, liqing, bankrupt, ipp, ip_by_ogrnip, ip

    with serve(create_app(key=KEY)) as base:
        liq, liqing, bankrupt, ipp, ip_by_ogrnip, ip = asyncio.run(go(base))
    assert liq.status is PartyStatus.LIQUIDATED and liq.liquidation_date == date(2021, 6, 30)
    assert liqing.status is PartyStatus.LIQUIDATING and bankrupt.status is PartyStatus.BANKRUPT
    with pytest.raises(HoldError):
        check_can_push(liq)
    with pytest.raises(HoldError):
        check_can_push(liqing)
    check_can_push(bankrupt)  # not blocked by default
    assert ipp.kind is PartyKind.INDIVIDUAL and ipp.kpp is None and ipp.short_name.startswith("ИП ")
    assert ip_by_ogrnip.ogrn == ip.ogrn
    assert requisite_fields(ipp)["RQ_OGRNIP"] == ip.ogrn


def test_errors(serve):
    async def go(base):
        with pytest.raises(AuthError):
            await FocusLookup("wrong", base_url=base + "/api3/").find_by_inn(SBER)
        with pytest.raises(RetryableError) as e:
            await FocusLookup(KEY, base_url=base + "/api3/").find_by_inn(SBER)
        return e.value

    with serve(create_app(key=KEY, fail_rate=1.0)) as base:
        asyncio.run(go(base))


def test_real_kontur_sample_shape():
    # Trimmed from the real `req` answer for 6663003127 cited in erp-side.md §6 ([FOCUS-CL]).
    item = {"inn": "6663003127", "ogrn": "1026605606620",
            "UL": {"kpp": "668601001", "legalName": {"short": 'АО "ПФ "СКБ КОНТУР"',
                                                      "full": 'АКЦИОНЕРНОЕ ОБЩЕСТВО "ПРОИЗВОДСТВЕННАЯ ФИРМА "СКБ КОНТУР"'},
                   "legalAddress": {"parsedAddressRF": {"zipCode": "620017", "regionCode": "66",
                                                        "regionName": {"topoShortName": "обл", "topoValue": "Свердловская"},
                                                        "city": {"topoShortName": "г", "topoValue": "Екатеринбург"},
                                                        "street": {"topoShortName": "пр-кт", "topoValue": "Космонавтов"},
                                                        "house": {"topoShortName": "дом", "topoValue": "56"}}},
                   "branches": [{"parsedAddressRF": {"zipCode": "127254"}, "date": "2008-10-03"}],
                   "status": {"statusString": "Действующее"}, "registrationDate": "1992-03-26",
                   "dissolutionDate": "2018-01-01",
                   "heads": [{"fio": "Мраморов Дмитрий Михайлович", "position": "Генеральный Директор"}]}}
    main, branch = parties_from_req(item)
    assert main.status is PartyStatus.ACTIVE and main.liquidation_date is None  # stray date ignored when active
    assert main.director.post == "Генеральный Директор" and main.legal_address.city == "г Екатеринбург"
    assert branch.is_branch and branch.kpp is None

"""Entity helpers and portal preparation against the Bitrix24 sandbox."""

from __future__ import annotations

import pytest

from b24sync.connectors.bitrix24.auth import WebhookAuth
from b24sync.connectors.bitrix24.client import Bitrix24Client
from b24sync.connectors.bitrix24.entities import Entities
from b24sync.connectors.bitrix24.portal import Requirements, check_portal, prepare_portal
from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox

pytestmark = pytest.mark.anyio


@pytest.fixture
def sb():
    s = Bitrix24Sandbox(rate=None)
    s.start()
    yield s
    s.close()


async def test_company_requisites_contact_phones_products_timeline(sb):
    async with Bitrix24Client(WebhookAuth(sb.webhook_url)) as c:
        e = Entities(c)
        cid = await e.add("company", {"TITLE": "ООО «Ромашка»"})
        rq = await e.add_requisite(4, cid, 1, "Организация", {"RQ_INN": "7707083893", "RQ_KPP": "773601001",
                                                               "RQ_OGRN": "1027700132195"})
        await e.add_bank_detail(rq, "Основной счёт", {"RQ_BIK": "044525225", "RQ_ACC_NUM": "40702810938000060473"})
        await e.upsert_address(rq, 6, {"CITY": "Москва", "ADDRESS_1": "ул. Вавилова, 19"})
        await e.upsert_address(rq, 6, {"CITY": "Москва", "ADDRESS_1": "ул. Вавилова, 19, стр. 1"})
        found = await e.find_requisites_by_inn("7707083893")
        assert [int(r["ENTITY_ID"]) for r in found] == [cid]
        assert len(await c.call("crm.address.list", {"filter": {"ENTITY_ID": rq, "ENTITY_TYPE_ID": 8}})) == 1

        pid = await e.add("contact", {"NAME": "Иван", "PHONE": [{"VALUE": "+79991234567", "VALUE_TYPE": "WORK"}]})
        for _ in range(2):  # saving the same wanted list twice never duplicates a phone
            await e.save_with_multifields("contact", pid, {"PHONE": ["8 (999) 123-45-67", "+74950000000"]})
        phones = (await e.get("contact", pid))["PHONE"]
        assert sorted(p["VALUE"] for p in phones) == ["+74950000000", "+79991234567"]
        await e.save_with_multifields("contact", pid, {"PHONE": ["+74950000000"]})
        assert [p["VALUE"] for p in (await e.get("contact", pid))["PHONE"]] == ["+74950000000"]
        assert await e.find_duplicates("PHONE", ["+74950000000"] + [f"+7000000{i:04d}" for i in range(30)]) == [pid]

        prod = await e.crm_product_upsert("erp-0001", {"NAME": "Болт М8", "PRICE": 12.5, "CURRENCY_ID": "RUB"})
        assert await e.crm_product_upsert("erp-0001", {"NAME": "Болт М8×20"}) == prod
        deal = await e.add("deal", {"TITLE": "Поставка", "COMPANY_ID": cid})
        assert await e.set_deal_products(deal, [{"PRODUCT_ID": prod, "PRICE": 12.5, "QUANTITY": 100}])
        com = await e.timeline_comment("deal", deal, "Счёт выставлен", files=[("a.txt", b"hello")])
        assert com > 0
        assert await e.stages(e.deal_stage_entity(0))


async def test_portal_prepare_is_idempotent(sb):
    req = Requirements.model_validate({
        "user_fields": [{"entity": "company", "field_name": "ERP_GUID", "user_type_id": "string", "label": "GUID 1С"},
                        {"entity": "deal", "field_name": "UF_CRM_ERP_DOC", "user_type_id": "string"}],
        "smart_processes": [{"title": "Договоры", "code": "contracts"}],
    })
    async with Bitrix24Client(WebhookAuth(sb.webhook_url)) as c:
        before = await check_portal(c, req)
        assert [f.status for f in before.findings] == ["missing", "missing", "missing"]
        first = await prepare_portal(c, req)
        assert [f.status for f in first.findings] == ["created"] * 3
        second = await prepare_portal(c, req)
        assert [f.status for f in second.findings] == ["ok"] * 3
        assert not (await check_portal(c, req)).missing

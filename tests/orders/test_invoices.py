"""Smart invoices (crm.item:31) ⇄ 1C СчетНаОплатуКлиенту (issue 10), with the generic concepts only: exchanged when
the invoice moves draft (N) → issued (S), never before; numbered only by 1C, the number written back into a user
field (and into accountNumber where the portal accepts the overwrite — both readings, document-flows.md A.1 ⚠);
missing data holds the invoice with a Russian message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.orders.harness import cycle, scenario
from tests.orders.test_orders import deal, entities, held_reasons, move, seed

INVOICES = "Document_СчетНаОплатуКлиенту"


def _with_invoice(write_account_number: bool = False) -> dict[str, Any]:
    ents = entities()
    wb = [{"crm": "ufCrmErpNumber", "erp": "Number"}, {"crm": "ufCrmErpId", "erp": "Ref_Key"}]
    if write_account_number:
        wb.append({"crm": "accountNumber", "erp": "Number"})
    ents["invoice"] = {
        "title": "Smart invoices → 1C invoices", "master": "bitrix24", "direction": "crm_to_erp",
        "crm": {"object": "crm.item:31"}, "erp": {"object": INVOICES},
        "match": [{"crm": "id", "erp": "ИдентификаторCRM"}],
        "link": {"crm": "ufCrmErpId", "erp": "ИдентификаторCRM"},
        "fields": [{"crm": "companyId", "erp": "Контрагент_Key", "transform": {"ref": "company"}},
                   {"crm": "parentId2", "erp": "ДокументОснование_Key", "transform": {"ref": "order"}},
                   {"crm": "opportunity", "erp": "СуммаДокумента"},
                   {"crm": "title", "erp": "Комментарий"}],
        "header": [
            {"erp": "Организация_Key", "lookup": {"object": "Catalog_Организации", "where": {"ИНН": "7701234567"}}},
            {"erp": "Партнер_Key", "lookup": {"object": "Catalog_Контрагенты",
                                              "where": {"Ref_Key": "{target:Контрагент_Key}"}, "take": "Партнер_Key"}},
            {"erp": "Валюта_Key", "lookup": {"object": "Catalog_Валюты", "where": {"Code": "643"}}}],
        "write_back": wb,
        "triggers": [{"poll": "1m"}, {"webhook": "ONCRMDYNAMICITEMUPDATE"}, {"stage_change": {"to": ["DT31_2:S"], "from": ["DT31_2:N"]}}],
        "guards": [{"require_fields": {"side": "crm", "fields": ["companyId", "parentId2"],
                                       "message": "Укажите в счёте компанию и сделку — без них 1С не выставит счёт"}}],
    }
    return ents


async def _invoice(client, company: str, deal_id: str | None) -> str:  # type: ignore[no-untyped-def]
    f: dict[str, Any] = {"title": "Счёт по поставке", "companyId": int(company), "opportunity": 366}
    if deal_id:
        f["parentId2"] = int(deal_id)
    res = await client.call("crm.item.add", {"entityTypeId": 31, "fields": f})
    return str(res["item"]["id"])


async def _stage(rt, client, inv: str, stage: str) -> None:  # type: ignore[no-untyped-def]
    from b24sync.server.intake import accept_event

    await client.call("crm.item.update", {"entityTypeId": 31, "id": int(inv), "fields": {"stageId": stage}})
    accept_event(rt, side="crm", event="ONCRMDYNAMICITEMUPDATE", record_id=inv, source="b24",
                 delivery_id=f"inv{inv}:{stage}")


async def _setup(rt, b24, onec, client):  # type: ignore[no-untyped-def]
    s = await seed(rt, onec, client)
    cat = [c for c in b24.portal.t("category").rows.values() if c["entityTypeId"] == 31][0]["ID"]
    assert cat == 2, cat  # the stage ids in the spec name this category (DT31_2:…)
    d = await deal(client, s, [{"PRODUCT_ID": s["products"][0], "PRICE": 122, "QUANTITY": 3,
                                "TAX_RATE": 22, "TAX_INCLUDED": "Y"}])
    await move(rt, client, d, "FINAL_INVOICE")
    await cycle(rt)
    (order,) = onec.find("Document_ЗаказКлиента")
    return s, d, order


def test_invoice_exchanged_only_on_draft_to_issued_and_numbered_by_the_erp(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s, d, order = await _setup(rt, b24, onec, client)
        inv = await _invoice(client, s["company"], d)
        portal_number = b24.portal.t("item_31").get(int(inv))["accountNumber"]
        await cycle(rt)
        assert onec.find(INVOICES) == []  # a draft is never sent
        await _stage(rt, client, inv, "DT31_2:S")
        await cycle(rt)
        (doc,) = onec.find(INVOICES)
        # ДокументОснование is composite in УТ 11.5 (document-flows.md B.3): the spec's `ДокументОснование_Key` is
        # resolved from $metadata and written as the value + its type
        assert doc["ДокументОснование"] == order["Ref_Key"] and doc["Контрагент_Key"] == s["cp"]["Ref_Key"]
        assert doc["ДокументОснование_Type"] == "StandardODATA.Document_ЗаказКлиента"
        assert doc["СуммаДокумента"] == 366 and doc["Number"].startswith("ЦБ00-")
        item = b24.portal.t("item_31").get(int(inv))
        assert item["ufCrmErpNumber"] == doc["Number"] and item["ufCrmErpId"] == doc["Ref_Key"]
        assert item["accountNumber"] == portal_number  # not overwritten: the spec writes the UF field only
        await cycle(rt)
        assert len(onec.find(INVOICES)) == 1

    scenario(steps, tmp_path, _with_invoice())


def test_invoice_number_into_account_number_where_the_portal_accepts_it(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        b24.portal.invoice_number_writable = True
        s, d, order = await _setup(rt, b24, onec, client)
        inv = await _invoice(client, s["company"], d)
        await cycle(rt)
        await _stage(rt, client, inv, "DT31_2:S")
        await cycle(rt)
        (doc,) = onec.find(INVOICES)
        assert b24.portal.t("item_31").get(int(inv))["accountNumber"] == doc["Number"]

    scenario(steps, tmp_path, _with_invoice(write_account_number=True))


def test_invoice_without_deal_is_held_with_a_russian_message(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s, d, order = await _setup(rt, b24, onec, client)
        inv = await _invoice(client, s["company"], None)
        await cycle(rt)
        await _stage(rt, client, inv, "DT31_2:S")
        await cycle(rt)
        assert onec.find(INVOICES) == []
        assert any("Укажите в счёте компанию и сделку" in r for r in held_reasons(rt))

    scenario(steps, tmp_path, _with_invoice())

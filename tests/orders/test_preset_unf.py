"""Preset УНФ 3.0 (examples/1c-unf-orders.yaml) end to end over the Bitrix24 sandbox and the 1C sandbox's unf30
profile (issue 10): a deal moved into "Invoice" becomes a posted ЗаказПокупателя with `Запасы` rows (VAT as the
Catalog_СтавкиНДС item named in the spec), the contract and the state; its smart invoice, on draft → sent only,
becomes a СчетНаОплату based on that order (composite ДокументОснование + _Type found from $metadata); both numbered
only by УНФ; missing data holds with a Russian message."""

from __future__ import annotations

from pathlib import Path

from tests.orders.preset_harness import (
    company_with_requisite,
    crm_products,
    cycle,
    held,
    move_invoice,
    preset_scenario,
    smart_invoice,
)

ORDERS, INVOICES = "Document_ЗаказПокупателя", "Document_СчетНаОплату"
SPEC = "1c-unf-orders.yaml"


async def _deal(rt, b24, onec, client, rows_of):  # type: ignore[no-untyped-def]
    from b24sync.server.intake import accept_event

    cp = onec.get("Catalog_Контрагенты", onec.ids["counterparties"][1])
    co = await company_with_requisite(client, cp["Description"], cp["ИНН"], cp["КПП"])
    await cycle(rt)
    products = crm_products(b24, onec.ids["products"][:2])
    d = str(await client.call("crm.deal.add", {"fields": {"TITLE": "Поставка", "COMPANY_ID": co, "STAGE_ID": "NEW"}}))
    await client.call("crm.deal.productrows.set", {"id": int(d), "rows": rows_of(products)})

    async def move(stage: str) -> None:
        await client.call("crm.deal.update", {"id": int(d), "fields": {"STAGE_ID": stage}})
        accept_event(rt, side="crm", event="ONCRMDEALUPDATE", record_id=d, source="b24", delivery_id=f"{d}:{stage}")

    return co, cp, products, d, move


def test_unf_deal_becomes_posted_order_and_its_invoice_is_based_on_it_numbers_from_unf(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        co, cp, products, d, move = await _deal(rt, b24, onec, client, lambda p: [
            {"PRODUCT_ID": p[0], "PRICE": 122, "QUANTITY": 3, "TAX_RATE": 22, "TAX_INCLUDED": "Y"},
            {"PRODUCT_ID": p[1], "PRICE": 100, "QUANTITY": 1, "TAX_RATE": 10, "TAX_INCLUDED": "N"}])
        await cycle(rt)
        assert onec.find(ORDERS) == []  # not in the trigger stage yet
        await move("FINAL_INVOICE")
        await cycle(rt)
        (order,) = onec.find(ORDERS)
        assert order["Posted"] is True and order["Number"] == "00УН-000001"
        assert order["Контрагент_Key"] == cp["Ref_Key"]
        assert order["Договор_Key"] == onec.find("Catalog_ДоговорыКонтрагентов", Owner_Key=cp["Ref_Key"])[0]["Ref_Key"]
        assert order["СостояниеЗаказа_Key"] == onec.ids["order_states"]["В работе"]
        rates = onec.ids["vat_rates"]
        assert [(r["Номенклатура_Key"], r["Количество"], r["Цена"], r["Сумма"], r["СтавкаНДС_Key"], r["СуммаНДС"],
                 r["Всего"]) for r in order["Запасы"]] == [
            (onec.ids["products"][0], 3, 122, 366, rates["22%"], 66, 366),
            (onec.ids["products"][1], 1, 110, 110, rates["10%"], 10, 110)]
        assert order["СуммаДокумента"] == 476 and order["СуммаВключаетНДС"] is True
        deal = b24.portal.t("deal").get(int(d))
        assert deal["UF_CRM_ERP_ORDER_NUMBER"] == "00УН-000001" and deal["UF_CRM_ERP_ORDER_ID"] == order["Ref_Key"]
        version = order["__v"]
        await cycle(rt)
        assert onec.get(ORDERS, order["Ref_Key"])["__v"] == version  # nothing written again (rows read back by name)

        inv = await smart_invoice(client, co, [
            {"productId": products[0], "price": 122, "quantity": 3, "taxRate": 22, "taxIncluded": "Y"}], deal=d)
        await cycle(rt)
        assert onec.find(INVOICES) == []
        await move_invoice(rt, client, inv, "DT31_2:S")
        await cycle(rt)
        (doc,) = onec.find(INVOICES)
        assert (doc["ДокументОснование"], doc["ДокументОснование_Type"]) == (
            order["Ref_Key"], "StandardODATA.Document_ЗаказПокупателя")
        assert doc["БанковскийСчет_Key"] == onec.ids["bank_account"] and doc["Number"] == "00УН-000001"
        assert [(r["Количество"], r["Сумма"], r["СтавкаНДС_Key"]) for r in doc["Запасы"]] == [(3, 366, rates["22%"])]
        item = b24.portal.t("item_31").get(int(inv))
        assert item["ufCrmSmartInvoiceErpNumber"] == doc["Number"]

    preset_scenario(SPEC, steps, tmp_path, profile="unf30")


def test_unf_vat_rate_missing_from_the_catalog_holds_the_deal_with_what_to_add(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        co, cp, products, d, move = await _deal(rt, b24, onec, client, lambda p: [
            {"PRODUCT_ID": p[1], "PRICE": 100, "QUANTITY": 1, "TAX_RATE": 10, "TAX_INCLUDED": "N"}])
        await move("FINAL_INVOICE")
        await cycle(rt)
        assert onec.find(ORDERS) == []
        assert any("В 1С нет «10%» в справочнике СтавкиНДС" in r for r in held(rt)), held(rt)

    preset_scenario(SPEC, steps, tmp_path, profile="unf30",
                    before=lambda onec: onec.store.delete("Catalog_СтавкиНДС", onec.ids["vat_rates"]["10%"]))

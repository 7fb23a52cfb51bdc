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
        assert (order["СостояниеЗаказа"], order["СостояниеЗаказа_Type"]) == (  # 3.0.8.73: composite, by name
            onec.ids["order_states"]["В работе"], "StandardODATA.Catalog_СостоянияЗаказовПокупателей")
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


def _state_steps(state_field: str):  # type: ignore[no-untyped-def]
    """The order's state moves the deal by the state's NAME (this base's GUIDs are its own), «Завершен» by its
    outcome; a state of this base missing from the table holds the deal naming it, and after it is added the
    replay moves the deal; the echo of our stage writes never rewrites the order."""
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        from b24sync.store import queue

        co, cp, products, d, move = await _deal(rt, b24, onec, client, lambda p: [
            {"PRODUCT_ID": p[0], "PRICE": 122, "QUANTITY": 1, "TAX_RATE": 22, "TAX_INCLUDED": "Y"}])
        await move("FINAL_INVOICE")
        await cycle(rt)
        (order,) = onec.find(ORDERS)
        states = onec.ids["order_states"]
        assert order[state_field] == states["В работе"]
        stage = lambda: b24.portal.t("deal").get(int(d))["STAGE_ID"]  # noqa: E731
        await cycle(rt)
        assert stage() == "FINAL_INVOICE" and held(rt) == []  # «В работе» is where the order was made

        onec.edit(ORDERS, order["Ref_Key"], **{state_field: states["Ждёт оплаты"]})  # this base's own state
        await cycle(rt)
        assert stage() == "FINAL_INVOICE"
        (reason,) = held(rt)
        assert "«Ждёт оплаты»" in reason and "unf_order_stage" in reason, reason
        rt.spec.value_maps["unf_order_stage"]["Ждёт оплаты"] = "PREPARATION"  # the fix: the state added
        queue.replay(rt.db)
        await cycle(rt)
        assert stage() == "PREPARATION" and held(rt) == []

        version = onec.get(ORDERS, order["Ref_Key"])["__v"]
        done = {state_field: states["Завершен"]}
        if state_field == "СостояниеЗаказа":
            done["ВариантЗавершения"] = "Отменен"
        onec.edit(ORDERS, order["Ref_Key"], **done)
        await cycle(rt)
        assert stage() == ("LOSE" if state_field == "СостояниеЗаказа" else "WON")
        if state_field == "СостояниеЗаказа":
            onec.edit(ORDERS, order["Ref_Key"], ВариантЗавершения="Успешно")  # only the outcome changes
            await cycle(rt)
            assert stage() == "WON"
        await cycle(rt)
        after = onec.get(ORDERS, order["Ref_Key"])
        assert after["__v"] != version and after[state_field] == states["Завершен"]
        assert len(onec.find(ORDERS)) == 1 and held(rt) == []
        v = after["__v"]
        await cycle(rt)
        assert onec.get(ORDERS, order["Ref_Key"])["__v"] == v  # our stage writes never touch the order

    return steps


def test_unf_order_state_moves_the_deal_by_the_states_name_and_its_outcome(tmp_path: Path) -> None:
    preset_scenario(SPEC, _state_steps("СостояниеЗаказа"), tmp_path, profile="unf30")


def test_unf_order_state_in_the_older_reading_with_a_single_reference(tmp_path: Path) -> None:
    # the sandbox's first unf30 reading (СостояниеЗаказа_Key, Закрыт, no outcome): the same preset, unchanged
    preset_scenario(SPEC, _state_steps("СостояниеЗаказа_Key"), tmp_path, profile="unf30", order_state="key")

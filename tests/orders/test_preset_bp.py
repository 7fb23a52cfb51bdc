"""Preset БП 3.0 (examples/1c-bp-invoices.yaml) end to end over the Bitrix24 sandbox and the 1C sandbox's bp30 profile
(issue 10): a smart invoice becomes a БП «Счёт на оплату покупателю» only on the draft → sent move, with its rows
(the composite `Номенклатура` + `Номенклатура_Type` found from $metadata), the client's contract and the organisation's
bank account; the number comes only from БП; no rows / no INN / no bank account hold it with a Russian message."""

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

INVOICES = "Document_СчетНаОплатуПокупателю"
SPEC = "1c-bp-invoices.yaml"


async def _client(rt, b24, onec, client):  # type: ignore[no-untyped-def]
    """A CRM company with the INN/KPP of a БП counterparty (linked by INN + KPP) and the catalogue loaded."""
    cp = onec.get("Catalog_Контрагенты", onec.ids["counterparties"][0])
    co = await company_with_requisite(client, cp["Description"], cp["ИНН"], cp["КПП"])
    await cycle(rt)
    products = crm_products(b24, onec.ids["products"][:2])
    return co, cp, products


def test_bp_invoice_only_on_draft_to_sent_with_rows_contract_bank_account_and_number_from_bp(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        co, cp, products = await _client(rt, b24, onec, client)
        inv = await smart_invoice(client, co, [
            {"productId": products[0], "price": 122, "quantity": 3, "taxRate": 22, "taxIncluded": "Y"},
            {"productId": products[1], "price": 100, "quantity": 2, "taxRate": 10, "taxIncluded": "N"}])
        portal_number = b24.portal.t("item_31").get(int(inv))["accountNumber"]
        await cycle(rt)
        assert onec.find(INVOICES) == []  # a draft never reaches БП
        await move_invoice(rt, client, inv, "DT31_2:S")
        await cycle(rt)
        (doc,) = onec.find(INVOICES)
        assert doc["Number"] == "0000-000001" and doc["Posted"] is False  # БП numbers it, and does not post it
        assert doc["Контрагент_Key"] == cp["Ref_Key"]
        contract = onec.find("Catalog_ДоговорыКонтрагентов", Owner_Key=cp["Ref_Key"])[0]["Ref_Key"]
        assert doc["ДоговорКонтрагента_Key"] == contract
        assert doc["СтруктурнаяЕдиница_Key"] == onec.ids["bank_account"]
        assert doc["ВалютаДокумента_Key"] == onec.ids["rub"] and doc["Организация_Key"] == onec.ids["org"]
        rows = doc["Товары"]
        assert [(r["Номенклатура"], r["Номенклатура_Type"]) for r in rows] == [
            (onec.ids["products"][0], "StandardODATA.Catalog_Номенклатура"),
            (onec.ids["products"][1], "StandardODATA.Catalog_Номенклатура")]
        assert [(r["Количество"], r["Цена"], r["Сумма"], r["СтавкаНДС"], r["СуммаНДС"]) for r in rows] == [
            (3, 122, 366, "НДС22", 66), (2, 110, 220, "НДС10", 20)]
        assert doc["СуммаДокумента"] == 586 and doc["СуммаВключаетНДС"] is True
        item = b24.portal.t("item_31").get(int(inv))
        assert item["ufCrmSmartInvoiceErpNumber"] == "0000-000001" and item["ufCrmSmartInvoiceErpId"] == doc["Ref_Key"]
        assert item["accountNumber"] == portal_number  # the portal's own number is not overwritten
        await move_invoice(rt, client, inv, "DT31_2:S")  # the same event again, and a later cycle
        await cycle(rt)
        assert len(onec.find(INVOICES)) == 1

    preset_scenario(SPEC, steps, tmp_path, profile="bp30")


def test_bp_invoice_without_rows_or_bank_account_is_held_with_what_to_fill(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        co, cp, products = await _client(rt, b24, onec, client)
        empty = await smart_invoice(client, co, [], title="Пустой счёт")
        await move_invoice(rt, client, empty, "DT31_2:S")
        await cycle(rt)
        assert onec.find(INVOICES) == []
        assert any("В счёте нет товаров — добавьте товарные строки, и счёт уйдёт в 1С" in r for r in held(rt))
        onec.store.delete("Catalog_БанковскиеСчета", onec.ids["bank_account"])
        inv = await smart_invoice(client, co, [{"productId": products[0], "price": 10, "quantity": 1,
                                                "taxRate": 22, "taxIncluded": "Y"}])
        await move_invoice(rt, client, inv, "DT31_2:S")
        await cycle(rt)
        assert onec.find(INVOICES) == []
        assert any("у организации нет банковского счёта" in r for r in held(rt)), held(rt)

    preset_scenario(SPEC, steps, tmp_path, profile="bp30")


def test_bp_invoice_for_a_company_without_inn_is_held_with_the_company_reason(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        co_ok, cp, products = await _client(rt, b24, onec, client)
        no_inn = str(await client.call("crm.company.add", {"fields": {"TITLE": "ООО Без реквизитов"}}))
        inv = await smart_invoice(client, no_inn, [{"productId": products[0], "price": 10, "quantity": 1,
                                                    "taxRate": 22, "taxIncluded": "Y"}])
        await move_invoice(rt, client, inv, "DT31_2:S")
        await cycle(rt)
        await cycle(rt)
        assert onec.find(INVOICES) == []
        reasons = " | ".join(held(rt))
        assert "ИНН" in reasons and f"Компания (ID {no_inn}) не передана в 1С" in reasons, reasons

    preset_scenario(SPEC, steps, tmp_path, profile="bp30")


def test_a_name_of_another_release_is_reported_at_its_line_with_the_rename(tmp_path: Path) -> None:
    """The preset written for an УТ 11.5-style base (`СтавкаНДС_Key`, the catalog) against БП (the enum): the names
    check at start says which form this base has, at the spec line (engine/names.py, document-flows.md E.20)."""
    import asyncio

    from b24sync.compose import build
    from b24sync.engine.names import check_names
    from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox
    from b24sync.sandbox.onec.sandbox import OneCSandbox
    from b24sync.spec.loader import load_spec
    from tests.orders.preset_harness import ROOT

    text = (ROOT / "examples" / SPEC).read_text(encoding="utf-8").replace(
        "vat_rate: {crm: taxRate, erp: СтавкаНДС}", "vat_rate: {crm: taxRate, erp: СтавкаНДС_Key}")
    path = tmp_path / "bp.yaml"
    path.write_text(text, encoding="utf-8")
    b24, onec = Bitrix24Sandbox(), OneCSandbox(profile="bp30")
    env = {"B24_WEBHOOK_URL": b24.start(), "ONEC_ODATA_URL": onec.start(), "ONEC_USER": "odata",
           "ONEC_PASSWORD": "secret"}
    try:
        rt = build(load_spec(path, env), database_url=f"sqlite:///{tmp_path / 's.db'}")

        async def main():  # type: ignore[no-untyped-def]
            try:
                return await check_names(rt, ["invoice"])
            finally:
                await rt.aclose()

        rep = asyncio.run(main())
    finally:
        b24.stop()
        onec.stop()
    (p,) = [p for p in rep.problems["invoice"] if "СтавкаНДС" in p.what]
    assert p.path == ("entities", "invoice", "rows", "money", "vat_rate", "erp")
    assert "enumeration `СтавкаНДС`" in p.fix and "invoice" in rep.broken


def test_bp_payment_status_of_the_invoice_moves_its_stage(tmp_path: Path) -> None:
    """БП keeps the invoice's payment status in InformationRegister_СтатусыДокументов (document-flows.md B.3), not on
    the document: a partial receipt → ОплаченЧастично (the stage stays), the rest → Оплачен (paid stage), the
    receipt unposted → НеОплачен (back to sent), the accountant's Отменен → failed; the stage writes never touch 1C;
    a status of another document type (a supplier's invoice) is not ours."""
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        co, cp, products = await _client(rt, b24, onec, client)
        inv = await smart_invoice(client, co, [
            {"productId": products[0], "price": 122, "quantity": 5, "taxRate": 22, "taxIncluded": "Y"}])
        await move_invoice(rt, client, inv, "DT31_2:S")
        await cycle(rt)
        (doc,) = onec.find(INVOICES)
        assert doc["СуммаДокумента"] == 610
        stage = lambda: b24.portal.t("item_31").get(int(inv))["stageId"]  # noqa: E731

        def receipt(amount: float) -> str:
            r = onec.create("Document_ПоступлениеНаРасчетныйСчет", Организация_Key=onec.ids["org"],
                            Контрагент=cp["Ref_Key"], Контрагент_Type="StandardODATA.Catalog_Контрагенты",
                            СуммаДокумента=amount, РасшифровкаПлатежа=[{
                                "LineNumber": 1, "СчетНаОплату_Key": doc["Ref_Key"], "СуммаПлатежа": amount}])
            onec.post("Document_ПоступлениеНаРасчетныйСчет", r["Ref_Key"])
            return str(r["Ref_Key"])

        receipt(200)
        (rec,) = onec.store.records["InformationRegister_СтатусыДокументов"].values()
        assert (rec["Документ"], rec["Статус"], rec["Статус_Type"]) == (
            doc["Ref_Key"], "ОплаченЧастично", "StandardODATA.Enum_СтатусОплатыСчета")
        await cycle(rt)
        assert stage() == "DT31_2:S" and held(rt) == []
        rest = receipt(410)
        await cycle(rt)
        assert stage() == "DT31_2:P"
        version = onec.get(INVOICES, doc["Ref_Key"])["__v"]
        await cycle(rt)
        assert stage() == "DT31_2:P" and onec.get(INVOICES, doc["Ref_Key"])["__v"] == version
        onec.unpost("Document_ПоступлениеНаРасчетныйСчет", rest)  # a mistaken receipt taken back
        await cycle(rt)
        assert stage() == "DT31_2:S"
        onec.set_invoice_status(doc["Ref_Key"], "Отменен")
        await cycle(rt)
        assert stage() == "DT31_2:D"
        # a supplier invoice's status in the same register is not an invoice of ours: skipped by the guard
        onec.store.write_info("InformationRegister_СтатусыДокументов", {
            "Организация_Key": onec.ids["org"], "Документ": doc["Ref_Key"][:-4] + "ffff",
            "Документ_Type": "StandardODATA.Document_СчетНаОплатуПоставщика", "Статус": "Оплачен",
            "Статус_Type": "StandardODATA.Enum_СтатусОплатыСчета"})
        await cycle(rt)
        assert stage() == "DT31_2:D" and held(rt) == [] and len(onec.find(INVOICES)) == 1

    preset_scenario(SPEC, steps, tmp_path, profile="bp30")

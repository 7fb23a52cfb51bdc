"""Preset Kontur.Buhgalteria (examples/kontur-invoices.yaml) end to end over the Bitrix24 sandbox and the Kontur model
sandbox (issue 10): a smart invoice becomes an accounting invoice only on the draft → sent move, its lines by name
with VAT per line (no catalogue), the client pushed first as a counterparty by INN + KPP; the number comes only from
the accounting system; no rows / no INN hold it with a Russian message; the same event twice → one invoice."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.orders.preset_harness import company_with_requisite, cycle, held, move_invoice, preset_scenario, smart_invoice

SPEC = "kontur-invoices.yaml"


def _invoices(rt) -> list[dict]:  # type: ignore[no-untyped-def]
    cfg = rt.spec.systems["kontur"].config()
    r = httpx.get(f"{cfg['base_url']}/invoices", headers={"Authorization": f"Bearer {cfg['token']}"}, timeout=10)
    return r.json()["items"]


ROWS = [{"productName": "Монтаж щита", "price": 12200, "quantity": 1, "taxRate": 22, "taxIncluded": "Y",
         "measureCode": 796},
        {"productName": "Кабель ВВГ 3×2,5", "price": 100, "quantity": 30, "taxRate": 22, "taxIncluded": "N",
         "measureCode": 6}]


def test_kontur_invoice_only_on_draft_to_sent_lines_by_name_and_number_from_accounting(tmp_path: Path) -> None:
    async def steps(rt, b24, kontur, client):  # type: ignore[no-untyped-def]
        co = await company_with_requisite(client, "ООО Ромашка", "7707083893", "773601001")
        inv = await smart_invoice(client, co, ROWS)
        await cycle(rt)  # the company goes with its first invoice (guard); the draft itself does not
        assert _invoices(rt) == []
        await move_invoice(rt, client, inv, "DT31_2:S")
        await cycle(rt)
        (doc,) = _invoices(rt)
        assert doc["counterparty"]["inn"] == "7707083893" and doc["external_id"] == inv
        assert [(ln["name"], ln["quantity"], ln["price"], ln["vat_rate"], ln["unit"]) for ln in doc["lines"]] == [
            ("Монтаж щита", "1", "12200", "22", "796"), ("Кабель ВВГ 3×2,5", "30", "122", "22", "6")]
        assert doc["totals"]["total"] == "15860.00" and doc["totals"]["vat"] == "2860.00"
        item = b24.portal.t("item_31").get(int(inv))
        assert item["ufCrmSmartInvoiceErpNumber"] == doc["number"] and doc["number"].startswith("СЧ-")
        await move_invoice(rt, client, inv, "DT31_2:S")  # the same move delivered again
        await cycle(rt)
        assert len(_invoices(rt)) == 1

    preset_scenario(SPEC, steps, tmp_path, erp="kontur")


def test_kontur_invoice_without_rows_or_for_a_company_without_inn_is_held(tmp_path: Path) -> None:
    async def steps(rt, b24, kontur, client):  # type: ignore[no-untyped-def]
        co = await company_with_requisite(client, "ООО Ромашка", "7707083893", "773601001")
        empty = await smart_invoice(client, co, [])
        no_inn = str(await client.call("crm.company.add", {"fields": {"TITLE": "ООО Без ИНН"}}))
        orphan = await smart_invoice(client, no_inn, ROWS)
        await cycle(rt)
        for i in (empty, orphan):
            await move_invoice(rt, client, i, "DT31_2:S")
        await cycle(rt)
        await cycle(rt)
        assert _invoices(rt) == []
        reasons = " | ".join(held(rt))
        assert "В счёте нет товаров — добавьте товарные строки, и счёт уйдёт в Контур.Бухгалтерию" in reasons, reasons
        assert f"Компания (ID {no_inn}) не передана" in reasons and "ИНН" in reasons, reasons

    preset_scenario(SPEC, steps, tmp_path, erp="kontur")

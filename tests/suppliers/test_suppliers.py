"""The supplier side (issue 16): 1C supplier invoices and payment orders → two Bitrix24 smart processes, ERP → CRM
only. ``examples/1c-ut-suppliers.yaml`` runs as written over the Bitrix24 sandbox and the 1C УТ 11 sandbox (its demo
base): the supplier through the company link (loaded from 1C first), the stage from 1C's status, the posting and the
deletion mark (header values with ``when``), the payment order linked to the invoice card it pays (``ref`` with
``erp_type`` through the invoice entity's identity), one card under a lost answer, and no edit ever reaching 1C."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from b24sync.server.intake import accept_event
from tests.orders.preset_harness import cycle, preset_scenario
from tests.orders.test_orders import held_reasons
from tests.orders.test_orders_from_erp import rt_pending

EXAMPLE = "1c-ut-suppliers.yaml"
INVOICES, PAYMENTS = "Document_ЗаказПоставщику", "Document_СписаниеБезналичныхДенежныхСредств"
INV, PAY = 1042, 1044  # the example's smart processes; their pipelines DT1042_3 and DT1044_4 on the sandbox portal


async def settle(rt) -> None:  # type: ignore[no-untyped-def]
    """Cycles until no job is left: a document whose supplier (or invoice card) is not in Bitrix24 yet pushes it
    first and waits 5 s for it (engine/related.py)."""
    for _ in range(12):
        await cycle(rt)
        if not rt_pending(rt):
            return
        await asyncio.sleep(1.0)
    raise AssertionError(f"jobs still pending: {held_reasons(rt)}")


async def cards(client, etid: int, **flt: Any) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    res = await client.call("crm.item.list", {"entityTypeId": etid, "filter": flt, "select": ["*"]})
    return list(res["items"] if isinstance(res, dict) else res)


async def card_of(client, etid: int, ref: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    field = "ufCrm1ErpId" if etid == INV else "ufCrm2ErpId"
    found = await cards(client, etid, **{field: ref})
    assert len(found) == 1, found
    return found[0]


def supplier(onec, name: str = "ООО Кабельный завод", inn: str = "7728168971") -> dict[str, Any]:  # type: ignore[no-untyped-def]
    partner = onec.create("Catalog_Партнеры", Description=name, Поставщик=True)
    return onec.create("Catalog_Контрагенты", Description=name, ИНН=inn, Партнер_Key=partner["Ref_Key"])


def invoice(onec, cp: dict[str, Any], number: str, total: float, *, post: bool = True,  # type: ignore[no-untyped-def]
            status: str = "Подтвержден") -> dict[str, Any]:
    doc = onec.create(INVOICES, Контрагент_Key=cp["Ref_Key"], Партнер_Key=cp["Партнер_Key"], Статус=status,
                      НомерПоДаннымПоставщика=number, ДатаПоДаннымПоставщика="2026-03-02T00:00:00",
                      СуммаДокумента=total, ЦенаВключаетНДС=True,
                      Товары=[{"LineNumber": 1, "Количество": 10, "Цена": total / 10, "Сумма": total,
                               "СтавкаНДС": "НДС22", "СуммаНДС": round(total * 22 / 122, 2), "СуммаСНДС": total}])
    return onec.post(INVOICES, doc["Ref_Key"]) if post else doc


def payment(onec, cp: dict[str, Any], basis: str, total: float, *, basis_type: str = INVOICES,  # type: ignore[no-untyped-def]
            debited: bool = False, operation: str = "ОплатаПоставщику") -> dict[str, Any]:
    doc = onec.create(PAYMENTS, Контрагент_Key=cp["Ref_Key"], СуммаДокумента=total, ХозяйственнаяОперация=operation,
                      НазначениеПлатежа="Оплата по счету, в т.ч. НДС 22%", ПроведеноБанком=debited,
                      ДокументОснование=basis, ДокументОснование_Type=f"StandardODATA.{basis_type}",
                      РасшифровкаПлатежа=[{"LineNumber": 1, "Контрагент_Key": cp["Ref_Key"], "Сумма": total}])
    return onec.post(PAYMENTS, doc["Ref_Key"])


def test_invoice_created_once_with_its_supplier_updated_on_change_and_staged_by_1c(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        cp = supplier(onec)
        inv = invoice(onec, cp, "СЧ-2291", 118000.0)
        await settle(rt)
        await settle(rt)  # polled twice: still one card
        card = await card_of(client, INV, inv["Ref_Key"])
        companies = await client.call("crm.company.list", {"filter": {"UF_CRM_ERP_ID": cp["Ref_Key"]},
                                                           "select": ["ID", "TITLE", "COMPANY_TYPE"]})
        (company,) = companies  # the supplier was not in Bitrix24: loaded from 1C first, as a supplier
        assert company["TITLE"] == "ООО Кабельный завод" and company["COMPANY_TYPE"] == "SUPPLIER"
        assert card["companyId"] == int(company["ID"])
        assert card["ufCrm1SupplierNumber"] == "СЧ-2291" and card["ufCrm1ErpNumber"] == inv["Number"]
        assert float(card["opportunity"]) == 118000.0 and card["currencyId"] == "RUB"
        assert card["stageId"] == "DT1042_3:CLIENT"  # Подтвержден
        assert card["title"] == f"Счёт поставщика № СЧ-2291 (1С {inv['Number']})"

        onec.edit(INVOICES, inv["Ref_Key"], СуммаДокумента=121000.0, НомерПоДаннымПоставщика="СЧ-2291/1")
        await settle(rt)
        card = await card_of(client, INV, inv["Ref_Key"])
        assert float(card["opportunity"]) == 121000.0 and card["ufCrm1SupplierNumber"] == "СЧ-2291/1"

        onec.unpost(INVOICES, inv["Ref_Key"])
        await settle(rt)
        assert (await card_of(client, INV, inv["Ref_Key"]))["stageId"] == "DT1042_3:NEW"  # not posted: a draft
        onec.edit(INVOICES, inv["Ref_Key"], DeletionMark=True)
        await settle(rt)
        assert (await card_of(client, INV, inv["Ref_Key"]))["stageId"] == "DT1042_3:FAIL"  # marked for deletion
        onec.edit(INVOICES, inv["Ref_Key"], DeletionMark=False, Статус="Закрыт")
        onec.post(INVOICES, inv["Ref_Key"])
        await settle(rt)
        assert (await card_of(client, INV, inv["Ref_Key"]))["stageId"] == "DT1042_3:SUCCESS"
        assert len(await cards(client, INV, ufCrm1ErpId=inv["Ref_Key"])) == 1
        assert held_reasons(rt) == []
        types = {t["entityTypeId"]: t["title"] for t in (await client.call("crm.type.list", {}))["types"]}
        assert types[INV] == "Счета поставщиков" and types[PAY] == "Платежи поставщикам"  # as `crm.title` says

    preset_scenario(EXAMPLE, steps, tmp_path)


def test_an_unposted_invoice_is_created_at_the_draft_stage(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        inv = invoice(onec, supplier(onec), "СЧ-77", 5000.0, post=False, status="НеСогласован")
        await settle(rt)
        assert (await card_of(client, INV, inv["Ref_Key"]))["stageId"] == "DT1042_3:NEW"
        onec.post(INVOICES, inv["Ref_Key"])
        await settle(rt)
        assert (await card_of(client, INV, inv["Ref_Key"]))["stageId"] == "DT1042_3:PREPARATION"

    preset_scenario(EXAMPLE, steps, tmp_path)


def test_payment_order_is_linked_to_the_invoice_card_it_pays_and_staged_by_the_bank(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        cp = supplier(onec)
        first, second = invoice(onec, cp, "СЧ-1", 1000.0), invoice(onec, cp, "СЧ-2", 2500.0)
        pay = payment(onec, cp, second["Ref_Key"], 2500.0)
        receipt = onec.create("Document_ПриобретениеТоваровУслуг", Контрагент_Key=cp["Ref_Key"], СуммаДокумента=700.0)
        by_receipt = payment(onec, cp, receipt["Ref_Key"], 700.0, basis_type="Document_ПриобретениеТоваровУслуг")
        tax = payment(onec, cp, first["Ref_Key"], 10.0, operation="ПеречислениеНалога")
        await settle(rt)
        inv_card = await card_of(client, INV, second["Ref_Key"])
        assert (await card_of(client, INV, first["Ref_Key"]))["id"] != inv_card["id"]
        card = await card_of(client, PAY, pay["Ref_Key"])
        assert int(card["ufCrm2SupplierInvoice"]) == inv_card["id"]  # the right invoice's card
        assert card["companyId"] == inv_card["companyId"] and float(card["opportunity"]) == 2500.0
        assert card["stageId"] == "DT1044_4:PREPARATION"  # posted, not yet debited by the bank
        other = await card_of(client, PAY, by_receipt["Ref_Key"])  # a goods-receipt basis: no invoice card to link
        assert not other.get("ufCrm2SupplierInvoice")
        assert await cards(client, PAY, ufCrm2ErpId=tax["Ref_Key"]) == []  # not a payment to a supplier
        assert held_reasons(rt) == []

        onec.edit(PAYMENTS, pay["Ref_Key"], ПроведеноБанком=True, ДатаПроведенияБанком="2026-03-05T00:00:00")
        await settle(rt)
        card = await card_of(client, PAY, pay["Ref_Key"])
        assert card["stageId"] == "DT1044_4:SUCCESS" and str(card["ufCrm2BankDate"]).startswith("2026-03-05")
        onec.edit(PAYMENTS, pay["Ref_Key"], DeletionMark=True)
        await settle(rt)
        assert (await card_of(client, PAY, pay["Ref_Key"]))["stageId"] == "DT1044_4:FAIL"

    preset_scenario(EXAMPLE, steps, tmp_path)


def test_a_lost_answer_on_crm_item_add_leaves_one_card(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        cp = supplier(onec)
        await settle(rt)  # the demo base and the supplier are in Bitrix24
        inv = invoice(onec, cp, "СЧ-5", 3000.0)
        pay = payment(onec, cp, inv["Ref_Key"], 3000.0)
        b24.force("crm.item.add", "lost", times=2)  # both cards are stored, both answers lost
        await settle(rt)
        await settle(rt)
        assert len(await cards(client, INV, ufCrm1ErpId=inv["Ref_Key"])) == 1
        card = await card_of(client, PAY, pay["Ref_Key"])
        assert int(card["ufCrm2SupplierInvoice"]) == (await card_of(client, INV, inv["Ref_Key"]))["id"]
        assert held_reasons(rt) == []

    preset_scenario(EXAMPLE, steps, tmp_path)


def test_an_edit_in_bitrix24_is_never_written_to_1c_and_the_1c_value_is_put_back(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        cp = supplier(onec)
        inv = invoice(onec, cp, "СЧ-9", 9000.0)
        await settle(rt)
        card = await card_of(client, INV, inv["Ref_Key"])
        before = dict(onec.get(INVOICES, inv["Ref_Key"]))
        await client.call("crm.item.update", {"entityTypeId": INV, "id": card["id"], "fields": {
            "opportunity": 1, "ufCrm1SupplierNumber": "ИСПРАВЛЕНО", "stageId": "DT1042_3:SUCCESS"}})
        accept_event(rt, side="crm", event="ONCRMDYNAMICITEMUPDATE", record_id=str(card["id"]), source="b24",
                     delivery_id=f"edit-{card['id']}")
        await settle(rt)
        await settle(rt)
        after = onec.get(INVOICES, inv["Ref_Key"])
        assert after["DataVersion"] == before["DataVersion"]  # nothing was written to 1C
        assert after["СуммаДокумента"] == 9000.0 and after["НомерПоДаннымПоставщика"] == "СЧ-9"
        card = await card_of(client, INV, inv["Ref_Key"])  # 1C owns the fields: the edit is put back
        assert float(card["opportunity"]) == 9000.0 and card["ufCrm1SupplierNumber"] == "СЧ-9"
        assert card["stageId"] == "DT1042_3:CLIENT"

    preset_scenario(EXAMPLE, steps, tmp_path)

"""The supplier side on БП 3.0 (docs/flow-suppliers.md "БП 3.0"): ``examples/1c-bp-suppliers.yaml`` as written over
the 1C sandbox's ``bp30`` profile — Document_СчетНаОплатуПоставщика and Document_ПлатежноеПоручение, whose recipient
(Контрагент) and basis (ДокументОснование) are composite references read with their ``_Type``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.orders.preset_harness import preset_scenario
from tests.orders.test_orders import held_reasons
from tests.suppliers.test_suppliers import INV, PAY, card_of, cards, settle

EXAMPLE = "1c-bp-suppliers.yaml"
INVOICES, PAYMENTS = "Document_СчетНаОплатуПоставщика", "Document_ПлатежноеПоручение"


def _payment(onec, recipient: str, recipient_type: str, basis: str, total: float) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    doc = onec.create(PAYMENTS, Контрагент=recipient, Контрагент_Type=f"StandardODATA.{recipient_type}",
                      ДокументОснование=basis, ДокументОснование_Type=f"StandardODATA.{INVOICES}",
                      СуммаДокумента=total, НазначениеПлатежа="Оплата по счету, в т.ч. НДС 22%")
    return onec.post(PAYMENTS, doc["Ref_Key"])


def test_bp_invoice_and_payment_order_become_linked_cards_staged_by_posting_and_deletion(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        cp = onec.create("Catalog_Контрагенты", Description="ООО Кабельный завод", ИНН="7728168971")
        inv = onec.create(INVOICES, Контрагент_Key=cp["Ref_Key"], НомерВходящегоДокумента="778",
                          ДатаВходящегоДокумента="2026-03-02T00:00:00", СуммаДокумента=61000.0,
                          Товары=[{"LineNumber": 1, "Содержание": "Кабель ВВГ 3×2,5", "Количество": 100, "Цена": 610,
                                   "Сумма": 61000.0, "СтавкаНДС": "НДС22", "СуммаНДС": 11000.0}])
        onec.post(INVOICES, inv["Ref_Key"])
        pay = _payment(onec, cp["Ref_Key"], "Catalog_Контрагенты", inv["Ref_Key"], 61000.0)
        person = onec.create("Catalog_ФизическиеЛица", Description="Иванов И. И.", ИНН="500100732259")
        to_person = _payment(onec, person["Ref_Key"], "Catalog_ФизическиеЛица", inv["Ref_Key"], 500.0)
        await settle(rt)
        inv_card = await card_of(client, INV, inv["Ref_Key"])
        assert inv_card["ufCrm1SupplierNumber"] == "778" and inv_card["stageId"] == "DT1042_3:PREPARATION"
        assert inv_card["ufCrm1ErpNumber"] == inv["Number"] and inv["Number"].startswith("0000-")
        card = await card_of(client, PAY, pay["Ref_Key"])
        assert int(card["ufCrm2SupplierInvoice"]) == inv_card["id"] and card["companyId"] == inv_card["companyId"]
        assert card["companyId"] and card["stageId"] == "DT1044_4:PREPARATION"
        person_card = await card_of(client, PAY, to_person["Ref_Key"])  # a person: no company, nothing waited for
        assert not person_card.get("companyId") and int(person_card["ufCrm2SupplierInvoice"]) == inv_card["id"]
        assert held_reasons(rt) == []

        onec.unpost(PAYMENTS, pay["Ref_Key"])
        onec.edit(INVOICES, inv["Ref_Key"], DeletionMark=True)
        await settle(rt)
        assert (await card_of(client, PAY, pay["Ref_Key"]))["stageId"] == "DT1044_4:NEW"
        assert (await card_of(client, INV, inv["Ref_Key"]))["stageId"] == "DT1042_3:FAIL"
        assert len(await cards(client, INV, ufCrm1ErpId=inv["Ref_Key"])) == 1

    preset_scenario(EXAMPLE, steps, tmp_path, profile="bp30")


def test_bp_bank_state_of_the_payment_order_moves_its_card_and_nothing_reaches_1c(tmp_path: Path) -> None:
    """The state lives in InformationRegister_СостоянияБанковскихДокументов (no «Оплачено» attribute in БП 3.0.198):
    Отправлено → sent, Оплачено → paid, Отклонено → failed; a payment request's record is not ours; polled again,
    nothing is written anywhere."""
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        cp = onec.create("Catalog_Контрагенты", Description="ООО Кабельный завод", ИНН="7728168971")
        inv = onec.create(INVOICES, Контрагент_Key=cp["Ref_Key"], НомерВходящегоДокумента="901", СуммаДокумента=900.0)
        onec.post(INVOICES, inv["Ref_Key"])
        pay = _payment(onec, cp["Ref_Key"], "Catalog_Контрагенты", inv["Ref_Key"], 900.0)
        onec.set_bank_state(pay["Ref_Key"], "Подготовлено")
        await settle(rt)
        stage = lambda: card_of(client, PAY, pay["Ref_Key"])  # noqa: E731
        assert (await stage())["stageId"] == "DT1044_4:PREPARATION"
        onec.set_bank_state(pay["Ref_Key"], "Отправлено")
        await settle(rt)
        assert (await stage())["stageId"] == "DT1044_4:CLIENT"
        onec.set_bank_state(pay["Ref_Key"], "Оплачено")
        await settle(rt)
        assert (await stage())["stageId"] == "DT1044_4:SUCCESS"
        version = onec.get(PAYMENTS, pay["Ref_Key"])["DataVersion"]
        await settle(rt)  # polled again: the card stays paid, 1C is never written
        assert (await stage())["stageId"] == "DT1044_4:SUCCESS"
        assert onec.get(PAYMENTS, pay["Ref_Key"])["DataVersion"] == version
        onec.set_bank_state(pay["Ref_Key"], "Отклонено")
        await settle(rt)
        assert (await stage())["stageId"] == "DT1044_4:FAIL"
        onec.store.write_info("InformationRegister_СостоянияБанковскихДокументов", {  # a payment request's state
            "СсылкаНаОбъект": pay["Ref_Key"][:-4] + "ffff", "Состояние": "Оплачено",
            "СсылкаНаОбъект_Type": "StandardODATA.Document_ПлатежноеТребование"})
        await settle(rt)
        assert held_reasons(rt) == [] and (await stage())["stageId"] == "DT1044_4:FAIL"
        assert len(await cards(client, PAY)) == 1

    preset_scenario(EXAMPLE, steps, tmp_path, profile="bp30")


def test_bp_payment_status_of_the_supplier_invoice_moves_its_card(tmp_path: Path) -> None:
    """БП keeps the supplier invoice's payment status in InformationRegister_СтатусыДокументов (Enum.СтатусОплатыСчета,
    its record typed Document_СчетНаОплатуПоставщика): ОплаченЧастично → partly, Оплачен → paid; a customer invoice's
    record in the same register is not ours."""
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        cp = onec.create("Catalog_Контрагенты", Description="ООО Кабельный завод", ИНН="7728168971")
        inv = onec.create(INVOICES, Контрагент_Key=cp["Ref_Key"], НомерВходящегоДокумента="55", СуммаДокумента=800.0)
        onec.post(INVOICES, inv["Ref_Key"])
        await settle(rt)
        assert (await card_of(client, INV, inv["Ref_Key"]))["stageId"] == "DT1042_3:PREPARATION"

        def status(value: str, doc: str = inv["Ref_Key"], typ: str = INVOICES) -> None:
            reg = onec.store.records["InformationRegister_СтатусыДокументов"]
            for k in [k for k, r in reg.items() if r.get("Документ") == doc]:
                del reg[k]  # one record per document (БП's УстановитьСтатусыДокументов replaces it)
            onec.store.write_info("InformationRegister_СтатусыДокументов", {
                "Документ": doc, "Документ_Type": f"StandardODATA.{typ}", "Статус": value,
                "Статус_Type": "StandardODATA.Enum_СтатусОплатыСчета"})

        status("ОплаченЧастично")
        await settle(rt)
        assert (await card_of(client, INV, inv["Ref_Key"]))["stageId"] == "DT1042_3:CLIENT"
        status("Оплачен")
        status("Отменен", doc=inv["Ref_Key"][:-4] + "ffff", typ="Document_СчетНаОплатуПокупателю")  # not ours
        await settle(rt)
        assert (await card_of(client, INV, inv["Ref_Key"]))["stageId"] == "DT1042_3:SUCCESS"
        assert held_reasons(rt) == [] and len(await cards(client, INV)) == 1

    preset_scenario(EXAMPLE, steps, tmp_path, profile="bp30")

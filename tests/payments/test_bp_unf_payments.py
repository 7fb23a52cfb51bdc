"""Payments of БП 3.0 and УНФ 3.0 (document-flows.md B.4) with the same aggregate keys, over the 1C sandbox's
bp30 / unf30 profiles: БП `ПоступлениеНаРасчетныйСчет` rows name the invoice in `СчетНаОплату_Key` and carry
`СуммаПлатежа`; УНФ `ПоступлениеНаСчет` rows name the order in the composite `Заказ` (+ `_Type`) and the invoice in
`СчетНаОплату` (+ `_Type`). The smart invoice (or the deal) gets the sum, the paid stage, one entry per payment."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from b24sync.compose import build
from b24sync.engine.service import RunOptions, run
from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox
from b24sync.sandbox.onec.sandbox import OneCSandbox
from b24sync.spec.models import Spec
from b24sync.store import identity
from tests.payments.harness import comments, parked


def _spec(b24_url: str, onec_url: str, preset: str, entities: dict[str, Any]) -> Spec:
    return Spec.model_validate({
        "version": 1, "name": "bp/unf payments",
        "systems": {"bitrix24": {"type": "bitrix24", "role": "crm", "webhook_url": b24_url, "rate": 50, "burst": 400},
                    "onec": {"type": "1c-odata", "role": "erp", "url": onec_url, "username": "odata",
                             "password": "secret", "preset": preset}},
        "defaults": {"workers": 8, "retry": {"max_attempts": 3, "base_seconds": 0.2, "max_seconds": 1}},
        "entities": entities})


def _run(tmp_path: Path, profile: str, preset: str, entities: dict[str, Any], fn) -> Any:  # type: ignore[no-untyped-def]
    b24, onec = Bitrix24Sandbox(rate=50, burst=400), OneCSandbox(seed=None, profile=profile)
    url, onec_url = b24.start(), onec.start()
    try:
        rt = build(_spec(url, onec_url, preset, entities), database_url=f"sqlite:///{tmp_path / 'state.db'}")

        async def main() -> Any:
            try:
                return await fn(rt, b24, onec, rt.adapters["bitrix24"].client)  # type: ignore[attr-defined]
            finally:
                await rt.aclose()

        return asyncio.run(main())
    finally:
        b24.stop()
        onec.stop()


def _invoice_entity(erp_object: str) -> dict[str, Any]:
    return {"master": "bitrix24", "direction": "crm_to_erp", "crm": {"object": "crm.item:31"},
            "erp": {"object": erp_object}, "match": [{"crm": "id", "erp": "ИдентификаторCRM"}],
            "fields": [{"crm": "title", "erp": "Комментарий"}]}


def _payment(erp_object: str, ref: list[str], type_: str, key: list[str]) -> dict[str, Any]:
    return {"master": "onec", "direction": "erp_to_crm", "crm": {"object": "crm.item:31"},
            "erp": {"object": erp_object}, "match": [],
            "aggregate": {"rows": "РасшифровкаПлатежа", "amount": "РасшифровкаПлатежа.СуммаПлатежа",
                          "date": "ДатаВходящегоДокумента", "number": "НомерВходящегоДокумента", "key": key,
                          "targets": [{"via": "invoice", "ref": ref, "type": type_, "total": "opportunity",
                                       "reach": [{"crm": "stageId", "value": "DT31_2:P"}]}]},
            "triggers": [{"poll": "1m"}]}


async def _linked_invoice(rt, client, onec, erp_object: str, cp: str, amount: float) -> tuple[str, dict]:  # type: ignore[no-untyped-def]
    res = await client.call("crm.item.add", {"entityTypeId": 31, "fields": {"title": "Счёт", "opportunity": amount,
                                                                               "stageId": "DT31_2:S"}})
    inv = str(res["item"]["id"])
    doc = onec.create(erp_object, Контрагент_Key=cp, СуммаДокумента=amount, ИдентификаторCRM=inv)
    with rt.db.begin() as conn:
        identity.bind(conn, "invoice", crm_id=inv, erp_id=doc["Ref_Key"], match_key=None)
    return inv, doc


def test_bp30_receipt_pays_the_invoice_named_in_its_rows(tmp_path: Path) -> None:
    ents = {"invoice": _invoice_entity("Document_СчетНаОплатуПокупателю"),
            "payment": _payment("Document_ПоступлениеНаРасчетныйСчет", ["РасшифровкаПлатежа.СчетНаОплату_Key"],
                                "Document_СчетНаОплатуПокупателю",
                                ["НомерВходящегоДокумента", "ДатаВходящегоДокумента", "Контрагент"])}

    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        cp = onec.create("Catalog_Контрагенты", Description="ООО Покупатель", ИНН="7707083893")["Ref_Key"]
        org = onec.create("Catalog_Организации", Description="ООО Продавец", ИНН="7701234567")["Ref_Key"]
        inv, doc = await _linked_invoice(rt, client, onec, "Document_СчетНаОплатуПокупателю", cp, 1200)
        for n, amount in (("17", 500), ("18", 700)):
            p = onec.create("Document_ПоступлениеНаРасчетныйСчет", Организация_Key=org, Контрагент=cp,
                            Контрагент_Type="StandardODATA.Catalog_Контрагенты", СуммаДокумента=amount,
                            НомерВходящегоДокумента=n, ДатаВходящегоДокумента="2026-03-12T00:00:00",
                            РасшифровкаПлатежа=[{"LineNumber": 1, "СчетНаОплату_Key": doc["Ref_Key"],
                                                 "СуммаПлатежа": amount}])
            onec.post("Document_ПоступлениеНаРасчетныйСчет", p["Ref_Key"])
        await run(rt, RunOptions(once=True))
        item = b24.portal.t("item_31").get(int(inv))
        assert item["stageId"] == "DT31_2:P", parked(rt)
        assert len(comments(b24, inv, "dynamic_31")) == 2

    _run(tmp_path, "bp30", "bp30", ents, steps)


def test_unf30_receipt_pays_the_invoice_named_by_its_composite_reference(tmp_path: Path) -> None:
    ents = {"invoice": _invoice_entity("Document_СчетНаОплату"),
            "payment": _payment("Document_ПоступлениеНаСчет", ["РасшифровкаПлатежа.СчетНаОплату"],
                                "Document_СчетНаОплату",
                                ["НомерВходящегоДокумента", "ДатаВходящегоДокумента", "Контрагент_Key"])}

    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        cp = onec.create("Catalog_Контрагенты", Description="ООО Покупатель", ИНН="7707083893")["Ref_Key"]
        inv, doc = await _linked_invoice(rt, client, onec, "Document_СчетНаОплату", cp, 900)
        p = onec.create("Document_ПоступлениеНаСчет", Контрагент_Key=cp, СуммаДокумента=400,
                        НомерВходящегоДокумента="3", ДатаВходящегоДокумента="2026-03-10T00:00:00",
                        РасшифровкаПлатежа=[{"LineNumber": 1, "СчетНаОплату": doc["Ref_Key"],
                                             "СчетНаОплату_Type": "StandardODATA.Document_СчетНаОплату",
                                             "СуммаПлатежа": 400}])
        onec.post("Document_ПоступлениеНаСчет", p["Ref_Key"])
        await run(rt, RunOptions(once=True))
        item = b24.portal.t("item_31").get(int(inv))
        assert item["stageId"] == "DT31_2:S", parked(rt)  # partial: the stage stays
        assert comments(b24, inv, "dynamic_31") == ["Оплата 400 ₽ получена 10.03.2026 (документ № 3)"]

    _run(tmp_path, "unf30", "unf30", ents, steps)

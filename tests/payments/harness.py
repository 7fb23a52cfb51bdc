"""Deals with their 1C orders (the orders flow of issue 10), then payments and shipments as sums over documents
(issue 16) — over the Bitrix24 and 1C sandboxes."""

from __future__ import annotations

from typing import Any

from tests.orders.harness import cycle
from tests.orders.test_orders import deal, entities, move, seed

RECEIPTS = "Document_ПоступлениеБезналичныхДенежныхСредств"
CASH = "Document_ПриходныйКассовыйОрдер"
SHIPMENTS = "Document_РеализацияТоваровУслуг"
ORDER_TYPE = "Document_ЗаказКлиента"


def payment_targets(**over: Any) -> list[dict[str, Any]]:
    t = {"via": "order", "ref": ["РасшифровкаПлатежа.ОснованиеПлатежа"], "type": ORDER_TYPE, "total": "OPPORTUNITY",
         "set": [{"crm": "UF_CRM_PAID_AMOUNT", "value": "sum", "currency": "RUB"},
                 {"crm": "UF_CRM_BALANCE", "value": "balance", "currency": "RUB"},
                 {"crm": "UF_CRM_LAST_PAYMENT_DATE", "value": "last_date"}],
         "reach": [{"crm": "STAGE_ID", "value": "WON", "unless": ["LOSE"]}],
         "lock": ["OPPORTUNITY", "COMPANY_ID"]}
    t.update(over)
    return [t]


def payment_entity(obj: str = RECEIPTS, **agg_over: Any) -> dict[str, Any]:
    agg: dict[str, Any] = {
        "ledger": "payments", "rows": "РасшифровкаПлатежа", "amount": "РасшифровкаПлатежа.Сумма",
        "date": "ДатаВходящегоДокумента", "number": "НомерВходящегоДокумента",
        "key": ["НомерВходящегоДокумента", "ДатаВходящегоДокумента", "Контрагент_Key"],
        "targets": payment_targets(),
        "purpose": {"via": "order", "number": "UF_CRM_ERP_ORDER_NUMBER"},
    }
    agg.update(agg_over)
    return {"title": "Bank receipts → paid amount on the deal", "master": "onec", "direction": "erp_to_crm",
            "crm": {"object": "crm.deal"}, "erp": {"object": obj}, "match": [], "aggregate": agg,
            "triggers": [{"poll": "1m"}, {"webhook": "ONCRMDEALUPDATE"}]}


def shipment_entity() -> dict[str, Any]:
    return {"title": "Shipments → shipped amount on the deal", "master": "onec", "direction": "erp_to_crm",
            "crm": {"object": "crm.deal"}, "erp": {"object": SHIPMENTS}, "match": [],
            "aggregate": {
                "rows": "Товары", "amount": "Товары.СуммаСНДС", "note": "shipment",
                "counts_if": {"Posted": [True], "DeletionMark": [False], "Статус": ["Отгружено"]},
                "targets": [{"via": "order", "ref": ["Товары.ЗаказКлиента_Key", "ЗаказКлиента_Key"],
                             "total": "OPPORTUNITY",
                             "set": [{"crm": "UF_CRM_SHIPPED_AMOUNT", "value": "sum", "currency": "RUB"}],
                             "reach": [{"crm": "STAGE_ID", "value": "EXECUTING"}], "note": True}]},
            "triggers": [{"poll": "1m"}]}


def with_payments(**over: Any) -> dict[str, Any]:
    ents = entities()
    ents["payment"] = payment_entity()
    ents["shipment"] = shipment_entity()
    ents.update(over)
    return ents


async def placed(rt, b24, onec, client, price: float = 347500.0, s: dict | None = None):  # type: ignore[no-untyped-def]
    """A deal in "Invoice" with its posted 1C order (its number written back)."""
    s = s or await seed(rt, onec, client)
    d = await deal(client, s, [{"PRODUCT_ID": s["products"][0], "PRICE": price, "QUANTITY": 1,
                                "TAX_RATE": 22, "TAX_INCLUDED": "Y"}])
    await move(rt, client, d, "FINAL_INVOICE")
    await cycle(rt)
    (o,) = [x for x in onec.find(ORDER_TYPE) if x["НомерПоДаннымКлиента"] == d]
    return s, d, o


def deal_row(b24, d: str) -> dict:  # type: ignore[no-untyped-def]
    return b24.portal.t("deal").get(int(d))


def comments(b24, d: str, etype: str = "deal") -> list[str]:  # type: ignore[no-untyped-def]
    return [r["COMMENT"] for r in b24.portal.t("timeline_comment").rows.values()
            if r["ENTITY_TYPE"] == etype and int(r["ENTITY_ID"]) == int(d)]


def stage_moves(b24, d: str, stage: str) -> int:  # type: ignore[no-untyped-def]
    return sum(1 for r in b24.portal.t("stagehistory").rows.values()
               if r.get("ENTITY_TYPE_ID") == 2 and int(r.get("OWNER_ID") or 0) == int(d) and r.get("STAGE_ID") == stage
               and int(r.get("TYPE_ID") or 0) in (2, 3))


def parked(rt) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from b24sync.store.models import DeadLetter

    with rt.db.connect() as conn:
        return [(k, r) for k, r in conn.execute(select(DeadLetter.kind, DeadLetter.reason).where(
            DeadLetter.resolved_at.is_(None)))]


def bank_scenario(fn, tmp_path, entities: dict[str, Any]) -> Any:  # type: ignore[no-untyped-def]
    """The orders scenario with a third system: a folder of 1CClientBankExchange statements (``bank``)."""
    import asyncio

    from b24sync.compose import build
    from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox
    from b24sync.sandbox.onec.sandbox import OneCSandbox
    from tests.orders.harness import spec

    folder = tmp_path / "bank-in"
    folder.mkdir()
    for name in ("company", "product", "order"):
        entities[name]["erp"]["system"] = "onec"
    b24, onec = Bitrix24Sandbox(rate=50, burst=400), OneCSandbox(seed=None)
    url, onec_url = b24.start(), onec.start()
    try:
        sp = spec(url, onec_url, entities)
        sp.systems["bank"] = type(sp.systems["onec"]).model_validate(
            {"type": "bank-statement", "role": "erp", "folder": str(folder)})
        rt = build(sp, database_url=f"sqlite:///{tmp_path / 'state.db'}")

        async def main() -> Any:
            try:
                from b24sync.connectors.bitrix24.portal import prepare_portal
                from b24sync.connectors.bitrix24.requirements import requirements_from_spec

                client = rt.adapters["bitrix24"].client  # type: ignore[attr-defined]
                await prepare_portal(client, requirements_from_spec(rt.spec))
                return await fn(rt, b24, onec, client, folder)
            finally:
                await rt.aclose()

        return asyncio.run(main())
    finally:
        b24.stop()
        onec.stop()


def statement_entity() -> dict[str, Any]:
    return {"title": "Bank statements → paid amount on the deal", "master": "bank", "direction": "erp_to_crm",
            "crm": {"object": "crm.deal"}, "erp": {"object": "payments", "system": "bank"}, "match": [],
            "aggregate": {"ledger": "payments", "amount": "Сумма", "date": "Дата", "number": "Номер",
                          "key": ["Номер", "Дата", "ПлательщикИНН"], "counts_if": {}, "storno": None,
                          "corrects": None, "targets": payment_targets(ref=[]),
                          "purpose": {"via": "order", "number": "UF_CRM_ERP_ORDER_NUMBER"}},
            "triggers": [{"poll": "1m"}]}

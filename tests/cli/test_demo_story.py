"""The deal-to-cash story of `b24sync demo` (issues 10 and 16) as a test, on the demo spec as written
(`spec/starters/demo.yaml`): after each step both sandboxes are read directly (not through b24sync, not through
the story's own read-back) — deal → posted 1C order with its rows and its number back → 1C status moves the stage →
smart invoice "sent" → 1C invoice, its number back → partial payment (paid, balance, one entry, stage unchanged) →
the rest (deal and invoice to their paid stages) → shipment (shipped amount, "ready to close"). Then a replay of
everything and a second run change nothing: exactly one timeline entry per payment, nothing parked."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from b24sync.cli.demo import DEMO_SPEC, _prepare_portal
from b24sync.cli.demo_story import INVOICES, ORDERS, Step, dec, parked, play
from b24sync.compose import build
from b24sync.engine.service import RunOptions, run
from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox
from b24sync.sandbox.dadata.app import create_app as dadata_app
from b24sync.sandbox.onec.sandbox import OneCSandbox
from b24sync.sandbox.served import ServedApp
from b24sync.spec.loader import load_spec
from b24sync.store import queue

RECEIPTS = "Document_ПоступлениеБезналичныхДенежныхСредств"


def _snapshot(b24: Bitrix24Sandbox, onec: OneCSandbox, deal_id: str | None, inv_id: str | None) -> dict[str, Any]:
    deal = dict(b24.portal.t("deal").get(int(deal_id))) if deal_id else {}
    notes = [r["COMMENT"] for r in sorted(b24.portal.t("timeline_comment").rows.values(), key=lambda r: int(r["ID"]))
             if r["ENTITY_TYPE"] == "deal" and deal_id and int(r["ENTITY_ID"]) == int(deal_id)]
    orders = [dict(o) for o in onec.find(ORDERS) if deal_id and o.get("НомерПоДаннымКлиента") == deal_id]
    invoices = [dict(i) for i in onec.find(INVOICES) if inv_id and i.get("ИдентификаторCRM") == inv_id]
    item = dict(b24.portal.t("item_31").get(int(inv_id))) if inv_id else {}
    return {"deal": deal, "notes": notes, "orders": orders, "invoices": invoices, "item": item}


def _stage_moves(b24: Bitrix24Sandbox, deal_id: str, stage: str) -> int:
    return sum(1 for r in b24.portal.t("stagehistory").rows.values()
               if r.get("ENTITY_TYPE_ID") == 2 and int(r.get("OWNER_ID") or 0) == int(deal_id)
               and r.get("STAGE_ID") == stage)


@pytest.mark.slow(40)
def test_deal_to_cash_story_on_the_demo_spec(tmp_path: Path) -> None:
    b24 = Bitrix24Sandbox(rate=50, burst=400)
    onec = OneCSandbox(user="odata", password="secret", seed="demo")
    onec.store.full_fill_checks = True
    b24.start()
    onec_url = onec.start()
    dadata = ServedApp(dadata_app(token="demo-token"))
    env = {"B24SYNC_DEMO_B24_WEBHOOK": b24.webhook_url, "B24SYNC_DEMO_ONEC_URL": onec_url,
           "B24SYNC_DEMO_DADATA_URL": f"{dadata.url}/suggestions/api/4_1/rs/", "B24SYNC_DEMO_DADATA_TOKEN": "demo-token"}
    spec = load_spec(DEMO_SPEC, env)
    spec.systems["bitrix24"].rate, spec.systems["bitrix24"].burst = 50, 400  # type: ignore[attr-defined]
    store = f"sqlite:///{tmp_path / 'state.db'}"
    snaps: list[tuple[Step, dict[str, Any]]] = []
    try:
        async def main() -> Any:
            rt = build(spec, database_url=store)
            try:
                await _prepare_portal(rt, spec)
                full = await run(rt, RunOptions(once=True))
                assert full.dead == 0, full

                ids: dict[str, str | None] = {"deal": None, "invoice": None}

                def out(step: Step) -> None:
                    # the story fills in its ids as it goes: find them in the sandboxes themselves
                    if ids["deal"] is None and b24.portal.t("deal").rows:
                        ids["deal"] = str(max(int(k) for k, r in b24.portal.t("deal").rows.items()
                                              if r.get("ORIGINATOR_ID") != "1C"))
                    if ids["invoice"] is None and b24.portal.t("item_31").rows:
                        ids["invoice"] = str(max(int(k) for k in b24.portal.t("item_31").rows))
                    snaps.append((step, _snapshot(b24, onec, ids["deal"], ids["invoice"])))

                result = await play(rt, onec, onec_url, out=out)
                assert [s.failed for s in result.steps] == [[]] * 7, [(s.title, s.failed) for s in result.steps]
                assert result.deal_id == ids["deal"] and result.invoice_id == ids["invoice"]
                # a replay of every parked record and the next cycles change nothing
                queue.replay(rt.db)
                for _ in range(2):
                    await run(rt, RunOptions(once=True))
                left = parked(rt, list(rt.spec.entities))
                return result, left
            finally:
                await rt.aclose()

        result, left = asyncio.run(main())
        # … and a second run of b24sync over the same store (a restart) changes nothing either
        async def second() -> Any:
            rt = build(spec, database_url=store)
            try:
                stats = await run(rt, RunOptions(once=True))
                return stats, parked(rt, list(rt.spec.entities))
            finally:
                await rt.aclose()

        stats2, left2 = asyncio.run(second())
    finally:
        b24.stop()
        onec.stop()
        dadata.stop()

    deal_id, inv_id = result.deal_id, result.invoice_id
    assert [s.title for s, _ in snaps][0].startswith("A new deal")
    (s0, new), (_, placed), (_, agreed), (_, issued), (_, part), (_, full), (_, shipped) = snaps

    # 0: the deal at NEW → nothing in 1C
    total = dec(new["deal"]["OPPORTUNITY"])
    assert new["orders"] == [] and new["deal"]["STAGE_ID"] == "NEW" and total > 0

    # 1: the trigger stage → one posted order with both rows, Decimal VAT per line, its number back on the deal
    (order,) = placed["orders"]
    assert order["Posted"] is True and order["Статус"] == "НеСогласован"
    rows = order["Товары"]
    assert len(rows) == 2 and all(r["СтавкаНДС"] == "НДС22" for r in rows)
    for r in rows:
        s = dec(r["Сумма"])
        assert dec(r["СуммаНДС"]) == (s * 22 / 122).quantize(Decimal("0.01"))
    assert sum(dec(r["Сумма"]) for r in rows) == dec(order["СуммаДокумента"]) == total
    assert placed["deal"]["UF_CRM_ERP_ORDER_NUMBER"] == order["Number"]
    assert placed["deal"]["UF_CRM_ERP_ORDER_ID"] == order["Ref_Key"]
    assert placed["deal"]["STAGE_ID"] == "PREPARATION"

    # 2: 1C status → deal stage
    assert agreed["orders"][0]["Статус"] == "КОбеспечению" and agreed["deal"]["STAGE_ID"] == "PREPAYMENT_INVOICE"

    # 3: the invoice "sent" → one 1C invoice on the order, numbered by 1C, the number back (accountNumber untouched)
    (inv1c,) = issued["invoices"]
    assert inv1c["ДокументОснование"] == order["Ref_Key"] and dec(inv1c["СуммаДокумента"]) == total
    assert issued["item"]["ufCrmSmartInvoiceErpNumber"] == inv1c["Number"] and issued["item"]["stageId"] == "DT31_2:S"
    assert issued["item"]["accountNumber"] != inv1c["Number"]

    # 4: a partial payment: paid + balance = total, one entry, stages unchanged
    paid1 = dec(part["deal"]["UF_CRM_PAID_AMOUNT"])
    assert Decimal(0) < paid1 < total and paid1 + dec(part["deal"]["UF_CRM_BALANCE"]) == total
    assert part["deal"]["UF_CRM_PAID_AMOUNT"].endswith("|RUB")
    assert part["deal"]["STAGE_ID"] == "PREPAYMENT_INVOICE" and part["item"]["stageId"] == "DT31_2:S"
    assert len(part["notes"]) == 1 and part["notes"][0].startswith("Оплата ") and "получена" in part["notes"][0]
    assert "(документ № 245)" in part["notes"][0]

    # 5: the rest: paid in full, balance 0, deal → EXECUTING, invoice → paid
    assert dec(full["deal"]["UF_CRM_PAID_AMOUNT"]) == total and dec(full["deal"]["UF_CRM_BALANCE"]) == 0
    assert full["deal"]["STAGE_ID"] == "EXECUTING" and full["item"]["stageId"] == "DT31_2:P"
    assert len(full["notes"]) == 2 and "(документ № 251)" in full["notes"][1]

    # 6: the shipment: shipped amount = total, "ready to close", one shipment entry
    assert dec(shipped["deal"]["UF_CRM_SHIPPED_AMOUNT"]) == total and shipped["deal"]["STAGE_ID"] == "FINAL_INVOICE"
    assert len(shipped["notes"]) == 3 and shipped["notes"][2].startswith("Отгрузка на ")

    # after the replay and a second run: still exactly one entry per payment, the stages moved once, nothing parked
    final = _snapshot(b24, onec, deal_id, inv_id)
    assert final["notes"] == shipped["notes"]
    assert final["deal"]["STAGE_ID"] == "FINAL_INVOICE" and final["item"]["stageId"] == "DT31_2:P"
    assert _stage_moves(b24, str(deal_id), "EXECUTING") == 1 and _stage_moves(b24, str(deal_id), "FINAL_INVOICE") == 1
    assert len(final["orders"]) == 1 and len(final["invoices"]) == 1
    assert len([r for r in onec.find(RECEIPTS) if r.get("Контрагент_Key") == order["Контрагент_Key"]]) == 2
    assert not any(a in stats2.actions for a in ("created", "updated", "recorded", "reverted")), stats2.actions
    assert left == [] and left2 == [], (left, left2)
    # the 1C base's history came as deals: the order already paid and shipped in 1C has its sums on its deal
    history = [r for r in b24.portal.t("deal").rows.values() if r.get("ORIGINATOR_ID") == "1C"]
    assert len(history) == 6, len(history)
    done = [r for r in history if r.get("UF_CRM_PAID_AMOUNT")]
    assert len(done) == 1 and dec(done[0]["UF_CRM_PAID_AMOUNT"]) == dec(done[0]["OPPORTUNITY"]) > 0, done
    assert dec(done[0]["UF_CRM_SHIPPED_AMOUNT"]) == dec(done[0]["OPPORTUNITY"])

"""Shipments (issue 16): the shipped amount of an order is the sum over its posted shipments with status
«Отгружено» (document-flows.md B.6, E.18) — one shipment may cover several orders (its rows name them), a second
shipment adds to the first instead of overwriting it (the issue's 1428 → 2142 bug: 1428 + 2142 = 3570); fully
shipped → the "ready to close" stage."""

from __future__ import annotations

from pathlib import Path

from tests.orders.harness import cycle, scenario
from tests.payments.harness import SHIPMENTS, comments, deal_row, parked, placed, stage_moves, with_payments


def test_second_shipment_sums_and_full_shipment_moves_the_deal_once(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s, d, o = await placed(rt, b24, onec, client, price=3570)
        onec.ship([(o["Ref_Key"], 1428)])
        await cycle(rt)
        row = deal_row(b24, d)
        assert row["UF_CRM_SHIPPED_AMOUNT"] == "1428.00|RUB", parked(rt)
        assert row["STAGE_ID"] == "FINAL_INVOICE"
        onec.ship([(o["Ref_Key"], 2142)])
        await cycle(rt)
        await cycle(rt)
        row = deal_row(b24, d)
        assert row["UF_CRM_SHIPPED_AMOUNT"] == "3570.00|RUB"  # summed, not overwritten (1428 → 2142)
        assert row["STAGE_ID"] == "EXECUTING" and stage_moves(b24, d, "EXECUTING") == 1
        shipped = [c for c in comments(b24, d) if c.startswith("Отгрузка")]
        assert len(shipped) == 2 and shipped[0].startswith("Отгрузка на 1 428 ₽ от "), shipped

    scenario(steps, tmp_path, with_payments())


def test_one_shipment_of_two_orders_sets_both_deals(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s, d1, o1 = await placed(rt, b24, onec, client, price=1000)
        _, d2, o2 = await placed(rt, b24, onec, client, price=500, s=s)
        doc = onec.ship([(o1["Ref_Key"], 600), (o2["Ref_Key"], 500), (o1["Ref_Key"], 400)])
        assert doc["РеализацияПоЗаказам"] is True and doc["ЗаказКлиента_Key"].startswith("00000000")
        await cycle(rt)
        assert deal_row(b24, d1)["UF_CRM_SHIPPED_AMOUNT"] == "1000.00|RUB", parked(rt)
        assert deal_row(b24, d2)["UF_CRM_SHIPPED_AMOUNT"] == "500.00|RUB"
        assert deal_row(b24, d1)["STAGE_ID"] == deal_row(b24, d2)["STAGE_ID"] == "EXECUTING"
        assert len([c for c in comments(b24, d1) if c.startswith("Отгрузка")]) == 1  # one per document and deal

    scenario(steps, tmp_path, with_payments())


def test_only_posted_shipped_documents_count(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s, d, o = await placed(rt, b24, onec, client, price=1000)
        onec.ship([(o["Ref_Key"], 300)], status="КПредоплате")  # awaiting prepayment: not shipped yet
        unposted = onec.ship([(o["Ref_Key"], 200)], post=False)
        await cycle(rt)
        assert not deal_row(b24, d).get("UF_CRM_SHIPPED_AMOUNT")
        onec.post(SHIPMENTS, unposted["Ref_Key"])
        await cycle(rt)
        assert deal_row(b24, d)["UF_CRM_SHIPPED_AMOUNT"] == "200.00|RUB"
        onec.unpost(SHIPMENTS, unposted["Ref_Key"])
        await cycle(rt)
        assert deal_row(b24, d)["UF_CRM_SHIPPED_AMOUNT"] == "0.00|RUB"

    scenario(steps, tmp_path, with_payments())

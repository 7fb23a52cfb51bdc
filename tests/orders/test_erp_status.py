"""ERP status is authoritative (issue 10): the deal stage follows the spec's table unconditionally; a manual move of
the card never changes the ERP status and is put back (the stage is ERP-owned); two quick status changes end at the
right stage. The status entity is a second entity over the same pair (shared identity scope) — no special code."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.orders.harness import cycle, orders, scenario
from tests.orders.test_orders import deal, entities, held_reasons, move, seed

STAGES = {"НеСогласован": "PREPARATION", "КОбеспечению": "FINAL_INVOICE", "КОтгрузке": "EXECUTING", "Закрыт": "WON"}


def _with_status() -> dict[str, Any]:
    ents = entities()
    ents["order_status"] = {
        "title": "Order status → deal stage", "master": "onec", "direction": "erp_to_crm", "create": False,
        "crm": {"object": "crm.deal"}, "erp": {"object": "Document_ЗаказКлиента"},
        "match": [{"crm": "ID", "erp": "НомерПоДаннымКлиента"}],
        "link": {"crm": "UF_CRM_ERP_ORDER_ID"},
        "fields": [{"crm": "STAGE_ID", "erp": "Статус", "transform": {"table": "order_stage"}}],
        "triggers": [{"poll": "1m"}, {"event": "order.status_changed"}, {"webhook": "ONCRMDEALUPDATE"}],
    }
    return ents


async def _placed(rt, b24, onec, client) -> tuple[str, dict]:  # type: ignore[no-untyped-def]
    s = await seed(rt, onec, client)
    d = await deal(client, s, [{"PRODUCT_ID": s["products"][0], "PRICE": 100, "QUANTITY": 1}])
    await move(rt, client, d, "FINAL_INVOICE")
    await cycle(rt)
    (o,) = orders(onec)
    return d, o


async def _erp_event(rt, ref: str, n: int) -> None:  # type: ignore[no-untyped-def]
    from b24sync.server.intake import accept_event

    accept_event(rt, side="erp", event="order.status_changed", record_id=ref, source="1c", delivery_id=f"{ref}:{n}")


def _stage(b24, d: str) -> str:  # type: ignore[no-untyped-def]
    return b24.portal.t("deal").get(int(d))["STAGE_ID"]


def test_erp_status_moves_the_deal_stage_by_the_table(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        d, o = await _placed(rt, b24, onec, client)
        onec.set_order_status(o["Ref_Key"], "КОтгрузке")
        await _erp_event(rt, o["Ref_Key"], 1)
        await cycle(rt)
        assert _stage(b24, d) == "EXECUTING"
        assert len(orders(onec)) == 1  # our stage write fired no trigger

    scenario(steps, tmp_path, _with_status(), {"order_stage": STAGES})


def test_erp_status_changed_twice_quickly_ends_at_the_final_stage(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        d, o = await _placed(rt, b24, onec, client)
        onec.set_order_status(o["Ref_Key"], "КОтгрузке")
        await _erp_event(rt, o["Ref_Key"], 1)
        onec.set_order_status(o["Ref_Key"], "Закрыт")
        await _erp_event(rt, o["Ref_Key"], 2)
        await cycle(rt)
        assert _stage(b24, d) == "WON"

    scenario(steps, tmp_path, _with_status(), {"order_stage": STAGES})


def test_erp_status_manual_card_move_leaves_the_erp_untouched_and_is_put_back(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        d, o = await _placed(rt, b24, onec, client)
        onec.set_order_status(o["Ref_Key"], "КОтгрузке")
        await _erp_event(rt, o["Ref_Key"], 1)
        await cycle(rt)
        before = onec.get("Document_ЗаказКлиента", o["Ref_Key"])["DataVersion"]
        await move(rt, client, d, "WON")  # a manager drags the card to "won"
        await cycle(rt)
        await cycle(rt)
        after = onec.get("Document_ЗаказКлиента", o["Ref_Key"])
        assert after["Статус"] == "КОтгрузке" and after["DataVersion"] == before
        assert _stage(b24, d) == "EXECUTING", held_reasons(rt)
        assert len(orders(onec)) == 1

    scenario(steps, tmp_path, _with_status(), {"order_stage": STAGES})

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


def test_a_skipped_job_of_the_status_entity_leaves_the_order_entitys_hold_open(tmp_path: Path) -> None:
    """Engine rule: a job closes only its own entity's dead letters. The status entity shares the order entity's
    identity scope (and so its lanes); its job on a deal without an order ends "skipped" — that must not close
    the order entity's hold on the same deal (it would vanish from the list while the deal still cannot go)."""
    from sqlalchemy import select

    from b24sync.store.models import DeadLetter

    def open_letters(rt) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
        with rt.db.connect() as conn:
            return [(e, r) for e, r in conn.execute(select(DeadLetter.entity, DeadLetter.reason)
                                                    .where(DeadLetter.resolved_at.is_(None)))]

    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s = await seed(rt, onec, client, agreement=False)
        d = await deal(client, s, [{"PRODUCT_ID": s["products"][0], "PRICE": 100, "QUANTITY": 1}])
        await move(rt, client, d, "FINAL_INVOICE")  # both entities get the event; order holds, status skips
        await cycle(rt)
        assert orders(onec) == []
        letters = open_letters(rt)
        assert [e for e, _ in letters] == ["order"] and "нет соглашения" in letters[0][1], letters
        with rt.db.connect() as conn:  # the status entity's job ran on the same deal and ended skipped
            from b24sync.store.models import HistoryEntry

            acts = {(h.entity, h.action) for h in conn.execute(select(HistoryEntry).where(
                HistoryEntry.entity == "order_status"))}
        assert ("order_status", "skipped") in acts, acts
        from b24sync.server.intake import accept_event

        await client.call("crm.deal.update", {"id": int(d), "fields": {"TITLE": "Поставка кабеля, уточнено"}})
        accept_event(rt, side="crm", event="ONCRMDEALUPDATE", record_id=d, source="b24", delivery_id=f"{d}:title")
        await cycle(rt)
        assert [e for e, _ in open_letters(rt)] == ["order"], open_letters(rt)  # still held, one entry

    scenario(steps, tmp_path, _with_status(), {"order_stage": STAGES})

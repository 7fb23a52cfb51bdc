"""`stage_change` triggers (issue 13 item 8): an old → new transition read from the stored last stage or
``crm.stagehistory.list``, never "is in stage X", never on our own writes — end to end over both sandboxes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from b24sync.engine.service import RunOptions, run
from b24sync.engine.scheduler import poll_once
from tests.orders.harness import ORDERS, cycle, orders, scenario


def _entities(trigger: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    ents: dict[str, Any] = {
        "order": {
            "title": "Deals → customer orders", "master": "bitrix24", "direction": "crm_to_erp",
            "crm": {"object": "crm.deal"}, "erp": {"object": ORDERS},
            "match": [{"crm": "ID", "erp": "НомерПоДаннымКлиента"}],
            "link": {"crm": "UF_CRM_ERP_ORDER_ID", "erp": "НомерПоДаннымКлиента"},
            "fields": [{"crm": "TITLE", "erp": "Комментарий"}],
            "triggers": [{"poll": "1m"}, {"webhook": "ONCRMDEALUPDATE"}, {"stage_change": trigger}],
        }}
    ents.update(extra or {})
    return ents


async def _deal(client, stage: str = "NEW", title: str = "Сделка") -> str:  # type: ignore[no-untyped-def]
    return str(await client.call("crm.deal.add", {"fields": {"TITLE": title, "STAGE_ID": stage}}))


_n = [0]


async def _move(client, deal: str, stage: str, rt=None) -> None:  # type: ignore[no-untyped-def]
    """A manager moves the card; the portal's ONCRMDEALUPDATE reaches the server (a poll within the same second as
    its cursor would see it only on the next second)."""
    from b24sync.server.intake import accept_event

    await client.call("crm.deal.update", {"id": int(deal), "fields": {"STAGE_ID": stage}})
    if rt is not None:
        _n[0] += 1
        accept_event(rt, side="crm", event="ONCRMDEALUPDATE", record_id=deal, source="b24", delivery_id=f"m{_n[0]}")


def test_stage_change_deal_at_non_trigger_stage_creates_nothing(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        await _deal(client, "NEW")
        await _deal(client, "PREPARATION")
        await cycle(rt)
        assert orders(onec) == []

    scenario(steps, tmp_path, _entities({"to": ["WON"]}))


def test_stage_change_manual_move_to_another_stage_does_nothing(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        d = await _deal(client, "NEW")
        await cycle(rt)
        await _move(client, d, "PREPARATION", rt)
        await cycle(rt)
        await _move(client, d, "EXECUTING", rt)
        await cycle(rt)
        assert orders(onec) == []
        await _move(client, d, "WON", rt)  # now the named move
        await cycle(rt)
        assert len(orders(onec)) == 1

    scenario(steps, tmp_path, _entities({"to": ["WON"]}))


def test_stage_change_move_into_to_stage_creates_one_order_even_when_the_event_comes_twice(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        from b24sync.server.intake import accept_event

        d = await _deal(client, "NEW", "Поставка")
        await cycle(rt)
        await _move(client, d, "WON", rt)
        for n in range(2):  # the same stage event delivered twice (two delivery ids), plus the poll
            accept_event(rt, side="crm", event="ONCRMDEALUPDATE", record_id=d, source="b24", delivery_id=f"x{n}")
        await cycle(rt)
        await cycle(rt)
        got = orders(onec)
        assert len(got) == 1 and got[0]["Комментарий"] == "Поставка"

    scenario(steps, tmp_path, _entities({"to": ["WON"]}))


def test_stage_change_from_names_the_stages_a_move_must_come_from(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        a = await _deal(client, "NEW", "из NEW")
        b = await _deal(client, "NEW", "из FINAL_INVOICE")
        await cycle(rt)
        await _move(client, a, "WON", rt)  # NEW → WON: not from FINAL_INVOICE
        await _move(client, b, "FINAL_INVOICE", rt)
        await cycle(rt)
        assert orders(onec) == []
        await _move(client, b, "WON", rt)
        await cycle(rt)
        assert [o["Комментарий"] for o in orders(onec)] == ["из FINAL_INVOICE"]

    scenario(steps, tmp_path, _entities({"to": "WON", "from": ["FINAL_INVOICE"]}))


def test_stage_change_fast_double_move_between_two_looks_is_seen_in_stage_history(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        d = await _deal(client, "NEW", "быстро")
        await cycle(rt)
        await _move(client, d, "FINAL_INVOICE", rt)  # the trigger stage ...
        await _move(client, d, "WON", rt)            # ... left before b24sync looked
        await cycle(rt)
        assert len(orders(onec)) == 1

    scenario(steps, tmp_path, _entities({"to": ["FINAL_INVOICE"]}))


def test_stage_change_without_stage_history_uses_the_stored_last_stage(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        b24.portal.stagehistory_unsupported = {2}  # the portal answers ENTITY_TYPE_NOT_SUPPORTED
        a = await _deal(client, "NEW", "a")
        b = await _deal(client, "FINAL_INVOICE", "b")
        await cycle(rt)
        assert orders(onec) == []  # b: first seen in FINAL_INVOICE, the move from it cannot be proven
        await _move(client, a, "FINAL_INVOICE", rt)
        await cycle(rt)
        await _move(client, a, "WON", rt)
        await _move(client, b, "WON", rt)
        await cycle(rt)
        assert sorted(o["Комментарий"] for o in orders(onec)) == ["a", "b"]

    scenario(steps, tmp_path, _entities({"to": ["WON"], "from": ["FINAL_INVOICE"]}))


def test_stage_change_a_deal_created_in_the_to_stage_counts_when_from_is_open(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        await _deal(client, "WON", "сразу выиграна")
        await cycle(rt)
        assert len(orders(onec)) == 1

    scenario(steps, tmp_path, _entities({"to": ["WON"]}))


def test_stage_change_never_fires_on_our_own_writes(tmp_path: Path) -> None:
    """A stage b24sync writes (here: an invoice paid in 1C puts its deal into WON) is no manager's move: the
    order entity, whose trigger is "into WON", must not create an order for it."""
    mirror = {
        "deal_paid": {
            "title": "Paid invoice → deal won", "master": "onec", "direction": "erp_to_crm", "create": False,
            "crm": {"object": "crm.deal"}, "erp": {"object": "Document_СчетНаОплатуКлиенту"},
            "match": [{"crm": "UF_CRM_ERP_INVOICE", "erp": "Ref_Key"}],
            "link": {"crm": "UF_CRM_ERP_INVOICE"},
            "fields": [{"crm": "STAGE_ID", "erp": "Комментарий", "transform": {"map": {"оплачен": "WON"}}}],
            "triggers": [{"poll": "1m"}],
        }}

    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        from b24sync.server.intake import accept_event

        inv = onec.create("Document_СчетНаОплатуКлиенту", Комментарий="оплачен")
        d = str(await client.call("crm.deal.add", {"fields": {"TITLE": "по счёту", "STAGE_ID": "NEW",
                                                              "UF_CRM_ERP_INVOICE": inv["Ref_Key"]}}))
        await cycle(rt)
        assert b24.portal.t("deal").get(int(d))["STAGE_ID"] == "WON"  # our write
        # its echo: the portal's ONCRMDEALUPDATE and, a second later, the poll both bring the deal back
        accept_event(rt, side="crm", event="ONCRMDEALUPDATE", record_id=d, source="b24", delivery_id="echo")
        await run(rt, RunOptions(once=True, poll=False))
        await asyncio.sleep(1.1)
        await poll_once(rt, "order", "crm")
        await run(rt, RunOptions(once=True, poll=False))
        assert orders(onec) == []
        # a manager's later move out and back in is a real transition
        await _move(client, d, "EXECUTING", rt)
        await cycle(rt)
        await _move(client, d, "WON", rt)
        await cycle(rt)
        assert len(orders(onec)) == 1

    scenario(steps, tmp_path, _entities({"to": ["WON"]}, mirror))

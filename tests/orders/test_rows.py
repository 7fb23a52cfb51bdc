"""Row rules (issue 10): edits of the deal's rows while the order is open are re-sent as a whole (replace-all on
both sides), frozen from the spec's stage on; 200 rows go in one create; a lost answer on the create → one order."""

from __future__ import annotations

from pathlib import Path

from tests.orders.harness import cycle, orders, scenario
from tests.orders.test_orders import deal, entities, held_reasons, move, seed


def _rows(s, *spec: tuple[int, float, float]) -> list[dict]:  # type: ignore[no-untyped-def]
    return [{"PRODUCT_ID": s["products"][i], "PRICE": price, "QUANTITY": qty, "TAX_RATE": 22, "TAX_INCLUDED": "Y"}
            for i, price, qty in spec]


async def _edit_rows(rt, client, d: str, rows: list[dict], n: int) -> None:  # type: ignore[no-untyped-def]
    from b24sync.server.intake import accept_event

    await client.call("crm.deal.productrows.set", {"id": int(d), "rows": rows})
    accept_event(rt, side="crm", event="ONCRMDEALUPDATE", record_id=d, source="b24", delivery_id=f"rows{d}:{n}")


def test_rows_edit_while_open_is_resent_as_a_whole_and_frozen_after_the_stage(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s = await seed(rt, onec, client)
        d = await deal(client, s, _rows(s, (0, 100, 1), (1, 50, 2), (0, 10, 5)))
        await move(rt, client, d, "FINAL_INVOICE")
        await cycle(rt)
        (o,) = orders(onec)
        assert len(o["Товары"]) == 3 and o["СуммаДокумента"] == 250
        await _edit_rows(rt, client, d, _rows(s, (1, 70, 3)), 1)  # two rows removed, one changed
        await cycle(rt)
        (o,) = orders(onec)
        assert [(r["LineNumber"], r["Количество"], r["Цена"]) for r in o["Товары"]] == [(1, 3, 70)]
        assert o["СуммаДокумента"] == 210 and o["Posted"] is True
        await move(rt, client, d, "WON")  # frozen_at: WON
        await cycle(rt)
        await _edit_rows(rt, client, d, _rows(s, (0, 1, 1)), 2)
        await cycle(rt)
        (o,) = orders(onec)
        assert [(r["Количество"], r["Цена"]) for r in o["Товары"]] == [(3, 70)] and o["СуммаДокумента"] == 210

    scenario(steps, tmp_path, entities(rows={"frozen_at": ["WON"]}))


def test_rows_200_rows_round_trip_in_one_create(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s = await seed(rt, onec, client)
        rows = [{"PRODUCT_ID": s["products"][i % 2], "PRICE": 1 + i / 100, "QUANTITY": 1 + i % 3,
                 "TAX_RATE": 22, "TAX_INCLUDED": "Y"} for i in range(200)]
        d = await deal(client, s, rows)
        onec.service.request_log.clear()
        await move(rt, client, d, "FINAL_INVOICE")
        await cycle(rt)
        (o,) = orders(onec)
        assert len(o["Товары"]) == 200 and [r["LineNumber"] for r in o["Товары"]] == list(range(1, 201))
        from decimal import Decimal

        want = sum((Decimal(str(round(1 + i / 100, 2))) * (1 + i % 3)).quantize(Decimal("0.01")) for i in range(200))
        assert Decimal(str(o["СуммаДокумента"])) == want
        posts = [r for r in onec.service.request_log if r[0] == "POST" and "ЗаказКлиента" in r[1]
                 and "/Post" not in r[1]]
        assert len(posts) == 1  # the whole order with its 200 rows in one request

    scenario(steps, tmp_path, entities())


def test_rows_lost_answer_on_the_order_create_makes_one_order(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        import asyncio

        s = await seed(rt, onec, client)
        d = await deal(client, s, _rows(s, (0, 100, 1)))
        onec.inject_fault("Document_ЗаказКлиента", "lost", times=1)
        await move(rt, client, d, "FINAL_INVOICE")
        for _ in range(4):
            await cycle(rt)
            if b24.portal.t("deal").get(int(d)).get("UF_CRM_ERP_ORDER_NUMBER"):
                break
            await asyncio.sleep(1.5)
        got = orders(onec)
        assert len(got) == 1, held_reasons(rt)
        assert b24.portal.t("deal").get(int(d))["UF_CRM_ERP_ORDER_NUMBER"] == got[0]["Number"]

    scenario(steps, tmp_path, entities())

"""One bank receipt paying two orders, one linked to a deal and one not (yet): the linked part counts at once, the
unlinked part is held with its reason and the link it waits for — never dropped — and counts the moment the order
is linked (store/identity.bind puts the document back on the queue), never twice."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from b24sync.store.models import AggPart, DeadLetter, HoldWait
from tests.orders.harness import ORDERS, cycle, scenario
from tests.orders.test_orders import deal, move
from tests.payments.harness import ORDER_TYPE, comments, deal_row, parked, placed, with_payments


def _parts(rt) -> dict[str, Decimal]:  # type: ignore[no-untyped-def]
    with rt.db.connect() as conn:
        return {r.target: Decimal(r.amount) for r in conn.execute(select(AggPart.target, AggPart.amount))}


def test_receipt_of_a_linked_and_an_unlinked_order(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s, d1, o1 = await placed(rt, b24, onec, client)
        # a second order entered in 1C by hand: no deal is linked to it yet
        ref = {n: onec.find(o)[0]["Ref_Key"] for n, o in (("Организация_Key", "Catalog_Организации"),
                                                          ("Соглашение_Key", "Catalog_СоглашенияСКлиентами"),
                                                          ("Валюта_Key", "Catalog_Валюты"), ("Склад_Key", "Catalog_Склады"))}
        o2 = onec.create(ORDERS, Контрагент_Key=s["cp"]["Ref_Key"], Партнер_Key=s["partner"]["Ref_Key"],
                         СуммаДокумента=200000, Комментарий="Поставка щитов", ХозяйственнаяОперация="РеализацияКлиенту",
                         Статус="КОбеспечению", **ref)
        rows = [{"LineNumber": 1, "ОснованиеПлатежа": o1["Ref_Key"], "ОснованиеПлатежа_Type": f"StandardODATA.{ORDER_TYPE}",
                 "Сумма": 100000},
                {"LineNumber": 2, "ОснованиеПлатежа": o2["Ref_Key"], "ОснованиеПлатежа_Type": f"StandardODATA.{ORDER_TYPE}",
                 "Сумма": 50000}]
        pay = onec.register_payment(o1["Ref_Key"], 150000, incoming_number="91", incoming_date="2026-03-12T00:00:00",
                                    РасшифровкаПлатежа=rows)
        await cycle(rt)

        # the linked part counts now
        assert deal_row(b24, d1)["UF_CRM_PAID_AMOUNT"] == "100000.00|RUB"
        assert comments(b24, d1) == ["Оплата 100 000 ₽ получена 12.03.2026 (документ № 91)"]
        assert _parts(rt) == {f"order:{d1}": Decimal("100000")}
        # the unlinked part is held with its reason and the link it waits for (one entry, however often it is read)
        held = parked(rt)
        assert [k for k, _ in held] == ["held"], held
        assert "50 000 ₽" in held[0][1] and "не связан" in held[0][1], held[0][1]
        with rt.db.connect() as conn:
            assert [w for (w,) in conn.execute(select(HoldWait.wait_key))] == [f"order:erp:{o2['Ref_Key']}"]
        await rt_replay_poll(rt, onec, pay["Ref_Key"])
        assert len(parked(rt)) == 1
        assert deal_row(b24, d1)["UF_CRM_PAID_AMOUNT"] == "100000.00|RUB"
        assert len(comments(b24, d1)) == 1

        # the second order gets its deal: the held part counts there, the first deal keeps its 100 000
        d2 = await deal(client, s, [{"PRODUCT_ID": s["products"][0], "PRICE": 200000.0, "QUANTITY": 1,
                                     "TAX_RATE": 22, "TAX_INCLUDED": "Y"}])
        onec.edit(ORDERS, o2["Ref_Key"], НомерПоДаннымКлиента=d2)
        await move(rt, client, d2, "FINAL_INVOICE")
        await cycle(rt)
        assert deal_row(b24, d2)["UF_CRM_PAID_AMOUNT"] == "50000.00|RUB"
        assert deal_row(b24, d1)["UF_CRM_PAID_AMOUNT"] == "100000.00|RUB"
        assert comments(b24, d2) == ["Оплата 50 000 ₽ получена 12.03.2026 (документ № 91)"]
        assert len(comments(b24, d1)) == 1
        assert _parts(rt) == {f"order:{d1}": Decimal("100000"), f"order:{d2}": Decimal("50000")}
        assert parked(rt) == []
        with rt.db.connect() as conn:
            assert [r for (r,) in conn.execute(select(DeadLetter.resolution))] == ["replayed"]
        for _ in range(2):  # later polls change nothing
            await cycle(rt)
        assert len(comments(b24, d1)) == 1 and len(comments(b24, d2)) == 1
        assert sum(_parts(rt).values()) == Decimal("150000")

    scenario(steps, tmp_path, with_payments())


async def rt_replay_poll(rt, onec, ref: str) -> None:  # type: ignore[no-untyped-def]
    """The document read again (a poll's overlap, a forced resync): still one open hold, nothing counted twice."""
    from b24sync.engine.enqueue import enqueue_sync

    with rt.db.begin() as conn:
        enqueue_sync(conn, "payment", "erp", ref, force=True, scope=rt.spec.scope("payment"), reason="test re-read")
    await cycle(rt)


def test_receipt_row_without_a_reference_beside_a_linked_one(tmp_path: Path) -> None:
    """A row that names nothing (an advance without a basis) beside a row paying a linked order: the linked row
    counts, the other is held with its reason for a person — never dropped silently."""
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s, d1, o1 = await placed(rt, b24, onec, client)
        rows = [{"LineNumber": 1, "ОснованиеПлатежа": o1["Ref_Key"], "ОснованиеПлатежа_Type": f"StandardODATA.{ORDER_TYPE}",
                 "Сумма": 100000},
                {"LineNumber": 2, "Сумма": 7000}]
        onec.register_payment(o1["Ref_Key"], 107000, incoming_number="92", incoming_date="2026-03-12T00:00:00",
                              РасшифровкаПлатежа=rows)
        await cycle(rt)
        assert deal_row(b24, d1)["UF_CRM_PAID_AMOUNT"] == "100000.00|RUB"
        held = parked(rt)
        assert [k for k, _ in held] == ["held"] and "7 000 ₽" in held[0][1], held
        await cycle(rt)
        assert len(parked(rt)) == 1 and len(comments(b24, d1)) == 1

    scenario(steps, tmp_path, with_payments())

"""A payment that arrives before its order is linked to a deal is held — and goes through by itself the moment the
link commits (store/identity.bind releases the held records waiting for it, in the same transaction): exactly one
timeline entry, the hold closed. Also the timer (``defaults.recheck_held``) for holds no link can release."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from b24sync.store import identity
from b24sync.store import queue as jobs
from b24sync.store.models import DeadLetter, HoldWait, Job
from tests.orders.harness import ORDERS, cycle, scenario
from tests.orders.test_orders import deal, move, seed
from tests.payments.harness import comments, deal_row, parked, with_payments


def _letters(rt) -> list[tuple[str, str, str | None]]:  # type: ignore[no-untyped-def]
    with rt.db.connect() as conn:
        return [(r.entity, r.kind, r.resolution) for r in conn.execute(select(DeadLetter).order_by(DeadLetter.id))]


def test_payment_before_the_order_link_lands_once_when_the_link_commits(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s = await seed(rt, onec, client)
        d = await deal(client, s, [{"PRODUCT_ID": s["products"][0], "PRICE": 347500.0, "QUANTITY": 1,
                                    "TAX_RATE": 22, "TAX_INCLUDED": "Y"}])
        # the order was entered in 1C by hand, without the deal's number yet (НомерПоДаннымКлиента, the link field);
        # the client pays it at once
        ref = {n: onec.find(o)[0]["Ref_Key"] for n, o in (("Организация_Key", "Catalog_Организации"),
                                                          ("Соглашение_Key", "Catalog_СоглашенияСКлиентами"),
                                                          ("Валюта_Key", "Catalog_Валюты"), ("Склад_Key", "Catalog_Склады"))}
        order = onec.create(ORDERS, Контрагент_Key=s["cp"]["Ref_Key"], Партнер_Key=s["partner"]["Ref_Key"],
                            СуммаДокумента=347500, Комментарий="Поставка кабеля", ХозяйственнаяОперация="РеализацияКлиенту",
                            Статус="КОбеспечению", **ref)
        onec.register_payment(order["Ref_Key"], 100000, incoming_number="77", incoming_date="2026-03-12T00:00:00")
        await cycle(rt)
        held = parked(rt)
        assert [k for k, _ in held] == ["held"] and "не связан" in held[0][1], held
        assert comments(b24, d) == []
        with rt.db.connect() as conn:
            waits = [w for (w,) in conn.execute(select(HoldWait.wait_key))]
        assert waits == [f"order:erp:{order['Ref_Key']}"], waits

        # the accountant types the deal's number into the order, the deal goes to "Invoice": the order entity finds
        # the 1C order by its link field and links it — the held payment is taken again in the same run, no replay
        onec.edit(ORDERS, order["Ref_Key"], НомерПоДаннымКлиента=d)
        await move(rt, client, d, "FINAL_INVOICE")
        await cycle(rt)
        with rt.db.connect() as conn:
            assert identity.find(conn, "order", "crm", d).erp_id == order["Ref_Key"]
            assert list(conn.execute(select(HoldWait.wait_key))) == []
        assert deal_row(b24, d)["UF_CRM_PAID_AMOUNT"] == "100000.00|RUB", (_letters(rt), parked(rt))
        assert comments(b24, d) == ["Оплата 100 000 ₽ получена 12.03.2026 (документ № 77)"]
        assert parked(rt) == []
        assert _letters(rt) == [("payment", "held", "replayed")]
        for _ in range(2):  # later polls and replays change nothing
            await cycle(rt)
        assert len(comments(b24, d)) == 1

    scenario(steps, tmp_path, with_payments())


def test_store_release_and_recheck(tmp_path: Path) -> None:
    """Unit level: a bind with both sides releases exactly the letters waiting for it; half a link does not; the
    timer re-queues an old hold without closing it, and leaves a lane that has a job alone."""
    from b24sync.store.db import make_engine, migrate

    db = make_engine(f"sqlite:///{tmp_path / 's.db'}")
    migrate(db)
    with db.begin() as conn:
        for n, waits in ((1, ["order:erp:A"]), (2, ["order:erp:B", "company:crm:7"]), (3, [])):
            jobs.enqueue(conn, kind="sync", entity="payment", lane=f"payment:erp:{n}",
                         payload={"side": "erp", "id": str(n), "snapshot": {"values": {"x": 1}}})
    claimed = jobs.claim(db, owner="t", limit=10, lease_seconds=30)
    with db.begin() as conn:
        for j in claimed:
            waits = {"1": ["order:erp:A"], "2": ["order:erp:B", "company:crm:7"], "3": []}[j.payload["id"]]
            assert jobs.park(conn, j, kind="held", reason="ждёт связи", error_type="HoldError", waits_for=waits)
    with db.begin() as conn:
        identity.bind(conn, "order", crm_id=None, erp_id="A", match_key="k")  # half a link: nothing yet
        assert conn.execute(select(Job.id)).first() is None
        identity.bind(conn, "order", crm_id="10", erp_id="A", match_key=None)
        rows = conn.execute(select(Job.lane, Job.payload)).all()
        assert [r.lane for r in rows] == ["payment:erp:1"] and "snapshot" not in rows[0].payload
        identity.bind(conn, "company", crm_id="7", erp_id="X", match_key=None)
        assert sorted(r.lane for r in conn.execute(select(Job.lane))) == ["payment:erp:1", "payment:erp:2"]
        identity.bind(conn, "order", crm_id="11", erp_id="B", match_key=None)  # 2 released already: no second job
        assert len(conn.execute(select(Job.id)).all()) == 2
        open_ = [r.record_key for r in conn.execute(select(DeadLetter).where(DeadLetter.resolved_at.is_(None)))]
        assert open_ == ["payment:erp:3"]
        assert conn.execute(select(HoldWait.id)).first() is None
    with db.begin() as conn:
        assert jobs.recheck_held(conn, older_than_seconds=3600) == 0  # looked at just now
    with db.begin() as conn:
        assert jobs.recheck_held(conn, older_than_seconds=-1) == 1
        assert jobs.recheck_held(conn, older_than_seconds=-1) == 0  # its job waits: not a second one
        open_ = [r.record_key for r in conn.execute(select(DeadLetter).where(DeadLetter.resolved_at.is_(None)))]
        assert open_ == ["payment:erp:3"]  # still open until the job goes through

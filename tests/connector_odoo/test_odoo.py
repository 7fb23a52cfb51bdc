"""Odoo: the sandbox against a third-party client (OdooRPC, unmodified), our client on both transports, and the
example spec end to end (customers, products, orders, invoice payment state) against the Bitrix24 sandbox."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest

from b24sync.connectors.odoo.adapter import OdooAdapter, from_config
from b24sync.connectors.odoo.client import OdooClient
from b24sync.engine.errors import AuthError, NotFoundError, OutcomeUnknownError, ValidationError
from b24sync.engine.ports import ChangeCursor, ObjectRef
from b24sync.sandbox.odoo.app import OdooSandboxConfig, create_app
from b24sync.sandbox.odoo.db import Database
from b24sync.sandbox.odoo.seed import seed
from b24sync.sandbox.served import ServedApp

ROOT = Path(__file__).resolve().parents[2]
KEY = "k-odoo"
PARTNER = ObjectRef("res.partner", {"domain": [["is_company", "=", True]]})


class Clock:
    def __init__(self) -> None:
        from datetime import UTC, datetime

        self.t = datetime(2026, 11, 2, 10, 0, 0, tzinfo=UTC)

    def __call__(self):  # type: ignore[no-untyped-def]
        return self.t

    def tick(self, seconds: int = 1) -> None:
        from datetime import timedelta

        self.t += timedelta(seconds=seconds)


def adapter(version: str = "19.0", protocol: str = "auto", **cfg):  # type: ignore[no-untyped-def]
    clock = Clock()
    db = Database(clock=clock)
    seed(db)
    app = create_app(OdooSandboxConfig(version=version, api_keys={KEY: "admin"}, **cfg), db)
    a = from_config("odoo", {"url": "http://odoo.test", "database": "b24sync", "username": "admin", "api_key": KEY,
                             "protocol": protocol, "transport": httpx.ASGITransport(app=app)})
    return a, app, db, clock


def test_a_third_party_client_odoorpc_runs_unmodified_against_the_sandbox() -> None:
    odoorpc = pytest.importorskip("odoorpc")
    db = Database()
    seed(db)
    served = ServedApp(create_app(OdooSandboxConfig(version="17.0"), db))
    try:
        o = odoorpc.ODOO("127.0.0.1", port=int(served.url.rsplit(":", 1)[1]))
        assert o.db.list() == ["b24sync"]
        o.login("b24sync", "admin", "admin")
        partners = o.env["res.partner"]
        company = partners.browse(partners.search([("is_company", "=", True)], limit=1))
        assert company.vat and company.country_id.name == "Russian Federation" and company.child_ids
        new = partners.create({"name": "ООО «Новый»", "is_company": True, "vat": "7707083893"})
        partners.browse(new).write({"phone": "+7 495 000-00-00"})
        assert partners.browse(new).phone == "+7 495 000-00-00"
        orders = o.env["sale.order"]
        order = orders.browse(orders.search([("state", "=", "draft")], limit=1))
        order.action_confirm()
        assert orders.browse(order.id).state == "sale"
        moves = o.env["account.move"].search_read([("move_type", "=", "out_invoice")], ["name", "payment_state"])
        assert {m["payment_state"] for m in moves} == {"paid", "partial"}
        with pytest.raises(odoorpc.error.RPCError, match="does not seem to be valid"):
            partners.create({"name": "ООО «Плохой ИНН»", "vat": "7707083890"})
    finally:
        served.stop()


@pytest.mark.parametrize("version,protocol", [("19.0", "json2"), ("17.0", "jsonrpc"), ("19.0", "auto"),
                                              ("22.0", "auto"), ("18.0", "auto")])
def test_both_transports_read_create_update_and_find(version: str, protocol: str) -> None:
    a, _, db, clock = adapter(version, protocol)

    async def go() -> None:
        rid = await a.create(PARTNER, {"name": "ООО «Тест»", "is_company": True, "vat": "7736207543"})
        clock.tick()
        await a.update(PARTNER, rid, {"email": "a@b.ru"})
        rec = await a.get(PARTNER, rid)
        assert rec is not None and rec.values["email"] == "a@b.ru" and rec.values["country_id"] == 1
        assert rec.values["phone"] is None  # Odoo's False is the engine's None
        assert [r.id for r in await a.find(PARTNER, {"vat": "7736207543"})] == [rid]
        assert await a.exists(PARTNER, {"vat": "7736207543"})
        await a.aclose()

    asyncio.run(go())
    expected = {"json2": "json2", "jsonrpc": "jsonrpc"}.get(protocol) or ("json2" if version >= "19" else "jsonrpc")
    assert a.client.protocol == expected


def test_errors_map_to_the_engine_vocabulary() -> None:
    a, _, _, _ = adapter("19.0", "json2")

    async def go() -> None:
        with pytest.raises(ValidationError, match="does not seem to be valid"):
            await a.create(PARTNER, {"name": "X", "vat": "7707083890"})
        with pytest.raises(NotFoundError):
            await a.client.call("res.partner", "write", ids=[99999], vals={"name": "x"})
        with pytest.raises(ValidationError, match="Invalid field"):
            await a.client.call("res.partner", "search_read", domain=[["no_such_field", "=", 1]])
        await a.aclose()
        bad = from_config("odoo", {"url": "http://odoo.test", "database": "b24sync", "username": "admin",
                                   "api_key": "wrong", "protocol": "json2",
                                   "transport": a.client.http._transport})
        with pytest.raises(AuthError):
            await bad.client.call("res.partner", "search_count", domain=[])

    asyncio.run(go())


def test_a_create_whose_answer_was_lost_is_outcome_unknown_and_a_read_retries() -> None:
    a, _, db, _ = adapter("19.0", "json2", lost_answer_rate=1.0)

    async def go() -> None:
        before = len(db.tables["res.partner"])
        with pytest.raises(OutcomeUnknownError):
            await a.create(PARTNER, {"name": "ООО «Потерянный ответ»", "is_company": True})
        assert len(db.tables["res.partner"]) == before + 1  # it was applied: the engine must look it up
        found = await a.find(PARTNER, {"name": "ООО «Потерянный ответ»"})
        assert len(found) == 1
        await a.aclose()

    asyncio.run(go())
    flaky, _, _, _ = adapter("19.0", "json2", fail_rate=0.5, seed=3)
    flaky.client.rng.seed(1)

    async def reads() -> None:
        flaky.client.read_attempts = 12
        for _ in range(10):
            assert await flaky.client.call("res.partner", "search_count", domain=[]) >= 8
        await flaky.aclose()

    import b24sync.connectors.odoo.client as client_mod

    real_sleep = client_mod.asyncio.sleep

    async def no_sleep(_s: float) -> None:
        await real_sleep(0)

    client_mod.asyncio.sleep = no_sleep  # type: ignore[assignment]
    try:
        asyncio.run(reads())
    finally:
        client_mod.asyncio.sleep = real_sleep  # type: ignore[assignment]


def test_a_poll_rereads_the_overlap_so_a_late_commit_behind_the_cursor_is_not_lost() -> None:
    a, app, db, clock = adapter("19.0", "json2")

    async def go() -> None:
        page = await a.read_changes(PARTNER, ChangeCursor(), overlap_seconds=120, limit=500)
        cursor = page.cursor
        assert len(page.records) == 8
        clock.tick(30)
        # a long transaction that started 60 s ago commits now: its write_date is behind the cursor
        app.state.server.cfg.backdate_seconds = 60
        rid = await a.create(PARTNER, {"name": "ООО «Поздний»", "is_company": True})
        app.state.server.cfg.backdate_seconds = 0
        again = await a.read_changes(PARTNER, cursor, overlap_seconds=120, limit=500)
        assert rid in {r.id for r in again.records}
        await a.aclose()

    asyncio.run(go())


def test_a_poll_pages_through_ties_of_one_write_date() -> None:
    a, _, db, clock = adapter("19.0", "json2")

    async def go() -> None:
        for i in range(23):  # one bulk import: every row has the same second
            await a.create(PARTNER, {"name": f"ООО «Импорт {i}»", "is_company": True})
        seen, cursor, more = [], ChangeCursor(), True
        while more:
            page = await a.read_changes(PARTNER, cursor, overlap_seconds=0, limit=5)
            seen += [r.id for r in page.records]
            cursor, more = page.cursor, page.more
        assert len(seen) == 31 and len(set(seen)) == 31
        await a.aclose()

    asyncio.run(go())


def test_the_odoo_example_syncs_customers_products_orders_and_invoice_payment_state(tmp_path: Path) -> None:
    from b24sync.compose import build
    from b24sync.engine.scheduler import poll_once
    from b24sync.engine.service import RunOptions, run
    from b24sync.rehearsal.prepare import prepare
    from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox
    from b24sync.spec.loader import load_spec

    db = Database()
    seed(db)
    odoo = ServedApp(create_app(OdooSandboxConfig(api_keys={KEY: "admin"}), db))
    b24 = Bitrix24Sandbox(rate=None)
    b24.start()
    text = (ROOT / "examples" / "odoo.yaml").read_text(encoding="utf-8")
    env = {v: "x" for v in re.findall(r"\$\{([A-Z_]+)\}", text)}
    env.update(B24_WEBHOOK_URL=b24.webhook_url, ODOO_URL=odoo.url, ODOO_DB="b24sync", ODOO_USER="admin",
               ODOO_API_KEY=KEY)
    spec = load_spec(ROOT / "examples" / "odoo.yaml", env)
    rt = build(spec, database_url=f"sqlite:///{tmp_path / 'state.db'}")

    async def cycle() -> None:
        from b24sync.store import queue as jobs

        for name in spec.entities:
            await poll_once(rt, name, "erp")
        await run(rt, RunOptions(once=True, poll=False))
        for _ in range(20):  # an invoice whose company is linked in the same cycle waits for it (deferred), as in
            if not jobs.depth(rt.db):  # a running service; --once stops when nothing is due
                break
            await asyncio.sleep(0.5)
            await run(rt, RunOptions(once=True, poll=False))

    async def go() -> None:
        await prepare(rt, spec, None)
        await cycle()
        c = rt.adapters["bitrix24"].client  # type: ignore[attr-defined]
        invoices = (await c.call("crm.item.list", {"entityTypeId": 31, "select": ["*"]}))["items"]
        posted = [m for m in db.tables["account.move"].values() if m["state"] == "posted"]
        assert sorted(i["accountNumber"] for i in invoices) == sorted(m["name"] for m in posted)
        stage = {i["accountNumber"]: i["stageId"] for i in invoices}
        for m in posted:
            assert stage[m["name"]] == ("DT31_2:P" if m["payment_state"] == "paid" else "DT31_2:S")
            assert any(i["companyId"] for i in invoices if i["accountNumber"] == m["name"])
        deals = await c.call("crm.deal.list", {"select": ["ID", "TITLE", "STAGE_ID", "COMPANY_ID", "OPPORTUNITY"]})
        assert len(deals) == len(db.tables["sale.order"]) and all(d["COMPANY_ID"] not in (None, "0") for d in deals)
        # a partial invoice is paid in full in Odoo → its smart invoice moves to "paid" on the next cycle
        partial = next(m for m in posted if m["payment_state"] == "partial")
        db.register_payment(partial["id"], None, db.tx_time())
        draft = next(o for o in db.tables["sale.order"].values() if o["state"] == "draft")
        db.call_method("sale.order", "action_confirm", [draft["id"]], 2, db.tx_time())
        await cycle()
        invoices = (await c.call("crm.item.list", {"entityTypeId": 31, "select": ["*"]}))["items"]
        assert {i["accountNumber"]: i["stageId"] for i in invoices}[partial["name"]] == "DT31_2:P"
        deals = await c.call("crm.deal.list", {"select": ["ID", "TITLE", "STAGE_ID"]})
        assert {d["TITLE"]: d["STAGE_ID"] for d in deals}[draft["name"]] == "EXECUTING"
        await rt.aclose()

    try:
        asyncio.run(go())
    finally:
        b24.stop()
        odoo.stop()

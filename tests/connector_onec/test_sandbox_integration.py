"""The OData connector, the 1C HTTP preset/adapter and the inbound endpoint against the 1C sandbox
(b24sync.sandbox.onec, written independently from the connector). Real HTTP on 127.0.0.1, ephemeral ports."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

sandbox_mod = pytest.importorskip("b24sync.sandbox.onec")

from typer.testing import CliRunner  # noqa: E402

from b24sync.cli.main import app as main_cli  # noqa: E402
from b24sync.connectors.http_json import from_config as http_json_from_config  # noqa: E402
from b24sync.connectors.onec.odata import F, ODataClient, from_config  # noqa: E402
from b24sync.connectors.onec.odata.errors import ODataHandlerError, ResponseTooLargeError  # noqa: E402
from b24sync.engine.errors import AuthError, ConflictError, NotFoundError, ValidationError  # noqa: E402
from b24sync.engine.ports import ChangeCursor, ObjectRef  # noqa: E402
from b24sync.store.kv import MemoryState  # noqa: E402

OneCSandbox = sandbox_mod.OneCSandbox
CP = ObjectRef("counterparties")
ORDERS = ObjectRef("customer_orders")


@pytest.fixture(scope="module")
def sb():
    s = OneCSandbox(user="odata", password="secret", base="trade", seed_counterparties=10_000)
    s.start()
    yield s
    s.stop()


def adapter(sb, **extra):
    return from_config("erp", {"url": sb.odata_url, "username": "odata", "password": "secret", "preset": "ut11",
                               **extra})


def run(coro):
    return asyncio.run(coro)


def test_paging_through_10000_counterparties(sb):
    async def go():
        async with ODataClient(sb.odata_url, username="odata", password="secret", page_size=1000) as c:
            keys = [r["Ref_Key"] async for r in c.iter_all("Catalog_Контрагенты", select=["Ref_Key", "ИНН"])]
            total = (await c.query("Catalog_Контрагенты", top=0, inlinecount=True)).count
            return keys, total

    keys, total = run(go())
    assert total >= 10_000
    assert len(keys) == total and len(set(keys)) == total  # no row twice, none missed


def test_auth_failure_is_clear(sb):
    async def go():
        async with ODataClient(sb.odata_url, username="odata", password="wrong") as c:
            await c.query("Catalog_Склады", top=1)

    with pytest.raises(AuthError) as ei:
        run(go())
    assert "401" in ei.value.reason and "credentials" in ei.value.reason


def test_unknown_field_and_filter_syntax_are_validation_errors(sb):
    async def go():
        async with ODataClient(sb.odata_url, username="odata", password="secret") as c:
            with pytest.raises(ValidationError) as e1:
                await c.query("Catalog_Контрагенты", select=["НетТакогоПоля"], top=1)
            with pytest.raises(ValidationError) as e2:
                await c.query("Catalog_Контрагенты", filter="ИНН eq '1' and (", top=1)
            with pytest.raises(NotFoundError):
                await c.get("Catalog_Контрагенты", "00000000-0000-0000-0000-0000000000ab")
            return e1.value, e2.value

    e1, e2 = run(go())
    assert e1.detail["code"] == "6" and e2.detail["code"] == "14"


def test_find_by_inn_and_filter_escaping(sb):
    row = next(r for r in sb.find("Catalog_Контрагенты") if r.get("ИНН"))

    async def go():
        a = adapter(sb)
        try:
            found = await a.find(CP, {"inn": row["ИНН"]})
            quoted = await a.find(CP, {"Description": "O'Neil & Co 100%"})
            return found, quoted
        finally:
            await a.aclose()

    found, quoted = run(go())
    assert row["Ref_Key"] in [r.id for r in found]
    assert quoted == []


def test_plus_sign_inside_a_literal(sb):
    async def go():
        async with ODataClient(sb.odata_url, username="odata", password="secret") as c:
            return await c.query("Catalog_Контрагенты", filter=F.eq("Description", "a+b"), top=1)

    assert run(go()).rows == []


def test_write_guard_detects_concurrent_edit_in_1c(sb):
    ref = next(r for r in sb.find("Catalog_Контрагенты") if r.get("ИНН"))["Ref_Key"]

    async def go():
        a = adapter(sb)
        try:
            synced = await a.get(CP, ref)
            sb.edit("Catalog_Контрагенты", ref, Description="Изменено бухгалтером в 1С")  # concurrent edit
            with pytest.raises(ConflictError) as ei:
                await a.update(CP, ref, {"name": "Из Битрикс24"}, expected_version=synced.version)
            after = await a.get(CP, ref)
            assert after.values["Description"] == "Изменено бухгалтером в 1С"  # the 1C edit survived
            # after re-reading, a write with the current version goes through
            returned = await a.update(CP, ref, {"name": "Из Битрикс24"}, expected_version=after.version)
            final = await a.get(CP, ref)
            assert final.values["Description"] == "Из Битрикс24" and final.version != after.version
            assert returned == final.version
            return ei.value
        finally:
            await a.aclose()

    err = run(go())
    assert err.detail["current"] != err.detail["expected"]


def test_posted_document_and_handler_failure(sb):
    cp = next(r for r in sb.find("Catalog_Контрагенты") if r.get("Партнер_Key"))
    item = next(r for r in sb.find("Catalog_Номенклатура") if not r.get("IsFolder"))

    async def go():
        a = adapter(sb)
        try:
            rid = await a.create(ORDERS, {"counterparty": cp["Ref_Key"], "partner": cp["Партнер_Key"],
                                          "Date": "2026-11-20T10:00:00",
                                          "items": [{"Номенклатура_Key": item["Ref_Key"], "Количество": 2,
                                                     "Цена": 150, "Сумма": 300}],
                                          "Posted": True})
            doc = await a.get(ORDERS, rid)
            assert doc.values["Posted"] is True
            assert [r["LineNumber"] for r in doc.values["Товары"]] in (["1"], [1])
            await a.update(ORDERS, rid, {"Posted": False})
            assert (await a.get(ORDERS, rid)).values["Posted"] is False
            sb.fail_posting("Document_ЗаказКлиента", "Ошибка при выполнении обработчика - 'ОбработкаПроведения': склад не указан")
            try:
                with pytest.raises(ODataHandlerError) as ei:
                    await a.post(ORDERS, rid)
            finally:
                sb.fail_posting("Document_ЗаказКлиента", None)
            return ei.value
        finally:
            await a.aclose()

    err = run(go())
    assert "склад не указан" in err.reason


def test_virtual_table_balance(sb):
    async def go():
        a = adapter(sb)
        try:
            all_rows = await a.find(ObjectRef("stock"), {})
            wh = next(r.values["Склад_Key"] for r in all_rows if r.values.get("ВНаличииBalance"))
            one = await a.find(ObjectRef("stock"), {"warehouse": wh})
            prices = await a.find(ObjectRef("prices"), {})
            return all_rows, one, prices
        finally:
            await a.aclose()

    rows, one_wh, prices = run(go())
    assert rows and all("ВНаличииBalance" in r.values for r in rows)
    wh = one_wh[0].values["Склад_Key"] if one_wh else None
    assert one_wh and all(r.values["Склад_Key"] == wh for r in one_wh)  # Condition applied inside the calculation
    assert len(one_wh) < len(rows)
    assert prices and all("Цена" in r.values for r in prices)


@pytest.mark.parametrize("fmt", ["atom", "json"])
def test_change_package_crash_before_ack_rereads_nothing_lost(sb, fmt):
    node = sb.add_exchange_node(f"B24-{fmt}", "b24sync")
    refs = [r["Ref_Key"] for r in sb.find("Catalog_Контрагенты")[:6]]

    async def go():
        # drain whatever earlier tests registered for this fresh node (nothing: registrations start now)
        for ref in refs[:3]:
            sb.edit("Catalog_Контрагенты", ref, Комментарий=f"wave1 {fmt}")
        a = adapter(sb, exchange_plan="ОбменСB24", nodes={"counterparties": node}, changes_format=fmt)
        p1 = await a.read_changes(CP, ChangeCursor(), overlap_seconds=0, limit=100)
        assert set(refs[:3]) <= {r.id for r in p1.records}
        await a.aclose()  # crash: never acknowledged
        sb.edit("Catalog_Контрагенты", refs[3], Комментарий=f"wave2 {fmt}")
        b = adapter(sb, exchange_plan="ОбменСB24", nodes={"counterparties": node}, changes_format=fmt)
        p2 = await b.read_changes(CP, ChangeCursor(), overlap_seconds=0, limit=100)
        got = {r.id for r in p2.records}
        assert set(refs[:4]) <= got  # the unacknowledged package came again, with the new change
        assert p2.cursor.token == p1.cursor.token
        rec = next(r for r in p2.records if r.id == refs[3])
        assert rec.values["Комментарий"] == f"wave2 {fmt}" and rec.version
        await b.acknowledge(CP, p2)
        p3 = await b.read_changes(CP, p2.cursor, overlap_seconds=0, limit=100)
        assert p3.records == [] and not p3.more
        sb.edit("Catalog_Контрагенты", refs[5], Комментарий=f"wave3 {fmt}")
        p4 = await b.read_changes(CP, p3.cursor, overlap_seconds=0, limit=100)
        assert [r.id for r in p4.records] == [refs[5]]
        assert int(p4.cursor.token) == int(p2.cursor.token) + 1
        await b.acknowledge(CP, p4)
        await b.aclose()

    run(go())


def test_change_package_size_bound_then_read(sb):
    node = sb.add_exchange_node("B24-bound", "bound")
    refs = [r["Ref_Key"] for r in sb.find("Catalog_Контрагенты")[:20]]
    for ref in refs:
        sb.edit("Catalog_Контрагенты", ref, Комментарий="x" * 200)

    async def go():
        small = adapter(sb, exchange_plan="ОбменСB24", node=node, max_package_bytes=2000)
        with pytest.raises(ResponseTooLargeError) as ei:
            await small.read_changes(CP, ChangeCursor(), overlap_seconds=0, limit=100)
        await small.aclose()
        big = adapter(sb, exchange_plan="ОбменСB24", node=node)
        p = await big.read_changes(CP, ChangeCursor(), overlap_seconds=0, limit=100)
        await big.acknowledge(CP, p)
        await big.aclose()
        return ei.value, p

    err, page = run(go())
    assert "2000-byte limit" in err.reason
    assert set(refs) <= {r.id for r in page.records}  # nothing was lost by the refused read


def test_dataversion_scan_fallback(sb):
    state = MemoryState()
    obj = ObjectRef("warehouses")

    async def full_pass(a):
        cur, ids = ChangeCursor(), []
        while True:
            p = await a.read_changes(obj, cur, overlap_seconds=0, limit=1)
            ids += [r.id for r in p.records]
            await a.acknowledge(obj, p)
            cur = p.cursor
            if not p.more:
                return ids

    async def go():
        a = adapter(sb, state=state)
        try:
            first = await full_pass(a)
            assert len(first) >= 2
            assert await full_pass(a) == []
            sb.edit("Catalog_Склады", first[1], Description="Склад переименован")
            assert await full_pass(a) == [first[1]]
        finally:
            await a.aclose()

    run(go())


def test_discover_cli(sb):
    res = CliRunner().invoke(main_cli, ["onec", "discover", "--url", sb.odata_url, "--user", "odata", "--password",
                                        "secret", "--json", "--like", "Контрагенты"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    fields = {f["name"]: f["type"] for f in data["Catalog_Контрагенты"]["fields"]}
    assert fields["Ref_Key"] == "Edm.Guid" and "ИНН" in fields and "Code" not in fields
    assert data["Catalog_Контрагенты"]["keys"] == ["Ref_Key"]
    table = CliRunner().invoke(main_cli, ["onec", "discover", "--url", sb.odata_url, "--user", "odata", "--password",
                                          "secret", "--like", "Склады", "--no-fields"])
    assert table.exit_code == 0 and "Catalog_Склады" in table.output
    bad = CliRunner().invoke(main_cli, ["onec", "discover", "--url", sb.odata_url, "--user", "odata", "--password", "x"])
    assert bad.exit_code == 2
    # the quick start's exports are enough (README: ONEC_ODATA_URL, ONEC_USER, ONEC_PASSWORD)
    env = {"ONEC_ODATA_URL": sb.odata_url, "ONEC_USER": "odata", "ONEC_PASSWORD": "secret"}
    by_env = CliRunner().invoke(main_cli, ["onec", "discover", "--like", "Склады", "--no-fields"], env=env)
    assert by_env.exit_code == 0 and "Catalog_Склады" in by_env.output, by_env.output


def test_http_json_adapter_against_1c_http_service(sb):
    item = next(r for r in sb.find("Catalog_Номенклатура") if r.get("Артикул"))
    cp = next(r for r in sb.find("Catalog_Контрагенты") if r.get("ИНН") and r.get("Партнер_Key"))
    cfg = {
        "base_url": sb.hs_url + "b24",
        "auth": {"type": "basic", "username": "odata", "password_env": "ONEC_PW"},
        "environ": {"ONEC_PW": "secret"},
        "objects": {
            "counterparties": {"find": {"path": "/counterparties", "criteria_query": True, "items": "items",
                                        "id": "ref"}},
            "orders": {
                "create": {"method": "POST", "path": "/orders", "id": "ref", "error_message": "error.message",
                           "body": {"external_id": "{values.external_id}", "counterparty_inn": "{values.inn}"},
                           "body_fields": {"items[0].sku": "values.sku", "items[0].qty": "values.qty",
                                           "items[0].price": "values.price"}},
                "get": {"path": "/orders/{id}/status", "id": "ref", "error_message": "error.message"},
            },
        },
    }

    async def go():
        a = http_json_from_config("1c-hs", cfg)
        try:
            found = await a.find(ObjectRef("counterparties"), {"inn": cp["ИНН"]})
            assert [r.id for r in found] == [cp["Ref_Key"]]
            values = {"external_id": f"B24-{time.time_ns()}", "inn": cp["ИНН"], "sku": item["Артикул"],
                      "qty": 2, "price": 100}
            ref = await a.create(ObjectRef("orders"), values)
            assert ref
            with pytest.raises(ConflictError) as dup:
                await a.create(ObjectRef("orders"), values)  # 409 from the service: same external id
            with pytest.raises(ValidationError) as bad:
                await a.create(ObjectRef("orders"), {"external_id": "x"})
            return ref, dup.value, bad.value
        finally:
            await a.aclose()

    ref, dup, bad = run(go())
    assert "409" in dup.reason and "400" in bad.reason
    order = next(o for o in sb.find("Document_ЗаказКлиента") if o["Ref_Key"] == ref)
    assert order["Posted"] is True


def test_inbound_events_from_sandbox(sb):
    import uvicorn
    from fastapi import FastAPI

    from b24sync.connectors.onec.http import inbound_router

    got, seen_ids = [], set()

    def seen(d):
        if d in seen_ids:
            return True
        seen_ids.add(d)
        return False

    app = FastAPI()
    app.include_router(inbound_router(on_event=got.append, seen=seen, secret="hook-secret"))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}/onec/events"
    try:
        sb.push_event(url, "payment.posted", {"sum": 1500}, secret="hook-secret", mode="hmac")
        assert len(got) == 1 and got[0].event == "payment.posted" and got[0].data.get("sum") == 1500
        # a forged signature is refused
        sb.push_event(url, "payment.posted", {"sum": 1}, secret="wrong-secret", mode="hmac")
        assert len(got) == 1
        # duplicates (the same delivery id re-sent) are acknowledged without re-processing
        sb.configure_events(url, secret="hook-secret", mode="hmac")
        order = next(o for o in sb.find("Document_ЗаказКлиента") if o.get("Posted"))
        sb.set_order_status(order["Ref_Key"], "Закрыт" if order["Статус"] != "Закрыт" else "КОтгрузке")
        deadline = time.time() + 5
        while time.time() < deadline and not any(e.event == "order.status_changed" for e in got):
            time.sleep(0.05)
        ev = next(e for e in got if e.event == "order.status_changed")
        n = len(got)
        import httpx

        body = json.dumps(ev.raw, ensure_ascii=False).encode()
        from b24sync.connectors.onec.http import signed_headers

        r = httpx.post(url, content=body, headers=signed_headers("hook-secret", body, ev.delivery_id))
        assert r.status_code == 200 and r.json()["status"] == "duplicate" and len(got) == n
    finally:
        sb.configure_events(None)
        server.should_exit = True
        t.join(5)

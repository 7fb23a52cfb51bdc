"""HTTP services, event webhooks and the 1C side of the CommerceML exchange."""

import hashlib
import hmac
import json
import socket
import threading
import time

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route


def _serve(app):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="off"))
    thread = threading.Thread(target=lambda: server.run(sockets=[sock]), daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    return server, f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_http_services(sb):
    c = httpx.Client(auth=("odata", "secret"))
    created = c.post(sb.hs_url + "b24/orders", json={"counterparty_inn": sb.get("Catalog_Контрагенты", sb.ids["counterparties"][2])["ИНН"],
                                                      "external_id": "B24-77", "items": [{"sku": "RUCH-SIN-01", "qty": 3, "price": 25}]})
    assert created.status_code == 201 and created.json()["posted"] is True
    status = c.get(sb.hs_url + f"b24/orders/{created.json()['number']}/status").json()
    assert status["status"] == "КОбеспечению" and status["sum"] == 75
    assert c.post(sb.hs_url + "b24/orders", json={"counterparty_inn": status and sb.get("Catalog_Контрагенты", sb.ids["counterparties"][2])["ИНН"],
                                                  "external_id": "B24-77", "items": [{"sku": "RUCH-SIN-01"}]}).status_code == 409
    assert c.get(sb.hs_url + "b24/orders/НЕТ-1/status").status_code == 404
    assert httpx.get(sb.hs_url + "b24/ping").status_code == 401


def test_events_pushed_with_hmac(fresh):
    got = []

    async def hook(request: Request):
        got.append((dict(request.headers), await request.body()))
        return Response(status_code=204)

    server, url = _serve(Starlette(routes=[Route("/hook", hook, methods=["POST"])]))
    try:
        fresh.configure_events(url + "/hook", secret="s3cret")
        order = fresh.ids["orders"][1]
        fresh.set_order_status(order, "Закрыт")
        fresh.register_payment(order)
        fresh.events.flush()
        kinds = [h["x-1c-event"] for h, _ in got]
        assert kinds == ["order.status_changed", "payment.posted"]
        for headers, body in got:
            signed = f"{headers['x-1c-delivery-id']}.{headers['x-1c-timestamp']}.".encode() + body
            expected = hmac.new(b"s3cret", signed, hashlib.sha256).hexdigest()
            assert headers["x-1c-signature"] == "sha256=" + expected
            assert json.loads(body)["id"] == headers["x-1c-delivery-id"]
        d = fresh.push_event(url + "/hook", "shipment.posted", {"n": 1}, secret="k", mode="shared")
        assert d.status == 204 and got[-1][0]["x-1c-secret"] == "k"
    finally:
        server.should_exit = True


def test_commerceml_catalog_and_orders(sb):
    state = {"files": {}, "imports": 0, "exported": False}
    orders_xml = ('<?xml version="1.0" encoding="UTF-8"?><КоммерческаяИнформация ВерсияСхемы="2.05"><Документ><Ид>15</Ид>'
                  '<Номер>15</Номер><Дата>2026-03-01</Дата><Сумма>50.00</Сумма><Контрагенты><Контрагент>'
                  '<Наименование>ООО Ромашка</Наименование><ИНН>7707083893</ИНН></Контрагент></Контрагенты><Товары><Товар>'
                  '<Ид>x</Ид><Артикул>RUCH-SIN-01</Артикул><Наименование>Ручка</Наименование><ЦенаЗаЕдиницу>25</ЦенаЗаЕдиницу>'
                  '<Количество>2</Количество><Сумма>50</Сумма></Товар></Товары></Документ></КоммерческаяИнформация>')

    async def exchange(request: Request):
        q = request.query_params
        mode = q["mode"]
        if mode == "checkauth":
            ok = request.headers.get("authorization") == httpx.BasicAuth("site", "pw")._auth_header
            return PlainTextResponse("success\nPHPSESSID\nabc\nsessid=42" if ok else "failure\nbad login")
        assert request.headers.get("cookie") == "PHPSESSID=abc" and q.get("sessid") == "42"
        if mode == "init":
            return PlainTextResponse("zip=no\nfile_limit=2000")
        if mode == "file":
            body = await request.body()
            state["files"][q["filename"]] = state["files"].get(q["filename"], b"") + body
            return PlainTextResponse("success")
        if mode == "import":
            state["imports"] += 1
            return PlainTextResponse("progress" if state["imports"] % 2 else "success")
        if mode == "query":
            return Response(orders_xml.encode("utf-8"), media_type="application/xml")
        if mode == "success":
            state["exported"] = True
            return PlainTextResponse("success")
        return PlainTextResponse("failure\nunknown mode")

    server, url = _serve(Starlette(routes=[Route("/exchange", exchange, methods=["GET", "POST"])]))
    try:
        files = sb.generate_commerceml()
        report = sb.exchange_catalog(url + "/exchange", "site", "pw", files)
        assert state["files"] == files  # chunks of file_limit appended back to the same bytes
        assert max(size for _, size in report.uploads) <= 2000 and len(report.uploads) > 2
        assert report.import_calls == {"import.xml": 2, "offers.xml": 2}
        assert "КоммерческаяИнформация" in files["import.xml"].decode("utf-8-sig")
        assert "BUM-A4-500" in files["offers.xml"].decode("utf-8-sig")
        orders = sb.pull_orders(url + "/exchange", "site", "pw", import_orders=True)
        assert state["exported"] and orders[0]["number"] == "15" and orders[0]["items"][0]["qty"] == "2"
        doc = sb.get("Document_ЗаказКлиента", orders[0]["ref"])
        assert doc["НомерПоДаннымКлиента"] == "15" and doc["Товары"][0]["Количество"] == 2
    finally:
        server.should_exit = True

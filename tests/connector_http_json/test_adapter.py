import asyncio
import base64
import json
from datetime import datetime, timezone
from urllib.parse import parse_qsl

import httpx
import pytest
from pydantic import ValidationError as PydanticValidationError

from b24sync.connectors.http_json import HttpJsonConfig, from_config
from b24sync.connectors.registry import build_adapter
from b24sync.engine.errors import (AuthError, ConflictError, PermanentError, RetryableError,
                                   ValidationError)
from b24sync.engine.ports import ChangeCursor, ObjectRef, SystemAdapter

ORDERS = ObjectRef("orders")


class FakeERP:
    def __init__(self, n=0):
        self.rows = {str(i): {"id": i, "number": f"N{i}", "status": "new", "ver": 1,
                              "updated_at": f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z"} for i in range(1, n + 1)}
        self.requests = []
        self.acked = []

    def handler(self, request: httpx.Request):
        self.requests.append(request)
        if request.headers.get("X-Api-Key") != "k-123":
            return httpx.Response(401, json={"error": {"message": "bad key"}})
        path = request.url.path
        q = dict(parse_qsl(request.url.query.decode()))
        if path == "/api/orders" and request.method == "GET":
            rows = sorted(self.rows.values(), key=lambda r: r["id"])
            if "number" in q:
                rows = [r for r in rows if r["number"] == q["number"]]
            if "since" in q:
                since = datetime.fromisoformat(q["since"])
                rows = [r for r in rows if datetime.fromisoformat(r["updated_at"].replace("Z", "+00:00")) >= since]
            if "cursor" in q or "limit" in q:
                start = int(q.get("cursor") or 0)
                lim = int(q.get("limit", 100))
                page = rows[start:start + lim]
                nxt = start + lim if start + lim < len(rows) else None
                return httpx.Response(200, json={"data": {"items": page}, "next": nxt})
            return httpx.Response(200, json={"data": {"items": rows}})
        if path == "/api/orders" and request.method == "POST":
            body = json.loads(request.content)
            if not body["order"].get("number"):
                return httpx.Response(422, json={"error": {"message": "number required"}})
            i = len(self.rows) + 1
            self.rows[str(i)] = {"id": i, **body["order"], "ver": 1}
            return httpx.Response(201, json={"result": {"id": i}})
        if path == "/api/orders/ack":
            self.acked.append(json.loads(request.content))
            return httpx.Response(204)
        if path.startswith("/api/orders/"):
            key = path.rsplit("/", 1)[1]
            row = self.rows.get(key)
            if row is None:
                return httpx.Response(404, json={"error": {"message": "no such order"}})
            if request.method == "GET":
                return httpx.Response(200, json={"data": row})
            if request.method == "PATCH":
                im = request.headers.get("If-Match")
                if im is not None and im != str(row["ver"]):
                    return httpx.Response(412)
                row.update(json.loads(request.content)["order"])
                row["ver"] += 1
                return httpx.Response(200, json={"data": row})
        if path == "/api/boom":
            return httpx.Response(503, headers={"Retry-After": "12"})
        return httpx.Response(400)


def config(fake, paging="cursor"):
    changes = {"method": "GET", "path": "/orders", "items": "data.items", "modified": "updated_at",
               "version": "ver", "query": {"since": "{since}", "limit": "{limit}"}}
    if paging == "cursor":
        changes["query"]["cursor"] = "{token}"
        changes["paging"] = {"type": "cursor", "next": "next"}
    return {
        "base_url": "http://erp.local/api",
        "auth": {"type": "header", "header": "X-Api-Key", "value_env": "ERP_KEY"},
        "environ": {"ERP_KEY": "k-123"},
        "transport": httpx.MockTransport(fake.handler),
        "objects": {"orders": {
            "get": {"path": "/orders/{id}", "record": "data", "version": "ver"},
            "find": {"path": "/orders", "query": {"number": "{criteria.number}"}, "items": "data.items"},
            "create": {"method": "POST", "path": "/orders", "body": {"order": {"number": "{values.number}"}},
                       "body_fields": {"order.lines[0].qty": "values.qty"}, "record": "result",
                       "error_message": "error.message"},
            "update": {"method": "PATCH", "path": "/orders/{id}", "body": {"order": "{values}"},
                       "version_guard": "if-match", "record": "data", "version": "ver"},
            "changes": changes,
            "ack": {"method": "POST", "path": "/orders/ack", "body": {"ids": "{ids}"}},
        }},
    }


def run(c):
    return asyncio.run(c)


def test_models_validate_and_registry():
    fake = FakeERP()
    a = build_adapter("erp", "http-json", {**config(fake), "state": object()})  # the composer injects state
    assert isinstance(a, SystemAdapter)
    with pytest.raises(PydanticValidationError):
        HttpJsonConfig.model_validate({"base_url": "ftp://x"})
    with pytest.raises(PydanticValidationError):
        HttpJsonConfig.model_validate({"base_url": "http://x", "auth": {"type": "bearer"}})
    with pytest.raises(PydanticValidationError):
        HttpJsonConfig.model_validate({"base_url": "http://x", "objects": {"o": {"get": {"path": "/x",
                                                                                         "items": "a..b"}}}})
    with pytest.raises(PydanticValidationError):
        HttpJsonConfig.model_validate({"base_url": "http://x", "objects": {"o": {"nope": {"path": "/x"}}}})


def test_crud_and_guard():
    fake = FakeERP(3)

    async def go():
        a = from_config("erp", config(fake))
        rec = await a.get(ORDERS, "2")
        assert rec.id == "2" and rec.version == "1" and rec.values["number"] == "N2"
        assert await a.get(ORDERS, "99") is None
        assert [r.id for r in await a.find(ORDERS, {"number": "N3"})] == ["3"]
        assert await a.exists(ORDERS, {"number": "N1"}) and not await a.exists(ORDERS, {"number": "zz"})
        new_id = await a.create(ORDERS, {"number": "N9", "qty": 5})
        assert json.loads(fake.requests[-1].content) == {"order": {"number": "N9", "lines": [{"qty": 5}]}}
        assert new_id == "4"
        assert await a.update(ORDERS, "2", {"status": "paid"}, expected_version="1") == "2"
        assert fake.requests[-1].headers["If-Match"] == "1"
        with pytest.raises(ConflictError):
            await a.update(ORDERS, "2", {"status": "x"}, expected_version="1")  # now ver 2
        with pytest.raises(ValidationError) as ei:
            await a.create(ORDERS, {"number": ""})
        assert "number required" in ei.value.reason
        await a.aclose()

    run(go())


def test_auth_failure_and_basic_bearer():
    fake = FakeERP(1)
    cfg = config(fake)
    cfg["environ"] = {"ERP_KEY": "wrong"}

    async def go():
        a = from_config("erp", cfg)
        with pytest.raises(AuthError):
            await a.get(ORDERS, "1")
        await a.aclose()

    run(go())
    cfg["environ"] = {}
    with pytest.raises(AuthError, match="ERP_KEY"):
        from_config("erp", cfg)
    seen = []
    basic = {"base_url": "http://h", "auth": {"type": "basic", "username": "Админ", "password_env": "P"},
             "environ": {"P": "пароль"}, "transport": httpx.MockTransport(lambda r: seen.append(r) or httpx.Response(200, json={})),
             "objects": {"o": {"get": {"path": "/o/{id}"}}}}

    async def go2():
        a = from_config("x", basic)
        await a.get(ObjectRef("o"), "1")
        await a.aclose()

    run(go2())
    assert seen[0].headers["Authorization"] == "Basic " + base64.b64encode("Админ:пароль".encode()).decode()


def test_status_mapping():
    fake = FakeERP()
    cfg = config(fake)
    cfg["objects"]["orders"]["delete"] = {"method": "DELETE", "path": "/boom"}

    async def go():
        a = from_config("erp", cfg)
        with pytest.raises(RetryableError) as ei:
            await a.delete(ORDERS, "1")
        assert ei.value.retry_after == 12
        with pytest.raises(PermanentError, match="no 'exists'|no 'find'|not configured"):
            await a.read_changes(ObjectRef("nope"), ChangeCursor(), overlap_seconds=0, limit=10)
        await a.aclose()

    run(go())


def test_transport_error_retryable():
    def boom(request):
        raise httpx.ConnectError("refused")

    cfg = config(FakeERP())
    cfg["transport"] = httpx.MockTransport(boom)

    async def go():
        a = from_config("erp", cfg)
        with pytest.raises(RetryableError):
            await a.get(ORDERS, "1")
        await a.aclose()

    run(go())


def test_changes_cursor_paging_since_and_ack():
    fake = FakeERP(25)

    async def go():
        a = from_config("erp", config(fake))
        cur, ids, pages = ChangeCursor(), [], 0
        while True:
            p = await a.read_changes(ORDERS, cur, overlap_seconds=5, limit=10)
            ids += [r.id for r in p.records]
            await a.acknowledge(ORDERS, p)
            pages += 1
            cur = p.cursor
            if not p.more:
                break
        assert ids == [str(i) for i in range(1, 26)] and pages == 3
        assert cur.modified == datetime(2026, 1, 1, 0, 0, 25, tzinfo=timezone.utc) and cur.token is None
        assert fake.acked[0] == {"ids": [str(i) for i in range(1, 11)]}
        assert "since" not in fake.requests[0].url.query.decode()  # first read: no since parameter
        # next pass asks since the newest change minus the overlap
        fake.rows["7"]["updated_at"] = "2026-01-01T01:00:00Z"
        p = await a.read_changes(ORDERS, cur, overlap_seconds=5, limit=10)
        q = dict(parse_qsl(fake.requests[-1].url.query.decode()))
        assert q["since"] == "2026-01-01T00:00:20+00:00"
        assert [r.id for r in p.records] == ["20", "21", "22", "23", "24", "25", "7"]
        await a.aclose()

    run(go())

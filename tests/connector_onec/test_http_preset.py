import asyncio
import json

import httpx
import pytest

from b24sync.connectors.registry import build_adapter
from b24sync.engine.errors import ConflictError
from b24sync.engine.ports import ChangeCursor, ObjectRef


def test_preset_paths_guard_and_change_feed():
    seen = []
    state = {"version": "AAAAAAAAAAE=", "acked": None}

    def handler(request: httpx.Request):
        seen.append(request)
        p = request.url.path
        if p == "/trade/hs/b24sync/orders" and request.method == "GET":
            return httpx.Response(200, json={"items": [{"ref": "r1", "number": "ЦБ-1", "version": "v"}]})
        if p == "/trade/hs/b24sync/orders/r1" and request.method == "PATCH":
            if request.headers.get("If-Match") != state["version"]:
                return httpx.Response(412, json={"error": {"code": "stale", "message": "версия изменилась"}})
            return httpx.Response(200, json={"data": {"ref": "r1"}})
        if p == "/trade/hs/b24sync/changes/orders":
            cursor = request.url.params.get("cursor")
            if not cursor:
                return httpx.Response(200, json={"items": [{"ref": "r1", "version": "v1",
                                                            "modified": "2026-11-01T10:00:00"}], "next": "c2"})
            return httpx.Response(200, json={"items": [{"ref": "r2", "version": "v1", "deleted": True,
                                                        "modified": "2026-11-01T11:00:00"}], "next": None})
        if p == "/trade/hs/b24sync/changes/orders/ack":
            state["acked"] = json.loads(request.content)
            return httpx.Response(204)
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "нет"}})

    a = build_adapter("1c-hs", "1c-http", {"url": "http://1c.local/trade", "username": "Обмен",
                                            "password_env": "PW", "environ": {"PW": "x"},
                                            "transport": httpx.MockTransport(handler)})

    async def go():
        found = await a.find(ObjectRef("orders"), {"number": "ЦБ-1"})
        assert [r.id for r in found] == ["r1"]
        assert seen[-1].url.params["number"] == "ЦБ-1"  # criteria sent as query parameters
        await a.update(ObjectRef("orders"), "r1", {"Статус": "Закрыт"}, expected_version="AAAAAAAAAAE=")
        assert json.loads(seen[-1].content) == {"data": {"Статус": "Закрыт"}}
        with pytest.raises(ConflictError) as ei:
            await a.update(ObjectRef("orders"), "r1", {"Статус": "Закрыт"}, expected_version="old")
        assert "версия изменилась" in ei.value.reason
        p1 = await a.read_changes(ObjectRef("orders"), ChangeCursor(), overlap_seconds=0, limit=100)
        assert [r.id for r in p1.records] == ["r1"] and p1.more and p1.cursor.token == "c2"
        await a.acknowledge(ObjectRef("orders"), p1)
        assert state["acked"] == {"ids": ["r1"]}
        p2 = await a.read_changes(ObjectRef("orders"), p1.cursor, overlap_seconds=0, limit=100)
        assert p2.records[0].deleted and not p2.more
        assert await a.get(ObjectRef("orders"), "missing") is None
        await a.aclose()

    asyncio.run(go())

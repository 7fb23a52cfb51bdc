"""HTTP/JSON adapter delivery rules (connectors/delivery.py): a create whose answer was lost is never resent; reads
and writes refused before they were applied are retried in the adapter."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from b24sync.connectors.delivery import RetryPolicy
from b24sync.connectors.http_json import from_config
from b24sync.engine.errors import OutcomeUnknownError
from b24sync.engine.ports import ObjectRef

O = ObjectRef("o")


def _adapter(handler):  # type: ignore[no-untyped-def]
    a = from_config("x", {"base_url": "http://h", "transport": httpx.MockTransport(handler), "objects": {"o": {
        "get": {"path": "/o/{id}"}, "create": {"method": "POST", "path": "/o", "body": {"name": "{values.name}"}}}}})
    a.retry = RetryPolicy(attempts=4, base=0.01, cap=0.02, total=5)
    return a


@pytest.mark.parametrize("lose", ["reset", "timeout", "502", "504"])
def test_an_http_json_create_whose_answer_was_lost_is_never_resent(lose: str) -> None:
    sent = 0

    def handler(req: httpx.Request) -> httpx.Response:
        nonlocal sent
        sent += 1
        if lose == "reset":
            raise httpx.ReadError("connection reset by peer", request=req)
        if lose == "timeout":
            raise httpx.ReadTimeout("no answer", request=req)
        return httpx.Response(int(lose), text="<html>gateway</html>")

    async def go() -> None:
        a = _adapter(handler)
        try:
            with pytest.raises(OutcomeUnknownError):
                await a.create(O, {"name": "n"})
        finally:
            await a.aclose()

    asyncio.run(go())
    assert sent == 1


def test_http_json_reads_and_refused_writes_are_retried_in_the_adapter() -> None:
    calls: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(req.method)
        if len(calls) == 1:
            return httpx.Response(503, text="busy")  # a read: resent
        if len(calls) == 3:
            raise httpx.ConnectError("refused", request=req)  # a write that never left: resent
        if req.method == "GET":
            return httpx.Response(200, json={"id": "1", "name": "n"})
        return httpx.Response(201, json={"id": "2"})

    async def go() -> tuple[object, str]:
        a = _adapter(handler)
        try:
            return await a.get(O, "1"), await a.create(O, {"name": "n"})
        finally:
            await a.aclose()

    rec, new_id = asyncio.run(go())
    assert rec is not None and new_id == "2" and calls == ["GET", "GET", "POST", "POST"]

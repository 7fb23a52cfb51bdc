"""A newcomer with a wrong URL hears it within seconds (issue 12, item e): before a system ever answered, a refused
connection is resent once after a short pause and a connect timeout not at all; a 3xx is never followed nor
retried (bitrix24-rest.md "Domain change → 302 and lost POST bodies"). After the first answer the normal backoff
applies. Bitrix24 and 1C OData clients, against httpx.MockTransport."""

from __future__ import annotations

import time

import httpx
import pytest

from b24sync.connectors.bitrix24.auth import WebhookAuth
from b24sync.connectors.bitrix24.client import Bitrix24Client
from b24sync.connectors.bitrix24.errors import Bitrix24Moved, Bitrix24TransportError
from b24sync.connectors.delivery import CONNECT_TIMEOUT, FIRST_CONTACT_RETRIES, timeout_with_connect
from b24sync.connectors.onec.odata.client import ODataClient
from b24sync.connectors.onec.odata.errors import ODataMovedError, ODataRetryableError
from b24sync.engine.errors import PermanentError

pytestmark = pytest.mark.anyio

HOOK = "https://portal.example/rest/7/s3cr3tc0de123/"
ROOT = "https://erp.example/base/odata/standard.odata/"
OK = {"result": {"ID": "1"}, "time": {}}


def _b24(handler, **kw) -> Bitrix24Client:  # type: ignore[no-untyped-def]
    return Bitrix24Client(WebhookAuth(HOOK), transport=httpx.MockTransport(handler), rate=1000.0, burst=1000, **kw)


def _counting(*answers):  # type: ignore[no-untyped-def]
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        a = answers[min(len(calls) - 1, len(answers) - 1)]
        if isinstance(a, Exception):
            raise a
        return a

    return handler, calls


async def test_bitrix24_never_answered_refused_gives_up_after_one_resend_fast() -> None:
    handler, calls = _counting(httpx.ConnectError("refused"))
    started = time.monotonic()
    async with _b24(handler, backoff_base=20.0) as c:  # the normal backoff (10-20 s here) would show in the time
        with pytest.raises(Bitrix24TransportError) as ei:
            await c.call("crm.company.fields", {}, batch=False)
    assert len(calls) == 1 + FIRST_CONTACT_RETRIES
    assert time.monotonic() - started < 5.0
    assert "cannot connect to https://portal.example" in str(ei.value)
    assert "s3cr3tc0de123" not in str(ei.value)


async def test_bitrix24_never_answered_a_refused_then_up_portal_is_still_reached() -> None:
    """The one resend covers a portal that is just coming up (a container started beside b24sync)."""
    handler, calls = _counting(httpx.ConnectError("refused"), httpx.Response(200, json=OK))
    async with _b24(handler) as c:
        assert (await c.call("crm.deal.get", {"id": 1}, batch=False))["ID"] == "1"
        assert c.reached
    assert len(calls) == 2


async def test_bitrix24_connect_timeout_before_the_first_answer_is_not_resent() -> None:
    handler, calls = _counting(httpx.ConnectTimeout("black hole"))
    async with _b24(handler) as c:
        with pytest.raises(Bitrix24TransportError):
            await c.call("crm.deal.get", {"id": 1}, batch=False)
    assert len(calls) == 1


async def test_bitrix24_after_the_first_answer_a_refused_connection_gets_the_full_backoff() -> None:
    handler, calls = _counting(httpx.Response(200, json=OK), *[httpx.ConnectError("refused")] * 4,
                               httpx.Response(200, json=OK))
    async with _b24(handler, backoff_base=0.001) as c:
        await c.call("crm.deal.get", {"id": 1}, batch=False)
        assert (await c.call("crm.deal.get", {"id": 2}, batch=False))["ID"] == "1"
    assert len(calls) == 6


async def test_bitrix24_an_error_answer_counts_as_reached() -> None:
    """Any HTTP answer (even a 500) proves the address right: later connection failures are blips."""
    handler, calls = _counting(httpx.Response(500, text="<html>oops</html>"), httpx.ConnectError("refused"),
                               httpx.ConnectError("refused"), httpx.Response(200, json=OK))
    async with _b24(handler, backoff_base=0.001) as c:
        assert (await c.call("crm.deal.get", {"id": 1}, batch=False))["ID"] == "1"
    assert len(calls) == 4


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("method", ["crm.deal.get", "crm.deal.add"])
async def test_bitrix24_redirect_is_permanent_at_once_and_masks_the_code(status: int, method: str) -> None:
    loc = "https://new-portal.example/rest/7/s3cr3tc0de123/" + method + ".json"
    handler, calls = _counting(httpx.Response(status, headers={"Location": loc}, text="Moved"))
    started = time.monotonic()
    async with _b24(handler) as c:
        with pytest.raises(Bitrix24Moved) as ei:
            await c.call(method, {"id": 1} if method.endswith("get") else {"fields": {"TITLE": "x"}}, batch=False)
    assert len(calls) == 1, "a redirect is neither followed nor retried"
    assert time.monotonic() - started < 5.0
    assert isinstance(ei.value, PermanentError)
    msg = str(ei.value)
    assert f"HTTP {status} redirect → https://new-portal.example/rest/7/" in msg and "s3cr3tc0de123" not in msg
    assert "put the address the redirect names in the spec" in msg


async def test_bitrix24_redirect_inside_a_shared_batch_reaches_every_caller() -> None:
    import asyncio

    handler, calls = _counting(httpx.Response(302, headers={"Location": "https://elsewhere.example/"}))
    async with _b24(handler) as c:
        outs = await asyncio.gather(*[c.call("crm.deal.get", {"id": i}) for i in range(5)], return_exceptions=True)
    assert all(isinstance(o, Bitrix24Moved) for o in outs), outs
    assert len(calls) == 1


def test_connect_is_bounded_separately_from_the_request() -> None:
    t = timeout_with_connect(65.0)
    assert t.connect == CONNECT_TIMEOUT and t.read == 65.0
    assert timeout_with_connect(2.0).connect == 2.0
    c = Bitrix24Client(WebhookAuth(HOOK))
    assert c.http.timeout.connect == CONNECT_TIMEOUT


# ---------------------------------------------------------------- 1C OData


async def test_odata_never_answered_refused_gives_up_after_one_resend() -> None:
    handler, calls = _counting(httpx.ConnectError("refused"))
    started = time.monotonic()
    async with ODataClient(ROOT, username="u", password="p", transport=httpx.MockTransport(handler)) as c:
        with pytest.raises(ODataRetryableError) as ei:
            await c.request_json("GET", c.url("Catalog_Контрагенты"), context="GET Catalog_Контрагенты")
    assert len(calls) == 1 + FIRST_CONTACT_RETRIES
    assert time.monotonic() - started < 5.0
    assert "at https://erp.example" in str(ei.value)


async def test_odata_after_an_answer_refused_connections_are_retried_normally() -> None:
    from b24sync.connectors.delivery import RetryPolicy

    ok = httpx.Response(200, json={"value": []})
    handler, calls = _counting(ok, httpx.ConnectError("r"), httpx.ConnectError("r"), httpx.ConnectError("r"), ok)
    async with ODataClient(ROOT, transport=httpx.MockTransport(handler),
                           retry=RetryPolicy(base=0.001, cap=0.01)) as c:
        await c.request_json("GET", c.url("Catalog_A"), context="GET A")
        await c.request_json("GET", c.url("Catalog_A"), context="GET A")
    assert len(calls) == 5


async def test_odata_cold_start_read_timeout_keeps_its_retries() -> None:
    """erp-side.md §1.11: a 1C base waking up answers after 11-30 s — a read timeout is not a wrong address."""
    from b24sync.connectors.delivery import RetryPolicy

    ok = httpx.Response(200, json={"value": []})
    handler, calls = _counting(httpx.ReadTimeout("cold"), httpx.ReadTimeout("cold"), ok)
    async with ODataClient(ROOT, transport=httpx.MockTransport(handler),
                           retry=RetryPolicy(base=0.001, cap=0.01)) as c:
        await c.request_json("GET", c.url("Catalog_A"), context="GET A")
    assert len(calls) == 3


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH"])
async def test_odata_redirect_is_permanent_and_hides_userinfo(method: str) -> None:
    handler, calls = _counting(httpx.Response(302, headers={"Location": "https://admin:hunter2@erp2.example/ut/"}))
    async with ODataClient(ROOT, username="u", password="p", transport=httpx.MockTransport(handler)) as c:
        with pytest.raises(ODataMovedError) as ei:
            await c.request_json(method, c.url("Catalog_A"), context=f"{method} Catalog_A",
                                 json_body={"Description": "x"} if method != "GET" else None)
    assert len(calls) == 1
    msg = str(ei.value)
    assert "HTTP 302 redirect → https://erp2.example/ut/" in msg and "hunter2" not in msg and "admin" not in msg

"""Unit tests of the Bitrix24 client against httpx.MockTransport."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import httpx
import pytest
from fakeportal import FakePortal

from b24sync.connectors.bitrix24.auth import OAuthAuth, WebhookAuth, mask
from b24sync.connectors.bitrix24.client import Bitrix24Client
from b24sync.connectors.bitrix24.errors import (
    Bitrix24AuthError,
    Bitrix24NotFound,
    Bitrix24OperationLimit,
    Bitrix24RateLimited,
    Bitrix24ValidationError,
)
from b24sync.engine.errors import DeferError, RetryableError
from b24sync.store.kv import MemoryState

pytestmark = pytest.mark.anyio

HOOK = "https://portal.example/rest/7/s3cr3tc0de123/"


def client(transport, **kw) -> Bitrix24Client:
    kw.setdefault("backoff_base", 0.001)
    kw.setdefault("rate", 1000.0)
    kw.setdefault("burst", 1000)
    return Bitrix24Client(WebhookAuth(HOOK), transport=transport, **kw)


async def test_batch_maps_each_outcome_to_its_caller_one_failure_among_50():
    fake = FakePortal()
    fake.fail_cmd = {17}
    async with client(fake.transport()) as c:
        outs = await asyncio.gather(*[c.call("crm.contact.add", {"fields": {"NAME": f"p{i}"}}) for i in range(50)],
                                    return_exceptions=True)
    assert len(fake.requests) == 1 and fake.requests[0]["method"] == "batch"
    assert len(fake.requests[0]["body"]["cmd"]) == 50
    errors = [i for i, o in enumerate(outs) if isinstance(o, Exception)]
    assert errors == [17]
    assert isinstance(outs[17], Bitrix24ValidationError) and "command 17" in str(outs[17])
    ids = [o for o in outs if not isinstance(o, Exception)]
    assert len(set(ids)) == 49
    # every caller got the id of its own record
    for i, o in enumerate(outs):
        if i != 17:
            assert fake.rows[int(o)]["NAME"] == f"p{i}"


async def test_batch_accepts_array_shaped_members():
    body = {"result": {"result": [{"ID": "1"}, {"ID": "2"}], "result_error": [], "result_total": [],
                       "result_next": [], "result_time": [{"operating": 1.5}, {"operating": 2.5}]}}
    t = httpx.MockTransport(lambda r: httpx.Response(200, json=body))
    async with client(t) as c:
        out = await c.batch([("crm.deal.get", {"id": 1}), ("crm.deal.get", {"id": 2})])
    assert [o.result["ID"] for o in out.values()] == ["1", "2"]
    assert c.stats.operating["crm.deal.get"] == 2.5


async def test_values_a_query_string_cannot_carry_go_as_single_json_calls():
    fake = FakePortal()
    async with client(fake.transport()) as c:
        await asyncio.gather(c.call("crm.contact.add", {"fields": {"NAME": "a", "COMMENTS": None}}),
                             c.call("crm.contact.add", {"fields": {"NAME": "b", "PHONE": []}}),
                             c.call("crm.contact.add", {"fields": {"NAME": "c", "OPENED": True}}))
    assert [r["method"] for r in fake.requests] == ["crm.contact.add"] * 3
    assert fake.requests[0]["body"]["fields"]["COMMENTS"] is None


def _seq(responses):
    calls = []

    def handler(request):
        calls.append(request)
        r = responses[min(len(calls) - 1, len(responses) - 1)]
        if isinstance(r, Exception):
            raise r
        return r

    return handler, calls


@pytest.mark.parametrize("failure", [
    httpx.Response(503, json={"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}),
    httpx.Response(500, json={"error": "INTERNAL_SERVER_ERROR", "error_description": "Internal server error"}),
    httpx.Response(502, text="<html>Bad gateway</html>"),
    httpx.ConnectError("refused"),
    httpx.ReadTimeout("slow"),
])
async def test_retried_classes(failure):
    ok = httpx.Response(200, json={"result": {"ID": "1"}, "time": {}})
    handler, calls = _seq([failure, failure, ok])
    async with client(httpx.MockTransport(handler)) as c:
        c.reached = True  # the portal answered before: a refused connection now is a blip (first contact: below)
        assert (await c.call("crm.deal.get", {"id": 1}))["ID"] == "1"
    assert len(calls) == 3


@pytest.mark.parametrize("failure,exc", [
    (httpx.Response(400, json={"error": "ERROR_CORE", "error_description": "invalid e-mail"}), Bitrix24ValidationError),
    (httpx.Response(400, json={"error": "", "error_description": "Parameter 'fields' must be array."}),
     Bitrix24ValidationError),
    (httpx.Response(400, json={"error": "", "error_description": "Not found"}), Bitrix24NotFound),
    (httpx.Response(401, json={"error": "INVALID_CREDENTIALS", "error_description": "Invalid request credentials"}),
     Bitrix24AuthError),
    (httpx.Response(403, json={"error": "insufficient_scope", "error_description": ""}), Bitrix24AuthError),
])
async def test_not_retried_classes(failure, exc):
    handler, calls = _seq([failure, httpx.Response(200, json={"result": 1})])
    async with client(httpx.MockTransport(handler)) as c:
        with pytest.raises(exc) as ei:
            await c.call("crm.deal.update", {"id": 1, "fields": {"TITLE": "x"}})
    assert len(calls) == 1
    assert not isinstance(ei.value, RetryableError)


async def test_gives_up_after_max_retries_with_retryable_error():
    handler, calls = _seq([httpx.Response(503, json={"error": "QUERY_LIMIT_EXCEEDED"})])
    async with client(httpx.MockTransport(handler), max_retries=3) as c:
        with pytest.raises(Bitrix24RateLimited):
            await c.call("crm.deal.get", {"id": 1})
    assert len(calls) == 4
    assert c.stats.limit_errors == 4


async def test_create_is_not_retried_after_a_read_timeout():
    handler, calls = _seq([httpx.ReadTimeout("slow"), httpx.Response(200, json={"result": 5})])
    async with client(httpx.MockTransport(handler)) as c:
        with pytest.raises(RetryableError):
            await c.call("crm.deal.add", {"fields": {"TITLE": "x"}})
    assert len(calls) == 1  # the engine decides (find-before-create), not a blind resend that duplicates


# ------------------------------------------------------------------------------------------------ OAuth


class TokenServer:
    def __init__(self, delay: float = 0.05) -> None:
        self.version = 1
        self.refreshes = 0
        self.delay = delay

    def access(self) -> str:
        return f"access-token-{self.version:04d}"

    async def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token/":
            q = dict(request.url.params)
            assert q["grant_type"] == "refresh_token" and q["client_secret"] == "app-secret-xyz"
            assert q["refresh_token"] == f"refresh-token-{self.version:04d}"
            self.refreshes += 1
            await asyncio.sleep(self.delay)
            self.version += 1
            return httpx.Response(200, json={"access_token": self.access(), "refresh_token":
                                             f"refresh-token-{self.version:04d}", "expires_in": 3600,
                                             "client_endpoint": "https://portal.example/rest/"})
        token = request.url.params.get("auth")
        if token != self.access():
            return httpx.Response(401, json={"error": "expired_token",
                                             "error_description": "The access token provided has expired."})
        return httpx.Response(200, json={"result": {"ok": True}, "time": {}})


def oauth(state: MemoryState, ts: TokenServer) -> OAuthAuth:
    return OAuthAuth(client_id="app.1", client_secret="app-secret-xyz", state=state, key="b24:oauth:test",
                     token_endpoint="https://oauth.example/oauth/token/",
                     client_endpoint="https://portal.example/rest/", access_token="access-token-0001",
                     refresh_token="refresh-token-0001")


async def test_token_refresh_single_flight_20_concurrent_callers_two_processes(caplog):
    caplog.set_level(logging.DEBUG)
    ts = TokenServer()
    state = MemoryState()
    transport = httpx.MockTransport(ts.handler)
    # two clients with their own OAuthAuth over one shared state = two worker processes
    c1 = Bitrix24Client(oauth(state, ts), state=state, transport=transport, rate=1000, burst=1000)
    c2 = Bitrix24Client(oauth(state, ts), state=state, transport=transport, rate=1000, burst=1000)
    assert await c1.call("app.info", batch=False) == {"ok": True}
    ts.version = 1
    real = ts.access
    ts.access = lambda: "access-token-0002" if ts.refreshes else "expired-for-everyone"  # type: ignore[method-assign]
    res = await asyncio.gather(*[(c1 if i % 2 else c2).call("app.info", batch=False) for i in range(20)])
    ts.access = real  # type: ignore[method-assign]
    assert res == [{"ok": True}] * 20
    assert ts.refreshes == 1
    st = state.get("b24:oauth:test")
    assert st["access_token"] == "access-token-0002" and st["refresh_token"] == "refresh-token-0002"
    assert st["version"] == 2 and "lease_owner" not in st
    await c1.aclose()
    await c2.aclose()
    for secret in ("access-token-0001", "access-token-0002", "refresh-token-0002", "app-secret-xyz"):
        assert secret not in caplog.text


async def test_refresh_failure_surfaces_as_auth_error_and_releases_the_lease():
    state = MemoryState()

    async def handler(request):
        if request.url.path == "/oauth/token/":
            return httpx.Response(400, json={"error": "invalid_grant"})
        return httpx.Response(401, json={"error": "expired_token"})

    c = Bitrix24Client(oauth(state, TokenServer()), state=state, transport=httpx.MockTransport(handler))
    with pytest.raises(Bitrix24AuthError):
        await c.call("app.info", batch=False)
    assert "lease_owner" not in state.get("b24:oauth:test")
    await c.aclose()


# ------------------------------------------------------------------------------------------------ masking


async def test_secrets_never_reach_logs_or_reprs(caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # other tests configure httpx to WARNING
    handler, _ = _seq([httpx.Response(503, json={"error": "QUERY_LIMIT_EXCEEDED"}),
                       httpx.Response(200, json={"result": 1})])
    async with client(httpx.MockTransport(handler)) as c:
        await c.call("crm.deal.get", {"id": 1})
        assert "s3cr3tc0de123" not in repr(c) and "s3cr3tc0de123" not in repr(c.auth)
    assert "portal.example" in caplog.text  # httpx did log the URL …
    assert "s3cr3tc0de123" not in caplog.text  # … with the code masked
    assert mask("https://x.bitrix24.ru/rest/1/abcdefgh/crm.deal.get?auth=tok123456") == \
        "https://x.bitrix24.ru/rest/1/***/crm.deal.get?auth=***"


# ------------------------------------------------------------------------------------------------ operating budget


async def test_429_parks_the_method_and_raises_defer_until_reset():
    reset = int(time.time()) + 120
    calls = []

    def handler(request):
        calls.append(request.url.path)
        if request.url.path.endswith("crm.deal.list"):
            if len(calls) == 1:
                return httpx.Response(200, json={"result": [], "time": {"operating": 10,
                                                                        "operating_reset_at": reset}})
            return httpx.Response(429, json={"error": "OPERATION_TIME_LIMIT",
                                             "error_description": "Method is blocked due to operation time limit."})
        return httpx.Response(200, json={"result": [], "time": {"operating": 0}})

    async with client(httpx.MockTransport(handler)) as c:
        await c.call("crm.deal.list", {"start": -1})
        with pytest.raises(Bitrix24OperationLimit) as ei:
            await c.call("crm.deal.list", {"start": -1})
        assert isinstance(ei.value, DeferError)
        assert abs(ei.value.until.timestamp() - reset) < 1
        # parked: no further HTTP request for this method, other methods still work
        with pytest.raises(DeferError):
            await c.call("crm.deal.list", {"start": -1})
        await c.call("crm.contact.list", {"start": -1})
    assert calls.count("/rest/7/s3cr3tc0de123/crm.deal.list") == 2


async def test_method_near_budget_is_parked_before_the_portal_refuses():
    reset = time.time() + 0.4

    def handler(request):
        return httpx.Response(200, json={"result": [], "time": {"operating": 470, "operating_reset_at": reset}})

    async with client(httpx.MockTransport(handler)) as c:
        await c.call("crm.deal.list", {"start": -1})
        with pytest.raises(Bitrix24OperationLimit):
            await c.call("crm.deal.list", {"start": -1})
        t0 = time.monotonic()
        await c.call("crm.deal.list", {"start": -1}, wait=True)  # a caller that can wait, waits
        assert time.monotonic() - t0 >= 0.3


async def test_operating_fed_from_every_result_time_entry():
    fake = FakePortal(120)
    async with client(fake.transport()) as c:
        rows = [r async for page in c.list_all("crm.contact.list") for r in page]
    assert len(rows) == 120
    assert c.stats.operating["crm.contact.list"] > 0


@pytest.mark.slow(30)
async def test_full_read_packs_2500_rows_per_request():
    fake = FakePortal(20_000)
    async with client(fake.transport()) as c:
        ids = [int(r["ID"]) async for page in c.list_all("crm.contact.list") for r in page]
    assert ids == list(range(1, 20_001))
    assert len(fake.requests) == 8
    first = fake.requests[0]["body"]["cmd"]
    # the set's last page first (DESC), then the ascending chain; nothing is ever counted
    assert "order[ID]=DESC" in first["tail"] and "start=-1" in first["tail"]
    assert all("start=-1" in c for r in fake.requests for c in r["body"]["cmd"].values())
    assert "$result[c0][49][ID]" in first["c1"]
    later = fake.requests[1]["body"]["cmd"]
    assert "filter[%3CID]=19951" in later["c0"]  # the chain stops right below the tail page: no empty tail request


@pytest.mark.parametrize("n", [0, 1, 49, 50, 51, 2449, 2450, 2451, 2500, 2501, 5000, 7777])
async def test_full_read_boundaries(n: int) -> None:
    fake = FakePortal(n)
    async with client(fake.transport()) as c:
        ids = [int(r["ID"]) async for page in c.list_all("crm.contact.list") for r in page]
    assert ids == list(range(1, n + 1))
    assert len(fake.requests) <= max(1, -(-n // 2450))  # never an extra request for the tail


def test_json_body_of_batch_is_plain_query_strings():
    from b24sync.connectors.bitrix24.encoding import Ref, build_query

    q = build_query({"filter": {">ID": Ref("$result[c0][49][ID]"), "%TITLE": "a&b"}, "select": ["ID", "UF_*"]})
    assert q == "filter[%3EID]=$result[c0][49][ID]&filter[%25TITLE]=a%26b&select[0]=ID&select[1]=UF_%2A"
    assert json.dumps(q)

"""A small Odoo client on httpx: JSON-2 (``POST /json/2/<model>/<method>``, Odoo 19+) and JSON-RPC
(``POST /jsonrpc``, ``object.execute_kw``; Odoo ≤ 21) — fact sheet ../shared/research/other-erps-and-bus.md §1.

The sheet's recommendation (§1.10): a thin own JSON-2 client with an RPC fallback; no third-party client is both
popular and JSON-2-ready. ``protocol: auto`` asks ``GET /web/version`` (JSON-2 servers answer it) and falls back to
JSON-RPC. Calls are named-parameter calls in both transports (the JSON-RPC call passes them as ``kwargs``).

Errors (§1.4): ``ValidationError`` / ``UserError`` → :class:`ValidationError` (a person must fix the data);
``AccessDenied`` / ``AccessError`` / 401 / 403 → :class:`AuthError`; ``MissingError`` / 404 → :class:`NotFoundError`;
5xx, 429, connection errors → retryable. A write whose request may have reached the server — a timeout, a reset
connection, a 5xx, a body that is not Odoo's — raises :class:`OutcomeUnknownError`: Odoo has no idempotency key,
so the engine looks the record up before it creates again (§1.7: timeouts + blind retries made Odoo's own POS
duplicate orders). Idempotent reads are retried here with backoff and jitter.
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import httpx

from b24sync.connectors.metered import metered_client
from b24sync.engine.errors import (
    AuthError,
    NotFoundError,
    OutcomeUnknownError,
    PermanentError,
    RetryableError,
    ValidationError,
)

READS = {"search", "search_read", "search_count", "read", "fields_get", "name_search", "context_get"}
USER_AGENT = "b24sync-odoo/1"  # distinctive: 19.x logs deprecation warnings per (address, User-Agent) (§1.1)


def _fail(name: str, message: str, where: str) -> Exception:
    short = name.rsplit(".", 1)[-1]
    text = f"Odoo {where}: {message}"
    if short in ("ValidationError", "UserError", "TypeError", "ValueError", "KeyError"):
        return ValidationError(text)
    if short in ("AccessDenied", "AccessError", "SessionExpiredException"):
        return AuthError(text)
    if short in ("MissingError", "NotFound"):
        return NotFoundError(text)
    if short in ("ConcurrencyError", "SerializationFailure", "OperationalError"):
        return RetryableError(text)
    return PermanentError(f"{text} ({name})")


def odoo_group(request: httpx.Request) -> str:
    """The method class of an Odoo request (every call is a POST): the ORM method's — ``read`` for READS,
    ``write`` for the rest — and ``auth`` for the login (``common.authenticate``)."""
    path = request.url.path
    if path.startswith("/json/2/"):
        return "read" if path.rstrip("/").rsplit("/", 1)[-1] in READS else "write"
    if path == "/jsonrpc":
        params = (json.loads(request.content or b"{}") or {}).get("params") or {}
        if params.get("service") != "object":
            return "auth"
        args = params.get("args") or []
        return "read" if len(args) > 4 and args[4] in READS else "write"
    return "read" if request.method == "GET" else "write"


class OdooClient:
    def __init__(self, url: str, database: str, username: str, api_key: str, *, protocol: str = "auto",
                 timeout: float = 60.0, transport: httpx.AsyncBaseTransport | None = None,
                 read_attempts: int = 5, rng: random.Random | None = None, system: str = "odoo") -> None:
        if protocol not in ("auto", "json2", "jsonrpc"):
            raise PermanentError(f"Odoo protocol {protocol!r}: use auto, json2 or jsonrpc")
        self.database, self.username, self._key = database, username, api_key
        self.protocol = protocol
        self.read_attempts = read_attempts
        self.rng = rng or random.Random()
        self._uid: int | None = None
        self._lock = asyncio.Lock()
        self.http = metered_client(system, transport=transport, group=odoo_group, base_url=url.rstrip("/"),
                                   timeout=timeout, headers={"User-Agent": USER_AGENT}, follow_redirects=False)
        self.calls = 0

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _resolve_protocol(self) -> str:
        if self.protocol != "auto":
            return self.protocol
        async with self._lock:
            if self.protocol == "auto":
                try:
                    r = await self.http.get("/web/version")
                    self.protocol = "json2" if r.status_code == 200 and "version" in r.text else "jsonrpc"
                except httpx.HTTPError as e:
                    raise RetryableError(f"Odoo is not reachable ({type(e).__name__})") from None
        return self.protocol

    async def call(self, model: str, method: str, *, ids: list[int] | None = None, **params: Any) -> Any:
        """One ORM call with named parameters; reads are retried, writes never resent blind."""
        read = method in READS
        attempts = self.read_attempts if read else 1
        delay = 0.5
        for attempt in range(1, attempts + 1):
            try:
                return await self._call_once(model, method, ids, params, read)
            except RetryableError as e:
                if not read or attempt == attempts or isinstance(e, OutcomeUnknownError):
                    raise
                wait = e.retry_after if e.retry_after is not None else delay * (0.5 + self.rng.random())
                await asyncio.sleep(min(wait, 30.0))
                delay = min(delay * 2, 20.0)
        raise AssertionError("unreachable")

    async def _call_once(self, model: str, method: str, ids: list[int] | None, params: dict[str, Any],
                         read: bool) -> Any:
        protocol = await self._resolve_protocol()
        where = f"{model}.{method}"
        self.calls += 1
        try:
            if protocol == "json2":
                body = {**({"ids": ids} if ids is not None else {}), **params}
                r = await self.http.post(f"/json/2/{model}/{method}", json=body, headers={
                    "Authorization": f"bearer {self._key}", "X-Odoo-Database": self.database})
            else:
                uid = await self._login()
                args: list[Any] = [ids] if ids is not None else []
                r = await self.http.post("/jsonrpc", json={"jsonrpc": "2.0", "method": "call", "id": self.calls,
                                                           "params": {"service": "object", "method": "execute_kw",
                                                                      "args": [self.database, uid, self._key, model,
                                                                               method, args, params]}})
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as e:
            raise RetryableError(f"Odoo {where}: not reachable ({type(e).__name__})") from None  # never sent
        except httpx.HTTPError as e:
            if read:
                raise RetryableError(f"Odoo {where}: {type(e).__name__}") from None
            raise OutcomeUnknownError(f"Odoo {where}: the answer was lost ({type(e).__name__}); the record is "
                                      "looked up before anything is sent again") from None
        return self._result(r, where, protocol, read)

    def _result(self, r: httpx.Response, where: str, protocol: str, read: bool) -> Any:
        try:
            data = r.json()
        except ValueError:
            data = None
        if r.status_code == 429 or r.status_code >= 500 or (data is None and r.status_code != 204):
            if r.status_code == 429:  # a proxy's rate limit: the call was refused, not run
                ra = r.headers.get("Retry-After")
                raise RetryableError(f"Odoo {where}: rate limited", retry_after=float(ra) if ra and ra.isdigit()
                                     else None)
            if read:
                raise RetryableError(f"Odoo {where}: HTTP {r.status_code}")
            raise OutcomeUnknownError(f"Odoo {where}: HTTP {r.status_code} after the request was sent; the record "
                                      "is looked up before anything is sent again")
        if protocol == "json2":
            if r.status_code >= 400:
                if isinstance(data, dict):
                    raise _fail(str(data.get("name") or ""), str(data.get("message") or r.status_code), where)
                raise _fail("", f"HTTP {r.status_code}", where)
            return data
        if isinstance(data, dict) and data.get("error"):
            err = data["error"].get("data") or {}
            raise _fail(str(err.get("name") or ""), str(err.get("message") or data["error"].get("message")), where)
        if not isinstance(data, dict) or "result" not in data:
            raise PermanentError(f"Odoo {where}: not a JSON-RPC answer")
        return data["result"]

    async def _login(self) -> int:
        if self._uid is not None:
            return self._uid
        try:
            r = await self.http.post("/jsonrpc", json={"jsonrpc": "2.0", "method": "call", "id": 0, "params": {
                "service": "common", "method": "login", "args": [self.database, self.username, self._key]}})
        except httpx.HTTPError as e:
            raise RetryableError(f"Odoo login: {type(e).__name__}") from None
        uid = self._result(r, "login", "jsonrpc", True)
        if not uid:
            raise AuthError(f"Odoo refused the login of {self.username!r} on database {self.database!r} — check "
                            "the user and its API key")
        self._uid = int(uid)
        return self._uid

"""Incoming Bitrix24 events: parsing, ``application_token`` verification, a FastAPI intake router, offline queue.

- Delivery: ``POST`` ``application/x-www-form-urlencoded`` with PHP bracket keys (``data[FIELDS][ID]``,
  ``auth[application_token]``), every value a string, ``event`` in upper case (sheet §7.2, §9.16).
- Payload carries only ids; fetch the record with ``crm.*.get`` / ``crm.item.get`` (sheet §7.2).
- Verification: compare ``auth[application_token]`` with the token of the outgoing webhook / the one that came with
  ONAPPINSTALL; ONAPPUNINSTALL has no tokens, the application token is its only check (sheet §7.4).
- No retries by the portal and no ordering (sheet §7.3): acknowledge fast, hand over, reconcile by cursor.
- Offline queue: ``event.bind {event, event_type: offline, auth_connector}``, ``event.offline.get {clear: 0}`` then
  ``event.offline.clear {process_id, message_id}`` / ``event.offline.error`` (sheet §7.6).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from b24sync.connectors.bitrix24.auth import OAuthAuth, register_secret
from b24sync.connectors.bitrix24.client import Bitrix24Client
from b24sync.connectors.bitrix24.encoding import parse_php_form
from b24sync.connectors.bitrix24.limits import run_state
from b24sync.connectors.jsonwire import depth_ok
from b24sync.store.kv import SharedState

log = logging.getLogger("b24sync.bitrix24")

# Limits of the intake (docs/security.md). A Bitrix24 event is a few hundred bytes of ids (sheet §7.2); 64 KiB leaves
# room for ONAPPINSTALL's auth block and long domain names. Env: B24SYNC_B24_EVENT_MAX_BODY.
DEFAULT_MAX_BODY = 64 * 1024
MAX_FIELDS = 200  # form fields / JSON members an event may carry
MAX_DEPTH = 8  # data[FIELDS][ID] is depth 3
# Record ids of Bitrix24 CRM objects are positive integers (sheet §7.2: data[FIELDS][ID]); bigint at most.
RECORD_ID_RE = re.compile(r"[1-9][0-9]{0,18}")
_TOKEN_IN_FORM = re.compile(rb"(?:^|&)auth(?:%5B|\[)application_token(?:%5D|\])=([^&]*)", re.I)


class BadEvent(ValueError):
    """An event body we refuse to parse (400): not a form or JSON object, too many fields, nested too deep."""


def _text(v: Any, limit: int = 255) -> str | None:
    return v if isinstance(v, str) and len(v) <= limit else None


def decode_event_body(body: bytes, content_type: str) -> dict[str, Any]:
    """The event body as a dict (form with PHP bracket keys, or JSON), bounded; ``BadEvent`` otherwise."""
    if "json" in content_type:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadEvent("body is not UTF-8") from None
        if not depth_ok(text, MAX_DEPTH):
            raise BadEvent(f"body nested deeper than {MAX_DEPTH}")
        try:
            raw = json.loads(text or "{}")
        except (ValueError, RecursionError):
            raise BadEvent("body is not JSON") from None
        if not isinstance(raw, dict):
            raise BadEvent("body must be a JSON object")
        return raw
    try:
        return parse_php_form(body, max_fields=MAX_FIELDS, max_depth=MAX_DEPTH)
    except ValueError as exc:
        raise BadEvent(str(exc)) from None


@dataclass
class Event:
    name: str  # upper-case code, e.g. ONCRMDEALUPDATE
    data: dict[str, Any]
    ts: int | None
    handler_id: str | None
    member_id: str | None
    domain: str | None
    auth: dict[str, Any] = field(repr=False, default_factory=dict)  # tokens — never repr'd

    @property
    def object_id(self) -> str | None:
        f = self.data.get("FIELDS") if isinstance(self.data, dict) else None
        if not (isinstance(f, dict) and "ID" in f):
            return None
        v = f["ID"]
        return str(v) if isinstance(v, (str, int)) and not isinstance(v, bool) else repr(v)

    @property
    def object_id_valid(self) -> bool:
        """No id at all (ONAPPINSTALL, …) or an id of the Bitrix24 shape: a positive integer."""
        oid = self.object_id
        return oid is None or bool(RECORD_ID_RE.fullmatch(oid))

    @property
    def entity_type_id(self) -> int | None:
        f = self.data.get("FIELDS") if isinstance(self.data, dict) else None
        v = f.get("ENTITY_TYPE_ID") if isinstance(f, dict) else None
        s = str(v) if isinstance(v, (str, int)) and not isinstance(v, bool) else ""
        return int(s) if s.isascii() and s.isdigit() and len(s) < 10 else None

    def register_secrets(self) -> None:
        """Mask this event's tokens in later logs — call only once the event is verified."""
        for k in ("access_token", "refresh_token", "application_token"):
            register_secret(_text(self.auth.get(k), 4096))


def parse_event(body: bytes | str | dict[str, Any]) -> Event:
    raw = body if isinstance(body, dict) else parse_php_form(body)
    auth = raw.get("auth") if isinstance(raw.get("auth"), dict) else {}
    auth = {k: v for k, v in auth.items() if isinstance(k, str) and isinstance(v, str)}  # Bitrix24 sends strings
    data = raw.get("data")
    ts = raw.get("ts")
    ts_s = str(ts) if isinstance(ts, (str, int)) and not isinstance(ts, bool) else ""
    name = raw.get("event")
    return Event(
        name=name.upper()[:100] if isinstance(name, str) else "",
        data=data if isinstance(data, dict) else {},
        ts=int(ts_s) if ts_s.isascii() and ts_s.isdigit() and len(ts_s) <= 12 else None,  # "²".isdigit() is True
        handler_id=_text(raw.get("event_handler_id")),
        member_id=_text(auth.get("member_id")),
        domain=_text(auth.get("domain")),
        auth=auth,
    )


class EventVerifier:
    """Constant-time check of ``auth[application_token]`` against configured tokens and the one stored at install.

    ``state``/``key``: where ONAPPINSTALL stored the application token (the OAuth token record). An ONAPPINSTALL
    itself is accepted only when ``accept_install`` is on and no different token is stored yet (first install), or
    its token matches; ``member_id`` pins the portal when given.
    """

    def __init__(self, tokens: list[str] | None = None, *, state: SharedState | None = None, key: str | None = None,
                 oauth: OAuthAuth | None = None, accept_install: bool = False, member_id: str | None = None) -> None:
        self.tokens = [t for t in (tokens or []) if t]
        for t in self.tokens:
            register_secret(t)
        self.state = state or (oauth.state if oauth else None)
        self.key = key or (oauth.key if oauth else None)
        self.oauth = oauth
        self.accept_install = accept_install
        self.member_id = member_id

    async def _stored(self) -> str | None:
        if self.state is None or self.key is None:
            return None
        st = await run_state(self.state, self.state.get, self.key)
        return (st or {}).get("application_token")

    async def verify(self, ev: Event) -> bool:
        got = str(ev.auth.get("application_token") or "")
        if not got:
            return False
        if self.member_id and not hmac.compare_digest(str(ev.member_id or ""), self.member_id):
            return False
        candidates = list(self.tokens)
        stored = await self._stored()
        if stored:
            candidates.append(stored)
        ok = False
        for c in candidates:  # compare against every candidate, constant time each
            ok |= hmac.compare_digest(got.encode(), c.encode())
        if ok:
            if ev.name == "ONAPPINSTALL" and self.oauth is not None:
                await self.oauth.store_tokens(ev.auth)
            return True
        if ev.name == "ONAPPINSTALL" and self.accept_install and not stored and self.oauth is not None:
            await self.oauth.store_tokens(ev.auth)  # first install: tokens + application_token (sheet §7.4)
            return True
        return False


EventCallback = Callable[[Event], Awaitable[None]]


def _max_body() -> int:
    v = os.environ.get("B24SYNC_B24_EVENT_MAX_BODY", "")
    return int(v) if v.isdigit() and int(v) > 0 else DEFAULT_MAX_BODY


def make_event_router(verifier: EventVerifier, callback: EventCallback, *, path: str = "/bitrix24/events",
                      max_body: int | None = None) -> APIRouter:
    """A FastAPI ``APIRouter`` that accepts event POSTs, verifies them and hands them to ``callback``.

    Order of checks, cheapest first, so an unauthenticated sender costs us almost nothing: the declared
    Content-Length (413 before a byte is read), the streamed size (413 as soon as it is passed), for a form body the
    presence of ``auth[application_token]`` found by a scan of the raw bytes (401 without parsing), then the bounded
    parse off the event loop (400), the constant-time token check (401), and the record id's shape (400).
    Unverified requests get 401 and one log line with the event name and client address — never the token; every
    logged value has its control characters escaped.
    """
    router = APIRouter()
    limit = max_body or _max_body()

    def refuse(status: int, error: str) -> JSONResponse:
        return JSONResponse({"error": error}, status_code=status)

    @router.post(path)
    async def intake(request: Request) -> JSONResponse:
        client = request.client.host if request.client else "?"
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return refuse(413, f"body over {limit} bytes")
        buf = bytearray()
        async for chunk in request.stream():
            buf += chunk
            if len(buf) > limit:
                return refuse(413, f"body over {limit} bytes")
        body = bytes(buf)
        ctype = request.headers.get("content-type", "")
        if "json" not in ctype:
            m = _TOKEN_IN_FORM.search(body)
            if m is None or not m.group(1):
                log.warning("bitrix24 event rejected: no application_token from=%s", client)
                return refuse(401, "unauthorized")
        try:
            ev = parse_event(await asyncio.to_thread(decode_event_body, body, ctype))
        except BadEvent as exc:
            log.warning("bitrix24 event refused: %s from=%s", exc, client)
            return refuse(400, f"malformed event: {exc}")
        if not await verifier.verify(ev):
            log.warning("bitrix24 event rejected: event=%s member_id=%s from=%s (application_token mismatch)",
                        ev.name or "-", ev.member_id or "-", client)
            return refuse(401, "unauthorized")
        ev.register_secrets()
        if not ev.object_id_valid:
            log.warning("bitrix24 event refused: event=%s record id %s is not a Bitrix24 id from=%s",
                        ev.name, (ev.object_id or "")[:40], client)
            return refuse(400, "data[FIELDS][ID] must be a positive integer")
        await callback(ev)
        return JSONResponse({"ok": True})

    return router


class OfflineQueue:
    """The pull queue of offline events (sheet §7.6): reserve with clear=0, confirm with event.offline.clear."""

    def __init__(self, client: Bitrix24Client, *, auth_connector: str | None = None) -> None:
        self.c = client
        self.auth_connector = auth_connector or client.auth_connector

    async def bind(self, events: list[str]) -> None:
        for e in events:
            p: dict[str, Any] = {"event": e, "event_type": "offline"}
            if self.auth_connector:
                p["auth_connector"] = self.auth_connector
            await self.c.call("event.bind", p, batch=False)

    async def fetch(self, limit: int = 50) -> tuple[str | None, list[dict[str, Any]]]:
        res = await self.c.call("event.offline.get", {"clear": 0, "limit": int(limit)}, batch=False)
        res = res or {}
        return res.get("process_id"), list(res.get("events") or [])

    async def clear(self, process_id: str, message_ids: list[str] | None = None) -> None:
        p: dict[str, Any] = {"process_id": process_id}
        if message_ids:
            p["message_id"] = list(message_ids)
        await self.c.call("event.offline.clear", p, batch=False)

    async def error(self, process_id: str, message_ids: list[str]) -> None:
        await self.c.call("event.offline.error", {"process_id": process_id, "message_id": list(message_ids)},
                          batch=False)

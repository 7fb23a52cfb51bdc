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

import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from b24sync.connectors.bitrix24.auth import OAuthAuth, register_secret
from b24sync.connectors.bitrix24.client import Bitrix24Client
from b24sync.connectors.bitrix24.encoding import parse_php_form
from b24sync.connectors.bitrix24.limits import run_state
from b24sync.store.kv import SharedState

log = logging.getLogger("b24sync.bitrix24")


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
        return str(f["ID"]) if isinstance(f, dict) and "ID" in f else None

    @property
    def entity_type_id(self) -> int | None:
        f = self.data.get("FIELDS") if isinstance(self.data, dict) else None
        v = f.get("ENTITY_TYPE_ID") if isinstance(f, dict) else None
        return int(v) if v not in (None, "") else None


def parse_event(body: bytes | str | dict[str, Any]) -> Event:
    raw = body if isinstance(body, dict) else parse_php_form(body)
    auth = raw.get("auth") if isinstance(raw.get("auth"), dict) else {}
    for k in ("access_token", "refresh_token", "application_token"):
        register_secret(auth.get(k))
    data = raw.get("data")
    ts = raw.get("ts")
    return Event(
        name=str(raw.get("event", "")).upper(),
        data=data if isinstance(data, dict) else {},
        ts=int(ts) if str(ts or "").isdigit() else None,
        handler_id=raw.get("event_handler_id"),
        member_id=auth.get("member_id"),
        domain=auth.get("domain"),
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


def make_event_router(verifier: EventVerifier, callback: EventCallback, *, path: str = "/bitrix24/events") -> APIRouter:
    """A FastAPI ``APIRouter`` that accepts event POSTs, verifies them and hands them to ``callback``.

    Unverified requests get 401 and one log line with the event name and client address — never the token.
    """
    router = APIRouter()

    @router.post(path)
    async def intake(request: Request) -> JSONResponse:
        body = await request.body()
        ctype = request.headers.get("content-type", "")
        if "json" in ctype:
            import json

            try:
                ev = parse_event(json.loads(body or b"{}"))
            except ValueError:
                ev = parse_event(b"")
        else:
            ev = parse_event(body)
        client = request.client.host if request.client else "?"
        if not await verifier.verify(ev):
            log.warning("bitrix24 event rejected: event=%s member_id=%s from=%s (application_token mismatch)",
                        ev.name or "-", ev.member_id or "-", client)
            return JSONResponse({"error": "unauthorized"}, status_code=401)
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

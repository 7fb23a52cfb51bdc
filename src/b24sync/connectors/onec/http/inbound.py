"""Inbound endpoint where 1C pushes events (order status changed, payment posted, shipment posted).

1C HTTP calls are made by configuration code (``HTTPСоединение``), so the contract is ours to define (erp-side.md §2:
"conventions are whatever the 1C developer wrote"). This one:

    POST <mount>/onec/events
    Content-Type: application/json; charset=utf-8
    X-1C-Delivery-Id: <unique id of the event; retries repeat it>     (or "delivery_id" / "id" in the body)
    X-1C-Event: <kind>                                                (or "event" / "kind" in the body)
    X-1C-Secret: <shared secret>                                      (mode "secret")
    X-1C-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>        (mode "hmac"; a bare hex digest too)

    {"id": "…", "kind": "order.status_changed" | "payment.posted" | "shipment.posted" | …,
     "base": "trade", "occurred_at": "2026-…", "data": {…},
     "object": {"type": "Document_ЗаказКлиента", "ref": "<Ref_Key>"}}          (object optional)

(``delivery_id``/``event`` are accepted as synonyms of ``id``/``kind``; header names are parameters.)

Answers: 401 bad/missing auth (checked on the raw body before parsing, constant-time compare), 400 malformed body,
413 too large, 200 ``{"status": "accepted"}``; a delivery id already seen → 200 ``{"status": "duplicate"}`` without
processing again (so 1C's retry loop stops). If the handler fails → 500 and ``forget(delivery_id)`` (if given) so
1C's retry is processed.

``seen(delivery_id) -> bool`` must record the id and report whether it was already recorded, atomically (the server
backs it with the store's inbox table: INSERT … unique delivery id; a conflict means "seen").
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

KNOWN_EVENTS = ("order.status_changed", "payment.posted", "shipment.posted", "invoice.posted", "document.posted",
                "document.unposted", "object.changed", "object.deleted")
DEFAULT_MAX_BODY = 1024 * 1024


@dataclass(frozen=True)
class InboundEvent:
    delivery_id: str
    event: str
    object_type: str | None
    ref: str | None
    data: dict[str, Any] = field(default_factory=dict)
    occurred_at: str | None = None
    base: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


def sign(secret: str | bytes, body: bytes) -> str:
    """The signature header value for ``body`` (what a 1C sender computes with ``ХешированиеДанных``/HMAC)."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


async def _maybe_await(v: Any) -> Any:
    return await v if inspect.isawaitable(v) else v


def inbound_router(
    *,
    on_event: Callable[[InboundEvent], Awaitable[None] | None],
    seen: Callable[[str], bool | Awaitable[bool]],
    mode: Literal["secret", "hmac"] = "hmac",
    secret: str | None = None,
    secret_env: str | None = None,
    forget: Callable[[str], Awaitable[None] | None] | None = None,
    path: str = "/onec/events",
    secret_header: str = "X-1C-Secret",
    signature_header: str = "X-1C-Signature",
    delivery_header: str = "X-1C-Delivery-Id",
    event_header: str = "X-1C-Event",
    allowed_events: tuple[str, ...] | None = None,
    max_body: int = DEFAULT_MAX_BODY,
) -> APIRouter:
    key = secret if secret is not None else (os.environ.get(secret_env) if secret_env else None)
    if not key:
        raise ValueError("inbound_router needs a secret (secret= or secret_env= naming a set variable)")
    key_bytes = key.encode()
    router = APIRouter()

    def authorised(request: Request, body: bytes) -> bool:
        if mode == "secret":
            got = request.headers.get(secret_header, "")
            return hmac.compare_digest(got.encode(), key_bytes)
        got = request.headers.get(signature_header, "").strip()
        expected = sign(key_bytes, body)
        if not got.startswith("sha256="):
            got = "sha256=" + got  # accept a bare hex digest too
        return hmac.compare_digest(got.lower().encode(), expected.encode())

    @router.post(path)
    async def receive(request: Request) -> JSONResponse:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_body:
            return JSONResponse({"error": "body too large"}, status_code=413)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_body:
                return JSONResponse({"error": "body too large"}, status_code=413)
        raw = bytes(body)
        if not authorised(request, raw):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        try:
            text = raw.decode("utf-8-sig")  # UTF-8, tolerate a BOM (1C writers may add one, §2)
            payload = json.loads(text)
        except (UnicodeDecodeError, ValueError):
            return JSONResponse({"error": "body is not UTF-8 JSON"}, status_code=400)
        if not isinstance(payload, dict):
            return JSONResponse({"error": "body must be a JSON object"}, status_code=400)
        delivery_id = request.headers.get(delivery_header) or payload.get("delivery_id") or payload.get("id")
        event = payload.get("event") or payload.get("kind") or request.headers.get(event_header)
        obj = payload.get("object") or {}
        problems = []
        if isinstance(delivery_id, int) and not isinstance(delivery_id, bool):
            delivery_id = str(delivery_id)
        if not isinstance(delivery_id, str) or not delivery_id.strip() or len(delivery_id) > 200:
            problems.append("delivery_id")
        if not isinstance(event, str) or not event:
            problems.append("event")
        elif allowed_events is not None and event not in allowed_events:
            problems.append(f"event {event!r} not accepted here")
        if not isinstance(obj, dict):
            problems.append("object")
        data = payload.get("data") or {}
        if not isinstance(data, dict):
            problems.append("data")
        if problems:
            return JSONResponse({"error": "malformed event", "fields": problems}, status_code=400)
        assert isinstance(delivery_id, str) and isinstance(event, str)
        if await _maybe_await(seen(delivery_id)):
            return JSONResponse({"status": "duplicate", "delivery_id": delivery_id}, status_code=200)
        ev = InboundEvent(delivery_id=delivery_id, event=event, object_type=obj.get("type"),
                          ref=obj.get("ref"), data=data, occurred_at=payload.get("occurred_at"),
                          base=payload.get("base"), raw=payload)
        try:
            await _maybe_await(on_event(ev))
        except Exception:
            if forget is not None:
                await _maybe_await(forget(delivery_id))
            return JSONResponse({"error": "processing failed; retry"}, status_code=500)
        return JSONResponse({"status": "accepted", "delivery_id": delivery_id}, status_code=200)

    return router

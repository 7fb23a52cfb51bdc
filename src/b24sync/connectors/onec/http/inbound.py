"""Inbound endpoint where 1C pushes events (order status changed, payment posted, shipment posted).

1C HTTP calls are made by configuration code (``HTTPСоединение``), so the contract is ours to define (erp-side.md §2:
"conventions are whatever the 1C developer wrote"). This one:

    POST <mount>/onec/events
    Content-Type: application/json; charset=utf-8
    X-1C-Delivery-Id: <unique id of the event; retries repeat it>     (or "delivery_id" / "id" in the body)
    X-1C-Timestamp: <unix seconds when the event was signed>          (mode "hmac", required)
    X-1C-Event: <kind>                                                (or "event" / "kind" in the body)
    X-1C-Secret: <shared secret>                                      (mode "secret")
    X-1C-Signature: sha256=<hex HMAC-SHA256(secret, "<delivery id>.<timestamp>." + raw body)>   (mode "hmac")

Signing follows Standard Webhooks (research anchors.md §4.3): the signed content is ``id.timestamp.body``, so a
captured body cannot be replayed under a new delivery id, and a timestamp further than ``tolerance`` seconds
(default 300 s, as Standard Webhooks and Stripe) from now is refused (401). The signature header may carry several
space-separated values (``sha256=<hex>``, a bare hex digest, or Standard Webhooks' ``v1,<base64>``), which lets a
sender sign with an old and a new secret while rotating.

    {"id": "…", "kind": "order.status_changed" | "payment.posted" | "shipment.posted" | …,
     "base": "trade", "occurred_at": "2026-…", "data": {…},
     "object": {"type": "Document_ЗаказКлиента", "ref": "<Ref_Key>"}}          (object optional)

(``delivery_id``/``event`` are accepted as synonyms of ``id``/``kind``; header names are parameters.)

Answers: 401 bad/missing auth (checked on the raw body before parsing, constant-time compare), 400 malformed body
(not UTF-8 JSON, not an object, nested deeper than ``max_depth``, a field of the wrong type, an ``object.ref`` not
of the id shape ``ref_pattern``), 413 too large (``max_body``, default 1 MiB; Content-Length is checked before any
byte is read), 200 ``{"status": "accepted"}``; a delivery id already seen → 200 ``{"status": "duplicate"}`` without
processing again (so 1C's retry loop stops). If the handler fails → 500 and ``forget(delivery_id)`` (if given) so
1C's retry is processed.

``seen(delivery_id) -> bool`` must record the id and report whether it was already recorded, atomically (the server
backs it with the store's inbox table: INSERT … unique delivery id; a conflict means "seen").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import inspect
import json
import os
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from b24sync.connectors.jsonwire import depth_ok

KNOWN_EVENTS = ("order.status_changed", "payment.posted", "shipment.posted", "invoice.posted", "document.posted",
                "document.unposted", "object.changed", "object.deleted")
DEFAULT_MAX_BODY = 1024 * 1024
DEFAULT_TOLERANCE_S = 300  # Standard Webhooks / Stripe default (anchors.md §4.3)
DEFAULT_MAX_DEPTH = 32
# A 1C reference: a Ref_Key GUID, or (1C HTTP services) any short printable code — no control characters, no quotes
GUID_RE = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
CODE_RE = r"[^\x00-\x1f\x7f\"'\\;]{1,150}"


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


def _mac(key: bytes, delivery_id: str, timestamp: int | str, body: bytes) -> bytes:
    return hmac.new(key, f"{delivery_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()


def sign(secret: str | bytes, body: bytes, *, delivery_id: str, timestamp: int | str) -> str:
    """The signature header value (what a 1C sender computes with ``HMAC`` over ``id.timestamp.body``)."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + _mac(key, delivery_id, timestamp, body).hex()


def signed_headers(secret: str | bytes, body: bytes, delivery_id: str, timestamp: int | None = None) -> dict[str, str]:
    """The three headers of a signed delivery: id, timestamp (now unless given) and signature."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return {"X-1C-Delivery-Id": delivery_id, "X-1C-Timestamp": str(ts),
            "X-1C-Signature": sign(secret, body, delivery_id=delivery_id, timestamp=ts)}


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
    timestamp_header: str = "X-1C-Timestamp",
    tolerance: int = DEFAULT_TOLERANCE_S,
    max_depth: int = DEFAULT_MAX_DEPTH,
    ref_pattern: str = CODE_RE,
    clock: Callable[[], float] = time.time,
) -> APIRouter:
    key = secret if secret is not None else (os.environ.get(secret_env) if secret_env else None)
    if not key:
        raise ValueError("inbound_router needs a secret (secret= or secret_env= naming a set variable)")
    key_bytes = key.encode()
    ref_re, code_re = re.compile(ref_pattern), re.compile(CODE_RE)
    router = APIRouter()

    def signature_ok(request: Request, body: bytes, delivery_id: str) -> bool:
        ts = request.headers.get(timestamp_header, "").strip()
        if not (ts.isascii() and ts.isdigit() and len(ts) <= 12) or abs(clock() - int(ts)) > tolerance:
            return False  # missing, malformed or outside the window: a replay of an old capture
        expected = _mac(key_bytes, delivery_id, ts, body)
        ok = False
        for given in request.headers.get(signature_header, "").split():
            try:
                if given.startswith("v1,"):
                    mac = base64.b64decode(given[3:], validate=True)
                else:
                    mac = bytes.fromhex(given.removeprefix("sha256="))
            except ValueError:
                continue
            ok |= hmac.compare_digest(mac, expected)
        return ok

    def body_delivery_id(text: str) -> str | None:
        """The delivery id in the body, read only when no header carries it (then it is covered by the body MAC)."""
        try:
            p = json.loads(text) if depth_ok(text, max_depth) else None
        except ValueError:
            return None
        v = (p.get("delivery_id") or p.get("id")) if isinstance(p, dict) else None
        return str(v) if isinstance(v, (str, int)) and not isinstance(v, bool) else None

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
        header_id = request.headers.get(delivery_header)
        if mode == "secret":
            if not hmac.compare_digest(request.headers.get(secret_header, "").encode(), key_bytes):
                return JSONResponse({"error": "unauthorized"}, status_code=401)
        else:
            signed_id = header_id or body_delivery_id(raw.decode("utf-8-sig", errors="replace"))
            if signed_id is None or not signature_ok(request, raw, signed_id):
                return JSONResponse({"error": "unauthorized"}, status_code=401)
        try:
            text = raw.decode("utf-8-sig")  # UTF-8, tolerate a BOM (1C writers may add one, §2)
            if not depth_ok(text, max_depth):
                return JSONResponse({"error": f"body nested deeper than {max_depth}"}, status_code=400)
            payload = json.loads(text)
        except (UnicodeDecodeError, ValueError, RecursionError):
            return JSONResponse({"error": "body is not UTF-8 JSON"}, status_code=400)
        if not isinstance(payload, dict):
            return JSONResponse({"error": "body must be a JSON object"}, status_code=400)
        delivery_id = header_id or payload.get("delivery_id") or payload.get("id")
        event = payload.get("event") or payload.get("kind") or request.headers.get(event_header)
        obj = payload.get("object") or {}
        problems = []
        if isinstance(delivery_id, int) and not isinstance(delivery_id, bool):
            delivery_id = str(delivery_id)
        if not isinstance(delivery_id, str) or not delivery_id.strip() or len(delivery_id) > 200 \
                or not code_re.fullmatch(delivery_id):
            problems.append("delivery_id")
        if not isinstance(event, str) or not re.fullmatch(r"[A-Za-z0-9_.:-]{1,100}", event):
            problems.append("event")
        elif allowed_events is not None and event not in allowed_events:
            problems.append(f"event {event!r} not accepted here")
        if not isinstance(obj, dict):
            problems.append("object")
        else:
            ref, otype = obj.get("ref"), obj.get("type")
            if ref is not None and not (isinstance(ref, str) and ref_re.fullmatch(ref)):
                problems.append("object.ref")
            if otype is not None and not (isinstance(otype, str) and code_re.fullmatch(otype)):
                problems.append("object.type")
        for k in ("occurred_at", "base"):
            if payload.get(k) is not None and not isinstance(payload.get(k), str):
                problems.append(k)
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

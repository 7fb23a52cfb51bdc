"""Bitrix24's offline event queue as the lossless event path for OAuth apps (sheet bitrix24-rest.md §7.6;
EN:api-reference/events/offline-events.md, event-offline-get.md).

Enabled per Bitrix24 system with ``offline_events: true`` (application auth only; binding needs an admin). At start
the consumer binds every ``webhook:`` trigger event of the entities on that portal as an offline event
(``event.bind {event_type: offline}``; an existing binding is fine). Then, every few seconds:

1. **leftovers first** — events reserved under our process id by a run that died before confirming them
   (``event.offline.list``: they are not handed out again and would wait 30 days): they are applied and cleared;
2. ``event.offline.get {clear: 0, process_id}`` reserves a batch; each event becomes sync jobs for the entities
   whose trigger names it, with its id + time stamp in the store's inbox **in the same transaction**; then
   ``event.offline.clear {process_id, id}`` confirms the batch.

A crash between the commit and the clear re-applies the events on the next start and the inbox drops them, so an
event lost while b24sync was down is delivered once in effect. Our own writes carry ``auth_connector`` and never
come back (client.py)."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import structlog

from b24sync.engine.errors import PermanentError
from b24sync.engine.runtime import Runtime
from b24sync.server.intake import accept_event
from b24sync.store.kv import SqlState

log = structlog.get_logger("b24sync.bitrix24.offline")


def _process_id(rt: Runtime, system: str) -> str:
    def fn(old: dict[str, Any] | None) -> tuple[dict[str, Any], str]:
        if old and old.get("process_id"):
            return old, str(old["process_id"])
        pid = uuid.uuid4().hex
        return {"process_id": pid}, pid

    return SqlState(rt.db).update(f"b24offline:{system}", fn)


def _record_id(ev: dict[str, Any]) -> str | None:
    data = ev.get("EVENT_DATA")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return None
    if not isinstance(data, dict):
        return None
    fields = data.get("FIELDS") or data.get("fields") or {}
    rid = fields.get("ID") if isinstance(fields, dict) else None
    return str(rid) if rid not in (None, "") else None


def _apply(rt: Runtime, system: str, ev: dict[str, Any]) -> int:
    rid = _record_id(ev)
    if rid is None:
        log.warning("offline event without a record id; cleared", event=ev.get("EVENT_NAME"), id=ev.get("ID"))
        return 0
    res = accept_event(rt, side="crm", event=str(ev.get("EVENT_NAME", "")), record_id=rid,
                       source=f"b24offline:{system}"[:64], delivery_id=f"{ev.get('ID')}:{ev.get('TIMESTAMP_X')}",
                       system=system)
    return res.jobs


async def bind(rt: Runtime, system: str) -> list[str]:
    client = rt.adapters[system].client  # type: ignore[attr-defined]
    events = sorted({t.webhook.upper() for e in rt.spec.entities.values() if rt.spec.system_for(e, "crm") == system
                     for t in e.triggers if t.webhook})
    for name in events:
        try:
            await client.call("event.bind", {"event": name, "event_type": "offline"})
        except PermanentError as e:
            if "ALREADY" not in str(e).upper() and "Unable to set" not in str(e):
                raise
    return events


async def drain_once(rt: Runtime, system: str, *, limit: int = 50) -> int:
    """Apply leftovers of a dead run, then every event waiting; return how many events were applied."""
    client = rt.adapters[system].client  # type: ignore[attr-defined]
    pid = await asyncio.to_thread(_process_id, rt, system)
    done = 0
    leftovers: list[dict[str, Any]] = []
    start: int | None = 0
    while start is not None:
        page = await client.call_full("event.offline.list", {"start": start}, batch=False)
        leftovers += [r for r in (page.result or []) if str(r.get("PROCESS_ID") or "") == pid]
        start = page.next
    batches = [leftovers] if leftovers else []
    while True:
        for batch in batches:
            for ev in batch:
                await asyncio.to_thread(_apply, rt, system, ev)
            if batch:
                await client.call("event.offline.clear", {"process_id": pid, "id": [str(e["ID"]) for e in batch]},
                                  batch=False)
                done += len(batch)
        got = await client.call("event.offline.get", {"clear": 0, "process_id": pid, "limit": limit}, batch=False)
        events = (got or {}).get("events") or []
        if not events:
            return done
        batches = [events]


async def consume(rt: Runtime, system: str, *, stop: asyncio.Event | None = None, interval: float = 3.0) -> None:
    stop = stop or asyncio.Event()
    try:
        bound = await bind(rt, system)
        log.info("offline events bound", system=system, events=bound)
    except Exception as e:  # noqa: BLE001
        log.warning("offline event binding failed (an admin's app token is needed)", error=str(e))
    while not stop.is_set():
        try:
            n = await drain_once(rt, system)
            if n:
                log.info("offline events applied", system=system, events=n)
        except Exception as e:  # noqa: BLE001 - retried at the next interval; nothing is confirmed meanwhile
            log.warning("offline events not read", system=system, error=f"{type(e).__name__}: {e}")
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            pass


def tasks(rt: Runtime) -> list:
    return [consume(rt, name) for name, s in rt.spec.systems.items()
            if s.type == "bitrix24" and s.config().get("offline_events") and name in rt.adapters]

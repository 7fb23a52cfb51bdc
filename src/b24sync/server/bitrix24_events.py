"""The Bitrix24 event route of the b24sync server: verified event POSTs become sync jobs.

``bitrix24_router(rt, system_name, config)`` (registered in ``server/mount.py`` for systems of type ``bitrix24``)
mounts ``make_event_router`` at ``POST /bitrix24/<system>/events``. Tokens it accepts (sheet §7.4):
``event_tokens: [...]`` or ``application_token:`` in the system's config (the token of the outgoing webhook, or the
application's), else ``B24SYNC_B24_APP_TOKEN`` (comma-separated); with OAuth auth also the application token stored
at ONAPPINSTALL. A verified event is a hint (sheet §7.2: only ids, no data): ``accept_event`` enqueues a sync of the
record for every entity whose ``webhook:`` trigger names the event; the job re-reads the record. The portal does not
retry deliveries (sheet §7.3), so the scheduled poll stays the safety net.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from fastapi import APIRouter

from b24sync.connectors.bitrix24.auth import OAuthAuth
from b24sync.connectors.bitrix24.events import Event, EventVerifier, make_event_router
from b24sync.engine.runtime import Runtime
from b24sync.server.intake import accept_event


def _tokens(config: dict[str, Any]) -> list[str]:
    tokens = list(config.get("event_tokens") or [])
    if config.get("application_token"):
        tokens.append(str(config["application_token"]))
    if not tokens:
        tokens = [t.strip() for t in os.environ.get("B24SYNC_B24_APP_TOKEN", "").split(",") if t.strip()]
    return tokens


def bitrix24_router(rt: Runtime, system_name: str, config: dict[str, Any]) -> APIRouter:
    adapter = rt.adapters.get(system_name)
    auth = getattr(getattr(adapter, "client", None), "auth", None)
    verifier = EventVerifier(_tokens(config), oauth=auth if isinstance(auth, OAuthAuth) else None)

    async def on_event(ev: Event) -> None:
        if ev.object_id is None:  # ONAPPINSTALL, ONOFFLINEEVENT, ...: nothing to sync
            return
        # No delivery id in Bitrix24 events (sheet §9.16); a repeated hint only causes a re-read, which the
        # fingerprints turn into "unchanged".
        await asyncio.to_thread(accept_event, rt, side="crm", event=ev.name, record_id=ev.object_id,
                                source=f"bitrix24:{system_name}", system=system_name)

    router = make_event_router(verifier, on_event, path=f"/bitrix24/{system_name}/events")
    from b24sync.server.bitrix24_robots import has_robots, robot_route

    if has_robots(rt, system_name):  # POST /bitrix24/<system>/robots: automation robots, the same token checks
        robot_route(rt, system_name, verifier, router)
    return router

"""Which connector routers the server mounts for a runtime (event intake per system type)."""

from __future__ import annotations

from typing import Any

from b24sync.engine.runtime import Runtime


def routers_for(rt: Runtime) -> list[Any]:
    routers: list[Any] = []
    for name, system in rt.spec.systems.items():
        factory = ROUTERS.get(system.type)
        router = factory(rt, name, system.config()) if factory is not None else None
        if router is not None:  # a factory returns None when the system is not configured to receive events
            routers.append(router)
    return routers


# system type -> factory(rt, system_name, config) -> APIRouter
ROUTERS: dict[str, Any] = {}


def _bitrix24(rt: Runtime, system_name: str, config: dict[str, Any]) -> Any:
    from b24sync.server.bitrix24_events import bitrix24_router

    return bitrix24_router(rt, system_name, config)


ROUTERS["bitrix24"] = _bitrix24


def _onec_events(rt: Runtime, system_name: str, config: dict[str, Any]) -> Any:
    """1C posts events (order status changed, payment posted, …) to /onec/<system>/events, signed with a shared
    secret; each becomes sync jobs for the entities whose `event:` trigger names it. A delivery id is processed
    once (the store's inbox); a failed processing forgets it so 1C's retry gets through."""
    if not (config.get("events_secret") or config.get("events_secret_env")):
        return None
    from sqlalchemy import delete

    from b24sync.connectors.onec.http.inbound import (CODE_RE, DEFAULT_MAX_BODY, DEFAULT_TOLERANCE_S, GUID_RE,
                                                      InboundEvent, inbound_router)
    from b24sync.server.intake import accept_event, seen_before
    from b24sync.store.models import InboxEntry

    source = f"onec:{system_name}"

    def seen(delivery_id: str) -> bool:
        with rt.db.begin() as conn:
            return seen_before(conn, source, delivery_id)

    def forget(delivery_id: str) -> None:
        with rt.db.begin() as conn:
            conn.execute(delete(InboxEntry).where(InboxEntry.source == source, InboxEntry.delivery_id == delivery_id))

    def on_event(ev: InboundEvent) -> None:
        if ev.ref:
            accept_event(rt, side="erp", event=ev.event, record_id=ev.ref, source=source, system=system_name)

    return inbound_router(on_event=on_event, seen=seen, forget=forget, mode=config.get("events_auth", "hmac"),
                          secret=config.get("events_secret"), secret_env=config.get("events_secret_env"),
                          path=f"/onec/{system_name}/events",
                          max_body=int(config.get("events_max_body") or DEFAULT_MAX_BODY),
                          tolerance=int(config.get("events_tolerance_s") or DEFAULT_TOLERANCE_S),
                          # OData objects are keyed by Ref_Key GUIDs; an HTTP service's own codes are free text
                          ref_pattern=GUID_RE if rt.spec.systems[system_name].type == "1c-odata" else CODE_RE)


def _commerceml_exchange(rt: Runtime, system_name: str, config: dict[str, Any]) -> Any:
    """The site side of 1C's CommerceML exchange at /1c_exchange/<system>: catalogue files are kept as the system's
    latest files and fed to the catalogue flow's CommerceML objects (which the scheduler polls like any source);
    orders the CRM sent wait in the system's outbox until 1C fetches and confirms them; documents 1C posts back
    (its numbers, statuses) become changes of the ``orders`` object."""
    if not (config.get("exchange_user") and config.get("exchange_password")):
        return None
    from dataclasses import fields
    from pathlib import Path

    from b24sync.connectors.commerceml.exchange import ExchangeHandlers, ExchangeSettings, create_exchange_router
    from b24sync.connectors.commerceml.model import Document
    from b24sync.engine.errors import PermanentError
    from b24sync.flows.catalog import commerceml_catalog

    system: Any = rt.adapters.get(system_name)
    work = Path(config.get("work_dir") or f".b24sync/commerceml/{system_name}") / "exchange"
    work.mkdir(parents=True, exist_ok=True)
    settings = ExchangeSettings(username=config["exchange_user"], password=config["exchange_password"], work_dir=work,
                                file_limit=int(config.get("file_limit") or 8 * 1024 * 1024),
                                **{f.name: (float if f.name == "max_zip_ratio" else int)(config[f.name])
                                   for f in fields(ExchangeSettings) if f.name in _EXCHANGE_LIMITS
                                   and config.get(f.name)})
    try:
        catalog: Any = commerceml_catalog(rt, system_name)
    except PermanentError:
        catalog = None  # no entity reads this system's catalogue
    if system is None and catalog is None:
        return None

    def on_records(batch: Any) -> None:
        if batch.exchange_type == "catalog":
            if catalog is not None:
                catalog.on_records(batch)
            if batch.last and system is not None:  # the file is complete: keep it for restarts
                name = Path(batch.filename).name
                hit = next((f for f in (work / batch.session_id).rglob(name) if f.is_file()), None)
                if hit is not None:
                    system.remember(hit)
        elif system is not None:
            system.documents_from_1c([r for r in batch.records if isinstance(r, Document)])

    handlers = ExchangeHandlers(on_records=on_records,
                                get_orders=system.pending_orders if system is not None else None,
                                on_orders_exported=system.orders_exported if system is not None else None)
    return create_exchange_router(settings, handlers, path=f"/1c_exchange/{system_name}")


# limits of the CommerceML exchange a system's config may set (docs/security.md)
_EXCHANGE_LIMITS = ("max_file_bytes", "max_session_bytes", "max_unzipped_bytes", "max_zip_ratio", "max_zip_members")

ROUTERS["1c-odata"] = _onec_events
ROUTERS["1c-http"] = _onec_events
ROUTERS["commerceml"] = _commerceml_exchange

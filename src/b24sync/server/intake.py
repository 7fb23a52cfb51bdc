"""Turning an incoming event (a Bitrix24 webhook, an ERP push) into sync jobs for the entities it triggers.

Events are hints, never data: the job re-reads the record through the connector, so a forged or stale event can
at most cause a re-read. A delivery id seen before is ignored (idempotent consumer on the store's inbox table).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, insert, select

from b24sync.engine.metrics import ENQUEUED
from b24sync.engine.runtime import Runtime
from b24sync.engine.enqueue import enqueue_sync
from b24sync.spec.models import Side
from b24sync.store.db import utcnow
from b24sync.store.models import InboxEntry


@dataclass
class IntakeResult:
    duplicate: bool
    jobs: int
    entities: list[str]


def seen_before(conn: Connection, source: str, delivery_id: str) -> bool:
    """Record a delivery id; True if it was already recorded (the event is a duplicate)."""
    if conn.execute(select(InboxEntry.id).where(InboxEntry.source == source,
                                                InboxEntry.delivery_id == delivery_id)).first():
        return True
    conn.execute(insert(InboxEntry).values(source=source, delivery_id=delivery_id, received_at=utcnow()))
    return False


def entities_for(rt: Runtime, side: Side, event: str, system: str | None = None) -> list[str]:
    names = []
    for name, e in rt.spec.entities.items():
        if system and rt.spec.system_for(e, side) != system:
            continue
        for t in e.triggers:
            hit = (side == "crm" and t.webhook and t.webhook.upper() == event.upper()) or \
                  (side == "crm" and t.stage_change is not None and event.upper().startswith("ONCRM")
                   and e.crm.object.split(".")[-1].upper() in event.upper()) or \
                  (side == "erp" and t.event and t.event == event)
            if hit:
                names.append(name)
                break
    return names


def accept_event(rt: Runtime, *, side: Side, event: str, record_id: str, source: str,
                 delivery_id: str | None = None, system: str | None = None) -> IntakeResult:
    with rt.db.begin() as conn:
        if delivery_id is not None and seen_before(conn, source, delivery_id):
            return IntakeResult(True, 0, [])
        names = entities_for(rt, side, event, system)
        for name in names:
            enqueue_sync(conn, name, side, str(record_id), reason=f"event {event}", scope=rt.spec.scope(name))
            ENQUEUED.labels(name, "event").inc()
    return IntakeResult(False, len(names), names)

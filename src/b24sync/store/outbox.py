"""The transactional outbox (Camel / microservices.io): a committed change becomes a row in the same transaction
as the job's end, so a change is never published without being committed, nor committed without being published
eventually. The relay (b24sync.bus.relay) takes rows in id order and stamps them after the broker confirmed."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from b24sync.store.db import utcnow
from b24sync.store.models import OutboxEvent

_VERBS = {"created": "created", "recreated": "created", "updated": "updated", "linked": "linked", "relinked": "linked",
          "reverted": "updated", "deleted": "deleted"}


def add(conn: Connection, *, entity: str, action: str, event: dict[str, Any]) -> None:
    target, links = event.get("target", "crm"), event.get("links") or {}
    subject = f"{entity}/{target}:{links.get(target)}"
    conn.execute(insert(OutboxEvent).values(
        event_id=str(uuid.uuid4()), type=f"ru.b24sync.{entity}.{_VERBS.get(action, action)}.v1", subject=subject,
        entity=entity, data={"operation": action, "side": target, "values": _jsonable(event.get("values") or {}),
                             "links": links},
        created_at=utcnow()))


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in values.items():
        if isinstance(v, datetime):
            out[k] = v.isoformat()
        elif isinstance(v, (str, int, float, bool, list, dict)) or v is None:
            out[k] = v
        else:
            out[k] = str(v)  # Decimal and the like keep their exact text
    return out


def pending(conn: Connection, limit: int) -> list[Any]:
    """Unpublished rows, oldest first (rows with the OutboxEvent columns as attributes)."""
    t = OutboxEvent.__table__
    return list(conn.execute(select(t).where(t.c.published_at.is_(None)).order_by(t.c.id).limit(limit)))


def mark_published(conn: Connection, ids: list[int]) -> None:
    if ids:
        conn.execute(update(OutboxEvent).where(OutboxEvent.id.in_(ids)).values(published_at=utcnow()))


def count_pending(conn: Connection) -> int:
    from sqlalchemy import func

    return int(conn.execute(select(func.count()).select_from(OutboxEvent)
                            .where(OutboxEvent.published_at.is_(None))).scalar_one())

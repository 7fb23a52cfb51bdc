"""Resumable positions: poll cursors per entity and side, exchange-plan message numbers, event index keys."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from b24sync.store.db import utcnow
from b24sync.store.models import Cursor


def get(conn: Connection, name: str) -> dict[str, Any] | None:
    return conn.execute(select(Cursor.value).where(Cursor.name == name)).scalar()


def put(conn: Connection, name: str, value: dict[str, Any]) -> None:
    """Store a cursor inside the caller's transaction — the same one that commits the slice's jobs."""
    if conn.execute(update(Cursor).where(Cursor.name == name).values(value=value, updated_at=utcnow())).rowcount == 0:
        conn.execute(insert(Cursor).values(name=name, value=value, updated_at=utcnow()))


def all_cursors(engine: Engine) -> dict[str, tuple[dict[str, Any], Any]]:
    with engine.connect() as conn:
        return {r.name: (r.value, r.updated_at) for r in conn.execute(select(Cursor)).all()}

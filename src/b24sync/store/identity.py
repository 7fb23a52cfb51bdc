"""The identity map: which CRM record is which ERP record, for each entity (the *binder*'s table)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from b24sync.store.db import utcnow
from b24sync.store.models import Link


@dataclass(frozen=True)
class Binding:
    id: int
    entity: str
    crm_id: str | None
    erp_id: str | None
    match_key: str | None

    def id_on(self, side: str) -> str | None:
        return self.crm_id if side == "crm" else self.erp_id


def _col(side: str):  # type: ignore[no-untyped-def]
    return Link.crm_id if side == "crm" else Link.erp_id


def _binding(row: Any) -> Binding | None:
    return Binding(row.id, row.entity, row.crm_id, row.erp_id, row.match_key) if row else None


def find(conn: Connection, entity: str, side: str, record_id: str) -> Binding | None:
    row = conn.execute(select(Link).where(Link.entity == entity, _col(side) == record_id)).first()
    return _binding(row)


def find_by_key(conn: Connection, entity: str, match_key: str) -> Binding | None:
    row = conn.execute(select(Link).where(Link.entity == entity, Link.match_key == match_key)).first()
    return _binding(row)


def bind(conn: Connection, entity: str, *, crm_id: str | None, erp_id: str | None, match_key: str | None) -> Binding:
    """Record (or complete) the link between the two sides. Idempotent: an existing link is filled in, not duplicated."""
    now = utcnow()
    existing = None
    for side, rid in (("crm", crm_id), ("erp", erp_id)):
        if rid is not None and existing is None:
            existing = find(conn, entity, side, rid)
    if existing is None and match_key is not None:
        existing = find_by_key(conn, entity, match_key)
    if existing is None:
        new_id = conn.execute(
            insert(Link).values(entity=entity, crm_id=crm_id, erp_id=erp_id, match_key=match_key,
                                created_at=now, updated_at=now).returning(Link.id)
        ).scalar_one()
        return Binding(new_id, entity, crm_id, erp_id, match_key)
    values = {"updated_at": now}
    if crm_id is not None:
        values["crm_id"] = crm_id
    if erp_id is not None:
        values["erp_id"] = erp_id
    if match_key is not None and existing.match_key is None:
        values["match_key"] = match_key
    conn.execute(update(Link).where(Link.id == existing.id).values(**values))
    return Binding(existing.id, entity, crm_id or existing.crm_id, erp_id or existing.erp_id,
                   existing.match_key or match_key)

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


def find_many(conn: Connection, entity: str, side: str, record_ids: list[str]) -> dict[str, Binding]:
    """``find`` for many records of one side: record id → its binding (unbound ids are absent)."""
    out: dict[str, Binding] = {}
    ids = list(dict.fromkeys(record_ids))
    col = _col(side)
    for i in range(0, len(ids), 500):
        for row in conn.execute(select(Link).where(Link.entity == entity, col.in_(ids[i:i + 500]))):
            b = _binding(row)
            assert b is not None
            out.setdefault(str(b.id_on(side)), b)
    return out


def find_by_key(conn: Connection, entity: str, match_key: str) -> Binding | None:
    row = conn.execute(select(Link).where(Link.entity == entity, Link.match_key == match_key)).first()
    return _binding(row)


class RelinkRefused(Exception):
    """A link would be re-pointed: one side's record is already linked to another record of the other side.
    Nothing is changed; a person decides (merge duplicates, fix a key)."""

    def __init__(self, existing: Binding, crm_id: str | None, erp_id: str | None) -> None:
        super().__init__(f"{existing.entity}: CRM {existing.crm_id} is linked to ERP {existing.erp_id}; "
                         f"refusing to link CRM {crm_id} with ERP {erp_id}")
        self.existing = existing
        self.crm_id = crm_id
        self.erp_id = erp_id


def bind(conn: Connection, entity: str, *, crm_id: str | None, erp_id: str | None, match_key: str | None,
         replace: bool = False) -> Binding:
    """Record (or complete) the link between the two sides. Idempotent: an existing link is filled in, not duplicated.

    A link is never silently re-pointed: when one side's record is already linked to a *different* record of the
    other side, ``RelinkRefused`` is raised — unless ``replace`` says the old target is gone (deleted on that side
    and recreated by the master)."""
    now = utcnow()
    by_crm = find(conn, entity, "crm", crm_id) if crm_id is not None else None
    by_erp = find(conn, entity, "erp", erp_id) if erp_id is not None else None
    by_key = find_by_key(conn, entity, match_key) if match_key is not None and not (by_crm or by_erp) else None

    def clashes(b: Binding | None) -> bool:
        return b is not None and ((crm_id is not None and b.crm_id not in (None, crm_id))
                                  or (erp_id is not None and b.erp_id not in (None, erp_id)))

    if not replace:
        if by_crm is not None and by_erp is not None and by_crm.id != by_erp.id:
            raise RelinkRefused(by_erp, crm_id, erp_id)
        for b in (by_crm, by_erp, by_key):
            if clashes(b):
                assert b is not None
                raise RelinkRefused(b, crm_id, erp_id)
    existing = by_crm or by_erp or by_key
    if existing is None:
        new_id = conn.execute(
            insert(Link).values(entity=entity, crm_id=crm_id, erp_id=erp_id, match_key=match_key,
                                created_at=now, updated_at=now).returning(Link.id)
        ).scalar_one()
        _release(conn, entity, crm_id, erp_id)
        return Binding(new_id, entity, crm_id, erp_id, match_key)
    values = {"updated_at": now}
    if crm_id is not None:
        values["crm_id"] = crm_id
    if erp_id is not None:
        values["erp_id"] = erp_id
    if match_key is not None and existing.match_key is None:
        values["match_key"] = match_key
    conn.execute(update(Link).where(Link.id == existing.id).values(**values))
    if (crm_id is not None and existing.crm_id != crm_id) or (erp_id is not None and existing.erp_id != erp_id):
        _release(conn, entity, crm_id or existing.crm_id, erp_id or existing.erp_id)
    return Binding(existing.id, entity, crm_id or existing.crm_id, erp_id or existing.erp_id,
                   existing.match_key or match_key)


def _release(conn: Connection, entity: str, crm_id: str | None, erp_id: str | None) -> None:
    """A pair just got linked (both sides known): held records waiting for this link go back on the queue, in the
    same transaction (a payment that named an order before the order had its deal)."""
    if crm_id is None or erp_id is None:
        return
    from b24sync.store import queue

    queue.release_waiting(conn, [queue.wait_key(entity, "crm", crm_id), queue.wait_key(entity, "erp", erp_id)],
                          why=f"{entity}: CRM {crm_id} linked with ERP {erp_id}")

"""Named exclusive leases (table ``leases``): one holder at a time, e.g. one poller per entity and side.

A lease is taken when it is free, expired, or already ours; its holder renews it (the worker heartbeat renews every
lease its process holds); it is taken over once the holder stops renewing (expiry) or at once when the holder is
known dead (``store.workers.free_dead`` deletes a dead worker's leases). ``holds`` inside a transaction is the
fencing check: a writer that lost its lease (it stalled and was taken over) must not commit as if it still held it.
On PostgreSQL the row is locked ``FOR UPDATE``; SQLite serialises writers with ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from b24sync.store.db import is_postgres, utcnow
from b24sync.store.models import Lease
from b24sync.store.queue import _aware


def acquire(engine: Engine, name: str, owner: str, *, seconds: float) -> bool:
    """Take or renew the lease ``name`` for ``seconds``; False while another owner holds it unexpired."""
    now = utcnow()
    until = now + timedelta(seconds=seconds)
    try:
        with engine.begin() as conn:
            q = select(Lease.owner, Lease.until).where(Lease.name == name)
            if is_postgres(engine):
                q = q.with_for_update()
            row = conn.execute(q).first()
            if row is None:
                conn.execute(insert(Lease).values(name=name, owner=owner, until=until))
                return True
            if row.owner != owner and _aware(row.until) > now:
                return False
            conn.execute(update(Lease).where(Lease.name == name).values(owner=owner, until=until))
            return True
    except IntegrityError:  # another process inserted the same lease first: it holds it
        return False


def renew_all(engine: Engine, owner: str, *, seconds: float) -> int:
    """Extend every lease ``owner`` holds (the heartbeat). Returns how many."""
    with engine.begin() as conn:
        return conn.execute(update(Lease).where(Lease.owner == owner)
                            .values(until=utcnow() + timedelta(seconds=seconds))).rowcount


def holds(conn: Connection, name: str, owner: str) -> bool:
    """Inside the caller's transaction: whether ``owner`` still holds ``name`` unexpired (and lock it on PostgreSQL)."""
    q = select(Lease.owner, Lease.until).where(Lease.name == name)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    row = conn.execute(q).first()
    return row is not None and row.owner == owner and _aware(row.until) > utcnow()


def release(engine: Engine, owner: str, name: str | None = None) -> int:
    """Give up one lease (or all of ``owner``'s)."""
    with engine.begin() as conn:
        q = delete(Lease).where(Lease.owner == owner)
        if name is not None:
            q = q.where(Lease.name == name)
        return conn.execute(q).rowcount


def holder(engine: Engine, name: str) -> str | None:
    """Who holds ``name`` unexpired, if anyone."""
    with engine.connect() as conn:
        row = conn.execute(select(Lease.owner, Lease.until).where(Lease.name == name)).first()
    return row.owner if row is not None and _aware(row.until) > utcnow() else None

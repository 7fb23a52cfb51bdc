"""A named lease in the store (table ``leases``): one holder at a time, taken over when the holder stops renewing.
Used by the bus relay so that of several ``b24sync run`` processes exactly one publishes the outbox (order)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from b24sync.store.db import utcnow
from b24sync.store.models import Lease


def hold(db: Engine, name: str, owner: str, seconds: float) -> bool:
    """Take or renew ``name`` for ``owner``; False if someone else holds it and has not let it lapse."""
    now = utcnow()
    until = now + timedelta(seconds=seconds)
    try:
        with db.begin() as conn:
            row = conn.execute(select(Lease.owner, Lease.until).where(Lease.name == name).with_for_update()).first()
            if row is None:
                conn.execute(insert(Lease).values(name=name, owner=owner, until=until))
                return True
            lapsed = (row.until if row.until.tzinfo else row.until.replace(tzinfo=now.tzinfo)) < now
            if row.owner != owner and not lapsed:
                return False
            conn.execute(update(Lease).where(Lease.name == name).values(owner=owner, until=until))
            return True
    except IntegrityError:  # another process inserted it first
        return False


def release(db: Engine, name: str, owner: str) -> None:
    with db.begin() as conn:
        conn.execute(delete(Lease).where(Lease.name == name, Lease.owner == owner))

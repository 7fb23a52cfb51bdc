"""The bus relay's lease: the store's named leases (``store/leases.py``, table ``leases``), so that of several
``b24sync run`` processes exactly one publishes the outbox (order)."""

from __future__ import annotations

from sqlalchemy import Engine

from b24sync.store import leases as store_leases


def hold(db: Engine, name: str, owner: str, seconds: float) -> bool:
    """Take or renew ``name`` for ``owner``; False if someone else holds it and has not let it lapse."""
    return store_leases.acquire(db, name, owner, seconds=seconds)


def release(db: Engine, name: str, owner: str) -> None:
    store_leases.release(db, owner, name)

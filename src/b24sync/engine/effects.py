"""The effects ledger: remote side effects that must happen exactly once in effect (a timeline entry per payment,
a stage move when a sum reaches its total), whatever replays, polls and crashes do.

Protocol (Camel's Idempotent Consumer, with the outcome-unknown case made explicit):

1. an effect already ``done`` is never done again;
2. otherwise ``pending`` is committed *before* the remote call;
3. the remote call runs, then ``done`` with the remote id is committed;
4. an effect found ``pending`` (a crash, a kill or a lost answer between 2 and 3) is first looked up on the remote
   (``find``: e.g. ``crm.timeline.comment.list`` for an entry with the same text) — found → ``done`` with its id,
   not repeated; not found → done now.

Bitrix24 timeline entries carry no external id (document-flows.md A.6, E.23), hence the store keeps
"effect key → remote id" itself and the lookup compares the entry's text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from b24sync.engine.runtime import Runtime
from b24sync.store.db import utcnow
from b24sync.store.models import Effect


def state(rt: Runtime, key: str) -> tuple[str | None, str | None, dict[str, Any] | None]:
    with rt.db.connect() as conn:
        row = conn.execute(select(Effect.state, Effect.remote_id, Effect.data).where(Effect.key == key)).first()
    return (row[0], row[1], row[2]) if row else (None, None, None)


def _claim(rt: Runtime, key: str, data: dict[str, Any] | None) -> bool:
    """Commit ``pending``; False if the key is there already (done or pending)."""
    try:
        with rt.db.begin() as conn:
            conn.execute(insert(Effect).values(key=key, state="pending", data=data, created_at=utcnow()))
        return True
    except IntegrityError:
        return False


def _done(rt: Runtime, key: str, remote_id: str | None) -> None:
    with rt.db.begin() as conn:
        conn.execute(update(Effect).where(Effect.key == key).values(state="done", remote_id=remote_id,
                                                                     done_at=utcnow()))


async def once(rt: Runtime, key: str, do: Callable[[], Awaitable[Any]],
               find: Callable[[], Awaitable[Any]] | None = None, *, data: dict[str, Any] | None = None) -> bool:
    """Do the effect unless it was done; True when it was done by this call."""
    st, _, _ = await asyncio.to_thread(state, rt, key)
    if st == "done":
        return False
    if st is None and not await asyncio.to_thread(_claim, rt, key, data):
        st = "pending"  # claimed since we looked (another attempt of the same job): treat as in doubt
    if st == "pending" and find is not None:
        found = await find()
        if found is not None:
            await asyncio.to_thread(_done, rt, key, str(found))
            return False
    rid = await do()
    await asyncio.to_thread(_done, rt, key, None if rid is None else str(rid))
    return True


def put(rt: Runtime, key: str, data: dict[str, Any]) -> None:
    """Remember a value under an effect key (a lock's snapshot), done at once."""
    with rt.db.begin() as conn:
        put_in(conn, key, data)


def put_in(conn: Connection, key: str, data: dict[str, Any]) -> None:
    """``put`` inside a transaction of the caller's (committed with a job's outcome)."""
    if conn.execute(update(Effect).where(Effect.key == key).values(data=data, state="done",
                                                                   done_at=utcnow())).rowcount == 0:
        conn.execute(insert(Effect).values(key=key, state="done", data=data, created_at=utcnow(), done_at=utcnow()))


def forget(rt: Runtime, key: str) -> None:
    """Arm an effect again (a sum fell below its total: the next crossing moves the stage again)."""
    with rt.db.begin() as conn:
        conn.execute(delete(Effect).where(Effect.key == key))

"""Opening the state store: SQLite file (WAL) by default, PostgreSQL when B24SYNC_DATABASE_URL says so.

Migrations run on open (Alembic), so every process that opens the store sees the current schema.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.pool import QueuePool

DEFAULT_SQLITE_PATH = ".b24sync/state.db"
_MIGRATE_LOCK = threading.Lock()


def utcnow() -> datetime:
    return datetime.now(UTC)


def database_url(explicit: str | None = None) -> str:
    """The store URL: an explicit one, else ``B24SYNC_DATABASE_URL``, else a SQLite file under ``.b24sync/``."""
    url = explicit or os.environ.get("B24SYNC_DATABASE_URL")
    if url:
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            # psycopg 3 is the driver we ship; accept the libpq-style URL users copy from elsewhere.
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        _sqlite_parent(url)
        return url
    Path(DEFAULT_SQLITE_PATH).parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


def _sqlite_parent(url: str) -> None:
    """A SQLite file's folder is made when the store is opened (``sqlite:///.b24sync/state.db`` in a fresh
    directory: SQLite creates the file, never its folder)."""
    if not url.startswith("sqlite") or ":///" not in url:
        return
    path = url.split(":///", 1)[1].split("?", 1)[0]
    if path and path != ":memory:" and not path.startswith("file:"):
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _json_default(o: object) -> object:
    if isinstance(o, (datetime, date)):
        return o.isoformat()
    if isinstance(o, Decimal):
        return str(o)
    if isinstance(o, (bytes, bytearray)):
        return base64.b64encode(o).decode()
    if isinstance(o, (set, frozenset)):
        return sorted(o, key=str)
    raise TypeError(f"{type(o).__name__} cannot be stored as JSON")


def json_dumps(value: object) -> str:
    """JSON for the store: record snapshots carry dates, decimals and bytes, stored as ISO strings / base64."""
    return json.dumps(value, ensure_ascii=False, default=_json_default)


def _sqlite_on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    # Autocommit at the driver level; SQLAlchemy's "BEGIN" hook below opens transactions explicitly, so we can
    # say BEGIN IMMEDIATE (take the write lock up front) instead of pysqlite's deferred, upgrade-later BEGIN.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


_WRITE_LOCKS: dict[str, threading.Lock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()
_LOCK_WAIT = 30.0  # as long as SQLite's own busy timeout; past it, SQLite's busy handling decides


def _write_lock(path: str) -> threading.Lock:
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(path, threading.Lock())


class _LockedConnection(sqlite3.Connection):
    """A SQLite connection that, besides SQLite's file lock, holds this process's lock for the database file from
    its ``BEGIN IMMEDIATE`` to its commit or rollback.

    Threads of one process that wait for SQLite's write lock are put to sleep by SQLite's busy handler in growing
    steps (up to 100 ms) however soon the lock is free: with a worker's store calls in a thread pool, that made
    ~10 % of transactions wait 5–100 ms and some 2 s on a 14-second load (issue 13). Waiting on a Python lock
    wakes the next thread the moment the lock is released. Another process still meets SQLite's own lock."""

    _b24_lock: threading.Lock | None = None
    _b24_held = False

    def _b24_acquire(self) -> None:
        if self._b24_lock is not None and not self._b24_held:
            # a thread that opens a second transaction inside its first would wait for itself: bounded, then
            # SQLite's busy handling decides as before
            self._b24_held = self._b24_lock.acquire(timeout=_LOCK_WAIT)

    def _b24_release(self) -> None:
        if self._b24_held:
            self._b24_held = False
            assert self._b24_lock is not None
            self._b24_lock.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._b24_release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._b24_release()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._b24_release()


def make_engine(url: str | None = None) -> Engine:
    url = database_url(url)
    if url.startswith("sqlite"):
        # Pooled: opening a SQLite connection (file open, four PRAGMAs) cost ~1–2 ms, and a worker makes several
        # store calls per record plus one per budget observation — a connection per call was a large share of the
        # worker loop (issue 13). Connections are used by one thread at a time (the pool hands them out), never
        # shared; overflow is unbounded so a burst of threads never waits for a connection.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30,
                                                  "factory": _LockedConnection},
                               poolclass=QueuePool, pool_size=8, max_overflow=-1, json_serializer=json_dumps)
        lock = _write_lock(str(Path(engine.url.database or ":memory:").resolve())
                           if engine.url.database not in (None, "", ":memory:") else f"memory:{id(engine)}")

        def _on_connect(dbapi_conn, record) -> None:  # type: ignore[no-untyped-def]
            _sqlite_on_connect(dbapi_conn, record)
            if isinstance(dbapi_conn, _LockedConnection):
                dbapi_conn._b24_lock = lock

        event.listen(engine, "connect", _on_connect)

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            # Every transaction writes soon after it starts (claims, cursors, outbox): take the lock first, so
            # two writers never deadlock on a read-lock upgrade.
            raw = conn.connection.dbapi_connection
            if isinstance(raw, _LockedConnection):
                raw._b24_acquire()
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                if isinstance(raw, _LockedConnection):
                    raw._b24_release()
                raise

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, json_serializer=json_dumps)


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (idempotent; safe from several processes)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with _MIGRATE_LOCK, engine.begin() as conn:
        if is_postgres(engine):
            # Several workers may start at once: one migrates, the others wait for it.
            conn.execute(text("SELECT pg_advisory_xact_lock(424242)"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    with engine.begin() as conn:
        yield conn

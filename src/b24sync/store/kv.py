"""Shared state that every worker of one installation sees: tokens, rate-limit buckets, operating budgets.

One operation: ``update(key, fn)`` reads the current value, lets ``fn`` compute the new value and a result,
and writes it atomically. Backends: the SQL store (row lock on PostgreSQL, BEGIN IMMEDIATE on SQLite),
Redis (WATCH/MULTI optimistic transaction) when configured, and process memory for tests and one-shot tools.
Budgets must be shared because Bitrix24 counts per portal and per source IP, not per process.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from b24sync.store.db import is_postgres, utcnow
from b24sync.store.models import KeyValue

T = TypeVar("T")
Updater = Callable[[dict[str, Any] | None], tuple[dict[str, Any] | None, T]]


class SharedState(Protocol):
    def get(self, key: str) -> dict[str, Any] | None: ...

    def get_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """The values of several keys at once (missing keys are absent from the answer)."""
        ...

    def update(self, key: str, fn: Updater[T]) -> T:
        """Atomically replace the value under ``key`` with ``fn(old)[0]`` (None keeps it) and return ``fn(old)[1]``."""
        ...


class MemoryState:
    def __init__(self) -> None:
        self._data: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            v = self._data.get(key)
            return json.loads(json.dumps(v)) if v is not None else None

    def get_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {k: json.loads(json.dumps(self._data[k])) for k in keys if k in self._data}

    def update(self, key: str, fn: Updater[T]) -> T:
        with self._lock:
            old = self._data.get(key)
            new, result = fn(json.loads(json.dumps(old)) if old is not None else None)
            if new is not None:
                self._data[key] = new
            return result


class SqlState:
    """Shared state in the store's ``kv`` table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, key: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            return conn.execute(select(KeyValue.value).where(KeyValue.key == key)).scalar()

    def get_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        keys = list(dict.fromkeys(keys))
        with self.engine.connect() as conn:
            for i in range(0, len(keys), 500):  # bound the IN list (SQLite's variable limit)
                for k, v in conn.execute(select(KeyValue.key, KeyValue.value).where(KeyValue.key.in_(keys[i:i + 500]))):
                    if v is not None:
                        out[k] = v
        return out

    def update(self, key: str, fn: Updater[T]) -> T:
        for _ in range(5):
            try:
                return self._update_once(key, fn)
            except IntegrityError:  # two first-writers raced on the insert; the loser retries as an update
                continue
        raise RuntimeError(f"shared state {key!r}: could not update after 5 attempts")

    def _update_once(self, key: str, fn: Updater[T]) -> T:
        with self.engine.begin() as conn:
            q = select(KeyValue.value, KeyValue.version).where(KeyValue.key == key)
            if is_postgres(self.engine):
                q = q.with_for_update()
            row = conn.execute(q).first()
            new, result = fn(row.value if row else None)
            if new is not None:
                if row is None:
                    conn.execute(insert(KeyValue).values(key=key, value=new, version=1, updated_at=utcnow()))
                else:
                    conn.execute(
                        update(KeyValue)
                        .where(KeyValue.key == key)
                        .values(value=new, version=row.version + 1, updated_at=utcnow())
                    )
            return result


class RedisState:
    """Shared state in Redis (``B24SYNC_REDIS_URL``), for installations that scale workers across hosts."""

    def __init__(self, url: str, prefix: str = "b24sync:") -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self.prefix = prefix

    def get(self, key: str) -> dict[str, Any] | None:
        raw = self.client.get(self.prefix + key)
        return json.loads(raw) if raw else None

    def get_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        keys = list(dict.fromkeys(keys))
        raws = self.client.mget([self.prefix + k for k in keys]) if keys else []
        return {k: json.loads(r) for k, r in zip(keys, raws, strict=True) if r}

    def update(self, key: str, fn: Updater[T]) -> T:
        import redis

        k = self.prefix + key
        with self.client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(k)
                    raw = pipe.get(k)
                    new, result = fn(json.loads(raw) if raw else None)
                    pipe.multi()
                    if new is not None:
                        pipe.set(k, json.dumps(new))
                    pipe.execute()
                    return result
                except redis.WatchError:
                    time.sleep(0.001)
                    continue


def installation_id(db: Engine) -> str:
    """A random id created once per store (kv ``installation``), shared by every worker on it."""
    import uuid

    def fn(old: dict[str, Any] | None) -> tuple[dict[str, Any] | None, str]:
        if old and old.get("id"):
            return None, str(old["id"])
        new = uuid.uuid4().hex[:16]
        return {"id": new}, new

    return SqlState(db).update("installation", fn)


def redis_prefix(db: Engine | None) -> str:
    """Redis keys of an installation: ``B24SYNC_REDIS_PREFIX``, else ``b24sync:<installation id>:`` (``b24sync:``
    when no store is at hand)."""
    import os

    explicit = os.environ.get("B24SYNC_REDIS_PREFIX")
    if explicit:
        return explicit
    return f"b24sync:{installation_id(db)}:" if db is not None else "b24sync:"

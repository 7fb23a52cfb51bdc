"""The SQLite store under the worker's load: pooled connections, one process-wide write lock per database file
(threads wait on it instead of SQLite's sleeping busy handler), and shared state read many keys at a time."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from b24sync.connectors.onec.odata.versions import SharedStateVersionStore
from b24sync.store.db import _write_lock, make_engine, migrate
from b24sync.store.kv import MemoryState, SqlState


def _engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    e = make_engine(f"sqlite:///{tmp_path}/state.db")
    migrate(e)
    return e


def test_sqlite_writers_of_one_process_serialise_without_losing_an_update(tmp_path: Path) -> None:
    e = _engine(tmp_path)
    state = SqlState(e)
    errors: list[BaseException] = []

    def bump(old):  # type: ignore[no-untyped-def]
        n = int((old or {}).get("n", 0)) + 1
        return {"n": n}, n

    def work() -> None:
        try:
            for _ in range(60):
                state.update("counter", bump)
                assert state.get("counter") is not None  # a read between the writes (its own transaction)
        except BaseException as ex:  # noqa: BLE001
            errors.append(ex)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    assert state.get("counter") == {"n": 480}
    lock = _write_lock(str((tmp_path / "state.db").resolve()))
    assert not lock.locked()  # every transaction let go of the process lock (commit and read-only rollback)
    e.dispose()


def test_sqlite_write_lock_is_released_by_rollback_failure_and_close(tmp_path: Path) -> None:
    e = _engine(tmp_path)
    lock = _write_lock(str((tmp_path / "state.db").resolve()))
    with pytest.raises(RuntimeError):
        with e.begin() as conn:
            conn.execute(text("INSERT INTO kv (key, value, version, updated_at) VALUES ('a', '{}', 1, '2026-01-01')"))
            assert lock.locked()
            raise RuntimeError("boom")
    assert not lock.locked()
    with e.connect() as conn:  # autobegin, never committed: closed → rolled back
        conn.execute(text("SELECT 1"))
        assert lock.locked()
    assert not lock.locked()
    conn = e.connect()
    conn.execute(text("SELECT 1"))
    conn.invalidate()  # the DBAPI connection is closed, not returned
    assert not lock.locked()
    with e.begin() as conn:  # and the store still works
        assert conn.execute(text("SELECT count(*) FROM kv WHERE key = 'a'")).scalar_one() == 0
    e.dispose()


@pytest.mark.parametrize("kind", ["memory", "sql"])
def test_shared_state_reads_a_page_of_version_buckets_in_one_call(tmp_path: Path, kind: str) -> None:
    e = _engine(tmp_path) if kind == "sql" else None
    state = SqlState(e) if e is not None else MemoryState()
    store = SharedStateVersionStore(state, "v:test")
    versions = {f"Catalog/{i}": f"AAA{i}" for i in range(700)}
    store.put_many(versions)
    calls = {"get": 0, "get_many": 0}
    real_get, real_many = state.get, state.get_many

    def get(key):  # type: ignore[no-untyped-def]
        calls["get"] += 1
        return real_get(key)

    def get_many(keys):  # type: ignore[no-untyped-def]
        calls["get_many"] += 1
        return real_many(keys)

    state.get, state.get_many = get, get_many  # type: ignore[method-assign]
    want = [*versions, "Catalog/none"]
    assert store.get_many(want) == versions
    assert calls == {"get": 0, "get_many": 1}
    assert state.get_many(["nope"]) == {}
    if e is not None:
        e.dispose()

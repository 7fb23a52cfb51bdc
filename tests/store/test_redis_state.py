"""Shared state in Redis (B24SYNC_REDIS_URL), live on the local Redis (127.0.0.1:6379): keys are scoped to the
installation (the store), so a second installation — or a store created anew — on the same Redis does not read the
1C row versions another one acknowledged (which made it skip every record as unchanged); updates are atomic across
threads."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from b24sync.engine.service import installation_id, shared_state
from b24sync.store.db import make_engine, migrate
from b24sync.store.kv import RedisState

REDIS = os.environ.get("B24SYNC_TEST_REDIS", "redis://127.0.0.1:6379/0")


def _redis_ok() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=2).close()
        return True
    except OSError:
        return False


if os.environ.get("CI") and not _redis_ok():
    raise RuntimeError("Redis is not reachable at 127.0.0.1:6379; shared state must be tested on it in CI")
pytestmark = pytest.mark.skipif(not _redis_ok(), reason="Redis not reachable at 127.0.0.1:6379")


def _store(tmp: Path, name: str):  # type: ignore[no-untyped-def]
    db = make_engine(f"sqlite:///{tmp / name}")
    migrate(db)
    return db


def test_redis_keys_are_scoped_to_the_installation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from b24sync.connectors.onec.odata.versions import SharedStateVersionStore

    monkeypatch.setenv("B24SYNC_REDIS_URL", REDIS)
    monkeypatch.delenv("B24SYNC_REDIS_PREFIX", raising=False)
    a, b = _store(tmp_path, "a.db"), _store(tmp_path, "b.db")
    sa, sa_again, sb = shared_state(a), shared_state(a), shared_state(b)
    assert isinstance(sa, RedisState) and isinstance(sb, RedisState)
    assert sa.prefix == sa_again.prefix == f"b24sync:{installation_id(a)}:"  # every worker of a store shares it
    assert sb.prefix != sa.prefix
    try:
        SharedStateVersionStore(sa, "odata:onec:versions").put_many({"ref-1": "AAA=", "ref-2": "AAB="})
        assert SharedStateVersionStore(sa_again, "odata:onec:versions").get_many(["ref-1", "ref-2"]) == \
            {"ref-1": "AAA=", "ref-2": "AAB="}
        # a fresh store on the same Redis sees nothing acknowledged: its first poll reads every record
        assert SharedStateVersionStore(sb, "odata:onec:versions").get_many(["ref-1", "ref-2"]) == {}
    finally:
        for s in (sa, sb):
            for k in s.client.scan_iter(match=s.prefix + "*"):
                s.client.delete(k)
    monkeypatch.setenv("B24SYNC_REDIS_PREFIX", "acme:")
    assert shared_state(a).prefix == "acme:"  # an explicit prefix wins (several stores, one budget on purpose)


def test_redis_updates_are_atomic_across_threads(tmp_path: Path) -> None:
    st = RedisState(REDIS, prefix=f"b24sync:test:{os.getpid()}:{tmp_path.name}:")

    def bump(old: dict | None) -> tuple[dict, int]:
        n = int((old or {}).get("n", 0)) + 1
        return {"n": n}, n

    def work() -> None:
        for _ in range(50):
            st.update("counter", bump)

    threads = [threading.Thread(target=work) for _ in range(6)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert st.get("counter") == {"n": 300}
    finally:
        st.client.delete(st.prefix + "counter")


def test_redis_state_get_many_reads_its_own_keys_only() -> None:
    import uuid

    a = RedisState(REDIS, prefix=f"b24sync:test-{uuid.uuid4().hex[:8]}:")
    b = RedisState(REDIS, prefix=f"b24sync:test-{uuid.uuid4().hex[:8]}:")
    try:
        for i in range(5):
            a.update(f"k{i}", lambda old, i=i: ({"v": i}, None))
        b.update("k0", lambda old: ({"v": "other"}, None))
        assert a.get_many(["k0", "k3", "k9", "k3"]) == {"k0": {"v": 0}, "k3": {"v": 3}}
        assert b.get_many(["k0", "k1"]) == {"k0": {"v": "other"}}
        assert a.get_many([]) == {}
    finally:
        for s in (a, b):
            keys = list(s.client.scan_iter(s.prefix + "*"))
            if keys:
                s.client.delete(*keys)

"""Poll cursors: the overlap window re-reads late rows, rows of the cursor's own second are not lost, the cursor
only moves with the commit of its slice, and unchanged rows enqueue nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import MetaData, Table, create_engine, insert, select

from b24sync.connectors.registry import build_adapter
from b24sync.engine.scheduler import cursor_name, poll_once
from b24sync.engine.service import build_runtime
from b24sync.spec.loader import load_spec
from b24sync.store import cursors
from b24sync.store.models import Job
from tests.engine.sqlpair import inn, write_spec


def _insert(path: Path, rid: int, modified: datetime) -> None:
    eng = create_engine(f"sqlite:///{path}")
    t = Table("counterparty", MetaData(), autoload_with=eng)  # typed, so timestamps are stored as the connector reads them
    with eng.begin() as c:
        c.execute(insert(t).values(id=rid, name=f"Co {rid}", inn=inn(rid), status="active", modified=modified, version=1))
    eng.dispose()


def test_same_second_and_late_rows_are_not_lost(tmp_path: Path, store_url: str) -> None:
    spec = load_spec(write_spec(tmp_path, page=2))
    rt = build_runtime(spec, build_adapter, database_url=store_url)
    t = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
    for rid in (1, 2, 3):
        _insert(tmp_path / "erp.db", rid, t)

    res = asyncio.run(poll_once(rt, "company", "erp"))
    assert (res.read, res.enqueued, res.pages) == (3, 3, 2)  # pages of 2, chained by (modified, id)
    with rt.db.connect() as c:
        cur = cursors.get(c, cursor_name("company", "erp"))
    assert cur["last_id"] == "3"

    _insert(tmp_path / "erp.db", 4, t)  # committed late, with the same timestamp as the cursor
    _insert(tmp_path / "erp.db", 5, t - timedelta(seconds=3))  # committed late with an older time (inside overlap)
    res2 = asyncio.run(poll_once(rt, "company", "erp"))
    with rt.db.connect() as c:
        ids = sorted(int(p["id"]) for (p,) in c.execute(select(Job.payload)).all())
    assert ids == [1, 2, 3, 4, 5]  # 1-3 coalesced into their waiting jobs, 4 and 5 found
    assert res2.read >= 5

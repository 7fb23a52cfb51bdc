from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import create_engine, text

from b24sync.connectors.registry import build_adapter
from b24sync.engine.service import RunOptions, build_runtime, run
from b24sync.spec.loader import load_spec
from tests.engine.sqlpair import seed_erp, write_spec


def _rows(path: Path, sql: str) -> list:
    eng = create_engine(f"sqlite:///{path}")
    with eng.connect() as c:
        rows = c.execute(text(sql)).all()
    eng.dispose()
    return rows


def test_full_sync_then_second_run_changes_nothing(tmp_path: Path, store_url: str) -> None:
    spec = load_spec(write_spec(tmp_path))
    seed_erp(tmp_path, 120)
    rt = build_runtime(spec, build_adapter, database_url=store_url)
    stats = asyncio.run(run(rt, RunOptions(once=True)))
    assert stats.actions.get("created") == 120
    rows = _rows(tmp_path / "crm.db", "select erp_id, title, status from company order by cast(erp_id as int)")
    assert len(rows) == 120 and rows[0] == ("1", "ООО Ромашка 1", "A")
    stats2 = asyncio.run(run(rt, RunOptions(once=True)))
    assert stats2.done == 0  # the poll found nothing changed: no job at all
    assert _rows(tmp_path / "crm.db", "select count(*) from company")[0][0] == 120

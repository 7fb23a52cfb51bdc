"""The engine looks for a likely duplicate before it creates a company (spec `dedupe.before_create: hold`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from b24sync.compose import build
from b24sync.engine.service import RunOptions, run
from b24sync.spec.loader import load_spec
from b24sync.store.models import DeadLetter
from sqlalchemy import select
from tests.flows.pair import insert_rows, inn10, sql, write_spec

DEDUPE = """    dedupe:
      before_create: hold
      phones: {crm: phone, erp: phone}
      confirm_field: {crm: not_duplicate, erp: not_duplicate}
"""


def _spec(tmp: Path) -> Path:
    p = write_spec(tmp, direction="crm_to_erp")
    for db, table in (("crm.db", "company"), ("erp.db", "counterparty")):
        sql(tmp / db, f"alter table {table} add column phone varchar")
        sql(tmp / db, f"alter table {table} add column not_duplicate varchar")
    text = p.read_text(encoding="utf-8").replace("    link: {crm: erp_id, erp: crm_id}\n",
                                                 "    link: {crm: erp_id, erp: crm_id}\n" + DEDUPE)
    p.write_text(text, encoding="utf-8")
    return p


def _cycle(rt) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(run(rt, RunOptions(once=True)))


def test_likely_duplicate_on_the_target_holds_the_create_with_its_candidates(tmp_path: Path) -> None:
    spec = load_spec(_spec(tmp_path))
    assert spec.entities["company"].dedupe is not None
    # the ERP already has the company, typed without INN and with the phone in E.164
    insert_rows(tmp_path / "erp.db", "counterparty", [{"id": 7, "name": "ООО «Ромашка»", "phone": "+74951234567"}])
    insert_rows(tmp_path / "crm.db", "company", [
        {"id": 1, "title": "Romashka LLC", "inn": inn10(11), "phone": "8 (495) 123-45-67"},  # the same company
        {"id": 2, "title": "Гранит", "inn": inn10(12), "phone": "+74997654321"},  # a new one
    ])
    rt = build(spec, database_url=f"sqlite:///{tmp_path}/state.db")
    _cycle(rt)
    names = [r[0] for r in sql(tmp_path / "erp.db", "select name from counterparty order by id")]
    assert names == ["ООО «Ромашка»", "Гранит"]  # the new one created, the duplicate not
    with rt.db.connect() as conn:
        rows = conn.execute(select(DeadLetter.lane, DeadLetter.reason).where(DeadLetter.resolved_at.is_(None))).all()
    held = [r for r in rows if r.lane.endswith("crm:1")]
    assert held and "уже есть" in held[0].reason and "7" in held[0].reason and "телефон" in held[0].reason

    # the manager says "not a duplicate": the record changes, the next cycle creates it
    sql(tmp_path / "crm.db", "update company set not_duplicate = 'Y', version = 2, modified = :m where id = 1",
        m="2100-01-01 00:00:00")
    _cycle(rt)
    assert sql(tmp_path / "erp.db", "select count(*) from counterparty where name = 'Romashka LLC'") == [(1,)]
    asyncio.run(rt.aclose())

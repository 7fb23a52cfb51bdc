"""Engine rules end to end over two exchange-table databases: no ping-pong, bad keys parked with a reason and
replayed after the fix, ambiguous matches reported as conflicts, manual edits of owned fields reverted."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from b24sync.connectors.registry import build_adapter
from b24sync.engine.runtime import Runtime
from b24sync.engine.service import RunOptions, build_runtime, run
from b24sync.server.intake import accept_event
from b24sync.spec.loader import load_spec
from b24sync.store import queue as jobs
from b24sync.store.models import DeadLetter
from tests.engine.sqlpair import BRANCHES, inn, seed_erp, write_spec


def sql(path: Path, statement: str, **params: object) -> list:
    eng = create_engine(f"sqlite:///{path}")
    with eng.begin() as c:
        res = c.execute(text(statement), params)
        rows = res.all() if res.returns_rows else []
    eng.dispose()
    return rows


def touch(path: Path, table: str, where: str, **set_: object) -> None:
    sets = ", ".join(f"{k} = :{k}" for k in set_)
    sql(path, f"update {table} set {sets}, modified = datetime('now', '+1 second'), version = version + 1 where {where}",
        **set_)


def once(rt: Runtime):  # type: ignore[no-untyped-def]
    return asyncio.run(run(rt, RunOptions(once=True)))


@pytest.fixture
def pair(tmp_path: Path, store_url: str):  # type: ignore[no-untyped-def]
    def make(**kw: object) -> Runtime:
        spec = load_spec(write_spec(tmp_path, **kw))  # type: ignore[arg-type]
        return build_runtime(spec, build_adapter, database_url=store_url)
    return make


def test_two_way_without_ping_pong(tmp_path: Path, pair) -> None:  # type: ignore[no-untyped-def]
    rt = pair(direction="both", note_owner="crm")
    seed_erp(tmp_path, 3)
    assert once(rt).actions == {"created": 3}
    assert once(rt).done == 0  # our own writes come back through the CRM poll and are recognised
    touch(tmp_path / "crm.db", "company", "erp_id = '2'", note="called the director")
    s = once(rt)
    assert s.actions == {"updated": 1}
    assert sql(tmp_path / "erp.db", "select note from counterparty where id = 2") == [("called the director",)]
    assert once(rt).done == 0  # the ERP's echo of that update is dropped: nothing goes back


def test_invalid_inn_is_parked_with_reason_and_replays_after_fix(tmp_path: Path, pair) -> None:  # type: ignore[no-untyped-def]
    rt = pair()
    seed_erp(tmp_path, 2)
    bad = inn(2)[:-1] + str((int(inn(2)[-1]) + 1) % 10)
    sql(tmp_path / "erp.db", "update counterparty set inn = :inn where id = 2", inn=bad)
    s = once(rt)
    assert s.actions == {"created": 1} and s.dead == 1
    with rt.db.connect() as c:
        (dl,) = c.execute(select(DeadLetter)).all()
    assert dl.kind == "dead" and f"ИНН {bad}" in dl.reason and "контрольная цифра не сходится" in dl.reason
    sql(tmp_path / "erp.db", "update counterparty set inn = :inn where id = 2", inn=inn(2))
    assert jobs.replay(rt.db, entity="company") == 1
    assert once(rt).actions == {"created": 1}
    assert sql(tmp_path / "crm.db", "select count(*) from company")[0][0] == 2


def test_two_crm_records_with_one_inn_are_a_conflict_and_nothing_is_created(tmp_path: Path, pair) -> None:  # type: ignore[no-untyped-def]
    rt = pair()
    seed_erp(tmp_path, 1)
    for i in (1, 2):
        sql(tmp_path / "crm.db", "insert into company (title, inn, modified, version) values (:t, :inn, datetime('now'), 1)",
            t=f"Romashka duplicate {i}", inn=inn(1))
    s = once(rt)
    assert s.dead == 1
    with rt.db.connect() as c:
        (dl,) = c.execute(select(DeadLetter)).all()
    assert dl.kind == "conflict" and "в CRM 2 записей" in dl.reason
    assert sql(tmp_path / "crm.db", "select count(*) from company")[0][0] == 2


def test_existing_crm_record_is_linked_by_inn_not_duplicated(tmp_path: Path, pair) -> None:  # type: ignore[no-untyped-def]
    rt = pair()
    seed_erp(tmp_path, 1)
    sql(tmp_path / "crm.db", "insert into company (title, inn, modified, version) values ('old', :inn, datetime('now'), 1)",
        inn=inn(1))
    assert once(rt).actions == {"linked": 1}
    assert sql(tmp_path / "crm.db", "select title, erp_id from company") == [("ООО Ромашка 1", "1")]


def test_manual_edit_of_erp_owned_field_is_reverted(tmp_path: Path, pair) -> None:  # type: ignore[no-untyped-def]
    rt = pair()
    seed_erp(tmp_path, 1)
    once(rt)
    (crm_id,) = sql(tmp_path / "crm.db", "select id from company")[0]
    touch(tmp_path / "crm.db", "company", f"id = {crm_id}", title="Manager's own name")
    res = accept_event(rt, side="crm", event="ONCRMCOMPANYUPDATE", record_id=str(crm_id), source="test", delivery_id="d1")
    assert res.entities == ["company"]
    assert accept_event(rt, side="crm", event="ONCRMCOMPANYUPDATE", record_id=str(crm_id), source="test",
                        delivery_id="d1").duplicate
    s = once(rt)
    assert s.actions == {"reverted": 1, "updated": 1}
    assert sql(tmp_path / "crm.db", "select title from company") == [("ООО Ромашка 1",)]


def test_do_not_sync_flag_skips_and_unchanged_cycle_writes_nothing(tmp_path: Path, pair) -> None:  # type: ignore[no-untyped-def]
    rt = pair()
    seed_erp(tmp_path, 3)
    sql(tmp_path / "erp.db", "update counterparty set note = 'NOSYNC' where id = 3")
    s = once(rt)
    assert s.actions == {"created": 2, "skipped": 1}
    before = sql(tmp_path / "crm.db", "select id, modified, version from company order by id")
    s2 = once(rt)
    assert s2.actions == {}  # the flagged record is remembered, not re-read into a job every cycle
    assert sql(tmp_path / "crm.db", "select id, modified, version from company order by id") == before
    touch(tmp_path / "erp.db", "counterparty", "id = 3", note="ok now")
    assert once(rt).actions == {"created": 1}  # clearing the flag syncs it


def test_branches_sharing_an_inn_stay_apart(tmp_path: Path, pair) -> None:  # type: ignore[no-untyped-def]
    """INN + KPP first, INN alone second: the second branch must not land on the first branch's record."""
    rt = pair(match=BRANCHES, workers=1)
    seed_erp(tmp_path, 2)
    sql(tmp_path / "erp.db", "update counterparty set inn = :inn, kpp = :kpp where id = 1", inn=inn(1), kpp="770101001")
    sql(tmp_path / "erp.db", "update counterparty set inn = :inn, kpp = :kpp where id = 2", inn=inn(1), kpp="772501001")
    assert once(rt).actions == {"created": 2}
    assert sorted(sql(tmp_path / "crm.db", "select erp_id, kpp from company")) == [("1", "770101001"), ("2", "772501001")]
    # a head-office record without KPP in the CRM is still found by INN alone
    sql(tmp_path / "crm.db", "delete from company")
    sql(tmp_path / "crm.db", "insert into company (title, inn, modified, version) values ('HQ', :inn, datetime('now'), 1)",
        inn=inn(1))
    rt2 = pair(match=BRANCHES, workers=1)
    with rt2.db.begin() as c:
        c.exec_driver_sql("delete from links")
        c.exec_driver_sql("delete from fingerprints")
    with rt2.db.begin() as c:
        c.exec_driver_sql("delete from cursors")
    s = once(rt2)
    # branch 1 links to the HQ record (no KPP there, so no contradiction) and gives it its KPP; branch 2 then
    # contradicts that KPP and gets its own record
    assert s.actions == {"linked": 1, "created": 1}
    assert sorted(sql(tmp_path / "crm.db", "select erp_id, kpp from company")) == [("1", "770101001"), ("2", "772501001")]


def test_no_silent_relink_a_second_erp_record_matching_a_linked_crm_record_is_a_conflict(tmp_path: Path, pair) -> None:  # type: ignore[no-untyped-def]
    rt = pair()
    seed_erp(tmp_path, 1)
    assert once(rt).actions == {"created": 1}
    # a second 1C counterparty with the same INN (a duplicate typed in the ERP)
    seed_erp(tmp_path, 1, start=2)
    sql(tmp_path / "erp.db", "update counterparty set inn = :inn where id = 2", inn=inn(1))
    s = once(rt)
    assert s.dead == 1 and s.actions == {}
    with rt.db.connect() as c:
        (dl,) = c.execute(select(DeadLetter)).all()
        links = c.execute(text("select crm_id, erp_id from links")).all()
    assert dl.kind == "conflict" and "уже связана с записью erp 1" in dl.reason and "запись erp 2" in dl.reason
    assert [tuple(r) for r in links] == [(sql(tmp_path / "crm.db", "select id from company")[0][0].__str__(), "1")]
    assert sql(tmp_path / "crm.db", "select count(*), max(erp_id) from company") == [(1, "1")]


def test_two_entities_over_one_pair_of_objects_share_one_identity_map(tmp_path: Path, pair) -> None:  # type: ignore[no-untyped-def]
    """An ERP → CRM entity and a CRM → ERP entity over the same objects: a record one of them linked is never
    created again by the other (the demo's counterparty / counterparty_to_erp)."""
    spec_path = write_spec(tmp_path)
    text_ = spec_path.read_text(encoding="utf-8")
    second = '''
  company_to_erp:
    title: New companies to the ERP
    master: crm
    direction: crm_to_erp
    crm: {object: company}
    erp: {object: counterparty}
    match:
      - {crm: inn, erp: inn, normalize: inn}
    link: {erp: crm_id}
    fields:
      - {crm: title, erp: name, on: create}
      - {crm: inn, erp: inn, on: create}
    triggers:
      - poll: 1s
'''
    spec_path.write_text(text_ + second, encoding="utf-8")
    from b24sync.connectors.registry import build_adapter as ba

    spec = load_spec(spec_path)
    assert spec.scope("company_to_erp") == "company"
    seed_erp(tmp_path, 3)
    rt = build_runtime(spec, ba, database_url=f"sqlite:///{tmp_path}/state2.db")
    once(rt)
    # a KPP typo on the CRM side changes nothing about identity: still one counterparty per company
    sql(tmp_path / "crm.db", "update company set kpp = '999', modified = datetime('now', '+2 second')")
    once(rt)
    assert sql(tmp_path / "erp.db", "select count(*) from counterparty")[0][0] == 3
    assert sql(tmp_path / "crm.db", "select count(*) from company")[0][0] == 3
    # a company created in the CRM does reach the ERP, once
    sql(tmp_path / "crm.db", "insert into company (title, inn, modified, version) values ('Новая', :inn, "
        "datetime('now', '+3 second'), 1)", inn=inn(77))
    once(rt)
    once(rt)
    assert sql(tmp_path / "erp.db", "select count(*) from counterparty where inn = :inn", inn=inn(77)) == [(1,)]

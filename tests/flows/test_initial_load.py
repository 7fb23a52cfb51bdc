"""Initial load end to end over two exchange-table databases (the sql connector): run twice without duplicates,
proposals and conflicts for names with and without INN, invalid INNs rejected with their reason, an interrupted run
resumed to the same totals, dry run, one-way direction, and the CLI with its JSON report."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from b24sync.compose import build
from b24sync.engine.runtime import Runtime
from b24sync.flows.initial_load import Options, Report, cursor_name, initial_load
from b24sync.spec.loader import load_spec
from b24sync.store import cursors
from b24sync.store.models import Job, Link
from tests.flows.pair import broken, inn10, insert_rows, sql, write_spec

DATA = Path(__file__).parent / "data" / "dedupe_set.json"


def load(rt: Runtime, **kw: object) -> Report:
    return asyncio.run(initial_load(rt, "company", Options(**kw)))  # type: ignore[arg-type]


@pytest.fixture
def pair(tmp_path: Path, store_url: str):  # type: ignore[no-untyped-def]
    def make(sub: str = "", **kw: object) -> tuple[Runtime, Path]:
        d = tmp_path / sub if sub else tmp_path
        d.mkdir(exist_ok=True)
        spec = load_spec(write_spec(d, **kw))  # type: ignore[arg-type]
        url = store_url if not sub else f"sqlite:///{d}/state.db"
        return build(spec, database_url=url), d
    return make


def seed_dataset(d: Path) -> dict:
    data = json.loads(DATA.read_text(encoding="utf-8"))
    insert_rows(d / "crm.db", "company", [{"id": int(r["id"]), "title": r["name"], "inn": r["inn"], "kpp": r["kpp"]}
                                          for r in data["crm"]])
    insert_rows(d / "erp.db", "counterparty", [{"id": int(r["id"]), "name": r["name"], "inn": r["inn"],
                                                "kpp": r["kpp"]} for r in data["erp"]])
    return data


def count(d: Path, table: str) -> int:
    db = d / ("crm.db" if table == "company" else "erp.db")
    return sql(db, f"select count(*) from {table}")[0][0]


def test_dataset_twice_creates_no_duplicates_and_second_run_is_all_matched(pair) -> None:  # type: ignore[no-untyped-def]
    rt, d = pair()
    data = seed_dataset(d)
    exp = data["expected"]
    crm0, erp0 = count(d, "company"), count(d, "counterparty")
    r1 = load(rt, batch=40)
    creates_erp = sum(1 for s, _ in exp["creates"] if s == "erp")
    creates_crm = sum(1 for s, _ in exp["creates"] if s == "crm")
    # totals count records (each record read has exactly one result), so they add up to what was read
    in_conflict = {(s, i) for c in exp["conflicts"] for s, ids in (("crm", c["crm"]), ("erp", c["erp"])) for i in ids}
    assert r1.totals == {"created": len(exp["creates"]), "updated": 2 * len(exp["links"]), "matched": 0,
                         "proposed": r1.totals["proposed"], "conflicts": len(in_conflict),
                         "rejected": len(exp["rejected"]), "skipped": r1.totals["skipped"], "failed": 0}
    assert sum(r1.totals.values()) == sum(r1.read.values())
    in_clusters = {(m["side"], m["id"]) for c in r1.plan.clusters for m in c.members}
    linked = {(s, i) for pr in r1.plan.pairs for s, i in (("crm", pr.crm_id), ("erp", pr.erp_id))}
    assert r1.totals["proposed"] == len(in_clusters - in_conflict - linked - {tuple(x) for x in exp["rejected"]})
    assert r1.engine.get("created") == len(exp["creates"]) and r1.engine.get("dead") == 0
    assert count(d, "company") == crm0 + creates_erp and count(d, "counterparty") == erp0 + creates_crm
    # the master's (ERP's) name landed on every linked CRM record
    c, e = exp["links"][0]
    assert sql(d / "crm.db", "select title from company where id = :i", i=int(c)) == \
        sql(d / "erp.db", "select name from counterparty where id = :i", i=int(e))
    # a company created from the CRM carries its data into the ERP
    _, crm_only = next(x for x in exp["creates"] if x[0] == "crm")
    (title, inn) = sql(d / "crm.db", "select title, inn from company where id = :i", i=int(crm_only))[0]
    assert sql(d / "erp.db", "select name, crm_id from counterparty where inn = :inn", inn=inn) == [(title, crm_only)]

    r2 = load(rt, batch=40)
    assert r2.totals["created"] == r2.totals["updated"] == 0
    assert r2.totals["matched"] == 2 * (len(exp["links"]) + len(exp["creates"]))
    for k in ("proposed", "conflicts", "rejected", "skipped"):
        assert r2.totals[k] == r1.totals[k], k
    assert r2.engine == {"dead": 0, "held": 0, "retried": 0}  # nothing was enqueued
    assert count(d, "company") == crm0 + creates_erp and count(d, "counterparty") == erp0 + creates_crm
    with rt.db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Link)).scalar() == len(exp["links"]) + len(exp["creates"])
        assert cursors.get(conn, cursor_name("company"))["status"] == "complete"


def test_names_with_and_without_inn_give_proposals_and_conflicts(pair, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rt, d = pair()
    insert_rows(d / "erp.db", "counterparty", [
        {"id": 1, "name": "ООО «Ромашка»", "inn": inn10(1)},
        {"id": 2, "name": "АО «Альфа-Банк»", "inn": inn10(2)},
        {"id": 3, "name": "ПАО «Северсталь»", "inn": inn10(3)},
    ])
    insert_rows(d / "crm.db", "company", [
        {"id": 1, "title": "Romashka LLC"},  # no INN: proposed with ERP 1, which is then not created
        {"id": 2, "title": "Ромашка-Сервис"},  # no INN, only resembles: not proposed, left alone
        {"id": 3, "title": "Альфа, ООО"},  # no INN, only resembles "Альфа-Банк": not proposed
        {"id": 4, "title": "Twin One", "inn": inn10(4), "kpp": "770101001"},
        {"id": 5, "title": "Twin Two", "inn": inn10(4), "kpp": "770101001"},  # same INN + KPP: conflict
        {"id": 6, "title": "Head", "inn": inn10(5)},
        {"id": 7, "title": "Head again", "inn": inn10(5)},  # same INN, no KPP: conflict
        {"id": 8, "title": "ООО Ромашка"},  # a CRM twin of CRM 1 without INN: proposed crm-crm
    ])
    report = load(rt)
    props = {(p.type, p.crm_id, p.other_id) for p in report.plan.proposals}
    assert props == {("crm-erp", "1", "1"), ("crm-erp", "8", "1"), ("crm-crm", "1", "8")}
    p = next(p for p in report.plan.proposals if p.crm_id == "1" and p.type == "crm-erp")
    assert p.score >= 0.9 and "transliterated" in p.reason and "no INN" in p.reason
    assert {(tuple(c.crm_ids), tuple(c.erp_ids)) for c in report.plan.conflicts} == {(("4", "5"), ()), (("6", "7"), ())}
    # nothing was created in the ERP for the conflicting companies, nor in the CRM for the proposed ERP record
    assert sql(d / "erp.db", "select count(*) from counterparty where inn in (:a, :b)", a=inn10(4), b=inn10(5)) == [(0,)]
    assert sql(d / "crm.db", "select count(*) from company where erp_id = '1'") == [(0,)]
    # the two ERP companies that only resemble CRM names are created; the CRM records without INN are left alone
    assert {c["id"] for c in report.created} == {"2", "3"}
    skipped = {(s.side, s.id) for s in report.plan.skipped}
    assert skipped == {("crm", "2"), ("crm", "3")}
    assert report.totals["proposed"] == 3 and report.totals["conflicts"] == 4  # records, not pairs or groups
    out = tmp_path / "report.json"
    report.write(out)
    js = json.loads(out.read_text(encoding="utf-8"))
    (cl,) = js["proposed"]  # one cluster, not three pairs
    assert {(m["side"], m["id"]) for m in cl["members"]} == {("crm", "1"), ("crm", "8"), ("erp", "1")}
    assert cl["links"] and all(link["evidence"] for link in cl["links"])
    assert any(x.get("erp_id") == "1" and x["crm_id"] == "1" for x in js["proposed_pairs"])
    assert any(x.get("other_crm_id") == "8" for x in js["proposed_pairs"])
    assert sorted(c["crm_ids"] for c in js["conflicts"]) == [["4", "5"], ["6", "7"]]


def test_invalid_inn_is_rejected_with_its_reason(pair) -> None:  # type: ignore[no-untyped-def]
    rt, d = pair()
    bad = broken(inn10(7))
    insert_rows(d / "erp.db", "counterparty", [{"id": 1, "name": "ООО Опечатка", "inn": bad},
                                               {"id": 2, "name": "ООО Порядок", "inn": inn10(8)}])
    report = load(rt)
    (rej,) = report.plan.rejected
    assert (rej.side, rej.id) == ("erp", "1")
    assert f"ИНН {bad}" in rej.reason and "контрольная цифра не сходится" in rej.reason
    assert "должна быть" not in rej.reason  # no fake fix: changing the check digit gives someone else's INN
    assert report.totals["rejected"] == 1 and report.totals["created"] == 1
    assert sql(d / "crm.db", "select title, inn from company") == [("ООО Порядок", inn10(8))]


def _mixed_seed(d: Path) -> None:
    insert_rows(d / "erp.db", "counterparty",
                [{"id": i, "name": f"ООО «Компания {i}»", "inn": inn10(100 + i)} for i in range(1, 61)])
    insert_rows(d / "crm.db", "company",
                [{"id": i, "title": f"Kompaniya {i} LLC", "inn": inn10(100 + i)} for i in range(1, 31)]
                + [{"id": 100 + i, "title": f"CRM only {i}", "inn": inn10(500 + i)} for i in range(1, 11)])


def test_interrupted_run_resumes_to_the_same_totals(pair) -> None:  # type: ignore[no-untyped-def]
    rt_a, a = pair("uninterrupted")
    rt_b, b = pair("interrupted")
    _mixed_seed(a)
    _mixed_seed(b)
    whole = load(rt_a, batch=10)
    assert whole.totals["created"] == 40 and whole.totals["updated"] == 60

    def boom(n: int) -> None:
        if n == 37:
            raise KeyboardInterrupt("operator pressed Ctrl+C")

    with pytest.raises(KeyboardInterrupt):
        load(rt_b, batch=10, after_record=boom)
    with rt_b.db.connect() as conn:
        state = cursors.get(conn, cursor_name("company"))
        assert state["status"] == "running" and len(state["done"]) == 60  # 30 pairs (both ids) in 3 batches of 10
        assert conn.execute(select(func.count()).select_from(Link)).scalar() == 30
        assert conn.execute(select(func.count()).select_from(Job)).scalar() == 30
    resumed = load(rt_b, batch=10)
    assert resumed.resumed
    assert resumed.totals == whole.totals
    assert count(b, "company") == count(a, "company") == 70 and count(b, "counterparty") == count(a, "counterparty") == 70
    again = load(rt_b, batch=10)
    assert not again.resumed and again.totals["matched"] == 140 and again.totals["created"] == 0


def test_dry_run_writes_nothing(pair) -> None:  # type: ignore[no-untyped-def]
    rt, d = pair()
    _mixed_seed(d)
    before = (sql(d / "crm.db", "select * from company order by id"), sql(d / "erp.db", "select * from counterparty order by id"))
    report = load(rt, dry_run=True)
    assert report.totals["created"] == 40 and report.totals["updated"] == 60
    assert (sql(d / "crm.db", "select * from company order by id"), sql(d / "erp.db", "select * from counterparty order by id")) == before
    with rt.db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Link)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(Job)).scalar() == 0
        assert cursors.get(conn, cursor_name("company")) is None


def test_one_way_entity_leaves_crm_only_records_alone(pair) -> None:  # type: ignore[no-untyped-def]
    rt, d = pair(direction="erp_to_crm")
    _mixed_seed(d)
    report = load(rt)
    assert report.totals["created"] == 30 and report.totals["updated"] == 60
    assert {(s.side, s.id) for s in report.plan.skipped} == {("crm", str(100 + i)) for i in range(1, 11)}
    assert count(d, "counterparty") == 60


def test_cli_writes_the_json_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from b24sync.cli.main import app

    spec = write_spec(tmp_path)
    _mixed_seed(tmp_path)
    insert_rows(tmp_path / "erp.db", "counterparty", [{"id": 99, "name": "ООО Опечатка", "inn": broken(inn10(9))}])
    monkeypatch.setenv("B24SYNC_DATABASE_URL", f"sqlite:///{tmp_path}/state.db")
    out = tmp_path / "r.json"
    res = CliRunner().invoke(app, ["initial-load", "company", "--spec", str(spec), "--report", str(out), "--dry-run",
                                   "--threshold", "0.85"])
    assert res.exit_code == 0, res.output
    assert "created" in res.output and "rejected" in res.output
    js = json.loads(out.read_text(encoding="utf-8"))
    assert js["dry_run"] is True and js["threshold"] == 0.85
    assert js["totals"]["created"] == 40 and js["rejected"][0]["id"] == "99" and "контрольная цифра" in js["rejected"][0]["reason"]
    assert count(tmp_path, "company") == 40  # dry run
    res = CliRunner().invoke(app, ["initial-load", "nosuch", "--spec", str(spec)])
    assert res.exit_code != 0 and "nosuch" in res.output


def test_reviewer_accepts_one_cluster_and_rejects_another(pair, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from b24sync.flows.initial_load import load_decisions

    rt, d = pair()
    insert_rows(d / "erp.db", "counterparty", [
        {"id": 1, "name": "ООО «Ромашка»", "inn": inn10(21)},
        {"id": 2, "name": "АО «Гранит»", "inn": inn10(22)},
    ])
    insert_rows(d / "crm.db", "company", [
        {"id": 1, "title": "Romashka LLC"},  # the same company without INN: accept links it
        {"id": 2, "title": "Гранит АО", "inn": inn10(23)},  # another INN: a different company — no proposal at all
        {"id": 3, "title": "Гранитт"},  # no INN, one typo: proposed with ERP 2, the reviewer rejects it
    ])
    dry = load(rt, dry_run=True)
    by_member = {frozenset((m["side"], m["id"]) for m in c.members): c.id for c in dry.plan.clusters}
    romashka = by_member[frozenset({("crm", "1"), ("erp", "1")})]
    granit = next(cid for k, cid in by_member.items() if ("crm", "3") in k)
    assert not any(("crm", "2") in k and ("erp", "2") in k for k in by_member)  # two INNs never in one cluster
    assert dry.totals["proposed"] >= 4 and sum(dry.totals.values()) == sum(dry.read.values())
    f = tmp_path / "decisions.yaml"
    f.write_text(f"- {{cluster: {romashka}, decision: accept}}\n- {{cluster: {granit}, decision: reject}}\n",
                 encoding="utf-8")
    report = load(rt, decisions=load_decisions(f))
    assert sql(d / "crm.db", "select erp_id from company where id = 1") == [("1",)]  # linked by the reviewer
    assert any(p.how == "accepted by a reviewer" for p in report.plan.pairs)
    decided = {c.id: c.decision for c in report.plan.clusters}
    assert decided[romashka] == "accepted" and decided[granit] == "rejected"
    # rejected: ERP 2 goes on as a company of its own (created in the CRM), CRM 3 has no INN and is skipped
    assert sql(d / "crm.db", "select count(*) from company where erp_id = '2'") == [(1,)]
    assert ("crm", "3") in {(s.side, s.id) for s in report.plan.skipped}
    assert sum(report.totals.values()) == sum(report.read.values())


def test_mistyped_inn_points_to_the_card_with_the_near_valid_inn(pair) -> None:  # type: ignore[no-untyped-def]
    rt, d = pair()
    good = inn10(31)
    typo = good[:3] + str((int(good[3]) + 1) % 10) + good[4:]
    insert_rows(d / "erp.db", "counterparty", [{"id": 1, "name": "ООО «Ромашка»", "inn": good},
                                               {"id": 2, "name": "ООО Ромашка", "inn": typo},
                                               {"id": 3, "name": "ООО Гранит", "inn": "1234567890"}])
    report = load(rt, dry_run=True)
    reasons = {r.id: r.reason for r in report.plan.rejected}
    assert good in reasons["2"] and "ERP 1" in reasons["2"]  # names the card it probably is
    assert "заглушка" in reasons["3"] and "контрольная цифра не сходится" not in reasons["3"]  # not "a typo"

"""Review: proposals a person decides in the console, carried out by the engine.

* a record held before its create as a likely duplicate: accept links it with the candidate (no second record,
  its data goes into the existing one); reject creates it and the candidate is never proposed for it again;
* two Bitrix24 companies with one INN (Bitrix24 and 1C sandboxes): accept merges them into the chosen one through
  ``crm.entity.mergeBatch``, and the 1C counterparty links with the card left;
* a field both sides changed: reject writes the losing value into the master's record.
Every decision is in the audit log and the record's history; a viewer cannot decide."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from b24sync.compose import build
from b24sync.engine import review
from b24sync.engine.service import RunOptions, run
from b24sync.server.console.app import ConsoleAuth, mount_console
from b24sync.spec.loader import load_spec
from b24sync.store.models import Conflict, DeadLetter, Link
from tests.console.test_matching_pair import dedupe_spec
from tests.flows.pair import insert_rows, inn10, sql


def _client(rt) -> TestClient:  # type: ignore[no-untyped-def]
    app = FastAPI()
    mount_console(app, rt, ConsoleAuth("op", "view"))
    return TestClient(app)


def _login(c: TestClient, token: str) -> str:
    r = c.post("/console/login", data={"token": token, "next": "/console/review"}, follow_redirects=True)
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', r.text)
    return m.group(1) if m else ""


def _cycle(rt) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(run(rt, RunOptions(once=True)))


def _held_duplicate(tmp_path: Path):  # type: ignore[no-untyped-def]
    spec = load_spec(dedupe_spec(tmp_path))
    insert_rows(tmp_path / "erp.db", "counterparty", [{"id": 7, "name": "ООО «Ромашка»", "phone": "+74951234567"}])
    insert_rows(tmp_path / "crm.db", "company", [
        {"id": 1, "title": "Romashka LLC", "inn": inn10(11), "phone": "8 (495) 123-45-67"}])
    rt = build(spec, database_url=f"sqlite:///{tmp_path}/state.db")
    _cycle(rt)
    return rt


def test_accepting_a_duplicate_links_it_with_the_candidate_and_creates_nothing(tmp_path: Path) -> None:
    rt = _held_duplicate(tmp_path)
    c = _client(rt)
    csrf = _login(c, "op")
    page = c.get("/console/review").text
    props = review.proposals(rt)
    assert [p.kind for p in props] == ["duplicate"]
    p = props[0]
    assert p.keep == ["7"] and 'data-kind="duplicate"' in page and "Romashka LLC" in page
    assert any("телефон" in e or "phone" in e for e in p.members[1].evidence), p.members  # the evidence is shown
    assert "+7495" not in page  # phones masked on the screen
    r = c.post("/console/review/decide", data={"csrf": csrf, "proposal": p.id, "decision": "accept", "keep": "7"},
               follow_redirects=True)
    assert r.status_code == 200 and 'id="notice"' in r.text, r.text[-2000:]
    _cycle(rt)
    assert sql(tmp_path / "erp.db", "select count(*) from counterparty") == [(1,)]  # no second record
    with rt.db.connect() as conn:
        link = conn.execute(select(Link.crm_id, Link.erp_id).where(Link.crm_id == "1")).one()
        open_ = conn.execute(select(DeadLetter.id).where(DeadLetter.resolved_at.is_(None))).all()
    assert tuple(link) == ("1", "7") and not open_
    assert sql(tmp_path / "erp.db", "select crm_id from counterparty where id = 7") == [("1",)]  # written into it
    assert review.proposals(rt) == []
    assert "review:accept" in c.get("/console/audit").text
    hist = c.get("/console/history?q=1").text
    assert "review:accept" in hist
    asyncio.run(rt.aclose())


def test_rejecting_a_duplicate_creates_the_record_and_never_proposes_that_candidate_again(tmp_path: Path) -> None:
    rt = _held_duplicate(tmp_path)
    c = _client(rt)
    csrf = _login(c, "view")
    p = review.proposals(rt)[0]
    assert c.post("/console/review/decide", data={"csrf": csrf, "proposal": p.id, "decision": "reject"}
                  ).status_code == 403  # a viewer cannot decide
    c = _client(rt)
    csrf = _login(c, "op")
    c.post("/console/review/decide", data={"csrf": csrf, "proposal": p.id, "decision": "reject"})
    _cycle(rt)
    assert sql(tmp_path / "erp.db", "select count(*) from counterparty where name = 'Romashka LLC'") == [(1,)]
    # the record changes later: it is synced as the new company it is, not held against the same candidate again
    sql(tmp_path / "crm.db", "update company set title = 'Romashka Ltd', version = 2, modified = :m where id = 1",
        m="2100-01-01 00:00:00")
    _cycle(rt)
    assert review.proposals(rt) == []
    with rt.db.connect() as conn:
        assert conn.execute(select(DeadLetter.id).where(DeadLetter.resolved_at.is_(None))).all() == []
    assert review.distinct(rt, "company", "crm", "1") == {"7"}
    # a stale decision (the proposal is gone) changes nothing and says so
    r = c.post("/console/review/decide", data={"csrf": csrf, "proposal": p.id, "decision": "accept"},
               follow_redirects=True)
    assert 'id="error"' in r.text
    asyncio.run(rt.aclose())


def test_rejecting_a_field_conflict_writes_the_losing_value_into_the_master(tmp_path: Path) -> None:
    rt = _held_duplicate(tmp_path)
    insert_rows(tmp_path / "erp.db", "counterparty", [{"id": 8, "name": "Гранит", "inn": inn10(12)}])
    insert_rows(tmp_path / "crm.db", "company", [{"id": 2, "title": "Гранит", "inn": inn10(12), "erp_id": "8"}])
    from b24sync.store.db import utcnow

    with rt.db.begin() as conn:  # as the engine records it (engine/sync.py _resolve_conflicts): the ERP won
        conn.execute(insert(Conflict).values(entity="company", crm_id="2", erp_id="8", field="title", detail={
            "field": "title", "target_value": "Гранит-М", "source_value": "Гранит", "winner": "erp"},
            created_at=utcnow(), resolved_at=utcnow()))
    p = next(p for p in review.proposals(rt) if p.kind == "field")
    done = asyncio.run(review.decide(rt, p.id, "reject"))
    assert "Гранит-М" in done
    assert sql(tmp_path / "erp.db", "select name from counterparty where id = 8") == [("Гранит-М",)]
    assert all(x.id != p.id for x in review.proposals(rt))
    asyncio.run(rt.aclose())


SANDBOX_SPEC = """
version: 1
name: review over the sandboxes
systems:
  bitrix24: {{type: bitrix24, role: crm, webhook_url: "{webhook}"}}
  onec: {{type: 1c-odata, role: erp, url: "{onec}", username: odata, password: secret, preset: ut11}}
entities:
  company:
    title: Контрагенты
    master: onec
    direction: erp_to_crm
    crm: {{object: crm.company}}
    erp: {{object: Catalog_Контрагенты}}
    match:
      - {{crm: UF_CRM_INN, erp: ИНН}}
    link: {{crm: UF_CRM_ERP_ID}}
    fields:
      - {{crm: TITLE, erp: Description}}
      - {{crm: UF_CRM_INN, erp: ИНН}}
    triggers:
      - poll: 10m
"""


def test_two_bitrix24_companies_with_one_inn_are_merged_by_the_engine_on_accept(tmp_path: Path) -> None:
    import httpx

    from b24sync.connectors.bitrix24.portal import prepare_portal
    from b24sync.connectors.bitrix24.requirements import requirements_from_spec
    from b24sync.engine.scheduler import poll_once
    from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox
    from b24sync.sandbox.onec.sandbox import OneCSandbox

    b24 = Bitrix24Sandbox(rate=None)
    b24.start()
    onec = OneCSandbox(seed="demo")
    onec.start()
    try:
        f = tmp_path / "spec.yaml"
        f.write_text(SANDBOX_SPEC.format(webhook=b24.webhook_url, onec=onec.odata_url), encoding="utf-8")
        spec = load_spec(f, {})
        inn = inn10(41)
        ref = onec.create("Catalog_Контрагенты", Description="ООО «Северный ветер»", ИНН=inn)["Ref_Key"]

        def call(method: str, params: dict) -> object:
            r = httpx.post(b24.webhook_url + method, json=params, timeout=10)
            assert r.status_code == 200, r.text
            return r.json()["result"]

        async def prepare_and_sync() -> None:
            rt = build(spec, database_url=f"sqlite:///{tmp_path / 'state.db'}")
            await prepare_portal(rt.adapters["bitrix24"].client, requirements_from_spec(spec))  # type: ignore[attr-defined]
            await rt.aclose()

        asyncio.run(prepare_and_sync())
        a = call("crm.company.add", {"fields": {"TITLE": "Северный ветер", "UF_CRM_INN": inn,
                                                "PHONE": [{"VALUE": "+74951110000", "VALUE_TYPE": "WORK"}]}})
        b = call("crm.company.add", {"fields": {"TITLE": "Северный ветер ООО", "UF_CRM_INN": inn,
                                                "EMAIL": [{"VALUE": "info@veter.ru", "VALUE_TYPE": "WORK"}]}})
        deal = call("crm.deal.add", {"fields": {"TITLE": "Поставка", "COMPANY_ID": b}})

        async def sync() -> None:
            rt = build(spec, database_url=f"sqlite:///{tmp_path / 'state.db'}")
            await poll_once(rt, "company", "erp")
            await run(rt, RunOptions(once=True, poll=False))
            await rt.aclose()

        asyncio.run(sync())
        rt = build(spec, database_url=f"sqlite:///{tmp_path / 'state.db'}")
        props = [p for p in review.proposals(rt) if p.kind == "same_key"]
        assert len(props) == 1 and sorted(props[0].keep) == sorted([str(a), str(b)]), review.proposals(rt)
        assert props[0].members[0].id == ref
        c = _client(rt)
        csrf = _login(c, "op")
        page = c.get("/console/review").text
        assert f'data-proposal="{props[0].id}"' in page and 'data-kind="same_key"' in page

        async def decide_in_console() -> None:  # the console's route runs in this loop, beside the adapters
            from httpx import ASGITransport, AsyncClient

            app = c.app
            async with AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver",
                                   cookies=dict(c.cookies)) as ac:
                r = await ac.post("/console/review/decide", data={"csrf": csrf, "proposal": props[0].id,
                                                                  "decision": "accept", "keep": str(a)})
                assert r.status_code == 303 and "done=" in r.headers["location"], r.text
            await rt.aclose()

        asyncio.run(decide_in_console())
        # the portal merged B into A (its e-mail and its deal moved), and the 1C counterparty links with A
        assert b24.get("company", int(b)) is None
        kept = b24.get("company", int(a))
        assert kept is not None and [m["VALUE"] for m in kept["EMAIL"]] == ["info@veter.ru"]
        assert str(b24.get("deal", int(deal))["COMPANY_ID"]) == str(a)
        asyncio.run(sync())
        rt2 = build(spec, database_url=f"sqlite:///{tmp_path / 'state.db'}")
        with rt2.db.connect() as conn:
            link = conn.execute(select(Link.crm_id).where(Link.erp_id == ref)).scalar()
            open_ = conn.execute(select(DeadLetter.id).where(DeadLetter.resolved_at.is_(None),
                                                             DeadLetter.lane.like(f"%{ref}"))).all()
        assert link == str(a) and not open_
        assert b24.get("company", int(a))["UF_CRM_ERP_ID"] == ref
        assert review.proposals(rt2) == [] or all(p.kind != "same_key" for p in review.proposals(rt2))
        audit = _client(rt2)
        _login(audit, "op")
        assert "review:accept" in audit.get("/console/audit").text
    finally:
        b24.stop()
        onec.stop()


def test_go_live_clusters_are_reviewed_in_the_console_and_the_engine_links_or_separates_them(tmp_path: Path) -> None:
    from b24sync.flows.initial_load import Options, initial_load
    from tests.flows.pair import write_spec

    rt = build(load_spec(write_spec(tmp_path)), database_url=f"sqlite:///{tmp_path}/state.db")
    insert_rows(tmp_path / "erp.db", "counterparty", [
        {"id": 1, "name": "ООО «Ромашка»", "inn": inn10(21)}, {"id": 2, "name": "АО «Гранит»", "inn": inn10(22)}])
    insert_rows(tmp_path / "crm.db", "company", [
        {"id": 1, "title": "Romashka LLC"},  # the same company without INN
        {"id": 3, "title": "Гранитт"}])  # no INN, a typo away from ERP 2
    asyncio.run(initial_load(rt, "company", Options(run_engine=False)))
    clusters = {frozenset((m.side, m.id) for m in p.members): p for p in review.proposals(rt) if p.kind == "cluster"}
    romashka = clusters[frozenset({("crm", "1"), ("erp", "1")})]
    granit = next(p for k, p in clusters.items() if ("crm", "3") in k)
    assert romashka.members[0].evidence and romashka.keep == ["1"]
    c = _client(rt)
    csrf = _login(c, "op")
    page = c.get("/console/review").text
    assert f'data-proposal="{romashka.id}"' in page and 'data-kind="cluster"' in page and inn10(21) in page
    for p, decision in ((romashka, "accept"), (granit, "reject")):
        r = c.post("/console/review/decide", data={"csrf": csrf, "proposal": p.id, "decision": decision},
                   follow_redirects=True)
        assert 'id="notice"' in r.text, r.text[-1500:]
    _cycle(rt)
    assert sql(tmp_path / "crm.db", "select erp_id from company where id = 1") == [("1",)]  # linked and synced
    assert sql(tmp_path / "crm.db", "select count(*) from company where erp_id = '2'") == [(1,)]  # ERP 2 on its own
    assert [p for p in review.proposals(rt) if p.kind == "cluster"] == []
    # the next go-live run respects the console's decisions: the decided clusters are not proposed again (a card
    # created since is new evidence and may make a new proposal)
    report = asyncio.run(initial_load(rt, "company", Options(run_engine=False)))
    assert {c.id: c.decision for c in report.plan.clusters}.get(granit.detail["cluster"]) in (None, "rejected")
    again = {p.id for p in review.proposals(rt)} | {p.detail.get("cluster") for p in review.proposals(rt)}
    assert not again & {romashka.id, granit.id, romashka.detail["cluster"], granit.detail["cluster"]}
    asyncio.run(rt.aclose())


def _relink(tmp_path: Path):  # type: ignore[no-untyped-def]
    from tests.flows.pair import write_spec

    rt = build(load_spec(write_spec(tmp_path, direction="crm_to_erp")), database_url=f"sqlite:///{tmp_path}/state.db")
    insert_rows(tmp_path / "crm.db", "company", [{"id": 1, "title": "Ромашка", "inn": inn10(51)}])
    _cycle(rt)  # CRM 1 -> a new ERP counterparty, linked
    erp_id = str(sql(tmp_path / "erp.db", "select id from counterparty")[0][0])
    insert_rows(tmp_path / "crm.db", "company", [{"id": 2, "title": "Ромашка (дубль)", "inn": inn10(51)}])
    _cycle(rt)  # CRM 2 finds the same ERP record by INN, already linked to CRM 1: a re-link claim
    props = [p for p in review.proposals(rt) if p.kind == "relink"]
    assert len(props) == 1, review.proposals(rt)
    return rt, props[0], erp_id


def test_rejecting_a_relink_moves_the_link_to_the_new_record(tmp_path: Path) -> None:
    rt, p, erp_id = _relink(tmp_path)
    assert {(m.role, m.id) for m in p.members} == {("source", "2"), ("linked", "1"), ("target", erp_id)}
    done = asyncio.run(review.decide(rt, p.id, "reject"))
    assert erp_id in done
    _cycle(rt)
    with rt.db.connect() as conn:
        assert conn.execute(select(Link.crm_id).where(Link.erp_id == erp_id)).scalar() == "2"
    assert sql(tmp_path / "erp.db", f"select name, crm_id from counterparty where id = {erp_id}") == [
        ("Ромашка (дубль)", "2")]
    asyncio.run(rt.aclose())


def test_accepting_a_relink_where_the_system_cannot_merge_closes_the_claim_and_says_so(tmp_path: Path) -> None:
    rt, p, erp_id = _relink(tmp_path)
    done = asyncio.run(review.decide(rt, p.id, "accept"))
    assert "cannot merge" in done and "вручную" in done
    with rt.db.connect() as conn:
        assert conn.execute(select(Link.crm_id).where(Link.erp_id == erp_id)).scalar() == "1"  # untouched
        assert conn.execute(select(DeadLetter.resolution).where(DeadLetter.lane.like("%crm:2"))).scalar() == \
            "discarded"
    assert review.proposals(rt) == []
    asyncio.run(rt.aclose())

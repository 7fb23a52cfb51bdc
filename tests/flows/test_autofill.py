"""Requisite auto-fill by INN (issue 6), end to end over the Bitrix24, DaData and 1C sandboxes.

The runtime is built from the demo entity blocks (counterparties.yaml + autofill.yaml) with the
``require_active_party`` guard appended to ``counterparty_to_erp``, as the demo spec wires it. All steps of one
runtime run inside one event loop (the connectors' HTTP clients belong to it)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from ruamel.yaml import YAML
from sqlalchemy import select

from b24sync.compose import build
from b24sync.engine.service import RunOptions, run
from b24sync.flows.autofill import DEMO_YAML as AUTOFILL_YAML
from b24sync.flows.counterparties import CATALOG, DEMO_YAML as COUNTERPARTIES_YAML
from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox
from b24sync.sandbox.dadata.app import create_app as dadata_app
from b24sync.sandbox.onec.sandbox import OneCSandbox
from b24sync.sandbox.party_registry import build_registry
from b24sync.server.intake import accept_event
from b24sync.spec.models import Spec
from b24sync.store.models import DeadLetter, HistoryEntry, Job

TOKEN = "autofill-test-token"
CONTRACTS = 1038
YANDEX, SBER, LIQUIDATED, BAD_INN = "7736207543", "7707083893", "7700010014", "7707083894"
UNKNOWN = "7700999905"  # a valid check digit, but nobody's INN in the sandbox register
REGISTRY = {e.inn: e for e in build_registry(0)}


@contextmanager
def running(app: Any) -> Iterator[str]:
    """The DaData sandbox on 127.0.0.1 with an ephemeral port, in a background thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    t = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    t.start()
    deadline = time.time() + 10
    while not server.started:
        assert time.time() < deadline, "DaData sandbox did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        t.join(5)
        sock.close()


def _spec(b24_url: str, onec_url: str, dadata_url: str) -> Spec:
    yaml = YAML(typ="safe")
    entities = yaml.load(COUNTERPARTIES_YAML.read_text(encoding="utf-8"))
    entities["counterparty_to_erp"]["guards"].append(
        {"require_active_party": {"side": "crm", "inn": "RQ_INN", "kpp": "RQ_KPP", "provider": "dadata"}})
    entities.update(yaml.load(AUTOFILL_YAML.read_text(encoding="utf-8")))
    return Spec.model_validate({
        "version": 1, "name": "autofill test",
        "systems": {
            "bitrix24": {"type": "bitrix24", "role": "crm", "webhook_url": b24_url, "rate": 50, "burst": 400},
            "onec": {"type": "1c-odata", "role": "erp", "url": onec_url, "username": "odata", "password": "secret",
                     "preset": "ut11"},
            "dadata": {"type": "dadata", "role": "service", "token": TOKEN,
                       "base_url": f"{dadata_url}/suggestions/api/4_1/rs/"},
        },
        "defaults": {"workers": 20, "poll_overlap": "30s", "retry": {"max_attempts": 3, "base_seconds": 0.2,
                                                                       "max_seconds": 1}},
        "entities": entities,
    })


def scenario(fn, tmp_path: Path) -> Any:  # type: ignore[no-untyped-def]
    b24 = Bitrix24Sandbox(rate=50, burst=400)
    onec = OneCSandbox(seed=None)
    app = dadata_app(token=TOKEN, generated=0)
    url, onec_url = b24.start(), onec.start()
    try:
        with running(app) as dd_url:
            rt = build(_spec(url, onec_url, dd_url), database_url=f"sqlite:///{tmp_path / 'state.db'}")

            async def main() -> Any:
                from b24sync.connectors.dadata import aclose_clients
                from b24sync.connectors.bitrix24.portal import prepare_portal
                from b24sync.connectors.bitrix24.requirements import requirements_from_spec

                try:
                    client = rt.adapters["bitrix24"].client  # type: ignore[attr-defined]
                    await prepare_portal(client, requirements_from_spec(rt.spec))
                    types = (await client.call("crm.type.list", {})).get("types", [])  # prepare creates it now
                    if not any(int(t["entityTypeId"]) == CONTRACTS for t in types):
                        await client.call("crm.type.add", {"fields": {"title": "Договоры", "entityTypeId": CONTRACTS}})
                    return await fn(rt, b24, onec, client, app, dd_url)
                finally:
                    await aclose_clients()
                    await rt.aclose()

            return asyncio.run(main())
    finally:
        b24.stop()
        onec.stop()


async def _company(client, title: str, **rq: str) -> int:  # type: ignore[no-untyped-def]
    """What a manager does: a company card, then INN (and maybe more) typed into its requisite."""
    cid = int(await client.call("crm.company.add", {"fields": {"TITLE": title, "ASSIGNED_BY_ID": 1}}))
    await client.call("crm.requisite.add", {"fields": {"ENTITY_TYPE_ID": 4, "ENTITY_ID": cid, "PRESET_ID": 1,
                                                        "NAME": title, **rq}})
    return cid


def _rows(b24: Bitrix24Sandbox, table: str) -> list[dict]:
    return list(b24.portal.t(table).rows.values())


def _rq(b24: Bitrix24Sandbox, cid: int) -> dict[str, Any]:
    rows = [r for r in _rows(b24, "requisite") if int(r["ENTITY_ID"]) == cid and int(r["ENTITY_TYPE_ID"]) == 4]
    assert len(rows) == 1, rows
    return rows[0]


def _address(b24: Bitrix24Sandbox, cid: int) -> list[dict[str, Any]]:
    rq = _rq(b24, cid)
    return [r for r in _rows(b24, "address") if r["ENTITY_ID"] == rq["ID"] and int(r["TYPE_ID"]) == 6]


def _comments(b24: Bitrix24Sandbox, cid: int) -> list[str]:
    return [str(r.get("COMMENT")) for r in _rows(b24, "timeline_comment")
            if str(r.get("ENTITY_ID")) == str(cid) and str(r.get("ENTITY_TYPE", "")).lower() == "company"]


def _filled_notes(b24: Bitrix24Sandbox, cid: int) -> list[str]:
    return [c for c in _comments(b24, cid) if "заполнил реквизиты" in c]


def _dead(rt, entity: str) -> list[DeadLetter]:  # type: ignore[no-untyped-def]
    with rt.db.connect() as conn:
        return list(conn.execute(select(DeadLetter).where(DeadLetter.entity == entity,
                                                          DeadLetter.resolved_at.is_(None))))


def test_inn_fills_requisites_branch_by_kpp_and_keeps_manual_values(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client, app, dd_url):  # type: ignore[no-untyped-def]
        yandex = await _company(client, "Яндекс", RQ_INN=YANDEX)
        sber = await _company(client, "Сбер", RQ_INN=SBER, RQ_COMPANY_NAME="Сбер (наш клиент)")
        branch = REGISTRY[SBER].branches[1]
        sber_branch = await _company(client, "Сбер, филиал", RQ_INN=SBER, RQ_KPP=branch.kpp)
        nobody = await _company(client, "Неизвестная", RQ_INN=UNKNOWN)
        # the webhook path (ONCRMCOMPANYADD → a job for the auto-fill entity), then one full pass with the polls
        assert "company_autofill" in accept_event(rt, side="crm", event="ONCRMCOMPANYADD", record_id=str(yandex),
                                                  source="test").entities
        stats = await run(rt, RunOptions(once=True))
        assert stats.dead == 0 and stats.actions.get("filled") == 3 and stats.actions.get("not_found") == 1, stats
        assert REGISTRY.get(UNKNOWN) is None and not _rq(b24, nobody).get("RQ_COMPANY_NAME")
        assert any(f"ИНН {UNKNOWN} не найден в DaData" in c and "Ничего не заполнено" in c
                   for c in _comments(b24, nobody)), _comments(b24, nobody)

        y = REGISTRY[YANDEX]
        rq = _rq(b24, yandex)
        assert (rq["RQ_COMPANY_NAME"], rq["RQ_KPP"], rq["RQ_OGRN"]) == (y.short_with_opf, y.kpp, y.ogrn)
        assert rq["RQ_COMPANY_FULL_NAME"] == y.full_with_opf
        assert rq["RQ_COMPANY_REG_DATE"] == f"{y.registered:%d.%m.%Y}"
        addr = _address(b24, yandex)
        assert len(addr) == 1 and y.addr.zip in addr[0]["ADDRESS_1"] and addr[0]["POSTAL_CODE"] == y.addr.zip
        notes = _filled_notes(b24, yandex)
        assert len(notes) == 1 and f"из DaData по ИНН {YANDEX}" in notes[0] and "ОГРН" in notes[0], notes
        assert "юридический адрес" in notes[0] and "головная организация" in notes[0]

        # the manager's own name stays; what was empty is filled; the comment says what was kept
        s = REGISTRY[SBER]
        rq = _rq(b24, sber)
        assert rq["RQ_COMPANY_NAME"] == "Сбер (наш клиент)"
        assert (rq["RQ_KPP"], rq["RQ_OGRN"], rq["RQ_COMPANY_FULL_NAME"]) == (s.kpp, s.ogrn, s.full_with_opf)
        assert s.director and rq["RQ_DIRECTOR"] == s.director[0] and rq["RQ_CEO_WORK_POS"] == s.director[1]
        note = _filled_notes(b24, sber)[0]
        assert "Оставлены значения, введённые вручную" in note and "Сбер (наш клиент)" in note and s.short_with_opf in note

        # a KPP typed in → that branch's requisites (its own address), the KPP kept as typed
        rq = _rq(b24, sber_branch)
        assert rq["RQ_KPP"] == branch.kpp and rq["RQ_OGRN"] == s.ogrn
        assert branch.addr.zip in _address(b24, sber_branch)[0]["ADDRESS_1"]
        assert f"филиал, КПП {branch.kpp}" in _filled_notes(b24, sber_branch)[0]

        # nothing went to 1C (no contract yet: held by the counterparties flow's guard) and the next passes are idle
        assert not onec.find(CATALOG)
        served = app.state.sandbox["requests"]
        n_comments = len(_rows(b24, "timeline_comment"))
        await asyncio.sleep(1.1)
        again = await run(rt, RunOptions(once=True))
        assert "filled" not in again.actions and again.dead == 0, again
        assert app.state.sandbox["requests"] == served and len(_rows(b24, "timeline_comment")) == n_comments
        # a webhook for an already-filled card does not fill or comment again
        accept_event(rt, side="crm", event="ONCRMCOMPANYUPDATE", record_id=str(yandex), source="test")
        await run(rt, RunOptions(once=True, poll=False))
        assert len(_filled_notes(b24, yandex)) == 1 and len(_rows(b24, "timeline_comment")) == n_comments

    scenario(steps, tmp_path)


def test_liquidated_company_is_filled_but_held_from_1c_with_reason(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client, app, dd_url):  # type: ignore[no-untyped-def]
        dead = await _company(client, "Новый клиент", RQ_INN=LIQUIDATED)
        alive = await _company(client, "Яндекс", RQ_INN=YANDEX)
        for cid in (dead, alive):  # both qualify for 1C (a contract each)
            await client.call("crm.item.add", {"entityTypeId": CONTRACTS, "fields": {"title": f"Договор {cid}",
                                                                                      "companyId": cid}})
        stats = await run(rt, RunOptions(once=True))
        assert stats.held == 1 and stats.dead == 0, stats

        e = REGISTRY[LIQUIDATED]
        assert _rq(b24, dead)["RQ_COMPANY_NAME"] == e.short_with_opf  # filled all the same
        assert not onec.find(CATALOG, ИНН=LIQUIDATED)
        assert len(onec.find(CATALOG, ИНН=YANDEX)) == 1  # an active company passes the guard
        held = [d for d in _dead(rt, "counterparty_to_erp") if d.kind == "held"]
        assert len(held) == 1, [(d.kind, d.reason) for d in held]
        reason = held[0].reason
        assert (f"{e.short_with_opf} (ИНН {LIQUIDATED}, КПП {e.kpp}) ликвидирована с "
                f"{e.liquidated:%d.%m.%Y} по данным DaData — она не передаётся в 1C") in reason, reason
        # the manager was told: on the card (the on_parked hook) and in a notification
        notes = _comments(b24, dead)
        assert any(reason in n for n in notes), notes
        # in Russian throughout: the system it waits for is named in words (no title in this spec), not "ERP"
        assert any(n.startswith("b24sync: запись ожидает (") and "→ учётная система). " in n for n in notes), notes
        assert not any("→ ERP)" in n for n in notes), notes
        assert any("Внимание: по данным DaData компания ликвидирована" in n for n in notes), notes
        told = [n for n in b24.portal.notifications if "Новый клиент" in n["MESSAGE"]]
        assert len(told) == 1 and "ликвидирована" in told[0]["MESSAGE"] and told[0]["USER_ID"] == 1

    scenario(steps, tmp_path)


def test_quota_exhausted_defers_and_invalid_inn_is_parked(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client, app, dd_url):  # type: ignore[no-untyped-def]
        async with httpx.AsyncClient() as http:  # test control of the sandbox: the day's quota is used up
            r = await http.post(f"{dd_url}/__sandbox/config", json={"daily_quota": 0})
            assert r.status_code == 200
        waiting = await _company(client, "Яндекс", RQ_INN=YANDEX)
        typo = await _company(client, "Опечатка", RQ_INN=BAD_INN)
        stats = await run(rt, RunOptions(once=True))

        # the quota: deferred (not failed, no attempt spent), nothing written
        assert not any(d.lane.endswith(f":{waiting}") for d in _dead(rt, "company_autofill"))
        with rt.db.connect() as conn:
            jobs = list(conn.execute(select(Job).where(Job.entity == "company_autofill")))
            deferred = list(conn.execute(select(HistoryEntry).where(HistoryEntry.entity == "company_autofill",
                                                                    HistoryEntry.action == "deferred")))
        assert len(jobs) == 1 and jobs[0].payload["id"] == str(waiting) and jobs[0].attempts == 0
        run_at = jobs[0].run_at if jobs[0].run_at.tzinfo else jobs[0].run_at.replace(tzinfo=UTC)
        assert run_at > datetime.now(UTC)
        assert deferred and "quota" in deferred[0].detail["reason"]
        assert not _rq(b24, waiting).get("RQ_COMPANY_NAME")
        assert app.state.sandbox["requests"] == 1  # the other worker(s) saw the shared quota marker, not the API

        # the invalid INN: parked with the requisites module's message, told on the card; DaData never asked
        bad = [d for d in _dead(rt, "company_autofill") if d.lane.endswith(f":{typo}")]
        assert len(bad) == 1 and bad[0].kind == "dead"
        assert f"ИНН {BAD_INN}: контрольная цифра должна быть 3" in bad[0].reason
        assert any(f"ИНН {BAD_INN}: контрольная цифра должна быть 3" in c for c in _comments(b24, typo))
        assert not _rq(b24, typo).get("RQ_COMPANY_NAME") and stats.dead >= 1

    scenario(steps, tmp_path)


def test_spec_check_wants_a_party_provider_for_the_guard(tmp_path: Path) -> None:
    from b24sync.spec.loader import check_spec

    base = AUTOFILL_YAML.read_text(encoding="utf-8").replace("\n", "\n  ")
    for provider, ok in (("dadata", True), ("onec", False), ("missing", False)):
        p = tmp_path / f"{provider}.yaml"
        p.write_text(f"""version: 1
name: t
systems:
  bitrix24: {{type: bitrix24, role: crm, webhook_url: "https://x.bitrix24.ru/rest/1/abc/"}}
  onec: {{type: 1c-odata, role: erp, url: "http://x/odata", username: a, password: b}}
  dadata: {{type: dadata, role: service, token: t}}
entities:
  {base}
  to_erp:
    master: bitrix24
    direction: crm_to_erp
    crm: {{object: crm.company+requisite}}
    erp: {{object: counterparty, system: onec}}
    match: [{{crm: RQ_INN, erp: ИНН}}]
    guards:
      - require_active_party: {{side: crm, inn: RQ_INN, kpp: RQ_KPP, provider: {provider}}}
""", encoding="utf-8")
        spec, problems = check_spec(p, env={})
        assert (not problems) == ok, (provider, [str(x) for x in problems])
        if not ok:
            assert any("require_active_party" in str(x) for x in problems)

"""A 1C DataVersion conflict, end to end over the Bitrix24 and 1C sandboxes, decided on the console's Review page.

A 1C user saves the counterparty right after b24sync read it (the sandbox's ``edit_after_next_read``). 1C would
accept our PATCH with the stale DataVersion (research/erp-side.md §1.10 ⚠); the connector's read-compare-write
guard notices, the engine reads the record again, sees that the user changed the very field we were writing and
parks the record as a ``version`` review item: per field our value, 1C's value now and when we read it, and both
DataVersions. *accept* writes ours with the fresh DataVersion; *reject* keeps 1C's — carried back to Bitrix24 where
the entity flows that way, else ours are simply dropped (and not sent again until the CRM record changes)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from b24sync.compose import build
from b24sync.engine import review
from b24sync.engine.scheduler import poll_once
from b24sync.engine.service import RunOptions, run
from b24sync.server.console.app import ConsoleAuth, mount_console
from b24sync.spec.loader import load_spec
from b24sync.store.models import DeadLetter, HistoryEntry
from tests.flows.pair import inn10

CATALOG = "Catalog_Контрагенты"

SPEC = """
version: 1
name: version conflicts over the sandboxes
systems:
  bitrix24: {{type: bitrix24, role: crm, webhook_url: "{webhook}"}}
  onec: {{type: 1c-odata, role: erp, url: "{onec}", username: odata, password: secret, preset: ut11}}
defaults: {{retry: {{max_attempts: 3, base_seconds: 0.1, max_seconds: 0.2}}}}
entities:
  company:
    title: Контрагенты
    master: {master}
    direction: {direction}
    crm: {{object: crm.company}}
    erp: {{object: Catalog_Контрагенты}}
    match:
      - {{crm: UF_CRM_INN, erp: ИНН}}
    link: {{crm: UF_CRM_ERP_ID}}
    fields:
      - {{crm: TITLE, erp: Description, owner: {owner}}}
      - {{crm: UF_CRM_INN, erp: ИНН}}
    triggers:
      - poll: 10m
"""


def _login(c: TestClient, token: str) -> str:
    r = c.post("/console/login", data={"token": token, "next": "/console/review"}, follow_redirects=True)
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', r.text)
    return m.group(1) if m else ""


def _accept_in_chromium(rt, pid: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Debian's chromium (as tests/console/test_console_browser.py): log in as the operator, find the version
    conflict on the Review page with its evidence, press «Записать наши», see the notice."""
    import os

    from tests.console.test_console_browser import CHROMIUM

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Debian's chromium is not at {CHROMIUM}: `make test` installs it (apt package chromium)")
    from playwright.sync_api import sync_playwright

    from b24sync.sandbox.served import ServedApp
    from b24sync.server.app import create_app

    os.environ["B24SYNC_CONSOLE_TOKEN"] = "console-operator-token-for-the-test"
    served = ServedApp(create_app(rt))
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{served.url}/console/login?next=/console/review")
            page.fill("input[name=token]", "console-operator-token-for-the-test")
            page.click("button[type=submit]")
            page.goto(f"{served.url}/console/review")
            item = page.locator(f'section[data-proposal="{pid}"]')
            row = item.locator('tr[data-field="Description"]')
            assert row.locator(".ours").inner_text() == "Вектор CRM" and row.locator(".theirs").inner_text() == "Вектор 1С"
            page.screenshot(path=str(tmp_path / "version-conflict.png"), full_page=True)
            item.locator("button.accept").click()
            page.wait_for_selector("#notice")
            assert "повторена" in page.locator("#notice").inner_text()
            browser.close()
    finally:
        os.environ.pop("B24SYNC_CONSOLE_TOKEN", None)
        served.stop()


@pytest.mark.parametrize("direction", ["both", "crm_to_erp"])
def test_a_1c_version_conflict_is_reviewed_and_decided(tmp_path: Path, direction: str) -> None:
    from b24sync.connectors.bitrix24.portal import prepare_portal
    from b24sync.connectors.bitrix24.requirements import requirements_from_spec
    from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox
    from b24sync.sandbox.onec.sandbox import OneCSandbox

    b24 = Bitrix24Sandbox(rate=None)
    b24.start()
    onec = OneCSandbox(seed=None)
    onec.start()
    db = f"sqlite:///{tmp_path / 'state.db'}"
    try:
        f = tmp_path / "spec.yaml"
        f.write_text(SPEC.format(webhook=b24.webhook_url, onec=onec.odata_url, direction=direction,
                                 master="onec" if direction == "both" else "bitrix24",
                                 owner="both" if direction == "both" else "crm"), encoding="utf-8")
        spec = load_spec(f, {})
        inn = inn10(57)

        def call(method: str, params: dict) -> object:
            r = httpx.post(b24.webhook_url + method, json=params, timeout=10)
            assert r.status_code == 200, r.text
            return r.json()["result"]

        async def prepare() -> None:
            rt = build(spec, database_url=db)
            await prepare_portal(rt.adapters["bitrix24"].client, requirements_from_spec(spec))  # type: ignore[attr-defined]
            await rt.aclose()

        async def cycle(*sides: str) -> None:
            rt = build(spec, database_url=db)
            for side in sides:
                await poll_once(rt, "company", side)  # type: ignore[arg-type]
            await run(rt, RunOptions(once=True, poll=False))
            await rt.aclose()

        def one_c() -> dict:
            rows = [r for r in onec.store.objects[CATALOG].values() if r.get("ИНН") == inn]
            assert len(rows) == 1, rows
            return rows[0]

        asyncio.run(prepare())
        cid = int(call("crm.company.add", {"fields": {"TITLE": "Вектор", "UF_CRM_INN": inn}}))  # type: ignore[arg-type]
        asyncio.run(cycle("crm"))
        ref = str(one_c()["Ref_Key"])
        assert one_c()["Description"] == "Вектор", one_c()

        def race(title: str, theirs: str) -> review.Proposal:
            """The manager renames the company; a 1C user renames the counterparty right after our read."""
            call("crm.company.update", {"id": cid, "fields": {"TITLE": title}})
            onec.edit_after_next_read(CATALOG, ref, Description=theirs)
            before = one_c()["__v"]
            asyncio.run(cycle("crm"))
            assert one_c()["Description"] == theirs and one_c()["__v"] == before + 1  # ours not written over it
            rt = build(spec, database_url=db)
            props = [p for p in review.proposals(rt) if p.kind == "version"]
            assert len(props) == 1, review.proposals(rt)
            with rt.db.connect() as conn:  # parked at once for review: not retried, not a plain dead letter
                dl = conn.execute(select(DeadLetter).where(DeadLetter.resolved_at.is_(None))).all()
                retries = conn.execute(select(HistoryEntry.id).where(HistoryEntry.action == "retry")).all()
            assert [(d.kind, d.attempts) for d in dl] == [("conflict", 1)] and not retries
            asyncio.run(rt.aclose())
            return props[0]

        # --- 1. accept: write ours with the fresh DataVersion
        p = race("Вектор CRM", "Вектор 1С")
        assert [(m.side, m.id) for m in p.members] == [("crm", str(cid)), ("erp", ref)]
        assert p.detail["fields"] == [{"field": "Description", "ours": "Вектор CRM", "theirs": "Вектор 1С",
                                       "before": "Вектор"}]
        assert p.detail["read_version"] != p.detail["current_version"] and p.detail["current_version"]
        rt = build(spec, database_url=db)
        app = FastAPI()
        mount_console(app, rt, ConsoleAuth("op", "view"))
        viewer = TestClient(app)
        vcsrf = _login(viewer, "view")
        page = viewer.get("/console/review").text
        section = page[page.index(f'data-proposal="{p.id}"'):]
        assert 'data-kind="version"' in page and "Вектор CRM" in section and "Вектор 1С" in section
        assert p.detail["current_version"] in section and 'data-field="Description"' in section
        assert "Записать наши" not in page  # no buttons for a viewer …
        assert viewer.post("/console/review/decide", data={"csrf": vcsrf, "proposal": p.id, "decision": "accept"}
                           ).status_code == 403  # … and its POST is refused
        op = TestClient(app)
        csrf = _login(op, "op")
        assert op.post("/console/review/decide", data={"csrf": csrf, "proposal": p.id, "decision": "accept"},
                       headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403  # CSRF
        assert op.post("/console/review/decide", data={"csrf": "0" * 32, "proposal": p.id, "decision": "accept"}
                       ).status_code == 403
        if direction == "both":  # in a real browser: the page as a person sees it, the decision by its button
            _accept_in_chromium(rt, p.id, tmp_path)
        else:
            r = op.post("/console/review/decide", data={"csrf": csrf, "proposal": p.id, "decision": "accept"},
                        follow_redirects=True)
            assert r.status_code == 200 and 'id="notice"' in r.text, r.text[-1500:]
        asyncio.run(rt.aclose())
        asyncio.run(cycle())
        assert one_c()["Description"] == "Вектор CRM"
        rt = build(spec, database_url=db)
        assert review.proposals(rt) == []  # decided: no version item, and no field conflict made of it either
        asyncio.run(rt.aclose())

        # --- 2. reject: keep 1C's value
        p = race("Вектор CRM 2", "Вектор 1С 2")
        rt = build(spec, database_url=db)
        app = FastAPI()
        mount_console(app, rt, ConsoleAuth("op", "view"))
        op = TestClient(app)
        csrf = _login(op, "op")
        r = op.post("/console/review/decide", data={"csrf": csrf, "proposal": p.id, "decision": "reject"},
                    follow_redirects=True)
        assert r.status_code == 200 and 'id="notice"' in r.text, r.text[-1500:]
        audit = op.get("/console/audit").text
        assert "review:accept" in audit and "review:reject" in audit
        assert "review:reject" in op.get(f"/console/history?q={cid}").text
        asyncio.run(rt.aclose())
        asyncio.run(cycle("crm"))  # a poll of the CRM record sends nothing again
        assert one_c()["Description"] == "Вектор 1С 2"
        title = call("crm.company.get", {"id": cid})["TITLE"]  # type: ignore[index]
        assert title == ("Вектор 1С 2" if direction == "both" else "Вектор CRM 2")
        rt = build(spec, database_url=db)
        with rt.db.connect() as conn:
            assert conn.execute(select(DeadLetter.id).where(DeadLetter.resolved_at.is_(None))).all() == []
        assert [p for p in review.proposals(rt) if p.kind == "version"] == []
        asyncio.run(rt.aclose())
    finally:
        b24.stop()
        onec.stop()

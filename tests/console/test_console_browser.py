"""The console in a real browser (Playwright for Python driving Debian's chromium, never a downloaded one): log in,
see the dead letters a Bitrix24 sandbox fault produced, fix the cause, replay them from the console, see the record
succeed in its history. Screenshots of the overview and the queue are saved (B24SYNC_SCREENSHOTS or tmp)."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("B24SYNC_CHROMIUM", "/usr/bin/chromium")

SPEC = """
version: 1
name: Консоль — проверка
systems:
  bitrix24: {{type: bitrix24, role: crm, webhook_url: "{webhook}", rate: 50, burst: 500}}
  onec: {{type: 1c-odata, role: erp, url: "{onec}", username: odata, password: secret, preset: ut11}}
defaults:
  retry: {{max_attempts: 2, base_seconds: 0.05, max_seconds: 0.1}}
entities:
  company:
    title: Контрагенты
    master: onec
    direction: erp_to_crm
    crm: {{object: crm.company}}
    erp: {{object: Catalog_Контрагенты}}
    match:
      - {{crm: UF_CRM_ERP_ID, erp: Ref_Key}}
    link: {{crm: UF_CRM_ERP_ID}}
    fields:
      - {{crm: TITLE, erp: Description}}
    triggers:
      - poll: 10m
"""


def test_login_see_a_dead_letter_replay_it_and_see_it_succeed(tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Debian's chromium is not at {CHROMIUM}: `make test` installs it (apt package chromium)")
    from playwright.sync_api import sync_playwright

    from b24sync.compose import build
    from b24sync.connectors.bitrix24.portal import prepare_portal
    from b24sync.connectors.bitrix24.requirements import requirements_from_spec
    from b24sync.engine.scheduler import poll_once
    from b24sync.engine.service import RunOptions, run
    from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox
    from b24sync.sandbox.onec.sandbox import OneCSandbox
    from b24sync.sandbox.served import ServedApp
    from b24sync.server.app import create_app
    from b24sync.spec.loader import load_spec
    from b24sync.store import queue as jobs

    shots = Path(os.environ.get("B24SYNC_SCREENSHOTS") or tmp_path / "screens")
    shots.mkdir(parents=True, exist_ok=True)
    b24 = Bitrix24Sandbox(rate=None)
    b24.start()
    onec = OneCSandbox(seed="demo")
    onec.start()
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(SPEC.format(webhook=b24.webhook_url, onec=onec.odata_url), encoding="utf-8")
    store = f"sqlite:///{tmp_path / 'state.db'}"
    spec = load_spec(spec_file, {})

    async def first_sync() -> None:
        rt = build(spec, database_url=store)
        await prepare_portal(rt.adapters["bitrix24"].client, requirements_from_spec(spec))  # type: ignore[attr-defined]
        for method in ("crm.company.add", "batch:crm.company.add"):  # the portal refuses every new company
            b24.force(method, "500", times=100_000)
        await poll_once(rt, "company", "erp")
        await run(rt, RunOptions(once=True, poll=False))
        await rt.aclose()

    async def second_sync() -> None:
        rt = build(spec, database_url=store)
        await run(rt, RunOptions(once=True, poll=False))
        await rt.aclose()

    os.environ["B24SYNC_CONSOLE_TOKEN"] = "console-operator-token-for-the-test"
    console_rt = build(spec, database_url=store)
    served = ServedApp(create_app(console_rt))
    try:
        asyncio.run(first_sync())
        dead = sum(s.dead for s in jobs.status(console_rt.db))
        assert dead > 0, "the fault produced no dead letter"
        b24._faults.clear()  # the cause is fixed: the portal answers again
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            print(f"chromium {browser.version}")
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            requested: list[str] = []
            page.on("request", lambda r: requested.append(r.url))
            page.goto(f"{served.url}/console/")
            page.fill("input[name=token]", "console-operator-token-for-the-test")
            page.click("button[type=submit]")
            page.wait_for_selector("#verdict")
            assert "Контрагенты" in page.content()
            # polls are fine but records failed: the entity's verdict says so instead of «в порядке»
            assert page.locator("td.verdict").first.get_attribute("data-verdict") == "errors"
            page.screenshot(path=str(shots / "overview.png"), full_page=True)
            page.click("text=Очередь")
            group = page.locator("section.group[data-entity=company]")
            assert int(group.locator(".count").inner_text()) == dead
            assert group.locator("h2").inner_text().startswith("Контрагенты")  # the entity's title, not its key
            page.screenshot(path=str(shots / "queue.png"), full_page=True)
            record = (group.locator("tbody tr td a").first.text_content() or "").strip()
            page.once("dialog", lambda d: d.accept())
            group.locator("button.replay-group").click()
            page.wait_for_selector("#notice")
            assert f"replayed:{dead}" in page.locator("#notice").inner_text()
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(1) as ex:  # the workers run beside the browser's own event loop
                ex.submit(asyncio.run, second_sync()).result(timeout=120)
            page.goto(f"{served.url}/console/queue")
            assert page.locator("#empty").count() == 1
            page.goto(f"{served.url}/console/history?q={record}")
            rows = page.locator("#history tbody tr")
            outcomes = [rows.nth(i).locator(".outcome").inner_text() for i in range(rows.count())]
            actions = page.locator("#history").inner_text()
            assert "dead" in actions and "created" in actions and outcomes[-1] == "ok", actions
            page.screenshot(path=str(shots / "history.png"), full_page=True)
            page.goto(f"{served.url}/console/audit")
            assert "replay" in page.locator("#audit").inner_text()
            page.goto(f"{served.url}/console/")
            assert page.locator("figure.chart[data-entity=company] g.bar").count() == 24
            assert page.locator("#limits tr[data-system=bitrix24]").count() == 1
            assert page.locator("td.verdict").first.get_attribute("data-verdict") == "ok"  # replayed: fine again
            page.screenshot(path=str(shots / "overview-after.png"), full_page=True)
            page.goto(f"{served.url}/console/review")
            page.screenshot(path=str(shots / "review.png"), full_page=True)
            page.click("text=English")  # the English UI
            assert page.locator("h1").inner_text() == "Review"
            foreign = [u for u in requested if not u.startswith(served.url)]
            assert not foreign, foreign  # nothing fetched from anywhere else: every asset is vendored
            browser.close()
        assert b24.count("company") > 0
    finally:
        os.environ.pop("B24SYNC_CONSOLE_TOKEN", None)
        served.stop()
        b24.stop()
        onec.stop()
        if os.environ.get("B24SYNC_SCREENSHOTS") is None:
            shutil.rmtree(shots, ignore_errors=True)

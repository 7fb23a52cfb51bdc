"""Schema drift in the console: a mapped Bitrix24 user field re-created with another type pauses the entity; the
Review page shows old vs new (name and type); the operator's resume approves the new type and the entity runs."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from b24sync.compose import build
from b24sync.engine.drift import check_once
from b24sync.rehearsal.prepare import prepare
from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox
from b24sync.server.console.app import ConsoleAuth, mount_console
from b24sync.spec.loader import load_spec
from tests.engine.test_schema_drift import SPEC
from tests.sqltables import make_table


def test_a_field_that_changed_type_pauses_shows_old_vs_new_and_resumes_on_approval(tmp_path: Path) -> None:
    make_table(tmp_path / "erp.db", "cp", ("name", "debt"))
    sb = Bitrix24Sandbox(rate=None)
    sb.start()
    f = tmp_path / "spec.yaml"
    f.write_text(SPEC.format(webhook=sb.webhook_url, erp=tmp_path / "erp.db"), encoding="utf-8")
    spec = load_spec(f, {})
    rt = build(spec, database_url=f"sqlite:///{tmp_path / 'state.db'}")
    app = FastAPI()
    mount_console(app, rt, ConsoleAuth("op", None))
    web = TestClient(app)
    r = web.post("/console/login", data={"token": "op", "next": "/console/review"}, follow_redirects=True)
    csrf = re.search(r'name="csrf-token" content="([0-9a-f]+)"', r.text).group(1)  # type: ignore[union-attr]

    async def go() -> None:
        await prepare(rt, spec, None)
        c = rt.adapters["bitrix24"].client  # type: ignore[attr-defined]
        assert await check_once(rt, {"company"}) == {}  # the first clean check records the types
        uf = await c.call("crm.company.userfield.list", {"filter": {"FIELD_NAME": "UF_CRM_DEBT"}})
        old_type = uf[0]["USER_TYPE_ID"]
        await c.call("crm.company.userfield.delete", {"id": uf[0]["ID"]})  # an admin re-creates it as text
        await c.call("crm.company.userfield.add", {"fields": {"FIELD_NAME": "DEBT", "USER_TYPE_ID": "string"}})
        paused = await check_once(rt, {"company"})
        assert list(paused) == ["company"] and "изменился тип" in paused["company"], paused
        page = web.get("/console/review").text
        section = page[page.index('class="group paused"'):]
        row = section[section.index("UF_CRM_DEBT"):][:600]
        assert old_type in row and "string" in row, row  # old vs new: the name and both types
        assert await check_once(rt, {"company"}) == {}  # still paused (not a new pause), jobs wait
        assert "company" in rt.refused
        r = web.post("/console/resume", data={"csrf": csrf, "entity": "company"}, follow_redirects=True)
        assert r.status_code == 200
        assert await check_once(rt, {"company"}) == {}
        assert "company" not in rt.refused  # runs again with the approved type
        assert await check_once(rt, {"company"}) == {}  # and stays running: the new type is the baseline
        assert "company" not in rt.refused
        await rt.aclose()

    try:
        asyncio.run(go())
    finally:
        sb.stop()

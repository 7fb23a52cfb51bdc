"""A mapped name that disappears from a live system while b24sync runs pauses its entity (no `None` written, jobs
wait); it runs again only after a person resumed it and the name is back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import update

from b24sync.compose import build
from b24sync.engine.drift import check_once
from b24sync.engine.errors import DeferError
from b24sync.rehearsal.prepare import prepare
from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox
from b24sync.spec.loader import load_spec
from b24sync.store.models import EntityState
from tests.sqltables import make_table

SPEC = """
version: 1
name: drift
systems:
  bitrix24: {{type: bitrix24, role: crm, webhook_url: "{webhook}"}}
  erp: {{type: sql, role: erp, url: "sqlite:///{erp}", tables: {{cp: {{table: cp, id: id, modified: m}}}}}}
entities:
  company:
    title: Контрагенты
    master: erp
    direction: erp_to_crm
    crm: {{object: crm.company}}
    erp: {{object: cp}}
    match:
      - {{crm: UF_CRM_ERP_ID, erp: id}}
    link: {{crm: UF_CRM_ERP_ID}}
    fields:
      - {{crm: TITLE, erp: name}}
      - {{crm: UF_CRM_DEBT, erp: debt, crm_type: money}}
    triggers:
      - poll: 1m
"""


def test_a_field_deleted_while_running_pauses_the_entity_until_resumed_and_back(tmp_path: Path) -> None:
    make_table(tmp_path / "erp.db", "cp", ("name", "debt"))
    sb = Bitrix24Sandbox(rate=None)
    sb.start()
    f = tmp_path / "spec.yaml"
    f.write_text(SPEC.format(webhook=sb.webhook_url, erp=tmp_path / "erp.db"), encoding="utf-8")
    spec = load_spec(f, {})
    rt = build(spec, database_url=f"sqlite:///{tmp_path / 'state.db'}")

    async def go() -> None:
        await prepare(rt, spec, None)
        c = rt.adapters["bitrix24"].client  # type: ignore[attr-defined]
        assert await check_once(rt, {"company"}) == {}
        uf = await c.call("crm.company.userfield.list", {"filter": {"FIELD_NAME": "UF_CRM_DEBT"}})
        await c.call("crm.company.userfield.delete", {"id": uf[0]["ID"]})  # an admin deletes the field
        paused = await check_once(rt, {"company"})
        assert list(paused) == ["company"] and "UF_CRM_DEBT" in paused["company"]
        assert paused["company"].startswith("Сущность приостановлена")
        with pytest.raises(DeferError):
            rt.entity("company")  # its jobs wait instead of writing None over the debt
        with rt.db.begin() as conn:  # a person resumes it in the console — the field is still missing
            conn.execute(update(EntityState).where(EntityState.entity == "company").values(paused=False))
        assert list(await check_once(rt, {"company"})) == ["company"]  # paused again: the name is still gone
        await c.call("crm.company.userfield.add", {"fields": {"FIELD_NAME": "DEBT", "USER_TYPE_ID": "money"}})
        with rt.db.begin() as conn:
            conn.execute(update(EntityState).where(EntityState.entity == "company").values(paused=False))
        assert await check_once(rt, {"company"}) == {}
        assert rt.entity("company").title == "Контрагенты"  # runs again
        await rt.aclose()

    try:
        asyncio.run(go())
    finally:
        sb.stop()

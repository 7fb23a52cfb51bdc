"""Several ERP bases in one deployment: each company goes to the base its legal-entity field names (``only_if``),
through its own identity map, whatever trigger brings it — a webhook for a company of base A never creates it in
base B."""

from __future__ import annotations

import asyncio
from pathlib import Path

from b24sync.compose import build
from b24sync.engine.scheduler import poll_once
from b24sync.engine.service import RunOptions, run
from b24sync.rehearsal.prepare import prepare
from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox
from b24sync.sandbox.onec.sandbox import OneCSandbox
from b24sync.server.intake import accept_event
from b24sync.spec.loader import load_spec

ENTITY = """
  to_{base}:
    title: Counterparties of legal entity {upper} → 1C base {upper}
    master: bitrix24
    direction: crm_to_erp
    crm: {{object: crm.company+requisite}}
    erp: {{object: counterparty, system: onec_{base}}}
    match:
      - keys: [{{crm: RQ_INN, erp: ИНН, normalize: inn}}, {{crm: RQ_KPP, erp: КПП}}]
    link: {{erp: ИдентификаторCRM}}
    fields:
      - {{crm: TITLE, erp: Description, on: create}}
      - {{crm: RQ_INN, erp: ИНН, on: create}}
      - {{crm: RQ_KPP, erp: КПП, on: create}}
    triggers:
      - poll: 1m
      - webhook: ONCRMCOMPANYUPDATE
    guards:
      - only_if: {{side: crm, field: UF_CRM_ORG, values: ["{upper}"]}}
"""

SPEC = """
version: 1
name: two legal entities, two 1C bases
systems:
  bitrix24: {{type: bitrix24, role: crm, webhook_url: "{webhook}", rate: 50, burst: 500}}
  onec_a: {{type: 1c-odata, role: erp, url: "{a}", username: odata, password: secret, preset: ut11}}
  onec_b: {{type: 1c-odata, role: erp, url: "{b}", username: odata, password: secret, preset: ut11}}
entities:{entities}
"""


def _inns(sandbox: OneCSandbox) -> set[str]:
    with sandbox.store.lock:
        return {r.get("ИНН") for r in sandbox.store.objects["Catalog_Контрагенты"].values()}


def test_each_company_goes_to_the_base_its_legal_entity_names_and_nowhere_else(tmp_path: Path) -> None:
    b24 = Bitrix24Sandbox(rate=None)
    b24.start()
    a, b = OneCSandbox(seed="demo"), OneCSandbox(seed="demo")
    a.start()
    b.start()
    before_a, before_b = _inns(a), _inns(b)
    f = tmp_path / "spec.yaml"
    f.write_text(SPEC.format(webhook=b24.webhook_url, a=a.odata_url, b=b.odata_url,
                             entities=ENTITY.format(base="a", upper="A") + ENTITY.format(base="b", upper="B")),
                 encoding="utf-8")
    spec = load_spec(f, {})
    rt = build(spec, database_url=f"sqlite:///{tmp_path / 'state.db'}")

    async def go() -> dict[str, str]:
        await prepare(rt, spec, None)  # creates UF_CRM_ORG (the routing field) with the link fields
        b24.seed(companies=12)
        c = rt.adapters["bitrix24"].client  # type: ignore[attr-defined]
        companies = await c.call("crm.company.list", {"select": ["ID"]})
        org = {}
        for i, comp in enumerate(companies):
            org[str(comp["ID"])] = "A" if i % 3 else "B"
            await c.call("crm.company.update", {"id": comp["ID"], "fields": {"UF_CRM_ORG": org[str(comp["ID"])]}})
        for name in spec.entities:
            await poll_once(rt, name, "crm")
        await run(rt, RunOptions(once=True, poll=False))
        # a webhook about a company of A enqueues both entities; the one for B must skip it
        first_a = next(k for k, v in org.items() if v == "A")
        res = accept_event(rt, side="crm", event="ONCRMCOMPANYUPDATE", record_id=first_a, source="test",
                           delivery_id="d-1")
        assert res.jobs == 2
        await run(rt, RunOptions(once=True, poll=False))
        inns = {}
        for comp_id in org:
            rq = await c.call("crm.requisite.list", {"filter": {"ENTITY_TYPE_ID": 4, "ENTITY_ID": comp_id},
                                                     "select": ["RQ_INN"]})
            inns[comp_id] = rq[0]["RQ_INN"]
        await rt.aclose()
        return {inns[k]: v for k, v in org.items()}

    try:
        routed = asyncio.run(go())
        new_a, new_b = _inns(a) - before_a, _inns(b) - before_b
        assert new_a == {inn for inn, o in routed.items() if o == "A"}
        assert new_b == {inn for inn, o in routed.items() if o == "B"}
        assert not new_a & new_b and len(new_a) == 8 and len(new_b) == 4
    finally:
        a.stop()
        b.stop()
        b24.stop()

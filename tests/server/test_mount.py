"""The server mounts event intake per system: 1C pushes signed events, duplicates are ignored, forgeries refused."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from b24sync.compose import build
from b24sync.connectors.onec.http.inbound import signed_headers
from b24sync.server.app import create_app
from b24sync.server.mount import routers_for
from b24sync.spec.loader import load_spec
from b24sync.store.models import Job

SPEC = """
name: events
systems:
  bitrix24: {type: bitrix24, role: crm, webhook_url: "http://127.0.0.1:9/rest/1/abc/"}
  onec: {type: 1c-odata, role: erp, url: "http://127.0.0.1:9/trade/odata/standard.odata/", username: u, password: p,
         events_secret: s3cret}
entities:
  order:
    master: onec
    direction: erp_to_crm
    crm: {object: crm.deal}
    erp: {object: Document_ЗаказКлиента}
    match: [{crm: UF_CRM_ERP_ID, erp: Ref_Key}]
    link: {crm: UF_CRM_ERP_ID}
    fields: [{crm: STAGE_ID, erp: Статус}]
    triggers: [{event: order.status_changed}]
"""


def test_signed_1c_event_becomes_one_job(tmp_path: Path) -> None:
    f = tmp_path / "spec.yaml"
    f.write_text(SPEC, encoding="utf-8")
    rt = build(load_spec(f), database_url=f"sqlite:///{tmp_path}/s.db")
    client = TestClient(create_app(rt, routers_for(rt)))
    body = json.dumps({"id": "d-1", "event": "order.status_changed",
                       "object": {"type": "Document_ЗаказКлиента", "ref": "5f1c0c43-0000-0000-0000-000000000001"}}).encode()
    url = "/onec/onec/events"
    assert client.post(url, content=body, headers={"X-1C-Signature": "sha256=00"}).status_code == 401
    r = client.post(url, content=body, headers=signed_headers("s3cret", body, "d-1"))
    assert r.json().get("status") == "accepted", r.text
    assert client.post(url, content=body, headers=signed_headers("s3cret", body, "d-1")).json()["status"] == "duplicate"
    with rt.db.connect() as c:
        jobs = c.execute(select(Job.entity, Job.payload)).all()
    assert [(e, p["side"], p["id"]) for e, p in jobs] == [("order", "erp", "5f1c0c43-0000-0000-0000-000000000001")]
    assert rt.db.connect().execute(select(func.count()).select_from(Job)).scalar_one() == 1

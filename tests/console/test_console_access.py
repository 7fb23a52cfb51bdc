"""The console is closed without a token, a viewer can look but not act, every action needs the session's CSRF
token and the same origin, and operator actions land in the audit log."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import insert

from b24sync.compose import build
from b24sync.server.console.app import ConsoleAuth, mount_console
from b24sync.spec.loader import load_spec
from b24sync.store.db import utcnow
from b24sync.store.models import DeadLetter
from tests.sqltables import crm_and_erp

SPEC = """
version: 1
name: console test
systems:
  crm: {{type: sql, role: crm, url: "sqlite:///{crm}", tables: {{company: {{table: company, id: id, modified: m}}}}}}
  erp: {{type: sql, role: erp, url: "sqlite:///{erp}", tables: {{cp: {{table: cp, id: id, modified: m}}}}}}
entities:
  company:
    title: Контрагенты
    master: erp
    direction: erp_to_crm
    crm: {{object: company}}
    erp: {{object: cp}}
    match:
      - {{crm: inn, erp: inn}}
    link: {{crm: erp_id}}
    fields:
      - {{crm: title, erp: name}}
    triggers:
      - poll: 1m
"""


def _rt(tmp_path: Path):  # type: ignore[no-untyped-def]
    crm_and_erp(tmp_path)
    f = tmp_path / "spec.yaml"
    f.write_text(SPEC.format(crm=tmp_path / "crm.db", erp=tmp_path / "erp.db"), encoding="utf-8")
    rt = build(load_spec(f, {}), database_url=f"sqlite:///{tmp_path / 'state.db'}")
    with rt.db.begin() as c:
        for i in range(3):
            c.execute(insert(DeadLetter).values(kind="dead", entity="company", lane=f"company:erp:{i}",
                                                job_kind="sync", payload={"side": "erp", "id": str(i)},
                                                reason="Bitrix24: 503 (телефон +7 999 123-45-67)",
                                                error_type="RetryableError", reason_key="RetryableError:x",
                                                attempts=3, created_at=utcnow()))
    return rt


def _client(rt, operator: str | None = "op-token", viewer: str | None = "view-token") -> TestClient:  # type: ignore[no-untyped-def]
    app = FastAPI()
    mount_console(app, rt, ConsoleAuth(operator, viewer))
    return TestClient(app)


def _login(c: TestClient, token: str) -> str:
    r = c.post("/console/login", data={"token": token, "next": "/console/queue"}, follow_redirects=True)
    assert r.status_code == 200
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', r.text)
    return m.group(1) if m else ""


def test_the_console_is_closed_without_a_token(tmp_path: Path) -> None:
    c = _client(_rt(tmp_path), None, None)
    assert c.get("/console/").status_code == 404
    assert c.post("/console/login", data={"token": "x"}).status_code == 404


def test_no_page_without_a_session_and_a_wrong_token_is_refused(tmp_path: Path) -> None:
    c = _client(_rt(tmp_path))
    r = c.get("/console/queue", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
    r = c.post("/console/login", data={"token": "wrong"})
    assert "Неверный токен" in r.text and "b24sync_console" not in r.headers.get("set-cookie", "")
    c.cookies.set("b24sync_console", "operator|9999999999|abc|forged")
    assert c.get("/console/", follow_redirects=False).status_code == 303


def test_a_viewer_sees_the_queue_but_cannot_replay(tmp_path: Path) -> None:
    rt = _rt(tmp_path)
    c = _client(rt)
    csrf = _login(c, "view-token")
    page = c.get("/console/queue").text
    assert "Записей: <span class=\"count\">3</span>" in page and "+7 999 123-45-67" not in page  # phone masked
    assert "replay-group" not in page
    r = c.post("/console/replay", data={"csrf": csrf, "all": "true"})
    assert r.status_code == 403
    from b24sync.store import queue as jobs

    assert sum(s.dead for s in jobs.status(rt.db)) == 3


def test_an_action_needs_the_csrf_token_and_the_same_origin(tmp_path: Path) -> None:
    rt = _rt(tmp_path)
    c = _client(rt)
    csrf = _login(c, "op-token")
    assert c.post("/console/replay", data={"all": "true"}).status_code == 403
    assert c.post("/console/replay", data={"csrf": "0" * 32, "all": "true"}).status_code == 403
    assert c.post("/console/replay", data={"csrf": csrf, "all": "true"},
                  headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403


def test_operator_replays_a_group_and_the_audit_log_says_so(tmp_path: Path) -> None:
    rt = _rt(tmp_path)
    c = _client(rt)
    csrf = _login(c, "op-token")
    r = c.post("/console/replay", data={"csrf": csrf, "entity": "company", "reason_key": "RetryableError:x"},
               headers={"Sec-Fetch-Site": "same-origin"}, follow_redirects=True)
    assert r.status_code == 200 and "replayed:3" in r.text
    audit = c.get("/console/audit").text
    assert "replay" in audit and "company/RetryableError:x" in audit and "operator" in audit
    r = c.post("/console/discard", data={"csrf": csrf, "id": 1, "why": ""})
    assert r.status_code == 400

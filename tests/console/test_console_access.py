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


def test_the_overview_charts_24_hours_of_successes_and_errors_per_entity_with_the_verdict_reason(
        tmp_path: Path) -> None:
    from datetime import timedelta

    from b24sync.store.models import HistoryEntry

    rt = _rt(tmp_path)
    now = utcnow()
    rows = [("ok", "updated", 2)] * 3 + [("failed", "dead", 2), ("retry", "retry", 2), ("retry", "deferred", 2),
                                          ("ok", "created", 30)]  # 30 h ago: outside the window
    with rt.db.begin() as c:
        for outcome, action, hours_ago in rows:
            c.execute(insert(HistoryEntry).values(at=now - timedelta(hours=hours_ago, minutes=1), entity="company",
                                                  lane="company:erp:1", kind="sync", action=action, outcome=outcome,
                                                  duration_ms=5))
    c = _client(rt)
    _login(c, "view-token")
    page = c.get("/console/").text
    fig = page[page.index('<figure class="chart" data-entity="company">'):]
    fig = fig[: fig.index("</figure>")]
    assert "успешно 3, <span" in fig and "ошибок 2" in fig  # 3 ok; the dead letter and the failed attempt
    start = now - timedelta(hours=2, minutes=1)
    hour = start.replace(minute=0, second=0, microsecond=0)
    assert f"{hour:%H:%M}–" in fig and "успешно 3, ошибок 2</title>" in fig  # the bar of that hour, with numbers
    assert fig.count("<g class=\"bar\">") == 24
    # the verdict carries its reason in the cell (not only as a tooltip)
    assert 'class="verdict' in page


def test_record_history_is_found_by_phone_inn_and_order_number_with_masked_payloads(tmp_path: Path) -> None:
    from b24sync.store.models import Fingerprint, HistoryEntry, Link

    rt = _rt(tmp_path)
    now = utcnow()
    with rt.db.begin() as c:
        c.execute(insert(Link).values(entity="company", crm_id="12", erp_id="55", match_key="inn:7707083893",
                                      created_at=now, updated_at=now))
        c.execute(insert(Fingerprint).values(entity="company", side="crm", record_id="12", written_hash="h",
                                             written_values={"PHONE": [{"VALUE": "+79991234567"}]}))
        for i, (lane, action, detail) in enumerate([
                ("company:erp:55", "updated", {"fields": ["TITLE", "PHONE"]}),
                ("company:erp:55", "held", {"reason": "нет договора, телефон +7 999 123-45-67"}),
                ("order:crm:900", "created", {"number": "ЗК-000123", "fields": ["TITLE"]})]):
            c.execute(insert(HistoryEntry).values(at=now, entity=lane.split(":")[0], lane=lane, kind="sync",
                                                  action=action, outcome="ok", duration_ms=i, detail=detail))
    c = _client(rt)
    _login(c, "view-token")
    for q in ("8 (999) 123-45-67", "7707083893", "77 07 08 38 93", "55", "12"):
        page = c.get("/console/history", params={"q": q}).text
        assert page.count("<tr class=") == 2, (q, page[-1500:])  # both messages of the company, in order
        assert page.index("updated") < page.index("held")
        table = page[page.index("<table id=\"history\""):]
        assert "123-45-67" not in table and "999" not in table  # the phone in the payload is masked
    page = c.get("/console/history", params={"q": "ЗК-000123"}).text
    assert page.count("<tr class=") == 1 and "order" in page
    assert c.get("/console/history", params={"q": "%"}).text.count("<tr class=") == 0  # no wildcard search


def test_the_queue_shows_pending_running_and_backing_off_with_next_attempt_and_last_error(tmp_path: Path) -> None:
    from datetime import timedelta

    from b24sync.store.models import Job

    rt = _rt(tmp_path)
    now = utcnow()
    with rt.db.begin() as c:
        for i, (state, attempts, err, at) in enumerate([
                ("pending", 0, None, now), ("pending", 0, None, now),
                ("pending", 2, "1C: 503 Service Unavailable (звонить +7 999 123-45-67)", now + timedelta(minutes=3)),
                ("running", 0, None, now)]):
            c.execute(insert(Job).values(lane=f"company:erp:{i}", kind="sync", entity="company",
                                         payload={"side": "erp", "id": str(i)}, state=state, attempts=attempts,
                                         run_at=at, last_error=err, created_at=now))
    c = _client(rt)
    _login(c, "view-token")
    page = c.get("/console/queue").text
    row = page[page.index('<tr data-entity="company">'):]
    row = row[: row.index("</tr>")]
    assert '"pending">2<' in row and '"backing-off warn">1<' in row and '"running">1<' in row
    waiting = page[page.index('id="backing-off"'):]
    assert "503 Service Unavailable" in waiting and ("через 2 мин" in waiting or "через 3 мин" in waiting)
    assert " min<" not in page and " s<" not in page  # units in the page's language
    en = c.get("/console/queue?lang=en").text
    assert "in 2 min" in en or "in 3 min" in en
    assert "123-45-67" not in waiting  # masked
    assert "Записей: <span class=\"count\">3</span>" in page  # the parked groups are still there

"""Bitrix24 automation robots as manual triggers, end to end against the sandbox: `portal prepare` registers the
spec's robot (application auth; idempotent; updated and removed with the spec), a workflow running the robot on a
company card POSTs to our intake, the card reaches the ERP within seconds and the robot gets its answer
(bizproc.event.send) in Russian; forged calls are refused with a log line; a worker SIGKILL-free restart is not
needed for the answer (it waits in the store)."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import httpx
import uvicorn
from sqlalchemy import create_engine, text

from b24sync.compose import build
from b24sync.connectors.bitrix24.auth import OAuthAuth, WebhookAuth
from b24sync.connectors.bitrix24.client import Bitrix24Client
from b24sync.connectors.bitrix24.portal import prepare_portal
from b24sync.connectors.bitrix24.requirements import requirements_from_spec
from b24sync.engine.worker import Worker
from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox
from b24sync.server.app import create_app
from b24sync.server.bitrix24_robots import answer_robots, compose_answer
from b24sync.server.mount import routers_for
from b24sync.spec.loader import load_spec
from b24sync.store.kv import MemoryState

SPEC = """
version: 1
name: robots
systems:
  bitrix24: {{type: bitrix24, role: crm, webhook_url: "{webhook}", application_token: "{token}"}}
  erp: {{type: sql, role: erp, url: "sqlite:///{erp}", tables: {{cp: {{table: cp, id: id, modified: m}}}}}}
entities:
  company:
    title: Companies → ERP
    master: bitrix24
    direction: crm_to_erp
    crm: {{object: crm.company}}
    erp: {{object: cp}}
    match:
      - {{crm: TITLE, erp: name}}
    link: {{erp: crm_id}}
    fields:
      - {{crm: TITLE, erp: name}}
    triggers:
      - robot: {{code: {code}, name: "{name}"}}
"""


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _app_client(sb: Bitrix24Sandbox) -> Bitrix24Client:
    tok = sb.oauth_tokens()
    state = MemoryState()
    auth = OAuthAuth(client_id="local.app.9", client_secret="secret-9", state=state, key="b24:oauth:r",
                     token_endpoint=sb.oauth_token_url, client_endpoint=sb.base_url + "/rest/",
                     access_token=tok["access_token"], refresh_token=tok["refresh_token"])
    return Bitrix24Client(auth, state=state)


def _spec(tmp_path: Path, sb: Bitrix24Sandbox, code: str = "b24sync_company_to_erp",
          name: str = "Отправить в 1С сейчас"):  # type: ignore[no-untyped-def]
    f = tmp_path / f"spec-{code}.yaml"
    f.write_text(SPEC.format(webhook=sb.webhook_url, token=sb.portal.application_token, erp=tmp_path / "erp.db",
                             code=code, name=name), encoding="utf-8")
    return load_spec(f, {})


def test_a_robot_on_a_company_card_sends_it_to_the_erp_and_is_answered_in_russian(tmp_path: Path, capsys) -> None:
    from tests.sqltables import make_table

    make_table(tmp_path / "erp.db", "cp", ("name", "crm_id"))
    sb = Bitrix24Sandbox(rate=None, client_id="local.app.9", client_secret="secret-9")
    sb.start()
    port = _free_port()
    handler = f"http://127.0.0.1:{port}/bitrix24/bitrix24/events"
    spec = _spec(tmp_path, sb)
    rt = build(spec, database_url=f"sqlite:///{tmp_path / 'state.db'}")
    hook = rt.adapters["bitrix24"].client  # type: ignore[attr-defined]
    app_client = _app_client(sb)
    rt.adapters["bitrix24"].client = app_client  # type: ignore[attr-defined]  # robots need application auth

    async def go() -> dict:
        # portal prepare: a webhook cannot register robots (application context only) — a clear finding, no crash
        async with Bitrix24Client(WebhookAuth(sb.webhook_url)) as web:
            rep = await prepare_portal(web, requirements_from_spec(spec, handler_url=handler))
        robot = [f for f in rep.findings if f.kind == "robot"]
        assert [f.status for f in robot] == ["error"] and "Application context required" in robot[0].detail
        # with the application: created once, then nothing to create
        rep = await prepare_portal(app_client, requirements_from_spec(spec, handler_url=handler))
        assert [(f.kind, f.status) for f in rep.findings if f.kind == "robot"] == [("robot", "created")]
        rep = await prepare_portal(app_client, requirements_from_spec(spec, handler_url=handler))
        assert [f.status for f in rep.findings if f.kind == "robot"] == ["ok"] and not rep.created
        row = next(iter(sb.portal.store.table("bizproc_robot").values()))
        assert row["HANDLER"] == f"http://127.0.0.1:{port}/bitrix24/bitrix24/robots"
        assert row["DOCUMENT_TYPE"] == ["crm", "CCrmDocumentCompany", "COMPANY"] and row["USE_SUBSCRIPTION"] == "Y"
        # the spec renames the robot: updated in place
        renamed = _spec(tmp_path, sb, name="Выгрузить в 1С")
        await prepare_portal(app_client, requirements_from_spec(renamed, handler_url=handler))
        assert next(iter(sb.portal.store.table("bizproc_robot").values()))["NAME"] == "Выгрузить в 1С"

        server = uvicorn.Server(uvicorn.Config(create_app(rt, routers_for(rt)), host="127.0.0.1", port=port,
                                               log_level="warning", lifespan="off"))
        serving = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.02)
        worker = Worker(rt, concurrency=4)
        working = asyncio.create_task(worker.run())
        stop = asyncio.Event()
        answering = asyncio.create_task(answer_robots(rt, every=0.2, stop=stop))
        try:
            cid = await hook.call("crm.company.add", {"fields": {"TITLE": "ООО «Ромашка»"}})
            # a forged call (another application token) is refused, and says so in the log
            if True:
                async with httpx.AsyncClient() as h:
                    r = await h.post(f"http://127.0.0.1:{port}/bitrix24/bitrix24/robots", data={
                        "code": "b24sync_company_to_erp", "document_id[0]": "crm",
                        "document_id[1]": "CCrmDocumentCompany", "document_id[2]": f"COMPANY_{cid}",
                        "event_token": "x|y|z", "auth[application_token]": "0" * 32,
                        "auth[member_id]": sb.portal.member_id})
                    assert r.status_code == 401
                    r = await h.post(f"http://127.0.0.1:{port}/bitrix24/bitrix24/robots",
                                     data={"code": "b24sync_company_to_erp", "event_token": "x"})
                    assert r.status_code == 401
            logged = capsys.readouterr()
            assert "bitrix24 robot call rejected: application_token mismatch" in logged.out + logged.err
            assert "0" * 32 not in logged.out + logged.err  # never the token
            started = time.monotonic()
            status, _ = await asyncio.to_thread(sb.fire_robot, "b24sync_company_to_erp", f"COMPANY_{cid}")
            assert status == 200
            while time.monotonic() - started < 20:
                answers = sb.robot_answers()
                if answers and answers[0]["answer"] is not None:
                    break
                await asyncio.sleep(0.1)
            took = time.monotonic() - started
            first = sb.robot_answers()[0]
            # the same robot again on the same card, through the sandbox's HTTP test hook: re-sent, answered again
            async with httpx.AsyncClient() as h:
                r = await h.post(f"{sb.base_url}/_sandbox/robots/b24sync_company_to_erp/fire",
                                 data={"document": f"COMPANY_{cid}"})
            assert r.status_code == 200 and r.json()["result"]["handler_status"] == 200, r.text
            while time.monotonic() - started < 30 and sb.robot_answers()[1]["answer"] is None:
                await asyncio.sleep(0.1)
            second = sb.robot_answers()[1]
        finally:
            stop.set()
            worker.stop()
            await asyncio.wait_for(working, 20)
            await answering
            server.should_exit = True
            await serving
            await hook.aclose()
            await app_client.aclose()
        # the spec drops the robot: deleted from the portal on the next prepare
        other = _spec(tmp_path, sb, code="b24sync_other")
        async with _app_client(sb) as c:
            rep = await prepare_portal(c, requirements_from_spec(other, handler_url=handler))
        assert ("b24sync_company_to_erp", "deleted") in [(f.name, f.status) for f in rep.findings]
        assert ("b24sync_other", "created") in [(f.name, f.status) for f in rep.findings]
        return {"first": first, "second": second, "took": took, "cid": cid}

    try:
        out = asyncio.run(go())
    finally:
        sb.stop()
    first = out["first"]["answer"]
    assert first is not None, "the robot was never answered"
    assert out["took"] < 10, f"the robot call took {out['took']:.1f}s"
    assert first["values"]["result"] == "ok" and "запись создана" in first["values"]["message"]
    assert first["log_message"] == first["values"]["message"]
    with create_engine(f"sqlite:///{tmp_path / 'erp.db'}").connect() as c:
        rows = c.execute(text("select name, crm_id from cp")).all()
    assert rows == [("ООО «Ромашка»", str(out["cid"]))]
    assert first["values"]["target_id"]
    second = out["second"]["answer"]
    assert second is not None and second["values"]["result"] == "ok", second


def test_answers_say_what_happened_in_russian() -> None:
    from types import SimpleNamespace as R

    held = compose_answer({1: [R(outcome="retry", action="retry", detail={}, target_id=None),
                               R(outcome="held", action="held", detail={"reason": "нет ИНН"}, target_id=None)]}, [])
    assert held == {"result": "held", "message": "Запись отложена до решения менеджера: нет ИНН", "target_id": ""}
    failed = compose_answer({1: [R(outcome="failed", action="dead", detail={"reason": "1С недоступна"},
                                   target_id=None)],
                             2: [R(outcome="ok", action="updated", detail=None, target_id="9")]}, [])
    assert failed["result"] == "failed" and "Не удалось синхронизировать: 1С недоступна" in failed["message"]
    assert "запись обновлена" in failed["message"] and failed["target_id"] == "9"
    none = compose_answer({}, ["Карточка ещё не связана с записью учётной системы — загружать нечего"])
    assert none["result"] == "skipped" and "не связана" in none["message"]


def test_spec_validate_refuses_robots_bitrix24_cannot_run(tmp_path: Path) -> None:
    from b24sync.spec.loader import check_spec

    base = SPEC.format(webhook="https://x.bitrix24.ru/rest/1/abc/", token="t", erp=tmp_path / "erp.db",
                       code="b24sync_a", name="Отправить")
    cases = {
        "on an SQL CRM": base.replace('{type: bitrix24, role: crm, webhook_url: "https://x.bitrix24.ru/rest/1/abc/", '
                                      'application_token: "t"}',
                                      '{type: sql, role: crm, url: "sqlite:///x.db", tables: {company: {table: c, '
                                      'id: id, modified: m}}}').replace("crm.company", "company"),
        "one code, two actions": base.replace("      - robot: {code: b24sync_a, name: \"Отправить\"}",
                                              "      - robot: {code: b24sync_a, name: \"Отправить\"}\n"
                                              "      - robot: {code: b24sync_a, name: \"Загрузить\", side: erp}"),
        "a bad code": base.replace("code: b24sync_a", "code: \"b24 sync/a\""),
    }
    wants = {"on an SQL CRM": "needs the entity's CRM to be Bitrix24", "one code, two actions": "is used twice",
             "a bad code": "code"}
    for name, text_ in cases.items():
        f = tmp_path / "spec.yaml"
        f.write_text(text_, encoding="utf-8")
        _, problems = check_spec(f, env={}, unset=[])
        assert any(wants[name] in str(p) for p in problems), (name, [str(p) for p in problems])
    f.write_text(base, encoding="utf-8")
    spec, problems = check_spec(f, env={}, unset=[])
    assert spec is not None and not problems, [str(p) for p in problems]


def test_portal_prepare_registers_robots_with_the_application_of_an_oauth_spec(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from tests.sqltables import make_table

    make_table(tmp_path / "erp.db", "cp", ("name", "crm_id"))
    sb = Bitrix24Sandbox(rate=None, client_id="local.app.9", client_secret="secret-9")
    sb.start()
    try:
        tok = sb.oauth_tokens()
        oauth = (f'{{client_id: local.app.9, client_secret: secret-9, token_endpoint: "{sb.oauth_token_url}", '
                 f'client_endpoint: "{sb.base_url}/rest/", access_token: "{tok["access_token"]}", '
                 f'refresh_token: "{tok["refresh_token"]}"}}')
        text_ = SPEC.format(webhook="W", token="t", erp=tmp_path / "erp.db", code="b24sync_send", name="Отправить")
        text_ = text_.replace('webhook_url: "W", application_token: "t"', f"oauth: {oauth}")
        f = tmp_path / "spec.yaml"
        f.write_text(text_, encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k not in ("B24SYNC_B24_WEBHOOK", "B24SYNC_REDIS_URL")}
        env.update(COLUMNS="200", B24SYNC_DATABASE_URL=f"sqlite:///{tmp_path / 'state.db'}")
        r = subprocess.run([sys.executable, "-m", "b24sync.cli.main", "portal", "prepare", str(f), "--handler-url",
                            "https://sync.example.ru/bitrix24/bitrix24/events"], env=env, capture_output=True,
                           text=True, timeout=120)
        assert "b24sync_send" in r.stdout and "created" in r.stdout, r.stdout + r.stderr
        rows = list(sb.portal.store.table("bizproc_robot").values())
        assert [(x["CODE"], x["HANDLER"]) for x in rows] == [
            ("b24sync_send", "https://sync.example.ru/bitrix24/bitrix24/robots")]
    finally:
        sb.stop()

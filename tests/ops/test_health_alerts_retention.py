"""Operations: /readyz follows the 1C sandbox going down and up; the metrics carry the queue, polls and sync lag;
an alert reaches an SMTP sink and the Bitrix24 sandbox once per incident, then one recovery message; retention
purges what is older than the period and nothing newer."""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, create_engine, insert

from b24sync.compose import build
from b24sync.engine.scheduler import poll_once
from b24sync.engine.service import RunOptions, run
from b24sync.sandbox.onec.sandbox import OneCSandbox
from b24sync.server.app import create_app
from b24sync.spec.loader import load_spec

SPEC = """
version: 1
name: ops test
systems:
  crm:
    type: sql
    role: crm
    url: sqlite:///{crm}
    tables: {{company: {{table: company, id: id, modified: m}}}}
  onec:
    type: 1c-odata
    role: erp
    url: {url}
    username: odata
    password: secret
    preset: ut11
{extra}
entities:
  company:
    title: Counterparties
    master: onec
    direction: erp_to_crm
    crm: {{object: company}}
    erp: {{object: Catalog_Контрагенты}}
    match:
      - {{crm: inn, erp: ИНН}}
    link: {{crm: erp_id}}
    fields:
      - {{crm: title, erp: Description}}
      - {{crm: inn, erp: ИНН}}
    triggers:
      - poll: 1s
"""


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _runtime(tmp_path: Path, url: str, extra: str = ""):  # type: ignore[no-untyped-def]
    crm = tmp_path / "crm.db"
    eng = create_engine(f"sqlite:///{crm}")
    md = MetaData()
    Table("company", md, Column("id", Integer, primary_key=True), Column("title", String), Column("inn", String),
          Column("erp_id", String), Column("m", DateTime(timezone=True)))
    md.create_all(eng)
    eng.dispose()
    f = tmp_path / "spec.yaml"
    f.write_text(SPEC.format(crm=crm, url=url, extra=extra), encoding="utf-8")
    return build(load_spec(f, {}), database_url=f"sqlite:///{tmp_path / 'state.db'}")


def test_readyz_turns_not_ready_within_two_poll_intervals_of_1c_going_down_and_ready_after(tmp_path: Path) -> None:
    import httpx

    port = _free_port()
    onec = OneCSandbox(seed="demo")
    onec.start(port=port)
    rt = _runtime(tmp_path, onec.odata_url)
    app = create_app(rt)

    async def poll() -> None:
        try:
            await poll_once(rt, "company", "erp")
        except Exception:  # noqa: BLE001 - a failing poll is what this test is about
            pass

    async def go() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b24sync") as client:
            await poll()
            assert (await client.get("/readyz")).status_code == 200
            onec.stop()
            down_at = time.monotonic()

            async def scheduler() -> None:  # polls every second, as `poll: 1s` says
                while True:
                    await poll()
                    await asyncio.sleep(1.0)

            polling = asyncio.ensure_future(scheduler())
            first_not_ready = None
            while time.monotonic() - down_at < 6:
                if (await client.get("/readyz")).status_code == 503:
                    first_not_ready = time.monotonic() - down_at
                    break
                await asyncio.sleep(0.1)
            assert first_not_ready is not None and first_not_ready <= 2 * 1.0 + 0.5, first_not_ready
            await asyncio.sleep(1.5)
            polling.cancel()
            body = (await client.get("/readyz")).json()
            assert body["status"] == "not ready" and "company (erp)" in body["reasons"][0]
            assert body["entities"]["company:erp"]["failures"] >= 1
            assert (await client.get("/healthz")).status_code == 200  # the process itself is alive
            onec2 = OneCSandbox(seed="demo")
            onec2.start(port=port)
            try:
                await poll()
                assert (await client.get("/readyz")).status_code == 200
            finally:
                onec2.stop()
        await rt.aclose()

    asyncio.run(go())


def test_the_metrics_carry_the_queue_polls_and_sync_lag_after_a_sandbox_sync(tmp_path: Path) -> None:
    with OneCSandbox(seed="demo") as onec:
        rt = _runtime(tmp_path, onec.odata_url)
        client = TestClient(create_app(rt))

        async def go() -> None:
            await poll_once(rt, "company", "erp")
            text = client.get("/metrics").text
            assert 'b24sync_queue_depth{entity="company",state="pending"}' in text
            assert "b24sync_queue_oldest_pending_age_seconds" in text
            await run(rt, RunOptions(once=True, poll=False))
            await rt.aclose()

        asyncio.run(go())
        text = client.get("/metrics").text
    assert 'b24sync_polls_total{entity="company",outcome="ok",side="erp"}' in text
    assert 'b24sync_last_successful_poll_timestamp_seconds{entity="company",side="erp"}' in text
    lag = [ln for ln in text.splitlines() if ln.startswith('b24sync_sync_lag_seconds_count{entity="company"}')]
    assert lag and float(lag[0].split()[-1]) > 0
    assert 'b24sync_queue_depth{entity="company",state="pending"}' not in text  # drained


class Sink:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
        self.messages.append(envelope.content.decode("utf-8", "replace"))
        return "250 OK"


def test_an_alert_reaches_smtp_and_bitrix24_once_per_incident_then_one_recovery(tmp_path: Path) -> None:
    from aiosmtpd.controller import Controller

    from b24sync.ops.alerts import check_once
    from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox

    sink = Sink()
    smtp = Controller(sink, hostname="127.0.0.1", port=_free_port())
    smtp.start()
    b24 = Bitrix24Sandbox(rate=None)
    b24.start()
    port = _free_port()
    onec = OneCSandbox(seed="demo")
    onec.start(port=port)
    extra = f"""  bitrix24:
    type: bitrix24
    role: service
    webhook_url: {b24.webhook_url}
alerts:
  check_every: 1s
  email: {{smtp_host: 127.0.0.1, smtp_port: {smtp.port}, security: none, sender: b24sync@acme.ru,
          to: [admin@acme.ru]}}
  bitrix24: {{system: bitrix24, notify_user_ids: [1]}}"""
    rt = _runtime(tmp_path, onec.odata_url, extra)
    assert rt.spec.alerts is not None
    from b24sync.connectors.registry import build_adapter

    rt.adapters["bitrix24"] = build_adapter("bitrix24", "bitrix24", {"webhook_url": b24.webhook_url})

    async def poll() -> None:
        try:
            await poll_once(rt, "company", "erp")
        except Exception:  # noqa: BLE001
            pass

    async def go() -> None:
        await poll()
        assert await check_once(rt, rt.spec.alerts) == {}
        onec.stop()
        for _ in range(3):
            await poll()
            await asyncio.sleep(1.0)
        assert await check_once(rt, rt.spec.alerts) == {"poll:company:erp": "opened"}
        for _ in range(3):  # the failure lasts: nothing more is sent
            await poll()
            assert await check_once(rt, rt.spec.alerts) == {}
        again = OneCSandbox(seed="demo")
        again.start(port=port)
        await poll()
        assert await check_once(rt, rt.spec.alerts) == {"poll:company:erp": "closed"}
        again.stop()
        await rt.aclose()

    try:
        asyncio.run(go())
        time.sleep(0.3)
        assert len(sink.messages) == 2
        import email
        from email import policy

        first, second = (email.message_from_string(m, policy=policy.default) for m in sink.messages)
        assert first["Subject"].startswith("b24sync — проблема: нет успешного опроса: company (erp)")
        assert "Что сделать" in first.get_content()
        assert second["Subject"].startswith("b24sync — восстановлено")
        notes = b24.portal.notifications
        assert len(notes) == 2 and notes[0]["TAG"] == "b24sync|poll:company:erp"
        assert all(n["CLIENT_ID"] for n in notes)  # a webhook caller sends CLIENT_ID beside TAG (sheet §6.10)
        assert notes[0].get("REPLACED") and not notes[1].get("REPLACED")  # the recovery replaces the problem notice
        assert "восстановлено" in notes[1]["MESSAGE"]
    finally:
        smtp.stop()
        b24.stop()


def test_email_still_goes_out_when_bitrix24_is_what_failed(tmp_path: Path) -> None:
    from aiosmtpd.controller import Controller

    from b24sync.ops.alerts import Alerts, Incident, Notifier

    sink = Sink()
    smtp = Controller(sink, hostname="127.0.0.1", port=_free_port())
    smtp.start()
    with OneCSandbox(seed="demo") as onec:
        rt = _runtime(tmp_path, onec.odata_url, "")
    cfg = Alerts.model_validate({"email": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "security": "none",
                                           "sender": "b@acme.ru", "to": ["a@acme.ru"]},
                                 "bitrix24": {"system": "nowhere", "notify_user_ids": [1]}})
    failed = asyncio.run(Notifier(rt, cfg).send(Incident("x", "t", "d", "f"), opened=True))
    smtp.stop()
    assert failed == {"bitrix24"} and len(sink.messages) == 1


def test_retention_purges_what_is_older_than_the_period_and_nothing_newer(tmp_path: Path) -> None:
    from b24sync.ops.retention import purge
    from b24sync.store.db import utcnow
    from b24sync.store.kv import SqlState
    from b24sync.store.models import DeadLetter, HistoryEntry

    with OneCSandbox(seed="demo") as onec:
        rt = _runtime(tmp_path, onec.odata_url, "")
    old, new = utcnow() - timedelta(days=91), utcnow() - timedelta(days=89)
    with rt.db.begin() as c:
        for at in (old, old, new):
            c.execute(insert(HistoryEntry).values(at=at, entity="company", lane="l", kind="sync", action="updated",
                                                  outcome="ok", duration_ms=1, detail={"phone": "+79990000000"}))
        for created, resolved in ((old, old), (old, new), (old, None)):
            c.execute(insert(DeadLetter).values(kind="dead", entity="company", lane="l", job_kind="sync",
                                                payload={}, reason="r", error_type="E", attempts=1, created_at=created,
                                                resolved_at=resolved))
    out = purge(rt, days=90)
    assert out["history_deleted"] == 2 and out["resolved_parked_deleted"] == 1
    with rt.db.connect() as c:
        left = c.execute(DeadLetter.__table__.select()).all()
        history_left = c.execute(HistoryEntry.__table__.select()).all()
    assert len(history_left) == 1
    assert len(left) == 2  # the open one stays (a person must act), the recently resolved one stays
    log = SqlState(rt.db).get("retention:log")
    assert log and "+7999" not in str(log) and log["runs"][-1]["days"] == 90


def test_lag_quantiles_come_from_the_histogram_buckets() -> None:
    from b24sync.engine.metrics import SYNC_LAG, lag_quantiles

    assert lag_quantiles("lagq-none") is None
    for v in [0.5] * 10 + [3.0] * 8 + [4000.0] * 2:
        SYNC_LAG.labels("lagq").observe(v)
    q = lag_quantiles("lagq")
    assert q == {0.5: 1.0, 0.95: 7200.0}

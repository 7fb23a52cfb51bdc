from __future__ import annotations

import logging
from pathlib import Path

import structlog
from fastapi.testclient import TestClient

from b24sync.connectors.registry import build_adapter
from b24sync.engine.service import build_runtime
from b24sync.server.app import create_app
from b24sync.server.logging import configure, redact_text, redact_value
from b24sync.spec.loader import load_spec
from tests.engine.sqlpair import write_spec


def test_health_status_metrics(tmp_path: Path) -> None:
    rt = build_runtime(load_spec(write_spec(tmp_path)), build_adapter, database_url=f"sqlite:///{tmp_path}/s.db")
    client = TestClient(create_app(rt))
    assert client.get("/healthz").json() == {"status": "ok"}  # alive; readiness is /readyz
    assert client.get("/status").json() == {"entities": []}
    body = client.get("/metrics").text
    assert "b24sync_jobs_total" in body and "b24sync_job_duration_seconds" in body


def test_redaction_of_secrets_and_personal_data() -> None:
    assert redact_text("POST https://p.bitrix24.ru/rest/1/abcd1234efgh/crm.deal.add") == \
        "POST https://p.bitrix24.ru/rest/1/***/crm.deal.add"
    assert "tok123" not in redact_text("GET /rest/crm.deal.get?auth=tok123&id=5")
    assert redact_text("call +7 (916) 123-45-67 or ivan.petrov@mail.ru") == "call ***67 or i***@mail.ru"
    assert redact_value("access_token", "secret-value") == "***"
    assert redact_value("PHONE", "+79161234567") == "***67"
    assert redact_value("detail", {"password": "p", "n": 1}) == {"password": "***", "n": 1}


def test_log_lines_carry_no_secrets(capsys) -> None:  # type: ignore[no-untyped-def]
    configure(logging.INFO)
    structlog.get_logger("t").info("calling https://x/rest/1/SECRETCODE99/user.current", token="abc", email="a@b.ru")
    out = capsys.readouterr()
    text = out.out + out.err
    assert "SECRETCODE99" not in text and "abc" not in text and "a@b.ru" not in text

"""Log redaction masks phones and e-mails by shape and leaves ids and times alone (issue 11: the old rule turned
timestamps, GUIDs and INNs into ``***02T06:10``, ``…cd***20``, ``INN ***94``); control characters are escaped."""

from __future__ import annotations

import pytest

from b24sync.server.logging import escape_control, redact_text, redact_value

KEPT = ["2026-02-02T06:10:00.123Z", "2026-12-02 06:10:11", "5f1c0c43-0000-0000-0000-000000000020",
        "8b9660f6-1c2d-11ee-9f6a-0242ac120002", "INN 7707083893", "INN 770708389312", "KPP 770701001",
        "OGRN 1027700132195", "ts 1700000000", "id 12345678901234", "deal 78912345678901", "v 1.2.3-45-67",
        "ref 000000001-12-34", "2026-12-02T06:10+03:00", "cursor 1700000000.123456", "BIK 044525225",
        "account 40702810900000012345"]
MASKED = [("+7 (916) 123-45-67", "***67"), ("8 916 123 45 67", "***67"), ("89161234567", "***67"),
          ("+79161234567", "***67"), ("8-916-123-45-67", "***67"), ("(495) 123-45-67", "***67"),
          ("+44 20 7946 0958", "***58"), ("8 (3852) 12-34-56", "***56")]


@pytest.mark.parametrize("text", KEPT)
def test_ids_and_times_are_kept(text):
    assert redact_text(text) == text


@pytest.mark.parametrize("text,expected", MASKED)
def test_phones_are_masked(text, expected):
    assert redact_text(f"call {text} now") == f"call {expected} now"


def test_emails_masked_and_personal_keys_hinted():
    assert redact_text("to ivan.petrov@mail.ru at 2026-12-02T06:10:00") == "to i***@mail.ru at 2026-12-02T06:10:00"
    assert redact_value("PHONE", "+79161234567") == "***67"


@pytest.mark.parametrize("raw", ["a\nb", "a\r\nb", "a\x1b[2Jb", "a\x00b", "a\u2028b", "a\x7fb", "a\tb"])
def test_control_characters_escaped(raw):
    out = escape_control(raw)
    assert all(ord(ch) >= 32 and ch not in "\x7f\u2028\u2029\x85" for ch in out), out
    assert redact_text(raw) == out


# A nasty corpus (issue 15): secrets and personal data go, ids / times / company INNs / amounts / error codes stay.
NASTY_KEPT = ["status_code=429 reason_key=dead:ValueError match_key=inn:7707083893", "ИНН 7707083893 КПП 770701001",
              "INN 770708389312 (wrong check digits: an id, not a person)", "сумма 1 234 567,89 руб.",
              "amount 71234567.89", "2026-12-02T06:10:00.123456+03:00", "job 123456789012 lane deal:crm:42",
              "Ref_Key 5f1c0c43-0000-0000-0000-000000000020 DataVersion AAAAAgAAAAA="]


@pytest.mark.parametrize("text", NASTY_KEPT)
def test_nasty_corpus_kept(text):
    assert redact_text(text) == text


def test_nasty_corpus_masked():
    out = redact_text("ИНН 500100732259 ИП; INN: 500100732259; Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.x.y "
                      "GET /x?client_secret=s3cr3t&api_key=k3y&id=5")
    for secret in ("500100732259", "eyJhbGciOiJIUzI1NiJ9", "s3cr3t", "k3y"):
        assert secret not in out, out
    assert "ИНН ***59" in out and "id=5" in out
    assert redact_value("status_code", "429") == "429" and redact_value("error_code", "QUERY_LIMIT_EXCEEDED") != "***"
    assert redact_value("code", "oauth-code-1") == "***" and redact_value("x-api-key", "k") == "***"
    assert redact_value("RQ_INN", "500100732259") == "***59" and redact_value("RQ_INN", "7707083893") == "7707083893"


def test_one_redaction_for_every_log_line_stdlib_and_structlog(capsys, caplog) -> None:  # type: ignore[no-untyped-def]
    """structlog events and stdlib records (httpx, uvicorn, ours) go through the same rules: a Bitrix24 secret
    registered at run time, phones, e-mails and a personal INN are gone from both kinds of line — and from a
    traceback —, while ids, GUIDs, timestamps and a company INN stay."""
    import json
    import logging

    import structlog

    from b24sync.connectors.bitrix24.auth import register_secret
    from b24sync.server.logging import configure

    secret = "app-token-5c1e7a9b2d"
    register_secret(secret)
    pd = ["+7 (916) 123-45-67", "ivan.petrov@mail.ru", "500100732259"]
    kept = ["5f1c0c43-0000-0000-0000-000000000020", "2026-12-02T06:10:00.123Z", "deal 78912345678901",
            "ИНН 7707083893"]
    text = (f"event with application_token {secret}, phone {pd[0]}, mail {pd[1]}, ИНН {pd[2]}; "
            + "; ".join(kept))
    configure(logging.INFO, json=True)
    structlog.get_logger("b24sync.test").warning(text, lane="company:crm:42", contact=pd[1])
    stdlib = logging.getLogger("b24sync.test.stdlib")
    stdlib.warning("%s", text)
    logging.getLogger("uvicorn.error").warning(text)
    try:
        raise ValueError(f"refused for {pd[1]} with {secret}")
    except ValueError:
        stdlib.exception("write failed at %s", kept[1])
    out = capsys.readouterr()
    lines = [json.loads(line) for line in out.out.splitlines() if line.startswith("{")]
    assert lines and lines[0]["lane"] == "company:crm:42" and lines[0]["timestamp"]  # ids and times stay
    stdlib_text = "\n".join(h.format(r) for r in caplog.records for h in logging.getLogger().handlers[:1]) + \
        caplog.text + out.err
    for where in (out.out, stdlib_text):
        assert secret not in where, where
        for v in pd:
            assert v not in where, (v, where)
        for v in kept:
            assert v in where, (v, where)
    assert "ИНН ***59" in out.out and "***67" in out.out and "i***@mail.ru" in stdlib_text
    assert "Traceback" in stdlib_text and "ValueError: refused for i***@mail.ru with ***" in stdlib_text


def test_uvicorn_lines_go_through_the_same_redaction(capsys, caplog) -> None:  # type: ignore[no-untyped-def]
    """``b24sync run`` serves with ``uvicorn_config``: uvicorn's loggers write through the root handlers (and their
    RedactFilter), not through handlers of uvicorn's own logging config that no filter of ours sees."""
    import logging

    from b24sync.server.logging import configure, uvicorn_config

    configure(logging.INFO)
    uvicorn_config(lambda scope, receive, send: None, log_level="info")
    logging.getLogger("uvicorn.error").error("Exception in ASGI application: contact ivan.petrov@mail.ru, "
                                             "+7 (916) 123-45-67, deal 78912345678901")
    out = capsys.readouterr()
    for where in (out.out + out.err, caplog.text):
        assert "ivan.petrov" not in where and "123-45-67" not in where, where
    assert "i***@mail.ru" in caplog.text and "78912345678901" in caplog.text


@pytest.mark.parametrize("json_lines", [True, False])
def test_a_structlog_traceback_is_redacted(capsys, json_lines: bool) -> None:  # type: ignore[no-untyped-def]
    import logging
    import warnings

    import structlog

    from b24sync.server.logging import configure

    configure(logging.INFO, json=json_lines)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "remove format_exc_info" warning from the console renderer
        try:
            raise RuntimeError("refused for ivan.petrov@mail.ru, +7 (916) 123-45-67, deal 78912345678901")
        except RuntimeError:
            structlog.get_logger("b24sync.test").error("write failed", exc_info=True)
    out = capsys.readouterr().out
    assert "RuntimeError" in out and "Traceback" in out and "78912345678901" in out, out
    assert "ivan.petrov" not in out and "123-45-67" not in out, out

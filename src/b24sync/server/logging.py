"""Structured logs (structlog) that never carry secrets or personal data.

Values under secret-looking keys are replaced, webhook codes inside URLs are masked, and personal data (phones,
e-mails, names under personal keys) is reduced to a short hint so a log line still tells records apart.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import structlog

# ``code`` only as a whole key (an OAuth code): ``status_code`` / ``error_code`` are data, not secrets.
_SECRET_KEYS = re.compile(r"(token|secret|password|passwd|auth|api[-_]?key|authorization|cookie)$|^(auth_)?code$", re.I)
_PERSONAL_KEYS = re.compile(r"(phone|email|e_mail|fio|full_name|last_name|first_name|passport)", re.I)
_WEBHOOK = re.compile(r"(/rest/\d+/)([A-Za-z0-9]{4,})")
# A whole parameter name only: ``reason_key=…`` or ``match_key=…`` are not secrets.
_QUERY_SECRET = re.compile(r"((?<![\w-])(?:auth|access_token|refresh_token|token|key|api_key|password|client_secret)=)"
                           r"[^&\s]+", re.I)
_BEARER = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}", re.I)
# A personal INN (12 digits: a person or a sole trader — personal data) after an INN label, when its check digits
# are right; a company's 10-digit INN is a public id and stays.
_PERSONAL_INN = re.compile(r"((?:ИНН|INN)\s*[:=№]?\s*)(\d{12})(?!\d)", re.I)
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+)")
# Phones by shape (issue 11: a loose "digits and dashes" rule ate timestamps, GUIDs and INNs): a "+" international
# number, a Russian number with 7/8 and separators or brackets, a bracketed area code, or 11 bare digits from 7/8.
# Never inside a longer token of letters, digits, dashes or dots; a bare 10/12-digit run (an INN) is not a phone.
_PHONE = re.compile(
    r"(?<![\w+./:-])(?:"
    r"\+\d{1,3}[\s(-]*\d{2,4}[\s)-]*\d{2,4}[\s-]*\d{2,4}(?:[\s-]*\d{2,4})?"
    r"|[78][\s-]*\(\d{3,5}\)[\s-]*\d{1,3}[\s-]?\d{2}[\s-]?\d{2}"
    r"|[78][\s-]\d{3}[\s-]\d{3}[\s-]?\d{2}[\s-]?\d{2}"
    r"|\(\d{3,5}\)[\s-]*\d{1,3}[\s-]?\d{2}[\s-]?\d{2}"
    r"|[78]\d{10}"
    r")(?![\w-])")


_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")


def escape_control(text: str) -> str:
    """Control characters as escapes: a logged value never starts a new (forged) log line."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text) if _CONTROL.search(text) else text


def redact_text(text: str) -> str:
    text = escape_control(text)
    text = _WEBHOOK.sub(r"\1***", text)
    text = _QUERY_SECRET.sub(r"\1***", text)
    text = _BEARER.sub(r"\1 ***", text)
    text = _PERSONAL_INN.sub(lambda m: m.group(1) + ("***" + m.group(2)[-2:] if _inn12(m.group(2)) else m.group(2)),
                             text)
    text = _EMAIL.sub(r"\1***@\2", text)
    return _PHONE.sub(lambda m: "***" + re.sub(r"\D", "", m.group())[-2:], text)


def _inn12(digits: str) -> bool:
    from b24sync.requisites.checks import inn_check_digits

    return inn_check_digits(digits[:10]) == digits[10:]


def redact_value(key: str, value: Any) -> Any:
    if isinstance(value, dict):
        return {k: redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(key, v) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if _SECRET_KEYS.search(key):
        return "***"
    if re.search(r"(^|_)(inn|ИНН|RQ_INN)$", key, re.I) and isinstance(value, str) and re.fullmatch(r"\d{12}", value) \
            and _inn12(value):
        return f"***{value[-2:]}"  # a person's / sole trader's INN (a company's 10-digit INN stays)
    if _PERSONAL_KEYS.search(key):
        s = str(value)
        return f"***{s[-2:]}" if len(s) > 4 else "***"
    return redact_text(str(value)) if isinstance(value, str) else value


def _redact(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    return {k: (redact_value(k, v) if k not in ("event", "level", "timestamp") else
                (redact_text(v) if isinstance(v, str) else v)) for k, v in event.items()}


def configure(level: int = logging.INFO, *, json: bool = False) -> None:
    logging.basicConfig(level=level, format="%(message)s")
    from b24sync.connectors.bitrix24.auth import MaskingFilter

    for handler in logging.getLogger().handlers:  # every record that reaches a root handler: escaped and masked
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())
    for noisy in ("httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Alembic's "Context impl SQLiteImpl / Will assume non-transactional DDL" on every open: only with -v (DEBUG).
    logging.getLogger("alembic").setLevel(logging.INFO if level <= logging.DEBUG else logging.WARNING)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            structlog.processors.JSONRenderer(ensure_ascii=False) if json else structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=False,
    )

"""Redaction of secrets and personal data — one set of rules for every log line (stdlib records through
``RedactFilter``, structlog events through ``redact_event``) and for the console's screens (``mask_for_screen``).

Secrets: values under secret-looking keys, webhook codes inside URLs, token / key parameters, Bearer / Basic
credentials, and every secret a connector registered (``add_masker``). Personal data: phones and e-mails by shape, a
12-digit personal INN (a person or a sole trader) after an INN label or under an INN key when its check digits are
right, names under personal keys. Ids, GUIDs, timestamps, amounts, document numbers and a company's 10-digit INN
stay readable (issue 11: a loose "digits and dashes" rule ate them).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

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


_MASKERS: list[Callable[[str], str]] = []


def add_masker(fn: Callable[[str], str]) -> None:
    """A connector's own secret masker (Bitrix24: every registered token, webhook code, application token) applied to
    every line before the shared rules."""
    if fn not in _MASKERS:
        _MASKERS.append(fn)


def redact_text(text: str) -> str:
    """Secrets and personal data out of a text; ids, times, amounts and company INNs stay."""
    text = escape_control(text)
    for fn in _MASKERS:
        text = fn(text)
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


def redact_event(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    """The structlog processor: every key of an event redacted by its name and value (the message as text)."""
    return {k: (redact_value(k, v) if k not in ("event", "level", "timestamp") else
                (redact_text(v) if isinstance(v, str) else v)) for k, v in event.items()}


class RedactFilter(logging.Filter):
    """The same rules for a stdlib record: its message (arguments merged) and its formatted traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(escape_control(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: escape_control(v) if isinstance(v, str) else v for k, v in record.args.items()}
        try:
            msg = record.getMessage()
        except Exception:  # pragma: no cover - a broken format string is not ours to fix
            return True
        masked = redact_text(msg)
        if masked != msg or record.args:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True




def mask_for_screen(text: str) -> str:
    """What the console shows of a reason, an evidence line or a payload summary: the log rules exactly — real
    phones and e-mails by shape, a personal INN (12 digits, check digits right) after an INN label, secrets —, so
    a company's INN, a 14-digit deal id, a GUID, an amount or a time stays readable. A bare 12-digit run without
    a label cannot be told from an id and is shown."""
    return redact_text(text) if text else text

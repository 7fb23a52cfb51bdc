"""OData error bodies and HTTP failures mapped onto the engine's error vocabulary.

Shapes (erp-side.md §1.12, other-erps-and-bus.md §2.4 "Error body"):
- 1C v3:      ``{"odata.error": {"code": "<n>", "message": {"lang": "ru", "value": "..."}}}`` — ``code`` is a string
- SAP v2:     ``{"error": {"code": "...", "message": {"lang": "en", "value": "..."}, "innererror": {...}}}``
- Dataverse:  ``{"error": {"code": "...", "message": "..."}}``
- Atom:       ``<m:error><m:code>…</m:code><m:message>…</m:message></m:error>``
- 401/403 from the web server in front of 1C may be HTML, not ``odata.error`` (§1.12 last row).

1C echoes names, keys and unquoted numbers from the request in its error texts (§1.12 "Echo behaviour"), so the
person-readable ``reason`` carries the code and a *truncated* text only; the full text goes into ``detail`` which
callers must not log at info level when inputs may carry personal data.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from b24sync.connectors.delivery import not_sent, retry_after_seconds

from b24sync.engine.errors import (
    AuthError,
    ConflictError,
    NotFoundError,
    OutcomeUnknownError,
    PermanentError,
    RetryableError,
    SyncError,
    ValidationError,
)

# 1C numeric codes (erp-side.md §1.12 table).
ONEC_CODE_BAD_LITERAL = "1"  # 400: cannot parse a value as Edm.Guid/Boolean
ONEC_CODE_SEGMENT_NOT_FOUND = "6"  # 400: unknown field in $select / path; unsupported virtual table
ONEC_CODE_NOT_FOUND = "9"  # 404: entity instance not found
ONEC_CODE_ROWS_DIRECT = "13"  # 400: direct creation of tabular-section rows
ONEC_CODE_FILTER_SYNTAX = "14"  # 400: $filter parse error
ONEC_CODE_INTERNAL = "-1"  # 500: internal error / configuration handler refused the write or posting


class ODataAuthError(AuthError):
    pass


class ODataValidationError(ValidationError):
    pass


class ODataNotFoundError(NotFoundError):
    pass


class ODataPermanentError(PermanentError):
    pass


class ODataRetryableError(RetryableError):
    pass


class ODataConflictError(ConflictError):
    pass


class ODataOutcomeUnknown(OutcomeUnknownError):
    """A write left for the service and its answer was lost (timeout, closed/reset connection, 5xx or a gateway
    page after sending, a body that is not the answer): it may have been applied. Never resent by the client."""


class ODataHandlerError(ODataPermanentError):
    """1C 500 code -1 with a handler's text («Ошибка при выполнении обработчика …»): the configuration refused the
    write or the posting (§1.8, §1.9). Retrying the same data cannot help; a person must read the text."""


class ODataMovedError(ODataPermanentError):
    """A 3xx answer: the base URL in the spec is not the OData service's (moved, http:// for https://, a missing
    /odata/standard.odata/). Not followed, not retried."""


class ResponseTooLargeError(ODataPermanentError):
    """A change package (or any streamed body) exceeded the configured byte bound."""


class ODataFormatError(ODataRetryableError):
    """The body is not the OData answer we asked for (HTML from a proxy, a truncated stream)."""


def parse_error_body(content: bytes | str) -> tuple[str | None, str | None]:
    """(code, message) from a JSON or Atom OData error body; (None, None) when it is neither."""
    text = content.decode("utf-8", errors="replace") if isinstance(content, bytes) else content
    text = text.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return None, None
        err = data.get("odata.error") or data.get("error") if isinstance(data, dict) else None
        if not isinstance(err, dict):
            return None, None
        code = err.get("code")
        msg = err.get("message")
        if isinstance(msg, dict):
            msg = msg.get("value")
        return (str(code) if code is not None else None), (str(msg) if msg is not None else None)
    if text.startswith("<"):
        # Atom error: a tiny regex is enough and avoids an XML parser on untrusted error pages.
        code = re.search(r"<(?:\w+:)?code>(.*?)</(?:\w+:)?code>", text, re.S)
        msg = re.search(r"<(?:\w+:)?message[^>]*>(.*?)</(?:\w+:)?message>", text, re.S)
        if code or msg:
            return (code.group(1).strip() if code else None), (msg.group(1).strip() if msg else None)
    return None, None


def _short(text: str | None, limit: int = 200) -> str:
    if not text:
        return ""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _retry_after(headers: httpx.Headers) -> float | None:
    return retry_after_seconds(headers.get("Retry-After"))


def error_from_response(status: int, headers: httpx.Headers, content: bytes, *, context: str) -> SyncError:
    """The engine error for a non-2xx OData response. ``context`` names the request (no query values)."""
    code, message = parse_error_body(content)
    detail: dict[str, Any] = {"status": status, "code": code, "message": message, "context": context}
    where = f"{context}: HTTP {status}" + (f", code {code}" if code is not None else "")
    text = _short(message)
    reason = f"{where} — {text}" if text else where
    if status in (401, 407):
        # §1.11: wrong credentials, or a Cyrillic login sent in a non-UTF-8 encoding (IIS 401.5).
        return ODataAuthError(f"{where}: 1C/web server rejected the credentials (check user, password, UTF-8 login)",
                              detail=detail)
    if status == 403:
        if headers.get("X-CSRF-Token", "").lower() == "required":
            # SAP (other-erps §2.1 CSRF step 3): caller refetches the token and retries once.
            return ODataRetryableError(f"{where}: CSRF token required", detail=detail | {"csrf_required": True})
        return ODataAuthError(f"{where}: access denied (the user lacks a right or the object is not published) — {text}",
                              detail=detail)
    if status == 404:
        return ODataNotFoundError(reason, detail=detail)
    if status == 412:
        # A stale If-Match on ETag-enforcing services (SAP, Dataverse, Business Central; other-erps §2.1-2.3).
        return ODataConflictError(f"{where}: the record changed since it was read (ETag mismatch)", detail=detail)
    if status == 428:
        return ODataPermanentError(f"{where}: the service requires If-Match (connector bug: no ETag sent)",
                                   detail=detail)
    if status in (408, 429) or status >= 502:
        return ODataRetryableError(reason, retry_after=_retry_after(headers), detail=detail)
    if status == 400 or status == 422:
        return ODataValidationError(reason, detail=detail)
    if status == 500:
        # 1C answers 500 code -1 both for internal errors and for configuration handlers refusing the write
        # (§1.12). A handler text is permanent for this data; a bare «внутренняя ошибка» may be transient
        # ($metadata failure, DBMS hiccup), so it is retried and dead-letters after the engine's attempts.
        low = (message or "").lower()
        if code == ONEC_CODE_INTERNAL and ("обработчик" in low or "handler" in low):
            return ODataHandlerError(reason, detail=detail)
        return ODataRetryableError(reason, detail=detail)
    if 400 <= status < 500:
        return ODataPermanentError(reason, detail=detail)
    return ODataRetryableError(reason, detail=detail)


def error_from_transport(exc: httpx.HTTPError, *, context: str, write: bool = False) -> SyncError:
    """Timeouts and connection failures are transient (§1.11: cold start takes 11-30 s). For a write that may have
    been sent (anything but a refused connection) the outcome is unknown: the engine looks the record up first."""
    kind = type(exc).__name__
    if write and not not_sent(exc):
        return ODataOutcomeUnknown(f"{context}: the answer was lost ({kind}) — the write may have been applied; the "
                                   "record is looked up before anything is written again",
                                   detail={"context": context, "transport": kind})
    where = ""
    try:
        u = exc.request.url
        where = f" at {u.scheme}://{u.host}{':' + str(u.port) if u.port else ''}"
    except (AttributeError, RuntimeError):
        pass
    return ODataRetryableError(f"{context}: {kind} talking to the OData service{where}",
                               detail={"context": context, "transport": kind, "not_sent": not_sent(exc)})


def outcome_unknown(err: SyncError, *, context: str) -> ODataOutcomeUnknown:
    """A retryable failure of a write after it was sent (5xx, a gateway page, an unreadable 2xx body)."""
    return ODataOutcomeUnknown(f"{err.reason} — the write may have been applied; the record is looked up before "
                               "anything is written again", retry_after=getattr(err, "retry_after", None),
                               detail={**(err.detail or {}), "context": context})

"""Bitrix24 errors mapped onto the engine's vocabulary (``b24sync.engine.errors``).

Sources (fact sheet /work/shared/research/bitrix24-rest.md, "sheet" below):
- error envelope ``{"error": code, "error_description": text}``; ``error`` may be "", 0, 100 or a sentence — map by
  HTTP status *and* code *and* description (sheet §2.3, §8.10);
- system errors table (sheet §2.3): 503 QUERY_LIMIT_EXCEEDED, 429 OPERATION_TIME_LIMIT, 503 OVERLOAD_LIMIT,
  500 INTERNAL_SERVER_ERROR / ERROR_UNEXPECTED_ANSWER, 400 ERROR_BATCH_LENGTH_EXCEEDED, 405 ERROR_BATCH_METHOD_NOT_ALLOWED;
- auth errors (sheet §1.3): 401 expired_token / invalid_token / NO_AUTH_FOUND / INVALID_CREDENTIALS /
  authorization_error / PAYMENT_REQUIRED, 403 insufficient_scope / ACCESS_DENIED / user_access_error / WRONG_AUTH_TYPE;
- not found: legacy "Not found" / "... is not found" with an empty code, crm.item NOT_FOUND (400 per docs, 404 per SDK)
  (sheet §2.3, §9.4, §9.9).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from b24sync.engine.errors import (
    AuthError,
    DeferError,
    NotFoundError,
    OutcomeUnknownError,
    PermanentError,
    RetryableError,
    ValidationError,
)


class Bitrix24Error(Exception):
    """Mixin carried by every Bitrix24 error: the method, HTTP status and the portal's code/description."""

    method: str | None = None
    status: int | None = None
    code: str = ""
    description: str = ""


def _init(err: Bitrix24Error, method: str | None, status: int | None, code: Any, description: str) -> None:
    err.method = method
    err.status = status
    err.code = "" if code is None else str(code)
    err.description = description or ""


class Bitrix24RateLimited(RetryableError, Bitrix24Error):
    """503 QUERY_LIMIT_EXCEEDED (leaky bucket, sheet §3.2) or 503 OVERLOAD_LIMIT."""


class Bitrix24ServerError(RetryableError, Bitrix24Error):
    """5xx, non-JSON gateway pages (sheet §2.3 "Real-world"), INTERNAL_SERVER_ERROR."""


class Bitrix24TransportError(RetryableError, Bitrix24Error):
    """Timeouts and connection errors (the request may or may not have reached the portal)."""


class Bitrix24OutcomeUnknown(OutcomeUnknownError, Bitrix24Error):
    """A write left for the portal and its answer was lost (timeout, closed/reset connection, 5xx or a gateway page
    after sending): it may have been applied. Never resent by the client; the engine looks the record up first."""


class Bitrix24OperationLimit(DeferError, Bitrix24Error):
    """429 OPERATION_TIME_LIMIT: the method's operating budget is spent until ``until`` (sheet §3.3)."""


class Bitrix24AuthError(AuthError, Bitrix24Error):
    """Wrong / expired credentials, missing scope, unpaid plan (sheet §1.3)."""


class Bitrix24TokenExpired(Bitrix24AuthError):
    """401 expired_token — handled inside the client by one refresh; surfaces only if refresh is impossible."""


class Bitrix24ValidationError(ValidationError, Bitrix24Error):
    """The portal rejected the data (400 with ERROR_CORE, "", 100, INVALID_ARG_VALUE, ...)."""


class Bitrix24NotFound(NotFoundError, Bitrix24Error):
    pass


class Bitrix24Moved(PermanentError, Bitrix24Error):
    """A 3xx answer: the portal's address moved (domain change, sheet "Domain change → 302") or the URL is wrong.
    Not followed, not retried: the address in the spec is to be fixed."""


class Bitrix24MethodNotFound(PermanentError, Bitrix24Error):
    """404 ERROR_METHOD_NOT_FOUND / "Method not found!" (sheet §2.3)."""


_AUTH_CODES = {
    "expired_token", "invalid_token", "no_auth_found", "invalid_credentials", "authorization_error",
    "payment_required", "error_oauth", "application_not_found", "not_installed", "method_confirm_waiting",
    "insufficient_scope", "user_access_error", "wrong_auth_type", "allowed_only_intranet_user", "access_denied",
    "invalid_grant", "invalid_client", "wrong_client",
}


def classify(
    method: str | None,
    status: int | None,
    code: Any,
    description: str | None,
    *,
    reset_at: float | None = None,
) -> Exception:
    """Build the typed exception for one error (a whole HTTP response or one ``result_error`` entry of a batch)."""
    desc = description or ""
    c = "" if code is None else str(code)
    lc = c.lower()
    ld = desc.lower()
    where = f"Bitrix24 {method}" if method else "Bitrix24"
    text = f"{where}: {c or status or 'error'}" + (f" — {desc}" if desc else "")
    detail = {"method": method, "status": status, "code": c, "description": desc}
    err: Exception
    if lc == "query_limit_exceeded" or lc == "overload_limit":
        err = Bitrix24RateLimited(text, retry_after=1.0 if lc == "query_limit_exceeded" else 60.0, detail=detail)
    elif lc == "operation_time_limit" or (status == 429 and not c):
        until = datetime.fromtimestamp(reset_at, UTC) if reset_at else datetime.fromtimestamp(0, UTC)
        err = Bitrix24OperationLimit(text, until=until, detail=detail)
    elif lc == "expired_token":
        err = Bitrix24TokenExpired(text, detail=detail)
    elif lc in _AUTH_CODES or status in (401, 403) or ld.startswith("access denied"):
        err = Bitrix24AuthError(text, detail=detail)
    elif lc in ("error_method_not_found",) or "method not found" in ld:
        err = Bitrix24MethodNotFound(text, detail=detail)
    elif lc in ("not_found", "owner_not_found") or ld in ("not found", "not found.") or "is not found" in ld \
            or "not found" in ld and status in (400, 404) and lc in ("", "0"):
        err = Bitrix24NotFound(text, detail=detail)
    elif status is not None and status >= 500 or lc in ("internal_server_error", "error_unexpected_answer"):
        err = Bitrix24ServerError(text, detail=detail)
    else:
        # 400 with ERROR_CORE, "", 0, 100, INVALID_ARG_VALUE, CRM_FIELD_ERROR_VALUE_NOT_VALID, batch errors, ...
        err = Bitrix24ValidationError(text, detail=detail)
    if isinstance(err, Bitrix24Error):
        _init(err, method, status, c, desc)
    return err

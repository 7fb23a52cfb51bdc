"""Diadok HTTP status → the engine's error vocabulary (``b24sync.engine.errors``).

Status codes as the vendor documents them per method [DIADOC] ``http/PostMessage.rst``, ``http/GeneratePrintForm.rst``,
``Authorization.rst`` (fact sheet /work/shared/research/erp-side.md §8):

* 400 — bad format / missing parameter / more than the allowed number of documents in a message → ``ValidationError``
* 401 — no or invalid ``Authorization`` header, token or developer key → ``AuthError``
* 402 — the box's API subscription ended → ``AuthError`` (a person must renew; replaying dead letters recovers)
* 403 — the token has no access to the box / the organisation is liquidated → ``AuthError``
* 404 — box / message / entity not found → ``NotFoundError``
* 409 — PostMessage: duplicate message or the recipient refuses documents (``Sociability``); GeneratePrintForm: no
  print form for this document type. The brief of this connector classifies 409 as retryable (a duplicate under
  our deterministic ``operationId`` converges on retry), except GeneratePrintForm's "not supported" which is final.
* 429 — rate limit (limits are not published; heavy GetNewEvents polling has drawn 429s, fact sheet §8) → retry
  honouring ``Retry-After``
* 5xx, timeouts, connection errors → ``RetryableError``
"""

from __future__ import annotations

import httpx

from b24sync.engine.errors import (
    AuthError,
    NotFoundError,
    PermanentError,
    RetryableError,
    SyncError,
    ValidationError,
)


def retry_after_seconds(resp: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (Diadok sends an integer number of seconds); an HTTP date is not expected."""
    raw = resp.headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw.strip()))
    except ValueError:
        return None


def _body_text(resp: httpx.Response, limit: int = 300) -> str:
    try:
        text = resp.text
    except Exception:  # pragma: no cover - undecodable body
        return ""
    return text.strip().replace("\n", " ")[:limit]


def error_for(resp: httpx.Response, *, operation: str) -> SyncError:
    """The engine error for a non-success Diadok response. Never includes request headers (tokens)."""
    status = resp.status_code
    code = resp.headers.get("X-Diadoc-ErrorCode")
    detail = {"status": status, "operation": operation, "body": _body_text(resp)}
    if code:
        detail["error_code"] = code
    if status == 400:
        return ValidationError(f"Диадок отклонил запрос {operation}: {detail['body'] or 'неверные данные'}",
                               detail=detail)
    if status == 401:
        return AuthError("Диадок: нет или неверный токен / ключ разработчика (401). Проверьте учётные данные.",
                         detail=detail)
    if status == 402:
        return AuthError("Диадок: у ящика закончилась подписка на API (402).", detail=detail)
    if status == 403:
        return AuthError("Диадок: нет доступа к ящику с этим токеном или организация ликвидирована (403).",
                         detail=detail)
    if status == 404:
        return NotFoundError(f"Диадок: не найдено ({operation}, 404).", detail=detail)
    if status == 409:
        return RetryableError(f"Диадок: конфликт при {operation} (409): {detail['body']}",
                              retry_after=retry_after_seconds(resp), detail=detail)
    if status == 429:
        return RetryableError("Диадок: превышено ограничение на число запросов (429).",
                              retry_after=retry_after_seconds(resp), detail=detail)
    if status >= 500:
        return RetryableError(f"Диадок: ошибка сервера {status} при {operation}.",
                              retry_after=retry_after_seconds(resp), detail=detail)
    return PermanentError(f"Диадок: неожиданный ответ {status} при {operation}.", detail=detail)


def transport_error(exc: httpx.TransportError, *, operation: str) -> RetryableError:
    return RetryableError(f"Диадок недоступен ({type(exc).__name__}) при {operation}.",
                          detail={"operation": operation})

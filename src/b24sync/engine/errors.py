"""The error vocabulary every connector speaks, so the engine knows what to do without knowing the connector.

- ``RetryableError``: transient (rate limit, 5xx, timeout, connection); the job is retried with backoff.
- ``OutcomeUnknownError``: a write may have reached the system and been applied, but its answer was lost (timeout,
  closed or reset connection, 5xx or a non-JSON page after sending). A client never resends such a write by itself:
  the job is retried and the retry looks the record up first (identity map, link field, match keys), so a create
  whose answer was lost is found, not repeated.
- ``DeferError``: not an error of the record — a budget is exhausted until a known time (Bitrix24's
  ``operating_reset_at``, DaData's daily quota); the job is parked until then without spending an attempt.
- ``PermanentError``: retrying cannot help (validation, bad data, missing permission); straight to dead letters.
- ``HoldError``: a guard holds the record until a person acts (fill requisites, sign a contract); parked as
  ``held`` with a message for the manager, released when a later change lets it through.
- ``ConflictError``: the target changed behind our back (e.g. 1C ``DataVersion`` moved); recorded as a conflict.
"""

from __future__ import annotations

from datetime import datetime


class SyncError(Exception):
    """Base of every error the engine understands. ``reason`` is written for a person, not a developer."""

    def __init__(self, reason: str, *, detail: dict | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail or {}


class RetryableError(SyncError):
    def __init__(self, reason: str, *, retry_after: float | None = None, detail: dict | None = None) -> None:
        super().__init__(reason, detail=detail)
        self.retry_after = retry_after


class OutcomeUnknownError(RetryableError):
    """The request left this process and its effect is unknown; only a lookup can tell (never resent blind)."""


class DeferError(SyncError):
    def __init__(self, reason: str, *, until: datetime, detail: dict | None = None) -> None:
        super().__init__(reason, detail=detail)
        self.until = until


class PermanentError(SyncError):
    pass


class ValidationError(PermanentError):
    """Bad data in a record: an invalid INN, a missing required field, a value the target rejects."""


class AuthError(PermanentError):
    """Credentials are wrong or lack a permission; fixing them and replaying the dead letters recovers."""


class NotFoundError(PermanentError):
    pass


class HoldError(SyncError):
    pass


class ConflictError(SyncError):
    pass

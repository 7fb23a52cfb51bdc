"""What a client may resend by itself, and how long it waits: the delivery rules every HTTP connector shares.

A request whose answer is lost after it may have reached the remote (a read timeout, a closed or reset connection,
a 5xx or a gateway page after sending, a body that is not the answer) has an *unknown outcome*. A read is resent
here (bounded backoff with jitter, ``Retry-After`` honoured); a write is never resent blind: it goes to the engine
as :class:`~b24sync.engine.errors.OutcomeUnknownError`, whose retry looks the record up first (issue 13).

Known not to have reached the remote, and so resent here for writes too: a connection that could not be opened
(``ConnectError``/``ConnectTimeout``/``PoolTimeout`` happen before a byte of the request is sent), and the answers
that say "refused, not applied" (429, 408; per system: Bitrix24 QUERY_LIMIT_EXCEEDED, bitrix24-rest.md §3.2-3.3).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

import httpx

# Raised before the request left this process (httpx opens the connection first, then sends).
NOT_SENT: tuple[type[Exception], ...] = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# HTTP methods that only read (RFC 9110 §9.2.1 safe methods).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Statuses that say the request was refused without being applied (RFC 9110 §15.5.9 408, RFC 6585 §4 429).
REFUSED_STATUSES = frozenset({408, 429})


def not_sent(exc: BaseException) -> bool:
    """Whether a transport failure happened before the request was sent (so resending it cannot double it)."""
    return isinstance(exc, NOT_SENT)


def retry_after_seconds(raw: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP-date (RFC 9110 §10.2.3); None when absent/garbled."""
    if not raw:
        return None
    raw = raw.strip()
    if raw.isdigit():
        return float(raw)
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass
class RetryPolicy:
    """Bounded retries: at most ``attempts`` tries and ``total`` seconds for one request; exponential backoff
    ``base * 2**n`` capped at ``cap`` with full jitter; a server's ``Retry-After`` is a floor (and a wait longer
    than the time left ends the retries — the engine retries the job later)."""

    attempts: int = 5
    base: float = 0.2
    cap: float = 8.0
    total: float = 45.0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        d = self.rng.uniform(self.base / 2, min(self.cap, self.base * (2 ** retry)))
        return max(d, retry_after or 0.0)

    def next_delay(self, tries: int, started: float, retry_after: float | None = None) -> float | None:
        """The wait before try ``tries + 1``, or None when the attempts or the time budget are spent."""
        if tries >= self.attempts:
            return None
        d = self.delay(tries - 1, retry_after)
        if time.monotonic() - started + d > self.total:
            return None
        return d


__all__ = ["NOT_SENT", "REFUSED_STATUSES", "SAFE_METHODS", "RetryPolicy", "not_sent", "retry_after_seconds"]

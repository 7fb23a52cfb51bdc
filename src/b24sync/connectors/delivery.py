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


# ---------------------------------------------------------------- first contact (issue 12, item e)
# Until a system has answered once, a connection that cannot be opened is a wrong URL, port or host far more often
# than a blip: a newcomer with a typo must hear it in a second, not after half a minute of backoff. So before the
# first answer (any HTTP status) a refused connection is resent once after a short pause, and a connect timeout
# not at all; after the first answer the normal bounded backoff applies (a portal restarting mid-run is a blip).
# A read timeout is not a connection failure (1C's cold start answers after 11-30 s, erp-side.md §1.11) and keeps
# its normal retries.
FIRST_CONTACT_RETRIES = 1
FIRST_CONTACT_DELAY = 0.3
# Opening a TCP connection to a live server takes milliseconds; a black-holed address (a firewall that drops SYN)
# would otherwise wait for the whole request timeout (65 s for Bitrix24, sheet §3.1).
CONNECT_TIMEOUT = 5.0


def timeout_with_connect(total: float) -> httpx.Timeout:
    """The request timeout with connecting bounded by ``CONNECT_TIMEOUT``."""
    return httpx.Timeout(total, connect=min(total, CONNECT_TIMEOUT))


def first_contact_gives_up(reached: bool, exc: BaseException | None, retries_done: int) -> bool:
    """Whether a not-sent failure before the first answer ends the retries now (see FIRST_CONTACT_RETRIES)."""
    if reached:
        return False
    if isinstance(exc, httpx.ConnectTimeout):
        return True
    return retries_done >= FIRST_CONTACT_RETRIES


def redirect_reason(system: str, what: str, status: int, location: str) -> str:
    """A 3xx is never followed: a POST turned into a GET loses its body (bitrix24-rest.md "Domain change → 302 and lost POST bodies"),
    and following it would send credentials to whatever host it names. Retrying cannot help either: it is an
    address to fix in the spec."""
    to = f" → {location}" if location else ""
    return (f"{system} {what}: HTTP {status} redirect{to} — the address in the spec is not the API's: it moved "
            "(a domain change) or is written wrong (http:// for https://, a missing path such as /rest/1/CODE/ or "
            "/odata/standard.odata/); put the address the redirect names in the spec's environment variable")


__all__ = ["CONNECT_TIMEOUT", "FIRST_CONTACT_DELAY", "FIRST_CONTACT_RETRIES", "NOT_SENT", "REFUSED_STATUSES",
           "SAFE_METHODS", "RetryPolicy", "first_contact_gives_up", "not_sent", "redirect_reason",
           "retry_after_seconds", "timeout_with_connect"]

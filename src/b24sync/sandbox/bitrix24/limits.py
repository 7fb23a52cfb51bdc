"""The two throttles of a Bitrix24 cloud portal.

* Request rate — leaky bucket [fact sheet §3.2, EN:limits.md §Request Rate Limits]: each request adds 1 to a
  counter shared by the source IP; the counter drains by ``rate`` once per second, in steps; while it is at
  ``burst`` the request is refused with HTTP 503 ``QUERY_LIMIT_EXCEEDED`` (refused calls are not counted —
  the docs do not say, see §3.2 review note). One ``batch`` call = one request.
* Operating time — per (app/webhook, method) budget [fact sheet §3.3, EN:limits.md §Resource Intensity Limits]:
  execution time is summed in 10 one-minute baskets; when the sum exceeds the limit (480 s by default) the
  *next* call of that method gets HTTP 429 ``OPERATION_TIME_LIMIT``; the call that crosses the limit completes.
  ``operating_reset_at`` = when the oldest basket leaves the 10-minute window.
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict


class LeakyBucket:
    def __init__(self, clock, rate: float | None = 2.0, burst: int = 50) -> None:
        self.clock = clock
        self.rate = rate
        self.burst = burst
        self._state: dict[str, list[float]] = {}  # key -> [counter, last_tick]
        self._lock = threading.Lock()

    def level(self, key: str) -> float:
        with self._lock:
            return self._drain(key, self.clock.now())[0]

    def _drain(self, key: str, now: float) -> list[float]:
        st = self._state.get(key)
        if st is None:
            st = self._state[key] = [0.0, now]
        ticks = math.floor(now - st[1])
        if ticks > 0:
            st[0] = max(0.0, st[0] - ticks * (self.rate or 0))
            st[1] += ticks
        return st

    def try_acquire(self, key: str) -> bool:
        if not self.rate:
            return True
        with self._lock:
            st = self._drain(key, self.clock.now())
            if st[0] + 1 > self.burst:
                return False
            st[0] += 1
            return True


class OperatingLedger:
    WINDOW = 600.0  # 10 minutes [EN:limits.md]
    BASKET = 60.0  # one-minute baskets [EN:limits.md]

    def __init__(self, clock, limit: float | None = 480.0) -> None:
        self.clock = clock
        self.limit = limit
        self._baskets: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
        self.total_charged = 0.0
        self._lock = threading.Lock()

    def _live(self, key: tuple[str, str], now: float) -> dict[int, float]:
        b = self._baskets[key]
        horizon = now - self.WINDOW
        for start in [s for s in b if s + self.BASKET <= horizon]:
            del b[start]
        return b

    def used(self, principal: str, method: str) -> float:
        with self._lock:
            return sum(self._live((principal, method), self.clock.now()).values())

    def blocked(self, principal: str, method: str) -> bool:
        """Checked *before* a call [EN:limits.md]: refused only once the budget was already exceeded."""
        if self.limit is None:
            return False
        return self.used(principal, method) > self.limit

    def charge(self, principal: str, method: str, seconds: float) -> tuple[float, int]:
        """Record ``seconds`` of execution; return (operating, operating_reset_at) for the ``time`` block."""
        now = self.clock.now()
        with self._lock:
            b = self._live((principal, method), now)
            start = int(now // self.BASKET * self.BASKET)
            b[start] = b.get(start, 0.0) + seconds
            self.total_charged += seconds
            oldest = min(b) if b else start
            return sum(b.values()), int(oldest + self.WINDOW)

    def reset_at(self, principal: str, method: str) -> int:
        now = self.clock.now()
        with self._lock:
            b = self._live((principal, method), now)
            return int((min(b) if b else now) + self.WINDOW)

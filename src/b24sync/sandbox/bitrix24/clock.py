"""Injectable clocks: the sandbox never calls ``time.time()`` directly for anything a test may want to control
(leaky bucket drain, operating-time baskets, token expiry, timestamps)."""

from __future__ import annotations

import threading
import time


class SystemClock:
    """Wall clock (unix seconds, float)."""

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that only moves when told to; thread-safe. ``advance(600)`` skips a whole operating window."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._t = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._t

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._t += float(seconds)
            return self._t

    def set(self, t: float) -> None:
        with self._lock:
            self._t = float(t)

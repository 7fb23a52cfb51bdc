"""Client-side limits shared by every worker of one portal (through ``b24sync.store.kv.SharedState``).

1. Request rate — Bitrix24 runs a leaky bucket per portal *and* source IP: a counter grows by one per HTTP request
   (one ``batch`` = one request) and drains by Y per second; above X the portal answers 503 QUERY_LIMIT_EXCEEDED.
   X/Y = 50 / 2 req/s on all plans but Enterprise, 250 / 5 on Enterprise (sheet §3.2, limits.md). The counter drains
   in steps of Y once per second and it is not stated whether call X or X+1 is the first refused, so we keep a
   margin on both the bucket size and the drain rate (sheet review notes on §3.2).
2. Operating time — per method and app/webhook, the portal sums execution seconds over 10 one-minute baskets and
   refuses the *next* call of that method with 429 OPERATION_TIME_LIMIT once the sum passes the limit (480 s in the
   docs' example); every response carries ``time.operating`` and ``time.operating_reset_at``, batch commands carry
   their own in ``result_time`` (sheet §3.3, §4, §9.17). The portal's own report drives the budget: we slow a
   method down as its reported ``operating`` nears the limit and park it until the reported
   ``operating_reset_at`` just before the portal would refuse it — never on an estimate while the portal reports
   figures. Only for a method whose answers carry no ``operating`` (self-hosted portals, some methods — sheet §2.2,
   §3.3) a fallback model sums the answers' own ``duration`` in one-minute baskets over ten minutes, as the portal
   does; a 429 always parks the method until its reset (client.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from b24sync.store.kv import MemoryState, SharedState

PLANS: dict[str, tuple[float, int]] = {"standard": (2.0, 50), "enterprise": (5.0, 250)}  # sheet §3.2


async def run_state(state: SharedState, fn: Callable[..., Any], *args: Any) -> Any:
    """Call a (blocking) SharedState method without stalling the event loop; memory state is called inline."""
    if isinstance(state, MemoryState):
        return fn(*args)
    return await asyncio.to_thread(fn, *args)


class LeakyBucket:
    """A GCRA-style reservation on the shared counter: every acquire adds one and returns how long to wait so that
    the portal's counter is at most ``capacity`` when the request arrives."""

    def __init__(
        self,
        state: SharedState,
        key: str,
        *,
        rate: float = 2.0,
        burst: int = 50,
        burst_margin: int | None = None,
        rate_factor: float = 0.95,
        clock: Callable[[], float] = time.time,
    ) -> None:
        margin = burst_margin if burst_margin is not None else max(3, int(burst * 0.1))
        self.state = state
        self.key = key
        self.rate = rate * rate_factor
        self.capacity = max(1.0, float(burst - margin))
        self.clock = clock
        self.waited = 0.0
        self.level = 0.0  # the counter as our last reservation left it (requests in the bucket, shared)

    @property
    def scarce(self) -> bool:
        """Whether a quarter of the burst is spent: requests are becoming the scarce thing, so each should carry
        as many commands as it can."""
        return self.level >= self.capacity * 0.25

    def _reserve(self, old: dict[str, Any] | None) -> tuple[dict[str, Any], float]:
        now = self.clock()
        level = float((old or {}).get("level", 0.0))
        ts = float((old or {}).get("ts", now))
        level = max(0.0, level - max(0.0, now - ts) * self.rate) + 1.0
        wait = max(0.0, (level - self.capacity) / self.rate)
        self.level = level
        return {"level": level, "ts": now}, wait

    def _fill(self, old: dict[str, Any] | None) -> tuple[dict[str, Any], None]:
        now = self.clock()
        level = float((old or {}).get("level", 0.0))
        ts = float((old or {}).get("ts", now))
        level = max(0.0, level - max(0.0, now - ts) * self.rate)
        return {"level": max(level, self.capacity + self.rate), "ts": now}, None

    def fill(self) -> float:
        """How full the portal's bucket is now, as the shared counter says (0 empty … 1 at our capacity)."""
        v = self.state.get(self.key) or {}
        now = self.clock()
        level = max(0.0, float(v.get("level", 0.0)) - max(0.0, now - float(v.get("ts", now))) * self.rate)
        return min(1.0, level / self.capacity)

    async def acquire(self) -> float:
        wait = await run_state(self.state, self.state.update, self.key, self._reserve)
        if wait > 0:
            self.waited += wait
            await asyncio.sleep(wait)
        return wait

    async def penalize(self) -> None:
        """The portal said QUERY_LIMIT_EXCEEDED anyway (another app on our IP?): treat the bucket as full."""
        await run_state(self.state, self.state.update, self.key, self._fill)


@dataclass
class BudgetDecision:
    delay: float = 0.0  # slow down: sleep this long before the call
    park_until: float | None = None  # the method is parked until this unix time


class OperatingBudget:
    """Per-method operating-time budget, fed from ``time.operating`` of every response (sheet §3.3)."""

    def __init__(
        self,
        state: SharedState,
        prefix: str,
        *,
        limit_seconds: float = 480.0,
        slow_fraction: float = 0.6,
        park_fraction: float = 0.9,
        max_slow_delay: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self.prefix = prefix
        self.limit = limit_seconds
        self.slow_at = limit_seconds * slow_fraction
        self.park_at = limit_seconds * park_fraction
        self.max_slow_delay = max_slow_delay
        self.clock = clock
        self._cache: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._model: dict[str, dict[int, float]] = {}  # fallback: method -> basket start -> seconds (this process)
        self._methods: set[str] = set()  # methods this process has seen answers of (for used_ratio)

    def key(self, method: str) -> str:
        return f"{self.prefix}:{method.lower()}"

    WINDOW = 600.0  # ten one-minute baskets (sheet §3.3)
    BASKET = 60.0

    async def observe(self, method: str, t: dict[str, Any] | None) -> None:
        if not t:
            return
        self._methods.add(method)
        seen = float(t.get("finish") or self.clock())
        if t.get("operating") is None:
            # no report (self-hosted portals and some methods omit the keys, sheet §2.2, §3.3): the fallback model
            # adds this answer's execution time to its one-minute basket — unless the portal reported figures for
            # this method within the window, which stay authoritative
            dur = t.get("duration") if t.get("duration") is not None else t.get("processing")
            if dur is None:
                return
            self._model_add(method, float(dur), seen)
            return
        operating = float(t["operating"])
        reset_at = t.get("operating_reset_at")

        def fn(old: dict[str, Any] | None) -> tuple[dict[str, Any] | None, None]:
            old = old or {}
            if float(old.get("seen", 0.0)) > seen:
                return None, None  # an older response arriving late
            new = dict(old)
            new.update(operating=operating, seen=seen, source="portal")
            new.pop("model", None)
            if reset_at:
                new["reset_at"] = float(reset_at)
            return new, None

        await run_state(self.state, self.state.update, self.key(method), fn)
        self._cache.pop(self.key(method), None)

    def _model_add(self, method: str, seconds: float, seen: float) -> None:
        k = self.key(method) + ":model"
        baskets = self._model.setdefault(k, {})
        start = int(seen // self.BASKET * self.BASKET)
        baskets[start] = baskets.get(start, 0.0) + seconds
        for old in [b for b in baskets if b + self.BASKET <= seen - self.WINDOW]:
            del baskets[old]

    def _model_sum(self, method: str, now: float) -> tuple[float, float]:
        """(modelled operating seconds, when the oldest basket leaves the window)."""
        baskets = self._model.get(self.key(method) + ":model") or {}
        live = {b: v for b, v in baskets.items() if b + self.BASKET > now - self.WINDOW}
        if not live:
            return 0.0, 0.0
        return sum(live.values()), min(live) + self.WINDOW

    async def park(self, method: str, until: float) -> None:
        self._methods.add(method)
        def fn(old: dict[str, Any] | None) -> tuple[dict[str, Any], None]:
            new = dict(old or {})
            new["blocked_until"] = max(float(new.get("blocked_until", 0.0)), until)
            return new, None

        await run_state(self.state, self.state.update, self.key(method), fn)
        self._cache.pop(self.key(method), None)

    def known_reset_at(self, st: dict[str, Any] | None) -> float | None:
        return float(st["reset_at"]) if st and st.get("reset_at") else None

    async def snapshot(self, method: str) -> dict[str, Any] | None:
        # a database / Redis read per call would dominate bulk work: reuse a read for a quarter second
        # (parks written by other processes are seen at most that late; our own writes invalidate it)
        if isinstance(self.state, MemoryState):
            return self.state.get(self.key(method))
        k = self.key(method)
        hit = self._cache.get(k)
        now = time.monotonic()
        if hit and now - hit[0] < 0.25:
            return hit[1]
        v = await run_state(self.state, self.state.get, k)
        self._cache[k] = (now, v)
        return v

    def used_ratio(self) -> float:
        """The busiest method's share of its operating-time limit now (1.0 while a method is parked): what the
        portal reported for it within the window, else the fallback model's sum."""
        now = self.clock()
        worst = 0.0
        for method in list(self._methods):
            st = self.state.get(self.key(method)) or {}
            if float(st.get("blocked_until", 0.0)) > now:
                return 1.0
            if st.get("operating") is not None and now - float(st.get("seen", 0.0)) < self.WINDOW:
                op = float(st["operating"])
            else:
                op = self._model_sum(method, now)[0]
            worst = max(worst, op / self.limit)
        return min(1.0, worst)

    async def decide(self, method: str) -> BudgetDecision:
        st = await self.snapshot(method) or {}
        now = self.clock()
        blocked = float(st.get("blocked_until", 0.0))
        if blocked > now:
            return BudgetDecision(park_until=blocked)  # the portal refused (429): wait for its reset
        reported = st.get("operating") is not None and now - float(st.get("seen", 0.0)) < self.WINDOW
        if reported:
            op = float(st.get("operating", 0.0))
            reset_at = float(st.get("reset_at", 0.0))
            if reset_at and now >= reset_at:
                # the oldest basket has left the window; the reported figure is an upper bound — let calls through
                # and learn the new value from their answers
                op = min(op, self.slow_at)
        else:
            op, reset_at = self._model_sum(method, now)  # fallback: the portal reports nothing for this method
        if op >= self.park_at and reset_at > now:
            return BudgetDecision(park_until=reset_at)
        if op > self.slow_at:
            frac = (op - self.slow_at) / max(1e-9, self.park_at - self.slow_at)
            return BudgetDecision(delay=min(self.max_slow_delay, self.max_slow_delay * frac))
        return BudgetDecision()

"""A thin async Bitrix24 REST client on httpx: one HTTP seam, a shared rate limiter, per-method operating budgets,
automatic ``batch`` packing with per-command outcomes, fast full reads and (time, id) incremental reads.

Envelope facts (sheet = /work/shared/research/bitrix24-rest.md):
- success ``{"result", "total", "next", "time"}``; error ``{"error", "error_description"}`` (sheet §2.2, §2.3);
- ``batch``: ``{"halt": 0, "cmd": {key: "method?query"}}`` → ``result.{result,result_error,result_total,result_next,
  result_time}``, each an object keyed by cmd key *or* a JSON array (numeric keys / empty), HTTP 200 even when
  commands fail; at most 50 commands (sheet §4 and its review notes);
- list pages are 50 rows; ``start=-1`` skips the COUNT; ID-ordered ``>ID`` windows chained with
  ``$result[prev][49][ID]`` read 2,500 rows per request (sheet §5, huge-data.md); ``crm.item.list`` wraps rows in
  ``items`` and names the key ``id`` (sheet §6.2, §9.9).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import math
import random
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from b24sync.connectors.bitrix24.auth import OAuthAuth, WebhookAuth, mask
from b24sync.connectors.bitrix24.encoding import Ref, build_query, query_safe
from b24sync.connectors.bitrix24.errors import (
    Bitrix24Moved,
    Bitrix24OperationLimit,
    Bitrix24OutcomeUnknown,
    Bitrix24RateLimited,
    Bitrix24ServerError,
    Bitrix24TokenExpired,
    Bitrix24TransportError,
    classify,
)
from b24sync.connectors.bitrix24.limits import PLANS, LeakyBucket, OperatingBudget
from b24sync.connectors.bitrix24.lookup import KeyLookup
from b24sync.connectors.delivery import (FIRST_CONTACT_DELAY, first_contact_gives_up, redirect_reason,
                                         timeout_with_connect)
from b24sync.engine import metrics
from b24sync.engine.errors import RetryableError
from b24sync.store.kv import MemoryState, SharedState

log = logging.getLogger("b24sync.bitrix24")

BATCH_MAX = 50  # sheet §3.4 / §4: never more than 50 commands
REREAD_PAGES = 4  # list_changes re-reads the cursor's own second up to 200 rows (see there)
PAGE = 50  # sheet §3.4: list page size is fixed at 50
NOT_BATCHABLE = {"batch"}  # nested batch → ERROR_BATCH_METHOD_NOT_ALLOWED (sheet §4)

# Methods that only read. Everything else may change the portal and is never resent blind after its request may
# have reached the portal (issue 13: a resent create batch duplicated companies). ``event.offline.get`` reads *and*
# clears by default (sheet §7.6), so it is not a read.
_READ_VERBS = {"get", "list", "fields", "getfields", "current", "info", "time", "types", "getlist", "search"}
_READ_METHODS = {"profile", "methods", "scope", "app.info", "server.time", "user.current", "access.name"}
_NOT_READS = {"event.offline.get"}


def is_read(method: str) -> bool:
    """Whether a REST method only reads (so resending it after a lost answer is harmless)."""
    m = method.lower()
    if m in _NOT_READS:
        return False
    if m in _READ_METHODS:
        return True
    verb = m.rsplit(".", 1)[-1]
    return verb in _READ_VERBS or (verb.startswith("get") and "." in m)


# Connection failures that happen before a byte of the request was sent: known not to have reached the portal.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

# list methods whose rows are wrapped (sheet §6.2, §6.4, §6.7, §6.8) and their id key
WRAPPED: dict[str, tuple[str, str]] = {
    "crm.item.list": ("items", "id"),
    "crm.type.list": ("types", "id"),
    "crm.category.list": ("categories", "id"),
    "crm.item.productrow.list": ("productRows", "id"),
    "catalog.product.list": ("products", "id"),
    "userfieldconfig.list": ("fields", "id"),
}


@dataclass
class CallResult:
    result: Any
    total: int | None = None
    next: int | None = None
    time: dict[str, Any] | None = None


@dataclass
class Outcome:
    """One batch command's own result or error — never shared with the other commands."""

    key: str
    method: str
    result: Any = None
    error: Exception | None = None
    total: int | None = None
    next: int | None = None
    time: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Stats:
    http_requests: int = 0
    limit_errors: int = 0  # 503 QUERY_LIMIT_EXCEEDED + 429 OPERATION_TIME_LIMIT seen (also inside batches)
    retries: int = 0
    unknown_outcomes: int = 0  # writes whose answer was lost (handed to the engine, never resent)
    batches: int = 0
    commands: int = 0
    operating: dict[str, float] = field(default_factory=dict)  # method -> highest `operating` reported

    @property
    def operating_seconds(self) -> float:
        return round(sum(self.operating.values()), 3)


@dataclass
class _Item:
    method: str
    params: dict[str, Any]
    fut: asyncio.Future
    wait: float
    attempts: int = 0
    urgent: bool = False  # a read other work waits for (a coalesced lookup): sent before the queued writes

    @property
    def size(self) -> int:
        return 1


@dataclass
class _Group:
    """Commands of one caller that must travel in one ``batch`` because later ones refer to earlier ones' results
    with ``$result[key]`` (sheet §4 "References"). Other callers' commands share the request; the group's keys are
    renamed on the wire so they never collide, and its references are renamed with them."""

    cmds: dict[str, tuple[str, dict[str, Any]]]
    fut: asyncio.Future  # -> dict[str, Outcome] under the caller's own keys
    wait: float

    @property
    def size(self) -> int:
        return len(self.cmds)


_REF_KEY = re.compile(r"\$result\[([^\]]+)\]")


def _rename_refs(value: Any, rename: dict[str, str]) -> Any:
    """Rewrite ``$result[key]`` references to a group's keys as they are called on the wire."""
    if isinstance(value, Ref):
        return Ref(_REF_KEY.sub(lambda m: f"$result[{rename.get(m.group(1), m.group(1))}]", value))
    if isinstance(value, dict):
        return {k: _rename_refs(v, rename) for k, v in value.items()}
    if isinstance(value, list):
        return [_rename_refs(v, rename) for v in value]
    return value


def _member(block: Any, key: str, index: int, n: int) -> tuple[bool, Any]:
    """Find ``key`` in a batch ``result_*`` member that may be an object or an array (sheet §4 review note)."""
    if isinstance(block, dict):
        if key in block:
            return True, block[key]
        return False, None
    if isinstance(block, list) and len(block) == n and index < n:
        return True, block[index]
    return False, None


def _as_int(v: Any) -> int | None:
    try:
        return int(v) if v not in (None, "", []) else None
    except (TypeError, ValueError):
        return None


def _lower_keys(params: dict[str, Any]) -> dict[str, Any]:
    # legacy crm.* top-level names are case-insensitive (sheet §2.1); normalise ours to lower case
    out: dict[str, Any] = {}
    for k, v in params.items():
        lk = k.lower() if k.upper() in ("FILTER", "ORDER", "SELECT", "START") else k
        out[lk] = v
    return out


def parse_dt(v: Any) -> datetime | None:
    if not v:
        return None
    try:
        return datetime.fromisoformat(str(v).replace("Z", "+00:00"))
    except ValueError:
        return None


def fmt_dt(d: datetime) -> str:
    return d.isoformat(timespec="seconds")  # ATOM, as the portal returns it (sheet §2.2 "Dates")


class Bitrix24Client:
    def __init__(
        self,
        auth: WebhookAuth | OAuthAuth,
        *,
        state: SharedState | None = None,
        plan: str | None = None,
        rate: float | None = None,
        burst: int | None = None,
        operating_limit_seconds: float = 480.0,
        auth_connector: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 65.0,  # the cloud cuts a request at 60 s (sheet §3.1)
        max_retries: int = 6,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        batch_linger: float = 0.005,
        fill_linger: float = 0.2,
        fill_gap: float = 0.03,
        scarce_linger: float = 1.0,
        scarce_gap: float = 0.25,
        max_inflight: int = 4,
        max_park_wait: float = 0.0,
        user_agent: str = "b24sync/0.1",
        verify: bool | str = True,
    ) -> None:
        prate, pburst = PLANS.get(plan or "standard", PLANS["standard"])
        self.auth = auth
        self.state: SharedState = state if state is not None else MemoryState()
        self.portal = auth.portal
        self.bucket = LeakyBucket(self.state, f"b24:bucket:{self.portal}", rate=rate or prate, burst=burst or pburst)
        self.budget = OperatingBudget(self.state, f"b24:operating:{self.portal}:{auth.kind}",
                                      limit_seconds=operating_limit_seconds)
        self.auth_connector = auth_connector
        self.http = httpx.AsyncClient(
            transport=transport, timeout=timeout_with_connect(timeout), verify=verify,
            headers={"User-Agent": user_agent, "Accept": "application/json"},  # sheet §2.1 headers
            follow_redirects=False,
        )
        if isinstance(auth, OAuthAuth):
            auth.bind_http(self.http)
        self.max_retries = max_retries
        self.reached = False  # the portal answered once (any HTTP status): see delivery.FIRST_CONTACT_RETRIES
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.linger = batch_linger
        self.fill_linger = fill_linger
        self.fill_gap = fill_gap
        self.scarce_linger = scarce_linger
        self.scarce_gap = scarce_gap
        self._fill_lock: asyncio.Lock | None = None  # one sender fills at a time (made inside the running loop)
        self.max_park_wait = max_park_wait
        self.stats = Stats()
        self._queue: list[_Item | _Group] = []
        self._queued = 0  # commands waiting in _queue
        self._urgent = 0  # urgent items at the head of _queue
        self._arrived: asyncio.Event | None = None  # set when a command is queued (made inside the running loop)
        self._groups = 0
        self.lookup = KeyLookup(self)  # coalesced key lookups (link field, INN) of concurrent callers
        self._timer: asyncio.TimerHandle | None = None
        self._sem = asyncio.Semaphore(max_inflight)
        self._waiting_senders = 0
        self._tasks: set[asyncio.Task] = set()
        self.system = "bitrix24"  # the spec's system name (the adapter sets it): the label of the API metrics
        metrics.LIMITERS.register(self)

    def __repr__(self) -> str:
        return f"Bitrix24Client({self.auth!r})"

    async def aclose(self) -> None:
        if self._timer:
            self._timer.cancel()
        self._spawn_senders()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.http.aclose()

    async def __aenter__(self) -> Bitrix24Client:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    # ------------------------------------------------------------------------------------------ operating gate

    def limiter_usage(self) -> dict[str, float]:
        """The portal's limiters as this client sees them in the shared state (0–1): the leaky bucket's fill now
        and the operating-time budget of the busiest method in the current ten-minute window (sheet §3.2, §3.3)."""
        return {"bucket": self.bucket.fill(), "operating_budget": self.budget.used_ratio()}

    def _wait_limit(self, wait: bool | float | None) -> float:
        if wait is None:
            return self.max_park_wait
        if wait is True:
            return math.inf
        if wait is False:
            return 0.0
        return float(wait)

    async def _gate(self, method: str, max_wait: float) -> None:
        """Slow a method near its budget; park it (sleep or DeferError) when spent (sheet §3.3)."""
        while True:
            d = await self.budget.decide(method)
            if d.park_until is not None:
                left = d.park_until - time.time()
                if left > max_wait:
                    raise self._op_limit(method, d.park_until, "parked by the client before the portal refuses")
                metrics.limiter_wait(self.system, "operating_budget", max(0.0, left) + 0.05)
                await asyncio.sleep(max(0.0, left) + 0.05)
                continue
            if d.delay > 0:
                metrics.limiter_wait(self.system, "operating_budget", d.delay)
                await asyncio.sleep(d.delay)
            return

    def _op_limit(self, method: str, until: float, why: str) -> Bitrix24OperationLimit:
        err = classify(method, 429, "OPERATION_TIME_LIMIT", f"Method is blocked due to operation time limit ({why})",
                       reset_at=until)
        assert isinstance(err, Bitrix24OperationLimit)
        return err

    async def _park_after_429(self, method: str) -> float:
        st = await self.budget.snapshot(method)
        reset = self.budget.known_reset_at(st)
        now = time.time()
        until = reset if reset and reset > now else now + 60.0  # baskets are one minute long (sheet §3.3)
        await self.budget.park(method, until)
        return until

    async def _observe(self, method: str, t: dict[str, Any] | None) -> None:
        if method == "batch":
            return  # the outer batch call is not counted; its commands report their own (sheet §3.3, §4)
        if t and t.get("operating") is not None:
            m = method.lower()
            self.stats.operating[m] = max(self.stats.operating.get(m, 0.0), float(t["operating"]))
        await self.budget.observe(method, t)

    # ------------------------------------------------------------------------------------------ one HTTP request

    def _backoff(self, attempt: int, hint: float | None) -> float:
        d = min(self.backoff_cap, self.backoff_base * (2 ** attempt))
        d = random.uniform(d / 2, d)  # jitter so that workers do not retry in lockstep
        return max(d, hint or 0.0)

    async def request(
        self, method: str, body: dict[str, Any], *, idempotent: bool | None = None, max_wait: float = 0.0,
        prepaid: bool = False,
    ) -> dict[str, Any]:
        """POST one JSON request with limiter, retries, token refresh and 429 parking; returns the parsed body.

        Only failures known to have happened before the portal applied anything are retried here: a refused
        connection, 503 QUERY_LIMIT_EXCEEDED, 429 OPERATION_TIME_LIMIT, an expired token (sheet §2.3, §3.2, §3.3).
        A read (``idempotent``, by default :func:`is_read`) is also retried after a timeout, a dropped connection or
        a 5xx. A write whose answer was lost that way raises :class:`Bitrix24OutcomeUnknown` at once: it may have
        been applied, and only the engine's lookup (link field, match keys) can tell."""
        if idempotent is None:
            idempotent = is_read(method)
        group = "batch" if method == "batch" else ("read" if is_read(method) else "write")
        attempt = 0
        refreshed = False
        while True:
            target = await self.auth.target(method)
            if not prepaid:
                metrics.limiter_wait(self.system, "bucket", await self.bucket.acquire())
            prepaid = False
            self.stats.http_requests += 1
            err: Exception
            unsent: BaseException | None = None
            try:
                resp = await self.http.post(target.url, params=target.params or None, json=body)
            except _NOT_SENT as e:
                metrics.api_request(self.system, group, "transport")
                metrics.api_error(self.system, group, "transport")
                unsent = e
                u = httpx.URL(target.url)
                err = Bitrix24TransportError(f"Bitrix24 {method}: cannot connect to {u.scheme}://{u.host}"
                                             f"{':' + str(u.port) if u.port else ''} ({type(e).__name__})")
            except (httpx.TimeoutException, httpx.TransportError) as e:
                metrics.api_request(self.system, group, "transport")
                metrics.api_error(self.system, group, "transport")
                if not idempotent:
                    self.stats.unknown_outcomes += 1
                    raise Bitrix24OutcomeUnknown(
                        f"Bitrix24 {method}: the answer was lost ({type(e).__name__}) — the write may have been "
                        "applied; the record is looked up before anything is written again") from None
                err = Bitrix24TransportError(f"Bitrix24 {method}: connection lost ({type(e).__name__})")
            else:
                metrics.api_request(self.system, group, resp.status_code)
                self.reached = True
                if 300 <= resp.status_code < 400:
                    # never followed (a POST would lose its body, the webhook code would go to whatever host it
                    # names) and never retried: the address in the spec is to be fixed (sheet: domain change → 302)
                    raise Bitrix24Moved(redirect_reason("Bitrix24", method, resp.status_code,
                                                        mask(resp.headers.get("location", ""))),
                                        detail={"status": resp.status_code,
                                                "location": mask(resp.headers.get("location", ""))})
                data: Any
                try:
                    data = resp.json()
                except ValueError:
                    data = None
                if isinstance(data, dict) and "error" in data and "result" not in data:
                    err = classify(method, resp.status_code, data.get("error"), data.get("error_description"))
                    metrics.api_error(self.system, group, err)
                    if not idempotent and isinstance(err, Bitrix24ServerError):
                        self.stats.unknown_outcomes += 1
                        raise Bitrix24OutcomeUnknown(f"{err.reason} — the write may have been applied",
                                                     detail=err.detail) from None
                elif resp.status_code >= 300 or not isinstance(data, dict):
                    # non-JSON gateway pages under load, redirects after a domain change (sheet §2.3, §1.5)
                    metrics.api_error(self.system, group, "server" if resp.status_code >= 500 else "other")
                    detail = {"status": resp.status_code, "location": mask(resp.headers.get("location", ""))}
                    if not idempotent and (resp.status_code >= 500 or resp.status_code < 300 and not isinstance(data, dict)):
                        self.stats.unknown_outcomes += 1
                        raise Bitrix24OutcomeUnknown(
                            f"Bitrix24 {method}: HTTP {resp.status_code} without a JSON envelope — the write may "
                            "have been applied", detail=detail)
                    err = Bitrix24ServerError(
                        f"Bitrix24 {method}: HTTP {resp.status_code} without a JSON envelope", detail=detail)
                else:
                    await self._observe(method, data.get("time"))
                    return data
            # ---- error handling
            if isinstance(err, Bitrix24TokenExpired) and isinstance(self.auth, OAuthAuth) and not refreshed:
                refreshed = True
                await self.auth.refresh(target.version)
                continue
            if isinstance(err, Bitrix24RateLimited):
                self.stats.limit_errors += 1
                await self.bucket.penalize()
            if isinstance(err, Bitrix24OperationLimit):
                self.stats.limit_errors += 1
                until = await self._park_after_429(method)
                if until - time.time() <= max_wait:
                    await asyncio.sleep(max(0.0, until - time.time()) + 0.05)
                    continue
                raise self._op_limit(method, until, "portal answered 429") from None
            if unsent is not None and first_contact_gives_up(self.reached, unsent, attempt):
                raise err  # never answered yet: a wrong URL or port, said within a second (delivery.py)
            if isinstance(err, RetryableError) and attempt < self.max_retries:
                delay = self._backoff(attempt, err.retry_after) if self.reached or unsent is None else \
                    FIRST_CONTACT_DELAY
                attempt += 1
                self.stats.retries += 1
                log.warning("bitrix24 %s: %s; retry %d in %.2fs", method, err, attempt, delay)
                await asyncio.sleep(delay)
                continue
            raise err

    # ------------------------------------------------------------------------------------------ calls & batches

    def _with_connector(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        # our own writes carry auth_connector so offline events do not queue them back to us (sheet §7.6)
        if self.auth_connector and method.rsplit(".", 1)[-1] in ("add", "update", "delete", "set") \
                and "auth_connector" not in params:
            params = dict(params)
            params["auth_connector"] = self.auth_connector
        return params

    async def call_full(self, method: str, params: dict[str, Any] | None = None, *,
                        wait: bool | float | None = None, batch: bool = True, urgent: bool = False) -> CallResult:
        """Call one method. Query-string-safe calls ride in a shared ``batch``; others go as single JSON calls.
        ``urgent`` (a read that many callers wait for, such as a coalesced lookup) goes into the next request ahead
        of the queued commands; calls of different callers are independent, so their order is free."""
        params = self._with_connector(method, params or {})
        max_wait = self._wait_limit(wait)
        await self._gate(method, max_wait)
        if batch and method not in NOT_BATCHABLE and (not params or query_safe(params)):
            fut: asyncio.Future = asyncio.get_running_loop().create_future()
            self._enqueue(_Item(method, params, fut, max_wait, urgent=urgent))
            return await fut
        data = await self.request(method, params, max_wait=max_wait)
        return CallResult(data.get("result"), _as_int(data.get("total")), _as_int(data.get("next")), data.get("time"))

    async def call(self, method: str, params: dict[str, Any] | None = None, *,
                   wait: bool | float | None = None, batch: bool = True, urgent: bool = False) -> Any:
        return (await self.call_full(method, params, wait=wait, batch=batch, urgent=urgent)).result

    async def batch(self, cmds: dict[str, tuple[str, dict[str, Any]]] | list[tuple[str, dict[str, Any]]], *,
                    halt: bool = False, wait: bool | float | None = None) -> dict[str, Outcome]:
        """Send ≤50 commands in one request; every command gets its own Outcome (halt=0 by default)."""
        if isinstance(cmds, list):
            cmds = {f"c{i}": c for i, c in enumerate(cmds)}
        if len(cmds) > BATCH_MAX:
            raise ValueError(f"batch takes at most {BATCH_MAX} commands (sheet §4)")
        max_wait = self._wait_limit(wait)
        for m in {m for m, _ in cmds.values()}:
            await self._gate(m, max_wait)
        return await self._send_batch(cmds, halt=halt, max_wait=max_wait)

    async def _send_batch(self, cmds: dict[str, tuple[str, dict[str, Any]]], *, halt: bool = False,
                          max_wait: float = 0.0, prepaid: bool = False) -> dict[str, Outcome]:
        wire = {k: (m + ("?" + build_query(p) if p else "")) for k, (m, p) in cmds.items()}
        idempotent = all(is_read(m) for m, _ in cmds.values())
        data = await self.request("batch", {"halt": 1 if halt else 0, "cmd": wire}, idempotent=idempotent,
                                  max_wait=max_wait, prepaid=prepaid)
        self.stats.batches += 1
        self.stats.commands += len(cmds)
        body = data.get("result") or {}
        if not isinstance(body, dict):
            body = {}
        n = len(cmds)
        out: dict[str, Outcome] = {}
        # The portal's operating figures: one shared-state write per method and response (its latest report), not
        # one per command — 50 commands of one method would otherwise be 50 store transactions (issue 13).
        reports: dict[str, dict[str, Any]] = {}
        for i, (key, (method, _)) in enumerate(cmds.items()):
            oc = Outcome(key, method)
            has_t, t = _member(body.get("result_time"), key, i, n)
            oc.time = t if has_t and isinstance(t, dict) else None
            has_err, e = _member(body.get("result_error"), key, i, n)
            has_res, r = _member(body.get("result"), key, i, n)
            if has_err and e:
                code = e.get("error") if isinstance(e, dict) else e
                desc = e.get("error_description", "") if isinstance(e, dict) else ""
                oc.error = classify(method, None, code, desc)
            elif has_res:
                oc.result = r
                oc.total = _as_int(_member(body.get("result_total"), key, i, n)[1])
                oc.next = _as_int(_member(body.get("result_next"), key, i, n)[1])
            else:
                oc.error = Bitrix24ServerError(f"Bitrix24 {method}: no outcome in the batch response",
                                               detail={"key": key})
            t = oc.time
            if t and t.get("operating") is not None and method != "batch":
                m = method.lower()
                self.stats.operating[m] = max(self.stats.operating.get(m, 0.0), float(t["operating"]))
                prev = reports.get(method)
                if prev is None or float(t.get("finish") or 0.0) >= float(prev.get("finish") or 0.0):
                    reports[method] = t
            else:
                await self._observe(method, t)  # no report: the in-memory fallback model
            if isinstance(oc.error, (Bitrix24OperationLimit, Bitrix24RateLimited)):
                self.stats.limit_errors += 1
            out[key] = oc
        for method, t in reports.items():
            await self.budget.observe(method, t)
        parked: dict[str, float] = {}
        for oc in out.values():
            if isinstance(oc.error, Bitrix24OperationLimit):  # after the figures above: the reset they report
                if oc.method not in parked:
                    parked[oc.method] = await self._park_after_429(oc.method)
                oc.error = self._op_limit(oc.method, parked[oc.method], "portal refused the command")
        return out

    # ------------------------------------------------------------------------------------------ micro-batcher

    def _enqueue(self, item: _Item | _Group) -> None:
        if getattr(item, "urgent", False):
            self._queue.insert(self._urgent, item)  # behind the other urgent items, ahead of the rest
            self._urgent += 1
        else:
            self._queue.append(item)
        self._queued += item.size
        if self._arrived is not None:
            self._arrived.set()
        if self._queued >= BATCH_MAX * (self._waiting_senders + 1):
            self._spawn_senders()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.linger, self._on_timer)

    def backlogged(self) -> bool:
        """Whether a full request's worth of commands is already waiting (rate-bound bulk work): a call queued now
        will not leave sooner than the ones ahead of it."""
        return self._queued >= BATCH_MAX

    def _on_timer(self) -> None:
        self._timer = None
        self._spawn_senders()

    def _spawn_senders(self) -> None:
        while self._waiting_senders * BATCH_MAX < self._queued:
            self._waiting_senders += 1
            t = asyncio.get_running_loop().create_task(self._sender())
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)

    async def _fill(self, waited: float) -> None:
        """Linger after the bucket token so the request fills, only while commands keep arriving, and never for a
        lone interactive call (one command queued while requests are plentiful).

        * Requests plentiful (the bucket mostly empty): up to ``fill_linger`` seconds or 50 commands; a gap of
          ``fill_gap`` with nothing new sends what there is.
        * Requests scarce — the bucket made us wait, or a quarter of its burst is spent (bulk work): a request is
          worth 50 commands, and one sent part-empty now costs a whole request later. Wait up to
          ``scarce_linger`` for 50, ending only on a gap of ``scarce_gap`` with nothing new (the callers have
          nothing more to say). On a 5,000-company load the burst's first 90 requests went out with ~38 commands
          each (issue 13)."""
        scarce = waited > 0 or self.bucket.scarce
        if self.fill_linger <= 0 or self._queued >= BATCH_MAX or (not scarce and self._queued <= 1):
            return
        if self._arrived is None:
            self._arrived = asyncio.Event()
        linger, gap = (self.scarce_linger, self.scarce_gap) if scarce else (self.fill_linger, self.fill_gap)
        deadline = time.monotonic() + linger
        while self._queued < BATCH_MAX:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout=min(left, gap))
            except TimeoutError:
                return  # nothing new arrived: send what there is

    def _take(self) -> list[_Item | _Group]:
        """Whole items and groups, in order, up to 50 commands (a group is never split)."""
        out: list[_Item | _Group] = []
        n = 0
        while self._queue and n + self._queue[0].size <= BATCH_MAX:
            it = self._queue.pop(0)
            n += it.size
            out.append(it)
        if not out and self._queue:  # cannot happen (groups are ≤ 50), but never spin
            out.append(self._queue.pop(0))
        self._queued -= sum(i.size for i in out)
        self._urgent -= sum(1 for i in out if getattr(i, "urgent", False))
        return out

    async def _sender(self) -> None:
        async with self._sem:
            if self._fill_lock is None:
                self._fill_lock = asyncio.Lock()
            try:
                waited = await self.bucket.acquire()  # take the slot first, then as many queued calls as fit
                async with self._fill_lock:  # two senders filling at once would split one request's commands
                    await self._fill(waited)
                    items = self._take()
            finally:
                self._waiting_senders -= 1
            if self._queue:
                self._spawn_senders()
            if not items:
                return
            await self._run_items(items)

    async def call_group(self, cmds: dict[str, tuple[str, dict[str, Any]]], *,
                         wait: bool | float | None = None) -> dict[str, Outcome]:
        """Send commands that refer to each other (``$result[key]``) inside one shared ``batch`` request, with
        other callers' commands beside them; ``halt`` is 0 (other records share the request), so a command whose
        reference points at a failed command fails on its own (sheet §4). Every command gets its own Outcome; a
        lost answer raises :class:`Bitrix24OutcomeUnknown` when the group writes. Nothing is retried here."""
        if len(cmds) > BATCH_MAX:
            raise ValueError(f"a group takes at most {BATCH_MAX} commands (sheet §4)")
        max_wait = self._wait_limit(wait)
        clean = {k: (m, self._with_connector(m, p)) for k, (m, p) in cmds.items()}
        for m in {m for m, _ in clean.values()}:
            await self._gate(m, max_wait)
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._enqueue(_Group(clean, fut, max_wait))
        return await fut

    async def _run_items(self, items: list[_Item | _Group]) -> None:
        try:
            if len(items) == 1 and isinstance(items[0], _Item):
                it = items[0]
                data = await self.request(it.method, it.params, max_wait=it.wait, prepaid=True)
                res = CallResult(data.get("result"), _as_int(data.get("total")), _as_int(data.get("next")),
                                 data.get("time"))
                if not it.fut.done():
                    it.fut.set_result(res)
                return
            cmds: dict[str, tuple[str, dict[str, Any]]] = {}
            names: list[dict[str, str]] = []  # per item: its own key -> the key on the wire
            for i, it in enumerate(items):
                if isinstance(it, _Group):
                    self._groups += 1
                    rename = {k: f"g{self._groups}_{k}" for k in it.cmds}
                    for k, (m, p) in it.cmds.items():
                        cmds[rename[k]] = (m, _rename_refs(p, rename))
                    names.append(rename)
                else:
                    cmds[f"c{i}"] = (it.method, it.params)
                    names.append({"": f"c{i}"})
            outcomes = await self._send_batch(cmds, max_wait=0.0, prepaid=True)
        except Bitrix24OutcomeUnknown as e:
            # The batch carried writes and its answer was lost: the writes' callers learn it (their lookup decides);
            # the reads that shared the request simply go around again.
            for it in items:
                if it.fut.done():
                    continue
                if isinstance(it, _Item) and is_read(it.method) and it.attempts < 3:
                    self._retry_item(it, e)
                elif isinstance(it, _Group) and all(is_read(m) for m, _ in it.cmds.values()):
                    it.fut.set_exception(Bitrix24TransportError(str(e)))
                else:
                    it.fut.set_exception(e)
            return
        except BaseException as e:  # the whole request failed after retries: every caller learns it
            for it in items:
                if not it.fut.done():
                    it.fut.set_exception(e if isinstance(e, Exception) else RuntimeError("cancelled"))
            if not isinstance(e, Exception):
                raise
            return
        self._settle(items, names, outcomes)

    def _settle(self, items: list[_Item | _Group], names: list[dict[str, str]],
                outcomes: dict[str, Outcome]) -> None:
        for it, wire in zip(items, names, strict=True):
            if isinstance(it, _Group):
                res: dict[str, Outcome] = {}
                for k in it.cmds:
                    oc = outcomes[wire[k]]
                    oc.key = k
                    if isinstance(oc.error, Bitrix24ServerError) and not is_read(oc.method):
                        self.stats.unknown_outcomes += 1
                        oc.error = Bitrix24OutcomeUnknown(f"{oc.error} — the write may have been applied",
                                                          detail=getattr(oc.error, "detail", None))
                    res[k] = oc
                if not it.fut.done():
                    it.fut.set_result(res)
                continue
            oc = outcomes[wire[""]]
            if it.fut.done():
                continue
            if oc.error is None:
                it.fut.set_result(CallResult(oc.result, oc.total, oc.next, oc.time))
            elif isinstance(oc.error, (Bitrix24OperationLimit, Bitrix24RateLimited)) and it.attempts < 3:
                # refused before it ran (sheet §3.2, §3.3): only this command goes around again
                self._retry_item(it, oc.error)
            elif isinstance(oc.error, Bitrix24ServerError):
                if is_read(it.method) and it.attempts < 3:
                    self._retry_item(it, oc.error)
                elif is_read(it.method):
                    it.fut.set_exception(oc.error)
                else:  # a write that failed inside the portal may or may not have been applied
                    self.stats.unknown_outcomes += 1
                    it.fut.set_exception(Bitrix24OutcomeUnknown(f"{oc.error} — the write may have been applied",
                                                                detail=getattr(oc.error, "detail", None)))
            else:
                it.fut.set_exception(oc.error)

    def _retry_item(self, it: _Item, err: Exception) -> None:
        it.attempts += 1
        t = asyncio.get_running_loop().create_task(self._requeue(it, err))
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def _requeue(self, it: _Item, err: Exception) -> None:
        try:
            if isinstance(err, Bitrix24OperationLimit):
                await self._gate(it.method, it.wait)
            else:
                await asyncio.sleep(self._backoff(it.attempts, None))
        except Exception as e:
            if not it.fut.done():
                it.fut.set_exception(e)
            return
        self._enqueue(it)

    # ------------------------------------------------------------------------------------------ list reading

    @staticmethod
    def list_shape(method: str, id_field: str | None = None) -> tuple[str | None, str]:
        items_key, default_id = WRAPPED.get(method, (None, "ID"))
        return items_key, id_field or default_id

    @staticmethod
    def _rows(result: Any, items_key: str | None) -> list[dict[str, Any]]:
        if items_key:
            result = result.get(items_key, []) if isinstance(result, dict) else []
        if isinstance(result, dict):  # PHP arrays with gaps come back as objects
            result = list(result.values())
        return list(result or [])

    async def list_all(
        self, method: str, params: dict[str, Any] | None = None, *, id_field: str | None = None,
        count: bool = True, wait: bool | float | None = True, max_commands: int = BATCH_MAX,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every row of a list method in ID order, up to 2,500 rows per HTTP request (sheet §5, huge-data.md).

        No page is ever counted (``start=-1`` everywhere: a COUNT on a big table costs far more operating time
        than the page itself — 49.9 s against 0.097 s on 2.4 M rows, sheet §5). With ``count=True`` (the name is
        kept for callers) the read still knows where the set ends: the first request also fetches the set's *last*
        page (``order: ID DESC``), so the ascending chain stops right below it — no empty tail page, and later
        requests are sized from the ID density seen so far. ``count=False`` skips that and reads until a short page.
        """
        items_key, idf = self.list_shape(method, id_field)
        base = _lower_keys(copy.deepcopy(params or {}))
        flt = dict(base.pop("filter", {}) or {})
        last = flt.pop(f">{idf}", None)
        if f">={idf}" in flt:
            ge = flt.pop(f">={idf}")
            last = int(ge) - 1 if last is None else max(int(last), int(ge) - 1)
        upper = flt.pop(f"<{idf}", None)  # the caller's own upper bound, if any
        max_wait = self._wait_limit(wait)
        path = f"[{items_key}]" if items_key else ""
        tail: list[dict[str, Any]] | None = None  # the set's last page, read first, yielded last
        boundary: int | None = int(upper) if upper is not None else None
        first_id: int | None = None
        seen = 0
        first = True
        while True:
            n = max_commands
            if not first and boundary is not None and last is not None and first_id is not None and seen:
                # remaining rows below the tail, estimated from the ID density so far (exact for dense IDs)
                density = min(1.0, seen / max(1, int(last) - first_id + 1))
                n = max(1, min(n, math.ceil((boundary - int(last) - 1) * density / PAGE)))
            cmds: dict[str, tuple[str, dict[str, Any]]] = {}
            probe = first and count
            if probe:
                pf = dict(flt)
                if last is not None:
                    pf[f">{idf}"] = last
                if boundary is not None:
                    pf[f"<{idf}"] = boundary
                cmds["tail"] = (method, {**base, "order": {idf: "DESC"}, "start": -1, **({"filter": pf} if pf else {})})
                n = min(n, max_commands - 1)
            for i in range(n):
                p = {**base, "order": {idf: "ASC"}, "start": -1}
                f = dict(flt)
                if i == 0:
                    if last is not None:
                        f[f">{idf}"] = last
                else:
                    f[f">{idf}"] = Ref(f"$result[c{i - 1}]{path}[{PAGE - 1}][{idf}]")
                if boundary is not None:
                    f[f"<{idf}"] = boundary
                if f:
                    p["filter"] = f
                cmds[f"c{i}"] = (method, p)
            await self._gate(method, max_wait)
            if len(cmds) == 1:
                key, (_, only) = next(iter(cmds.items()))
                data = await self.request(method, only, max_wait=max_wait)
                outcomes = {key: Outcome(key, method, data.get("result"), None, _as_int(data.get("total")))}
            else:
                outcomes = await self._send_batch(cmds, max_wait=max_wait)
            if probe:
                oc = outcomes["tail"]
                if oc.error is not None:
                    raise oc.error
                tail_rows = self._rows(oc.result, items_key)
                tail = sorted(tail_rows, key=lambda r: int(r[idf]))
                if tail:
                    boundary = int(tail[0][idf])  # the ascending chain reads strictly below the tail page
                # the ascending pages of this first request were built before the boundary was known
            done = False
            prev_last = last
            for i in range(n):
                oc = outcomes[f"c{i}"]
                if oc.error is not None:
                    if i == 0:
                        raise oc.error
                    break  # later pages are re-requested from the last good id
                rows = self._rows(oc.result, items_key)
                if rows and prev_last is not None and int(rows[0][idf]) <= int(prev_last):
                    break  # a broken back-reference: never trust pages after it
                full = len(rows) == PAGE
                if boundary is not None:
                    rows = [r for r in rows if int(r[idf]) < boundary]
                if rows:
                    if first_id is None:
                        first_id = int(rows[0][idf])
                    seen += len(rows)
                    prev_last = rows[-1][idf]
                    yield rows
                if not full or len(rows) < PAGE or (boundary is not None and int(prev_last or 0) >= boundary - 1):
                    done = True
                    break
            if probe and (tail is not None and len(tail) < PAGE):
                done = True  # the whole set fits in the tail page
            first = False
            if prev_last == last and not done:
                raise Bitrix24ServerError(f"Bitrix24 {method}: list paging made no progress")
            last = prev_last
            if done:
                if tail:
                    yield tail
                return

    async def list_changes(
        self, method: str, *, time_field: str, id_field: str | None = None, since: datetime | None,
        last_id: str | int | None, overlap_seconds: float = 0.0, limit: int = 500,
        params: dict[str, Any] | None = None, wait: bool | float | None = None,
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], bool]:
        """Rows changed after the (time, id) cursor, ascending by (time, id); returns (new, overlap, more).

        One ``batch``: the tail of the cursor second by ID (``>=T``, ``<T+1s``, ``>ID``), the overlap window, and
        forward pages ordered by (time, id) from ``T+1s`` chained on the previous page's last time. A page that does
        not continue its predecessor is dropped with everything after it, so a portal that cannot substitute the
        time reference still yields one correct page per request. (Filter prefixes: sheet §5.)

        With an overlap, the cursor's own second is re-read too, by ID up to the cursor's ID (``<=ID``, up to
        ``REREAD_PAGES`` pages): ``DATE_MODIFY`` has whole seconds, so a record with a lower ID changed in the
        cursor's second after the last read carries the cursor's time and would fall between the tail (``>ID``)
        and the overlap window (``<T``) — it was missed until its next change. Rows re-read are overlap rows
        (the cursor does not move for them; unchanged ones are dropped by their fingerprint).
        """
        items_key, idf = self.list_shape(method, id_field)
        base = _lower_keys(copy.deepcopy(params or {}))
        flt = dict(base.pop("filter", {}) or {})
        pages = max(1, min(BATCH_MAX - 2, math.ceil(limit / PAGE)))
        cmds: dict[str, tuple[str, dict[str, Any]]] = {}
        path = f"[{items_key}]" if items_key else ""
        tail_pages = reread_pages = 0
        if since is not None:
            tail_pages = max(1, min(pages // 2, 8))
            if overlap_seconds > 0 and last_id not in (None, ""):
                reread_pages = min(REREAD_PAGES, tail_pages)
            pages = max(1, min(pages, BATCH_MAX - tail_pages - reread_pages - 1))  # one request: ≤ 50 commands
            for i in range(reread_pages):
                f = dict(flt)
                f[f">={time_field}"] = fmt_dt(since)
                f[f"<{time_field}"] = fmt_dt(since + timedelta(seconds=1))
                f[f"<={idf}"] = int(last_id)  # type: ignore[arg-type]
                if i:
                    f[f">{idf}"] = Ref(f"$result[r{i - 1}]{path}[{PAGE - 1}][{idf}]")
                cmds[f"r{i}"] = (method, {**base, "filter": f, "order": {idf: "ASC"}, "start": -1})
            for i in range(tail_pages):
                f = dict(flt)
                f[f">={time_field}"] = fmt_dt(since)
                f[f"<{time_field}"] = fmt_dt(since + timedelta(seconds=1))
                f[f">{idf}"] = (last_id or 0) if i == 0 else Ref(f"$result[t{i - 1}]{path}[{PAGE - 1}][{idf}]")
                cmds[f"t{i}"] = (method, {**base, "filter": f, "order": {idf: "ASC"}, "start": -1})
            if overlap_seconds > 0:
                f = dict(flt)
                f[f">={time_field}"] = fmt_dt(since - timedelta(seconds=overlap_seconds))
                f[f"<{time_field}"] = fmt_dt(since)
                cmds["o"] = (method, {**base, "filter": f, "order": {time_field: "DESC", idf: "DESC"}, "start": -1})
        for i in range(pages):
            f = dict(flt)
            if i == 0:
                if since is not None:
                    f[f">={time_field}"] = fmt_dt(since + timedelta(seconds=1))
            else:
                f[f">={time_field}"] = Ref(f"$result[f{i - 1}]{path}[{PAGE - 1}][{time_field}]")
            p = {**base, "order": {time_field: "ASC", idf: "ASC"}, "start": -1}
            if f:
                p["filter"] = f
            cmds[f"f{i}"] = (method, p)
        max_wait = self._wait_limit(wait)
        await self._gate(method, max_wait)
        outcomes = await self._send_batch(cmds, max_wait=max_wait)

        def key(r: dict[str, Any]) -> tuple[datetime, int]:
            return parse_dt(r.get(time_field)) or datetime.min, int(r[idf])

        new: list[dict[str, Any]] = []
        complete = True
        # 1. the rest of the cursor second, by id
        if since is not None:
            prev = int(last_id or 0)
            tail_done = False
            for i in range(tail_pages):
                oc = outcomes[f"t{i}"]
                if oc.error:
                    raise oc.error
                rows = self._rows(oc.result, items_key)
                if rows and int(rows[0][idf]) <= prev:
                    break
                new.extend(rows)
                if rows:
                    prev = int(rows[-1][idf])
                if len(rows) < PAGE:
                    tail_done = True
                    break
            if not tail_done:
                complete = False
        # 2. forward pages (only if the cursor second is exhausted, to keep the order)
        if complete:
            boundary = (since + timedelta(seconds=1)) if since is not None else None
            seen_ids: set[int] = set()
            cur: tuple[datetime, int] | None = None
            fwd_done = False
            for i in range(pages):
                oc = outcomes[f"f{i}"]
                if oc.error:
                    if i == 0:
                        raise oc.error
                    break
                rows = self._rows(oc.result, items_key)
                ks = [key(r) for r in rows]
                if ks != sorted(ks) or (boundary and ks and ks[0][0] < boundary):
                    break
                if i > 0 and cur is not None and ks and ks[0][0] != cur[0]:
                    # a chained page starts at its predecessor's last second (``>=``); anything else means the
                    # reference was not substituted as we meant: not trustworthy
                    break
                added = 0
                for r, k in zip(rows, ks, strict=True):
                    if k[1] in seen_ids or (cur is not None and k <= cur):
                        continue
                    seen_ids.add(k[1])
                    new.append(r)
                    cur = k
                    added += 1
                if len(rows) < PAGE:
                    fwd_done = True
                    break
                if added == 0:
                    break  # ≥50 rows in one second: the next call reads that second by id
            complete = fwd_done
        more = not complete
        if len(new) > limit:
            new = new[:limit]
            more = True
        overlap: list[dict[str, Any]] = []
        if "o" in outcomes and outcomes["o"].error is None:
            overlap = sorted(self._rows(outcomes["o"].result, items_key), key=key)
        prev_r = 0
        for i in range(reread_pages):  # the cursor's own second up to its ID (newer than the window above)
            oc = outcomes[f"r{i}"]
            if oc.error is not None:
                break
            rows = self._rows(oc.result, items_key)
            if rows and int(rows[0][idf]) <= prev_r:
                break  # a broken back-reference
            overlap.extend(rows)
            if rows:
                prev_r = int(rows[-1][idf])
            if len(rows) < PAGE:
                break
        room = max(0, limit - len(new))
        overlap = overlap[len(overlap) - room:] if room else []
        return new, overlap, more

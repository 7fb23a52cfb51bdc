"""Prometheus metrics (served by the server at /metrics), named per the Prometheus conventions: base units
(seconds), ``_total`` counters, low-cardinality labels (entity, side, action, outcome, error type — never an id or
a free text). Counters and histograms live in the process; the queue's gauges are read from the store at scrape
time (every process reports the same shared queue)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

JOBS_DONE = Counter("b24sync_jobs_total", "Jobs settled, by entity and action", ["entity", "action"])
JOB_DURATION = Histogram("b24sync_job_duration_seconds", "Time to run one job", ["entity"])
POLLED = Counter("b24sync_polled_records_total", "Records read by polls, by entity and side", ["entity", "side"])
ENQUEUED = Counter("b24sync_enqueued_jobs_total", "Jobs enqueued by triggers", ["entity", "trigger"])
POLLS = Counter("b24sync_polls_total", "Polls run, by entity, side and outcome (ok | failed)",
                ["entity", "side", "outcome"])
LAST_POLL_OK = Gauge("b24sync_last_successful_poll_timestamp_seconds", "Unix time of the last successful poll",
                     ["entity", "side"])
SYNC_LAG = Histogram("b24sync_sync_lag_seconds", "End to end: the target write committed minus the source change "
                     "(or its detection when the source has no change time)", ["entity"],
                     buckets=(1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400))  # operations.md §4


def observe_lag(entity: str, payload: dict[str, Any]) -> None:
    """Source change time (the record's own, as polled) or, for events, when the change was detected."""
    changed = None
    snap = payload.get("snapshot") if isinstance(payload, dict) else None
    for raw in ((snap or {}).get("modified") if isinstance(snap, dict) else None, payload.get("enqueued_at")):
        if raw:
            try:
                changed = datetime.fromisoformat(str(raw))
                break
            except ValueError:
                continue
    if changed is None:
        return
    if changed.tzinfo is None:
        changed = changed.replace(tzinfo=UTC)
    SYNC_LAG.labels(entity).observe(max(0.0, (datetime.now(UTC) - changed).total_seconds()))


class StoreCollector(Collector):
    """Queue depth and oldest pending age per entity; open dead letters and holds per entity and error type."""

    def __init__(self) -> None:
        self.db: Any = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.db is None:
            return
        from sqlalchemy import func, select

        from b24sync.store.models import DeadLetter, Job

        depth = GaugeMetricFamily("b24sync_queue_depth", "Jobs waiting or running, by entity and state",
                                  labels=["entity", "state"])
        oldest = GaugeMetricFamily("b24sync_queue_oldest_pending_age_seconds", "Age of the oldest pending job",
                                   labels=["entity"])
        parked = GaugeMetricFamily("b24sync_parked_open", "Open dead letters and held records, by entity, kind "
                                   "(dead | held) and error type", labels=["entity", "kind", "error_type"])
        try:
            now = datetime.now(UTC)
            with self.db.connect() as conn:
                for entity, state, n, first in conn.execute(select(Job.entity, Job.state, func.count(),
                                                                   func.min(Job.created_at))
                                                            .group_by(Job.entity, Job.state)):
                    depth.add_metric([entity, state], n)
                    if state == "pending" and first is not None:
                        f = first if first.tzinfo else first.replace(tzinfo=UTC)
                        oldest.add_metric([entity], (now - f).total_seconds())
                for entity, kind, etype, n in conn.execute(
                        select(DeadLetter.entity, DeadLetter.kind, DeadLetter.error_type, func.count())
                        .where(DeadLetter.resolved_at.is_(None))
                        .group_by(DeadLetter.entity, DeadLetter.kind, DeadLetter.error_type)):
                    parked.add_metric([entity, kind, etype], n)
        except Exception:  # noqa: BLE001 - a scrape never fails because the store is down (readyz says so)
            return
        yield depth
        yield oldest
        yield parked


STORE = StoreCollector()
REGISTRY.register(STORE)


# ---- API calls and client-side limiters per system (research/operations.md §3.3: b24sync_api_requests_total,
# b24sync_ratelimit_wait_seconds_total; other-erps-and-bus.md §5.1 naming). ``system`` is the spec's system name
# (bounded by the spec), ``method_group`` a method class (read | write | batch | auth), ``code`` the HTTP status or
# ``transport`` when no answer came; ``error`` a closed set of classes. Never a record id or a URL.

API_REQUESTS = Counter("b24sync_api_requests_total", "HTTP requests sent to a system, by system, method class "
                       "(read | write | batch) and HTTP status (`transport`: no answer)",
                       ["system", "method_group", "code"])
API_ERRORS = Counter("b24sync_api_errors_total", "Failed API requests, by system, method class and error class "
                     "(auth | rate_limit | operation_limit | quota | server | client | transport | conflict | other)",
                     ["system", "method_group", "error"])
LIMITER_WAIT = Counter("b24sync_ratelimit_wait_seconds_total", "Seconds callers waited in a client-side limiter, "
                       "by system and limiter (bucket | operating_budget)", ["system", "limiter"])
ERROR_CLASSES = ("auth", "rate_limit", "operation_limit", "quota", "server", "client", "transport", "conflict",
                 "other")


def error_class(exc: BaseException) -> str:
    """The closed error class of an exception raised by a connector (the label of ``b24sync_api_errors_total``)."""
    from b24sync.engine.errors import (AuthError, ConflictError, DeferError, PermanentError, RetryableError)

    name = type(exc).__name__.lower()
    if isinstance(exc, AuthError):
        return "auth"
    if "ratelimit" in name or "querylimit" in name:
        return "rate_limit"
    if "operation" in name:
        return "operation_limit"
    if isinstance(exc, DeferError):
        return "quota"
    if isinstance(exc, ConflictError):
        return "conflict"
    if "transport" in name or "connect" in name or "timeout" in name:
        return "transport"
    if isinstance(exc, RetryableError):
        detail = getattr(exc, "detail", None) or {}
        return "transport" if detail.get("transport") else "server"
    if isinstance(exc, PermanentError):
        return "client"
    return "other"


def api_request(system: str, group: str, code: int | str) -> None:
    API_REQUESTS.labels(system, group, str(code)).inc()


def api_error(system: str, group: str, exc: BaseException | str) -> None:
    API_ERRORS.labels(system, group, exc if isinstance(exc, str) else error_class(exc)).inc()


def limiter_wait(system: str, limiter: str, seconds: float) -> None:
    if seconds > 0:
        LIMITER_WAIT.labels(system, limiter).inc(seconds)


class LimiterCollector(Collector):
    """``b24sync_limiter_usage_ratio{system, limiter}`` (0–1) read at scrape time from every live client that
    registered itself: the Bitrix24 leaky bucket's fill, the highest operating-time budget used by one method, the
    DaData daily quota used — shared state, so every process reports the same portal-wide figures."""

    def __init__(self) -> None:
        import weakref

        self.clients: weakref.WeakSet[Any] = weakref.WeakSet()

    def register(self, client: Any) -> None:
        """``client.limiter_usage()`` -> ``{limiter: ratio}``; ``client.system`` names the system."""
        self.clients.add(client)

    def usage(self) -> list[tuple[str, str, float]]:
        out: dict[tuple[str, str], float] = {}
        for c in list(self.clients):
            try:
                for limiter, ratio in c.limiter_usage().items():
                    key = (str(getattr(c, "system", "?")), limiter)
                    out[key] = max(out.get(key, 0.0), round(float(ratio), 4))
            except Exception:  # noqa: BLE001 - a scrape never fails because one client's state is unreadable
                continue
        return sorted((s, lim, r) for (s, lim), r in out.items())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        g = GaugeMetricFamily("b24sync_limiter_usage_ratio", "Client-side limiter usage (0–1), by system and "
                              "limiter (bucket | operating_budget | daily_quota)", labels=["system", "limiter"])
        for system, limiter, ratio in self.usage():
            g.add_metric([system, limiter], ratio)
        yield g


LIMITERS = LimiterCollector()
REGISTRY.register(LIMITERS)


def api_totals() -> dict[str, dict[str, float]]:
    """Requests, errors and limiter waits per system since the process started (the console's overview)."""
    out: dict[str, dict[str, float]] = {}
    for metric, key in ((API_REQUESTS, "requests"), (API_ERRORS, "errors"), (LIMITER_WAIT, "wait_seconds")):
        for fam in metric.collect():
            for s in fam.samples:
                if not s.name.endswith("_total"):
                    continue
                row = out.setdefault(s.labels["system"], {"requests": 0.0, "errors": 0.0, "wait_seconds": 0.0})
                row[key] += s.value
                if key == "requests":
                    grp = f"requests_{s.labels['method_group']}"
                    row[grp] = row.get(grp, 0.0) + s.value
    return out


def lag_quantiles(entity: str, qs: tuple[float, ...] = (0.5, 0.95)) -> dict[float, float] | None:
    """Median / p95 of the end-to-end sync lag of ``entity`` from this process's histogram (since it started): the
    upper bound of the bucket the quantile falls in (what a bucketed histogram can tell), None with no samples."""
    counts: list[tuple[float, float]] = []
    for fam in SYNC_LAG.collect():
        for s in fam.samples:
            if s.name.endswith("_bucket") and s.labels.get("entity") == entity:
                counts.append((float(s.labels["le"]), s.value))
    counts.sort()
    total = counts[-1][1] if counts else 0
    if not total:
        return None
    out = {}
    for q in qs:
        out[q] = next(le for le, c in counts if c >= q * total)
    return out

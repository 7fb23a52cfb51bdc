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
                     buckets=(1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 43200, 86400))


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

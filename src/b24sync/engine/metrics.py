"""Prometheus metrics (served by the server at /metrics), named per the Prometheus conventions."""

from prometheus_client import Counter, Histogram

JOBS_DONE = Counter("b24sync_jobs_total", "Jobs settled, by entity and action", ["entity", "action"])
JOB_DURATION = Histogram("b24sync_job_duration_seconds", "Time to run one job", ["entity"])
POLLED = Counter("b24sync_polled_records_total", "Records read by polls, by entity and side", ["entity", "side"])
ENQUEUED = Counter("b24sync_enqueued_jobs_total", "Jobs enqueued by triggers", ["entity", "trigger"])

"""What "healthy" means for an integration, measured (docs/operations.md):

* every poll's outcome is recorded per entity and side (last success, last failure with its reason and error type,
  consecutive failures) in the shared state, so every process and the console see the same;
* **ready** = the store answers, every polled entity had a successful poll within ``MISSED_INTERVALS`` of its
  interval (counted from the process start for a fresh process), and no system refuses our credentials (a poll that
  failed with an auth error, or an auth dead letter opened in the last hour).

``/healthz`` says only that the process is alive; ``/readyz`` uses :func:`readiness`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, text

from b24sync.engine.metrics import LAST_POLL_OK, POLLS
from b24sync.engine.runtime import Runtime
from b24sync.store.db import utcnow
from b24sync.store.kv import SqlState
from b24sync.store.models import DeadLetter

MISSED_INTERVALS = 2
STARTED = time.time()
AUTH_ERRORS = ("AuthError", "Bitrix24AuthError")


def _key(entity: str, side: str) -> str:
    return f"pollstate:{entity}:{side}"


def record_poll(rt: Runtime, entity: str, side: str, *, error: BaseException | None = None) -> None:
    now = time.time()
    POLLS.labels(entity, side, "ok" if error is None else "failed").inc()
    if error is None:
        LAST_POLL_OK.labels(entity, side).set(now)

    def fn(old: dict[str, Any] | None) -> tuple[dict[str, Any], None]:
        st = dict(old or {})
        if error is None:
            st.update(last_ok=now, failures=0)
        else:
            from b24sync.engine.errors import SyncError

            st.update(last_error_at=now, failures=int(st.get("failures", 0)) + 1, error_type=type(error).__name__,
                      error=(error.reason if isinstance(error, SyncError) else str(error))[:500])
        return st, None

    try:
        SqlState(rt.db).update(_key(entity, side), fn)
    except Exception:  # noqa: BLE001 - health bookkeeping never breaks a poll
        pass


def poll_state(rt: Runtime, entity: str, side: str) -> dict[str, Any]:
    return SqlState(rt.db).get(_key(entity, side)) or {}


@dataclass
class Readiness:
    ready: bool
    reasons: list[str] = field(default_factory=list)
    entities: dict[str, dict[str, Any]] = field(default_factory=dict)


def readiness(rt: Runtime, *, now: float | None = None) -> Readiness:
    from b24sync.engine.scheduler import poll_plan

    now = now or time.time()
    reasons: list[str] = []
    try:
        with rt.db.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as e:  # noqa: BLE001
        return Readiness(False, [f"the store does not answer ({type(e).__name__})"])
    entities: dict[str, dict[str, Any]] = {}
    for t in poll_plan(rt):
        st = poll_state(rt, t.entity, t.side)
        since = st.get("last_ok") or STARTED
        late = now - since > t.interval * MISSED_INTERVALS
        failing = st.get("error_type") and (st.get("last_error_at", 0) > st.get("last_ok", 0))
        verdict = "ok"
        if failing and st.get("error_type") in AUTH_ERRORS:
            verdict = "auth"
            reasons.append(f"{t.entity} ({t.side}): credentials refused — {st.get('error')}")
        elif late:
            verdict = "late"
            what = f"last error: {st.get('error')}" if failing else "no poll ran"
            reasons.append(f"{t.entity} ({t.side}): no successful poll for {now - since:.0f} s "
                           f"(interval {t.interval:.0f} s; {what})")
        entities[f"{t.entity}:{t.side}"] = {"verdict": verdict, "last_ok": st.get("last_ok"),
                                            "failures": st.get("failures", 0), "error": st.get("error")}
    with rt.db.connect() as conn:
        auth = conn.execute(select(DeadLetter.entity, func.count()).where(
            DeadLetter.resolved_at.is_(None), DeadLetter.error_type.in_(AUTH_ERRORS),
            DeadLetter.created_at >= utcnow() - timedelta(hours=1)).group_by(DeadLetter.entity)).all()
    for entity, n in auth:
        reasons.append(f"{entity}: {n} write(s) refused for credentials in the last hour")
    return Readiness(not reasons, reasons, entities)

"""What the console shows, read from the store (no HTML here): overview per entity, parked records grouped by
reason, record history by any id or key, conflicts and paused entities, the audit log."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select

from b24sync.engine.health import poll_state, readiness
from b24sync.engine.runtime import Runtime
from b24sync.store.db import utcnow
from b24sync.store.kv import SqlState
from b24sync.store.models import DeadLetter, EntityState, HistoryEntry, Job, Link

_MASK = re.compile(r"(\+?\d[\d\s\-()]{8,}\d)|([\w.+-]+@[\w-]+\.[\w.-]+)")


def mask(text: str) -> str:
    """Phones and e-mails in reasons and details are masked for the screen (ids and INNs stay readable)."""
    return _MASK.sub(lambda m: (m.group(0)[:3] + "…" + m.group(0)[-2:]) if len(m.group(0)) > 6 else "…", text)


def _aware(dt: datetime | None) -> datetime | None:
    return dt.replace(tzinfo=UTC) if dt is not None and dt.tzinfo is None else dt


def overview(rt: Runtime) -> dict[str, Any]:
    r = readiness(rt)
    now = utcnow()
    since = now - timedelta(hours=24)
    rows = []
    with rt.db.connect() as conn:
        pending = {e: (n, _aware(f)) for e, n, f in conn.execute(
            select(Job.entity, func.count(), func.min(Job.created_at)).where(Job.state == "pending")
            .group_by(Job.entity))}
        parked = {(e, k): n for e, k, n in conn.execute(
            select(DeadLetter.entity, DeadLetter.kind, func.count()).where(DeadLetter.resolved_at.is_(None))
            .group_by(DeadLetter.entity, DeadLetter.kind))}
        hours: dict[str, list[list[int]]] = {e: [[0, 0] for _ in range(24)] for e in rt.spec.entities}
        for e, at, outcome in conn.execute(select(HistoryEntry.entity, HistoryEntry.at, HistoryEntry.outcome)
                                           .where(HistoryEntry.at >= since)):
            if e in hours:
                h = min(23, int((_aware(at) - since).total_seconds() // 3600))  # type: ignore[operator]
                hours[e][h][0 if outcome == "ok" else 1] += 1
    for name, ent in rt.spec.entities.items():
        polls = {k.split(":", 1)[1]: v for k, v in r.entities.items() if k.split(":", 1)[0] == name}
        verdict = "ok"
        for v in polls.values():
            if v["verdict"] != "ok":
                verdict = v["verdict"]
        last = max((poll_state(rt, name, s).get("last_ok") or 0 for s in ("crm", "erp")), default=0)
        n, first = pending.get(name, (0, None))
        rows.append({"name": name, "title": ent.title, "direction": ent.direction, "verdict": verdict,
                     "reason": next((v.get("error") for v in polls.values() if v.get("error")), None),
                     "last_poll": datetime.fromtimestamp(last, UTC) if last else None, "pending": n,
                     "lag_s": (now - first).total_seconds() if first else None,
                     "dead": parked.get((name, "dead"), 0), "held": parked.get((name, "held"), 0),
                     "hours": hours.get(name, []), "done_24h": sum(h[0] for h in hours.get(name, [])),
                     "failed_24h": sum(h[1] for h in hours.get(name, []))})
    return {"ready": r.ready, "reasons": r.reasons, "entities": rows, "limits": limits(rt)}


def limits(rt: Runtime) -> list[dict[str, Any]]:
    """Per system of this spec: API requests (by method class), errors and seconds waited in limiters since the
    process started, and the limiters' usage now (Bitrix24 bucket and operating budget, DaData daily quota) — the
    same figures as ``b24sync_api_*`` and ``b24sync_limiter_usage_ratio`` on /metrics."""
    from b24sync.engine.metrics import api_totals

    totals = api_totals()
    out = []
    for name, a in rt.adapters.items():
        usage: dict[str, float] = {}
        for c in (getattr(a, "client", None), getattr(getattr(a, "lookup", None), "inner", None)):
            fn = getattr(c, "limiter_usage", None)
            if fn is not None:
                try:
                    usage.update(fn())
                except Exception:  # noqa: BLE001 - the state store is down: readiness says so
                    pass
        t = totals.get(name, {})
        if not usage and not t:
            continue
        out.append({"system": name, "type": rt.spec.systems[name].type if name in rt.spec.systems else "",
                    "requests": int(t.get("requests", 0)), "errors": int(t.get("errors", 0)),
                    "reads": int(t.get("requests_read", 0)), "writes": int(t.get("requests_write", 0)),
                    "batches": int(t.get("requests_batch", 0)), "wait_s": round(t.get("wait_seconds", 0.0), 1),
                    "usage": {k: round(v * 100) for k, v in sorted(usage.items())}})
    return out


def parked_groups(rt: Runtime) -> list[dict[str, Any]]:
    with rt.db.connect() as conn:
        rows = conn.execute(select(DeadLetter).where(DeadLetter.resolved_at.is_(None))
                            .order_by(DeadLetter.entity, DeadLetter.id)).all()
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for d in rows:
        key = (d.entity, d.kind, d.reason_key or d.error_type)
        g = groups.setdefault(key, {"entity": d.entity, "kind": d.kind, "reason_key": key[2],
                                    "error_type": d.error_type, "sample": mask(d.reason), "items": [],
                                    "first": _aware(d.created_at), "last": _aware(d.last_seen_at or d.created_at)})
        g["items"].append({"id": d.id, "lane": d.lane, "record": (d.payload or {}).get("id"),
                           "reason": mask(d.reason), "count": d.count or 1, "attempts": d.attempts,
                           "at": _aware(d.last_seen_at or d.created_at)})
        g["last"] = max(g["last"], _aware(d.last_seen_at or d.created_at))  # type: ignore[type-var]
    return sorted(groups.values(), key=lambda g: (-len(g["items"]), g["entity"]))


def history(rt: Runtime, q: str, limit: int = 200) -> list[dict[str, Any]]:
    """Every message that touched a record found by its id on either side, its INN / phone / number (match key)."""
    q = q.strip()
    if not q:
        return []
    with rt.db.connect() as conn:
        links = conn.execute(select(Link).where(or_(Link.crm_id == q, Link.erp_id == q,
                                                    Link.match_key.like(f"%{q}%"))).limit(20)).all()
        lanes = {f"{ln.entity}:link:{ln.id}" for ln in links}
        for ln in links:
            lanes |= {f"{ln.entity}:crm:{ln.crm_id}", f"{ln.entity}:erp:{ln.erp_id}"}
        rows = conn.execute(select(HistoryEntry).where(or_(
            HistoryEntry.lane.in_(lanes) if lanes else False, HistoryEntry.target_id == q,
            HistoryEntry.lane.like(f"%:{q}"))).order_by(HistoryEntry.id).limit(limit)).all()
    return [{"at": _aware(h.at), "entity": h.entity, "lane": h.lane, "action": h.action, "outcome": h.outcome,
             "target": h.target, "target_id": h.target_id, "ms": h.duration_ms,
             "detail": mask(_summary(h.detail))} for h in rows]


def _summary(detail: Any) -> str:
    if not detail:
        return ""
    if isinstance(detail, dict):
        parts = []
        for k, v in detail.items():
            if k == "fields" and isinstance(v, list):
                parts.append("поля: " + ", ".join(map(str, v)))
            elif k in ("reason", "why", "error"):
                parts.append(str(v)[:300])
        return "; ".join(parts) or ", ".join(sorted(map(str, detail)))[:200]
    return str(detail)[:300]


def review(rt: Runtime) -> dict[str, Any]:
    """Open proposals (engine/review.py) for the screen — names and reasons masked — and the paused entities with
    what changed in their schema (old vs new name and type)."""
    from b24sync.engine import review as rv

    props = []
    for p in rv.proposals(rt):
        props.append({"id": p.id, "kind": p.kind, "entity": p.entity, "reason": mask(p.reason), "at": _aware(p.at),
                      "keep": p.keep, "field": p.detail.get("field"),
                      "members": [{"side": m.side, "id": m.id, "role": m.role, "name": mask(m.name),
                                   "score": m.score, "evidence": [mask(e) for e in m.evidence]} for m in p.members]})
    with rt.db.connect() as conn:
        paused = conn.execute(select(EntityState).where(EntityState.paused)).all()
    return {"merges": [p for p in props if p["kind"] != "field"], "fields": [p for p in props if p["kind"] == "field"],
            "paused": [{"entity": p.entity, "reason": p.reason, "since": _aware(p.since),
                        "changes": _changes(p.detail or {})} for p in paused]}


def _changes(detail: dict[str, Any]) -> list[dict[str, Any]]:
    """What the drift check recorded: each name the spec uses, with its type before and what the system has now."""
    out = []
    for c in detail.get("changes") or []:
        out.append({"side": c.get("side"), "object": c.get("object"), "old_name": c.get("old_name"),
                    "old_type": c.get("old_type"), "new_name": c.get("new_name"), "new_type": c.get("new_type"),
                    "what": c.get("what")})
    if not out:  # paused before old/new was recorded: the problems as the check worded them
        for p in detail.get("problems") or []:
            out.append({"side": p.get("side"), "object": None, "old_name": None, "old_type": None,
                        "new_name": None, "new_type": None, "what": f"{p.get('what')} — {p.get('fix')}"})
    return out


def audit(rt: Runtime) -> list[dict[str, Any]]:
    return list(reversed((SqlState(rt.db).get("console:audit") or {}).get("entries", [])))


def log_action(rt: Runtime, role: str, action: str, target: str, count: int, client: str) -> None:
    entry = {"at": utcnow().isoformat(), "role": role, "action": action, "target": target, "count": count,
             "client": client}

    def fn(old: dict[str, Any] | None) -> tuple[dict[str, Any], None]:
        return {"entries": [*(old or {}).get("entries", [])[-4999:], entry]}, None

    SqlState(rt.db).update("console:audit", fn)

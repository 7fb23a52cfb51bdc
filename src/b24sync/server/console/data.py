"""What the console shows, read from the store (no HTML here): overview per entity, parked records grouped by
reason, record history by any id or key, conflicts and paused entities, the audit log."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Text, cast, func, or_, select

from b24sync.engine.health import poll_state, readiness
from b24sync.engine.metrics import lag_quantiles
from b24sync.engine.runtime import Runtime
from b24sync.redaction import mask_for_screen
from b24sync.store.db import utcnow
from b24sync.store.kv import SqlState
from b24sync.store.models import DeadLetter, EntityState, Fingerprint, HistoryEntry, Job, Link

def mask(text: str) -> str:
    """Real phones, e-mails and personal INNs in reasons, evidence and details are masked for the screen by the log
    redaction's rules (b24sync/redaction.py); company INNs, KPPs, deal ids, GUIDs, amounts and times stay readable."""
    return mask_for_screen(text)


def _aware(dt: datetime | None) -> datetime | None:
    return dt.replace(tzinfo=UTC) if dt is not None and dt.tzinfo is None else dt


def overview(rt: Runtime) -> dict[str, Any]:
    r = readiness(rt)
    now = utcnow()
    since = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)  # whole UTC hours, the last one now
    rows = []
    with rt.db.connect() as conn:
        pending = {e: (n, _aware(f)) for e, n, f in conn.execute(
            select(Job.entity, func.count(), func.min(Job.created_at)).where(Job.state == "pending")
            .group_by(Job.entity))}
        parked = {(e, k): n for e, k, n in conn.execute(
            select(DeadLetter.entity, DeadLetter.kind, func.count()).where(DeadLetter.resolved_at.is_(None))
            .group_by(DeadLetter.entity, DeadLetter.kind))}
        hours: dict[str, list[list[int]]] = {e: [[0, 0] for _ in range(24)] for e in rt.spec.entities}
        for e, at, outcome, action, n in conn.execute(
                select(HistoryEntry.entity, HistoryEntry.at, HistoryEntry.outcome, HistoryEntry.action, func.count())
                .where(HistoryEntry.at >= since, HistoryEntry.kind != "review")
                .group_by(HistoryEntry.entity, HistoryEntry.at, HistoryEntry.outcome, HistoryEntry.action)):
            if e not in hours or action == "deferred":  # waiting for a limit or a pause is not an error
                continue
            h = max(0, min(23, int((_aware(at) - since).total_seconds() // 3600)))  # type: ignore[operator]
            hours[e][h][0 if outcome == "ok" else 1] += n
    for name, ent in rt.spec.entities.items():
        polls = {k.split(":", 1)[1]: v for k, v in r.entities.items() if k.split(":", 1)[0] == name}
        verdict = "ok"
        for v in polls.values():
            if v["verdict"] != "ok":
                verdict = v["verdict"]
        last = max((poll_state(rt, name, s).get("last_ok") or 0 for s in ("crm", "erp")), default=0)
        n, first = pending.get(name, (0, None))
        if verdict == "ok" and parked.get((name, "dead"), 0):
            verdict = "errors"  # polls fine, but records are in the dead-letter list: not «в порядке» for an operator
        rows.append({"name": name, "title": ent.title, "direction": ent.direction, "verdict": verdict,
                     "reason": next((v.get("error") for v in polls.values() if v.get("error")), None),
                     "last_poll": datetime.fromtimestamp(last, UTC) if last else None, "pending": n,
                     "lag_s": (now - first).total_seconds() if first else None,
                     "sync_lag": lag_quantiles(name),
                     "dead": parked.get((name, "dead"), 0), "held": parked.get((name, "held"), 0),
                     "hours": hours.get(name, []), "chart": chart(hours.get(name, []), since),
                     "done_24h": sum(h[0] for h in hours.get(name, [])),
                     "failed_24h": sum(h[1] for h in hours.get(name, []))})
    return {"ready": r.ready, "reasons": r.reasons, "entities": rows, "limits": limits(rt)}


def chart(hours: list[list[int]], since: datetime, *, width: int = 480, height: int = 120) -> dict[str, Any]:
    """Geometry of a 24-hour bar chart (server-rendered SVG, no script): per hour the successes stacked under the
    errors, a scale rounded up to a readable top, hour ticks every 6 hours (UTC) and a tooltip per bar."""
    top = max([sum(h) for h in hours] + [1])
    nice = next((m * 10 ** e for e in range(0, 12) for m in (1, 2, 5) if m * 10 ** e >= top), top)
    left, bottom = 34, 18
    plot_w, plot_h = width - left - 4, height - bottom - 6
    bw = plot_w / max(1, len(hours))
    bars = []
    for i, (ok, err) in enumerate(hours):
        h_ok, h_err = ok * plot_h / nice, err * plot_h / nice
        start = since + timedelta(hours=i)
        bars.append({"x": round(left + i * bw + 1, 1), "w": round(max(1.0, bw - 2), 1),
                     "y_ok": round(6 + plot_h - h_ok, 1), "h_ok": round(h_ok, 1),
                     "y_err": round(6 + plot_h - h_ok - h_err, 1), "h_err": round(h_err, 1), "ok": ok, "err": err,
                     "label": f"{start:%H:%M}–{start + timedelta(hours=1):%H:%M} UTC"})
    ticks = [{"x": round(left + i * bw, 1), "label": f"{since + timedelta(hours=i):%H:%M}"}
             for i in range(0, len(hours), 6)]
    return {"w": width, "h": height, "left": left, "base": 6 + plot_h, "top_y": 6, "mid_y": round(6 + plot_h / 2, 1),
            "top": nice, "mid": nice // 2 if nice % 2 == 0 else nice / 2, "bars": bars, "ticks": ticks,
            "right": width - 4, "empty": not any(sum(h) for h in hours)}


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


def active(rt: Runtime, limit: int = 100) -> dict[str, Any]:
    """The live queue: per entity pending (ready now), backing off (waiting for their next attempt after an error)
    and running; the backing-off jobs themselves with their next attempt and last error (masked), soonest first."""
    now = utcnow()
    per: dict[str, dict[str, int]] = {}
    with rt.db.connect() as conn:
        for entity, state, retrying, n in conn.execute(
                select(Job.entity, Job.state, Job.attempts > 0, func.count())
                .group_by(Job.entity, Job.state, Job.attempts > 0)):
            row = per.setdefault(entity, {"pending": 0, "backing_off": 0, "running": 0})
            key = "running" if state == "running" else ("backing_off" if retrying else "pending")
            row[key] += n
        waiting = conn.execute(select(Job).where(Job.state == "pending", Job.attempts > 0)
                               .order_by(Job.run_at).limit(limit)).all()
    return {"per_entity": sorted(per.items()),
            "backing_off": [{"id": j.id, "entity": j.entity, "record": (j.payload or {}).get("id"),
                             "attempts": j.attempts, "next_in": max(0.0, (_aware(j.run_at) - now).total_seconds()),
                             "error": mask((j.last_error or "")[:500])} for j in waiting]}


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
    q = q.strip()[:200]
    if not q:
        return []
    variants = _variants(q)
    with rt.db.connect() as conn:
        links = conn.execute(select(Link).where(or_(
            Link.crm_id.in_(variants), Link.erp_id.in_(variants),
            *[Link.match_key.like(f"%{_like(v)}%", escape="\\") for v in variants if len(v) >= 3]))
            .limit(20)).all()
        # a phone, e-mail or document number we wrote into a record (the last values written, per record)
        written = conn.execute(select(Fingerprint.entity, Fingerprint.side, Fingerprint.record_id).where(or_(
            *[cast(Fingerprint.written_values, Text).like(f"%{_like(v)}%", escape="\\") for v in variants
              if len(v) >= 5] or [False])).limit(20)).all()
        if written:
            links += conn.execute(select(Link).where(or_(*[
                (Link.crm_id if side == "crm" else Link.erp_id) == rid for _e, side, rid in written]))).all()
        lanes = {f"{ln.entity}:link:{ln.id}" for ln in links}
        lanes |= {f"{e}:{side}:{rid}" for e, side, rid in written}
        for ln in links:
            lanes |= {f"{ln.entity}:crm:{ln.crm_id}", f"{ln.entity}:erp:{ln.erp_id}"}
        # a document number or phone that is no match key: the messages whose details name it (a write-back of
        # the 1C order number, a hold naming the phone)
        texts = [cast(HistoryEntry.detail, Text).like(f"%{_like(v)}%", escape="\\") for v in variants if len(v) >= 5]
        rows = conn.execute(select(HistoryEntry).where(or_(
            HistoryEntry.lane.in_(lanes) if lanes else False, HistoryEntry.target_id.in_(variants),
            *[HistoryEntry.lane.like(f"%:{_like(v)}", escape="\\") for v in variants], *texts))
            .order_by(HistoryEntry.id).limit(limit)).all()
    return [{"at": _aware(h.at), "entity": h.entity, "lane": h.lane, "action": h.action, "outcome": h.outcome,
             "target": h.target, "target_id": h.target_id, "ms": h.duration_ms,
             "detail": mask(_summary(h.detail))} for h in rows]


def _like(v: str) -> str:
    return v.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _variants(q: str) -> list[str]:
    """The query as typed and as the store keeps keys: digits only (an INN typed with spaces), a phone in E.164."""
    out = [q]
    digits = re.sub(r"\D", "", q)
    if digits and digits != q and len(digits) >= 5:
        out.append(digits)
    from b24sync.matching.cards import normalize_phone

    if len(digits) >= 10:
        e164 = normalize_phone(q)
        if e164:
            out += [e164, e164.lstrip("+")]
    return list(dict.fromkeys(out))


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
                                   "score": m.score, "evidence": [mask(e) for e in m.evidence]}
                                  for m in p.members],
                      **(_version_evidence(p.detail) if p.kind == "version" else {})})
    with rt.db.connect() as conn:
        paused = conn.execute(select(EntityState).where(EntityState.paused)).all()
    return {"merges": [p for p in props if p["kind"] not in ("field", "version")],
            "fields": [p for p in props if p["kind"] == "field"],
            "versions": [p for p in props if p["kind"] == "version"],
            "paused": [{"entity": p.entity, "reason": p.reason, "since": _aware(p.since),
                        "changes": _changes(p.detail or {})} for p in paused]}


def _shown(v: Any) -> str:
    """A value of a version conflict for the screen: phones, e-mails and personal INNs masked."""
    if v is None or v == "":
        return "—"
    return mask(v if isinstance(v, str) else str(v))


def _version_evidence(detail: dict[str, Any]) -> dict[str, Any]:
    """Per field our value, the target's value now and when we read it (masked), and both versions."""
    return {"rows": [{"field": f.get("field"), "ours": _shown(f.get("ours")), "theirs": _shown(f.get("theirs")),
                      "before": _shown(f.get("before"))} for f in detail.get("fields") or []],
            "read_version": detail.get("read_version"), "current_version": detail.get("current_version")}


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

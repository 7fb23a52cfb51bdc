"""Bitrix24 automation robots as manual triggers (connectors/bitrix24/robots.py for the wire facts).

``POST /bitrix24/<system>/robots`` — the portal calls it when a workflow reaches one of our robots on a CRM card:

1. checked like an event (the same ``EventVerifier``: ``auth[application_token]`` against the configured tokens /
   the one stored at ONAPPINSTALL, constant time; ``member_id`` pinned when configured). A call without a token or
   with another one gets 401 and one log line (robot code, member_id, client address — never a token);
2. ``document_id`` (``COMPANY_12``) names the card; the entities on this portal with a ``robot:`` trigger of that
   code and that document type get a sync job — ``side: crm`` syncs the card to the ERP, ``side: erp`` re-reads the
   linked ERP record — forced past the fingerprints (a person asked) and ahead of the poll backlog;
3. the event token is recorded in the store's inbox in the same transaction (a repeated call is a duplicate) and
   the call waits in the store (``kv`` ``robot:<system>:…``) for its jobs.

``answer_robots`` (run by ``b24sync run``, one process at a time by a store lease) answers each waiting call once
all its jobs have ended: ``bizproc.event.send {EVENT_TOKEN, RETURN_VALUES: {result, message, target_id},
LOG_MESSAGE}`` with the outcome in Russian (created / updated / unchanged / held with its reason / failed with
its reason). A worker killed mid-job does not lose the answer: the job's lease expires, another worker finishes it,
then the answer goes out. A token the portal no longer knows (the robot timed out) is dropped with a log line."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import time
import uuid
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import delete, insert, select, update

from b24sync.connectors.bitrix24.events import (_TOKEN_IN_FORM, BadEvent, Event, EventVerifier, _max_body,
                                                _text, decode_event_body)
from b24sync.connectors.bitrix24.robots import document_type, record_of
from b24sync.engine.runtime import Runtime
from b24sync.engine.enqueue import enqueue_sync
from b24sync.messages import t
from b24sync.server.intake import seen_before
from b24sync.store import identity, leases
from b24sync.store.db import utcnow
from b24sync.store.models import HistoryEntry, Job, KeyValue

log = structlog.get_logger("b24sync.bitrix24.robots")
PREFIX = "robot:"
LEASE = "bitrix24-robot-answers"
GIVE_UP_SECONDS = 24 * 3600  # an answer that cannot be delivered for a day is dropped (the robot timed out)


def has_robots(rt: Runtime, system: str | None = None) -> bool:
    return any(tr.robot is not None and (system is None or rt.spec.system_for(e, "crm") == system)
               for e in rt.spec.entities.values() for tr in e.triggers)


def _targets(rt: Runtime, system: str, code: str, kind: str) -> list[tuple[str, str]]:
    """(entity, side) of the entities on ``system`` whose robot ``code`` runs on documents of ``kind``."""
    out = []
    for name, e in rt.spec.entities.items():
        if rt.spec.system_for(e, "crm") != system:
            continue
        doc = document_type(e.crm.object)
        if doc is None or doc[2] != kind:
            continue
        for tr in e.triggers:
            if tr.robot is not None and tr.robot.code == code:
                out.append((name, tr.robot.side))
    return out


def _key(system: str, token: str) -> str:
    return f"{PREFIX}{system}:{hashlib.sha256(token.encode()).hexdigest()[:40]}"


def accept_robot_call(rt: Runtime, system: str, *, code: str, kind: str, record_id: str, token: str,
                      user_id: str | None) -> dict[str, Any]:
    """Enqueue the call's jobs and park it until they end; returns what was done (for the log and the reply)."""
    targets = _targets(rt, system, code, kind)
    now = utcnow()
    with rt.db.begin() as conn:
        if seen_before(conn, f"robot:{system}", hashlib.sha256(token.encode()).hexdigest()):
            return {"duplicate": True, "jobs": []}
        job_ids: list[int] = []
        notes: list[str] = []
        for name, side in targets:
            scope = rt.spec.scope(name)
            rid = record_id
            if side == "erp":
                b = identity.find(conn, scope, "crm", record_id)
                if b is None or not b.erp_id:
                    notes.append(t("robot.answer.not_linked"))
                    continue
                rid = b.erp_id
            jid = enqueue_sync(conn, name, side, rid, force=True, reason=f"robot {code}", scope=scope)
            conn.execute(update(Job).where(Job.id == jid, Job.state == "pending").values(priority=10))
            job_ids.append(jid)
        if not targets:
            notes.append(t("robot.answer.no_entity", code=code))
        value = {"token": token, "system": system, "code": code, "document": f"{kind}_{record_id}",
                 "jobs": job_ids, "notes": notes, "user_id": user_id, "at": time.time(), "tries": 0}
        conn.execute(insert(KeyValue).values(key=_key(system, token), value=value, version=0, updated_at=now))
    return {"duplicate": False, "jobs": job_ids, "notes": notes}


def robot_route(rt: Runtime, system: str, verifier: EventVerifier, router: APIRouter) -> None:
    limit = _max_body()

    @router.post(f"/bitrix24/{system}/robots")
    async def robot_call(request: Request) -> JSONResponse:
        client = request.client.host if request.client else "?"
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return JSONResponse({"error": f"body over {limit} bytes"}, status_code=413)
        buf = bytearray()
        async for chunk in request.stream():
            buf += chunk
            if len(buf) > limit:
                return JSONResponse({"error": f"body over {limit} bytes"}, status_code=413)
        body, ctype = bytes(buf), request.headers.get("content-type", "")
        if "json" not in ctype:
            m = _TOKEN_IN_FORM.search(body)
            if m is None or not m.group(1):
                log.warning("bitrix24 robot call rejected: no application_token", system=system, client=client)
                return JSONResponse({"error": "unauthorized"}, status_code=401)
        try:
            raw = await asyncio.to_thread(decode_event_body, body, ctype)
        except BadEvent as exc:
            log.warning("bitrix24 robot call refused", reason=str(exc), system=system, client=client)
            return JSONResponse({"error": f"malformed robot call: {exc}"}, status_code=400)
        auth = raw.get("auth") if isinstance(raw.get("auth"), dict) else {}
        auth = {k: v for k, v in auth.items() if isinstance(k, str) and isinstance(v, str)}
        code = _text(raw.get("code"), 64) or ""
        ev = Event(name="ROBOT", data={}, ts=None, handler_id=None, member_id=_text(auth.get("member_id")),
                   domain=_text(auth.get("domain")), auth=auth)
        if not await verifier.verify(ev):
            log.warning("bitrix24 robot call rejected: application_token mismatch", system=system,
                        code=code[:64] or "-", member_id=ev.member_id or "-", client=client)
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        ev.register_secrets()
        token = _text(raw.get("event_token"), 512) or ""
        doc = record_of(raw.get("document_id"))
        if not code or not token or doc is None:
            log.warning("bitrix24 robot call refused: needs code, event_token and a CRM document_id",
                        system=system, code=code or "-", client=client)
            return JSONResponse({"error": "code, event_token and document_id (crm, …, COMPANY_12) are required"},
                                status_code=400)
        register = _text(auth.get("user_id"), 20)
        res = await asyncio.to_thread(accept_robot_call, rt, system, code=code, kind=doc[0], record_id=doc[1],
                                      token=token, user_id=register)
        log.info("bitrix24 robot call", system=system, code=code, document=f"{doc[0]}_{doc[1]}",
                 jobs=len(res["jobs"]), duplicate=res["duplicate"])
        return JSONResponse({"ok": True, "jobs": len(res["jobs"])})


# ---- answers --------------------------------------------------------------------------------------------------


def _final(rows: list[Any]) -> Any | None:
    done = [r for r in rows if r.outcome != "retry"]
    return done[-1] if done else None


def compose_answer(rows_by_job: dict[int, list[Any]], notes: list[str]) -> dict[str, str]:
    """RETURN_VALUES for the robot from the final history line of each job (worst outcome first)."""
    finals = [f for f in (_final(r) for r in rows_by_job.values()) if f is not None]
    texts = list(notes)
    result = "skipped" if notes and not finals else "ok"
    target_id = ""
    rank = {"failed": 3, "held": 2, "ok": 1, "skipped": 0}
    for f in finals:
        detail = f.detail or {}
        reason = str(detail.get("reason") or detail.get("why") or "")
        if f.outcome == "failed":
            texts.append(t("robot.answer.failed", reason=reason or f.action))
        elif f.outcome == "held":
            texts.append(t("robot.answer.held", reason=reason or f.action))
        elif f.action in ("created", "updated", "linked"):
            texts.append(t("robot.answer.ok", what=t(f"robot.action.{f.action}")))
        elif f.action in ("unchanged", "skipped", "echo") and f.outcome in ("ok", "skipped"):
            texts.append(t("robot.answer.ok", what=t("robot.action.unchanged")) if not reason
                         else t("robot.answer.skipped", reason=reason))
        else:
            texts.append(t("robot.answer.ok", what=t("robot.action.other", action=f.action)))
        outcome = f.outcome if f.outcome in rank else "ok"
        if rank[outcome] > rank.get(result, 0) or result == "skipped":
            result = outcome
        target_id = target_id or str(f.target_id or "")
    return {"result": result, "message": "; ".join(texts) or t("robot.answer.ok", what="—"), "target_id": target_id}


def _waiting(rt: Runtime) -> list[tuple[str, dict[str, Any]]]:
    with rt.db.connect() as conn:
        return [(r.key, dict(r.value)) for r in conn.execute(select(KeyValue.key, KeyValue.value)
                                                             .where(KeyValue.key.like(f"{PREFIX}%")))]


def _ready(rt: Runtime, call: dict[str, Any]) -> dict[int, list[Any]] | None:
    """The history of the call's jobs once none of them is queued or running any more; None while one is."""
    ids = [int(j) for j in call.get("jobs") or []]
    with rt.db.connect() as conn:
        if ids and conn.execute(select(Job.id).where(Job.id.in_(ids)).limit(1)).first():
            return None
        rows = conn.execute(select(HistoryEntry).where(HistoryEntry.job_id.in_(ids)).order_by(HistoryEntry.id)).all() \
            if ids else []
    out: dict[int, list[Any]] = {i: [] for i in ids}
    for r in rows:
        out[int(r.job_id)].append(r)
    return out


def _forget(rt: Runtime, key: str) -> None:
    with rt.db.begin() as conn:
        conn.execute(delete(KeyValue).where(KeyValue.key == key))


def _retry_later(rt: Runtime, key: str, call: dict[str, Any]) -> None:
    call["tries"] = int(call.get("tries") or 0) + 1
    with rt.db.begin() as conn:
        conn.execute(update(KeyValue).where(KeyValue.key == key).values(value=call, updated_at=utcnow()))


async def answer_once(rt: Runtime) -> int:
    """Answer every waiting robot call whose jobs have ended; returns how many were answered."""
    from b24sync.connectors.bitrix24.errors import Bitrix24Error

    answered = 0
    for key, call in await asyncio.to_thread(_waiting, rt):
        hist = await asyncio.to_thread(_ready, rt, call)
        if hist is None:
            continue
        values = compose_answer(hist, list(call.get("notes") or []))
        adapter = rt.adapters.get(call.get("system") or "")
        client = getattr(adapter, "client", None)
        if client is None:
            log.warning("robot answer dropped: no Bitrix24 client", system=call.get("system"))
            await asyncio.to_thread(_forget, rt, key)
            continue
        try:
            await client.call("bizproc.event.send", {"EVENT_TOKEN": call["token"], "RETURN_VALUES": values,
                                                     "LOG_MESSAGE": values["message"]}, batch=False)
        except Bitrix24Error as e:
            code = str(getattr(e, "code", "") or "")
            if "TOKEN" in code.upper() or "NOT_FOUND" in code.upper() or "404" in str(e):
                log.warning("robot answer dropped: the portal no longer waits for it", code=call.get("code"),
                            document=call.get("document"), error=str(e))
                await asyncio.to_thread(_forget, rt, key)
                continue
            if time.time() - float(call.get("at") or 0) > GIVE_UP_SECONDS:
                log.error("robot answer dropped after a day of failures", code=call.get("code"),
                          document=call.get("document"), error=str(e))
                await asyncio.to_thread(_forget, rt, key)
                continue
            log.warning("robot answer failed; will retry", code=call.get("code"), error=str(e))
            await asyncio.to_thread(_retry_later, rt, key, call)
            continue
        log.info("robot answered", code=call.get("code"), document=call.get("document"), result=values["result"])
        await asyncio.to_thread(_forget, rt, key)
        answered += 1
    return answered


async def answer_robots(rt: Runtime, *, every: float = 0.5, lease_seconds: float = 10.0,
                        stop: asyncio.Event | None = None) -> None:
    """``b24sync run``'s answerer: one process at a time (a store lease), every ``every`` seconds."""
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    stop = stop or asyncio.Event()
    try:
        while not stop.is_set():
            if await asyncio.to_thread(leases.acquire, rt.db, LEASE, owner, seconds=lease_seconds):
                try:
                    await answer_once(rt)
                except Exception as e:  # noqa: BLE001 - the store or the portal hiccupped: next round
                    log.warning("robot answers failed", error=f"{type(e).__name__}: {e}")
            try:
                await asyncio.wait_for(stop.wait(), timeout=every)
            except TimeoutError:
                pass
    finally:
        await asyncio.to_thread(leases.release, rt.db, owner, LEASE)


def tasks(rt: Runtime) -> list:
    return [answer_robots(rt)] if has_robots(rt) else []

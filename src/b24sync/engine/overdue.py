"""Overdue notices, declared as an entity's ``overdue:`` (spec.models.Overdue): once a day, every CRM record of the
entity that is past its due date with something left to pay gets one notification to its responsible person —
«Счёт № 00УТ-000012 просрочен на 3 дн., остаток 150 000 ₽ (срок оплаты 30.11.2026)».

* **sweep** (driven by the scheduler, engine/scheduler.py): at or after ``at`` local time (``timezone``, Europe/Moscow
  by default), once per local day and entity, one ``overdue`` job per candidate record is enqueued together with the
  day's marker (cursor ``sweep:overdue:ENTITY``) in one transaction. Candidates are the records b24sync knows: the
  entity's identity links (CRM side) and the targets of its payment ledger. A day missed while no process ran is
  swept when one starts; earlier days are not made up (yesterday's notice is stale).
* **remind** (kind ``overdue``, one lane per record): the record is read as it is now; a skipped stage (paid,
  cancelled), no due date, not yet due or nothing left to pay (total − the ledger's counted sum, or the ``paid``
  field) sends nothing. Otherwise the effect ``overdue:ENTITY:ID:DAY`` goes through the effects ledger
  (engine/effects.py): one notice per record and day, whatever workers, restarts and replays do.

A lost answer: Bitrix24 offers no read-back of the notifications sent to another user, so a pending effect cannot
be looked up. The retry sends again — *at most one lost-answer duplicate* — with the same ``TAG``
(``b24sync:overdue:ENTITY:ID``), and a new notification with an existing tag removes the older ones (document-flows.md
A.10), so the manager's list holds one notice (and yesterday's is replaced by today's). Nothing is ever lost: the
other reading, marking before the send, could drop a day's notice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, delete, select

from b24sync.engine import effects, paths
from b24sync.engine.errors import HoldError, PermanentError
from b24sync.engine.runtime import Outcome, Runtime
from b24sync.messages import t
from b24sync.spec.models import Overdue
from b24sync.store import cursors
from b24sync.store import queue as jobs
from b24sync.store.models import AggPart, Effect, Link
from b24sync.store.queue import ClaimedJob

KIND = "overdue"
KEEP_DAYS = 14  # the day effects older than this are pruned by the sweep

# The clock of the sweep and the reminders. Tests replace it to play several days.
clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def local_now(od: Overdue, now: datetime | None = None) -> datetime:
    return (now or clock()).astimezone(ZoneInfo(od.timezone))


def sweep_name(entity: str) -> str:
    return f"sweep:overdue:{entity}"


def ledgers(rt: Runtime, entity: str) -> list[str]:
    from b24sync.spec.checks import overdue_ledgers

    return overdue_ledgers(rt.spec, entity)


def sweep(rt: Runtime, entity: str, *, now: datetime | None = None) -> int:
    """Enqueue the day's reminders of ``entity`` if its sweep is due and was not done today; returns how many."""
    od = rt.entity(entity).overdue
    assert od is not None
    local = local_now(od, now)
    hh, mm = (int(x) for x in od.at.split(":"))
    if local.time() < time(hh, mm):
        return 0
    day = local.date().isoformat()
    name = sweep_name(entity)
    with rt.db.begin() as conn:
        if (cursors.get(conn, name) or {}).get("day") == day:
            return 0
        ids = _candidates(conn, rt, entity)
        for rid in ids:
            jobs.enqueue(conn, kind=KIND, entity=entity, lane=f"overdue:{entity}:{rid}"[:200],
                         payload={"id": rid, "day": day}, dedup_key=f"overdue:{entity}:{rid}:{day}"[:200])
        cursors.put(conn, name, {"day": day, "records": len(ids)})
        cutoff = (now or clock()).astimezone(UTC) - timedelta(days=KEEP_DAYS)
        conn.execute(delete(Effect).where(Effect.key.like(f"overdue:{entity}:%"), Effect.created_at < cutoff))
    return len(ids)


def _candidates(conn: Connection, rt: Runtime, entity: str) -> list[str]:
    scope = rt.spec.scope(entity)
    ids = {i for (i,) in conn.execute(select(Link.crm_id).where(Link.entity == scope, Link.crm_id.is_not(None)))}
    for led in ledgers(rt, entity):
        prefix = f"{entity}:"
        ids |= {tg[len(prefix):] for (tg,) in conn.execute(
            select(AggPart.target).where(AggPart.ledger == led, AggPart.target.like(prefix + "%")).distinct())}
    return sorted(ids, key=lambda i: (len(i), i))


def _paid(rt: Runtime, entity: str, rid: str) -> Decimal:
    from b24sync.engine.aggregate import counted_parts

    with rt.db.connect() as conn:
        return sum((a for led in ledgers(rt, entity) for _, a, _, _ in counted_parts(conn, led, f"{entity}:{rid}")),
                   Decimal(0))


async def remind(rt: Runtime, job: ClaimedJob) -> Outcome:
    from b24sync.engine.aggregate import _amount_of, _day, _dec, money, ru_date

    entity = rt.entity(job.entity)
    od = entity.overdue
    if od is None:
        return Outcome("skipped", detail={"why": "the entity no longer declares overdue notices"})
    rid, day = str(job.payload["id"]), date.fromisoformat(job.payload["day"])
    adapter, obj = rt.adapter(entity, "crm"), rt.objref(entity, "crm")
    rec = await adapter.get(obj, rid)
    if rec is None or rec.deleted:
        return Outcome("skipped", detail={"why": "gone"})
    values = rec.values

    def skip(why: str, **more: Any) -> Outcome:
        return Outcome("skipped", target="crm", target_id=rid, detail={"why": why, **more})

    stage = values.get(od.stage)
    if stage is not None and str(stage) in od.skip_stages:
        return skip("final stage", stage=stage)
    due_s = _day(values.get(od.due))
    try:
        due = date.fromisoformat(due_s) if due_s else None
    except ValueError:
        due = None
    if due is None:
        return skip("no due date")
    days = (day - due).days
    if days < 1:
        return skip("not overdue", due=due.isoformat())
    total = _dec(_amount_of(values.get(od.total)), field=od.total, this=f"{obj.object} {rid}")
    if od.paid is not None:
        paid = _dec(_amount_of(values.get(od.paid)), field=od.paid, this=f"{obj.object} {rid}")
    else:
        paid = await asyncio.to_thread(_paid, rt, job.entity, rid)
    balance = total - paid
    if balance <= 0:
        return skip("paid", total=str(total), paid=str(paid))
    number = next((str(v) for f in od.number if not paths.empty(v := values.get(f))), rid)
    user = values.get(od.who)
    try:
        uid = int(str(user))
    except ValueError:
        uid = 0
    if uid <= 0:
        raise HoldError(t("overdue.no_manager", number=number, field=od.who))
    notify = getattr(adapter, "notify", None)  # engine.ports.Notifier
    if notify is None:
        raise PermanentError(f"the CRM adapter of {job.entity} cannot notify users")
    text = t("overdue.notice", number=number, days=days, balance=money(balance), due=ru_date(due.isoformat()))
    tag = f"b24sync:overdue:{job.entity}:{rid}"

    async def do() -> Any:
        return await (notify(str(uid), text, tag=tag, personal=True) if od.personal else notify(str(uid), text, tag=tag))

    key = f"overdue:{job.entity}:{rid}:{day.isoformat()}"
    sent = await effects.once(rt, key, do, None, data={"days": days, "balance": str(balance), "user": uid})
    return Outcome("notified" if sent else "unchanged", target="crm", target_id=rid,
                   detail={"days": days, "balance": str(balance), "user": uid, "day": day.isoformat()})


def sweep_all(rt: Runtime, *, now: datetime | None = None) -> int:
    """Every entity's sweep that is due (the scheduler calls this every minute and once in ``run --once``)."""
    return sum(sweep(rt, n, now=now) for n, e in rt.spec.entities.items()
               if e.overdue is not None and n not in rt.refused)

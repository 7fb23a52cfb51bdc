"""Credit limits: the open deals of a client whose debt is over its limit wait in a stage until the debt falls —
declared as an entity's ``credit_control`` (spec.models.CreditControl), never per-flow code (docs/flow-credit.md).

The entity reads the ERP's debt per counterparty (``erp.object``: ``counterparty_credit`` of 1C, or any object with
a debt field) and watches the CRM's deals (``crm.object: crm.deal``). Two job kinds, one rule:

* **client** (an ERP-side job: the debt, its overdue part or the limit changed, or a poll saw it): the counterparty
  → the Bitrix24 company through the links of the entity ``company``; the limit is the ERP record's field
  (``limit.erp``: the УТ contracts' allowed debt, document-flows.md B.8) and, where the ERP has none, the company's
  field (``limit.crm``). Over = debt > limit (1C's ДопустимаяСуммаЗадолженности is the debt *allowed*: at the limit
  is not over); with ``overdue_forbidden`` (the contract allows no overdue debt) any overdue debt is over too. The
  decision is stored per company, and every deal that needs a move (over: the open deals of a
  watched pipeline; not over: the deals this rule holds) gets a deal job — in that deal's lane, so one deal's moves
  never run in parallel.
* **deal** (a CRM-side job: a deal was created or changed — webhook ``ONCRMDEALADD``/``ONCRMDEALUPDATE`` or a
  ``side: crm`` poll): Bitrix24 cannot refuse a deal's creation (no veto hook, document-flows.md E.25), so a new deal
  of an over-limit client is moved into the waiting stage at once; a held deal a person moves out while the client is
  still over is put back, with one timeline note per move; a held deal someone closes (won / lost) is let go.

Every suspension remembers the stage the deal came from (the effects table, ``credit:<entity>:deal:<id>``, written
*before* the deal is moved, so a crash in between still knows it) and is one *episode*: the manager's notice of that
episode goes through the effects ledger (engine/effects.py) — once, whatever polls, replays and retries do; the
notice's ``TAG`` makes a repeat after a lost answer replace the first on the portal instead of adding a second. Our
stage writes are remembered as our own (engine/stages.py), so no ``stage_change`` trigger fires on them, and shared
with an entity that also writes the stage (the order status → stage entity does not take them for manual edits).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import delete, select

from b24sync.engine import effects, stages
from b24sync.engine.ports import ObjectRef, Record
from b24sync.engine.runtime import Outcome, Runtime
from b24sync.engine.target_values import resolver
from b24sync.messages import t
from b24sync.spec.models import CreditControl, Entity
from b24sync.store.models import Effect
from b24sync.store.queue import ClaimedJob

STAGE = "STAGE_ID"


async def handle(rt: Runtime, job: ClaimedJob) -> Outcome:
    entity = rt.entity(job.entity)
    cc = entity.credit_control
    assert cc is not None
    if job.payload.get("side") == "erp":
        return await client_changed(rt, job, entity, cc)
    return await deal_changed(rt, job, entity, cc)


# ---- values ------------------------------------------------------------------------------------------------------


def amount(value: Any) -> Decimal | None:
    """A number, a numeric string or a Bitrix24 money value ``"1500.00|RUB"``; empty → None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).partition("|")[0].replace(" ", "").replace("\u00a0", "").replace(",", ".")
    try:
        d = Decimal(text)
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


def hold_stage(cc: CreditControl, category: Any) -> str:
    """The waiting stage of a pipeline: ``UC_CREDIT_HOLD`` in pipeline 0, ``C1:UC_CREDIT_HOLD`` in pipeline 1 (the
    portal prefixes a custom pipeline's stages, crm.status.add)."""
    cat = int(category or 0)
    return cc.stage if cat == 0 else f"C{cat}:{cc.stage}"


def is_open(values: dict[str, Any]) -> bool:
    """Not won, not lost: ``STAGE_SEMANTIC_ID`` P (process) where the deal carries it, else ``CLOSED`` N, else a
    stage id that is not ``WON`` / ``LOSE`` (bitrix24-rest.md §6.4 stage semantics)."""
    sem = values.get("STAGE_SEMANTIC_ID")
    if sem:
        return str(sem) == "P"
    closed = values.get("CLOSED")
    if closed:
        return str(closed) != "Y"
    return not str(values.get(STAGE) or "").split(":")[-1] in ("WON", "LOSE")


@dataclass
class Status:
    debt: Decimal
    limit: Decimal | None
    overdue: Decimal | None
    client: str  # the company's title, for the texts
    no_overdue: bool = False  # the contract allows no overdue debt (ЗапрещаетсяПросроченнаяЗадолженность, B.8)

    @property
    def over_limit(self) -> bool:
        return self.limit is not None and self.debt > self.limit

    @property
    def overdue_banned(self) -> bool:
        return self.no_overdue and self.overdue is not None and self.overdue > 0

    @property
    def over(self) -> bool:
        return self.over_limit or self.overdue_banned

    def to_json(self) -> dict[str, Any]:
        return {"over": self.over, "debt": str(self.debt), "limit": None if self.limit is None else str(self.limit),
                "overdue": None if self.overdue is None else str(self.overdue), "client": self.client,
                "no_overdue": self.no_overdue}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Status | None:
        if not data:
            return None
        return cls(Decimal(data["debt"]), amount(data.get("limit")), amount(data.get("overdue")),
                   str(data.get("client") or ""), bool(data.get("no_overdue")))


def _client_key(name: str, company: str) -> str:
    return f"credit:{name}:client:{company}"


def _deal_key(name: str, deal: str) -> str:
    return f"credit:{name}:deal:{deal}"


def _money(d: Decimal | None) -> str:
    from b24sync.engine.aggregate import money

    return "—" if d is None else money(d)


# ---- the client: debt and limit ------------------------------------------------------------------------------------


async def _company(rt: Runtime, cc: CreditControl, company: str) -> Record | None:
    via = rt.entity(cc.company)
    return await rt.adapter(via, "crm").get(ObjectRef(via.crm.object.split("+", 1)[0]), company)


async def status_of(rt: Runtime, cc: CreditControl, company: str, values: dict[str, Any]) -> Status:
    debt = amount(values.get(cc.debt)) or Decimal(0)
    overdue = amount(values.get(cc.overdue)) if cc.overdue else None
    limit = amount(values.get(cc.limit.erp)) if cc.limit.erp else None
    card = await _company(rt, cc, company)
    if limit is None and cc.limit.crm and card is not None:
        limit = amount(card.values.get(cc.limit.crm))
    title = str((card.values.get("TITLE") if card else None) or f"#{company}")
    banned = cc.overdue_forbidden is not None and values.get(cc.overdue_forbidden) in (True, "true", "Y", 1, "1")
    return Status(debt, limit, overdue, title, banned)


def _marker(name: str, company: str, deal: str) -> str:
    """A held deal's entry under its client (``credit:<entity>:held:<company>:<deal>``): the client job finds the
    deals it holds by a key prefix, reading only this client's entries (not every suspension ever made)."""
    return f"credit:{name}:held:{company}:{deal}"


def _held_of(rt: Runtime, name: str, company: str) -> list[str]:
    """The deals this rule holds for a company."""
    prefix = _marker(name, company, "")
    with rt.db.connect() as conn:
        keys = conn.execute(select(Effect.key).where(Effect.key.like(prefix.replace("_", r"\_") + "%", escape="\\"))
                            ).scalars().all()
    return [k[len(prefix):] for k in keys if k.startswith(prefix)]


def _hold(rt: Runtime, name: str, deal: str, data: dict[str, Any]) -> None:
    """Remember a suspension (and its entry under the client) — or its end, with ``active`` false."""
    with rt.db.begin() as conn:
        effects.put_in(conn, _deal_key(name, deal), data)
        marker = _marker(name, str(data.get("company") or ""), deal)
        if data.get("active"):
            effects.put_in(conn, marker, {})
        else:
            conn.execute(delete(Effect).where(Effect.key == marker))


async def client_changed(rt: Runtime, job: ClaimedJob, entity: Entity, cc: CreditControl) -> Outcome:
    """Decide for the client and hand each deal that needs a move to its own job: every change of one deal runs in
    that deal's lane (the deal's webhook and poll jobs too), so a suspension is never made twice in parallel."""
    erp_id = str(job.payload["id"])
    snap = job.payload.get("snapshot")
    if snap is not None:
        values = snap["values"]
    else:
        rec = await rt.adapter(entity, "erp").get(rt.objref(entity, "erp"), erp_id)
        values = rec.values if rec is not None else {}
    company = await asyncio.to_thread(resolver(rt), cc.company, "erp", erp_id)
    if company is None:
        return Outcome("skipped", detail={"why": f"counterparty {erp_id} is linked to no Bitrix24 company "
                                                 f"(entity {cc.company})"})
    status = await status_of(rt, cc, company, values)
    _, _, prev = await asyncio.to_thread(effects.state, rt, _client_key(job.entity, company))
    held = await asyncio.to_thread(_held_of, rt, job.entity, company)
    todo: list[str] = []
    if status.over or held or (prev and prev.get("over")):
        adapter = rt.adapter(entity, "crm")
        for deal in await adapter.find(rt.objref(entity, "crm"), {"COMPANY_ID": company}):
            v = deal.values
            cat = int(v.get("CATEGORY_ID") or 0)
            in_hold = str(v.get(STAGE) or "") == hold_stage(cc, cat)
            if status.over and cat in cc.pipelines and is_open(v) and not in_hold and v.get(STAGE) not in cc.leave:
                todo.append(deal.id)  # to be suspended
            elif not status.over and in_hold:
                todo.append(deal.id)  # to be released (if it is ours)
        todo += [d for d in held if d not in todo and not status.over]
    name, scope, data = job.entity, rt.spec.scope(job.entity), status.to_json()

    def effects_(conn: Any) -> None:
        from b24sync.engine.enqueue import enqueue_sync_many

        effects.put_in(conn, _client_key(name, company), data)  # what the deal jobs decide by
        if todo:
            enqueue_sync_many(conn, name, "crm", [(d, None) for d in todo], scope=scope,
                              reason=f"credit: client {'over' if status.over else 'within'} its limit")

    action = ("suspending" if status.over else "releasing") if todo else "unchanged"
    return Outcome(action, target="crm", target_id=company, effects=effects_,
                   detail={"debt": str(status.debt), "limit": None if status.limit is None else str(status.limit),
                           "over": status.over, "deals": todo})


# ---- the deal ------------------------------------------------------------------------------------------------------


async def deal_changed(rt: Runtime, job: ClaimedJob, entity: Entity, cc: CreditControl) -> Outcome:
    deal_id = str(job.payload["id"])
    snap = job.payload.get("snapshot")
    adapter = rt.adapter(entity, "crm")
    rec: Record | None = Record(deal_id, snap["values"]) if snap is not None else await adapter.get(
        rt.objref(entity, "crm"), deal_id)
    if rec is None or rec.deleted:
        return Outcome("skipped", detail={"why": f"deal {deal_id} no longer exists"})
    company = str(rec.values.get("COMPANY_ID") or "")
    company = "" if company == "0" else company
    _, _, stored = await asyncio.to_thread(effects.state, rt, _client_key(job.entity, company)) if company else \
        (None, None, None)
    status = Status.from_json(stored)
    _, _, held = await asyncio.to_thread(effects.state, rt, _deal_key(job.entity, deal_id))
    if held and held.get("active") and (status is None or not status.over or str(held.get("company")) != company):
        moved = await release(rt, job.entity, entity, cc, deal_id, held, status, record=rec)
        return Outcome("released" if moved else "unchanged", target="crm", target_id=deal_id)
    if status is None or not status.over:
        return Outcome("skipped", detail={"why": "the client is not over its credit limit"})
    action = await _apply(rt, job, entity, cc, rec, status, company)
    if action == "suspended":
        # the client's debt may have fallen while this deal was being moved: look once more
        _, _, now = await asyncio.to_thread(effects.state, rt, _client_key(job.entity, company))
        after = Status.from_json(now)
        if after is not None and not after.over:
            _, _, held = await asyncio.to_thread(effects.state, rt, _deal_key(job.entity, deal_id))
            await release(rt, job.entity, entity, cc, deal_id, held or {}, after)
            action = "released"
    return Outcome(action, target="crm", target_id=deal_id)


async def _apply(rt: Runtime, job: ClaimedJob, entity: Entity, cc: CreditControl, deal: Record, status: Status,
                 company: str) -> str:
    """The client is over its limit: what this deal needs (suspended, put back, let go, nothing)."""
    name = job.entity
    v = deal.values
    cat = int(v.get("CATEGORY_ID") or 0)
    if cat not in cc.pipelines:
        return "unchanged"
    hold = hold_stage(cc, cat)
    stage = str(v.get(STAGE) or "")
    key = _deal_key(name, deal.id)
    _, _, held = await asyncio.to_thread(effects.state, rt, key)
    active = bool(held and held.get("active"))
    if active and stage == hold:
        await _notice(rt, name, entity, cc, deal, held or {}, status)  # a notice lost in a crash is sent now
        return "unchanged"
    if not is_open(v):
        if active:  # a person closed a held deal (won / lost): let it go where they put it
            await asyncio.to_thread(_hold, rt, name, deal.id, {**(held or {}), "active": False})
            return "let_go"
        return "unchanged"
    if active:  # a person moved a held deal out while the client is still over: put back, one note per move;
        # the stage they chose is where it returns on release (the latest choice wins over the one before)
        held = {**(held or {}), "from": stage}
        await asyncio.to_thread(_hold, rt, name, deal.id, held)
        await _move(rt, entity, deal.id, hold)
        text = (t("credit.put_back", client=status.client, debt=_money(status.debt), limit=_money(status.limit))
                if status.over_limit else t("credit.put_back.overdue", client=status.client,
                                            overdue=_money(status.overdue)))
        from b24sync.engine.aggregate import _note_once

        await _note_once(rt, rt.adapter(entity, "crm"), rt.objref(entity, "crm"), deal.id,
                         f"credit:{name}:putback:{deal.id}:{held.get('episode') if held else 0}:{job.id}", text, None)
        return "reverted"
    if stage == hold or stage in cc.leave:
        return "unchanged"  # put there by a person (not ours to release), or a stage the spec leaves alone
    episode = int((held or {}).get("episode") or 0) + 1
    held = {"active": True, "from": stage, "episode": episode, "company": company}
    await asyncio.to_thread(_hold, rt, name, deal.id, held)  # before the move: a crash in between still knows `from`
    await _move(rt, entity, deal.id, hold)
    await _notice(rt, name, entity, cc, deal, held, status)
    return "suspended"


async def release(rt: Runtime, name: str, entity: Entity, cc: CreditControl, deal_id: str, held: dict[str, Any],
                  status: Status | None, *, record: Record | None = None) -> bool:
    """The client is at or below its limit again (or the deal left the client): the deal returns to the stage it
    came from — unless a person moved it elsewhere meanwhile. True when it was moved back."""
    adapter = rt.adapter(entity, "crm")
    rec = record or await adapter.get(rt.objref(entity, "crm"), deal_id)
    moved = False
    back = str(held.get("from") or "")
    if rec is not None and not rec.deleted and back:
        stage = str(rec.values.get(STAGE) or "")
        if stage == hold_stage(cc, rec.values.get("CATEGORY_ID")):
            await _move(rt, entity, deal_id, back)
            moved = True
        if (moved or stage == back) and cc.notify and status is not None:
            user = rec.values.get("ASSIGNED_BY_ID")
            text = t("credit.released", title=_title(rec), deal=deal_id, client=status.client,
                     debt=_money(status.debt), limit=_money(status.limit), stage=await stage_name(rt, entity, back))
            await _tell(rt, entity, user, text, f"credit:{name}:released:{deal_id}:{held.get('episode')}",
                        f"b24sync:credit:{deal_id}")
    if held:
        await asyncio.to_thread(_hold, rt, name, deal_id, {**held, "active": False})
    return moved


# ---- writes --------------------------------------------------------------------------------------------------------


_NAMES_TTL = 600.0  # seconds a portal's stage names are kept (they change when an admin edits a pipeline)


async def stage_name(rt: Runtime, entity: Entity, stage: str) -> str:
    """The portal's name of a stage («Подготовка документов»), the id where the portal does not say."""
    import time

    cache: dict[str, tuple[float, dict[str, str]]] = rt.__dict__.setdefault("_credit_stage_names", {})
    system = rt.spec.system_for(entity, "crm")
    hit = cache.get(system)
    if hit is None or time.monotonic() - hit[0] > _NAMES_TTL:
        lister = getattr(rt.adapter(entity, "crm"), "stage_names", None)
        names: dict[str, str] = {}
        if lister is not None:
            try:
                names = await lister(rt.objref(entity, "crm")) or {}
            except Exception:  # noqa: BLE001 - a name is a courtesy: the id says the same
                names = {}
        hit = (time.monotonic(), names)
        cache[system] = hit
    name = hit[1].get(stage)
    return f"«{name}»" if name else stage


def _title(rec: Record) -> str:
    return str(rec.values.get("TITLE") or f"#{rec.id}")


async def _move(rt: Runtime, entity: Entity, deal_id: str, stage: str) -> None:
    from b24sync.engine.aggregate import _share_write

    diff = {STAGE: stage}
    await rt.adapter(entity, "crm").update(rt.objref(entity, "crm"), deal_id, diff)

    def remember() -> None:
        with rt.db.begin() as conn:
            stages.note_written(conn, rt.spec, entity, "crm", deal_id, diff)  # our move fires no stage trigger
            _share_write(conn, rt, entity, deal_id, diff)  # nor looks like a manual edit to the order status entity

    await asyncio.to_thread(remember)


async def _notice(rt: Runtime, name: str, entity: Entity, cc: CreditControl, deal: Record, held: dict[str, Any],
                  status: Status) -> None:
    if not cc.notify:
        return
    if status.over_limit:
        overdue = t("credit.overdue", overdue=_money(status.overdue)) if status.overdue else ""
        text = t("credit.suspended", title=_title(deal), deal=deal.id, client=status.client,
                 debt=_money(status.debt), limit=_money(status.limit), overdue=overdue)
    else:
        text = t("credit.suspended.overdue", title=_title(deal), deal=deal.id, client=status.client,
                 overdue=_money(status.overdue), debt=_money(status.debt))
    await _tell(rt, entity, deal.values.get("ASSIGNED_BY_ID"), text,
                f"credit:{name}:notice:{deal.id}:{held.get('episode')}", f"b24sync:credit:{deal.id}")


async def _tell(rt: Runtime, entity: Entity, user: Any, text: str, key: str, tag: str) -> None:
    notify = getattr(rt.adapter(entity, "crm"), "notify", None)
    if notify is None or not user or str(user) == "0":
        return

    async def do() -> Any:
        return await notify(str(user), text, tag=tag)

    await effects.once(rt, key, do, data={"user": str(user)})

"""Sums over related documents: paid amount per deal = Σ posted payments, shipped amount per order = Σ posted
shipments — declared as an entity's ``aggregate`` (spec.models.Aggregate), never per-flow code.

Two job kinds share one ledger (store tables ``agg_sources`` and ``agg_parts``):

* **take** (a ``sync`` job of the source document, from a poll or an event): the document is read; whether it
  counts now (``counts_if``: posted, not marked for deletion, the statuses named; deleted → not), its parts (one
  per row of ``rows`` — the row's own reference at a nested path such as ``РасшифровкаПлатежа.ОснованиеПлатежа``
  — or the whole document), and the CRM records each part counts for (``targets``: through the identity links of
  the entity ``via``; else the document number in the payment purpose, ``purpose``; ambiguous or unknown → held
  for a person, never guessed). Dedupe: a second counted document with the same ``key`` (the payer's incoming
  number + date + payer) is a duplicate and adds nothing; with another amount it is a conflict for a person. A
  storno takes the parts of the document it reverses back; a correction replaces the document it corrects. The
  document's parts and a ``settle`` job per affected target commit with the job — nothing is written to the CRM
  here.
* **settle** (kind ``aggregate``, one lane per target so two documents of one deal never race): the target's
  figures are computed from the committed ledger (sum, balance, last date, count) and only the differences are
  written; the threshold rule (``reach``) fires once when the sum crosses the total; one timeline entry per
  counted document (and one when it is reversed) goes through the effects ledger (engine/effects.py), so replays,
  polls and crashes never repeat it; once something counted, ``lock`` fields edited in the CRM are put back with
  a note (a CRM-side job of the entity, ``guard``).

Every figure is recomputed from the ledger, so a document re-read (a second poll, the same statement imported
twice) changes nothing, and a second shipment of one order adds to the first instead of overwriting it.
"""

from __future__ import annotations

import asyncio
import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from b24sync.engine import effects, paths, route, stages
from b24sync.engine.errors import ConflictError, HoldError, ValidationError
from b24sync.engine.ports import Record
from b24sync.engine.runtime import Outcome, Runtime
from b24sync.messages import t, word
from b24sync.spec.models import Aggregate, AggregateTarget, Entity
from b24sync.store import fingerprints, identity
from b24sync.store import queue as jobs
from b24sync.store.db import utcnow
from b24sync.store.fingerprints import canonical
from b24sync.store.models import AggPart, AggSource, Effect
from b24sync.store.queue import ClaimedJob

KIND = "aggregate"


def ledger_of(name: str, entity: Entity) -> str:
    assert entity.aggregate is not None
    ledger = entity.aggregate.ledger or name
    if entity.aggregate.ledger and entity.erp.route is not None and "@" in name:
        # a routed copy (`payment@onec_b`): its own ledger, so the same payment key (a cloned base's GUIDs) in two
        # bases counts in each (docs/several-systems.md "Payments and shipments")
        ledger = f"{ledger}@{name.rsplit('@', 1)[1]}"
    return ledger[:64]


async def handle(rt: Runtime, job: ClaimedJob) -> Outcome:
    entity = rt.entity(job.entity)
    if job.kind == KIND:
        return await settle(rt, job, entity)
    if job.payload.get("side") == "erp":
        return await take(rt, job, entity)
    return await guard(rt, job, entity)


# ---- values ------------------------------------------------------------------------------------------------------


def _dec(value: Any, *, field: str, this: str) -> Decimal:
    if paths.empty(value):
        return Decimal(0)
    try:
        d = Decimal(str(value).replace(",", ".").replace(" ", "").replace("\u00a0", ""))
    except InvalidOperation:
        raise ValidationError(t("agg.bad_amount", this=this, value=value, field=field)) from None
    if not d.is_finite():
        raise ValidationError(t("agg.bad_amount", this=this, value=value, field=field))
    return d


def _day(value: Any) -> str | None:
    """A document date as YYYY-MM-DD (1C ``2026-03-12T00:00:00``, a statement's ``12.03.2026`` or ISO date)."""
    if paths.empty(value):
        return None
    s = str(value).strip()
    for fmt in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d", "%d.%m.%Y", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(s[:25] if "%z" in fmt else s[:19] if "T" in fmt else s[:10], fmt).date().isoformat()
        except ValueError:
            continue
    return s[:32]


def money(amount: Decimal) -> str:
    """150000 → «150 000 ₽»; kopecks only when there are any («1 428,50 ₽»)."""
    q = amount.quantize(Decimal("0.01"))
    whole, _, frac = f"{abs(q):f}".partition(".")
    groups = []
    while whole:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    text = " ".join(groups) + ("" if frac in ("", "00") else f",{frac}")
    return ("−" if q < 0 else "") + text + " ₽"


def ru_date(day: str | None) -> str:
    if not day:
        return "—"
    try:
        return date.fromisoformat(day).strftime("%d.%m.%Y")
    except ValueError:
        return day


def _counts(agg: Aggregate, values: dict[str, Any]) -> bool:
    for field, allowed in agg.counts_if.items():
        v = paths.get(values, field)
        if not any(canonical(v) == canonical(a) or (isinstance(a, bool) and v is a) for a in allowed):
            return False
    return True


def _key(agg: Aggregate, values: dict[str, Any]) -> str | None:
    parts = [paths.get(values, k) for k in agg.key]
    if not parts or all(paths.empty(v) for v in parts):
        return None
    out = []
    for k, v in zip(agg.key, parts, strict=True):
        if paths.empty(v):
            out.append("")
        elif "Дата" in k or k.lower().endswith("date"):
            out.append(_day(v) or "")
        else:
            s = str(v).strip()
            out.append(s.lstrip("0") if s.isdigit() else s.upper())
    return "|".join(out)[:512]


# ---- take: a source document into the ledger -------------------------------------------------------------------------


async def take(rt: Runtime, job: ClaimedJob, entity: Entity) -> Outcome:
    agg = entity.aggregate
    assert agg is not None
    p = job.payload
    src_id = str(p["id"])
    ledger = ledger_of(job.entity, entity)
    source = f"{job.entity}:{src_id}"[:200]
    adapter, obj = rt.adapter(entity, "erp"), rt.objref(entity, "erp")
    snap = p.get("snapshot")
    rec = Record(src_id, snap["values"], version=snap.get("version")) if snap is not None else await adapter.get(obj, src_id)
    values = rec.values if rec is not None else {}
    counts = rec is not None and not rec.deleted and _counts(agg, values)
    state = "counted" if counts else ("deleted" if rec is None else "marked" if rec.deleted else "not_counted")
    number = str(paths.first(values, [agg.number, "Number"])[1] or src_id)[:80]
    day = _day(paths.first(values, [agg.date, "Date"])[1])
    dedup = _key(agg, values)
    replaces = None
    held: HoldError | None = None
    parts: dict[str, Decimal] = {}
    doc_amount = Decimal(0)
    detail: dict[str, Any] = {"document": number, "state": state}

    if counts:
        rows = _rows(values, agg.rows)
        unresolved = Decimal(0)
        unlinked: list[str] = []
        waits: list[str] = []  # the links that would let it count: taken again when one commits (identity.bind)
        waiting = Decimal(0)  # rows naming a document no CRM record is linked to (yet)
        waiting_refs: list[str] = []
        waiting_keys: list[str] = []
        for row in rows:
            amt = _dec(paths.get(values, agg.amount, row=row, rows=agg.rows), field=agg.amount, this=number)
            doc_amount += amt
            row_unlinked: list[str] = []
            row_waits: list[str] = []
            found = await _targets(rt, entity, values, row, row_unlinked, row_waits)
            unlinked += [u for u in row_unlinked if u not in unlinked]
            waits += row_waits
            for k in found:
                parts[k] = parts.get(k, Decimal(0)) + amt
            if not found:
                unresolved += amt
                if row_waits:
                    waiting += amt
                    waiting_refs += [u for u in row_unlinked if u not in waiting_refs]
                    waiting_keys += [w for w in row_waits if w not in waiting_keys]
        storno_of = paths.get(values, agg.storno) if agg.storno else None
        if not paths.empty(storno_of):
            # A storno takes back what the document it reverses added: its parts negated (the storno's own amounts
            # may be written negative or positive — both readings give −|amount|).
            original = await asyncio.to_thread(_parts_of, rt, ledger, f"{job.entity}:{storno_of}")
            parts = {k: -abs(v) for k, v in original.items()} or {k: -abs(v) for k, v in parts.items()}
            dedup = None
            detail["storno_of"] = storno_of
        elif parts and waiting:
            # some rows count now, others name a document no CRM record is linked to yet: those are held with
            # their reason and the links they wait for, and count when the link commits — never dropped
            held = HoldError(t("agg.hold.unlinked_part", number=number, date=ru_date(day), amount=money(waiting),
                               counted=money(doc_amount - unresolved), refs=", ".join(waiting_refs[:5])),
                             detail={"document": number, "unlinked": waiting_refs, "waits_for": waiting_keys,
                                     "amount": str(waiting)})
            detail["waiting"] = str(waiting)
        elif parts and unresolved:
            # some rows count now, others name nothing this entity can follow (an advance without a basis): held
            # with its reason for a person — never dropped silently
            held = HoldError(t("agg.hold.no_target_part", number=number, date=ru_date(day), amount=money(unresolved),
                               counted=money(doc_amount - unresolved)),
                             detail={"document": number, "amount": str(unresolved)})
            detail["unassigned"] = str(unresolved)
        elif not parts and unlinked:
            # it names its order (invoice), which no CRM record is linked to (yet): a person links it, then replays
            raise HoldError(t("agg.hold.unlinked", number=number, date=ru_date(day), refs=", ".join(unlinked[:5])),
                            detail={"document": number, "unlinked": unlinked, "waits_for": waits})
        elif not parts and (unresolved or agg.purpose is not None):
            parts = await _by_purpose(rt, entity, values, unresolved, number, day)
        elif not parts:
            raise HoldError(t("agg.hold.no_target", number=number, date=ru_date(day), purpose="—"),
                            detail={"document": number})
        corrects = paths.get(values, agg.corrects) if agg.corrects else None
        if not paths.empty(corrects):
            replaces = f"{job.entity}:{corrects}"[:200]
            detail["corrects"] = corrects
        superseded_by = None if replaces else await asyncio.to_thread(_replaced_by, rt, ledger, source)
        if superseded_by is not None:
            # a counted correction replaces this document: it stays posted in 1C but adds nothing here
            counts, state, parts = False, "superseded", {}
            detail["superseded_by"] = superseded_by
        elif dedup is not None:
            other = await asyncio.to_thread(_counted_with_key, rt, ledger, dedup, source, replaces)
            if other is not None:
                other_source, other_amount = other
                if Decimal(other_amount) == doc_amount:
                    counts, state, parts = False, "duplicate", {}
                    detail["duplicate_of"] = other_source
                else:
                    raise ConflictError(t("agg.conflict.amount", number=number, date=ru_date(day),
                                          before=money(Decimal(other_amount)), other=other_source.split(":", 1)[-1],
                                          this=src_id, amount=money(doc_amount)),
                                        detail={"key": dedup, "counted": other_source, "amount": str(doc_amount)})
    detail["state"] = state
    detail["parts"] = {k: str(v) for k, v in parts.items()}

    def effects_(conn: Connection) -> None:
        old = {r.target: Decimal(r.amount) for r in conn.execute(select(AggPart.target, AggPart.amount).where(
            AggPart.ledger == ledger, AggPart.source == source))}
        prev = conn.execute(select(AggSource).where(AggSource.ledger == ledger, AggSource.source == source)).first()
        same = (prev is not None and old == parts and prev.counted == int(counts)
                and prev.state == state and prev.replaces == replaces)
        if same:
            return
        if counts and replaces is not None:
            # the corrected document stops counting while its correction counts (and frees its dedupe key)
            conn.execute(update(AggSource).where(AggSource.ledger == ledger, AggSource.source == replaces,
                                                 AggSource.counted == 1).values(counted=0, state="superseded",
                                                                                updated_at=utcnow()))
        conn.execute(delete(AggPart).where(AggPart.ledger == ledger, AggPart.source == source))
        for target, amount in parts.items():
            conn.execute(insert(AggPart).values(ledger=ledger, source=source, target=target, amount=str(amount)))
        row = {"dedup_key": dedup, "amount": str(doc_amount), "counted": int(counts), "state": state,
               "replaces": replaces, "number": number, "doc_date": day, "updated_at": utcnow()}
        if prev is None:
            conn.execute(insert(AggSource).values(ledger=ledger, source=source, **row))
        else:
            conn.execute(update(AggSource).where(AggSource.ledger == ledger, AggSource.source == source).values(**row))
        was = prev.replaces if prev is not None else None
        if was is not None and (not counts or was != replaces):
            # a correction that no longer counts (or corrects another document): the one it replaced is looked at
            # again, so it counts once more
            from b24sync.engine.enqueue import enqueue_sync

            ent, _, rid = was.partition(":")
            if ent in rt.spec.entities:
                enqueue_sync(conn, ent, "erp", rid, force=True, scope=rt.spec.scope(ent),
                             reason=f"the correction {src_id} no longer replaces it")
        touched = set(old) | set(parts)
        for rel in {replaces, was} - {None}:
            touched |= {r for (r,) in conn.execute(select(AggPart.target).where(AggPart.ledger == ledger,
                                                                                AggPart.source == rel))}
        for target in sorted(touched):
            enqueue_settle(conn, job.entity, ledger, target)

    action = "recorded" if counts else ("duplicate" if state == "duplicate" else "reversed")
    if not counts:
        held = None  # a duplicate or a superseded document: nothing of it waits
    return Outcome(action, target="crm", target_id=",".join(sorted(parts)) or None, detail=detail, effects=effects_,
                   held=held)


def enqueue_settle(conn: Connection, entity: str, ledger: str, target: str) -> int:
    return jobs.enqueue(conn, kind=KIND, entity=entity, lane=f"agg:{ledger}:{target}"[:200],
                        payload={"ledger": ledger, "target": target}, dedup_key=f"agg:{ledger}:{target}"[:200])


def _rows(values: dict[str, Any], rows: str | None) -> list[dict[str, Any] | None]:
    if rows is None:
        return [None]
    got = paths.get(values, rows)
    return [r for r in got if isinstance(r, dict)] if isinstance(got, list) else []


async def _targets(rt: Runtime, entity: Entity, values: dict[str, Any], row: dict[str, Any] | None,
                   unlinked: list[str] | None = None, waits: list[str] | None = None) -> list[str]:
    """The targets (``via:crm_id``) one part counts for: every target rule that resolves; ERP ids a rule found
    but no CRM record is linked to go to ``unlinked`` (and the link each waits for to ``waits``)."""
    agg = entity.aggregate
    assert agg is not None
    found: list[str] = []
    for rule in agg.targets:
        path, ref = paths.first(values, rule.ref, row=row, rows=agg.rows)
        if path is None:
            continue
        if rule.type:
            typ = paths.get(values, paths.sibling(path, "_Type"), row=row, rows=agg.rows)
            if not paths.empty(typ) and str(typ).split(".")[-1] != rule.type:
                continue
        erp_id = str(ref)
        if rule.follow:
            via_entity = rt.entity(rule.via)
            doc = await rt.adapter(via_entity, "erp").get(_objref(rule.type or ""), erp_id)
            nxt = paths.get(doc.values, rule.follow) if doc is not None else None
            if paths.empty(nxt):
                continue
            erp_id = str(nxt)
        crm_id = await asyncio.to_thread(_crm_of, rt, rule.via, erp_id)
        if crm_id is None and unlinked is not None and erp_id not in unlinked:
            unlinked.append(erp_id)
        if crm_id is None and waits is not None:
            waits.append(jobs.wait_key(rt.spec.scope(rule.via), "erp", erp_id))
        if crm_id is not None:
            key = f"{rule.via}:{crm_id}"
            if key not in found:
                found.append(key)
    return found


def _objref(obj: str) -> Any:
    from b24sync.engine.ports import ObjectRef

    return ObjectRef(obj)


def _crm_of(rt: Runtime, via: str, erp_id: str) -> str | None:
    with rt.db.connect() as conn:
        b = identity.find(conn, rt.spec.scope(via), "erp", erp_id)
    return b.id_on("crm") if b else None


# «Оплата по счету № 00УТ-000012 от 10.03.2026», «сч. 12», «по заказу №УТ-77», «invoice #A-5»
_NUMBER = re.compile(r"(?:сч[её]т\w*|сч\.|заказ\w*|invoice|order)\s*(?:на\s+оплату\s*)?(?:№|N|#|No\.?)?\s*"
                     r"([0-9A-Za-zА-Яа-яЁё][0-9A-Za-zА-Яа-яЁё\-/]*[0-9])", re.IGNORECASE)


def purpose_numbers(text: str) -> list[str]:
    return list(dict.fromkeys(m.group(1) for m in _NUMBER.finditer(text or "")))


async def _by_purpose(rt: Runtime, entity: Entity, values: dict[str, Any], amount: Decimal, number: str,
                      day: str | None) -> dict[str, Decimal]:
    agg = entity.aggregate
    assert agg is not None
    pu = agg.purpose
    text = str(paths.get(values, pu.field) if pu else "") or ""
    if pu is None:
        raise HoldError(t("agg.hold.no_target", number=number, date=ru_date(day), purpose=text or "—"))
    via_entity = rt.entity(pu.via)
    adapter, obj = rt.adapter(via_entity, "crm"), rt.objref(via_entity, "crm")
    hits: dict[str, str] = {}
    for cand in purpose_numbers(text):
        found = [r for r in await adapter.find(obj, {pu.number: cand}) if not r.deleted]
        # routed (erp.route): a deal of another base with the same number is not this base's (engine/route.py)
        for r in await route.mine(rt, rt.spec.scope(pu.via), "crm", found):
            hits[r.id] = cand
    if len(hits) == 1:
        (crm_id,) = hits
        return {f"{pu.via}:{crm_id}": amount}
    if len(hits) > 1:
        cands = ", ".join(f"{word('agg.record', '#')}{i} ({n})" for i, n in sorted(hits.items()))
        raise HoldError(t("agg.hold.ambiguous", purpose=text, number=number, date=ru_date(day), candidates=cands),
                        detail={"candidates": sorted(hits), "review": True})
    raise HoldError(t("agg.hold.no_target", number=number, date=ru_date(day), purpose=text or "—"),
                    detail={"numbers": purpose_numbers(text)})


def _parts_of(rt: Runtime, ledger: str, source: str) -> dict[str, Decimal]:
    with rt.db.connect() as conn:
        return {r.target: Decimal(r.amount) for r in conn.execute(select(AggPart.target, AggPart.amount).where(
            AggPart.ledger == ledger, AggPart.source == source))}


def _counted_with_key(rt: Runtime, ledger: str, key: str, source: str, replaces: str | None
                      ) -> tuple[str, str] | None:
    """Another counted document with this dedupe key — not the one this document corrects (a correction keeps the
    payer's number and date)."""
    with rt.db.connect() as conn:
        q = select(AggSource.source, AggSource.amount).where(
            AggSource.ledger == ledger, AggSource.dedup_key == key, AggSource.counted == 1, AggSource.source != source)
        if replaces is not None:
            q = q.where(AggSource.source != replaces)
        row = conn.execute(q.limit(1)).first()
    return (row[0], row[1]) if row else None


def _replaced_by(rt: Runtime, ledger: str, source: str) -> str | None:
    with rt.db.connect() as conn:
        row = conn.execute(select(AggSource.source).where(
            AggSource.ledger == ledger, AggSource.replaces == source, AggSource.counted == 1).limit(1)).first()
    return row[0] if row else None


# ---- settle: one target's figures from the committed ledger --------------------------------------------------------


def _rule(entity: Entity, via: str) -> AggregateTarget:
    agg = entity.aggregate
    assert agg is not None
    for r in agg.targets:
        if r.via == via:
            return r
    raise ValidationError(f"aggregate: no target rule with via: {via}")


def counted_parts(conn: Connection, ledger: str, target: str) -> list[tuple[str, Decimal, str | None, str | None]]:
    """(source, amount, number, date) of the parts of ``target`` whose documents count now (a document replaced by
    a counted correction does not)."""
    replaced = {r for (r,) in conn.execute(select(AggSource.replaces).where(
        AggSource.ledger == ledger, AggSource.counted == 1, AggSource.replaces.is_not(None)))}
    rows = conn.execute(select(AggPart.source, AggPart.amount, AggSource.number, AggSource.doc_date)
                        .join(AggSource, (AggSource.ledger == AggPart.ledger) & (AggSource.source == AggPart.source))
                        .where(AggPart.ledger == ledger, AggPart.target == target, AggSource.counted == 1)
                        .order_by(AggSource.doc_date, AggPart.source)).all()
    return [(s, Decimal(a), n, d) for s, a, n, d in rows if s not in replaced]


def _noted(conn: Connection, prefix: str) -> list[tuple[str, dict[str, Any] | None]]:
    return [(k, d) for k, d in conn.execute(select(Effect.key, Effect.data).where(
        Effect.key.like(prefix.replace("%", r"\%").replace("_", r"\_") + "%", escape="\\"),
        Effect.state == "done"))]


def _value(kind: str, s: Any, *, total: Decimal | None, paid: Decimal, last: str | None, count: int) -> Any:
    if kind == "sum":
        v: Any = paid
    elif kind == "balance":
        v = max(Decimal(0), (total or Decimal(0)) - paid)
    elif kind == "count":
        return count
    else:
        return last or ""
    v = v.quantize(Decimal("0.01"))
    return f"{v:f}|{s.currency}" if s.currency else f"{v:f}"


def _same(current: Any, wanted: Any) -> bool:
    def norm(v: Any) -> Any:
        if isinstance(v, str) and "|" in v:
            amount, _, cur = v.partition("|")
            return (canonical(amount or "0"), cur)
        if isinstance(v, str) and len(v) >= 10 and v[4:5] == "-" and v[7:8] == "-":
            return v[:10]  # a date field reads back as a date-time
        return canonical(v)

    return norm(current) == norm(wanted)


async def settle(rt: Runtime, job: ClaimedJob, entity: Entity) -> Outcome:
    agg = entity.aggregate
    assert agg is not None
    ledger, target = job.payload["ledger"], job.payload["target"]
    via, _, crm_id = target.partition(":")
    rule = _rule(entity, via)
    via_entity = rt.entity(via)
    adapter, obj = rt.adapter(via_entity, "crm"), rt.objref(via_entity, "crm")
    rec = await adapter.get(obj, crm_id)
    if rec is None or rec.deleted:
        return Outcome("skipped", detail={"why": f"{obj.object} {crm_id} no longer exists"})

    def read() -> tuple[list[tuple[str, Decimal, str | None, str | None]], list[tuple[str, dict[str, Any] | None]]]:
        with rt.db.connect() as conn:
            return counted_parts(conn, ledger, target), _noted(conn, f"note:{ledger}:{target}:")

    parts, noted = await asyncio.to_thread(read)
    paid = sum((a for _, a, _, _ in parts), Decimal(0))
    count = len({s for s, _, _, _ in parts})
    last = max((d for _, _, _, d in parts if d), default=None)
    total = None
    if rule.total:
        total = _dec(_amount_of(rec.values.get(rule.total)), field=rule.total, this=f"{obj.object} {crm_id}")
    wanted = {s.crm: _value(s.value, s, total=total, paid=paid, last=last, count=count) for s in rule.set}
    diff = {k: v for k, v in wanted.items() if not _same(rec.values.get(k), v)}
    full = total is not None and total > 0 and paid >= total
    fired: list[str] = []
    for i, r in enumerate(rule.reach):
        key = f"reach:{ledger}:{target}:{i}"
        st, _, _ = await asyncio.to_thread(effects.state, rt, key)
        if full and st != "done":
            if rec.values.get(r.crm) not in r.unless and not _same(rec.values.get(r.crm), r.value):
                diff[r.crm] = r.value
            fired.append(key)
        elif not full and st is not None:
            await asyncio.to_thread(effects.forget, rt, key)
    if diff:
        await adapter.update(obj, crm_id, diff)
    for key in fired:
        await asyncio.to_thread(effects.put, rt, key, {"paid": str(paid), "total": str(total)})

    # the timeline: one entry per counted document, one when a noted document stops counting
    notes_written = 0
    counted_sources = {s: (a, n, d) for s, a, n, d in _by_source(parts)}
    if rule.note:
        for source, (amount, number, day) in counted_sources.items():
            text = _note(agg, amount, number, day, reversed_=False)
            if await _note_once(rt, adapter, obj, crm_id, f"note:{ledger}:{target}:{source}", text,
                                {"amount": str(amount), "number": number, "date": day}):
                notes_written += 1
        for key, data in noted:
            source = key[len(f"note:{ledger}:{target}:"):]
            if source in counted_sources or not data:
                continue
            text = _note(agg, Decimal(data.get("amount") or 0), data.get("number"), data.get("date"), reversed_=True)
            rkey = f"unnote:{ledger}:{target}:{source}"
            if await _note_once(rt, adapter, obj, crm_id, rkey, text, None):
                notes_written += 1
            await asyncio.to_thread(effects.forget, rt, key)
            await asyncio.to_thread(effects.forget, rt, rkey)

    # the lock: what the record held when it was first paid (with our own figures) is what it keeps
    if rule.lock:
        lkey = f"lock:{ledger}:{target}"
        st, _, _ = await asyncio.to_thread(effects.state, rt, lkey)
        if count and st is None:
            merged = {**rec.values, **diff}
            await asyncio.to_thread(effects.put, rt, lkey, {f: merged.get(f) for f in rule.lock})
        elif not count and st is not None:
            await asyncio.to_thread(effects.forget, rt, lkey)

    def effects_(conn: Connection) -> None:
        if diff:
            stages.note_written(conn, rt.spec, via_entity, "crm", crm_id, diff)
            _share_write(conn, rt, via_entity, crm_id, diff)

    return Outcome("updated" if diff else "unchanged", target="crm", target_id=crm_id,
                   detail={"paid": str(paid), "total": None if total is None else str(total), "documents": count,
                           "fields": sorted(diff), "reached": bool(fired), "notes": notes_written},
                   effects=effects_)


def _amount_of(v: Any) -> Any:
    if isinstance(v, str) and "|" in v:
        return v.partition("|")[0]
    return v


def _by_source(parts: list[tuple[str, Decimal, str | None, str | None]]
               ) -> list[tuple[str, Decimal, str | None, str | None]]:
    out: dict[str, list[Any]] = {}
    for s, a, n, d in parts:
        if s in out:
            out[s][0] += a
        else:
            out[s] = [a, n, d]
    return [(s, a, n, d) for s, (a, n, d) in out.items()]


def _note(agg: Aggregate, amount: Decimal, number: str | None, day: str | None, *, reversed_: bool) -> str:
    kw = {"amount": money(abs(amount)), "date": ru_date(day), "number": number or "—"}
    if agg.note in ("payment", "shipment"):
        return t(f"agg.note.{agg.note}" + (".reversed" if reversed_ else ""), **kw)
    text = agg.note.format(**kw)
    return text if not reversed_ else t("agg.note.payment.reversed", **kw)


async def _note_once(rt: Runtime, adapter: Any, obj: Any, crm_id: str, key: str, text: str,
                     data: dict[str, Any] | None) -> bool:
    add = getattr(adapter, "add_note", None)
    if add is None:
        return False  # a CRM without a timeline: the figures are still written

    async def do() -> Any:
        return await add(obj, crm_id, text)

    async def find() -> Any:
        look = getattr(adapter, "find_note", None)
        return await look(obj, crm_id, text) if look is not None else None

    return await effects.once(rt, key, do, find, data=data)


def _share_write(conn: Connection, rt: Runtime, via_entity: Entity, crm_id: str, diff: dict[str, Any]) -> None:
    """Our write of a field another entity also writes into this CRM record (the deal stage that the order status
    moves too): that entity's memory of what it wrote is brought up to date, so it does not take our write for a
    manual edit and put it back. Last ERP fact wins: the next order status change moves the stage again."""
    system, obj = rt.spec.system_for(via_entity, "crm"), via_entity.crm.object.split("+", 1)[0]
    for name, e in rt.spec.entities.items():
        if rt.spec.system_for(e, "crm") != system or e.crm.object.split("+", 1)[0] != obj:
            continue
        seen = fingerprints.get(conn, name, "crm", crm_id)
        if seen is None or not seen.written_values or not any(k in seen.written_values for k in diff):
            continue
        values = {**seen.written_values, **{k: v for k, v in diff.items() if k in seen.written_values}}
        fingerprints.mark_written(conn, name, "crm", crm_id, written_hash=seen.written_hash or "",
                                  written_values=values)


# ---- guard: an edit in the CRM of a locked record ---------------------------------------------------------------------


async def guard(rt: Runtime, job: ClaimedJob, entity: Entity) -> Outcome:
    agg = entity.aggregate
    assert agg is not None
    crm_id = str(job.payload["id"])
    ledger = ledger_of(job.entity, entity)
    reverted: list[str] = []
    for rule in agg.targets:
        if not rule.lock:
            continue
        via_entity = rt.entity(rule.via)
        if via_entity.crm.object != entity.crm.object:
            continue
        target = f"{rule.via}:{crm_id}"
        st, _, data = await asyncio.to_thread(effects.state, rt, f"lock:{ledger}:{target}")
        if st != "done" or not data:
            continue
        adapter, obj = rt.adapter(via_entity, "crm"), rt.objref(via_entity, "crm")
        rec = await adapter.get(obj, crm_id)  # the event is a hint: read it as it is now
        if rec is None:
            continue
        edited = {f: data.get(f) for f in rule.lock if not _same(rec.values.get(f), data.get(f))}
        if not edited:
            continue
        await adapter.update(obj, crm_id, edited)
        erp = rt.spec.system_for(entity, "erp")
        erp_title = getattr(rt.spec.systems.get(erp), "title", None) or erp
        fields = ", ".join(word(f"field.{n}", n) for n in edited)  # the managers' words for fields
        text = t("agg.revert", fields=fields, erp=erp_title)
        await _note_once(rt, adapter, obj, crm_id, f"revert:{job.id}:{target}", text, None)
        reverted += list(edited)
    if not reverted:
        return Outcome("skipped", detail={"why": "no locked field was edited"})

    def effects_(conn: Connection) -> None:
        # An entity that sends this CRM record to the ERP may have sent the edit before it was put back: it sends
        # the record again, as it is now (forced: its fingerprints would take the put-back value for unchanged).
        from b24sync.engine.mapper import flows_from
        from b24sync.engine.enqueue import enqueue_sync

        system, obj = rt.spec.system_for(entity, "crm"), entity.crm.object.split("+", 1)[0]
        for name, e in rt.spec.entities.items():
            if (e.aggregate is None and flows_from(rt.spec, e, "crm") and rt.spec.system_for(e, "crm") == system
                    and e.crm.object.split("+", 1)[0] == obj):
                enqueue_sync(conn, name, "crm", crm_id, force=True, scope=rt.spec.scope(name),
                             reason=f"{job.entity}: locked fields put back ({', '.join(reverted)})")

    return Outcome("reverted", target="crm", target_id=crm_id, detail={"fields": reverted}, effects=effects_)

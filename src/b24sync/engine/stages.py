"""Stage-change triggers: an old → new stage transition, never "the record is in stage X".

A ``stage_change`` trigger (``spec.models.StageChange``) gates the *creation* of a record on the other side: an
unlinked deal is sent only when it moved into one of the ``to`` stages (from one of the ``from`` stages, if given).
Bitrix24 events carry only the record id (document-flows.md A.3, E.1), so the old stage is what b24sync remembered
when it last looked at the record — table ``observed``, keyed by the system's object (``bitrix24:crm.deal``) so
every entity over it shares one memory — and, where the connector offers it, each stage the portal's stage history shows
since then (``crm.stagehistory.list``, A.4): a deal moved NEW → INVOICE → WON between two looks still passes through
INVOICE (E.3, fast double moves).

Our own writes never fire a trigger (E.2): when the engine writes a watched field (an ERP status turned into a deal
stage), the written value becomes the remembered one in the same transaction, so the echo is old == new.

Without a memory of the record and without a stage history (a portal that answers ``ENTITY_TYPE_NOT_SUPPORTED``),
a record first seen in a ``to`` stage counts as created there: it fires when ``from`` is empty, never when ``from``
names stages (the move cannot be proven).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, insert, select, update

from b24sync.engine.ports import Record
from b24sync.engine.runtime import Outcome, Runtime
from b24sync.spec.models import Entity, Side, Spec, StageChange
from b24sync.store.db import utcnow
from b24sync.store.models import Observed

HISTORY_SUFFIX = "@history"  # the observed row holding the last stage-history id seen for the field


def triggers(entity: Entity, side: Side) -> list[StageChange]:
    return [t.stage_change for t in entity.triggers
            if t.stage_change is not None and (t.side or "crm") == side]


def watched_fields(entity: Entity, side: Side) -> list[str]:
    obj = (entity.crm if side == "crm" else entity.erp).object
    return list(dict.fromkeys(sc.field_for(obj) for sc in triggers(entity, side)))


def memory_key(spec: Spec, entity: Entity, side: Side) -> str:
    """The memory is per record of a system's object (``bitrix24:crm.deal``), shared by every entity over it, so a
    stage one entity writes is known to the entity whose trigger watches it."""
    obj = (entity.crm if side == "crm" else entity.erp).object.split("+", 1)[0]
    return f"{spec.system_for(entity, side)}:{obj}"[:64]


def key_watched(spec: Spec, key: str, side: Side) -> list[str]:
    """Fields any entity over the same object watches on ``side`` (what our own writes must be remembered for)."""
    names: list[str] = []
    for e in spec.entities.values():
        if memory_key(spec, e, side) == key:
            names += watched_fields(e, side)
    return list(dict.fromkeys(names))


def _val(v: Any) -> str | None:
    return None if v in (None, "") else str(v)[:400]


def recall(conn: Connection, scope: str, side: str, record_id: str) -> dict[str, str | None]:
    rows = conn.execute(select(Observed.field, Observed.value).where(
        Observed.entity == scope, Observed.side == side, Observed.record_id == str(record_id))).all()
    return {f: v for f, v in rows}


def remember(conn: Connection, scope: str, side: str, record_id: str, values: dict[str, str | None]) -> None:
    now = utcnow()
    for f, v in values.items():
        res = conn.execute(update(Observed).where(
            Observed.entity == scope, Observed.side == side, Observed.record_id == str(record_id), Observed.field == f)
            .values(value=v, at=now))
        if res.rowcount == 0:
            conn.execute(insert(Observed).values(entity=scope, side=side, record_id=str(record_id), field=f, value=v,
                                                 at=now))


OWN = "own:"  # history marker: the remembered stage is our own write; its history row is not a move to act on


def note_written(conn: Connection, spec: Spec, entity: Entity, side: Side, record_id: str,
                 values: dict[str, Any]) -> None:
    """Our own write of a watched field: remember it, so its echo is no transition. The portal's history gets a
    row for our move too; the marker makes the next look skip history up to that row."""
    key = memory_key(spec, entity, side)
    names = [f for f in key_watched(spec, key, side) if f in values]
    if not names:
        return
    known = recall(conn, key, side, record_id)
    seen: dict[str, str | None] = {}
    for f in names:
        seen[f] = _val(values[f])
        prev = known.get(f + HISTORY_SUFFIX) or ""
        seen[f + HISTORY_SUFFIX] = prev if prev.startswith(OWN) else OWN + prev
    remember(conn, key, side, record_id, seen)


@dataclass
class Gate:
    allowed: bool
    why: str = ""
    transition: tuple[str | None, str | None] | None = None


@dataclass
class Memo:
    """What one job saw of a record's watched fields; committed with the job's outcome (never before: a job that
    fails or holds leaves the old stage remembered, so its retry still sees the transition)."""

    scope: str = ""
    side: str = ""
    record_id: str = ""
    values: dict[str, str | None] = field(default_factory=dict)

    def saw(self, spec: Spec, entity: Entity, side: Side, record: Record) -> None:
        names = watched_fields(entity, side)
        if not names:
            return
        self.scope, self.side, self.record_id = memory_key(spec, entity, side), side, record.id
        self.values.update({f: _val(record.values.get(f)) for f in names})

    def attach(self, outcome: Outcome) -> Outcome:
        if not self.values:
            return outcome
        inner = outcome.effects
        scope, side, rid, values = self.scope, self.side, self.record_id, dict(self.values)

        def effects(conn: Connection) -> None:
            if inner is not None:
                inner(conn)
            remember(conn, scope, side, rid, values)

        outcome.effects = effects
        return outcome


async def creation_gate(rt: Runtime, entity: Entity, side: Side, record: Record, memo: Memo) -> Gate:
    """Whether an unlinked record may be created on the other side now. No stage trigger → always."""
    scs = triggers(entity, side)
    if not scs:
        return Gate(True)
    scope = memory_key(rt.spec, entity, side)
    with rt.db.connect() as conn:
        known = recall(conn, scope, side, record.id)
    adapter = rt.adapter(entity, side)
    history_of = getattr(adapter, "stage_history", None)
    reasons = []
    obj = (entity.crm if side == "crm" else entity.erp).object
    for sc in scs:
        field = sc.field_for(obj)
        cat = record.values.get("CATEGORY_ID", record.values.get("categoryId"))
        if sc.category is not None and str(cat) != str(sc.category):
            reasons.append(f"pipeline {cat} is not {sc.category}")
            continue
        current = _val(record.values.get(field))
        hist_key = field + HISTORY_SUFFIX
        remembered = field in known
        history: list[tuple[str, str]] | None = None
        marker = known.get(hist_key) or ""
        own = marker.startswith(OWN)
        after = (marker[len(OWN):] if own else marker) or None
        if history_of is not None:
            history = await history_of(rt.objref(entity, side), record.id, after_id=after)
            if history:
                memo.values[hist_key] = history[-1][0]
                memo.scope, memo.side, memo.record_id = scope, side, record.id
            if history and remembered and (own or not marker):
                # the remembered stage is our own write, or was remembered without reading the history: skip up to
                # the last row with that stage — what came before it is already known (or our own move)
                last = max((i for i, (_, st) in enumerate(history) if st == known.get(field)), default=None)
                history = history[last + 1:] if last is not None else history
        chain: list[str | None] = [known.get(field)] if remembered else [None]
        chain += [stage for _, stage in history or []]
        chain.append(current)
        pairs = [(a, b) for a, b in zip(chain, chain[1:]) if a != b]
        for a, b in pairs:
            if b in sc.to and (not sc.from_ or a in sc.from_):
                return Gate(True, transition=(a, b))
        moved = " → ".join(str(s) for s in _dedupe(chain)) or str(current)
        want = f"{'/'.join(sc.from_)} → " if sc.from_ else ""
        reasons.append(f"stage {moved} is not the trigger {want}{'/'.join(sc.to)}")
    return Gate(False, why="; ".join(reasons))


def _dedupe(chain: list[str | None]) -> list[str]:
    out: list[str] = []
    for s in chain:
        if s is not None and (not out or out[-1] != s):
            out.append(s)
    return out

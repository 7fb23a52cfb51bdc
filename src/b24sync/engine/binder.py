"""Binding a source record to its target record: the identity map first, else a lookup on the target by the link
field (our natural key on the remote) and by the match keys — so a create whose answer was lost is found, never
repeated. A record found that is linked to another source record is a conflict, unless that partner is verifiably
gone: then the link is taken over (re-link)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from b24sync.engine import guards, route
from b24sync.engine.errors import ConflictError, NotFoundError, ValidationError
from b24sync.engine.mapper import match_criteria, other
from b24sync.engine.normalize import normalize
from b24sync.engine.ports import Record
from b24sync.engine.record_job import RecordJob
from b24sync.engine.runtime import Runtime
from b24sync.messages import t
from b24sync.spec.models import Entity, Side
from b24sync.store import fingerprints, identity

Criteria = list[tuple[dict[str, Any], str]]  # match rules in order: (target field -> normalized value, key label)


@dataclass
class Target:
    """The target record bound to a source record, or none (``id`` None: a create)."""

    id: str | None
    current: Record | None  # the target record as read now
    action: str  # updated | linked | relinked; recreated when the bound partner was deleted on the target
    relinked_from: str | None  # the source id whose link this target had, when the link is taken over
    criteria: Criteria

    @property
    def match_key(self) -> str | None:
        return self.criteria[0][1] if self.criteria else None


def recall(rt: Runtime, scope: str, entity_name: str, src: Side, tgt: Side, src_id: str
           ) -> tuple[identity.Binding | None, fingerprints.Seen | None, fingerprints.Seen | None]:
    """What the store remembers of a record: its binding and both sides' fingerprints."""
    with rt.db.connect() as conn:
        binding = identity.find(conn, scope, src, src_id)
        seen_src = fingerprints.get(conn, entity_name, src, src_id)
        tgt_id = binding.id_on(tgt) if binding else None
        seen_tgt = fingerprints.get(conn, entity_name, tgt, tgt_id) if tgt_id else None
    return binding, seen_src, seen_tgt


async def match_keys(rj: RecordJob, record: Record, binding: identity.Binding | None) -> Criteria:
    """The record's match keys for the target side, normalized."""
    try:
        return match_criteria(rj.entity, rj.tgt, record.values, rj.src)
    except ValidationError:
        # A key that fails its check (`normalize: inn`) is what a `require_valid` guard is for: the guard's own
        # message (for the manager) holds the record; only without such a guard is it a dead letter.
        if guards.has_require_valid(rj.entity, rj.src):
            await guards.check_holds(rj.rt, rj.entity, rj.src, rj.src_id, record,
                                     creating=binding is None or not binding.id_on(rj.tgt))
        raise


async def bind(rj: RecordJob, binding: identity.Binding | None, criteria: Criteria) -> Target:
    """The bound target record read now; if the identity map has none (or it was deleted since), the one the
    link field or the match keys find."""
    target_id = binding.id_on(rj.tgt) if binding else None
    current: Record | None = None
    action = "updated"
    if target_id is not None:
        current = await rj.target.get(rj.obj, target_id)
        if current is None:
            target_id = None  # deleted on the target since: the master's record is brought back
            action = "recreated"
    relinked_from: str | None = None
    if target_id is None:
        target_id, current, relinked_from = await _locate(rj.rt, rj.entity, rj.tgt, rj.src_id, criteria,
                                                          scope=rj.scope)
        if target_id is not None:
            action = "relinked" if relinked_from is not None else "linked"
    return Target(target_id, current, action, relinked_from, criteria)


def link_field(entity: Entity, side: Side) -> str | None:
    """The field on ``side`` that carries the partner's id (our natural key there)."""
    return entity.link.crm if side == "crm" else entity.link.erp


def stamp_keys(rj: RecordJob, values: dict[str, Any], criteria: Criteria | None) -> None:
    """A record written as new carries its match keys (``criteria``, when given), so it can be found again later,
    and always the link field naming its source record."""
    for crit, _ in criteria or []:
        for name, value in crit.items():
            values.setdefault(name, value)
    field = link_field(rj.entity, rj.tgt)
    if field:
        values[field] = rj.src_id


async def _locate(rt: Runtime, entity: Entity, tgt: Side, src_id: str, criteria: Criteria,
                  *, scope: str) -> tuple[str | None, Record | None, str | None]:
    """Find the target record by our natural key (link field), then by each match rule in order: (target id, its
    record, the source id it was linked to before when the link is taken over).

    A record found that is already linked to *another* source record is a conflict, never a silent re-link: two
    source records claim one target (a duplicate, or a key typed wrong), and a person decides — unless that other
    source record is verifiably gone (a re-created 1C base gives every product a new Ref_Key; its code/article
    still finds the product): then the link is taken over, and the history line says from whom."""
    target = rt.adapter(entity, tgt)
    obj = rt.objref(entity, tgt)
    link = link_field(entity, tgt)
    lookups: Criteria = []
    if link:
        lookups.append(({link: src_id}, t("sync.by_link", field=link)))
    lookups += [(c, t("sync.by_key", key=key)) for c, key in criteria]
    everything: dict[str, Any] = {}
    for c, _ in criteria:
        everything.update(c)
    # The link field names the partner a record was linked to: another value there is not a contradiction of the
    # keys but a link to weigh (taken over only when that partner is gone, _relink_or_refuse).
    everything.pop(link or "", None)
    unique: Criteria = []
    for crit, label in lookups:
        if all(crit != c for c, _ in unique):  # a match rule on the link field itself (XML_ID = Ref_Key): once
            unique.append((crit, label))
    # The lookups are reads: asked together, so a connector can coalesce them with other records' lookups into one
    # request (Bitrix24: one list call per 50 values); their answers are weighed in rule order as before.
    answers = await asyncio.gather(*(target.find(obj, crit) for crit, _ in unique))
    for (crit, label), rows in zip(unique, answers, strict=True):
        found = await route.mine(rt, scope, tgt, [r for r in rows if not r.deleted])  # not another base's
        # A hit of a looser rule (INN alone) must not contradict a stricter one (INN + KPP): a branch with another
        # KPP is a different record, not this one. An empty value on the target does not contradict.
        found = [r for r in found if _consistent(entity, tgt, r.values, everything)]
        if len(found) == 1:
            gone_id = await _relink_or_refuse(rt, entity, scope, tgt, found[0].id, src_id, label,
                                              noted=found[0].values.get(link) if link else None)
            return found[0].id, found[0], gone_id
        if len(found) > 1:
            ids = ", ".join(r.id for r in found[:10])
            raise ConflictError(t("sync.many_found", n=len(found), side=t(f"side.{tgt}"), label=label, ids=ids),
                                detail={"ids": [r.id for r in found], "criteria": crit})
    return None, None, None


async def _relink_or_refuse(rt: Runtime, entity: Entity, scope: str, tgt: Side, target_id: str, src_id: str,
                            label: str, *, noted: Any = None) -> str | None:
    """None when the target is free (or ours); the source id it was linked to when that record is verifiably gone
    (read on its side: not found, or deleted); else a ConflictError. The partner is the identity map's, else the
    one the target's link field names (``noted``: a store started afresh). A failed read raises (retried) — a
    record that cannot be read is never taken for gone."""
    src = other(tgt)
    with rt.db.connect() as conn:
        b = identity.find(conn, scope, tgt, target_id)
    linked = b.id_on(src) if b else None
    if linked is None and noted not in (None, "") and str(noted) != src_id:
        linked = str(noted)
    if linked is not None and linked != src_id:
        if await gone(rt, entity, src, linked):
            return linked
        raise ConflictError(
            t("sync.relink", tgt=tgt, target_id=target_id, label=label, src=src, linked=linked, src_id=src_id),
            detail={"kind": "relink", f"{tgt}_id": target_id, f"{src}_id": src_id,
                                           f"linked_{src}_id": linked, "found_by": label})


async def gone(rt: Runtime, entity: Entity, side: Side, record_id: str) -> bool:
    """Whether a record is verifiably gone on its side: a 404 for exactly this id, or read as deleted."""
    try:
        old = await rt.adapter(entity, side).get(rt.objref(entity, side), record_id)
    except NotFoundError:
        return True  # a 404 for exactly this id
    return old is None or old.deleted


def _consistent(entity: Entity, side: Side, values: dict[str, Any], wanted: dict[str, Any]) -> bool:
    kinds = {(k.crm if side == "crm" else k.erp): k.normalize for r in entity.match for k in r.keys}
    for name, want in wanted.items():
        have = values.get(name)
        if have is None or have == "":
            continue
        try:
            have_n = normalize(kinds.get(name), have, field=name) if kinds.get(name) else str(have).strip()
        except ValidationError:
            return False  # an invalid key on the target cannot be the same record
        if have_n != want:
            return False
    return True

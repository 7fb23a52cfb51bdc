"""The generic record sync: one job brings one record from its source side to the other side.

Steps (each a place where a flow can differ, in the OCA importer/exporter vocabulary):
1. read the source record (from the job's snapshot when the poll carried one, else a fresh ``get``);
2. skip it if its fingerprint equals what we last read (unchanged) or last wrote (the echo of our own write);
3. guards: do-not-sync flags skip, required fields and related records hold with a message;
4. bind: the identity map, else a lookup on the target by the link field (our natural key on the remote) and by
   the match keys — so a create whose response was lost is found, never repeated;
5. create (with a write intent committed first) or update only the fields that differ (diff-before-write: a value
   already there is never written again, which also ends any ping-pong);
6. commit fingerprints, binding, history and the job's completion in one transaction.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import Connection, insert, select, update

from b24sync.engine import files, header, review, rows, stages
from b24sync.messages import label as message_label
from b24sync.messages import t
from b24sync.engine.errors import ConflictError, HoldError, PermanentError, RetryableError, ValidationError
from b24sync.engine.dedupe import check_before_create
from b24sync.engine.mapper import (UnresolvedRef, edited_owned_fields, flows_from, map_record, match_criteria, other,
                                   project)
from b24sync.engine.normalize import normalize
from b24sync.engine.ports import ObjectRef, Record
from b24sync.engine.runtime import Outcome, Runtime
from b24sync.spec.models import Entity, Side
from b24sync.store import fingerprints, identity
from b24sync.store import queue as jobs
from b24sync.store.db import utcnow
from b24sync.store.fingerprints import canonical, fingerprint
from b24sync.store.models import Conflict, WriteIntent
from b24sync.store.queue import ClaimedJob


def lane_for(entity: str, side: str, record_id: str, binding: identity.Binding | None = None) -> str:
    """Jobs of one linked pair share a lane, so the two directions of one record never race each other."""
    if binding is not None:
        return f"{entity}:link:{binding.id}"
    return f"{entity}:{side}:{record_id}"


def enqueue_sync(conn: Connection, entity: str, side: str, record_id: str, *, record: Record | None = None,
                 force: bool = False, reason: str = "", scope: str | None = None) -> int:
    """Enqueue a sync of one record. ``scope`` is the entity's identity scope (``Spec.scope``), which names its
    links and lanes; it defaults to the entity itself. ``force`` bypasses the fingerprints (a resync, a revert); with
    ``record`` too, that record was just read in full and is used as it is (not read again)."""
    scope = scope or entity
    binding = identity.find(conn, scope, side, record_id)
    job = _sync_job(scope, entity, side, record_id, binding, record, force, reason)
    return jobs.enqueue(conn, kind="sync", entity=entity, lane=job.lane, payload=job.payload,
                        dedup_key=job.dedup_key)


def enqueue_sync_many(conn: Connection, entity: str, side: str, items: list[tuple[str, Record | None]], *,
                      force: bool = False, reason: str = "", scope: str | None = None) -> int:
    """``enqueue_sync`` for many records of one side (``(record_id, record or None)``) in a few statements: a poll
    page, an initial load. Same lanes, payloads and coalescing as one by one."""
    scope = scope or entity
    bindings = identity.find_many(conn, scope, side, [rid for rid, _ in items])
    return jobs.enqueue_many(conn, kind="sync", entity=entity, jobs=[
        _sync_job(scope, entity, side, rid, bindings.get(rid), rec, force, reason) for rid, rec in items])


def _sync_job(scope: str, entity: str, side: str, record_id: str, binding: identity.Binding | None,
              record: Record | None, force: bool, reason: str) -> jobs.NewJob:
    lane = lane_for(scope, side, record_id, binding)
    payload: dict[str, Any] = {"side": side, "id": record_id, "force": force, "reason": reason,
                               "enqueued_at": utcnow().isoformat()}  # the sync-lag metric's fallback start
    if record is not None:
        payload["snapshot"] = {"values": record.values, "version": record.version,
                               "modified": record.modified.isoformat() if record.modified else None}
        if force:
            payload["fresh"] = True
    return jobs.NewJob(lane, payload, f"sync:{entity}:{side}:{record_id}")


async def sync_record(rt: Runtime, job: ClaimedJob) -> Outcome:
    if rt.entity(job.entity).aggregate is not None:  # a sum over related documents (engine/aggregate.py)
        from b24sync.engine import aggregate

        return await aggregate.handle(rt, job)
    memo = stages.Memo()  # the watched stage fields this job saw, remembered with its outcome
    return memo.attach(await _sync(rt, job, memo))


async def _sync(rt: Runtime, job: ClaimedJob, memo: stages.Memo) -> Outcome:
    entity = rt.entity(job.entity)
    p = job.payload
    src: Side = p["side"]
    tgt: Side = other(src)
    src_id = str(p["id"])
    force = bool(p.get("force"))
    source = rt.adapter(entity, src)

    record = await _read_source(rt, entity, src, src_id, p)
    if record is None or record.deleted:
        return Outcome("skipped", detail={"why": f"record {src_id} no longer exists in {src}"})

    for g in entity.guards:
        if g.skip_if and g.skip_if.side == src and _flag_set(record.values.get(g.skip_if.field), g.skip_if.values):
            # Remember what we saw, so polls do not bring the flagged record back until it changes (the flag
            # field is part of the fingerprint, so clearing the flag syncs it).
            h = fingerprint(project(rt.spec, entity, src, record.values))
            return Outcome("skipped", detail={"why": f"do-not-sync flag {g.skip_if.field} is set"},
                           effects=lambda c: fingerprints.mark_read(c, job.entity, src, src_id, h, record.version))
        if g.only_if and g.only_if.side == src and not _flag_set(record.values.get(g.only_if.field), g.only_if.values):
            h = fingerprint(project(rt.spec, entity, src, record.values))
            return Outcome("skipped", detail={"why": f"routed elsewhere: {g.only_if.field} = "
                                                     f"{record.values.get(g.only_if.field)!r}"},
                           effects=lambda c: fingerprints.mark_read(c, job.entity, src, src_id, h, record.version))

    scope = rt.spec.scope(job.entity)
    memo.saw(rt.spec, entity, src, record)
    # store reads and writes run in a thread: hundreds of jobs share one event loop, and a blocked loop starves the
    # connectors' batchers (one SQLite commit is milliseconds)
    binding, seen_src, seen_tgt = await asyncio.to_thread(_memory, rt, scope, job.entity, src, tgt, src_id)

    if "snapshot" in p and seen_src is not None and seen_src.written_hash is not None and flows_from(rt.spec, entity, src):
        # We have written to this record: a poll snapshot may predate our write (the job was enqueued before the
        # pair was linked), and syncing it would carry old values back. Read the record as it is now.
        record = await source.get(rt.objref(entity, src), src_id)
        if record is None or record.deleted:
            return Outcome("skipped", detail={"why": f"record {src_id} no longer exists in {src}"})

    if not flows_from(rt.spec, entity, src):
        return await _guard_read_only(rt, entity, job, record, binding, seen_src)

    record = await rows.with_rows(rt, entity, src, record)  # rows kept apart from the record (Bitrix24)
    proj = project(rt.spec, entity, src, record.values)
    h = fingerprint(proj)
    if not force and seen_src and binding and binding.id_on(tgt):
        if h == seen_src.written_hash:
            return Outcome("echo", effects=lambda c: fingerprints.mark_read(c, job.entity, src, src_id, h, record.version))
        if h == seen_src.read_hash:
            return Outcome("unchanged")

    try:
        criteria = match_criteria(entity, tgt, record.values, src)
    except ValidationError:
        # A key that fails its check (`normalize: inn`) is what a `require_valid` guard is for: the guard's own
        # message (for the manager) holds the record; only without such a guard is it a dead letter.
        if any(g.require_valid and g.require_valid.side == src for g in entity.guards):
            await _check_holds(rt, entity, src, src_id, record, creating=binding is None or not binding.id_on(tgt))
        raise
    target = rt.adapter(entity, tgt)
    obj = rt.objref(entity, tgt)
    target_id = binding.id_on(tgt) if binding else None
    current: Record | None = None
    action = "updated"
    if target_id is not None:
        current = await target.get(obj, target_id)
        if current is None:
            target_id = None  # deleted on the target since: the master's record is brought back
            action = "recreated"
    relinked_from: str | None = None
    if target_id is None:
        target_id, current, relinked_from = await _locate(rt, entity, tgt, src_id, criteria, scope=scope)
        if target_id is not None:
            action = "relinked" if relinked_from is not None else "linked"
    match_key = criteria[0][1] if criteria else None

    if target_id is None:
        if not entity.create:
            return Outcome("skipped", detail={"why": f"no {tgt} record to update and the entity does not create"})
        gate = await stages.creation_gate(rt, entity, src, record, memo)
        if not gate.allowed:
            return Outcome("skipped", detail={"why": gate.why},
                           effects=lambda c: fingerprints.mark_read(c, job.entity, src, src_id, h, record.version))
        if not criteria and entity.without_match_key != "create":
            if any(g.require_valid and g.require_valid.side == src for g in entity.guards):
                await _check_holds(rt, entity, src, src_id, record, creating=True)  # a required INN: the guard's text
            names = ", ".join(k.crm if src == "crm" else k.erp for r in entity.match for k in r.keys)
            why = t("sync.no_match_key", title=entity.title or job.entity, id=src_id, names=names)
            if entity.without_match_key == "skip":
                return Outcome("skipped", detail={"why": why},
                               effects=lambda c: fingerprints.mark_read(c, job.entity, src, src_id, h, record.version))
            raise ValidationError(why)
        await _check_holds(rt, entity, src, src_id, record, creating=True)
        await check_before_create(entity, src, src_id, record, tgt, target, obj,  # spec `dedupe.before_create`
                                  distinct=await asyncio.to_thread(review.distinct, rt, job.entity, src, src_id)
                                  if entity.dedupe is not None else None)
        values = await _target_values(rt, job.entity, entity, src, record, for_create=True)
        for crit, _ in criteria:  # a new record carries its match keys, so it can be found again later
            for name, value in crit.items():
                values.setdefault(name, value)
        link_field = entity.link.crm if tgt == "crm" else entity.link.erp
        if link_field:
            values[link_field] = src_id
        intent_id = await asyncio.to_thread(_declare_intent, rt, job, entity_name=job.entity, side=tgt,
                                            natural_key=f"{src}:{src_id}")
        t0 = time.monotonic()
        apart = rows.pop_apart(rt, entity, tgt, values)  # deal rows: one replace-all call after the deal
        new_id = await target.create(obj, values)
        if apart is not None:
            await rows.write_apart(rt, entity, tgt, str(new_id), apart)
            values[entity.rows.crm if tgt == "crm" else entity.rows.erp] = apart  # type: ignore[union-attr]
        if entity.write_back:
            created = await target.get(obj, str(new_id))
            await header.write_back(rt, entity, src, src_id, record.values, created.values if created else values)
        # A partner deleted on the target is brought back: "recreated" lets the link move to the new record.
        return _committed(rt, job, entity, src, src_id, tgt, str(new_id), record, h, values, values, None,
                          "recreated" if action == "recreated" else "created", match_key, intent_id, int((time.monotonic() - t0) * 1000), seen_src)

    # A create of ours whose outcome was unknown (answer lost, process killed) and whose record is now found: the
    # create is completed, not merely linked — a composite card cut mid-way gets its missing pieces, with the
    # create-only fields too (the retry writes what the lost create would have written, never a second record).
    completing = action == "linked" and await asyncio.to_thread(_create_in_doubt, rt, job.entity, tgt,
                                                                f"{src}:{src_id}")
    await _check_holds(rt, entity, src, src_id, record, creating=completing)
    assert current is not None
    values = await _target_values(rt, job.entity, entity, src, record, for_create=completing)
    if completing:
        for crit, _ in criteria:
            for name, value in crit.items():
                values.setdefault(name, value)
    link_field = entity.link.crm if tgt == "crm" else entity.link.erp
    if link_field:
        values[link_field] = src_id
    conflicts = _resolve_conflicts(rt, entity, tgt, current, seen_tgt, values)
    if rows.rows_field(entity, tgt) in values:
        current = await rows.with_rows(rt, entity, tgt, current)  # rows kept apart are compared too
    diff = {k: v for k, v in values.items() if not rows.same_value(current.values.get(k), v)}
    apart = rows.pop_apart(rt, entity, tgt, diff)
    version = current.version
    if diff:
        try:
            version = await target.update(obj, target_id, diff, expected_version=current.version) or None
        except ConflictError as e:
            # Changed between our read and our write (the small race window): read again shortly.
            raise RetryableError(f"{e.reason} — will re-read and retry", retry_after=1.0) from e
    if apart is not None:
        await rows.write_apart(rt, entity, tgt, target_id, apart)
        diff[rows.rows_field(entity, tgt)] = apart  # type: ignore[index]
    merged = {**current.values, **diff}
    if entity.write_back:
        await header.write_back(rt, entity, src, src_id, record.values, merged)
    out = _committed(rt, job, entity, src, src_id, tgt, target_id, record, h, values, merged, version,
                     action if diff or action != "updated" else "unchanged", match_key, None, 0, seen_src,
                     conflicts=conflicts, diff=diff)
    if relinked_from is not None:  # the history line says whose link this was and why it moved
        out.detail.update({"relinked_from": relinked_from, "why": f"{src} record {relinked_from} no longer exists"})
        import logging

        logging.getLogger("b24sync.sync").warning(
            "%s: %s record %s found %s record %s by its match key and takes over its link: the old partner, %s "
            "record %s, no longer exists", job.entity, src, src_id, tgt, target_id, src, relinked_from)
    return out


async def _read_source(rt: Runtime, entity: Entity, src: Side, src_id: str, payload: dict[str, Any]) -> Record | None:
    snap = payload.get("snapshot")
    if snap is not None and (not payload.get("force") or payload.get("fresh")):
        return Record(src_id, snap["values"], version=snap.get("version"))
    return await rt.adapter(entity, src).get(rt.objref(entity, src), src_id)


async def _target_values(rt: Runtime, name: str, entity: Entity, src: Side, record: Record, *,
                         for_create: bool) -> dict[str, Any]:
    """The target record's values: mapped fields, then header constants and lookups, then the rows and their
    total (``rows`` are sent whole, or not at all once the record sits in a ``frozen_at`` stage)."""
    tgt = other(src)
    try:
        values = map_record(rt.spec, entity, src, record.values, for_create=for_create, resolve=_resolver(rt))
    except UnresolvedRef as e:
        if src == "erp" and for_create:
            await rows.push_items_early(rt, entity, name, record.values, _resolver(rt))
        _push_or_hold(rt, name, e)
    await header.apply(rt, entity, tgt, record.values, values, for_create=for_create)
    if src == "crm":
        await rows.apply(rt, entity, record.values, values, _resolver(rt), for_create=for_create)
    else:
        await rows.apply_to_crm(rt, entity, name, record.values, values, _resolver(rt), for_create=for_create)
    return values


def _push_or_hold(rt: Runtime, name: str, e: UnresolvedRef) -> None:
    """A referenced record (the deal's company) is not linked: push it first through an entity that syncs it from
    this side, when there is one, and wait; if that entity holds it (its guards), hold this record with its reason;
    with no such entity, hold with the spec's message."""
    from b24sync.store.models import DeadLetter
    from sqlalchemy import select

    ref_scope = rt.spec.scope(e.ref)
    pushers = [n for n, en in rt.spec.entities.items() if rt.spec.scope(n) == ref_scope and flows_from(rt.spec, en, e.side)]
    what = f"{e.ref} {e.value}"
    if not pushers:
        raise HoldError(e.hold or f"Компания (ID {e.value}) не связана с контрагентом 1С, а передавать компании из "
                        "Bitrix24 в 1С спецификация не разрешает — свяжите её с контрагентом 1С (заполните ИНН, "
                        "чтобы она нашлась при загрузке из 1С), затем повторите.",
                        detail={"ref": e.ref, "id": e.value, "field": e.field})
    with rt.db.begin() as conn:
        held = conn.execute(select(DeadLetter.reason).where(
            DeadLetter.entity.in_(pushers), DeadLetter.resolved_at.is_(None),
            DeadLetter.record_key.in_([jobs.record_key(p, "", {"side": e.side, "id": e.value}) for p in pushers]))
        ).scalars().first()
        if held is None:
            enqueue_sync(conn, pushers[0], e.side, e.value, scope=ref_scope, reason=f"needed by {name}")
    if held is not None:
        whom = (f"Компания (ID {e.value}) не передана в 1С" if e.side == "crm"
                else f"Контрагент 1С ({e.value}) не загружен в Bitrix24")
        raise HoldError(f"{e.hold + ' ' if e.hold else ''}{whom}: {held}",
                        detail={"ref": e.ref, "id": e.value, "field": e.field, "held": held})
    raise RetryableError(f"{e.field} refers to {what}, not linked yet — pushed it first through {pushers[0]}; "
                         "waiting for it", retry_after=5.0)


def _resolver(rt: Runtime):  # type: ignore[no-untyped-def]
    def resolve(entity_name: str, side: str, record_id: str) -> str | None:
        with rt.db.connect() as conn:
            b = identity.find(conn, rt.spec.scope(entity_name), side, record_id)
        return b.id_on(other(side)) if b else None  # type: ignore[arg-type]

    return resolve


def _flag_set(value: Any, flags: list[Any]) -> bool:
    return value is not None and any(canonical(value) == canonical(f) for f in flags)


async def _locate(rt: Runtime, entity: Entity, tgt: Side, src_id: str, criteria: list[tuple[dict[str, Any], str]],
                  *, scope: str) -> tuple[str | None, Record | None, str | None]:
    """Find the target record by our natural key (link field), then by each match rule in order: (target id, its
    record, the source id it was linked to before when the link is taken over).

    A record found that is already linked to *another* source record is a conflict, never a silent re-link: two
    source records claim one target (a duplicate, or a key typed wrong), and a person decides — unless that other
    source record is verifiably gone (a re-created 1C base gives every product a new Ref_Key; its code/article
    still finds the product): then the link is taken over, and the history line says from whom."""
    target = rt.adapter(entity, tgt)
    obj = rt.objref(entity, tgt)
    link_field = entity.link.crm if tgt == "crm" else entity.link.erp
    lookups: list[tuple[dict[str, Any], str]] = []
    if link_field:
        lookups.append(({link_field: src_id}, t("sync.by_link", field=link_field)))
    lookups += [(c, t("sync.by_key", key=key)) for c, key in criteria]
    everything: dict[str, Any] = {}
    for c, _ in criteria:
        everything.update(c)
    # The link field names the partner a record was linked to: another value there is not a contradiction of the
    # keys but a link to weigh (taken over only when that partner is gone, _relink_or_refuse).
    everything.pop(link_field or "", None)
    unique: list[tuple[dict[str, Any], str]] = []
    for crit, label in lookups:
        if all(crit != c for c, _ in unique):  # a match rule on the link field itself (XML_ID = Ref_Key): once
            unique.append((crit, label))
    # The lookups are reads: asked together, so a connector can coalesce them with other records' lookups into one
    # request (Bitrix24: one list call per 50 values); their answers are weighed in rule order as before.
    answers = await asyncio.gather(*(target.find(obj, crit) for crit, _ in unique))
    for (crit, label), rows in zip(unique, answers, strict=True):
        found = [r for r in rows if not r.deleted]
        # A hit of a looser rule (INN alone) must not contradict a stricter one (INN + KPP): a branch with another
        # KPP is a different record, not this one. An empty value on the target does not contradict.
        found = [r for r in found if _consistent(entity, tgt, r.values, everything)]
        if len(found) == 1:
            gone = await _relink_or_refuse(rt, entity, scope, tgt, found[0].id, src_id, label,
                                           noted=found[0].values.get(link_field) if link_field else None)
            return found[0].id, found[0], gone
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
        if await _gone(rt, entity, src, linked):
            return linked
        raise ConflictError(
            t("sync.relink", tgt=tgt, target_id=target_id, label=label, src=src, linked=linked, src_id=src_id),
            detail={"kind": "relink", f"{tgt}_id": target_id, f"{src}_id": src_id,
                                           f"linked_{src}_id": linked, "found_by": label})


async def _gone(rt: Runtime, entity: Entity, side: Side, record_id: str) -> bool:
    from b24sync.engine.errors import NotFoundError

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


async def _check_holds(rt: Runtime, entity: Entity, src: Side, src_id: str, record: Record, *, creating: bool) -> None:
    for g in entity.guards:
        if g.require_fields and g.require_fields.side == src:
            # Bitrix24 answers an empty link as 0 (crm.item companyId: 0 — document-flows.md checklist): not filled
            missing = [f for f in g.require_fields.fields if record.values.get(f) in (None, "", [], 0, "0")]
            if missing:
                raise HoldError(g.require_fields.message or t("hold.fill_in", fields=", ".join(missing)),
                                detail={"missing": missing})
        rr = g.require_related
        if rr and (creating or rr.on == "always") and rr.side == src:
            adapter = rt.adapter(entity, src)
            for rel in rr.any:
                where = {k: _subst(v, src_id, record.values) for k, v in rel.where.items()}
                if await adapter.exists(ObjectRef(rel.object), where):
                    break
            else:
                raise HoldError(rr.message, detail={"guard": "require_related"})
        rv = g.require_valid
        if rv and (creating or rv.on == "always") and rv.side == src:
            _check_valid(rv, record.values)
        ap = g.require_active_party
        if ap and (creating or ap.on == "always") and ap.side == src:
            await _check_active_party(rt, entity, ap, record.values)


async def _check_active_party(rt: Runtime, entity: Entity, ap: Any, values: dict[str, Any]) -> None:
    """``require_active_party``: ask the state register (through the ``party_status`` hook a flow installs — the
    engine knows no connector) whether the company may be sent. The hook raises ``HoldError`` with the provider's
    reason (liquidated, liquidating, unknown INN), ``DeferError`` when the provider's quota is used up, or returns."""
    inn = values.get(ap.inn)
    if inn in (None, ""):
        return  # an empty INN is require_valid's / require_fields' business
    hook = rt.hooks.get("party_status")
    if hook is None:
        raise PermanentError(f"the guard require_active_party asks `{ap.provider}`, but no party lookup is installed "
                             "(the auto-fill flow installs it for dadata / kontur-focus service systems)")
    kpp = values.get(ap.kpp) if ap.kpp else None
    await hook(rt, provider=ap.provider, inn=str(inn), kpp=str(kpp) if kpp not in (None, "") else None,
               target=rt.spec.system_for(entity, other(ap.side)), not_found=ap.not_found)



def _check_valid(rv: Any, values: dict[str, Any]) -> None:
    """``require_valid``: every check through b24sync.requisites; one HoldError listing all problems."""
    from b24sync import requisites as rq

    problems: list[str] = []
    for c in rv.checks:
        v = values.get(c.field)
        label = c.label or c.field
        if v in (None, "", []):
            if c.required:
                problems.append(t("valid.fill", label=label))
            continue
        if c.check == "account":
            bic = values.get(c.bic) if c.bic else None
            if bic in (None, ""):
                problems.append(t("valid.fill_bic", label=label))
                continue
            r = rq.check_account(v, bic, field=label)
        elif c.check == "ogrn_or_ogrnip":
            digits = "".join(ch for ch in str(v) if ch.isdigit())
            r = rq.check_ogrnip(v) if len(digits) == 15 else rq.check_ogrn(v)
        else:
            r = getattr(rq, f"check_{c.check}")(v)
        if not r.ok:
            shown = message_label(label)
            problems.append(t("valid.fix", label=label, message=r.message) if shown not in (r.message or "")
                            else t("valid.fix_bare", message=r.message))
    if problems:
        head = rv.message or t("valid.head")
        raise HoldError(f"{head}: " + "; ".join(problems) + ".", detail={"guard": "require_valid",
                                                                        "problems": problems})


def _subst(value: Any, record_id: str, values: dict[str, Any]) -> Any:
    if not isinstance(value, str):
        return value
    if value == "{id}":
        return record_id
    if value.startswith("{field:") and value.endswith("}"):
        return values.get(value[7:-1])
    return value.replace("{id}", record_id)


def _resolve_conflicts(rt: Runtime, entity: Entity, tgt: Side, current: Record, seen_tgt: fingerprints.Seen | None,
                       values: dict[str, Any]) -> list[dict[str, Any]]:
    """Fields owned by both sides that the target changed since our last write: the master's value wins."""
    if seen_tgt is None or not seen_tgt.written_values:
        return []
    master = rt.spec.master_side(entity)
    found = []
    for f in entity.fields:
        if rt.spec.owner_of(entity, f) != "both":
            continue
        name = f.crm if tgt == "crm" else f.erp
        if name not in values:
            continue
        theirs, ours_before, ours_now = current.values.get(name), seen_tgt.written_values.get(name), values[name]
        if canonical(theirs) not in (canonical(ours_before), canonical(ours_now)):
            found.append({"field": name, "target_value": theirs, "source_value": ours_now, "winner": master})
            if master == tgt:
                values.pop(name)  # the target is master for this entity: keep its edit
    return found


def _memory(rt: Runtime, scope: str, entity_name: str, src: Side, tgt: Side, src_id: str
            ) -> tuple[identity.Binding | None, fingerprints.Seen | None, fingerprints.Seen | None]:
    """What the store remembers of a record: its binding and both sides' fingerprints."""
    with rt.db.connect() as conn:
        binding = identity.find(conn, scope, src, src_id)
        seen_src = fingerprints.get(conn, entity_name, src, src_id)
        tgt_id = binding.id_on(tgt) if binding else None
        seen_tgt = fingerprints.get(conn, entity_name, tgt, tgt_id) if tgt_id else None
    return binding, seen_src, seen_tgt


def _create_in_doubt(rt: Runtime, entity_name: str, side: str, natural_key: str) -> bool:
    """Whether a create of this record on ``side`` was declared and never resolved (its outcome is unknown)."""
    with rt.db.connect() as conn:
        return conn.execute(select(WriteIntent.id).where(
            WriteIntent.entity == entity_name, WriteIntent.side == side, WriteIntent.natural_key == natural_key,
            WriteIntent.resolved_at.is_(None)).limit(1)).first() is not None


def _declare_intent(rt: Runtime, job: ClaimedJob, *, entity_name: str, side: str, natural_key: str) -> int:
    with rt.db.begin() as conn:
        return int(conn.execute(insert(WriteIntent).values(
            entity=entity_name, side=side, op="create", natural_key=natural_key, job_id=job.id, created_at=utcnow(),
        ).returning(WriteIntent.id)).scalar_one())


def _committed(rt: Runtime, job: ClaimedJob, entity: Entity, src: Side, src_id: str, tgt: Side, target_id: str,
               record: Record, src_hash: str, values: dict[str, Any], merged: dict[str, Any], version: str | None,
               action: str, match_key: str | None, intent_id: int | None, duration_ms: int,
               seen_src: fingerprints.Seen | None, *, conflicts: list[dict[str, Any]] | None = None,
               diff: dict[str, Any] | None = None) -> Outcome:
    tgt_hash = fingerprint(project(rt.spec, entity, tgt, merged))
    name = job.entity

    def effects(conn: Connection) -> None:
        ids = {"crm_id": src_id, "erp_id": target_id} if src == "crm" else {"crm_id": target_id, "erp_id": src_id}
        try:
            identity.bind(conn, rt.spec.scope(name), match_key=match_key, replace=action in ("recreated", "relinked"),
                          **ids)
        except identity.RelinkRefused as e:
            raise ConflictError(
                f"refusing to re-point a link: {e} — two records claim one partner; merge the duplicates (or "
                "correct the key), then replay", detail={"kind": "relink", "linked_crm_id": e.existing.crm_id,
                                                       "linked_erp_id": e.existing.erp_id, **ids}) from None
        fingerprints.mark_read(conn, name, src, src_id, src_hash, record.version)
        stages.note_written(conn, rt.spec, entity, tgt, target_id, values)
        fingerprints.mark_written(conn, name, tgt, target_id, written_hash=tgt_hash, written_values=values,
                                  version=version)
        # This attempt's intent and any left open by an earlier attempt (a lost answer, a kill) are settled now.
        conn.execute(update(WriteIntent).where(
            WriteIntent.entity == name, WriteIntent.side == tgt, WriteIntent.natural_key == f"{src}:{src_id}",
            WriteIntent.resolved_at.is_(None)).values(remote_id=target_id, resolved_at=utcnow()))
        files.enqueue_after(conn, rt, name, ids["crm_id"], ids["erp_id"])  # spec `files`: the pair's files next
        for c in conflicts or []:
            conn.execute(insert(Conflict).values(
                entity=name, crm_id=ids["crm_id"], erp_id=ids["erp_id"], field=c["field"], detail=c,
                created_at=utcnow(), resolved_at=utcnow()))

    detail: dict[str, Any] = {"fields": sorted((diff if diff is not None else values).keys())}
    if conflicts:
        detail["conflicts"] = conflicts
    links = {"crm": src_id, "erp": target_id} if src == "crm" else {"crm": target_id, "erp": src_id}
    return Outcome(action, target=tgt, target_id=target_id, detail=detail, effects=effects,
                   event={"target": tgt, "values": values, "links": links})


async def _guard_read_only(rt: Runtime, entity: Entity, job: ClaimedJob, record: Record,
                           binding: identity.Binding | None, seen: fingerprints.Seen | None) -> Outcome:
    """A change on a side that does not own the entity's fields: if someone edited a field the other side owns,
    put the owner's value back (ERP-owned fields are read-only in the CRM) and say why."""
    side: Side = job.payload["side"]
    owner_side = other(side)
    if binding is None or binding.id_on(owner_side) is None or seen is None or not seen.written_values:
        return Outcome("skipped", detail={"why": f"{job.entity} does not flow from {side}"})
    edited = edited_owned_fields(rt.spec, entity, side, record.values, seen.written_values)
    if edited and job.payload.get("snapshot") is not None:
        # The poll's snapshot may predate our own write in this lane (stale, not a manual edit): look again.
        fresh = await rt.adapter(entity, side).get(rt.objref(entity, side), record.id)
        edited = [] if fresh is None else [
            n for n in edited_owned_fields(rt.spec, entity, side, fresh.values, seen.written_values) if n in edited]
    if not edited:
        return Outcome("skipped", detail={"why": "no owned field was edited"})
    owner_id = binding.id_on(owner_side)
    assert owner_id is not None

    def effects(conn: Connection) -> None:
        enqueue_sync(conn, job.entity, owner_side, owner_id, force=True, scope=rt.spec.scope(job.entity),
                     reason=f"revert manual edit of {', '.join(edited)} in {side}")

    hook = rt.hooks.get("on_revert")
    if hook is not None:
        await hook(rt, entity=entity, side=side, record_id=record.id, fields=edited)
    return Outcome("reverted", target=side, target_id=record.id, detail={"fields": edited}, effects=effects)

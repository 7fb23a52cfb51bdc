"""Routing one entity to several ERP bases (spec ``erp.route``, docs/several-systems.md "Routing").

The spec model turns a routed entity into one copy per base (``order@onec_a``, ``order@onec_b``), so identity,
cursors, fingerprints, write intents, poll leases and history are per (system, id) with no change to the engine.
This module is the rule that makes the copies one entity:

- a CRM record goes to the base its ``by`` field names (a list field's value is an item id: translated through the
  portal's item names, read once from ``describe``); the other copies skip it as "routed elsewhere";
- an empty or unknown value: with ``default: hold``, the first copy holds the record — only when it would be
  created there (the stage trigger fired), with a Russian reason saying what to fill; the others skip;
- a record already linked in one base stays there: a changed value never makes a second document in another base
  (document-flows.md E.26: the seller maps to one base) — the base that has it holds the record with the reason;
- a record a base sends to the CRM gets that base's value in ``by`` (records carry their source), and a CRM record
  found by a link or match key whose ``by`` names another base is not this base's (two bases may share numbers and
  GUIDs — a cloned base — and their records never collide);
- without ``by`` (a counterparty followed by the orders that need it): a CRM record goes to a base when a routed
  document there pushes it (the ``ref`` transform's push-or-hold) or it is linked there already.
"""

from __future__ import annotations

import weakref
from typing import Any

from sqlalchemy import select

from b24sync.engine.errors import HoldError
from b24sync.engine.ports import Record
from b24sync.engine.runtime import Outcome, Runtime
from b24sync.messages import t
from b24sync.spec.models import Entity, Route, Side
from b24sync.store import identity

# (crm system, object, field) -> {spec value: wire value} per CRM adapter; a list field is read once
_wire: weakref.WeakKeyDictionary[Any, dict[tuple[str, str, str], dict[str, str] | None]] = weakref.WeakKeyDictionary()


def _norm(v: Any) -> str:
    return " ".join(str(v).split()).casefold()


async def list_items(rt: Runtime, entity: Entity, field: str) -> list[dict[str, Any]] | None:
    """The items of a list (enumeration) field on the CRM side, or None when the field is not a list (or the
    connector cannot tell)."""
    adapter: Any = rt.adapter(entity, "crm")
    describe = getattr(adapter, "describe", None)
    if describe is None:
        return None
    schema = await describe(rt.objref(entity, "crm"))
    if schema is None:
        return None
    items = (schema.detail.get("enums") or {}).get(field)
    return list(items) if items is not None else None


def resolve(route: Route, items: list[dict[str, Any]] | None) -> tuple[dict[str, str], list[str]]:
    """Each route value → what the CRM field holds for it (a list item's id; a plain field: the value itself), and
    the values the list does not have."""
    values = list(route.systems) if isinstance(route.systems, dict) else []
    if items is None:
        return {v: v for v in values}, []
    out: dict[str, str] = {}
    missing: list[str] = []
    for v in values:
        hit = next((it for it in items if _norm(it.get("VALUE", "")) == _norm(v)), None)
        hit = hit or next((it for it in items if it.get("XML_ID") not in (None, "") and _norm(it["XML_ID"]) == _norm(v)),
                          None)
        hit = hit or next((it for it in items if str(it.get("ID")) == str(v)), None)
        if hit is None:
            missing.append(v)
        else:
            out[v] = str(hit.get("ID"))
    return out, missing


async def wire_values(rt: Runtime, entity: Entity, route: Route) -> dict[str, str]:
    assert route.by is not None
    key = (rt.spec.system_for(entity, "crm"), entity.crm.object, route.by)
    cache = _wire.setdefault(rt.adapter(entity, "crm"), {})  # per portal client (a Runtime is not hashable)
    if key not in cache:
        cache[key] = resolve(route, await list_items(rt, entity, route.by))[0]
    return cache[key] or {}


def _is_empty(v: Any) -> bool:
    return v is None or v in ("", [], 0, "0") or (isinstance(v, list) and not any(x not in (None, "") for x in v))


def _label(value: Any, wire: dict[str, str]) -> str:
    back = {w: v for v, w in wire.items()}
    first = value[0] if isinstance(value, list) and value else value
    return back.get(str(first), str(first))


def _wanted(route: Route, wire: dict[str, str], value: Any) -> str | None:
    if _is_empty(value) or not isinstance(route.systems, dict):
        return None
    vals = value if isinstance(value, list) else [value]
    for v in vals:
        for label, system in route.systems.items():
            if str(v) == wire.get(label, label) or _norm(v) == _norm(label):
                return system
    return None


def _linked(rt: Runtime, name: str, crm_id: str) -> dict[str, str]:
    """system -> ERP id, for the bases whose copy of this entity has the CRM record linked."""
    out: dict[str, str] = {}
    with rt.db.connect() as conn:
        for sib in rt.spec.route_siblings(name):
            b = identity.find(conn, rt.spec.scope(sib), "crm", crm_id)
            if b is not None and b.erp_id:
                out[sib.rsplit("@", 1)[1]] = b.erp_id
    return out


def _held_here(rt: Runtime, name: str, side: str, record_id: str) -> int | None:
    """The hold this copy put on the record (open, or replayed just now), if that is the record's last parking."""
    from b24sync.store import queue as jobs
    from b24sync.store.models import DeadLetter

    key = jobs.record_key(name, "", {"side": side, "id": record_id})
    with rt.db.connect() as conn:
        row = conn.execute(select(DeadLetter.id, DeadLetter.kind, DeadLetter.resolved_at, DeadLetter.resolution)
                           .where(DeadLetter.entity == name, DeadLetter.record_key == key)
                           .order_by(DeadLetter.id.desc()).limit(1)).first()
    if row is None or row.kind != "held" or (row.resolved_at is not None and row.resolution != "replayed"):
        return None
    return int(row.id)


def _skip(why: str, effects: Any = None) -> Outcome:
    return Outcome("skipped", detail={"why": why}, effects=effects)


async def decide(rt: Runtime, name: str, entity: Entity, src: Side, src_id: str, record: Record,
                 payload: dict[str, Any]) -> Outcome | None:
    """None: this base's copy handles the record; an Outcome: it skips it (why, in the history); HoldError: the
    record waits with the reason (it is linked in this base and its field now names another)."""
    routed = rt.spec.routed(name)
    if routed is None or src != "crm":
        return None  # a record read from a base is that base's own
    base, mine, route = routed
    siblings = rt.spec.route_siblings(name)
    linked = _linked(rt, name, src_id)
    if route.by is None:
        if mine in linked or str(payload.get("reason") or "").startswith("needed by"):
            return None
        return _skip(f"not needed in base {mine}: no routed document there refers to it")
    wire = await wire_values(rt, entity, route)
    value = record.values.get(route.by)
    wanted = _wanted(route, wire, value) or (route.default if route.default in route.targets() else None)
    if linked:
        if mine not in linked:
            home = next(iter(linked))
            return _skip(f"linked in base {home} (ERP id {linked[home]})")
        if wanted == mine or (wanted is None and route.default == "skip"):
            return None
        raise HoldError(t("route.moved", home=mine, home_value=route.value_for(mine) or mine, erp_id=linked[mine],
                          field=route.by, value=_label(value, wire) if not _is_empty(value)
                          else t("route.empty_value")),
                        detail={"guard": "route", "field": route.by, "base": mine, "erp_id": linked[mine],
                                "value": value})
    if wanted == mine:
        return None
    if wanted is not None:
        sibling = f"{base}@{wanted}"
        why = f"routed to base {wanted}: {route.by} = {_label(value, wire)!r}"
        letter = _held_here(rt, name, src, src_id) if sibling in rt.spec.entities else None
        if letter is not None:
            # this copy held the record (the value was empty); the value is filled now — a replay, or any change,
            # hands it to the base it names
            from sqlalchemy import update

            from b24sync.engine.enqueue import enqueue_sync
            from b24sync.store.db import utcnow
            from b24sync.store.models import DeadLetter

            def hand_over(conn: Any) -> None:
                enqueue_sync(conn, sibling, src, src_id, scope=rt.spec.scope(sibling), reason=f"routed from {name}")
                conn.execute(update(DeadLetter).where(DeadLetter.id == letter).values(
                    resolved_at=utcnow(), resolution=f"routed to {wanted}"))

            return _skip(why, hand_over)
        return _skip(why)
    if route.default == "skip":
        return _skip(f"{route.by} names no base ({_label(value, wire) if not _is_empty(value) else 'empty'})")
    if name != siblings[0]:
        return _skip(f"{route.by} names no base yet: base {siblings[0].rsplit('@', 1)[1]} holds the record")
    return None  # the first base's copy holds it, if it comes to a create (engine/sync.py _check_holds)


async def check_create(rt: Runtime, name: str, entity: Entity, src: Side, record: Record) -> None:
    """Before a create in this base: a CRM record whose field names no base waits, saying what to fill."""
    routed = rt.spec.routed(name)
    if routed is None or src != "crm":
        return
    _, mine, route = routed
    if route.by is None:
        return
    wire = await wire_values(rt, entity, route)
    value = record.values.get(route.by)
    if _wanted(route, wire, value) is not None or route.default in route.targets():
        return
    values = ", ".join(f"«{v}»" for v in route.systems)
    if _is_empty(value):
        text = route.message or t("route.empty", field=route.by, values=values)
    else:
        text = route.message or t("route.unknown", field=route.by, value=_label(value, wire), values=values)
    raise HoldError(text, detail={"guard": "route", "field": route.by, "value": value})


async def crm_value(rt: Runtime, name: str, entity: Entity) -> tuple[str, str] | None:
    """(field, what it holds) for a record this base creates in the CRM: its source, e.g. the seller."""
    routed = rt.spec.routed(name)
    if routed is None or routed[2].by is None:
        return None
    _, mine, route = routed
    label = route.value_for(mine)
    if label is None:
        return None
    wire = await wire_values(rt, entity, route)
    return route.by, wire.get(label, label)


async def mine(rt: Runtime, scope: str, tgt: Side, found: list[Record]) -> list[Record]:
    """CRM records found by a link or match key (for an entity of identity ``scope``) that belong to another base
    (their field names it) are not this base's: two bases may use the same numbers and GUIDs."""
    if tgt != "crm" or not found or not any("@" in n for n in rt.spec.entities):
        return found
    name = next((n for n in rt.spec.entities if rt.spec.scope(n) == scope and (r := rt.spec.routed(n)) is not None
                 and r[2].by is not None), None)
    routed = rt.spec.routed(name) if name is not None else None
    if routed is None:
        return found
    _, me, route = routed
    wire = await wire_values(rt, rt.spec.entities[name], route)  # type: ignore[index]
    return [r for r in found if _wanted(route, wire, r.values.get(route.by)) in (None, me)]

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
  document there pushes it (the ``ref`` transform's push-or-hold) or it is linked there already;
- with ``parent`` (a smart invoice, a contract card): ``by`` is read on the record's parent (its deal, through
  ``parentId2``), so the seller chosen once on the deal routes its order, invoices and contracts alike; a record
  with no parent is held (the deal names the base);
- a value the list does not have is looked up again once (the list's items re-read) before the record is held, so
  an item added or re-created on the portal after the start routes without a restart.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from b24sync.engine.errors import HoldError
from b24sync.engine.ports import ObjectRef, Record
from b24sync.engine.runtime import Outcome, Runtime
from b24sync.messages import current_locale, t
from b24sync.spec.models import Entity, Route, Side
from b24sync.store import identity

# (crm system, object, field) -> {spec value: wire value} per CRM adapter; a list field is read at the first use and
# again when a record holds a value it does not know (at most once per unknown value per REREAD_SECONDS)
_wire: weakref.WeakKeyDictionary[Any, dict[tuple[str, str, str], dict[str, str] | None]] = weakref.WeakKeyDictionary()
_names: weakref.WeakKeyDictionary[Any, dict[tuple[str, str, str], dict[str, str]]] = weakref.WeakKeyDictionary()
_inflight: weakref.WeakKeyDictionary[Any, dict[tuple[str, str, str], asyncio.Future[None]]] = \
    weakref.WeakKeyDictionary()
_tried: weakref.WeakKeyDictionary[Any, dict[tuple[str, str, str, str], float]] = weakref.WeakKeyDictionary()
REREAD_SECONDS = 300.0

# the parent a routed record's `by` is read on (spec `route.parent`): its name in the hold reasons
_PARENT_NAMES = {"ru": {"crm.deal": ("сделка", "сделки", "к сделке"), "crm.lead": ("лид", "лида", "к лиду"),
                        "crm.company": ("компания", "компании", "к компании"),
                        "crm.contact": ("контакт", "контакта", "к контакту"),
                        "": ("родительская запись", "родительской записи", "к родительской записи")},
                 "en": {"crm.deal": ("deal", "of the deal", "to a deal"), "crm.lead": ("lead", "of the lead", "to a lead"),
                        "crm.company": ("company", "of the company", "to a company"),
                        "crm.contact": ("contact", "of the contact", "to a contact"),
                        "": ("parent", "of the parent", "to a parent")}}


def _parent_names(obj: str) -> tuple[str, str, str]:
    names = _PARENT_NAMES.get(current_locale(), _PARENT_NAMES["ru"])
    return names.get(obj, names[""])


def _norm(v: Any) -> str:
    return " ".join(str(v).split()).casefold()


def by_object(entity: Entity, route: Route) -> str:
    """The CRM object whose field ``by`` is: the parent's (``route.parent``), else the entity's own."""
    if route.parent is not None:
        return route.parent.parent_object() or entity.crm.object
    return entity.crm.object


async def list_items(rt: Runtime, entity: Entity, field: str, obj: str | None = None) -> list[dict[str, Any]] | None:
    """The items of a list (enumeration) field on the CRM side (of ``obj``, default the entity's object), or None
    when the field is not a list (or the connector cannot tell)."""
    adapter: Any = rt.adapter(entity, "crm")
    describe = getattr(adapter, "describe", None)
    if describe is None:
        return None
    schema = await describe(ObjectRef(obj) if obj else rt.objref(entity, "crm"))
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


def _wire_key(rt: Runtime, entity: Entity, route: Route) -> tuple[str, str, str]:
    assert route.by is not None
    return (rt.spec.system_for(entity, "crm"), by_object(entity, route), route.by)


async def _read(rt: Runtime, entity: Entity, route: Route, key: tuple[str, str, str]) -> None:
    items = await list_items(rt, entity, key[2], key[1])
    adapter = rt.adapter(entity, "crm")
    _wire.setdefault(adapter, {})[key] = resolve(route, items)[0]
    _names.setdefault(adapter, {})[key] = {str(i.get("ID")): str(i.get("VALUE") or "") for i in items or []}


async def wire_values(rt: Runtime, entity: Entity, route: Route) -> dict[str, str]:
    key = _wire_key(rt, entity, route)
    adapter = rt.adapter(entity, "crm")  # per portal client (a Runtime is not hashable)
    while (pending := _inflight.get(adapter, {}).get(key)) is not None:
        await asyncio.shield(pending)  # a read under way (the first one, or a re-read): its answer, not a second read
    cache = _wire.setdefault(adapter, {})
    if key not in cache:
        await _reading(rt, entity, route, key)
    return _wire.get(adapter, {}).get(key) or {}


async def _reading(rt: Runtime, entity: Entity, route: Route, key: tuple[str, str, str]) -> None:
    adapter = rt.adapter(entity, "crm")
    inflight = _inflight.setdefault(adapter, {})
    task = asyncio.ensure_future(_read(rt, entity, route, key))
    inflight[key] = task
    try:
        await asyncio.shield(task)
    finally:
        if inflight.get(key) is task:
            del inflight[key]


async def reread(rt: Runtime, entity: Entity, route: Route, value: Any) -> dict[str, str]:
    """A value the cached items do not route (an item added, or deleted and made again, on the portal after the
    start): the list is read again — once per unknown value per REREAD_SECONDS, and concurrent records share that
    one read, so a flood of records with a value the route really lacks costs one read, not one per record."""
    key = _wire_key(rt, entity, route)
    adapter = rt.adapter(entity, "crm")
    tried = _tried.setdefault(adapter, {})
    tkey = (*key, str(value[0] if isinstance(value, list) and value else value))
    now = time.monotonic()
    if now - tried.get(tkey, -REREAD_SECONDS - 1) > REREAD_SECONDS and key not in _inflight.get(adapter, {}):
        tried[tkey] = now
        await _reading(rt, entity, route, key)
    return await wire_values(rt, entity, route)


def item_name(rt: Runtime, entity: Entity, route: Route, value: Any) -> str | None:
    """A list item's name for the id a record holds (as last read), for the hold reasons."""
    first = value[0] if isinstance(value, list) and value else value
    return (_names.get(rt.adapter(entity, "crm")) or {}).get(_wire_key(rt, entity, route), {}).get(str(first)) or None


async def reread(rt: Runtime, entity: Entity, route: Route, value: Any) -> dict[str, str]:
    """A value the cached items do not route (an item added, or deleted and made again, on the portal after the
    start): the list is read again — once per unknown value per REREAD_SECONDS, so a flood of records with a
    value the route really lacks costs one read, not one per record."""
    key = _wire_key(rt, entity, route)
    adapter = rt.adapter(entity, "crm")
    tried = _tried.setdefault(adapter, {})
    tkey = (*key, str(value[0] if isinstance(value, list) and value else value))
    now = time.monotonic()
    if now - tried.get(tkey, -REREAD_SECONDS - 1) <= REREAD_SECONDS:
        return await wire_values(rt, entity, route)
    tried[tkey] = now
    _wire.setdefault(adapter, {}).pop(key, None)
    return await wire_values(rt, entity, route)


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


@dataclass
class Pick:
    """What a CRM record's ``by`` says: the base it names (None: none), the value, the field as the hold reasons
    name it («UF_CRM_SELLER (сделка 12)» when read on the parent), the items' ids, and whether a parent is missing."""

    system: str | None
    value: Any
    field: str
    wire: dict[str, str]
    no_parent: bool = False
    name: str | None = None  # the list item's name for the value


async def pick(rt: Runtime, entity: Entity, route: Route, record: Record) -> Pick:
    """The base a CRM record's ``by`` names — read on the record, or on its parent (``route.parent``); a value the
    cached list items do not route is looked up again once (engine/route.py ``reread``)."""
    assert route.by is not None
    value: Any = record.values.get(route.by)
    field = route.by
    if route.parent is not None:
        obj = by_object(entity, route)
        names = _parent_names(obj)
        pid = record.values.get(route.parent.field)
        pid = pid[0] if isinstance(pid, list) and pid else pid
        parent = None if _is_empty(pid) else await rt.adapter(entity, "crm").get(ObjectRef(obj), str(pid))
        if parent is None or parent.deleted:
            return Pick(None, None, route.by, await wire_values(rt, entity, route), no_parent=True)
        value = parent.values.get(route.by)
        field = f"{route.by} ({names[0]} {pid})"
    wire = await wire_values(rt, entity, route)
    system = _wanted(route, wire, value)
    if system is None and not _is_empty(value):
        wire = await reread(rt, entity, route, value)  # the list may have changed on the portal since the start
        system = _wanted(route, wire, value)
    return Pick(system, value, field, wire, name=item_name(rt, entity, route, value))


def _shown(p: Pick) -> str:
    if _is_empty(p.value):
        return t("route.empty_value")
    return p.name or _label(p.value, p.wire)


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
    p = await pick(rt, entity, route, record)
    value, wire = p.value, p.wire
    wanted = p.system or (route.default if route.default in route.targets() else None)
    if linked:
        if mine not in linked:
            home = next(iter(linked))
            return _skip(f"linked in base {home} (ERP id {linked[home]})")
        if wanted == mine or (wanted is None and route.default == "skip"):
            return None
        raise HoldError(t("route.moved", home=mine, home_value=route.value_for(mine) or mine, erp_id=linked[mine],
                          field=p.field, value=_shown(p)),
                        detail={"guard": "route", "field": route.by, "base": mine, "erp_id": linked[mine],
                                "value": value})
    if wanted == mine:
        return None
    if wanted is not None:
        sibling = f"{base}@{wanted}"
        why = f"routed to base {wanted}: {p.field} = {_label(value, wire)!r}"
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
        return _skip(f"{p.field} names no base ({_label(value, wire) if not _is_empty(value) else 'empty'})")
    if name != siblings[0]:
        return _skip(f"{p.field} names no base yet: base {siblings[0].rsplit('@', 1)[1]} holds the record")
    return None  # the first base's copy holds it, if it comes to a create (engine/sync.py _check_holds)


async def check_create(rt: Runtime, name: str, entity: Entity, src: Side, record: Record) -> None:
    """Before a create in this base: a CRM record whose field names no base waits, saying what to fill."""
    routed = rt.spec.routed(name)
    if routed is None or src != "crm":
        return
    _, mine, route = routed
    if route.by is None:
        return
    p = await pick(rt, entity, route, record)
    if p.system is not None or route.default in route.targets():
        return
    values = ", ".join(f"«{v}»" for v in route.systems)
    if p.no_parent:
        assert route.parent is not None
        names = _parent_names(by_object(entity, route))
        text = route.message or t("route.no_parent", to=names[2], field=route.parent.field, by=route.by,
                                  of=names[1], values=values)
    elif _is_empty(p.value):
        text = route.message or t("route.empty", field=p.field, values=values)
    else:
        text = route.message or t("route.unknown", field=p.field, value=_shown(p), values=values)
    raise HoldError(text, detail={"guard": "route", "field": route.by, "value": p.value})


async def crm_value(rt: Runtime, name: str, entity: Entity) -> tuple[str, str] | None:
    """(field, what it holds) for a record this base creates in the CRM: its source, e.g. the seller (not when the
    field is the parent's: the record's parent carries it)."""
    routed = rt.spec.routed(name)
    if routed is None or routed[2].by is None or routed[2].parent is not None:
        return None
    _, mine, route = routed
    label = route.value_for(mine)
    if label is None:
        return None
    wire = await wire_values(rt, entity, route)
    return route.by, wire.get(label, label)


async def mine(rt: Runtime, scope: str, tgt: Side, found: list[Record]) -> list[Record]:
    """CRM records found by a link or match key (for an entity of identity ``scope``) that belong to another base
    (their field — or their parent's — names it) are not this base's: two bases may use the same numbers and
    GUIDs (a contract card whose deal is routed to base A never takes the signed PDF of base B's look-alike)."""
    if tgt != "crm" or not found or not any("@" in n for n in rt.spec.entities):
        return found
    name = next((n for n in rt.spec.entities if rt.spec.scope(n) == scope and (r := rt.spec.routed(n)) is not None
                 and r[2].by is not None), None)
    routed = rt.spec.routed(name) if name is not None else None
    if routed is None:
        return found
    _, me, route = routed
    entity = rt.spec.entities[name]  # type: ignore[index]
    out = []
    for r in found:
        p = await pick(rt, entity, route, r)
        if p.system in (None, me):
            out.append(r)
    return out

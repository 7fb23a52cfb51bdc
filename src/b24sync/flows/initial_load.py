"""Initial load / historical migration: the deduplication an integrator runs once before go-live.

Both sides are read in full, then every record is classified (:func:`plan`):

1. **already linked** — the identity map pairs it with a record read on the other side: *matched*, nothing to do;
2. **key match** — the entity's match rules (INN, INN + KPP, …; exact after normalisation) pair one CRM record with
   one ERP record: the pair is bound in the identity map and one sync job is enqueued from the master side so the
   master's data lands (*updated*). Two records *compatible* when they share a rule's key and no rule's key
   differs on both — so branches (same INN, different KPP) never pair with each other, while a record without a KPP
   pairs with the one record of its INN;
3. **conflict** — a group of compatible records with more than one record on a side (two CRM companies with one INN
   and the same or no KPP): reported with every id, nothing is linked or created for any of them;
4. **rejected** — a key that fails validation (an INN with a wrong check digit): reported with the reason;
5. **proposed** — a record without a usable key is compared by name (:mod:`b24sync.flows.names`) with the
   unpaired records of the other side and with the other CRM records; pairs scoring at least the threshold are
   *proposed* for review, never merged; an unpaired keyed record that is part of a proposal is not created either
   (creating it would make the duplicate the proposal is about);
6. **create** — every other unpaired record with a key, on a side the entity flows from, is enqueued as a normal
   sync job; the engine creates it on the other side (with the link field, write intents, idempotency), which is
   why a second run finds every pair and changes nothing.

Writes are committed in batches, each batch together with its progress in the store's ``cursors`` table
(``initial-load:<entity>``), so an interrupted run resumes where it stopped and ends with the same totals.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from b24sync.engine.errors import ValidationError
from b24sync.engine.mapper import flows_from, other
from b24sync.engine.normalize import normalize
from b24sync.engine.ports import ChangeCursor, Record
from b24sync.engine.runtime import Runtime
from b24sync.flows import names as nm
from b24sync.spec.models import Entity, MatchRule, Side, Spec
from b24sync.store import cursors, identity
from b24sync.store.models import DeadLetter

DEFAULT_THRESHOLD = 0.9
_NAME_FIELDS_CRM = ("TITLE", "title", "NAME", "name", "COMPANY_TITLE")
_NAME_FIELDS_ERP = ("Description", "Наименование", "НаименованиеПолное", "name", "title", "Name", "NAME")


def cursor_name(entity: str) -> str:
    return f"initial-load:{entity}"


# ---- what the plan is made of --------------------------------------------------------------------------------


@dataclass
class Item:
    side: Side
    id: str
    record: Record
    name: str
    keys: list[str | None]  # per key rule: the normalised key, or None when a part is empty
    invalid: str | None = None  # why a key could not be used (failed validation)

    @property
    def ref(self) -> str:
        return f"{self.side}:{self.id}"

    @property
    def keyed(self) -> bool:
        return any(k is not None for k in self.keys)


@dataclass
class Pair:
    crm_id: str
    erp_id: str
    key: str | None
    how: str  # "identity map" | the rule's title
    already: bool  # linked before this run


@dataclass
class Create:
    side: Side  # where the record is now (the engine creates it on the other side)
    id: str
    name: str
    key: str | None


@dataclass
class Proposal:
    type: str  # crm-erp | crm-crm
    crm_id: str
    other_id: str  # the ERP id (crm-erp) or the second CRM id (crm-crm)
    crm_name: str
    other_name: str
    score: float
    reason: str

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.type, "crm_id": self.crm_id}
        d["erp_id" if self.type == "crm-erp" else "other_crm_id"] = self.other_id
        d.update(crm_name=self.crm_name, other_name=self.other_name, score=self.score, reason=self.reason)
        return d


@dataclass
class ConflictGroup:
    crm_ids: list[str]
    erp_ids: list[str]
    key: str
    reason: str


@dataclass
class Rejected:
    side: Side
    id: str
    name: str
    reason: str


@dataclass
class Skipped:
    side: Side
    id: str
    name: str
    reason: str


@dataclass
class Plan:
    pairs: list[Pair] = field(default_factory=list)
    creates: list[Create] = field(default_factory=list)
    proposals: list[Proposal] = field(default_factory=list)
    conflicts: list[ConflictGroup] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


# ---- reading the spec ----------------------------------------------------------------------------------------


def key_rules(entity: Entity) -> list[MatchRule]:
    """Match rules used as exact keys (a rule made only of ``normalize: name`` parts is a name hint, not a key)."""
    return [r for r in entity.match if any(p.normalize != "name" for p in r.keys)]


def name_fields(entity: Entity) -> tuple[str | None, str | None]:
    """The company-name field on each side: a ``normalize: name`` match part, else the mapped title field."""
    for r in entity.match:
        for p in r.keys:
            if p.normalize == "name":
                return p.crm, p.erp
    for f in entity.fields:
        if f.crm in _NAME_FIELDS_CRM or f.erp in _NAME_FIELDS_ERP:
            return f.crm, f.erp
    return None, None


def _rule_title(rule: MatchRule) -> str:
    return rule.title or " + ".join(p.crm for p in rule.keys)


def make_item(entity: Entity, side: Side, record: Record, name_field: str | None) -> Item:
    keys: list[str | None] = []
    invalid = None
    for rule in key_rules(entity):
        parts = []
        for p in rule.keys:
            fld = p.crm if side == "crm" else p.erp
            raw = record.values.get(fld)
            if raw is None or str(raw).strip() == "":
                parts = None
                break
            try:
                value = normalize(p.normalize, raw, field=fld) if p.normalize else str(raw).strip()
            except ValidationError as e:
                invalid = invalid or f"`{fld}`: {e.reason}"
                parts = None
                break
            parts.append(f"{p.crm}={value}")
        keys.append("|".join(parts) if parts else None)
    if invalid:
        keys = [None] * len(keys)
    name = str(record.values.get(name_field) or "") if name_field else ""
    return Item(side, record.id, record, name, keys, invalid)


# ---- the matcher (pure: no I/O) ------------------------------------------------------------------------------


class _UF:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _compatible(a: Item, b: Item) -> bool:
    """Same key on some rule and no rule whose keys both exist and differ (INN+KPP vs INN: branches stay apart)."""
    shared = False
    for ka, kb in zip(a.keys, b.keys, strict=True):
        if ka is not None and kb is not None:
            if ka != kb:
                return False
            shared = True
    return shared


def plan(spec: Spec, entity: Entity, crm: Iterable[Item], erp: Iterable[Item], *,
         links: dict[str, str] | None = None, threshold: float = DEFAULT_THRESHOLD,
         rule_titles: list[str] | None = None,
         progress: Callable[[int], None] | None = None) -> Plan:
    """Classify every record. ``links`` is the identity map for this entity (crm id -> erp id)."""
    items = {i.ref: i for i in [*crm, *erp]}
    links = links or {}
    titles = rule_titles or [_rule_title(r) for r in key_rules(entity)]
    out = Plan()
    paired: set[str] = set()
    tick = progress or (lambda n: None)

    # 1. the identity map
    for crm_id, erp_id in links.items():
        c, e = items.get(f"crm:{crm_id}"), items.get(f"erp:{erp_id}")
        if c is not None and e is not None:
            key = next((k for k in c.keys if k is not None), None)
            out.pairs.append(Pair(crm_id, erp_id, key, "identity map", True))
            paired.update((c.ref, e.ref))

    # 2. rejected keys
    for it in items.values():
        if it.invalid and it.ref not in paired:
            out.rejected.append(Rejected(it.side, it.id, it.name, it.invalid))

    # 3. components of compatible records
    uf = _UF()
    open_items = [i for i in items.values() if i.ref not in paired and i.keyed]
    for r in range(len(titles)):
        groups: dict[str, list[Item]] = defaultdict(list)
        for it in open_items:
            if it.keys[r] is not None:
                groups[it.keys[r]].append(it)  # type: ignore[index]
        for members in groups.values():
            for x in range(len(members)):
                for y in range(x + 1, len(members)):
                    if _compatible(members[x], members[y]):
                        uf.union(members[x].ref, members[y].ref)
    comps: dict[str, list[Item]] = defaultdict(list)
    for it in open_items:
        comps[uf.find(it.ref)].append(it)
        tick(1)
    tick(len(items) - len(open_items))  # the linked and keyless records need no grouping
    singles: list[Item] = []
    conflicted: set[str] = set()
    for members in comps.values():
        cs = sorted((m for m in members if m.side == "crm"), key=lambda m: _sort_id(m.id))
        es = sorted((m for m in members if m.side == "erp"), key=lambda m: _sort_id(m.id))
        if len(members) == 1:
            singles.append(members[0])
        elif len(cs) == 1 and len(es) == 1:
            c, e = cs[0], es[0]
            r = next(i for i, (a, b) in enumerate(zip(c.keys, e.keys, strict=True)) if a is not None and a == b)
            out.pairs.append(Pair(c.id, e.id, c.keys[r], titles[r], False))
            paired.update((c.ref, e.ref))
        else:
            key = _common_key(members)
            out.conflicts.append(ConflictGroup([m.id for m in cs], [m.id for m in es], key, _conflict_reason(cs, es, key)))
            conflicted.update(m.ref for m in members)

    # 4. name proposals for records without a usable key
    proposals = _propose(items, paired, conflicted, threshold)
    out.proposals = proposals
    in_proposal = {p_ref for p in proposals if p.type == "crm-erp" for p_ref in (f"crm:{p.crm_id}", f"erp:{p.other_id}")}

    # 5. creates and the records left alone
    for it in sorted(singles, key=lambda i: (i.side, _sort_id(i.id))):
        if it.ref in in_proposal:
            continue
        if not flows_from(spec, entity, it.side):
            out.skipped.append(Skipped(it.side, it.id, it.name, f"{entity.direction}: records only in the {it.side} "
                                                                  f"are not copied to the {other(it.side)}"))
        elif not entity.create:
            out.skipped.append(Skipped(it.side, it.id, it.name, "the entity does not create records (create: false)"))
        else:
            out.creates.append(Create(it.side, it.id, it.name, next(k for k in it.keys if k is not None)))
    for it in sorted(items.values(), key=lambda i: (i.side, _sort_id(i.id))):
        if it.keyed or it.invalid or it.ref in paired or it.ref in in_proposal:
            continue
        out.skipped.append(Skipped(it.side, it.id, it.name, "no match key value (INN) — fill it in so the record "
                                                              "can be matched; it is neither linked nor created"))
    out.pairs.sort(key=lambda p: (_sort_id(p.crm_id), _sort_id(p.erp_id)))
    return out


def _sort_id(x: str) -> tuple[int, int | str]:
    return (0, int(x)) if x.isdigit() else (1, x)


def _common_key(members: list[Item]) -> str:
    counts: dict[str, int] = defaultdict(int)
    for m in members:
        for k in m.keys:
            if k is not None:
                counts[k] += 1
    return max(sorted(counts), key=lambda k: counts[k])


def _conflict_reason(cs: list[Item], es: list[Item], key: str) -> str:
    where = []
    if len(cs) > 1:
        where.append(f"{len(cs)} CRM records")
    if len(es) > 1:
        where.append(f"{len(es)} ERP records")
    what = " and ".join(where) or "records"
    return (f"{what} share {key} with the same or no KPP — merge the duplicates (or fill in the KPP of each branch), "
            f"then run again; nothing was linked or created for them")


def _propose(items: dict[str, Item], paired: set[str], conflicted: set[str], threshold: float) -> list[Proposal]:
    analysed = {ref: nm.analyse(it.name) for ref, it in items.items() if it.name}
    index: dict[str, list[str]] = defaultdict(list)
    for ref, n in analysed.items():
        for k in nm.block_keys(n):
            index[k].append(ref)
    seen: set[tuple[str, str]] = set()
    found: list[Proposal] = []
    for ref, it in sorted(items.items()):
        if it.keyed or ref not in analysed or ref in conflicted:
            continue
        # only records without a usable key look for partners; a keyed record is found by them
        cands: set[str] = set()
        for k in nm.block_keys(analysed[ref]):
            cands.update(index[k])
        for cref in sorted(cands):
            if cref == ref or cref in conflicted:
                continue
            o = items[cref]
            if it.side == "erp" and o.side == "erp":
                continue
            if it.side != o.side and (ref in paired or cref in paired):
                continue  # a linked pair has its partner; a CRM twin of it shows up as crm-crm
            a, b = (it, o) if it.side == "crm" else (o, it)
            pair_key = (a.ref, b.ref) if a.side != b.side else tuple(sorted((a.ref, b.ref), key=_ref_sort))  # type: ignore[assignment]
            if pair_key in seen:
                continue
            seen.add(pair_key)  # type: ignore[arg-type]
            sim = nm.similarity(analysed[a.ref], analysed[b.ref])
            if sim.score < threshold:
                continue
            if a.side == b.side:
                first, second = sorted((a, b), key=lambda i: _sort_id(i.id))
                found.append(Proposal("crm-crm", first.id, second.id, first.name, second.name, sim.score,
                                      _proposal_reason(sim, first, second)))
            else:
                found.append(Proposal("crm-erp", a.id, b.id, a.name, b.name, sim.score, _proposal_reason(sim, a, b)))
    found.sort(key=lambda p: (p.type, -p.score, _sort_id(p.crm_id), _sort_id(p.other_id)))
    return found


def _ref_sort(ref: str) -> tuple[str, tuple[int, int | str]]:
    side, _, rid = ref.partition(":")
    return side, _sort_id(rid)


def _proposal_reason(sim: nm.Similarity, a: Item, b: Item) -> str:
    why_a = "no INN" if not a.invalid else "invalid INN"
    why_b = "no INN" if not b.invalid else "invalid INN"
    missing = [f"{x.side.upper()} {x.id}: {w}" for x, w in ((a, why_a), (b, why_b)) if not x.keyed]
    return f"{sim.reason} ({'; '.join(missing)}) — review and merge by hand, then fill in the INN"


# ---- running it ----------------------------------------------------------------------------------------------


@dataclass
class Options:
    threshold: float = DEFAULT_THRESHOLD
    dry_run: bool = False
    batch: int = 100
    page: int | None = None  # read page size (default: the spec's poll_page)
    progress: bool = False  # Rich progress bars (the CLI turns them on)
    run_engine: bool = True  # work the queue after enqueueing (tests may look at the queue instead)
    after_record: Callable[[int], None] | None = None  # test hook: called after each applied record (count so far)


@dataclass
class Report:
    entity: str
    dry_run: bool
    threshold: float
    resumed: bool
    totals: dict[str, int]
    plan: Plan
    created: list[dict[str, Any]]
    updated: list[dict[str, Any]]
    failed: list[dict[str, Any]]
    engine: dict[str, int]
    read: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        p = self.plan
        return {
            "entity": self.entity, "dry_run": self.dry_run, "threshold": self.threshold, "resumed": self.resumed,
            "read": self.read, "totals": self.totals,
            "created": self.created, "updated": self.updated,
            "matched": [asdict(x) for x in p.pairs if x.already],
            "proposed": [x.to_json() for x in p.proposals],
            "conflicts": [asdict(x) for x in p.conflicts],
            "rejected": [asdict(x) for x in p.rejected],
            "skipped": [asdict(x) for x in p.skipped],
            "failed": self.failed,
            "engine": self.engine,
        }

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=2, default=str), encoding="utf-8")


async def read_all(rt: Runtime, entity: Entity, side: Side, *, page: int,
                   tick: Callable[[int], None] | None = None) -> list[Record]:
    """Every record of one side, paging ``read_changes`` from the beginning (no overlap, strict cursor)."""
    adapter, obj = rt.adapter(entity, side), rt.objref(entity, side)
    cursor = ChangeCursor()
    records: dict[str, Record] = {}
    while True:
        pg = await adapter.read_changes(obj, cursor, overlap_seconds=0, limit=page)
        new = [r for r in pg.records if r.id not in records]
        for r in pg.records:
            records[r.id] = r
        if tick:
            tick(len(new))
        if not pg.more or not new or pg.cursor == cursor:
            break
        cursor = pg.cursor
    return [r for r in records.values() if not r.deleted]


def _links(rt: Runtime, entity: str) -> dict[str, str]:
    from b24sync.store.models import Link

    with rt.db.connect() as conn:
        rows = conn.execute(select(Link.crm_id, Link.erp_id).where(Link.entity == entity)).all()
    return {r.crm_id: r.erp_id for r in rows if r.crm_id and r.erp_id}


async def initial_load(rt: Runtime, entity_name: str, opts: Options | None = None) -> Report:
    from b24sync.engine.sync import enqueue_sync

    opts = opts or Options()
    entity = rt.entity(entity_name)
    spec = rt.spec
    page = opts.page or spec.defaults.poll_page
    crm_name, erp_name = name_fields(entity)
    master = spec.master_side(entity)

    state = None
    if not opts.dry_run:
        with rt.db.connect() as conn:
            state = cursors.get(conn, cursor_name(entity_name))
    resumed = bool(state and state.get("status") == "running")
    done: dict[str, str] = dict(state.get("done", {})) if resumed and state else {}

    from b24sync.progress import Progress, watch_queue

    with Progress(opts.progress) as prog:
        crm_records = await read_all(rt, entity, "crm", page=page, tick=prog.task("reading CRM"))
        erp_records = await read_all(rt, entity, "erp", page=page, tick=prog.task("reading ERP"))
        crm_items = [make_item(entity, "crm", r, crm_name) for r in crm_records]
        erp_items = [make_item(entity, "erp", r, erp_name) for r in erp_records]
        the_plan = plan(spec, entity, crm_items, erp_items, links=_links(rt, rt.spec.scope(entity_name)), threshold=opts.threshold,
                        progress=prog.task("matching", total=len(crm_items) + len(erp_items)))
        by_ref = {i.ref: i for i in [*crm_items, *erp_items]}

        # What this run has to write, in a stable order; what an interrupted run already wrote is skipped.
        actions: list[tuple[str, Pair | Create]] = []
        for p in the_plan.pairs:
            if not p.already and f"crm:{p.crm_id}" not in done and f"erp:{p.erp_id}" not in done:
                actions.append(("link", p))
        for c in the_plan.creates:
            if f"{c.side}:{c.id}" not in done:
                actions.append(("create", c))

        if not opts.dry_run:
            with rt.db.begin() as conn:
                cursors.put(conn, cursor_name(entity_name), {
                    "status": "running", "started_at": (state or {}).get("started_at") if resumed else _now(),
                    "done": done})
            tick = prog.task("linking and enqueueing", total=len(actions))
            applied = 0
            for start in range(0, len(actions), max(1, opts.batch)):
                chunk = actions[start:start + max(1, opts.batch)]
                with rt.db.begin() as conn:
                    for kind, a in chunk:
                        if kind == "link":
                            assert isinstance(a, Pair)
                            identity.bind(conn, rt.spec.scope(entity_name), crm_id=a.crm_id, erp_id=a.erp_id, match_key=a.key)
                            src: Side = master if flows_from(spec, entity, master) else other(master)
                            src_id = a.crm_id if src == "crm" else a.erp_id
                            enqueue_sync(conn, entity_name, src, src_id, record=by_ref[f"{src}:{src_id}"].record,
                                         reason="initial load: linked by match key", scope=rt.spec.scope(entity_name))
                            done[f"crm:{a.crm_id}"] = done[f"erp:{a.erp_id}"] = "updated"
                        else:
                            assert isinstance(a, Create)
                            enqueue_sync(conn, entity_name, a.side, a.id, record=by_ref[f"{a.side}:{a.id}"].record,
                                         reason="initial load: create on the other side",
                                         scope=rt.spec.scope(entity_name))
                            done[f"{a.side}:{a.id}"] = "created"
                        applied += 1
                        if opts.after_record:
                            opts.after_record(applied)
                    cursors.put(conn, cursor_name(entity_name), {
                        "status": "running", "started_at": _now(), "done": done})
                tick(len(chunk))

    engine: dict[str, int] = {}
    if not opts.dry_run and opts.run_engine:
        from b24sync.engine.service import RunOptions, run

        from b24sync.store import queue as jobs

        with Progress(opts.progress) as prog:
            queued = await asyncio.to_thread(jobs.depth, rt.db)
            watcher = asyncio.ensure_future(watch_queue(lambda: jobs.depth(rt.db),
                                                        prog.task("syncing through the engine", total=queued)))
            try:
                stats = await run(rt, RunOptions(once=True, poll=False))
            finally:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
        engine = {**stats.actions, "dead": stats.dead, "held": stats.held, "retried": stats.retried}

    report = _report(rt, entity_name, the_plan, done, opts, resumed, engine,
                     {"crm": len(crm_records), "erp": len(erp_records)})
    if not opts.dry_run:
        with rt.db.begin() as conn:
            cursors.put(conn, cursor_name(entity_name), {
                "status": "complete", "finished_at": _now(), "totals": report.totals})
    return report


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _report(rt: Runtime, entity_name: str, p: Plan, done: dict[str, str], opts: Options, resumed: bool,
            engine: dict[str, int], read: dict[str, int]) -> Report:
    created: list[dict[str, Any]] = []
    updated: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    matched = 0
    creates = {f"{c.side}:{c.id}": c for c in p.creates}
    # A record created by an interrupted run is paired by now: it still counts as created, not as matched.
    for pr in p.pairs:
        was = done.get(f"crm:{pr.crm_id}") or done.get(f"erp:{pr.erp_id}")
        if was == "created":
            side = "crm" if done.get(f"crm:{pr.crm_id}") == "created" else "erp"
            created.append({"side": side, "id": pr.crm_id if side == "crm" else pr.erp_id,
                            "crm_id": pr.crm_id, "erp_id": pr.erp_id})
        elif was == "updated" or (not pr.already and opts.dry_run):
            updated.append({"crm_id": pr.crm_id, "erp_id": pr.erp_id, "key": pr.key, "how": pr.how})
        elif pr.already:
            matched += 1
        else:  # linked now but not recorded (cannot happen outside a dry run)
            updated.append({"crm_id": pr.crm_id, "erp_id": pr.erp_id, "key": pr.key, "how": pr.how})
    open_letters = _open_dead_letters(rt, entity_name) if not opts.dry_run else {}
    with rt.db.connect() as conn:
        bound = {ref: identity.find(conn, rt.spec.scope(entity_name), c.side, c.id) for ref, c in creates.items()}
    for ref, c in creates.items():
        b = bound[ref]
        if opts.dry_run:
            created.append({"side": c.side, "id": c.id, "name": c.name, "key": c.key})
            continue
        lane = f"{rt.spec.scope(entity_name)}:{c.side}:{c.id}"
        if b is not None and b.id_on(other(c.side)):
            created.append({"side": c.side, "id": c.id, "name": c.name, "key": c.key,
                            f"{other(c.side)}_id": b.id_on(other(c.side))})
        elif lane in open_letters:
            failed.append({"side": c.side, "id": c.id, "name": c.name, "reason": open_letters[lane]})
        else:  # enqueued and not yet worked (run_engine=False) or still pending a retry
            failed.append({"side": c.side, "id": c.id, "name": c.name,
                           "reason": "enqueued, not created yet — `b24sync run` will finish it"})
    totals = {
        "created": len(created), "updated": len(updated), "matched": matched, "proposed": len(p.proposals),
        "conflicts": len(p.conflicts), "rejected": len(p.rejected), "skipped": len(p.skipped), "failed": len(failed),
    }
    return Report(entity_name, opts.dry_run, opts.threshold, resumed, totals, p, created, updated, failed, engine, read)


def _open_dead_letters(rt: Runtime, entity: str) -> dict[str, str]:
    with rt.db.connect() as conn:
        rows = conn.execute(select(DeadLetter.lane, DeadLetter.reason)
                            .where(DeadLetter.entity == entity, DeadLetter.resolved_at.is_(None))).all()
    return {r.lane: r.reason for r in rows}

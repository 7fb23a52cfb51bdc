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
5. **proposed** — a record without a usable key is compared by name (:mod:`b24sync.matching.names`) with the
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
from b24sync.engine.normalize import checked_inn, normalize
from b24sync.engine.ports import ChangeCursor, Record
from b24sync.engine.runtime import Runtime
from b24sync.matching import Card, Policy, cluster, compare, make_card
from b24sync.matching.cards import inn_near
from b24sync.matching.fields import evidence_fields, is_inn_part, name_fields
from b24sync.spec.models import Entity, MatchRule, Side, Spec
from b24sync.store import cursors, identity
from b24sync.store.models import DeadLetter

DEFAULT_THRESHOLD = 0.85  # Policy.suggest; an entity's `dedupe.suggest` overrides it
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
    card: Card | None = None  # the record as matching evidence (name, INN/KPP, phones, e-mails, address)

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
class ProposalCluster:
    """Records that look like one company: a person accepts (merges) or rejects the whole group."""

    id: str  # stable across runs: a hash of the member refs
    members: list[dict[str, Any]]  # side, id, name, inn, kpp, phones, emails, address
    links: list[dict[str, Any]]  # a, b, score, decision, evidence, reason — why the group holds together
    warnings: list[str]
    score: float  # the weakest link
    decision: str | None = None  # a reviewer's: accepted | rejected (from --decisions)
    todo: str | None = None  # what is left for a person after the decision

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


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
    proposals: list[Proposal] = field(default_factory=list)  # every pair inside a proposal cluster
    clusters: list[ProposalCluster] = field(default_factory=list)
    conflicts: list[ConflictGroup] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


# ---- reading the spec ----------------------------------------------------------------------------------------


def key_rules(entity: Entity) -> list[MatchRule]:
    """Match rules used as exact keys (a rule made only of ``normalize: name`` parts is a name hint, not a key)."""
    return [r for r in entity.match if any(p.normalize != "name" for p in r.keys)]


def _rule_title(rule: MatchRule) -> str:
    return rule.title or " + ".join(p.crm for p in rule.keys)


def _first(values: dict[str, Any], names: Iterable[str]) -> Any:
    for n in names:
        v = values.get(n)
        if v not in (None, "", []):
            return v
    return None


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
                if is_inn_part(p):  # an INN is checked whatever `normalize` says (`inn`, `digits`, none)
                    value = checked_inn(raw, field=fld)
                else:
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
    ev = evidence_fields(entity, side)
    v = record.values
    card = make_card(f"{side}:{record.id}", name=name, inn=_first(v, ev["inn"]), kpp=_first(v, ev["kpp"]),
                     phones=_first(v, ev["phones"]), emails=_first(v, ev["emails"]),
                     address=_first(v, ev["address"]))
    return Item(side, record.id, record, name, keys, invalid, card)


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
         progress: Callable[[int], None] | None = None,
         policy: Policy | None = None,
         match_progress: Callable[[int, int], None] | None = None,
         decisions: dict[str, dict[str, Any]] | None = None) -> Plan:
    """Classify every record. ``links`` is the identity map for this entity (crm id -> erp id)."""
    items = {i.ref: i for i in [*crm, *erp]}
    links = links or {}
    titles = rule_titles or [_rule_title(r) for r in key_rules(entity)]
    out = Plan()
    paired: set[str] = set()
    tick = progress or (lambda n: None)
    tick_match = match_progress

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

    # 4. clusters of suspected duplicates (every record takes part, those in conflicts too)
    out.clusters, out.proposals = _propose(items, paired, policy or Policy(suggest=threshold), tick_match)
    _apply_decisions(out, items, paired, decisions or {})
    in_proposal = {f"{m['side']}:{m['id']}" for c in out.clusters if c.decision != "rejected" for m in c.members}
    in_proposal -= paired
    _point_rejections_at_near_inns(out, items)

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


def _propose(items: dict[str, Item], paired: set[str], policy: Policy,
             progress: Callable[[int, int], None] | None) -> tuple[list[ProposalCluster], list[Proposal]]:
    """Clusters of records that look like one company, for a person to decide; exact INN links alone are not a
    proposal (step 3 links them), a cluster is proposed when one of its links is a similarity or it joins a record
    with no usable key. ERP-only clusters are left to the ERP (the book of record)."""
    cards = [it.card for it in items.values() if it.card is not None and it.name]
    result = cluster(cards, policy, progress=progress)
    clusters: list[ProposalCluster] = []
    pairs: list[Proposal] = []
    for c in result.clusters:
        members = [items[r] for r in c.refs]
        if all(m.side == "erp" for m in members):
            continue
        if c.automatic:
            continue  # exact INN (+KPP) only: linked, or reported as a conflict, by step 3
        members.sort(key=lambda m: (m.side, _sort_id(m.id)))
        cid = _cluster_id([m.ref for m in members])
        clusters.append(ProposalCluster(
            cid, [_member_json(m) for m in members],
            [{"a": e.a, "b": e.b, "score": e.verdict.score, "decision": e.verdict.decision,
              "evidence": e.verdict.evidence, "reason": e.verdict.reason} for e in c.edges],
            list(c.warnings), c.score))
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                a, b = members[x], members[y]
                if a.side == "erp" and b.side == "erp":
                    continue
                if a.side == "erp":
                    a, b = b, a
                if b.side == "erp" and (a.ref in paired or b.ref in paired):
                    continue  # a linked pair has its partner; a CRM twin of it shows up as crm-crm
                v = compare(a.card, b.card, policy)  # type: ignore[arg-type]
                kind = "crm-crm" if b.side == "crm" else "crm-erp"
                pairs.append(Proposal(kind, a.id, b.id, a.name, b.name, v.score,
                                      _proposal_reason(v.reason, v.evidence, a, b)))
    clusters.sort(key=lambda c: (-c.score, c.id))
    pairs.sort(key=lambda p: (p.type, -p.score, _sort_id(p.crm_id), _sort_id(p.other_id)))
    return clusters, pairs


def _cluster_id(refs: list[str]) -> str:
    import hashlib

    return hashlib.sha1("|".join(sorted(refs)).encode()).hexdigest()[:10]


def _member_json(it: Item) -> dict[str, Any]:
    c = it.card
    assert c is not None
    return {"side": it.side, "id": it.id, "name": it.name, "inn": c.inn or None,
            "inn_status": c.inn_status if c.inn else None, "kpp": c.kpp or None, "phones": sorted(c.phones),
            "emails": sorted(c.emails), "address": c.address.raw if c.address else None,
            "linked": False}


def load_decisions(path: Path) -> dict[str, dict[str, Any]]:
    """A reviewer's decisions: YAML or JSON, a list of ``{cluster: ID, decision: accept|reject, keep: crm:ID}``."""
    from ruamel.yaml import YAML

    data = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or []
    if isinstance(data, dict):
        data = data.get("decisions", [])
    out: dict[str, dict[str, Any]] = {}
    for i, d in enumerate(data, 1):
        if not isinstance(d, dict) or "cluster" not in d or d.get("decision") not in ("accept", "reject"):
            raise ValueError(f"{path}: entry {i}: expected {{cluster: ID, decision: accept|reject[, keep: crm:ID]}}")
        out[str(d["cluster"])] = d
    return out


def _apply_decisions(p: Plan, items: dict[str, Item], paired: set[str], decisions: dict[str, dict[str, Any]]) -> None:
    """accept: the cluster is one company — its CRM record (``keep``, or the only one) is linked with its ERP
    record; other CRM cards are left for a merge in Bitrix24. reject: the records are separate companies and go on
    as if never proposed (a record with an INN is created on the other side)."""
    for c in p.clusters:
        d = decisions.get(c.id)
        if d is None:
            continue
        refs = [f"{m['side']}:{m['id']}" for m in c.members]
        if d["decision"] == "reject":
            c.decision, c.todo = "rejected", "separate companies: each goes on by its own INN"
            continue
        crm = [r for r in refs if r.startswith("crm:")]
        erp = [r for r in refs if r.startswith("erp:") and r not in paired]
        keep = str(d.get("keep") or (crm[0] if len(crm) == 1 else ""))
        c.decision = "accepted"
        if len(erp) > 1:
            c.todo = "several ERP records: merge them in the ERP first, then run again"
        elif keep not in crm:
            c.todo = f"several CRM records: say which one stays (keep: crm:ID), one of {', '.join(crm)}"
        elif erp and keep not in paired:
            e = erp[0]
            p.pairs.append(Pair(keep.split(":", 1)[1], e.split(":", 1)[1], None, "accepted by a reviewer", False))
            paired.update((keep, e))
            rest = [r for r in crm if r != keep]
            c.todo = f"linked {keep} with {e}" + (f"; merge {', '.join(rest)} into {keep} in Bitrix24" if rest else "")
        else:
            rest = [r for r in crm if r != keep]
            c.todo = f"merge {', '.join(rest)} into {keep} in Bitrix24" if rest else "nothing to link"


def _point_rejections_at_near_inns(p: Plan, items: dict[str, Item]) -> None:
    """A mistyped INN one digit (or one swap) away from another record's valid INN names that record."""
    valid: dict[str, list[Item]] = defaultdict(list)
    for it in items.values():
        if it.card is not None and it.card.valid_inn:
            valid[it.card.inn].append(it)
    if not valid:
        return
    by_len: dict[int, list[str]] = defaultdict(list)
    for inn in valid:
        by_len[len(inn)].append(inn)
    for r in p.rejected:
        it = items.get(f"{r.side}:{r.id}")
        if it is None or it.card is None or it.card.inn_status != "invalid":
            continue
        near = [inn for inn in by_len.get(len(it.card.inn), []) if inn_near(inn, it.card.inn)]
        if near:
            from b24sync.messages import t

            who = ", ".join(f"{inn} ({o.side.upper()} {o.id} «{o.name}»)" for inn in near[:3] for o in valid[inn][:2])
            r.reason += t("il.inn_near", who=who)


def _ref_sort(ref: str) -> tuple[str, tuple[int, int | str]]:
    side, _, rid = ref.partition(":")
    return side, _sort_id(rid)


def _proposal_reason(reason: str, evidence: list[str], a: Item, b: Item) -> str:
    missing = [f"{x.side.upper()} {x.id}: {'no INN' if not x.invalid else 'invalid INN'}"
               for x in (a, b) if not x.keyed]
    tail = f" ({'; '.join(missing)})" if missing else ""
    return f"{reason}; evidence: {', '.join(evidence)}{tail} — review and merge by hand, then fill in the INN"


# ---- running it ----------------------------------------------------------------------------------------------


@dataclass
class Options:
    threshold: float | None = None  # default: the entity's `dedupe.suggest`, else DEFAULT_THRESHOLD
    dry_run: bool = False
    batch: int = 100
    page: int | None = None  # read page size (default: the spec's poll_page)
    progress: bool = False  # Rich progress bars (the CLI turns them on)
    run_engine: bool = True  # work the queue after enqueueing (tests may look at the queue instead)
    after_record: Callable[[int], None] | None = None  # test hook: called after each applied record (count so far)
    decisions: dict[str, dict[str, Any]] | None = None  # a reviewer's accept/reject per cluster id (load_decisions)


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
            "proposed": [x.to_json() for x in p.clusters],
            "proposed_pairs": [x.to_json() for x in p.proposals],
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
    from b24sync.engine.enqueue import enqueue_sync_many

    opts = opts or Options()
    entity = rt.entity(entity_name)
    spec = rt.spec
    page = opts.page or spec.defaults.poll_page
    crm_name, erp_name = name_fields(entity)
    master = spec.master_side(entity)
    threshold = resolve_threshold(entity, opts.threshold)
    opts.threshold = threshold

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
        pair_ticks: list[tuple[Callable[[int], None], int]] = []

        def on_pairs(done_pairs: int, total_pairs: int) -> None:  # the pair count is known once blocking is done
            if not pair_ticks:
                pair_ticks.append((prog.task("comparing candidate pairs", total=total_pairs), 0))
            tick_pairs, last = pair_ticks[0]
            tick_pairs(done_pairs - last)
            pair_ticks[0] = (tick_pairs, done_pairs)

        from b24sync.engine import review

        # a reviewer's decisions: those taken in the console (engine/review.py), then a --decisions file
        decided = {**review.cluster_decisions(rt, entity_name), **(opts.decisions or {})}
        the_plan = plan(spec, entity, crm_items, erp_items, links=_links(rt, rt.spec.scope(entity_name)),
                        threshold=threshold, progress=prog.task("grouping by INN", total=len(crm_items) + len(erp_items)),
                        match_progress=on_pairs, decisions=decided)
        if not opts.dry_run:  # the open clusters go to the console's Review page
            review.store_clusters(rt, entity_name, [c.to_json() for c in the_plan.clusters if c.decision is None])
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
                    # bindings first, then the chunk's jobs in one statement per side and reason (their lanes follow
                    # the bindings just made)
                    todo: dict[tuple[Side, str], list[tuple[str, Record | None]]] = {}
                    for kind, a in chunk:
                        if kind == "link":
                            assert isinstance(a, Pair)
                            identity.bind(conn, rt.spec.scope(entity_name), crm_id=a.crm_id, erp_id=a.erp_id, match_key=a.key)
                            src: Side = master if flows_from(spec, entity, master) else other(master)
                            src_id = a.crm_id if src == "crm" else a.erp_id
                            todo.setdefault((src, "initial load: linked by match key"), []).append(
                                (src_id, by_ref[f"{src}:{src_id}"].record))
                            done[f"crm:{a.crm_id}"] = done[f"erp:{a.erp_id}"] = "updated"
                        else:
                            assert isinstance(a, Create)
                            todo.setdefault((a.side, "initial load: create on the other side"), []).append(
                                (a.id, by_ref[f"{a.side}:{a.id}"].record))
                            done[f"{a.side}:{a.id}"] = "created"
                        applied += 1
                        if opts.after_record:
                            opts.after_record(applied)
                    for (side, reason), items in todo.items():
                        enqueue_sync_many(conn, entity_name, side, items, reason=reason,
                                          scope=rt.spec.scope(entity_name))
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


def resolve_threshold(entity: Entity, given: float | None) -> float:
    if given is not None:
        return given
    return entity.dedupe.suggest if entity.dedupe is not None else DEFAULT_THRESHOLD


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
    # Every record read has exactly one result, so the totals add up to what was read (records, not pairs).
    status: dict[str, str] = {}

    def put(ref: str, what: str) -> None:
        status.setdefault(ref, what)

    for pr in p.pairs:
        was = done.get(f"crm:{pr.crm_id}") or done.get(f"erp:{pr.erp_id}")
        what = "created" if was == "created" else "updated" if (was == "updated" or not pr.already) else "matched"
        put(f"crm:{pr.crm_id}", what)
        put(f"erp:{pr.erp_id}", what)
    for c in created:
        put(f"{c['side']}:{c['id']}", "created")
    for f in failed:
        put(f"{f['side']}:{f['id']}", "failed")
    for g in p.conflicts:
        for i in g.crm_ids:
            put(f"crm:{i}", "conflicts")
        for i in g.erp_ids:
            put(f"erp:{i}", "conflicts")
    for r in p.rejected:
        put(f"{r.side}:{r.id}", "rejected")
    for cl in p.clusters:
        if cl.decision == "rejected":
            continue
        for m in cl.members:
            put(f"{m['side']}:{m['id']}", "proposed")
    for sk in p.skipped:
        put(f"{sk.side}:{sk.id}", "skipped")
    totals = {k: 0 for k in ("created", "updated", "matched", "proposed", "conflicts", "rejected", "skipped",
                             "failed")}
    for what in status.values():
        totals[what] += 1
    for cl in p.clusters:
        for m in cl.members:
            m["result"] = status.get(f"{m['side']}:{m['id']}", "proposed")
    return Report(entity_name, opts.dry_run, opts.threshold, resumed, totals, p, created, updated, failed, engine, read)


def _open_dead_letters(rt: Runtime, entity: str) -> dict[str, str]:
    with rt.db.connect() as conn:
        rows = conn.execute(select(DeadLetter.lane, DeadLetter.reason)
                            .where(DeadLetter.entity == entity, DeadLetter.resolved_at.is_(None))).all()
    return {r.lane: r.reason for r in rows}

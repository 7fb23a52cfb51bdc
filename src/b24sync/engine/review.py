"""Review: what the engine could not decide alone, put to a person, and carried out by the engine once decided.

Proposals are read from the store (nothing is kept twice):

* ``duplicate`` — a record held before its create because the target already has a likely duplicate
  (spec ``dedupe.before_create: hold``; engine/dedupe.py): the candidates with their score and evidence.
  *accept* (keep = a candidate): the record **is** that one — the engine links the two and replays the record, so
  its data is written into the existing card instead of a second one. *reject*: not a duplicate — the candidates
  are remembered as distinct from this record (never proposed for it again) and the record is replayed, so it is
  created.
* ``same_key`` — several target records carry one match key (two CRM companies with one INN; engine/binder.py
  ``_locate``). *accept* (keep = the survivor): the engine merges the others into it through the target connector's
  ``merge`` (Bitrix24: ``crm.entity.mergeBatch``), moves their links to the survivor and replays the record, which
  then links with the one card left. *reject*: they are different companies sharing a key typed wrong — the record
  is closed with that reason until someone corrects the key.
* ``relink`` — a target record found by key is already linked to another source record. *accept*: the two source
  records are one company — merged into the linked one through the source connector's ``merge`` (where the system
  has none, the claim is closed and the page says to merge by hand). *reject*: the target belongs to the new
  record — the link is moved to it and the record replayed.
* ``version`` — a write refused because the target record changed since we read it (1C ``DataVersion`` moved —
  the connector's read-compare-write guard; an ETag / row version elsewhere) and the change touched a field we were
  about to overwrite (engine/update.py ``version_conflict``). The evidence: per field our value, the target's value
  now and when we read it, both versions. *accept*: write ours — the record is replayed, read afresh and written
  with the fresh version. *reject*: keep the target's values — ours are dropped (the source record is remembered
  as read, so it is not sent again until it changes) and, where the entity flows from the target's side, the
  target record is synced back so the source side gets its values.
* ``field`` — both sides changed a field owned by both (a DataVersion / last-write conflict); the master's value
  was applied. *accept*: keep it. *reject*: the losing value is written into the master's record through its
  connector, and the normal sync carries it across.

A proposal's id is a digest of its kind, records and evidence: a decided proposal is not shown again for the same
evidence, and new evidence (another candidate, a changed key) makes a new proposal. Every decision is written to the
message history of the record and kept in the shared state (``review:decisions``); the console adds its audit entry.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update

from b24sync.engine.runtime import Runtime
from b24sync.store import identity
from b24sync.store import queue as jobs
from b24sync.store.db import utcnow
from b24sync.store.kv import SqlState
from b24sync.store.models import Conflict, DeadLetter, HistoryEntry, Link

DECISIONS = "review:decisions"
FIELD_DAYS = 30  # field conflicts older than this are not proposed any more


class ReviewError(Exception):
    """A decision that cannot be carried out (stale proposal, a system that cannot merge); nothing was changed."""


@dataclass
class Member:
    side: str
    id: str
    role: str  # source | candidate | linked | target | crm | erp
    name: str = ""
    score: float | None = None
    evidence: list[str] = field(default_factory=list)


@dataclass
class Proposal:
    id: str
    kind: str  # duplicate | same_key | relink | version | field | cluster
    entity: str
    reason: str
    members: list[Member]
    keep: list[str] = field(default_factory=list)  # ids a person may choose as the one that stays (accept)
    dead_letter_id: int | None = None
    conflict_id: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    at: Any = None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["at"] = self.at.isoformat() if self.at is not None else None
        return d


def _other(side: str) -> str:
    return "erp" if side == "crm" else "crm"


def _pid(kind: str, entity: str, *parts: Any) -> str:
    raw = json.dumps([kind, entity, *parts], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _clusters_key(entity: str) -> str:
    return f"review:clusters:{entity}"


def store_clusters(rt: Runtime, entity: str, clusters: list[dict[str, Any]]) -> None:
    """The go-live deduplication's open clusters (flows/initial_load.py), replacing the previous run's."""
    SqlState(rt.db).update(_clusters_key(entity), lambda _old: ({"clusters": clusters[:2000],
                                                                 "at": utcnow().isoformat()}, None))


def cluster_decisions(rt: Runtime, entity: str) -> dict[str, dict[str, Any]]:
    """Decisions on go-live clusters taken in the console, in the shape of ``initial-load --decisions``."""
    out: dict[str, dict[str, Any]] = {}
    for d in decisions(rt).values():
        if d.get("kind") == "cluster" and d.get("entity") == entity and d.get("cluster"):
            out[str(d["cluster"])] = {"cluster": d["cluster"], "decision": d["decision"],
                                      **({"keep": f"crm:{d['keep']}"} if d.get("keep") else {})}
    return out


def decisions(rt: Runtime) -> dict[str, dict[str, Any]]:
    return dict((SqlState(rt.db).get(DECISIONS) or {}).get("ids", {}))


def distinct(rt: Runtime, entity: str, side: str, record_id: str) -> set[str]:
    """Target ids a person said are not this record (rejected ``duplicate`` proposals)."""
    v = SqlState(rt.db).get(f"review:distinct:{entity}:{side}:{record_id}") or {}
    return set(v.get("ids", []))


def _last_detail(conn: Any, lane: str, action: str) -> dict[str, Any]:
    row = conn.execute(select(HistoryEntry.detail).where(HistoryEntry.lane == lane, HistoryEntry.action == action)
                       .order_by(HistoryEntry.id.desc()).limit(1)).first()
    return dict(row[0] or {}) if row else {}


def proposals(rt: Runtime, *, include_decided: bool = False) -> list[Proposal]:
    """Open proposals, newest first; decided ones are left out (unless asked)."""
    done = decisions(rt)
    out: list[Proposal] = []
    with rt.db.connect() as conn:
        letters = conn.execute(select(DeadLetter).where(DeadLetter.resolved_at.is_(None),
                                                        DeadLetter.kind.in_(("held", "conflict")))
                               .order_by(DeadLetter.id.desc()).limit(500)).all()
        for dl in letters:
            p = _from_letter(rt, dl, _last_detail(conn, dl.lane, dl.kind))
            if p is not None:
                out.append(p)
        since = utcnow() - timedelta(days=FIELD_DAYS)
        for c in conn.execute(select(Conflict).where(Conflict.field.is_not(None), Conflict.created_at >= since)
                              .order_by(Conflict.id.desc()).limit(200)).all():
            p = _from_field_conflict(rt, c)
            if p is not None:
                out.append(p)
    for name in rt.spec.entities:  # outside the read above: the shared state takes its own transaction
        for c in (SqlState(rt.db).get(_clusters_key(name)) or {}).get("clusters", []):
            out.append(_from_cluster(name, c))
    return [p for p in out if include_decided or p.id not in done]


def _from_letter(rt: Runtime, dl: Any, detail: dict[str, Any]) -> Proposal | None:
    side, rid = str((dl.payload or {}).get("side") or ""), str((dl.payload or {}).get("id") or "")
    if side not in ("crm", "erp") or not rid or dl.entity not in rt.spec.entities:
        return None
    tgt = _other(side)
    reason = dl.reason or ""
    if dl.kind == "held" and detail.get("guard") == "dedupe":
        scores = detail.get("scores") or [{"id": str(i)} for i in detail.get("candidates") or []]
        cands = [Member(tgt, str(s["id"]), "candidate", str(s.get("name") or ""), s.get("score"),
                        list(s.get("evidence") or [])) for s in scores]
        if not cands:
            return None
        members = [Member(side, rid, "source", str(detail.get("source_name") or "")), *cands]
        evidence = sorted((m.id, m.score, tuple(m.evidence)) for m in cands)
        return Proposal(_pid("duplicate", dl.entity, side, rid, evidence), "duplicate", dl.entity, reason, members,
                        keep=[m.id for m in cands], dead_letter_id=dl.id, detail=detail, at=dl.last_seen_at)
    if dl.kind != "conflict":
        return None
    if detail.get("kind") == "version":
        target = str(detail.get("target_id") or "")
        if not target or not detail.get("fields"):
            return None
        members = [Member(side, rid, "source"), Member(tgt, target, "target")]
        return Proposal(_pid("version", dl.entity, side, rid, target, detail.get("read_version"),
                             detail.get("current_version")), "version", dl.entity, reason, members,
                        dead_letter_id=dl.id, detail=detail, at=dl.last_seen_at)
    if detail.get("kind") == "relink":
        target = detail.get(f"{tgt}_id")
        linked = detail.get(f"linked_{side}_id")
        if not target or not linked:
            return None
        members = [Member(side, rid, "source"), Member(side, str(linked), "linked"), Member(tgt, str(target), "target")]
        return Proposal(_pid("relink", dl.entity, side, rid, str(linked), str(target)), "relink", dl.entity, reason,
                        members, keep=[str(linked)], dead_letter_id=dl.id, detail=detail, at=dl.last_seen_at)
    ids = [str(i) for i in detail.get("ids") or []]
    if len(ids) > 1:
        members = [Member(side, rid, "source"), *[Member(tgt, i, "candidate") for i in ids]]
        return Proposal(_pid("same_key", dl.entity, side, rid, sorted(ids), detail.get("criteria")), "same_key",
                        dl.entity, reason, members, keep=ids, dead_letter_id=dl.id, detail=detail,
                        at=dl.last_seen_at)
    return None


def _from_cluster(entity: str, c: dict[str, Any]) -> Proposal:
    """A go-live cluster: records on both sides that look like one company, each link with its score and evidence."""
    ev: dict[str, list[str]] = {}
    best: dict[str, float] = {}
    for ln in c.get("links") or []:
        for ref in (ln.get("a"), ln.get("b")):
            if ref:
                ev.setdefault(ref, []).extend(str(x) for x in ln.get("evidence") or [])
                best[ref] = max(best.get(ref, 0.0), float(ln.get("score") or 0.0))
    members = []
    for m in c.get("members") or []:
        ref = f"{m['side']}:{m['id']}"
        facts = [f"ИНН {m['inn']}" if m.get("inn") else "", f"КПП {m['kpp']}" if m.get("kpp") else "",
                 *(m.get("phones") or []), *(m.get("emails") or [])]
        members.append(Member(m["side"], str(m["id"]), "crm" if m["side"] == "crm" else "erp", str(m.get("name") or ""),
                              best.get(ref), list(dict.fromkeys([*[f for f in facts if f], *ev.get(ref, [])]))[:10]))
    reason = "; ".join([f"похожи по {', '.join(sorted({e for x in ev.values() for e in x}))[:300]}"] +
                       [str(w) for w in c.get("warnings") or []])
    keep = [m.id for m in members if m.side == "crm"]
    return Proposal(_pid("cluster", entity, c.get("id"), sorted(ev.items())), "cluster", entity, reason, members,
                    keep=keep, detail={"cluster": c.get("id"), "score": c.get("score")})


def _from_field_conflict(rt: Runtime, c: Any) -> Proposal | None:
    entity = rt.spec.entities.get(c.entity)
    d = dict(c.detail or {})
    if entity is None or "winner" not in d:
        return None
    tgt = _field_side(entity, c.field)
    if tgt is None:
        return None
    src = _other(tgt)
    tv, sv = d.get("target_value"), d.get("source_value")
    reason = f"{c.field}: {tgt.upper()} = «{tv}», {src.upper()} = «{sv}»; применено значение {d['winner'].upper()}"
    members = [Member("crm", str(c.crm_id), "crm"), Member("erp", str(c.erp_id), "erp")]
    return Proposal(_pid("field", c.entity, c.id), "field", c.entity, reason, members, conflict_id=c.id,
                    detail={**d, "target": tgt}, at=c.created_at)


def _field_side(entity: Any, name: str | None) -> str | None:
    for f in entity.fields:
        if getattr(f, "crm", None) == name:
            return "crm"
        if getattr(f, "erp", None) == name:
            return "erp"
    return None


def _find(rt: Runtime, pid: str) -> Proposal:
    for p in proposals(rt):
        if p.id == pid:
            return p
    raise ReviewError("this proposal is no longer open (decided, or the record changed since): reload the page")


async def decide(rt: Runtime, pid: str, decision: str, *, keep: str | None = None, who: str = "operator") -> str:
    """Carry out a person's decision on an open proposal; returns what was done (Russian, for the page)."""
    if decision not in ("accept", "reject"):
        raise ReviewError("decision must be accept or reject")
    p = _find(rt, pid)
    if decision == "accept":
        done = await _accept(rt, p, keep)
    else:
        done = await _reject(rt, p)
    src = next((m for m in p.members if m.role in ("source", "crm")), p.members[0])
    entry = {"decision": decision, "kind": p.kind, "entity": p.entity, "keep": keep, "who": who,
             "at": utcnow().isoformat(), "done": done[:500]}
    if p.kind == "cluster":
        entry["cluster"] = p.detail.get("cluster")
        entry["keep"] = keep or (p.keep[0] if p.keep and decision == "accept" else None)

    def fn(old: dict[str, Any] | None) -> tuple[dict[str, Any], None]:
        ids = dict((old or {}).get("ids", {}))
        ids[pid] = entry
        if len(ids) > 20000:  # the oldest decisions go first
            for k in sorted(ids, key=lambda k: ids[k].get("at", ""))[: len(ids) - 20000]:
                del ids[k]
        return {"ids": ids}, None

    SqlState(rt.db).update(DECISIONS, fn)
    with rt.db.begin() as conn:
        jobs.record(conn, job=None, entity=p.entity, lane=f"{p.entity}:{src.side}:{src.id}", kind="review",
                    action=f"review:{decision}", outcome="ok",
                    detail={"proposal": pid, "kind": p.kind, "keep": keep, "why": done[:300]})
    return done


async def _accept(rt: Runtime, p: Proposal, keep: str | None) -> str:
    entity = rt.spec.entities[p.entity]
    scope = rt.spec.scope(p.entity)
    src = p.members[0]
    if p.kind == "version":
        ours = [str(f.get("field")) for f in p.detail.get("fields") or []]
        if not jobs.replay(rt.db, dead_letter_id=p.dead_letter_id, extra={"ours": ours}):
            raise ReviewError("this record is no longer parked (replayed or discarded): nothing changed")
        tgt = next(m for m in p.members if m.role == "target")
        return (f"запись {src.side.upper()} {src.id} повторена: она прочитана заново и наши значения "
                f"({_field_names(p)}) будут записаны в {tgt.side.upper()} {tgt.id} поверх изменений")
    if p.kind == "field":
        return f"оставлено применённое значение ({p.detail.get('winner', '').upper()})"
    if p.kind == "cluster":
        return await _accept_cluster(rt, p, keep)
    keep = str(keep or (p.keep[0] if p.keep else ""))
    if keep not in p.keep:
        raise ReviewError(f"choose the record that stays: one of {', '.join(p.keep)}")
    if p.kind == "duplicate":
        ids = {"crm_id": src.id, "erp_id": keep} if src.side == "crm" else {"crm_id": keep, "erp_id": src.id}
        with rt.db.begin() as conn:
            try:
                identity.bind(conn, scope, match_key=None, **ids)
            except identity.RelinkRefused as e:
                raise ReviewError(f"{_other(src.side).upper()} {keep} is already linked to another record ({e}): "
                                  "nothing changed") from None
        jobs.replay(rt.db, dead_letter_id=p.dead_letter_id)
        return (f"{src.side.upper()} {src.id} связана с {_other(src.side).upper()} {keep}; запись повторена — её "
                "данные попадут в существующую карточку, вторая не создаётся")
    if p.kind == "same_key":
        tgt = _other(src.side)
        others = [i for i in p.keep if i != keep]
        survivor = await _merge(rt, entity, tgt, keep, others)
        _move_links(rt, scope, tgt, others, survivor)
        jobs.replay(rt.db, dead_letter_id=p.dead_letter_id)
        return (f"{tgt.upper()} {', '.join(others)} объединены в {survivor} ({rt.spec.system_for(entity, tgt)}); "
                f"запись {src.side.upper()} {src.id} повторена и свяжется с {survivor}")
    if p.kind == "relink":
        linked = keep
        try:
            survivor = await _merge(rt, entity, src.side, linked, [src.id])
        except ReviewError as e:
            jobs.discard(rt.db, p.dead_letter_id or 0, why=f"дубль {src.side.upper()} {linked} (решение проверки)")
            return f"{e} — претензия {src.side.upper()} {src.id} закрыта, объедините записи вручную"
        _move_links(rt, scope, src.side, [src.id], survivor)
        jobs.discard(rt.db, p.dead_letter_id or 0, why=f"объединена с {src.side.upper()} {survivor}")
        return f"{src.side.upper()} {src.id} объединена с {survivor}; связь {survivor} сохранена"
    raise ReviewError(f"unknown proposal kind {p.kind}")


async def _accept_cluster(rt: Runtime, p: Proposal, keep: str | None) -> str:
    """One company: its CRM card ``keep`` is linked with its ERP record and synced from the master; the other CRM
    cards are merged into it through the CRM connector (Bitrix24 ``crm.entity.mergeBatch``)."""
    from b24sync.engine.mapper import flows_from
    from b24sync.engine.enqueue import enqueue_sync

    entity = rt.spec.entities[p.entity]
    scope = rt.spec.scope(p.entity)
    crm = [m.id for m in p.members if m.side == "crm"]
    erp = [m.id for m in p.members if m.side == "erp"]
    if len(erp) > 1:
        raise ReviewError(f"several ERP records ({', '.join(erp)}): merge them in the ERP first; nothing changed")
    if not crm:
        raise ReviewError("no CRM record in this cluster: the ERP is the book of record, merge there")
    keep = str(keep or crm[0])
    if keep not in crm:
        raise ReviewError(f"choose the CRM record that stays: one of {', '.join(crm)}")
    others = [i for i in crm if i != keep]
    said = []
    if others:
        survivor = await _merge(rt, entity, "crm", keep, others)
        _move_links(rt, scope, "crm", others, survivor)
        keep = survivor
        said.append(f"CRM {', '.join(others)} объединены в {survivor}")
    if erp:
        master = rt.spec.master_side(entity)
        src = master if flows_from(rt.spec, entity, master) else _other(master)
        with rt.db.begin() as conn:
            try:
                identity.bind(conn, scope, crm_id=keep, erp_id=erp[0], match_key=None)
            except identity.RelinkRefused as e:
                raise ReviewError(f"already linked otherwise ({e}): nothing linked") from None
            enqueue_sync(conn, p.entity, src, keep if src == "crm" else erp[0], reason="review: cluster accepted",
                         scope=scope)
        said.append(f"CRM {keep} связана с ERP {erp[0]}; синхронизация поставлена в очередь")
    _drop_cluster(rt, p)
    return "; ".join(said) or "нечего связывать"


def _drop_cluster(rt: Runtime, p: Proposal) -> None:
    cid = p.detail.get("cluster")
    SqlState(rt.db).update(_clusters_key(p.entity), lambda old: (
        {**(old or {}), "clusters": [c for c in (old or {}).get("clusters", []) if c.get("id") != cid]}, None))


async def _reject(rt: Runtime, p: Proposal) -> str:
    src = p.members[0]
    if p.kind == "cluster":
        from b24sync.engine.mapper import flows_from
        from b24sync.engine.enqueue import enqueue_sync

        entity = rt.spec.entities[p.entity]
        with rt.db.begin() as conn:
            n = 0
            for m in p.members:
                if flows_from(rt.spec, entity, m.side):  # type: ignore[arg-type]
                    enqueue_sync(conn, p.entity, m.side, m.id, reason="review: cluster rejected",
                                 scope=rt.spec.scope(p.entity))
                    n += 1
        _drop_cluster(rt, p)
        return (f"разные компании: {n} записей поставлены в очередь и пойдут каждая сама по себе (по своему ИНН); "
                "повторная первичная загрузка их больше не предлагает")
    if p.kind == "duplicate":
        key = f"review:distinct:{p.entity}:{src.side}:{src.id}"
        cands = list(p.keep)
        SqlState(rt.db).update(key, lambda old: ({"ids": sorted(set((old or {}).get("ids", [])) | set(cands))},
                                                 None))
        jobs.replay(rt.db, dead_letter_id=p.dead_letter_id)
        return (f"{src.side.upper()} {src.id} — не дубль {', '.join(cands)}; запись повторена и будет создана, эти "
                "кандидаты ей больше не предлагаются")
    if p.kind == "same_key":
        jobs.discard(rt.db, p.dead_letter_id or 0, why="разные компании с одним ключом — исправьте ключ (ИНН/КПП) в "
                     "системе, затем повторите")
        return "записи оставлены раздельными; исправьте ключ и повторите запись из очереди"
    if p.kind == "relink":
        tgt = _other(src.side)
        target = next(m.id for m in p.members if m.role == "target")
        scope = rt.spec.scope(p.entity)
        col = Link.crm_id if src.side == "crm" else Link.erp_id
        tcol = Link.erp_id if src.side == "crm" else Link.crm_id
        with rt.db.begin() as conn:
            conn.execute(delete(Link).where(Link.entity == scope, col == src.id, tcol.is_(None)))
            n = conn.execute(update(Link).where(Link.entity == scope, tcol == target)
                             .values({col: src.id, "updated_at": utcnow()})).rowcount
        if n != 1:
            raise ReviewError(f"{tgt.upper()} {target} is no longer linked: nothing changed")
        jobs.replay(rt.db, dead_letter_id=p.dead_letter_id)
        return f"связь {tgt.upper()} {target} перенесена на {src.side.upper()} {src.id}; запись повторена"
    if p.kind == "version":
        return _reject_version(rt, p)
    if p.kind == "field":
        entity = rt.spec.entities[p.entity]
        tgt = p.detail["target"]
        winner = p.detail["winner"]
        name = p.detail["field"]
        value = p.detail.get("source_value") if winner == tgt else p.detail.get("target_value")
        side = winner
        if side != tgt:
            f = next(f for f in entity.fields if (f.crm if tgt == "crm" else f.erp) == name)
            name = f.crm if side == "crm" else f.erp
        rid = next(m.id for m in p.members if m.side == side)
        await rt.adapter(entity, side).update(rt.objref(entity, side), rid, {name: value})  # type: ignore[arg-type]
        return f"в {side.upper()} {rid} записано {name} = «{value}»; синхронизация перенесёт его на другую сторону"
    raise ReviewError(f"unknown proposal kind {p.kind}")


def _field_names(p: Proposal) -> str:
    return ", ".join(str(f.get("field")) for f in p.detail.get("fields") or [])


def _reject_version(rt: Runtime, p: Proposal) -> str:
    """Keep the target's values: our write is dropped, the source record is remembered as read (a poll does not
    send it again until it changes), and where the entity flows from the target's side the target record is synced
    so the source side takes its values."""
    from b24sync.engine.enqueue import enqueue_sync
    from b24sync.engine.mapper import flows_from
    from b24sync.store import fingerprints

    entity = rt.spec.entities[p.entity]
    src = next(m for m in p.members if m.role == "source")
    tgt = next(m for m in p.members if m.role == "target")
    if not jobs.discard(rt.db, p.dead_letter_id or 0,
                        why=f"решение проверки: оставлены значения {tgt.side.upper()} {tgt.id}"):
        raise ReviewError("this record is no longer parked (replayed or discarded): nothing changed")
    back = flows_from(rt.spec, entity, tgt.side)  # type: ignore[arg-type]
    with rt.db.begin() as conn:
        if p.detail.get("src_hash"):
            fingerprints.mark_read(conn, p.entity, src.side, src.id, str(p.detail["src_hash"]),
                                   p.detail.get("src_version"))
        if back:
            enqueue_sync(conn, p.entity, tgt.side, tgt.id, force=True, reason="review: version conflict rejected",
                         scope=rt.spec.scope(p.entity))
    kept = f"оставлены значения {tgt.side.upper()} {tgt.id} ({_field_names(p)}); наши не записаны"
    if back:
        return f"{kept}; запись {tgt.side.upper()} поставлена в очередь — {src.side.upper()} {src.id} получит её значения"
    return f"{kept}; направление сущности не позволяет перенести их в {src.side.upper()} — наши значения отброшены"


async def _merge(rt: Runtime, entity: Any, side: str, keep: str, others: list[str]) -> str:
    adapter = rt.adapter(entity, side)  # type: ignore[arg-type]
    merge = getattr(adapter, "merge", None)
    system = rt.spec.system_for(entity, side)  # type: ignore[arg-type]
    if merge is None:
        raise ReviewError(f"{system} cannot merge records through its API")
    return str(await merge(rt.objref(entity, side), keep, others))  # type: ignore[arg-type]


def _move_links(rt: Runtime, scope: str, side: str, gone: list[str], survivor: str) -> None:
    """Links of merged-away records move to the survivor when it has none (else they are dropped: the records
    they pointed to no longer exist, and the survivor's own link stays)."""
    col = Link.crm_id if side == "crm" else Link.erp_id
    with rt.db.begin() as conn:
        has = conn.execute(select(Link.id).where(Link.entity == scope, col == survivor)).first() is not None
        for g in gone:
            if g == survivor:
                continue
            if not has:
                if conn.execute(update(Link).where(Link.entity == scope, col == g)
                                .values({col: survivor, "updated_at": utcnow()})).rowcount:
                    has = True
            else:
                conn.execute(update(Link).where(Link.entity == scope, col == g).values({col: None}))

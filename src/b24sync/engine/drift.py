"""Schema drift at run time: a name an entity maps that disappears from a live system (a user field deleted, a 1C
update renaming a property) **pauses** the entity instead of writing `None` or failing every job.

Every ``every`` seconds the names of the running entities are checked again (engine/names.py). A newly broken one
gets a paused row in ``entity_state`` with the Russian reason and the problems (what the spec names, what the
system now has); its jobs wait (deferred, never dropped) and its writes stop. It runs again only after a person
resumed it (console, Review page) **and** its names check clean again.

Types too: the first clean check of an entity records the system's type word of every name it uses (the baseline,
shared state ``drift:baseline:<entity>``). A later check that finds a mapped field of another type (a 1C property
turned from a string into a number, a user field re-created as another type) pauses the entity as well, and each
change is kept as old vs new (name and type; for a name that is gone, the nearest name the system has now). A
person's resume approves the system as it is now: the baseline is recorded again."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from sqlalchemy import select

from b24sync.engine.names import NameReport, check_names, nearest
from b24sync.engine.runtime import Runtime
from b24sync.spec.names import names_of
from b24sync.store.db import utcnow
from b24sync.store.kv import SqlState
from b24sync.store.models import EntityState

log = structlog.get_logger("b24sync.drift")


def _paused(rt: Runtime) -> dict[str, str]:
    with rt.db.connect() as conn:
        return {r.entity: r.reason or "" for r in conn.execute(select(EntityState).where(EntityState.paused))}


def baseline_key(entity: str) -> str:
    return f"drift:baseline:{entity}"


def forget_baseline(rt: Runtime, entity: str) -> None:
    """A person approved the system as it is now (resume): the next clean check records a new baseline."""
    SqlState(rt.db).update(baseline_key(entity), lambda _old: ({"sides": None, "approved_at": utcnow().isoformat()},
                                                                None))


def _used(rt: Runtime, entity: str, report: NameReport) -> dict[str, dict[str, str]]:
    """side -> {name: the system's type word} for every name the entity uses that the system lists now."""
    out: dict[str, dict[str, str]] = {}
    for use in names_of(entity, rt.spec.entities[entity]):
        sch = report.schemas.get((entity, use.side))
        if sch is None or sch.open or use.name not in sch.fields:
            continue
        out.setdefault(use.side, {})[use.name] = str(sch.fields.get(use.name) or "")
    return out


def _changes(rt: Runtime, entity: str, report: NameReport, base: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    ent = rt.spec.entities[entity]
    for side, names in sorted(base.items()):
        sch = report.schemas.get((entity, side))
        if sch is None or sch.open:
            continue
        obj = rt.objref(ent, side).object  # type: ignore[arg-type]
        for name, old_type in sorted(names.items()):
            if name not in sch.fields:
                near = nearest(name, sch.fields, 1)
                out.append({"side": side, "object": obj, "old_name": name, "old_type": old_type,
                            "new_name": near[0] if near else None,
                            "new_type": str(sch.fields.get(near[0]) or "") if near else None,
                            "what": "поле исчезло" + (f"; похожее: {near[0]}" if near else "")})
            elif old_type and sch.fields[name] and str(sch.fields[name]) != old_type:
                out.append({"side": side, "object": obj, "old_name": name, "old_type": old_type, "new_name": name,
                            "new_type": str(sch.fields[name]), "what": "изменился тип поля"})
    return out


def _pause(rt: Runtime, entity: str, why: str, problems: list[dict[str, Any]],
           changes: list[dict[str, Any]] | None = None, *, typed: bool = False) -> None:
    reason = (f"Сущность приостановлена: изменился тип поля из спецификации — {why}" if typed else
              f"Сущность приостановлена: в системе больше нет поля или объекта из спецификации — {why}")
    with rt.db.begin() as conn:
        row = conn.execute(select(EntityState).where(EntityState.entity == entity)).first()
        values = {"paused": True, "reason": reason, "detail": {"problems": problems, "changes": changes or []},
                  "since": utcnow()}
        if row is None:
            conn.execute(EntityState.__table__.insert().values(entity=entity, **values))
        else:
            conn.execute(EntityState.__table__.update().where(EntityState.entity == entity).values(**values))


async def check_once(rt: Runtime, started: set[str]) -> dict[str, str]:
    """Pause the started entities whose names broke; lift a pause a person resolved once the names are clean.
    Returns the entities paused now."""
    report = await check_names(rt, sorted(started))
    broken = dict(report.broken)
    paused_before = await asyncio.to_thread(_paused, rt)
    state = SqlState(rt.db)
    for entity in sorted(started):
        base = (await asyncio.to_thread(state.get, baseline_key(entity)) or {}).get("sides")
        changes = _changes(rt, entity, report, base) if base else []
        typed = [c for c in changes if c["new_name"] == c["old_name"]]
        if entity in broken or typed:
            if entity not in paused_before:
                probs = [{"side": p.side, "what": p.what, "fix": p.fix} for p in report.problems.get(entity, [])
                         if p.fatal]
                if entity in broken:
                    why = broken[entity]
                else:
                    c = typed[0]
                    why = f"{c['side']} {c['object']}: `{c['old_name']}` был {c['old_type']}, теперь {c['new_type']}"
                    broken[entity] = why
                await asyncio.to_thread(_pause, rt, entity, why, probs, changes, typed=entity not in report.broken)
                log.warning("entity paused: schema drift", entity=entity, why=why)
            else:
                broken.setdefault(entity, "schema drift")
        elif not base and entity not in paused_before and report.schemas:
            sides = _used(rt, entity, report)
            if sides:
                await asyncio.to_thread(state.update, baseline_key(entity),
                                        lambda _o, sides=sides: ({"sides": sides, "at": utcnow().isoformat()}, None))
    paused = await asyncio.to_thread(_paused, rt)
    for entity in started:
        if entity in paused:
            rt.refused[entity] = paused[entity]
        elif entity in rt.refused and entity not in broken:
            del rt.refused[entity]  # resumed by a person, and its names are back
            log.info("entity resumed", entity=entity)
    return {e: paused[e] for e in paused if e not in paused_before}


async def watch(rt: Runtime, *, every: float = 300.0, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    started = {e for e in rt.spec.entities if e not in rt.refused}  # refused at start: not ours to lift
    while not stop.is_set():
        try:  # at once (it records the types the entities start with), then every `every` seconds
            await check_once(rt, started)
        except Exception as e:  # noqa: BLE001 - a system down is the polls' business, not drift
            log.warning("name check failed", error=f"{type(e).__name__}: {e}")
        try:
            await asyncio.wait_for(stop.wait(), timeout=every)
        except TimeoutError:
            pass

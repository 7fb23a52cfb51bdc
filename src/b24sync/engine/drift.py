"""Schema drift at run time: a name an entity maps that disappears from a live system (a user field deleted, a 1C
update renaming a property) **pauses** the entity instead of writing `None` or failing every job.

Every ``every`` seconds the names of the running entities are checked again (engine/names.py). A newly broken one
gets a paused row in ``entity_state`` with the Russian reason and the problems (what the spec names, what the
system now has); its jobs wait (deferred, never dropped) and its writes stop. It runs again only after a person
resumed it (console, Review page) **and** its names check clean again."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from sqlalchemy import select

from b24sync.engine.names import check_names
from b24sync.engine.runtime import Runtime
from b24sync.store.db import utcnow
from b24sync.store.models import EntityState

log = structlog.get_logger("b24sync.drift")


def _paused(rt: Runtime) -> dict[str, str]:
    with rt.db.connect() as conn:
        return {r.entity: r.reason or "" for r in conn.execute(select(EntityState).where(EntityState.paused))}


def _pause(rt: Runtime, entity: str, why: str, problems: list[dict[str, Any]]) -> None:
    reason = f"Сущность приостановлена: в системе больше нет поля или объекта из спецификации — {why}"
    with rt.db.begin() as conn:
        row = conn.execute(select(EntityState).where(EntityState.entity == entity)).first()
        values = {"paused": True, "reason": reason, "detail": {"problems": problems}, "since": utcnow()}
        if row is None:
            conn.execute(EntityState.__table__.insert().values(entity=entity, **values))
        else:
            conn.execute(EntityState.__table__.update().where(EntityState.entity == entity).values(**values))


async def check_once(rt: Runtime, started: set[str]) -> dict[str, str]:
    """Pause the started entities whose names broke; lift a pause a person resolved once the names are clean.
    Returns the entities paused now."""
    report = await check_names(rt, sorted(started))
    broken = report.broken
    paused_before = await asyncio.to_thread(_paused, rt)
    for entity, why in broken.items():
        if entity not in paused_before:
            probs = [{"side": p.side, "what": p.what, "fix": p.fix} for p in report.problems.get(entity, [])
                     if p.fatal]
            await asyncio.to_thread(_pause, rt, entity, why, probs)
            log.warning("entity paused: a mapped name disappeared", entity=entity, why=why)
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
        try:
            await asyncio.wait_for(stop.wait(), timeout=every)
        except TimeoutError:
            pass
        if stop.is_set():
            return
        try:
            await check_once(rt, started)
        except Exception as e:  # noqa: BLE001 - a system down is the polls' business, not drift
            log.warning("name check failed", error=f"{type(e).__name__}: {e}")

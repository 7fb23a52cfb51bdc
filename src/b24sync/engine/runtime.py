"""The runtime: a loaded spec, the store, and one adapter per system — everything a job handler needs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine

from b24sync.engine.errors import HoldError
from b24sync.engine.ports import ObjectRef, SystemAdapter
from b24sync.spec.models import Entity, Side, Spec, parse_duration
from b24sync.store.queue import ClaimedJob


@dataclass
class Outcome:
    """What a handler did. ``effects`` runs inside the transaction that completes the job, so the job's end and
    its state changes (bindings, fingerprints, follow-up jobs) commit together or not at all."""

    action: str  # created | updated | unchanged | linked | skipped | echo | reverted | ...
    target: str | None = None
    target_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    effects: Callable[[Connection], None] | None = None
    event: dict[str, Any] | None = None  # what a committed write tells the bus: the values written and the links
    # Done, but part of the record is held: its open entry (one per record and reason) stays with this reason and
    # the links it waits for (``detail["waits_for"]``), so the held part is told and taken again — never dropped.
    held: HoldError | None = None


Handler = Callable[["Runtime", ClaimedJob], Awaitable[Outcome]]


@dataclass
class Runtime:
    spec: Spec
    db: Engine
    adapters: dict[str, SystemAdapter]
    handlers: dict[str, Handler] = field(default_factory=dict)
    hooks: dict[str, Callable[..., Awaitable[None]]] = field(default_factory=dict)
    # Virtual objects a flow provides on top of a system's adapter: (system name, object name) -> an adapter for
    # just that object (e.g. a 1C counterparty joined with its bank account, a product with its price and stock).
    object_adapters: dict[tuple[str, str], SystemAdapter] = field(default_factory=dict)
    # Entities refused at start (a name they map does not exist in a live system, engine/names.py): not polled,
    # and their jobs wait (deferred, never dropped) until a restart after the spec or the system is fixed.
    refused: dict[str, str] = field(default_factory=dict)

    def entity(self, name: str) -> Entity:
        entity = self.spec.entities.get(name)
        if entity is None:
            from b24sync.engine.errors import PermanentError

            raise PermanentError(f"entity `{name}` is not in the spec any more — add it back or discard the job")
        if name in self.refused:
            from datetime import UTC, datetime, timedelta

            from b24sync.engine.errors import DeferError

            raise DeferError(f"entity `{name}` did not start: {self.refused[name]}",
                             until=datetime.now(UTC) + timedelta(minutes=10))
        return entity

    def adapter(self, entity: Entity, side: Side) -> SystemAdapter:
        system = self.spec.system_for(entity, side)
        obj = (entity.crm if side == "crm" else entity.erp).object
        return self.object_adapters.get((system, obj)) or self.adapters[system]

    def objref(self, entity: Entity, side: Side) -> ObjectRef:
        s = entity.crm if side == "crm" else entity.erp
        return ObjectRef(s.object, s.options)

    @property
    def lease_seconds(self) -> float:
        return parse_duration(self.spec.defaults.lease)

    async def aclose(self) -> None:
        for a in self.object_adapters.values():
            await a.aclose()
        for a in self.adapters.values():
            await a.aclose()

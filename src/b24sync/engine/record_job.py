"""One record's sync job as the sync steps see it: which entity, from which side to which, and the adapters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection

from b24sync.engine.mapper import other
from b24sync.engine.ports import ObjectRef, Record, SystemAdapter
from b24sync.engine.runtime import Runtime
from b24sync.spec.models import Entity, Side
from b24sync.store import fingerprints
from b24sync.store.queue import ClaimedJob


@dataclass(frozen=True)
class RecordJob:
    rt: Runtime
    job: ClaimedJob
    entity: Entity
    src: Side
    src_id: str

    @property
    def name(self) -> str:
        """The entity's name in the spec."""
        return self.job.entity

    @property
    def tgt(self) -> Side:
        return other(self.src)

    @property
    def scope(self) -> str:
        """The identity scope that names the entity's links (``Spec.scope``)."""
        return self.rt.spec.scope(self.job.entity)

    @property
    def target(self) -> SystemAdapter:
        return self.rt.adapter(self.entity, self.tgt)

    @property
    def obj(self) -> ObjectRef:
        """The target object."""
        return self.rt.objref(self.entity, self.tgt)

    def remember_read(self, record: Record, src_hash: str) -> Callable[[Connection], None]:
        """Effects that remember what was read of the source record, so a poll does not bring it back unchanged."""
        return lambda c: fingerprints.mark_read(c, self.name, self.src, self.src_id, src_hash, record.version)

"""A state-register provider (DaData, Kontur.Focus) as a read-only ``SystemAdapter``, so a spec can name it as the
other side of an entity (``erp: {object: party, system: dadata}`` for the auto-fill flow) and the runtime builds it
from the spec's ``role: service`` system with the installation's shared state (cache and quota for all workers).

Object ``party``: a record per INN (``get(inn)``; ``find({"inn": …, "kpp": …})`` — the head office, or the unit with
that KPP), flat values ``inn``, ``kpp``, ``ogrn``, ``short_name``, ``full_name``, ``status``, ``branch_type``,
``address``, ``director``, ``liquidation_date``, ``provider``. A register has no change feed: ``read_changes``
returns nothing; writes raise ``PermanentError`` (nobody writes to the state register).
"""

from __future__ import annotations

from typing import Any

from b24sync.connectors.party.model import Party, PartyLookup
from b24sync.engine.errors import PermanentError
from b24sync.engine.ports import ChangeCursor, ChangePage, ObjectRef, Record


def party_values(p: Party) -> dict[str, Any]:
    return {
        "inn": p.inn, "kpp": p.kpp, "ogrn": p.ogrn, "short_name": p.short_name, "full_name": p.full_name,
        "status": p.status.value, "status_raw": p.status_raw, "branch_type": p.branch_type.value,
        "address": p.legal_address.value if p.legal_address else None,
        "director": p.director.name if p.director else None,
        "liquidation_date": p.liquidation_date.isoformat() if p.liquidation_date else None,
        "provider": p.provider,
    }


class PartyAdapter:
    def __init__(self, name: str, lookup: PartyLookup) -> None:
        self.name = name
        self.lookup = lookup  # a CachedPartyLookup: flows call it directly for Party objects

    async def read_changes(self, obj: ObjectRef, cursor: ChangeCursor, *, overlap_seconds: float = 0.0,
                           limit: int = 500) -> ChangePage:
        return ChangePage(records=[], cursor=cursor, more=False)

    async def acknowledge(self, obj: ObjectRef, page: ChangePage) -> None:
        return None

    async def find(self, obj: ObjectRef, criteria: dict[str, Any]) -> list[Record]:
        inn = criteria.get("inn")
        if inn in (None, "") or set(criteria) - {"inn", "kpp"}:
            raise PermanentError(f"{self.name}: a party is looked up by inn (and kpp) only")
        kpp = criteria.get("kpp") or None
        parties = await self.lookup.find_by_inn(str(inn), kpp=kpp, branches=bool(kpp))
        return [Record(p.inn, party_values(p), version=None) for p in parties[:1]]

    async def get(self, obj: ObjectRef, record_id: str) -> Record | None:
        found = await self.find(obj, {"inn": record_id})
        return found[0] if found else None

    async def exists(self, obj: ObjectRef, criteria: dict[str, Any]) -> bool:
        return bool(await self.find(obj, criteria))

    async def create(self, obj: ObjectRef, values: dict[str, Any]) -> str:
        raise PermanentError(f"{self.name} is a state-register lookup; b24sync never writes to it")

    async def update(self, obj: ObjectRef, record_id: str, values: dict[str, Any], *,
                     expected_version: str | None = None) -> str | None:
        raise PermanentError(f"{self.name} is a state-register lookup; b24sync never writes to it")

    async def aclose(self) -> None:
        return None  # the providers pool their HTTP clients per event loop (dadata.aclose_clients)


def dadata_adapter(name: str, config: dict[str, Any]) -> PartyAdapter:
    from b24sync.connectors import dadata

    cfg = dict(config)
    lookup = dadata.from_config(cfg, cfg.pop("state", None))
    lookup.inner.system = name  # type: ignore[attr-defined]  # the label of the API and quota metrics
    return PartyAdapter(name, lookup)


def focus_adapter(name: str, config: dict[str, Any]) -> PartyAdapter:
    from b24sync.connectors import kontur_focus

    cfg = dict(config)
    return PartyAdapter(name, kontur_focus.from_config(cfg, cfg.pop("state", None)))

"""What a rehearsal does to its sandboxes before the cycle: prepare the portal the way ``portal prepare`` does for a
real one (user fields, smart processes, the catalogue's VAT rates, measures and properties) and seed sample data
on the CRM side for the entities that flow from it (the ERP sandboxes seed their own demo base)."""

from __future__ import annotations

import re
from typing import Any

from b24sync.engine.runtime import Runtime
from b24sync.spec.models import Spec

_SMART = re.compile(r"^crm\.item:(\d+)$")


def _crm_system(spec: Spec) -> str | None:
    return next((n for n, s in spec.systems.items() if s.type == "bitrix24"), None)


async def prepare(rt: Runtime, spec: Spec, stand: Any) -> list[str]:
    name = _crm_system(spec)
    if name is None or name not in rt.adapters:
        return []
    from b24sync.connectors.bitrix24.portal import prepare_portal
    from b24sync.connectors.bitrix24.requirements import requirements_from_spec

    client = rt.adapters[name].client  # type: ignore[attr-defined]
    notes: list[str] = []
    report = await prepare_portal(client, requirements_from_spec(spec))
    notes.append(f"portal prepared: {len(report.created)} user field(s) created")
    # smart processes the spec names (crm.item:N for N ≥ 1030 is a custom type; 31 = smart invoices exist already)
    wanted = {int(m.group(1)) for e in spec.entities.values()
              for obj in (e.crm.object, *(str(g) for g in _related_objects(e)))
              if (m := _SMART.match(obj))}
    types = (await client.call("crm.type.list", {})) or {}
    have = {int(t.get("entityTypeId", 0)) for t in types.get("types", [])}
    for type_id in sorted(t for t in wanted - have if t >= 1030):
        title = next((e.crm.title for e in spec.entities.values() if e.crm.object == f"crm.item:{type_id}"
                      and e.crm.title), None) or f"Смарт-процесс {type_id}"
        await client.call("crm.type.add", {"fields": {"entityTypeId": type_id, "title": title}})
        notes.append(f"smart process {type_id} created")
    if any(e.erp.object in ("catalog.products", "cml.products") for e in spec.entities.values()):
        from b24sync.flows import catalog

        extra = await catalog.prepare_portal(rt)
        if extra:
            notes.append("catalogue: " + ", ".join(extra))
    return notes


def _related_objects(entity: Any) -> list[str]:
    """Objects a guard looks at (``require_related: any: [{object: crm.item:1038}]``)."""
    out: list[str] = []
    for guard in entity.guards or []:
        rel = getattr(guard, "require_related", None)
        for cond in (getattr(rel, "any", None) or []) if rel is not None else []:
            obj = getattr(cond, "object", None)
            if obj:
                out.append(str(obj))
    return out


async def seed(rt: Runtime, spec: Spec, stand: Any, *, records: int) -> list[str]:
    """Sample CRM data for entities whose source is the CRM (companies with requisites, contacts, deals)."""
    name = _crm_system(spec)
    if name is None or records <= 0:
        return []
    from_crm = [e for e in spec.entities.values() if e.direction in ("crm_to_erp", "both")]
    objects = {e.crm.object.split("+", 1)[0].split(":", 1)[0] for e in from_crm}
    want = {"companies": records if "crm.company" in objects else 0,
            "contacts": records if "crm.contact" in objects else 0,
            "deals": records if "crm.deal" in objects else 0}
    if not any(want.values()):
        return []
    stand.handles[name].seed(**want)
    return ["seeded in Bitrix24: " + ", ".join(f"{n} {k}" for k, n in want.items() if n)]

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


def _wanted(spec: Spec, records: int) -> dict[str, int]:
    """How many companies, contacts and deals to seed: those of the CRM objects some entity reads from the CRM."""
    from_crm = [e for e in spec.entities.values() if e.direction in ("crm_to_erp", "both")]
    objects = {e.crm.object.split("+", 1)[0].split(":", 1)[0] for e in from_crm}
    return {"companies": records if "crm.company" in objects else 0,
            "contacts": records if "crm.contact" in objects else 0,
            "deals": records if "crm.deal" in objects else 0}


async def seed(rt: Runtime, spec: Spec, stand: Any, *, records: int) -> list[str]:
    """Sample CRM data for entities whose source is the CRM (companies with requisites, contacts, deals).

    Contacts and deals belong to a company, as on a real portal (a spec often requires it: «Привяжите контакт к
    компании»). When the CRM's companies are not seeded here — they come from the ERP — contacts and deals wait
    for ``seed_late``, after the first cycle has brought the ERP's companies over."""
    name = _crm_system(spec)
    if name is None or records <= 0:
        return []
    want = _wanted(spec, records)
    if not want["companies"]:
        want = {**want, "contacts": 0, "deals": 0}
    if not any(want.values()):
        return []
    stand.handles[name].seed(**want)
    return ["seeded in Bitrix24: " + ", ".join(f"{n} {k}" for k, n in want.items() if n)]


async def seed_late(rt: Runtime, spec: Spec, stand: Any, *, records: int) -> tuple[list[str], list[str]]:
    """Contacts and deals of the companies the first cycle brought from the ERP (none seeded by ``seed``).

    Returns the notes and the entities whose CRM side is to be read again."""
    name = _crm_system(spec)
    if name is None or records <= 0:
        return [], []
    want = _wanted(spec, records)
    if want["companies"] or not (want["contacts"] or want["deals"]):
        return [], []
    sandbox = stand.handles[name]
    company_ids = sorted(int(i) for i in sandbox.portal.t("company").rows)
    extra = {} if company_ids else {"companies": records}  # no company came over: seed some to belong to
    sandbox.seed(contacts=want["contacts"], deals=want["deals"], company_ids=company_ids, **extra)
    objects = {k for k, v in (("crm.contact", want["contacts"]), ("crm.deal", want["deals"])) if v}
    again = [n for n, e in spec.entities.items() if e.direction in ("crm_to_erp", "both")
             and e.crm.object.split("+", 1)[0].split(":", 1)[0] in objects]
    whose = (f"of {len(company_ids)} compan{'y' if len(company_ids) == 1 else 'ies'} from the ERP" if company_ids
             else f"of {records} seeded companies")
    seeded = ", ".join(f"{want[k]} {k}" for k in ("contacts", "deals") if want[k])
    return [f"seeded in Bitrix24 after the first cycle: {seeded} {whose}"], again

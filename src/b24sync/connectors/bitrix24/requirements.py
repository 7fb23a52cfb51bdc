"""What a spec needs from a Bitrix24 portal: the user fields it maps or links through, and the event handlers its
webhook triggers rely on. Feeds ``portal check`` / ``portal prepare``."""

from __future__ import annotations

import re

from b24sync.connectors.bitrix24.portal import (EventHandlerReq, ItemFieldReq, Requirements, RobotReq,
                                                SmartProcessReq, StageReq, UserFieldReq)
from b24sync.connectors.bitrix24.robots import document_type
from b24sync.spec.models import FieldMapping, Spec, TypeTransform

_SMART = re.compile(r"^crm\.item:(\d+)$")
_BY_TRANSFORM = {"decimal": "double", "int": "integer", "bool": "boolean", "date": "date", "datetime": "datetime"}


def user_field_type(f: FieldMapping | None) -> str:
    """The UF type a mapped field needs: its ``crm_type``, else what its ``type:`` transform says, else string."""
    if f is None:
        return "string"
    if f.crm_type:
        return f.crm_type
    t = next((t.type for t in f.transform if isinstance(t, TypeTransform)), None)
    return _BY_TRANSFORM.get(t or "", "string")

_LEGACY = {"crm.company": "company", "crm.contact": "contact", "crm.deal": "deal", "crm.lead": "lead"}


def _crm_names(e) -> list[str]:  # type: ignore[no-untyped-def]
    names = [f.crm for f in e.fields] + [k.crm for r in e.match for k in r.keys]
    names += [e.link.crm] if e.link.crm else []
    names += [g.skip_if.field for g in e.guards if g.skip_if and g.skip_if.side == "crm"]
    names += [w.crm for w in e.write_back]
    return names


def requirements_from_spec(spec: Spec, *, handler_url: str | None = None) -> Requirements:
    fields: dict[tuple[str, str], UserFieldReq] = {}
    handlers: dict[str, EventHandlerReq] = {}
    for e in spec.entities.values():
        r = e.erp.route
        if r is not None and r.by and r.parent is not None and r.by.upper().startswith("UF_CRM_") \
                and isinstance(r.systems, dict) and (pent := _LEGACY.get(r.parent.parent_object() or "")):
            # the routing field read on the parent (the deal's seller for its invoices and contracts)
            fields.setdefault((pent, r.by.upper()), UserFieldReq(
                entity=pent, field_name=r.by.upper(), label=r.by[7:].replace("_", " ").title(),
                user_type_id="enumeration", values=list(r.systems)))
        if e.crm.object == "crm.item:31":  # smart invoices: userfieldconfig.*, entityId CRM_SMART_INVOICE
            for n in _crm_names(e):
                if n.startswith("ufCrm"):
                    up = "UF_CRM" + re.sub(r"([A-Z0-9]+)", r"_\1", n[5:]).upper()
                    mapping = next((f for f in e.fields if f.crm == n), None)
                    fields.setdefault(("CRM_SMART_INVOICE", up), UserFieldReq(
                        entity="CRM_SMART_INVOICE", field_name=up, user_type_id=user_field_type(mapping),
                        label=(mapping.title if mapping else None) or ("ERP id" if n == e.link.crm else n[5:])))
            continue
        ent = _LEGACY.get(e.crm.object.split("+", 1)[0])  # composites: crm.company+requisite → company
        if ent is None:
            continue
        names = [f.crm for f in e.fields] + [k.crm for r in e.match for k in r.keys]
        names += [e.link.crm] if e.link.crm else []
        names += [g.skip_if.field for g in e.guards if g.skip_if and g.skip_if.side == "crm"]
        names += [w.crm for w in e.write_back]
        names += [g.only_if.field for g in e.guards if g.only_if and g.only_if.side == "crm"]
        r = e.erp.route
        if r is not None and r.by and r.parent is None and r.by.upper().startswith("UF_CRM_") \
                and isinstance(r.systems, dict):
            # the routing field ("Seller legal entity"): a list whose items are the route's values
            fields.setdefault((ent, r.by.upper()), UserFieldReq(
                entity=ent, field_name=r.by.upper(), label=r.by[7:].replace("_", " ").title(),
                user_type_id="enumeration", values=list(r.systems)))
        for n in names:
            if n.upper().startswith("UF_CRM_"):
                mapping = next((f for f in e.fields if f.crm == n), None)
                title = mapping.title if mapping else None
                label = title or ("ERP id" if n == e.link.crm else n[7:].replace("_", " ").title())
                fields.setdefault((ent, n.upper()), UserFieldReq(entity=ent, field_name=n.upper(), label=label,
                                                                 user_type_id=user_field_type(mapping)))
        if handler_url:
            for t in e.triggers:
                if t.webhook:
                    handlers.setdefault(t.webhook.upper(), EventHandlerReq(event=t.webhook.upper(), handler=handler_url))
    for e in spec.entities.values():  # the figures a sum over documents writes (engine/aggregate.py)
        for r in (e.aggregate.targets if e.aggregate else []):
            via = spec.entities.get(r.via)
            ent = _LEGACY.get(via.crm.object.split("+", 1)[0]) if via else None
            for x in r.set if ent else []:
                if x.crm.upper().startswith("UF_CRM_"):
                    kind = {"last_date": "date", "count": "integer"}.get(x.value, "money" if x.currency else "double")
                    fields.setdefault((ent, x.crm.upper()), UserFieldReq(
                        entity=ent, field_name=x.crm.upper(), label=x.crm[7:].replace("_", " ").title(),
                        user_type_id=kind))
    stages: dict[tuple[str, str], StageReq] = {}
    for e in spec.entities.values():  # a credit limit: the waiting stage, the company's limit field
        cc = e.credit_control
        if cc is None:
            continue
        for cat in cc.pipelines:
            ent = "DEAL_STAGE" if cat == 0 else f"DEAL_STAGE_{cat}"
            stages.setdefault((ent, cc.stage), StageReq(entity_id=ent, status_id=cc.stage, name=cc.stage_name,
                                                        sort=None))
        if cc.limit.crm and cc.limit.crm.upper().startswith("UF_CRM_"):
            fields.setdefault(("company", cc.limit.crm.upper()), UserFieldReq(
                entity="company", field_name=cc.limit.crm.upper(), label="Кредитный лимит", user_type_id="money"))
    smart: dict[int, SmartProcessReq] = {}
    for e in spec.entities.values():
        objs = [e.crm.object] + [r.object for g in e.guards if g.require_related for r in g.require_related.any]
        for obj in objs:
            m = _SMART.match(obj)
            if m and int(m.group(1)) >= 1030:  # 31 (smart invoices) and the other system types always exist
                et = int(m.group(1))
                title = e.crm.title if obj == e.crm.object else None
                req = smart.setdefault(et, SmartProcessReq(title=title or f"Смарт-процесс {et}", entity_type_id=et))
                if title and req.title != title:  # the entity that titles it wins over one that only names it
                    smart[et] = SmartProcessReq(title=title, entity_type_id=et, parents=list(req.parents))
                if obj == e.crm.object:  # parentIdN the entity reads: the type links to N's items
                    req = smart[et]
                    names = _crm_names(e)
                    names += [f for g in e.guards if g.require_fields for f in g.require_fields.fields]
                    names += [e.erp.route.parent.field] if e.erp.route and e.erp.route.parent else []
                    for n in names:
                        if (pm := re.fullmatch(r"parentId(\d+)", n or "")) and int(pm.group(1)) not in req.parents:
                            req.parents.append(int(pm.group(1)))
    robots: dict[str, RobotReq] = {}
    if handler_url:
        base = handler_url.split("/bitrix24/", 1)[0] if "/bitrix24/" in handler_url else handler_url.rstrip("/")
        for e in spec.entities.values():
            doc = document_type(e.crm.object)
            for t in e.triggers:
                if t.robot is not None and doc is not None:
                    system = spec.system_for(e, "crm") or "bitrix24"
                    robots.setdefault(t.robot.code, RobotReq(code=t.robot.code, name=t.robot.name,
                                                             description=t.robot.description, document_type=doc,
                                                             handler=f"{base}/bitrix24/{system}/robots"))
    return Requirements(user_fields=list(fields.values()), event_handlers=list(handlers.values()),
                        smart_processes=list(smart.values()), robots=list(robots.values()), stages=list(stages.values()),
                        prune_robots=bool(handler_url), item_fields=_item_fields(spec))


def _item_fields(spec: Spec) -> list[ItemFieldReq]:
    """User fields (``ufCrm…``) a spec names on smart processes and smart invoices; a `files` target is a file."""
    out: dict[tuple[int, str], ItemFieldReq] = {}
    for e in spec.entities.values():
        m = _SMART.match(e.crm.object)
        if not m:
            continue
        et = int(m.group(1))
        typed = {f.crm: (user_field_type(f), f.title) for f in e.fields}
        typed.update({ft.to.field: ("file", "Файл из учётной системы") for ft in e.files if ft.to.field})
        names = [ft.to.field for ft in e.files if ft.to.field]
        if et != 31:  # smart invoices' mapped fields are user_fields (entity CRM_SMART_INVOICE) above
            names += [f.crm for f in e.fields] + [k.crm for r in e.match for k in r.keys]
            names += [e.link.crm] if e.link.crm else []
            names += [w.crm for w in e.write_back]
            names += [g.skip_if.field for g in e.guards if g.skip_if and g.skip_if.side == "crm"]
            names += [g.only_if.field for g in e.guards if g.only_if and g.only_if.side == "crm"]
        for n in names:
            if n and n.startswith("ufCrm"):
                t, title = typed.get(n, ("string", None))
                out.setdefault((et, n), ItemFieldReq(entity_type_id=et, name=n, user_type_id=t, label=title or n))
    return list(out.values())

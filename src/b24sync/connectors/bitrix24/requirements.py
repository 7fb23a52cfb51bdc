"""What a spec needs from a Bitrix24 portal: the user fields it maps or links through, and the event handlers its
webhook triggers rely on. Feeds ``portal check`` / ``portal prepare``."""

from __future__ import annotations

from b24sync.connectors.bitrix24.portal import EventHandlerReq, Requirements, UserFieldReq
from b24sync.spec.models import Spec

_LEGACY = {"crm.company": "company", "crm.contact": "contact", "crm.deal": "deal", "crm.lead": "lead"}


def requirements_from_spec(spec: Spec, *, handler_url: str | None = None) -> Requirements:
    fields: dict[tuple[str, str], UserFieldReq] = {}
    handlers: dict[str, EventHandlerReq] = {}
    for e in spec.entities.values():
        ent = _LEGACY.get(e.crm.object.split("+", 1)[0])  # composites: crm.company+requisite → company
        if ent is None:
            continue
        names = [f.crm for f in e.fields] + [k.crm for r in e.match for k in r.keys]
        names += [e.link.crm] if e.link.crm else []
        names += [g.skip_if.field for g in e.guards if g.skip_if and g.skip_if.side == "crm"]
        names += [w.crm for w in e.write_back]
        names += [g.only_if.field for g in e.guards if g.only_if and g.only_if.side == "crm"]
        for n in names:
            if n.upper().startswith("UF_CRM_"):
                title = next((f.title for f in e.fields if f.crm == n and f.title), None)
                label = title or ("ERP id" if n == e.link.crm else n[7:].replace("_", " ").title())
                fields.setdefault((ent, n.upper()), UserFieldReq(entity=ent, field_name=n.upper(), label=label))
        if handler_url:
            for t in e.triggers:
                if t.webhook:
                    handlers.setdefault(t.webhook.upper(), EventHandlerReq(event=t.webhook.upper(), handler=handler_url))
    return Requirements(user_fields=list(fields.values()), event_handlers=list(handlers.values()))

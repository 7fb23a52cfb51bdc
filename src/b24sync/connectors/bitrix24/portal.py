"""``portal check`` / ``portal prepare``: make a portal carry what the sync needs — user fields, smart-process
types, pipeline stages, event handlers — reporting what is missing and creating it idempotently.

Methods (sheet §6.6, §6.7, §6.4, §7.1): ``crm.{entity}.userfield.list|add`` (``FIELD_NAME`` auto-prefixed
``UF_CRM_``, ≤50 chars, ``A-Z0-9_``; sheet §3.4), ``crm.type.list|add`` (match on ``code``/``title``; use
``entityTypeId``), ``crm.status.list|add`` by ``ENTITY_ID`` (``DEAL_STAGE``, ``DEAL_STAGE_{cat}``,
``DYNAMIC_{entityTypeId}_STAGE_{cat}``; a wrong ``ENTITY_ID`` gives an empty list, not an error), ``event.get|bind``
(application auth only; a duplicate handler is an error, so we bind only what ``event.get`` lacks), the spec's
automation robots ``bizproc.robot.list|add|update|delete`` (application auth only; robots.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from b24sync.connectors.bitrix24.client import Bitrix24Client

UF_ENTITIES = {"lead", "deal", "contact", "company", "quote", "requisite"}


class UserFieldReq(BaseModel):
    entity: str  # deal, contact, company, lead, quote, requisite
    field_name: str  # with or without the UF_CRM_ prefix
    user_type_id: str = "string"
    label: str | None = None
    multiple: bool = False
    mandatory: bool = False
    xml_id: str | None = None
    values: list[str] = Field(default_factory=list)  # enumeration values (LIST items)

    @property
    def full_name(self) -> str:
        n = self.field_name.upper()
        if n.startswith("UF_CRM_"):
            return n
        if n.startswith("UF_"):
            n = n[3:]
        return "UF_CRM_" + n


class SmartProcessReq(BaseModel):
    title: str
    code: str | None = None
    entity_type_id: int | None = None  # crm.item:N in a spec: matched (and created) by its entityTypeId
    categories: bool = True
    stages: bool = True
    parents: list[int] = []  # entityTypeIds the items link to (parentId2: a deal) — crm.type.add `relations`


class ItemFieldReq(BaseModel):
    """A user field of a smart process or of smart invoices (``crm.item:N``), named as ``crm.item.*`` shows it
    (``ufCrm7SignedContract``, ``ufCrmSmartInvoicePdf``); created with ``userfieldconfig.add``."""

    entity_type_id: int
    name: str
    user_type_id: str = "string"
    label: str | None = None


class StageReq(BaseModel):
    entity_id: str  # DEAL_STAGE, DEAL_STAGE_1, DYNAMIC_1032_STAGE_5, ...
    status_id: str  # the part after any C{n}: / DT…: prefix; the portal builds the full id
    name: str
    sort: int | None = 100  # None: just before the pipeline's first final stage (a process stage among the others)
    semantics: str | None = None  # None, "S", "F"


class EventHandlerReq(BaseModel):
    event: str
    handler: str | None = None  # URL; None for offline
    event_type: str = "online"  # online | offline
    auth_connector: str | None = None


class RobotReq(BaseModel):
    code: str
    name: str
    handler: str  # our robot intake, https://HOST/bitrix24/<system>/robots
    document_type: list[str]
    description: str | None = None
    auth_user_id: int = 1


class Requirements(BaseModel):
    user_fields: list[UserFieldReq] = Field(default_factory=list)
    item_fields: list[ItemFieldReq] = Field(default_factory=list)
    smart_processes: list[SmartProcessReq] = Field(default_factory=list)
    stages: list[StageReq] = Field(default_factory=list)
    event_handlers: list[EventHandlerReq] = Field(default_factory=list)
    robots: list[RobotReq] = Field(default_factory=list)
    prune_robots: bool = False  # delete the application's robots the requirements do not name (a spec's prepare)


@dataclass
class Finding:
    kind: str  # user_field | smart_process | stage | event_handler | robot
    name: str
    status: str  # ok | missing | mismatch | created | updated | deleted | error
    detail: str = ""


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)

    @property
    def missing(self) -> list[Finding]:
        return [f for f in self.findings if f.status in ("missing", "mismatch", "error")]

    @property
    def created(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "created"]


_FIELD_NAME_RE = re.compile(r"^UF_CRM_[A-Z0-9_]{1,43}$")  # ≤50 chars incl. prefix (sheet §3.4)


def _found(rows: list[dict[str, Any]], type_key: str, label: str, req: UserFieldReq, create: bool) -> Finding | None:
    """What a user-field listing already answers: ok, a type mismatch, or missing (when not creating); None = create."""
    if rows:
        have = str(rows[0].get(type_key, ""))
        if have and have != req.user_type_id:
            return Finding("user_field", label, "mismatch", f"type {have}, wanted {req.user_type_id}")
        return Finding("user_field", label, "ok")
    if not create:
        return Finding("user_field", label, "missing", req.user_type_id)
    return None


async def _config_user_field(c: Bitrix24Client, req: UserFieldReq, create: bool) -> Finding:
    """A smart invoice's user field (``userfieldconfig.*``, entityId ``CRM_SMART_INVOICE``; bitrix24-rest.md §6.6):
    its name must be ``UF_CRM_SMART_INVOICE_…`` (camelCase ``ufCrmSmartInvoice…`` in crm.item.*)."""
    name = req.full_name
    label = f"{req.entity}.{name}"
    if not name.startswith(f"UF_{req.entity}_") or len(name) > 50 or not re.match(r"^UF_[A-Z0-9_]+$", name):
        camel = "ufCrm" + "".join(w.capitalize() for w in req.entity[4:].split("_"))
        return Finding("user_field", label, "error", f"a field of {req.entity} is named UF_{req.entity}_<NAME> "
                       f"(in the spec {camel}<Name>), A-Z0-9_, up to 50 characters")
    res = await c.call("userfieldconfig.list", {"moduleId": "crm", "filter": {"entityId": req.entity,
                                                                              "fieldName": name}}, batch=False)
    rows = res.get("fields", []) if isinstance(res, dict) else list(res or [])
    rows = [r for r in rows if str(r.get("fieldName", "")).upper() == name]
    found = _found(rows, "userTypeId", label, req, create)
    if found is not None:
        return found
    field: dict[str, Any] = {"entityId": req.entity, "fieldName": name, "userTypeId": req.user_type_id,
                             "multiple": "Y" if req.multiple else "N", "mandatory": "Y" if req.mandatory else "N"}
    if req.label:
        field["editFormLabel"] = req.label
    if req.xml_id:
        field["xmlId"] = req.xml_id
    await c.call("userfieldconfig.add", {"moduleId": "crm", "field": field}, batch=False)
    return Finding("user_field", label, "created", req.user_type_id)


async def _user_field(c: Bitrix24Client, req: UserFieldReq, create: bool) -> Finding:
    name = req.full_name
    if req.entity.startswith("CRM_"):
        return await _config_user_field(c, req, create)
    if req.entity not in UF_ENTITIES:
        return Finding("user_field", f"{req.entity}.{name}", "error", "unknown entity")
    if not _FIELD_NAME_RE.match(name):
        return Finding("user_field", f"{req.entity}.{name}", "error", "FIELD_NAME must be A-Z0-9_, ≤50 chars")
    rows = await c.call(f"crm.{req.entity}.userfield.list", {"filter": {"FIELD_NAME": name}})
    rows = [r for r in rows or [] if str(r.get("FIELD_NAME", "")).upper() == name]
    label = f"{req.entity}.{name}"
    found = _found(rows, "USER_TYPE_ID", label, req, create)
    if found is not None:
        return found
    fields: dict[str, Any] = {
        "FIELD_NAME": name[len("UF_CRM_"):], "USER_TYPE_ID": req.user_type_id,
        "MULTIPLE": "Y" if req.multiple else "N", "MANDATORY": "Y" if req.mandatory else "N",
    }
    if req.label:
        fields.update(EDIT_FORM_LABEL=req.label, LIST_COLUMN_LABEL=req.label, LABEL=req.label)
    if req.xml_id:
        fields["XML_ID"] = req.xml_id
    if req.values:
        fields["LIST"] = [{"VALUE": v, "SORT": (i + 1) * 10} for i, v in enumerate(req.values)]
    await c.call(f"crm.{req.entity}.userfield.add", {"fields": fields}, batch=False)
    return Finding("user_field", label, "created", req.user_type_id)


async def _smart_process(c: Bitrix24Client, types: list[dict], req: SmartProcessReq, create: bool) -> Finding:
    if req.entity_type_id is not None:
        hit = next((t for t in types if int(t.get("entityTypeId") or 0) == req.entity_type_id), None)
    else:
        hit = next((t for t in types if (req.code and t.get("code") == req.code) or t.get("title") == req.title), None)
    label = f"crm.item:{req.entity_type_id}" if req.entity_type_id is not None else req.title
    if hit:
        return Finding("smart_process", label, "ok", f"entityTypeId={hit.get('entityTypeId')} {hit.get('title') or ''}")
    if not create:
        return Finding("smart_process", label, "missing")
    f: dict[str, Any] = {"title": req.title, "isCategoriesEnabled": "Y" if req.categories else "N",
                         "isStagesEnabled": "Y" if req.stages else "N"}
    if req.entity_type_id is not None:
        f["entityTypeId"] = req.entity_type_id  # crm.type.add accepts it (b24restdocs crm-type-add.md)
    if req.code:
        f["code"] = req.code
    if req.parents:  # document-flows.md A.4: `relations` (parent deal) [crm-type-add.md]
        f["relations"] = {"parent": [{"entityTypeId": n, "isChildrenListEnabled": "Y"} for n in req.parents]}
    res = await c.call("crm.type.add", {"fields": f}, batch=False)
    et = ((res or {}).get("type") or {}).get("entityTypeId")
    types.append({"title": req.title, "code": req.code, "entityTypeId": et})
    return Finding("smart_process", label, "created", f"entityTypeId={et}")


def _upper_name(camel: str) -> str:
    """``ufCrm7SignedContract`` → ``UF_CRM_7_SIGNED_CONTRACT`` (crm.item.* shows user fields in camelCase)."""
    return re.sub(r"(?<=[a-z])(?=[A-Z0-9])|(?<=[0-9])(?=[A-Za-z])", "_", camel).upper()


async def _item_field(c: Bitrix24Client, types: list[dict], req: ItemFieldReq, create: bool) -> Finding:
    """[tutorials/crm/how-to-add-crm-objects/how-to-add-user-field-to-spa.md]: entityId ``CRM_{type id}`` (the
    smart process's ``id`` from crm.type.list, not its entityTypeId), fieldName ``UF_CRM_{type id}_…`` (≤ 50);
    smart invoices: ``CRM_SMART_INVOICE`` (document-flows.md A.1: UF names ``ufCrmSmartInvoice…``)."""
    label = f"crm.item:{req.entity_type_id}.{req.name}"
    res = await c.call("crm.item.fields", {"entityTypeId": req.entity_type_id})
    have = (res or {}).get("fields", {}) if isinstance(res, dict) else {}
    if req.name in have:
        t = str(have[req.name].get("type") or "")
        if t and t != req.user_type_id:
            return Finding("user_field", label, "mismatch", f"type {t}, wanted {req.user_type_id}")
        return Finding("user_field", label, "ok")
    if req.entity_type_id == 31:
        ent = "CRM_SMART_INVOICE"
    else:
        t = next((t for t in types if int(t.get("entityTypeId") or 0) == req.entity_type_id), None)
        if t is None or t.get("id") is None:
            return Finding("user_field", label, "missing", f"{req.user_type_id} (the smart process itself is missing)")
        ent = f"CRM_{t['id']}"
    upper = _upper_name(req.name)
    if not upper.startswith(f"UF_{ent}_") or len(upper) > 50:
        want = "ufCrm" + "".join(x[:1].upper() + x[1:].lower() for x in ent[4:].split("_")) + "…"
        return Finding("user_field", label, "error", f"on this portal its user fields are named {want} "
                       f"(UF_{ent}_…, ≤ 50 characters) — rename it in the spec")
    if not create:
        return Finding("user_field", label, "missing", req.user_type_id)
    f: dict[str, Any] = {"entityId": ent, "fieldName": upper, "userTypeId": req.user_type_id, "multiple": "N"}
    if req.label:
        f["editFormLabel"] = {"ru": req.label, "en": req.label}
    await c.call("userfieldconfig.add", {"moduleId": "crm", "field": f}, batch=False)
    return Finding("user_field", label, "created", req.user_type_id)


async def _stage(c: Bitrix24Client, req: StageReq, create: bool) -> Finding:
    rows = await c.call("crm.status.list", {"filter": {"ENTITY_ID": req.entity_id}})
    label = f"{req.entity_id}:{req.status_id}"
    sid = req.status_id.upper()
    hit = next((r for r in rows or [] if str(r.get("STATUS_ID", "")).split(":")[-1] == sid
                or r.get("NAME") == req.name), None)
    if hit:
        return Finding("stage", label, "ok", str(hit.get("STATUS_ID")))
    if not create:
        return Finding("stage", label, "missing", req.name)
    sort = req.sort
    if sort is None:
        finals = [int(r.get("SORT") or 0) for r in rows or [] if r.get("SEMANTICS") in ("S", "F")]
        sort = max(1, min(finals) - 1) if finals else 100
    f: dict[str, Any] = {"ENTITY_ID": req.entity_id, "STATUS_ID": sid, "NAME": req.name, "SORT": sort}
    if req.semantics:
        f["SEMANTICS"] = req.semantics
    await c.call("crm.status.add", {"fields": f}, batch=False)
    return Finding("stage", label, "created", req.name)


async def _handlers(c: Bitrix24Client, reqs: list[EventHandlerReq], create: bool) -> list[Finding]:
    if not reqs:
        return []
    bound = await c.call("event.get", {}, batch=False) or []
    have = {(str(b.get("event", "")).upper(), b.get("handler") or "", bool(int(b.get("offline") or 0)))
            for b in bound}
    out: list[Finding] = []
    for r in reqs:
        offline = r.event_type == "offline"
        label = f"{r.event.upper()} → {'offline' if offline else r.handler}"
        if (r.event.upper(), (r.handler or "") if not offline else "", offline) in have or \
                (offline and any(e == r.event.upper() and o for e, _, o in have)):
            out.append(Finding("event_handler", label, "ok"))
            continue
        if not create:
            out.append(Finding("event_handler", label, "missing"))
            continue
        p: dict[str, Any] = {"event": r.event, "event_type": r.event_type}
        if r.handler and not offline:
            p["handler"] = r.handler
        if r.auth_connector:
            p["auth_connector"] = r.auth_connector
        await c.call("event.bind", p, batch=False)
        out.append(Finding("event_handler", label, "created"))
    return out


async def _robots(c: Bitrix24Client, req: Requirements, create: bool) -> list[Finding]:
    """Reconcile the application's robots with the requirements (robots.py). ``bizproc.robot.list`` gives codes
    (the doc's reading) or objects with NAME/HANDLER (the PHP SDK's reading): with objects, only a changed robot is
    updated; with codes, each present robot gets ``bizproc.robot.update`` with the spec's fields (idempotent)."""
    from b24sync.connectors.bitrix24.errors import Bitrix24Error
    from b24sync.connectors.bitrix24.robots import robot_fields

    if not req.robots and not req.prune_robots:
        return []
    try:
        listed = await c.call("bizproc.robot.list", {}, batch=False) or []
    except Bitrix24Error as e:
        why = (f"{e}: Bitrix24 registers robots only for an application (OAuth) — run b24sync with `oauth:` "
               "auth (docs/spec.md \"Automation robots\")")
        return [Finding("robot", r.code, "error", why) for r in req.robots]
    have: dict[str, dict[str, Any] | None] = {}
    for item in listed if isinstance(listed, list) else list(dict(listed).values()):
        if isinstance(item, dict):
            code = str(item.get("CODE") or item.get("code") or "")
            have[code] = item
        else:
            have[str(item)] = None
    out: list[Finding] = []
    for r in req.robots:
        f = robot_fields(r.code, r.name, r.description, r.handler, r.document_type, r.auth_user_id)
        known = have.get(r.code, False)
        if known is False:
            if not create:
                out.append(Finding("robot", r.code, "missing", f"{r.name} → {r.handler}"))
                continue
            await c.call("bizproc.robot.add", f, batch=False)
            out.append(Finding("robot", r.code, "created", f"{r.name} → {r.handler}"))
            continue
        if isinstance(known, dict):
            same = (str(known.get("HANDLER") or known.get("handler") or "") == r.handler
                    and _robot_name(known) == r.name)
            if same:
                out.append(Finding("robot", r.code, "ok", r.name))
                continue
            if not create:
                out.append(Finding("robot", r.code, "mismatch", "name or handler differ from the spec"))
                continue
        elif not create:
            out.append(Finding("robot", r.code, "ok", r.name))
            continue
        fields = {k: v for k, v in f.items() if k != "CODE"}
        await c.call("bizproc.robot.update", {"CODE": r.code, "FIELDS": fields}, batch=False)
        out.append(Finding("robot", r.code, "updated" if isinstance(known, dict) else "ok",
                           f"{r.name} (fields sent again)" if known is None else r.name))
    if req.prune_robots:
        wanted = {r.code for r in req.robots}
        for code in have:
            if code and code not in wanted:
                if create:
                    await c.call("bizproc.robot.delete", {"CODE": code}, batch=False)
                    out.append(Finding("robot", code, "deleted", "no longer in the spec"))
                else:
                    out.append(Finding("robot", code, "mismatch", "registered, but no longer in the spec"))
    return out


def _robot_name(item: dict[str, Any]) -> str:
    n = item.get("NAME") or item.get("name") or ""
    if isinstance(n, dict):
        return str(n.get("ru") or n.get("en") or next(iter(n.values()), ""))
    return str(n)


async def check_portal(client: Bitrix24Client, req: Requirements, *, create: bool = False) -> Report:
    """What is missing (``create=False``) or create it (``create=True``); a second prepare creates nothing."""
    rep = Report()
    for uf in req.user_fields:
        rep.findings.append(await _user_field(client, uf, create))
    if req.smart_processes:
        res = await client.call("crm.type.list", {})
        types = list((res or {}).get("types", []))
        for sp in req.smart_processes:
            rep.findings.append(await _smart_process(client, types, sp, create))
    if req.item_fields:
        if any(f.entity_type_id != 31 for f in req.item_fields):
            res = await client.call("crm.type.list", {})
            types = list((res or {}).get("types", []))
        else:
            types = []
        for itf in req.item_fields:
            rep.findings.append(await _item_field(client, types, itf, create))
    for st in req.stages:
        rep.findings.append(await _stage(client, st, create))
    rep.findings.extend(await _handlers(client, req.event_handlers, create))
    rep.findings.extend(await _robots(client, req, create))
    return rep


async def prepare_portal(client: Bitrix24Client, req: Requirements) -> Report:
    return await check_portal(client, req, create=True)

"""Universal ``crm.item.*`` (camelCase, typed values, ``{"item": …}`` / ``{"items": […]}`` wrappers) for leads, deals,
contacts, companies, smart invoices (entityTypeId 31) and custom smart processes; ``crm.type.*``
[fact sheet §6.2, §6.7, §6.9, EN:api-reference/crm/universal/*.md]."""

from __future__ import annotations

import re
from typing import Any

from . import query, stagehistory
from .bootstrap import add_category, stage_entity_id
from .crm_legacy import (create_legacy, delete_legacy, first_stage, list_cost, schema, stage_semantics,
                         update_legacy)
from .model import ITEM_NAME_OVERRIDES, LEGACY, snake_to_camel, to_atom
from .portal import WRITE_COST, ApiError, Page, as_int, fields_param, list_param, method, p

ETID_ENT = {v: k for k, v in LEGACY.items()}
DYN_TYPES = {"id": "integer", "xmlId": "string", "title": "string", "createdBy": "user", "updatedBy": "user",
             "movedBy": "user", "createdTime": "datetime", "updatedTime": "datetime", "movedTime": "datetime",
             "categoryId": "crm_category", "opened": "char", "stageId": "crm_status", "previousStageId": "crm_status",
             "begindate": "date", "closedate": "date", "companyId": "crm_company", "contactId": "crm_contact",
             "contactIds": "crm_contact", "opportunity": "double", "isManualOpportunity": "char",
             "taxValue": "double", "currencyId": "crm_currency", "mycompanyId": "crm_company", "sourceId": "crm_status",
             "sourceDescription": "string", "assignedById": "user", "observers": "user", "entityTypeId": "integer",
             "stageSemanticId": "string", "accountNumber": "string", "comments": "string", "webformId": "integer",
             "originatorId": "string", "originId": "string"}
DYN_MULTI = {"contactIds", "observers"}
DYN_RO = {"id", "createdBy", "updatedBy", "movedBy", "createdTime", "updatedTime", "movedTime", "entityTypeId",
          "stageSemanticId", "previousStageId"}


def _not_found_type() -> ApiError:
    return ApiError(400, "NOT_FOUND", "Smart process not found")  # [§9.9, EN:crm-item-add.md]


def resolve_type(portal, params: dict) -> int:
    etid = as_int(p(params, "entityTypeId"))
    if etid == 5:
        raise ApiError(400, "ENTITY_TYPE_NOT_SUPPORTED", "Entity type 5 is not supported")
    if etid in ETID_ENT or etid == 31:
        return etid
    if etid and any(t["entityTypeId"] == etid for t in portal.t("crm_type").rows.values()):
        return etid
    raise _not_found_type()


# ---- legacy entities through crm.item --------------------------------------------------------------------------
def camel_map(portal, ent: str) -> dict[str, str]:
    """camelCase name → legacy UPPER name."""
    out = {}
    for up in schema(portal, ent):
        out[ITEM_NAME_OVERRIDES.get(up) or snake_to_camel(up)] = up
    return out


def legacy_item_out(portal, ent: str, row: dict, select: list[str] | None) -> dict:
    sch = schema(portal, ent)
    cm = camel_map(portal, ent)
    all_sel = not select or "*" in select
    res: dict[str, Any] = {}
    for camel, up in cm.items():
        f = sch[up]
        if f["type"] == "crm_multifield":
            continue
        if not all_sel and camel not in select and up not in select:
            continue
        res[camel] = typed(f["type"], row.get(up), f.get("isMultiple") and f.get("isDynamic", False))
    if all_sel and "PHONE" in sch:  # fm only with select ['*'] [§5, EN:crm-item-list.md]
        res["fm"] = [{"id": m["ID"], "valueType": m["VALUE_TYPE"], "value": m["VALUE"], "typeId": m["TYPE_ID"]}
                     for k in ("PHONE", "EMAIL", "WEB", "IM", "LINK") for m in (row.get(k) or [])]
    res["id"] = row["ID"]
    res["entityTypeId"] = LEGACY[ent]
    return res


def typed(ftype: str, v: Any, multiple: bool = False) -> Any:
    if multiple:
        return [typed(ftype, x) for x in (v if isinstance(v, list) else [] if v is None else [v])]
    if v is None:
        return None
    if ftype in ("integer", "user", "crm_company", "crm_contact", "crm_lead", "crm_quote", "crm_category",
                 "crm_entity"):
        if isinstance(v, list):
            return [int(x) for x in v]
        try:
            return int(v)
        except (TypeError, ValueError):
            return v
    if ftype == "double":
        try:
            f = float(v)
            return int(f) if f.is_integer() else f
        except (TypeError, ValueError):
            return v
    return v


def item_fields_to_legacy(portal, ent: str, fields: dict) -> dict:
    cm = camel_map(portal, ent)
    out: dict[str, Any] = {}
    for k, v in fields.items():
        if k == "fm":
            continue
        up = cm.get(k) or (k.upper() if k.upper() in schema(portal, ent) else None)
        m = re.match(r"^parentId(\d+)$", k)
        if m:
            up = f"PARENT_ID_{m.group(1)}"
        if up:
            out[up] = v
    return out


def apply_fm(portal, fields: dict, is_add: bool) -> dict:
    """``fm`` semantics [fact sheet §6.3, EN:tutorials/crm/how-to-edit-crm-objects/how-to-change-email-or-phone.md]:
    add → array of {typeId, valueType, value}; update → object keyed by entry id (empty value deletes) or n0, n1…
    (adds); an array on update appends; typeId is mandatory (silently ignored without it)."""
    fm = fields.get("fm")
    out: dict[str, list] = {}
    if fm is None or isinstance(fm, str):
        return out
    entries = fm.items() if isinstance(fm, dict) and not is_add else ((None, x) for x in list_param(fm))
    for key, e in entries:
        if not isinstance(e, dict) or not e.get("typeId"):
            continue
        tid = str(e["typeId"]).upper()
        item = {"VALUE": e.get("value", ""), "VALUE_TYPE": e.get("valueType", "")}
        if key is not None and str(key).isdigit():
            item["ID"] = int(key)
        out.setdefault(tid, []).append(item)
    return out


# ---- dynamic items (smart processes, smart invoices) -----------------------------------------------------------
def dyn_table(portal, etid: int):
    return portal.t(f"item_{etid}")


def dyn_types(portal, etid: int) -> dict[str, str]:
    t = dict(DYN_TYPES)
    for row in dyn_table(portal, etid).rows.values():
        for k in row:
            if k.startswith("parentId"):
                t[k] = "crm_entity"
        break
    return t


def _is_file(v: Any) -> bool:
    return isinstance(v, dict) and "downloadUrl" in v


def _is_file_value(old: Any, v: Any) -> bool:
    """A write to a file field: [name, base64], {"fileData": …}, {"id": N} or '' over a field holding a file, or a
    list of those (a multiple field) — document-flows.md A.7."""
    holds = _is_file(old) or (isinstance(old, list) and any(_is_file(x) for x in old))
    if isinstance(v, dict):
        return "fileData" in v or (holds and "id" in v)
    if isinstance(v, list) and len(v) == 2 and isinstance(v[0], str) and isinstance(v[1], str) and "." in v[0]:
        return True
    if isinstance(v, list) and v and all(isinstance(x, (list, dict)) for x in v):
        return all(_is_file_value(old if holds else None, x) or (isinstance(x, dict) and "id" in x) for x in v)
    return holds and v in ("", None, [])


def dyn_out(row: dict, select: list[str] | None, portal=None) -> dict:
    out = {k: v for k, v in row.items() if k != "ID"}
    if portal is not None:
        for k, v in out.items():
            if _is_file(v) or (isinstance(v, list) and v and all(_is_file(x) for x in v)):
                out[k] = portal.file_out_item(v, row.get("entityTypeId") or 0, row["ID"], k)
    out["id"] = row["ID"]
    if select and "*" not in select:
        out = {k: v for k, v in out.items() if k in select or k == "id"}
    return out


def dyn_write(portal, ctx, etid: int, row: dict, fields: dict, is_add: bool) -> None:
    for k, v in fields.items():
        if k in DYN_RO or k == "fm":
            continue
        if k in DYN_TYPES or k.startswith("parentId") or k.startswith("ufCrm") or k.startswith("UF_CRM_"):
            ftype = DYN_TYPES.get(k, "string")
            if ftype in ("date", "datetime"):
                v = to_atom(v)
            elif k in DYN_MULTI:
                v = [int(x) for x in list_param(v) if as_int(x) is not None]
            elif _is_file_value(row.get(k), v) and (k.startswith("ufCrm") or k.startswith("UF_CRM_")):
                v = portal.file_value(row.get(k), v)
            else:
                v = typed(ftype, v) if ftype not in ("string", "char", "crm_status", "crm_currency") else v
            row[k] = v
    cat = row.get("categoryId")
    if cat is None or portal.t("category").get(cat) is None or portal.t("category").get(cat)["entityTypeId"] != etid:
        cats = [c for c in portal.t("category").rows.values() if c["entityTypeId"] == etid]
        cat = (next((c for c in cats if c["isDefault"] == "Y"), None) or (cats[0] if cats else {"ID": 0}))["ID"]
    row["categoryId"] = cat
    ent_id = stage_entity_id(etid, cat)
    if not row.get("stageId"):
        row["stageId"] = first_stage(portal, ent_id)
    row["stageSemanticId"] = stage_semantics(portal, ent_id, row["stageId"])


def dyn_event(portal, ctx, etid: int, op: str, rid: int) -> None:
    data = {"ID": str(rid), "ENTITY_TYPE_ID": str(etid)}
    portal.events.emit(f"ONCRMDYNAMICITEM{op}", data, ctx.connector)
    portal.events.emit(f"ONCRMDYNAMICITEM{op}_{etid}", data, ctx.connector)


# ---- methods ---------------------------------------------------------------------------------------------------
@method("crm.item.add")
def item_add(portal, ctx, params):
    etid = resolve_type(portal, params)
    fields = fields_param(params)
    ctx.cost = WRITE_COST
    if etid in ETID_ENT:
        ent = ETID_ENT[etid]
        legacy = item_fields_to_legacy(portal, ent, fields)
        legacy.update(apply_fm(portal, fields, True))
        rid = create_legacy(portal, ctx, ent, legacy, {})
        return {"item": legacy_item_out(portal, ent, portal.t(ent).get(rid), None)}
    now = portal.now_atom()
    row: dict[str, Any] = {"createdBy": ctx.user_id, "updatedBy": ctx.user_id, "movedBy": ctx.user_id,
                           "createdTime": now, "updatedTime": now, "movedTime": now, "assignedById": ctx.user_id,
                           "opened": "N", "title": "", "opportunity": 0, "currencyId": "RUB",
                           "isManualOpportunity": "N", "companyId": 0, "contactId": 0, "contactIds": [],
                           "observers": [], "entityTypeId": etid, "xmlId": None, "begindate": None, "closedate": None}
    dyn_write(portal, ctx, etid, row, fields, True)
    tbl = dyn_table(portal, etid)
    rid = tbl.insert(row)
    if not row.get("title"):
        row["title"] = ("Счёт #" if etid == 31 else "Элемент #") + str(rid)
    if etid == 31 and not row.get("accountNumber"):
        row["accountNumber"] = str(rid)
    if row["contactIds"] and not row["contactId"]:
        row["contactId"] = row["contactIds"][0]
    tbl.save(row)
    stagehistory.record(portal, etid, rid, row.get("stageId"), row.get("stageSemanticId"), row.get("categoryId"),
                        created=True)
    dyn_event(portal, ctx, etid, "ADD", rid)
    return {"item": dyn_out(row, None, portal)}


@method("crm.item.update")
def item_update(portal, ctx, params):
    etid = resolve_type(portal, params)
    rid = as_int(p(params, "id"))
    fields = fields_param(params)
    ctx.cost = WRITE_COST
    if etid in ETID_ENT:
        ent = ETID_ENT[etid]
        row = portal.t(ent).get(rid)
        if row is None:
            raise ApiError(400, "NOT_FOUND", "Element not found")
        legacy = item_fields_to_legacy(portal, ent, fields)
        legacy.update(apply_fm(portal, fields, False))
        if ent == "deal" and "CATEGORY_ID" in legacy:  # crm.item.update may move a deal to another pipeline
            row["CATEGORY_ID"] = as_int(legacy.pop("CATEGORY_ID")) or 0
            if "STAGE_ID" not in legacy:
                row["STAGE_ID"] = first_stage(portal, stage_entity_id(2, row["CATEGORY_ID"]))
        update_legacy(portal, ctx, ent, row, legacy, {})
        return {"item": legacy_item_out(portal, ent, row, None)}
    tbl = dyn_table(portal, etid)
    row = tbl.get(rid)
    if row is None:
        raise ApiError(400, "NOT_FOUND", "Element not found")
    before = dict(row)
    old_stage = row.get("stageId")
    if etid == 31 and not getattr(portal, "invoice_number_writable", False):
        # accountNumber is not in the documented writable fields of crm.item.update (document-flows.md A.1 ⚠,
        # unverified on a live portal): by default the sandbox keeps the portal's number and ignores the write;
        # `portal.invoice_number_writable = True` plays the other reading
        fields = {k: v for k, v in fields.items() if k != "accountNumber"}
    dyn_write(portal, ctx, etid, row, fields, False)
    if row == before:
        return {"item": dyn_out(row, None, portal)}  # nothing changed → nothing saved [EN:crm-item-update.md]
    if row.get("stageId") != old_stage:
        row["previousStageId"], row["movedBy"], row["movedTime"] = old_stage, ctx.user_id, portal.now_atom()
        stagehistory.record(portal, etid, rid, row.get("stageId"), row.get("stageSemanticId"), row.get("categoryId"),
                            pipeline_changed=row.get("categoryId") != before.get("categoryId"))
    row["updatedBy"], row["updatedTime"] = ctx.user_id, portal.now_atom()
    tbl.save(row)
    dyn_event(portal, ctx, etid, "UPDATE", rid)
    return {"item": dyn_out(row, None, portal)}


@method("crm.item.get")
def item_get(portal, ctx, params):
    etid = resolve_type(portal, params)
    rid = as_int(p(params, "id"))
    if etid in ETID_ENT:
        ent = ETID_ENT[etid]
        row = portal.t(ent).get(rid)
        if row is None:
            raise ApiError(400, "NOT_FOUND", "Element not found")  # [§9.9, EN:crm-item-get.md]
        return {"item": legacy_item_out(portal, ent, row, None)}
    row = dyn_table(portal, etid).get(rid)
    if row is None:
        raise ApiError(400, "NOT_FOUND", "Element not found")
    return {"item": dyn_out(row, None, portal)}


@method("crm.item.delete")
def item_delete(portal, ctx, params):
    etid = resolve_type(portal, params)
    rid = as_int(p(params, "id"))
    if etid in ETID_ENT:
        ent = ETID_ENT[etid]
        if portal.t(ent).get(rid) is None:
            raise ApiError(400, "NOT_FOUND", "Element not found")
        delete_legacy(portal, ctx, ent, rid)
        return []  # delete returns [] [§2.2, EN:crm-item-delete.md]
    if dyn_table(portal, etid).delete(rid) is None:
        raise ApiError(400, "NOT_FOUND", "Element not found")
    dyn_event(portal, ctx, etid, "DELETE", rid)
    return []


def _match_groups(flt: dict, value_of, types, resolve) -> bool:
    """OR/AND groups {"0": {"logic": "OR", "0": {...}, "1": {...}}} — crm.item.list only [EN:crm-item-list.md]."""
    for k, g in flt.items():
        if not (str(k).isdigit() and isinstance(g, dict)):
            continue
        logic = str(g.get("logic", "AND")).upper()
        subs = [v for kk, v in g.items() if kk != "logic" and isinstance(v, dict)]
        plain = {kk: v for kk, v in g.items() if kk != "logic" and not isinstance(v, dict)}
        results = [query.match(value_of, query.build_conditions(s, types, True, resolve)) and _match_groups(s, value_of, types, resolve)
                   for s in subs]
        if plain:
            results.append(query.match(value_of, query.build_conditions(plain, types, True, resolve)))
        if results and not (any(results) if logic == "OR" else all(results)):
            return False
    return True


@method("crm.item.list")
def item_list(portal, ctx, params):
    etid = resolve_type(portal, params)
    flt = p(params, "filter", {}) or {}
    start = query.parse_start(p(params, "start", 0))
    select = [str(s) for s in list_param(p(params, "select", ["*"]))] or ["*"]
    if etid in ETID_ENT:
        ent = ETID_ENT[etid]
        cm = camel_map(portal, ent)
        sch = schema(portal, ent)
        types = {c: ("string" if sch[u]["type"] == "crm_multifield" else sch[u]["type"]) for c, u in cm.items()}
        tbl = portal.t(ent)
        resolve = lambda n: n if n in cm else None  # noqa: E731
        value_of_row = lambda r, f: r.get(cm[f]) if f != "id" else r["ID"]  # noqa: E731
        id_field = "id"
        out = lambda r: legacy_item_out(portal, ent, r, select)  # noqa: E731
    else:
        tbl = dyn_table(portal, etid)
        types = dyn_types(portal, etid)
        resolve = lambda n: n if (n in types or n.startswith(("ufCrm", "parentId"))) else None  # noqa: E731
        value_of_row = lambda r, f: r["ID"] if f == "id" else r.get(f)  # noqa: E731
        id_field = "id"
        out = lambda r: dyn_out(r, select, portal)  # noqa: E731
    try:
        conds = query.build_conditions(flt, types, True, resolve)
        order = query.parse_order(p(params, "order", {}) or {}, resolve, strict=True)
        extra = None
        if any(str(k).isdigit() for k in flt):
            extra = lambda r: _match_groups(flt, lambda f: value_of_row(r, f), types, resolve)  # noqa: E731
    except query.FilterError as exc:
        # [§9.9, EN:crm-item-list.md]
        raise ApiError(400, "INVALID_ARG_VALUE", f"Invalid filter: field '{exc.field}' is not allowed in filter")
    rows, nxt, total = query.page(tbl, conds, order, start, id_field, value_of_row, types, extra)
    list_cost(ctx, len(tbl), start)
    return Page({"items": [out(r) for r in rows]}, total, nxt)


@method("crm.item.fields")
def item_fields(portal, ctx, params):
    etid = resolve_type(portal, params)
    def meta(t, up, title, ro=False, mult=False):
        return {"type": t, "isRequired": False, "isReadOnly": ro, "isImmutable": False, "isMultiple": mult,
                "isDynamic": up.startswith("UF_"), "title": title, "upperName": up}
    if etid in ETID_ENT:
        ent = ETID_ENT[etid]
        sch = schema(portal, ent)
        return {"fields": {c: meta(sch[u]["type"], u, sch[u]["title"], sch[u]["isReadOnly"], sch[u]["isMultiple"])
                           for c, u in camel_map(portal, ent).items()}}
    out = {k: meta(t, re.sub(r"([A-Z])", r"_\1", k).upper(), k, k in DYN_RO, k in DYN_MULTI)
           for k, t in DYN_TYPES.items()}
    if etid == 31:  # the invoice's links to a deal and an estimate [document-flows.md A.1, object-fields.md §Invoice]
        out.update({f"parentId{t}": meta("crm_entity", f"PARENT_ID_{t}", f"parentId{t}") for t in (2, 7)})
    for t in next((r.get("parents") or [] for r in portal.t("crm_type").rows.values()
                   if r.get("entityTypeId") == etid), []):  # a smart process linked to its parents' types
        out[f"parentId{t}"] = meta("crm_entity", f"PARENT_ID_{t}", f"parentId{t}")
    for uf in _config_fields(portal, uf_entity_id(portal, etid)):
        out[snake_to_camel(uf["fieldName"])] = meta(uf["userTypeId"], uf["fieldName"], uf.get("editFormLabel")
                                                    or uf["fieldName"], False, uf.get("multiple") == "Y")
    return {"fields": out}


# ---- userfieldconfig.* (user fields of smart invoices and smart processes) -------------------------------------
# [bitrix24-rest.md §6.6 / EN:api-reference/crm/universal/userfieldconfig/userfieldconfig-add.md]: entityId
# CRM_SMART_INVOICE for invoices, CRM_{crm.type id} for a smart process; fieldName UF_{entityId}_{POSTFIX}, A-Z0-9_,
# ≤ 50 characters; the answer wraps the field in {"field": …}. crm.item.* then carry it in camelCase
# (UF_CRM_SMART_INVOICE_ERP_ID → ufCrmSmartInvoiceErpId).

def uf_entity_id(portal, etid: int) -> str:
    if etid == 31:
        return "CRM_SMART_INVOICE"
    t = next((t for t in portal.t("crm_type").rows.values() if t["entityTypeId"] == etid), None)
    return f"CRM_{t['ID']}" if t else f"CRM_T{etid}"


def _config_fields(portal, entity_id: str) -> list[dict]:
    return [r["CONFIG"] for r in portal.t("userfield").rows.values()
            if r.get("ENTITY_ID") == entity_id and "CONFIG" in r]


@method("userfieldconfig.add")
def userfieldconfig_add(portal, ctx, params):
    if str(p(params, "moduleId") or "") != "crm":
        raise ApiError(400, "ACCESS_DENIED", "Module is not supported")
    f = p(params, "field") or {}
    if not isinstance(f, dict):
        raise ApiError(400, "ERROR_CORE", "field must be an object")
    entity_id = str(f.get("entityId") or "")
    name = str(f.get("fieldName") or "").upper()
    utype = str(f.get("userTypeId") or "")
    if not entity_id or not name or not utype:
        raise ApiError(400, "ERROR_CORE", "entityId, fieldName and userTypeId are required")
    if len(name) > 50 or not re.match(r"^UF_[A-Z0-9_]+$", name) or not name.startswith(f"UF_{entity_id}_"):
        raise ApiError(400, "ERROR_CORE", f"fieldName must be UF_{entity_id}_<POSTFIX> (A-Z0-9_, up to 50 characters)")
    if any(c["fieldName"] == name for c in _config_fields(portal, entity_id)):
        raise ApiError(400, "ERROR_CORE", f"Field {name} already exists")
    cfg = {"entityId": entity_id, "fieldName": name, "userTypeId": utype, "xmlId": f.get("xmlId"),
           "sort": str(f.get("sort", 100)), "multiple": "Y" if str(f.get("multiple", "N")).upper() == "Y" else "N",
           "mandatory": "Y" if str(f.get("mandatory", "N")).upper() == "Y" else "N",
           "editFormLabel": f.get("editFormLabel"), "settings": f.get("settings") or {}}
    rid = portal.t("userfield").insert({"ENTITY_ID": entity_id, "FIELD_NAME": name, "USER_TYPE_ID": utype,
                                        "CONFIG": cfg})
    cfg["id"] = str(rid)
    return {"field": cfg}


@method("userfieldconfig.list")
def userfieldconfig_list(portal, ctx, params):
    if str(p(params, "moduleId") or "") != "crm":
        raise ApiError(400, "ACCESS_DENIED", "Module is not supported")
    flt = p(params, "filter") or {}
    rows = [c for r in portal.t("userfield").rows.values() if "CONFIG" in r for c in [r["CONFIG"]]
            if all(str(c.get(k)) == str(v) for k, v in flt.items())]
    return {"fields": rows}


# ---- crm.type.* [fact sheet §6.7, EN:api-reference/crm/universal/user-defined-object-types/crm-type-list.md] ------
TYPE_FLAGS = ("isCategoriesEnabled", "isStagesEnabled", "isBeginCloseDatesEnabled", "isClientEnabled",
              "isUseInUserfieldEnabled", "isLinkWithProductsEnabled", "isMycompanyEnabled", "isDocumentsEnabled",
              "isSourceEnabled", "isObserversEnabled", "isRecyclebinEnabled", "isAutomationEnabled",
              "isBizProcEnabled", "isSetOpenPermissions", "isPaymentsEnabled", "isCountersEnabled")


def type_out(r: dict) -> dict:
    o = {"id": r["ID"], "title": r["title"], "code": r.get("code") or "", "createdBy": r["createdBy"],
         "entityTypeId": r["entityTypeId"], "customSectionId": None}
    o.update({k: r.get(k, "N") for k in TYPE_FLAGS})
    o.update({"createdTime": r["createdTime"], "updatedTime": r["updatedTime"], "updatedBy": r["createdBy"]})
    return o


@method("crm.type.add")
def type_add(portal, ctx, params):
    f = fields_param(params)
    if not str(f.get("title") or "").strip():
        raise ApiError(400, "CRM_FIELD_ERROR_VALUE_NOT_VALID", "Field 'title' is required")
    types = portal.t("crm_type")
    used = {t["entityTypeId"] for t in types.rows.values()}
    etid = as_int(f.get("entityTypeId"))
    if etid is not None and (etid < 128 or etid in used):
        raise ApiError(400, "CRM_FIELD_ERROR_VALUE_NOT_VALID", "Invalid entityTypeId")
    if etid is None:
        etid = 128
        while etid in used:
            etid += 2  # custom types start at 128 (fact sheet §6.1); the step is a sandbox choice
    now = portal.now_atom()
    row = {"title": str(f["title"]), "code": f.get("code") or "", "entityTypeId": etid, "createdBy": ctx.user_id,
           "createdTime": now, "updatedTime": now}
    for k in TYPE_FLAGS:
        row[k] = "Y" if str(f.get(k, "N")).upper() in ("Y", "1", "TRUE") else "N"
    # `relations: {parent: [{entityTypeId: 2, isChildrenListEnabled: "Y"}]}` links the type to deals: its items get
    # parentId2 (document-flows.md A.4 "relations (parent deal)", crm-type-add.md)
    rel = f.get("relations") if isinstance(f.get("relations"), dict) else {}
    row["parents"] = sorted({n for x in list_param(rel.get("parent")) if isinstance(x, dict)
                             and (n := as_int(x.get("entityTypeId"))) is not None})
    types.insert(row)
    add_category(portal, etid, "Воронка по умолчанию", 500, default=True)
    return {"type": type_out(row)}


@method("crm.type.list")
def type_list(portal, ctx, params):
    order = p(params, "order", {}) or {}
    for k in order:
        if k not in ("id", "title", "entityTypeId", "createdTime", "updatedTime", "code"):
            # observed: order by ID → error 100 "Unknown field definition `I_D`" [GH:leshchenko1979/fast_bitrix24#196]
            snake = re.sub(r"([A-Z])", r"_\1", str(k)).upper().lstrip("_")
            raise ApiError(400, 100, f"Unknown field definition `{snake}`")
    rows = [type_out(r) for r in portal.t("crm_type").rows.values()]
    flt = p(params, "filter", {}) or {}
    rows = [r for r in rows if all(str(r.get(k.lstrip("="))) == str(v) for k, v in flt.items())]
    for k, d in reversed(list(order.items())):
        rows.sort(key=lambda r: r.get(k) or 0, reverse=str(d).upper() == "DESC")
    start = max(0, query.parse_start(p(params, "start", 0)))
    nxt = start + 50 if start + 50 < len(rows) else None
    return Page({"types": rows[start:start + 50]}, len(rows), nxt)


@method("crm.type.get")
def type_get(portal, ctx, params):
    r = portal.t("crm_type").get(p(params, "id"))
    if r is None:
        raise _not_found_type()
    return {"type": type_out(r)}


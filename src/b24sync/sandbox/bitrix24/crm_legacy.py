"""Legacy ``crm.*`` methods (UPPER_CASE fields, numbers as strings): companies, contacts, deals, leads, user fields,
requisites, bank details, addresses, products, product rows, timeline comments, duplicates, statuses."""

from __future__ import annotations

import re
from typing import Any

from . import query, stagehistory
from .bootstrap import add_category, stage_entity_id
from .model import LEGACY, MULTI_VALUE_TYPES, UF_ENTITY, MEASURES, VAT_RATES, to_atom
from .portal import (COUNT_COST_PER_ROW, PAGE_COST, WRITE_COST, ApiError, Ctx, Page, as_int, fields_param, list_param,
                     method, not_found_legacy, p)

ENTITY_TITLE = {"company": "Company", "contact": "Contact", "deal": "Deal", "lead": "Lead"}
EVENT_CODE = {"company": "COMPANY", "contact": "CONTACT", "deal": "DEAL", "lead": "LEAD"}
READ_ONLY = {"ID", "DATE_CREATE", "DATE_MODIFY", "CREATED_BY_ID", "MODIFY_BY_ID", "HAS_PHONE", "HAS_EMAIL", "HAS_IMOL",
             "STAGE_SEMANTIC_ID", "STATUS_SEMANTIC_ID", "MOVED_BY_ID", "MOVED_TIME", "IS_NEW", "LEAD_ID",
             "LAST_COMMUNICATION_TIME"}
IMPORT_WRITABLE = {"DATE_CREATE", "DATE_MODIFY", "CREATED_BY_ID", "MODIFY_BY_ID"}  # params.IMPORT=Y [§6.2]


def norm_comm(type_id: str, value: Any) -> str:
    """Duplicate search key: phone digits without extension, e-mail lower-case [EN:crm-duplicate-find-by-comm.md]."""
    s = str(value or "").strip()
    if type_id == "PHONE":
        s = re.split(r"(?i)(?:доб|ext|#|,)", s)[0]
        d = re.sub(r"\D", "", s)
        if len(d) == 11 and d[0] == "8":
            d = "7" + d[1:]
        return d
    return s.lower()


# ---- schema ------------------------------------------------------------------------------------------------
def user_fields(portal, uf_entity: str) -> list[dict]:
    return [r for r in portal.t("userfield").rows.values() if r["ENTITY_ID"] == uf_entity]


def schema(portal, ent: str) -> dict[str, dict]:
    base = portal.legacy_fields.get(ent) or REQ_SCHEMAS[ent]
    out = dict(base)
    uf_ent = UF_ENTITY.get(ent)
    if uf_ent:
        for uf in user_fields(portal, uf_ent):
            label = uf.get("EDIT_FORM_LABEL") or uf["FIELD_NAME"]
            if isinstance(label, dict):
                label = label.get("ru") or label.get("en") or next(iter(label.values()), uf["FIELD_NAME"])
            out[uf["FIELD_NAME"]] = {"type": uf["USER_TYPE_ID"], "isRequired": uf.get("MANDATORY") == "Y",
                                     "isReadOnly": False, "isImmutable": False, "isMultiple": uf.get("MULTIPLE") == "Y",
                                     "isDynamic": True, "title": uf["FIELD_NAME"], "listLabel": label,
                                     "formLabel": label, "filterLabel": label, "settings": uf.get("SETTINGS") or {}}
            if uf["USER_TYPE_ID"] == "enumeration":  # crm.*.fields lists a list field's items
                out[uf["FIELD_NAME"]]["items"] = [{"ID": str(i["ID"]), "VALUE": i.get("VALUE")}
                                                  for i in uf.get("LIST") or []]
    return out


def types_of(sch: dict[str, dict]) -> dict[str, str]:
    return {k: ("string" if v["type"] == "crm_multifield" else v["type"]) for k, v in sch.items()}


def fmt_value(ftype: str, v: Any, multiple: bool = False) -> Any:
    """Legacy methods return numbers as strings and Y/N chars [fact sheet §2.2, EN:crm-deal-list.md]."""
    if multiple:
        vals = v if isinstance(v, list) else ([] if v in (None, "") else [v])
        return [fmt_value(ftype, x) for x in vals]
    if v is None:
        return None
    if ftype == "double":
        try:
            return f"{float(v):.2f}"
        except (TypeError, ValueError):
            return str(v)
    if ftype == "boolean":
        return "1" if v in (1, "1", True, "Y", "y") else "0"
    if ftype == "file" or ftype == "crm_multifield":
        return v
    if isinstance(v, bool):
        return "Y" if v else "N"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v) if not isinstance(v, (list, dict)) else v


def out_row(portal, ent: str, row: dict, select: list[str] | None = None, sch: dict | None = None) -> dict:
    sch = sch or schema(portal, ent)
    if select is None:
        names = list(sch)
    else:
        names = select_names(sch, select)
    res: dict[str, Any] = {}
    for name in names:
        f = sch.get(name)
        if f is None:
            continue
        if f["type"] == "crm_multifield":
            vals = row.get(name) or []
            if select is not None or vals:
                res[name] = [{"ID": str(m["ID"]), "VALUE_TYPE": m["VALUE_TYPE"], "VALUE": m["VALUE"],
                              "TYPE_ID": m["TYPE_ID"]} for m in vals]
            continue
        res[name] = fmt_value(f["type"], row.get(name), f.get("isMultiple") and f.get("isDynamic", False))
    if "ID" not in res:  # ID is returned although not selected [§9.2, EN:crm-company-list.md]
        res["ID"] = str(row["ID"])
    return res


def select_names(sch: dict[str, dict], select: list[str]) -> list[str]:
    """'*' = standard fields without user and multi-fields, 'UF_*' = non-multiple user fields, multi-fields only by
    name; default ['*', 'UF_*'] [fact sheet §5, EN:api-reference/crm/companies/crm-company-list.md]."""
    sel = [str(s) for s in select] or ["*", "UF_*"]
    names: list[str] = []
    for s in sel:
        su = s.upper()
        if su == "*":
            names += [k for k, f in sch.items() if not k.startswith("UF_") and f["type"] != "crm_multifield"]
        elif su == "UF_*":
            names += [k for k, f in sch.items() if k.startswith("UF_") and not f.get("isMultiple")]
        elif su in sch:
            names.append(su)
    seen: set[str] = set()
    return [n for n in names if not (n in seen or seen.add(n))]


# ---- writes ------------------------------------------------------------------------------------------------
def apply_multifield(portal, row: dict, name: str, value: Any, is_add: bool) -> None:
    """Legacy multi-field semantics [fact sheet §6.3, EN:api-reference/crm/contacts/crm-contact-update.md]:
    element with ID + VALUE → overwrite; with ID and DELETE=Y or empty VALUE (or only ID) → delete; without ID → add;
    entries not mentioned stay."""
    items = list_param(value)
    cur = list(row.get(name) or []) if not is_add else []
    for it in items:
        if not isinstance(it, dict):
            continue
        it = {str(k).upper(): v for k, v in it.items()}
        mid = as_int(it.get("ID"))
        vt = str(it.get("VALUE_TYPE") or "").upper()
        if mid and not is_add:
            existing = next((m for m in cur if m["ID"] == mid), None)
            if existing is None:
                continue
            if str(it.get("DELETE", "")).upper() == "Y" or not str(it.get("VALUE") or "").strip():
                cur.remove(existing)
            else:
                existing["VALUE"] = str(it["VALUE"])
                if vt:
                    existing["VALUE_TYPE"] = vt
            continue
        val = str(it.get("VALUE") or "").strip()
        if not val:
            continue
        if name == "EMAIL" and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", val):
            # validation failure → ERROR_CORE [fact sheet §2.3, EN:api-reference/crm/companies/crm-company-add.md]
            raise ApiError(400, "ERROR_CORE", f"Invalid e-mail address: {val}")
        if vt not in MULTI_VALUE_TYPES[name]:
            vt = MULTI_VALUE_TYPES[name][0]
        cur.append({"ID": portal.next_mf_id(), "VALUE_TYPE": vt, "VALUE": val, "TYPE_ID": name})
    row[name] = cur


BASE_CURRENCY = "RUB"  # the sandbox portal's base currency (crm.currency.base.get on a Russian portal)
_MONEY = re.compile(r"^\s*(-?\d+(?:[.,]\d+)?)\s*(?:\|\s*([A-Za-z]{3})?\s*)?$")


def money_in(v: Any) -> str:
    """A money user field is stored and returned as ``amount|CUR`` (``300|RUB``, sheet §"Value formats"). Written
    with a currency it keeps it; written as a bare number it gets the base currency — what a real portal does with
    a bare number is not documented (⚠ uncertain): the connector never relies on it, it always writes the pair.
    A value that is not a number is refused as the portal's field check does (400)."""
    m = _MONEY.match(str(v))
    if m is None:
        raise ApiError(400, "ERROR_CORE", f"Значение поля типа «Деньги» должно быть числом: {v}")
    from decimal import ROUND_HALF_UP, Decimal

    amount = Decimal(m.group(1).replace(",", ".")).quantize(Decimal("0.01"), ROUND_HALF_UP)  # PHP round()
    return f"{amount}|{(m.group(2) or BASE_CURRENCY).upper()}"


def coerce_in(portal, ftype: str, v: Any, multiple: bool = False) -> Any:
    if multiple:
        return [coerce_in(portal, ftype, x) for x in list_param(v)]
    if v is None or v == "":
        return None if ftype not in ("string", "char") else v
    if ftype == "money":
        return money_in(v)
    if ftype in ("integer", "user", "crm_company", "crm_contact", "crm_lead", "crm_quote", "crm_category",
                 "enumeration", "employee", "crm_entity"):
        iv = as_int(v)
        return iv if iv is not None else None
    if ftype == "double":
        try:
            return float(v)
        except (TypeError, ValueError):
            return None
    if ftype in ("datetime", "date"):
        return to_atom(v)
    if ftype == "file":
        data = v.get("fileData") if isinstance(v, dict) else v
        data = list_param(data)
        if len(data) >= 2:
            return portal.store_file(str(data[0]), str(data[1]))
        return None
    if ftype == "boolean":
        return 1 if v in (1, "1", True, "Y", "y", "true") else 0
    if ftype == "char":
        return "Y" if str(v).upper() in ("Y", "1", "TRUE") else "N"
    return str(v) if not isinstance(v, (dict, list)) else v


def apply_fields(portal, ctx: Ctx, ent: str, row: dict, fields: dict, is_add: bool, params: dict) -> None:
    sch = schema(portal, ent)
    imp = str(p(p(params, "params", {}) or {}, "IMPORT", "N")).upper() == "Y" and is_add
    for k, v in fields.items():
        name = str(k).upper()
        f = sch.get(name)
        if f is None:
            if name.startswith("PARENT_ID_"):
                row[name] = as_int(v)
            continue  # unknown fields are silently ignored [fact sheet §6.2]
        if name in READ_ONLY and not (imp and name in IMPORT_WRITABLE):
            continue
        if f.get("isReadOnly") and not f.get("isDynamic") and not (imp and name in IMPORT_WRITABLE):
            continue
        if f["type"] == "crm_multifield":
            apply_multifield(portal, row, name, v, is_add)
            continue
        if ent == "deal" and name == "CATEGORY_ID" and not is_add:
            continue  # immutable in legacy methods [fact sheet §6.4, EN:crm-deal-fields.md]
        if f["type"] == "file":
            row[name] = portal.file_value(row.get(name), v)
            continue
        row[name] = coerce_in(portal, f["type"], v, bool(f.get("isMultiple")) and f.get("isDynamic", False)
                              or name in ("CONTACT_IDS", "COMPANY_IDS"))
    if "PHONE" in sch:
        row["HAS_PHONE"] = "Y" if row.get("PHONE") else "N"
        row["HAS_EMAIL"] = "Y" if row.get("EMAIL") else "N"
        row.setdefault("HAS_IMOL", "N")


def stage_semantics(portal, entity_id: str, status_id: str) -> str:
    for r in portal.t("status").rows.values():
        if r["ENTITY_ID"] == entity_id and r["STATUS_ID"] == status_id:
            return r["SEMANTICS"] or "P"
    return "P"


def first_stage(portal, entity_id: str) -> str | None:
    rows = sorted((r for r in portal.t("status").rows.values() if r["ENTITY_ID"] == entity_id), key=lambda r: r["SORT"])
    return rows[0]["STATUS_ID"] if rows else None


def finish_deal(portal, row: dict, is_add: bool) -> None:
    cat = row.get("CATEGORY_ID") or 0
    if cat and portal.t("category").get(cat) is None:
        raise ApiError(400, "", "Category not found")
    row["CATEGORY_ID"] = cat
    ent = stage_entity_id(2, cat)
    if not row.get("STAGE_ID") or stage_semantics(portal, ent, row["STAGE_ID"]) is None:
        row["STAGE_ID"] = row.get("STAGE_ID") or first_stage(portal, ent)
    sem = stage_semantics(portal, ent, row["STAGE_ID"])
    row["STAGE_SEMANTIC_ID"] = sem
    row["CLOSED"] = "Y" if sem in ("S", "F") else "N"
    row.setdefault("OPPORTUNITY", 0.0)
    row.setdefault("CURRENCY_ID", "RUB")
    row.setdefault("IS_MANUAL_OPPORTUNITY", "N")
    row.setdefault("TYPE_ID", "SALE")
    row.setdefault("PROBABILITY", None)
    row.setdefault("IS_NEW", "Y" if is_add else "N")
    for k in ("IS_RECURRING", "IS_RETURN_CUSTOMER", "IS_REPEATED_APPROACH"):
        row.setdefault(k, "N")


def create_legacy(portal, ctx: Ctx, ent: str, fields: dict, params: dict, emit: bool = True) -> int:
    now = portal.now_atom()
    row: dict[str, Any] = {"DATE_CREATE": now, "DATE_MODIFY": now, "CREATED_BY_ID": ctx.user_id,
                           "MODIFY_BY_ID": ctx.user_id, "ASSIGNED_BY_ID": ctx.user_id, "OPENED": "Y"}
    apply_fields(portal, ctx, ent, row, fields, True, params)
    if ent == "company":
        row.setdefault("COMPANY_TYPE", "CUSTOMER")
        row.setdefault("CURRENCY_ID", "RUB")
        row.setdefault("IS_MY_COMPANY", "N")
        if not str(row.get("TITLE") or "").strip():
            # TITLE isRequired [crm.company.fields in method spec]; message text is not documented (sandbox wording)
            raise ApiError(400, "ERROR_CORE", "Required fields are not filled: TITLE")
    elif ent == "deal":
        finish_deal(portal, row, True)
    elif ent == "lead":
        row.setdefault("STATUS_ID", "NEW")
        row["STATUS_SEMANTIC_ID"] = stage_semantics(portal, "STATUS", row["STATUS_ID"])
        row.setdefault("TITLE", "Лид #")
    elif ent == "contact":
        row.setdefault("TYPE_ID", "CLIENT")
        row.setdefault("EXPORT", "Y")
    rid = portal.t(ent).insert(row)
    if ent == "lead" and row["TITLE"] == "Лид #":
        row["TITLE"] = f"Лид #{rid}"
    if ent == "contact" and row.get("COMPANY_ID") and not row.get("COMPANY_IDS"):
        row["COMPANY_IDS"] = [row["COMPANY_ID"]]
    if ent == "deal" and row.get("CONTACT_IDS"):
        row["CONTACT_ID"] = row["CONTACT_IDS"][0]
    portal.t(ent).save(row)
    portal.index_multifields(ent, row)
    if ent in ("deal", "lead"):
        stagehistory.record(portal, 2 if ent == "deal" else 1, rid, row.get("STAGE_ID") or row.get("STATUS_ID"),
                            row.get("STAGE_SEMANTIC_ID") or row.get("STATUS_SEMANTIC_ID"), row.get("CATEGORY_ID"),
                            created=True)
    if emit:
        portal.events.emit(f"ONCRM{EVENT_CODE[ent]}ADD", {"ID": str(rid)}, ctx.connector)
    return rid


def update_legacy(portal, ctx: Ctx, ent: str, row: dict, fields: dict, params: dict) -> None:
    portal.index_multifields(ent, row, remove=True)
    old_stage = row.get("STAGE_ID") or row.get("STATUS_ID")
    apply_fields(portal, ctx, ent, row, fields, False, params)
    if ent == "deal":
        finish_deal(portal, row, False)
        if row.get("CONTACT_IDS") is not None:  # CONTACT_IDS replaces the list [EN:crm-deal-update.md]
            row["CONTACT_ID"] = row["CONTACT_IDS"][0] if row["CONTACT_IDS"] else None
    if ent == "lead":
        row["STATUS_SEMANTIC_ID"] = stage_semantics(portal, "STATUS", row.get("STATUS_ID") or "NEW")
    if (row.get("STAGE_ID") or row.get("STATUS_ID")) != old_stage:
        row["MOVED_BY_ID"], row["MOVED_TIME"] = ctx.user_id, portal.now_atom()
        if ent in ("deal", "lead"):
            stagehistory.record(portal, 2 if ent == "deal" else 1, row["ID"], row.get("STAGE_ID") or row.get("STATUS_ID"),
                                row.get("STAGE_SEMANTIC_ID") or row.get("STATUS_SEMANTIC_ID"), row.get("CATEGORY_ID"))
    row["DATE_MODIFY"], row["MODIFY_BY_ID"] = portal.now_atom(), ctx.user_id
    portal.t(ent).save(row)
    portal.index_multifields(ent, row)
    portal.events.emit(f"ONCRM{EVENT_CODE[ent]}UPDATE", {"ID": str(row["ID"])}, ctx.connector)


def delete_legacy(portal, ctx: Ctx, ent: str, rid: int) -> None:
    row = portal.t(ent).delete(rid)
    portal.index_multifields(ent, row, remove=True)
    if ent in ("company", "contact"):  # requisites (and their bank details/addresses) go with the owner
        etid = LEGACY[ent]
        for rq in [r for r in portal.t("requisite").rows.values() if r["ENTITY_TYPE_ID"] == etid and r["ENTITY_ID"] == rid]:
            delete_requisite(portal, ctx, rq["ID"])
    if ent == "deal":
        for pr in [r for r in portal.t("productrow").rows.values() if r["OWNER_TYPE"] == "D" and r["OWNER_ID"] == rid]:
            portal.t("productrow").delete(pr["ID"])
    portal.events.emit(f"ONCRM{EVENT_CODE[ent]}DELETE", {"ID": str(rid)}, ctx.connector)


def list_cost(ctx: Ctx, table_len: int, start: int) -> None:
    """Operating-time cost of one list page (docs/sandbox-bitrix24.md "Cost model"): a counted page pays for
    COUNT over the table, start=-1 a small constant [fact sheet §5, EN:settings/performance/huge-data.md]."""
    ctx.cost = PAGE_COST + (COUNT_COST_PER_ROW * table_len if start >= 0 else 0.0)


def legacy_list(portal, ctx: Ctx, ent: str, params: dict, table: str | None = None, strict: bool = False,
                extra=None) -> Page:
    tbl = portal.t(table or ent)
    sch = schema(portal, ent)
    types = types_of(sch)
    resolve = lambda n: n.upper() if n.upper() in sch else None  # noqa: E731
    start = query.parse_start(p(params, "start", 0))
    try:
        conds = query.build_conditions(p(params, "filter", {}) or {}, types, strict, resolve)
        order = query.parse_order(p(params, "order", {}) or {}, resolve, strict)
    except query.FilterError as exc:
        raise ApiError(400, "INVALID_ARG_VALUE", f"Invalid filter: field '{exc.field}' is not allowed in filter")
    select = [str(s) for s in list_param(p(params, "select", []))]
    rows, nxt, total = query.page(tbl, conds, order, start, "ID", lambda r, f: r.get(f), types, extra)
    list_cost(ctx, len(tbl), start)
    sel = select if select else None
    return Page([out_row(portal, ent, r, sel if sel is not None else ["*", "UF_*"], sch) for r in rows],
                total, nxt)


def _register_entity(ent: str) -> None:
    title = ENTITY_TITLE[ent]

    @method(f"crm.{ent}.add")
    def add(portal, ctx, params):
        fields = fields_param(params)
        ctx.cost = WRITE_COST
        return create_legacy(portal, ctx, ent, fields, params)

    @method(f"crm.{ent}.update")
    def update(portal, ctx, params):
        rid = as_int(p(params, "id"))
        if not rid or rid <= 0:
            raise ApiError(400, "", "ID is not defined or invalid.")
        row = portal.t(ent).get(rid)
        if row is None:
            raise not_found_legacy(f"{title} is not found")  # [§9.4, EN:crm-company-update.md]
        fields = fields_param(params)
        ctx.cost = WRITE_COST
        update_legacy(portal, ctx, ent, row, fields, params)
        return True

    @method(f"crm.{ent}.get")
    def get(portal, ctx, params):
        rid = as_int(p(params, "id"))
        if not rid or rid <= 0:
            raise ApiError(400, "", "ID is not defined or invalid.")
        row = portal.t(ent).get(rid)
        if row is None:
            raise not_found_legacy("Not found")  # [§9.4, EN:crm-company-get.md]
        sch = schema(portal, ent)
        return out_row(portal, ent, row, list(sch), sch)

    @method(f"crm.{ent}.delete")
    def delete(portal, ctx, params):
        rid = as_int(p(params, "id"))
        if not rid or rid <= 0:
            raise ApiError(400, "", "ID is not defined or invalid.")  # [EN:crm-deal-delete.md]
        if portal.t(ent).get(rid) is None:
            raise not_found_legacy("Not found")
        ctx.cost = WRITE_COST
        delete_legacy(portal, ctx, ent, rid)
        return True

    @method(f"crm.{ent}.list")
    def lst(portal, ctx, params):
        return legacy_list(portal, ctx, ent, params)

    @method(f"crm.{ent}.fields")
    def fields(portal, ctx, params):
        return schema(portal, ent)

    # user fields [fact sheet §6.6, EN:api-reference/crm/deals/user-defined-fields/crm-deal-userfield-add.md]
    _register_userfields(ent)


def _register_userfields(ent: str) -> None:
    uf_entity = UF_ENTITY[ent]

    @method(f"crm.{ent}.userfield.add")
    def uf_add(portal, ctx, params):
        f = {str(k).upper(): v for k, v in fields_param(params).items()}
        name = str(f.get("FIELD_NAME") or "").upper()
        utype = str(f.get("USER_TYPE_ID") or "")
        if not name or not utype:
            raise ApiError(400, "ERROR_CORE", "FIELD_NAME and USER_TYPE_ID are required")
        if name.startswith("UF_CRM_"):
            pass
        elif name.startswith("UF_"):
            name = "UF_CRM_" + name[3:]
        else:
            name = "UF_CRM_" + name
        if len(name) > 50 or not re.match(r"^UF_CRM_[A-Z0-9_]+$", name):  # ≤50 chars, A-Z0-9_ [§3.4]
            raise ApiError(400, "ERROR_CORE", "Invalid field name")
        if any(u["FIELD_NAME"] == name for u in user_fields(portal, uf_entity)):
            raise ApiError(400, "ERROR_CORE", f"Field {name} already exists")
        row = {"ENTITY_ID": uf_entity, "FIELD_NAME": name, "USER_TYPE_ID": utype, "XML_ID": f.get("XML_ID"),
               "SORT": str(f.get("SORT", 100)), "MULTIPLE": str(f.get("MULTIPLE", "N")).upper()[:1] if str(f.get("MULTIPLE", "N")).upper() in ("Y", "N") else "N",
               "MANDATORY": "Y" if str(f.get("MANDATORY", "N")).upper() == "Y" else "N",
               "SHOW_FILTER": f.get("SHOW_FILTER", "N"), "SHOW_IN_LIST": f.get("SHOW_IN_LIST", "Y"),
               "EDIT_IN_LIST": f.get("EDIT_IN_LIST", "Y"), "IS_SEARCHABLE": f.get("IS_SEARCHABLE", "N"),
               "SETTINGS": f.get("SETTINGS") or {}, "EDIT_FORM_LABEL": f.get("EDIT_FORM_LABEL") or f.get("LABEL"),
               "LIST_COLUMN_LABEL": f.get("LIST_COLUMN_LABEL") or f.get("LABEL"),
               "LIST_FILTER_LABEL": f.get("LIST_FILTER_LABEL") or f.get("LABEL")}
        if utype == "enumeration":
            items = []
            for i, it in enumerate(list_param(f.get("LIST"))):
                if isinstance(it, dict):
                    items.append({"ID": str(portal.next_mf_id()), "VALUE": it.get("VALUE"), "DEF": it.get("DEF", "N"),
                                  "SORT": str(it.get("SORT", (i + 1) * 10)), "XML_ID": it.get("XML_ID")})
            row["LIST"] = items
        rid = portal.t("userfield").insert(row)
        portal.events.emit(f"ONCRM{ent.upper()}USERFIELDADD", {"ID": str(rid)}, ctx.connector)
        return rid

    def uf_public(r: dict) -> dict:
        out = {k: (str(v) if k == "ID" else v) for k, v in r.items()}
        return out

    @method(f"crm.{ent}.userfield.list")
    def uf_list(portal, ctx, params):
        flt = {str(k).upper(): v for k, v in (p(params, "filter", {}) or {}).items()}
        rows = [uf_public(r) for r in user_fields(portal, uf_entity)
                if all(str(r.get(k)) == str(v) for k, v in flt.items() if k in r)]
        return Page(rows, len(rows))

    @method(f"crm.{ent}.userfield.get")
    def uf_get(portal, ctx, params):
        r = portal.t("userfield").get(p(params, "id"))
        if r is None or r["ENTITY_ID"] != uf_entity:
            raise not_found_legacy("The entity with ID '%s' is not found." % p(params, "id"))
        return uf_public(r)

    @method(f"crm.{ent}.userfield.update")
    def uf_update(portal, ctx, params):
        r = portal.t("userfield").get(p(params, "id"))
        if r is None or r["ENTITY_ID"] != uf_entity:
            raise not_found_legacy("The entity with ID '%s' is not found." % p(params, "id"))
        for k, v in fields_param(params).items():
            if str(k).upper() == "LIST" and r.get("USER_TYPE_ID") == "enumeration":
                r["LIST"] = _update_list(portal, r.get("LIST") or [], v)
            elif str(k).upper() not in ("FIELD_NAME", "USER_TYPE_ID", "ENTITY_ID", "ID", "MULTIPLE"):
                r[str(k).upper()] = v
        portal.t("userfield").save(r)
        return True

    @method(f"crm.{ent}.userfield.delete")
    def uf_delete(portal, ctx, params):
        r = portal.t("userfield").get(p(params, "id"))
        if r is None or r["ENTITY_ID"] != uf_entity:
            raise not_found_legacy("The entity with ID '%s' is not found." % p(params, "id"))
        portal.t("userfield").delete(r["ID"])
        return True


def _update_list(portal, items: list[dict], given: Any) -> list[dict]:
    """A list field's items on update (bitrix24-rest.md §6.6, data-types.md#uf_enum_element): an item with its ``ID``
    is changed (``DEL: Y`` deletes it), one without is added with a new id. Items not named are kept (the sheet does
    not say; CUserFieldEnum::SetEnumValues keeps them — the sandbox assumes that reading)."""
    out = [dict(i) for i in items]
    for it in list_param(given):
        if not isinstance(it, dict):
            continue
        iid = str(it.get("ID") or "")
        hit = next((x for x in out if iid and str(x["ID"]) == iid), None)
        if hit is not None and str(it.get("DEL", "N")).upper() == "Y":
            out.remove(hit)
        elif hit is not None:
            hit.update({k: it[k] for k in ("VALUE", "DEF", "SORT", "XML_ID") if k in it})
        elif not iid:
            out.append({"ID": str(portal.next_mf_id()), "VALUE": it.get("VALUE"), "DEF": it.get("DEF", "N"),
                        "SORT": str(it.get("SORT", (len(out) + 1) * 10)), "XML_ID": it.get("XML_ID")})
    return out


for _ent in ("company", "contact", "deal", "lead"):
    _register_entity(_ent)
UF_ENTITY_REQ = "requisite"


# ---- requisites, bank details, addresses [fact sheet §6.5] ---------------------------------------------------
def _f(typ: str, title: str, required: bool = False, ro: bool = False) -> dict:
    return {"type": typ, "isRequired": required, "isReadOnly": ro, "isImmutable": False, "isMultiple": False,
            "isDynamic": False, "title": title}


_RQ_STR = ["CODE", "XML_ID", "ORIGINATOR_ID", "RQ_NAME", "RQ_FIRST_NAME", "RQ_LAST_NAME", "RQ_SECOND_NAME",
           "RQ_COMPANY_NAME", "RQ_COMPANY_FULL_NAME", "RQ_COMPANY_REG_DATE", "RQ_DIRECTOR", "RQ_ACCOUNTANT",
           "RQ_CEO_NAME", "RQ_CEO_WORK_POS", "RQ_CONTACT", "RQ_EMAIL", "RQ_PHONE", "RQ_FAX", "RQ_IDENT_DOC",
           "RQ_IDENT_DOC_SER", "RQ_IDENT_DOC_NUM", "RQ_IDENT_DOC_DATE", "RQ_IDENT_DOC_ISSUED_BY",
           "RQ_IDENT_DOC_DEP_CODE", "RQ_INN", "RQ_KPP", "RQ_IFNS", "RQ_OGRN", "RQ_OGRNIP", "RQ_OKPO", "RQ_OKTMO",
           "RQ_OKVED", "RQ_VAT_ID", "RQ_ST_CERT_SER", "RQ_ST_CERT_NUM", "RQ_ST_CERT_DATE", "RQ_BASE_DOC"]
REQ_SCHEMAS: dict[str, dict[str, dict]] = {
    "requisite": {"ID": _f("integer", "ID", ro=True), "ENTITY_TYPE_ID": _f("integer", "Тип родительской сущности", True),
                  "ENTITY_ID": _f("integer", "ID родительской сущности", True),
                  "PRESET_ID": _f("integer", "Шаблон реквизита", True), "DATE_CREATE": _f("datetime", "Дата создания", ro=True),
                  "DATE_MODIFY": _f("datetime", "Дата изменения", ro=True), "CREATED_BY_ID": _f("user", "Кем создан", ro=True),
                  "MODIFY_BY_ID": _f("user", "Кем изменен", ro=True), "NAME": _f("string", "Название", True),
                  "ACTIVE": _f("char", "Активен"), "ADDRESS_ONLY": _f("char", "Только адрес"), "SORT": _f("integer", "Сортировка"),
                  **{k: _f("string", k) for k in _RQ_STR}, "RQ_VAT_PAYER": _f("char", "Плательщик НДС"),
                  "RQ_IDENT_TYPE": _f("crm_status", "Тип идентификации")},
    "bankdetail": {"ID": _f("integer", "ID", ro=True), "ENTITY_ID": _f("integer", "ID реквизита", True),
                   "COUNTRY_ID": _f("integer", "Страна"), "DATE_CREATE": _f("datetime", "Дата создания", ro=True),
                   "DATE_MODIFY": _f("datetime", "Дата изменения", ro=True), "CREATED_BY_ID": _f("user", "Кем создан", ro=True),
                   "MODIFY_BY_ID": _f("user", "Кем изменен", ro=True), "NAME": _f("string", "Название", True),
                   "CODE": _f("string", "Код"), "XML_ID": _f("string", "Внешний ключ"), "ACTIVE": _f("char", "Активен"),
                   "SORT": _f("integer", "Сортировка"), "ORIGINATOR_ID": _f("string", "Внешний источник"),
                   "COMMENTS": _f("string", "Комментарий"),
                   **{k: _f("string", k) for k in ("RQ_BANK_NAME", "RQ_BANK_ADDR", "RQ_BANK_ROUTE_NUM", "RQ_BIK",
                                                   "RQ_MFO", "RQ_ACC_NAME", "RQ_ACC_NUM", "RQ_IIK", "RQ_ACC_CURRENCY",
                                                   "RQ_COR_ACC_NUM", "RQ_IBAN", "RQ_SWIFT", "RQ_BIC")}},
    "address": {"TYPE_ID": _f("integer", "Тип адреса", True), "ENTITY_TYPE_ID": _f("integer", "Тип сущности", True),
                "ENTITY_ID": _f("integer", "ID сущности", True), "ADDRESS_1": _f("string", "Улица, дом, корпус, строение"),
                "ADDRESS_2": _f("string", "Квартира / офис"), "CITY": _f("string", "Город"),
                "POSTAL_CODE": _f("string", "Почтовый индекс"), "REGION": _f("string", "Район"),
                "PROVINCE": _f("string", "Область"), "COUNTRY": _f("string", "Страна"),
                "COUNTRY_CODE": _f("string", "Код страны"), "LOC_ADDR_ID": _f("integer", "ID адреса местоположения"),
                "ANCHOR_TYPE_ID": _f("integer", "Тип основной сущности", ro=True),
                "ANCHOR_ID": _f("integer", "ID основной сущности", ro=True)},
}


def simple_out(portal, ent: str, row: dict, select: list[str] | None = None) -> dict:
    sch = schema(portal, ent)
    names = list(sch) if not select else [s.upper() for s in select if s.upper() in sch] or list(sch)
    if select and any(s in ("*",) for s in select):
        names = list(sch)
    return {n: fmt_value(sch[n]["type"], row.get(n)) for n in names}


def _write_simple(portal, ctx, ent: str, row: dict, fields: dict) -> None:
    sch = schema(portal, ent)
    for k, v in fields.items():
        name = str(k).upper()
        f = sch.get(name)
        if f is None or f.get("isReadOnly"):
            continue
        row[name] = coerce_in(portal, f["type"], v)


def delete_requisite(portal, ctx, rid: int) -> None:
    portal.t("requisite").delete(rid)
    for bd in [r for r in portal.t("bankdetail").rows.values() if r["ENTITY_ID"] == rid]:
        portal.t("bankdetail").delete(bd["ID"])
    for ad in [r for r in portal.t("address").rows.values() if r["ENTITY_TYPE_ID"] == 8 and r["ENTITY_ID"] == rid]:
        portal.t("address").delete(ad["ID"])
    portal.events.emit("ONCRMREQUISITEDELETE", {"ID": str(rid)}, ctx.connector)


@method("crm.requisite.add")
def requisite_add(portal, ctx, params):
    f = {str(k).upper(): v for k, v in fields_param(params).items()}
    # validation order and texts [§9.6, §6.5, EN:api-reference/crm/requisites/universal/crm-requisite-add.md]
    etid = as_int(f.get("ENTITY_TYPE_ID"))
    if etid not in (3, 4):
        raise ApiError(400, "", "ENTITY_TYPE_ID is not defined or invalid.")
    eid = as_int(f.get("ENTITY_ID"))
    if not eid or eid <= 0:
        raise ApiError(400, "", "ENTITY_ID is not defined or invalid.")
    pid = as_int(f.get("PRESET_ID"))
    if not pid or portal.t("requisite_preset").get(pid) is None:
        raise ApiError(400, "", "PRESET_ID is not defined or invalid.")
    if portal.t("contact" if etid == 3 else "company").get(eid) is None:
        raise ApiError(400, "", "Entity not found.")
    now = portal.now_atom()
    row = {"DATE_CREATE": now, "DATE_MODIFY": now, "CREATED_BY_ID": ctx.user_id, "MODIFY_BY_ID": ctx.user_id,
           "ACTIVE": "Y", "ADDRESS_ONLY": "N", "SORT": 500}
    _write_simple(portal, ctx, "requisite", row, f)
    row["ENTITY_TYPE_ID"], row["ENTITY_ID"], row["PRESET_ID"] = etid, eid, pid
    ctx.cost = WRITE_COST
    rid = portal.t("requisite").insert(row)
    portal.events.emit("ONCRMREQUISITEADD", {"ID": str(rid)}, ctx.connector)
    return rid


@method("crm.requisite.update")
def requisite_update(portal, ctx, params):
    row = portal.t("requisite").get(p(params, "id"))
    if row is None:
        raise not_found_legacy("The Requisite with ID '%s' is not found" % p(params, "id"))
    f = fields_param(params)
    _write_simple(portal, ctx, "requisite", row, {k: v for k, v in f.items()
                                                 if str(k).upper() not in ("ENTITY_TYPE_ID", "ENTITY_ID")})
    row["DATE_MODIFY"], row["MODIFY_BY_ID"] = portal.now_atom(), ctx.user_id
    portal.t("requisite").save(row)
    portal.events.emit("ONCRMREQUISITEUPDATE", {"ID": str(row["ID"])}, ctx.connector)
    return True


@method("crm.requisite.get")
def requisite_get(portal, ctx, params):
    row = portal.t("requisite").get(p(params, "id"))
    if row is None:
        raise not_found_legacy("The Requisite with ID '%s' is not found" % p(params, "id"))
    return simple_out(portal, "requisite", row)


@method("crm.requisite.delete")
def requisite_delete(portal, ctx, params):
    row = portal.t("requisite").get(p(params, "id"))
    if row is None:
        raise not_found_legacy("The Requisite with ID '%s' is not found" % p(params, "id"))
    delete_requisite(portal, ctx, row["ID"])  # also deletes related objects [EN:api-reference/crm/requisites/index.md]
    return True


def _simple_list(portal, ctx, ent: str, params: dict) -> Page:
    tbl = portal.t(ent)
    sch = schema(portal, ent)
    types = types_of(sch)
    resolve = lambda n: n.upper() if n.upper() in sch else None  # noqa: E731
    start = query.parse_start(p(params, "start", 0))
    conds = query.build_conditions(p(params, "filter", {}) or {}, types, False, resolve)
    order = query.parse_order(p(params, "order", {}) or {}, resolve)
    rows, nxt, total = query.page(tbl, conds, order, start, "ID", lambda r, f: r.get(f), types)
    list_cost(ctx, len(tbl), start)
    select = [str(s) for s in list_param(p(params, "select", []))]
    out = []
    for r in rows:
        o = simple_out(portal, ent, r, select or None)
        if ent == "address":
            o.pop("ID", None)
        out.append(o)
    return Page(out, total, nxt)


@method("crm.requisite.list")
def requisite_list(portal, ctx, params):
    return _simple_list(portal, ctx, "requisite", params)


@method("crm.requisite.fields")
def requisite_fields(portal, ctx, params):
    return schema(portal, "requisite")


@method("crm.requisite.preset.list")
def preset_list(portal, ctx, params):
    rows = [{k: (str(v) if k == "ID" else v) for k, v in r.items()} for r in portal.t("requisite_preset").rows.values()]
    return Page(rows, len(rows))


_register_userfields("requisite")


@method("crm.requisite.bankdetail.add")
def bank_add(portal, ctx, params):
    f = {str(k).upper(): v for k, v in fields_param(params).items()}
    if portal.t("requisite").get(f.get("ENTITY_ID")) is None:
        raise ApiError(400, "", "ENTITY_ID is not defined or invalid.")
    if not str(f.get("NAME") or "").strip():
        raise ApiError(400, "", "NAME is not defined or invalid.")
    now = portal.now_atom()
    row = {"DATE_CREATE": now, "DATE_MODIFY": now, "CREATED_BY_ID": ctx.user_id, "MODIFY_BY_ID": ctx.user_id,
           "ACTIVE": "Y", "SORT": 500, "COUNTRY_ID": 1}
    _write_simple(portal, ctx, "bankdetail", row, f)
    rid = portal.t("bankdetail").insert(row)
    portal.events.emit("ONCRMBANKDETAILADD", {"ID": str(rid)}, ctx.connector)
    return rid


@method("crm.requisite.bankdetail.update")
def bank_update(portal, ctx, params):
    row = portal.t("bankdetail").get(p(params, "id"))
    if row is None:
        raise not_found_legacy("The BankDetail with ID '%s' is not found" % p(params, "id"))
    _write_simple(portal, ctx, "bankdetail", row, {k: v for k, v in fields_param(params).items()
                                                  if str(k).upper() != "ENTITY_ID"})
    row["DATE_MODIFY"], row["MODIFY_BY_ID"] = portal.now_atom(), ctx.user_id
    portal.t("bankdetail").save(row)
    portal.events.emit("ONCRMBANKDETAILUPDATE", {"ID": str(row["ID"])}, ctx.connector)
    return True


@method("crm.requisite.bankdetail.get")
def bank_get(portal, ctx, params):
    row = portal.t("bankdetail").get(p(params, "id"))
    if row is None:
        raise not_found_legacy("The BankDetail with ID '%s' is not found" % p(params, "id"))
    return simple_out(portal, "bankdetail", row)


@method("crm.requisite.bankdetail.delete")
def bank_delete(portal, ctx, params):
    row = portal.t("bankdetail").get(p(params, "id"))
    if row is None:
        raise not_found_legacy("The BankDetail with ID '%s' is not found" % p(params, "id"))
    portal.t("bankdetail").delete(row["ID"])
    portal.events.emit("ONCRMBANKDETAILDELETE", {"ID": str(row["ID"])}, ctx.connector)
    return True


@method("crm.requisite.bankdetail.list")
def bank_list(portal, ctx, params):
    return _simple_list(portal, ctx, "bankdetail", params)


@method("crm.requisite.bankdetail.fields")
def bank_fields(portal, ctx, params):
    return schema(portal, "bankdetail")


def _address_key(f: dict) -> tuple[int | None, int | None, int | None]:
    return as_int(f.get("TYPE_ID")), as_int(f.get("ENTITY_TYPE_ID")), as_int(f.get("ENTITY_ID"))


def _find_address(portal, key) -> dict | None:
    for r in portal.t("address").rows.values():
        if (r["TYPE_ID"], r["ENTITY_TYPE_ID"], r["ENTITY_ID"]) == key:
            return r
    return None


def _address_event(name: str, row: dict, ctx, portal) -> None:
    # address events carry TYPE_ID/ENTITY_TYPE_ID/ENTITY_ID/ANCHOR_* instead of ID [EN:api-reference/crm/requisites/events]
    portal.events.emit(name, {k: str(row.get(k) or "") for k in ("TYPE_ID", "ENTITY_TYPE_ID", "ENTITY_ID",
                                                                   "ANCHOR_ID", "ANCHOR_TYPE_ID")}, ctx.connector)


@method("crm.address.add")
def address_add(portal, ctx, params):
    f = {str(k).upper(): v for k, v in fields_param(params).items()}
    key = _address_key(f)
    if key[0] not in (1, 4, 6, 8, 9, 11):  # crm.enum.addresstype [EN:crm-enum-address-type.md]
        raise ApiError(400, "", "TYPE_ID is not defined or invalid.")
    if key[1] not in (1, 8):
        raise ApiError(400, "", "ENTITY_TYPE_ID is not defined or invalid.")
    owner = portal.t("requisite" if key[1] == 8 else "lead").get(key[2])
    if owner is None:
        raise ApiError(400, "", "Entity not found.")
    if _find_address(portal, key) is not None:
        raise ApiError(400, "", "TypeAddress exists")  # one address per type per owner [§6.5]
    row: dict[str, Any] = {}
    _write_simple(portal, ctx, "address", row, f)
    row["TYPE_ID"], row["ENTITY_TYPE_ID"], row["ENTITY_ID"] = key
    row["ANCHOR_TYPE_ID"] = owner["ENTITY_TYPE_ID"] if key[1] == 8 else 1
    row["ANCHOR_ID"] = owner["ENTITY_ID"] if key[1] == 8 else key[2]
    portal.t("address").insert(row)
    _address_event("ONCRMADDRESSREGISTER", row, ctx, portal)
    return True  # returns true, not an id [§9.6, EN:crm-address-add.md]


@method("crm.address.update")
def address_update(portal, ctx, params):
    f = {str(k).upper(): v for k, v in fields_param(params).items()}
    row = _find_address(portal, _address_key(f))
    if row is None:
        raise not_found_legacy("Address is not found.")
    _write_simple(portal, ctx, "address", row, {k: v for k, v in f.items()
                                               if k not in ("TYPE_ID", "ENTITY_TYPE_ID", "ENTITY_ID")})
    portal.t("address").save(row)
    _address_event("ONCRMADDRESSREGISTER", row, ctx, portal)
    return True


@method("crm.address.delete")
def address_delete(portal, ctx, params):
    f = {str(k).upper(): v for k, v in fields_param(params).items()}
    row = _find_address(portal, _address_key(f))
    if row is None:
        raise not_found_legacy("Address is not found.")
    portal.t("address").delete(row["ID"])
    _address_event("ONCRMADDRESSUNREGISTER", row, ctx, portal)
    return True


@method("crm.address.list")
def address_list(portal, ctx, params):
    return _simple_list(portal, ctx, "address", params)


@method("crm.address.fields")
def address_fields(portal, ctx, params):
    return schema(portal, "address")


# ---- products (legacy crm.product.*) [fact sheet §6.8] ----------------------------------------------------------
REQ_SCHEMAS["product"] = {
    "ID": _f("integer", "ID", ro=True), "NAME": _f("string", "Название", True), "XML_ID": _f("string", "Внешний код"),
    "ACTIVE": _f("char", "Активен"), "PRICE": _f("double", "Цена"), "CURRENCY_ID": _f("crm_currency", "Валюта"),
    "MEASURE": _f("integer", "Единица измерения"), "VAT_ID": _f("integer", "Ставка НДС"),
    "VAT_INCLUDED": _f("char", "НДС включен в цену"), "SECTION_ID": _f("integer", "Раздел"),
    "SORT": _f("integer", "Сортировка"), "DESCRIPTION": _f("string", "Описание"),
    "DESCRIPTION_TYPE": _f("string", "Тип описания"), "CATALOG_ID": _f("integer", "Каталог"),
    "CODE": _f("string", "Символьный код"), "DATE_CREATE": _f("datetime", "Дата создания", ro=True),
    "TIMESTAMP_X": _f("datetime", "Дата изменения", ro=True), "CREATED_BY": _f("user", "Кем создан", ro=True),
    "MODIFIED_BY": _f("user", "Кем изменен", ro=True)}


def _product_fields(f: dict) -> dict:
    f = {str(k).upper(): v for k, v in f.items()}
    if "VAT" in f and "VAT_ID" not in f:
        f["VAT_ID"] = f.pop("VAT")
    return f


@method("crm.product.add")
def product_add(portal, ctx, params):
    f = _product_fields(fields_param(params))
    if not str(f.get("NAME") or "").strip():
        raise ApiError(400, "", "Name is not specified.")
    now = portal.now_atom()
    row = {"ACTIVE": "Y", "CURRENCY_ID": "RUB", "MEASURE": 5 if False else None, "VAT_INCLUDED": "Y", "SORT": 500,
           "CATALOG_ID": 25, "DATE_CREATE": now, "TIMESTAMP_X": now, "CREATED_BY": ctx.user_id,
           "MODIFIED_BY": ctx.user_id, "DESCRIPTION_TYPE": "text"}
    _write_simple(portal, ctx, "product", row, f)
    rid = portal.t("product").insert(row)
    portal.events.emit("ONCRMPRODUCTADD", {"ID": str(rid)}, ctx.connector)
    return rid


@method("crm.product.update")
def product_update(portal, ctx, params):
    row = portal.t("product").get(p(params, "id"))
    if row is None:
        raise not_found_legacy("Product is not found.")
    _write_simple(portal, ctx, "product", row, _product_fields(fields_param(params)))
    row["TIMESTAMP_X"], row["MODIFIED_BY"] = portal.now_atom(), ctx.user_id
    portal.t("product").save(row)
    portal.events.emit("ONCRMPRODUCTUPDATE", {"ID": str(row["ID"])}, ctx.connector)
    return True


@method("crm.product.get")
def product_get(portal, ctx, params):
    row = portal.t("product").get(p(params, "id"))
    if row is None:
        raise not_found_legacy("Not found")
    return simple_out(portal, "product", row)


@method("crm.product.delete")
def product_delete(portal, ctx, params):
    row = portal.t("product").get(p(params, "id"))
    if row is None:
        raise not_found_legacy("Not found")
    portal.t("product").delete(row["ID"])
    portal.events.emit("ONCRMPRODUCTDELETE", {"ID": str(row["ID"])}, ctx.connector)
    return True


@method("crm.product.list")
def product_list(portal, ctx, params):
    return _simple_list(portal, ctx, "product", params)


@method("crm.product.fields")
def product_fields(portal, ctx, params):
    return schema(portal, "product")


@method("crm.measure.list")
def measure_list(portal, ctx, params):
    rows = [{"ID": str(i + 1), "CODE": str(code), "MEASURE_TITLE": title, "SYMBOL_RUS": rus, "SYMBOL_INTL": intl,
             "SYMBOL_LETTER_INTL": letter, "IS_DEFAULT": default}
            for i, (code, title, rus, intl, letter, default) in enumerate(MEASURES)]
    return Page(rows, len(rows))


@method("crm.vat.list")
def vat_list(portal, ctx, params):
    rows = [{"ID": str(i), "TIMESTAMP_X": "2024-01-01T00:00:00+03:00", "ACTIVE": "Y", "C_SORT": str(i * 100),
             "NAME": name, "RATE": None if rate is None else f"{rate:.2f}"} for i, name, rate in VAT_RATES]
    return Page(rows, len(rows))


# ---- deal product rows [fact sheet §6.8, §9.12, EN:crm-deal-productrows-set.md] --------------------------------
ROW_FIELDS = ("PRODUCT_ID", "PRODUCT_NAME", "PRICE", "PRICE_EXCLUSIVE", "PRICE_NETTO", "PRICE_BRUTTO", "QUANTITY",
              "DISCOUNT_TYPE_ID", "DISCOUNT_RATE", "DISCOUNT_SUM", "TAX_RATE", "TAX_INCLUDED", "MEASURE_CODE",
              "MEASURE_NAME", "SORT", "XML_ID")


def _num(v: Any, default: float = 0.0) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return default


def make_row(portal, owner_type: str, owner_id: int, r: dict, i: int) -> dict:
    """One stored product row (UPPER_CASE) from a row as written, the portal's derived prices filled in: PRICE is
    the final unit price; PRICE_EXCLUSIVE after the discount before tax, PRICE_NETTO before both, PRICE_BRUTTO with
    tax before the discount [EN:api-reference/crm/data-types.md#crm_item_product_row]. Shared by
    crm.deal.productrows.* and crm.item.productrow.* (one table, as on the portal)."""
    r = {str(k).upper(): v for k, v in (r or {}).items()}
    price = _num(r.get("PRICE"))
    qty = _num(r.get("QUANTITY"), 1.0)
    dtype = as_int(r.get("DISCOUNT_TYPE_ID")) or 2
    rate = _num(r.get("DISCOUNT_RATE"))
    dsum = _num(r.get("DISCOUNT_SUM"))
    if dtype == 2 and rate == 100 and not dsum and "DISCOUNT_SUM" not in r:
        # [§9.12 HTTP 400 example]
        raise ApiError(400, "ERROR_CORE", "Discount Sum (DISCOUNT_SUM) is required if Percentage Discount Type "
                       "(DISCOUNT_TYPE_ID) is defined and Discount Rate (DISCOUNT_RATE) is 100%<br>")
    tax = _num(r.get("TAX_RATE")) if r.get("TAX_RATE") not in (None, "") else None
    incl = str(r.get("TAX_INCLUDED", "N")).upper() == "Y"
    excl = price / (1 + (tax or 0) / 100) if tax and incl else price
    netto = excl + dsum if dtype == 1 else (excl / (1 - rate / 100) if rate < 100 else excl + dsum)
    if dtype == 2 and 0 < rate < 100 and not dsum:
        dsum = round(netto - excl, 2)  # the portal states the per-unit sum of a percent discount too
    pid = as_int(r.get("PRODUCT_ID")) or 0
    name = r.get("PRODUCT_NAME")
    if pid and not name:
        prod = portal.t("product").get(pid)
        name = prod["NAME"] if prod else None
    return {"OWNER_ID": owner_id, "OWNER_TYPE": owner_type, "PRODUCT_ID": pid, "PRODUCT_NAME": name or "",
            "ORIGINAL_PRODUCT_NAME": name or "", "PRODUCT_DESCRIPTION": "", "PRICE": price,
            "PRICE_EXCLUSIVE": round(excl, 2), "PRICE_NETTO": round(netto, 2),
            "PRICE_BRUTTO": round(netto * (1 + (tax or 0) / 100), 2), "PRICE_ACCOUNT": f"{price:.2f}",
            "QUANTITY": qty, "DISCOUNT_TYPE_ID": dtype, "DISCOUNT_RATE": rate, "DISCOUNT_SUM": dsum,
            "TAX_RATE": tax, "TAX_INCLUDED": "Y" if incl else "N", "CUSTOMIZED": "Y",
            "MEASURE_CODE": as_int(r.get("MEASURE_CODE")) or 796,
            "MEASURE_NAME": r.get("MEASURE_NAME") or "шт", "SORT": as_int(r.get("SORT")) or (i + 1) * 10,
            "XML_ID": r.get("XML_ID"), "TYPE": as_int(r.get("TYPE")) or 1, "STORE_ID": None, "RESERVE_ID": None,
            "DATE_RESERVE_END": None, "RESERVE_QUANTITY": None}


def replace_rows(portal, owner_type: str, owner_id: int, new_rows: list[dict]) -> list[dict]:
    """Replace all rows of one owner (rows not passed are removed) and return them as stored, in order."""
    rows_tbl = portal.t("productrow")
    for old in [r for r in rows_tbl.rows.values() if r["OWNER_TYPE"] == owner_type and r["OWNER_ID"] == owner_id]:
        rows_tbl.delete(old["ID"])
    for r in new_rows:
        rows_tbl.insert(r)
    return owner_rows(portal, owner_type, owner_id)


def owner_rows(portal, owner_type: str, owner_id: int) -> list[dict]:
    return sorted((r for r in portal.t("productrow").rows.values()
                   if r["OWNER_TYPE"] == owner_type and r["OWNER_ID"] == owner_id), key=lambda r: (r["SORT"], r["ID"]))


@method("crm.deal.productrows.set")
def productrows_set(portal, ctx, params):
    did = as_int(p(params, "id"))
    deal = portal.t("deal").get(did)
    if deal is None:
        raise not_found_legacy("Not found")
    new_rows = [make_row(portal, "D", did, r, i) for i, r in enumerate(list_param(p(params, "rows", [])))]
    replace_rows(portal, "D", did, new_rows)  # replaces all rows
    if deal.get("IS_MANUAL_OPPORTUNITY") != "Y":
        deal["OPPORTUNITY"] = round(sum(r["PRICE"] * r["QUANTITY"] for r in new_rows), 2)
    portal.t("deal").save(deal)
    portal.events.emit("ONCRMDEALUPDATE", {"ID": str(did)}, ctx.connector)
    return True


@method("crm.deal.productrows.get")
def productrows_get(portal, ctx, params):
    did = as_int(p(params, "id"))
    if portal.t("deal").get(did) is None:
        raise not_found_legacy("Not found")
    rows = sorted((r for r in portal.t("productrow").rows.values() if r["OWNER_TYPE"] == "D" and r["OWNER_ID"] == did),
                  key=lambda r: (r["SORT"], r["ID"]))
    out = []
    for r in rows:
        o = {"ID": str(r["ID"])}
        for k, v in r.items():
            if k == "ID":
                continue
            if k in ("PRICE", "PRICE_EXCLUSIVE", "PRICE_NETTO", "PRICE_BRUTTO", "QUANTITY", "DISCOUNT_RATE",
                     "DISCOUNT_SUM", "TAX_RATE"):
                o[k] = None if v is None else float(v)
            elif k in ("OWNER_ID", "PRODUCT_ID", "DISCOUNT_TYPE_ID", "MEASURE_CODE", "SORT", "TYPE"):
                o[k] = None if v is None else int(v)
            else:
                o[k] = v
        out.append(o)
    return out


# ---- timeline comments [fact sheet §6.10, §9.13, EN:crm-timeline-comment-add.md] ---------------------------------
@method("crm.timeline.comment.add")
def timeline_comment_add(portal, ctx, params):
    f = params.get("fields")  # since crm 23.100.0 only lowercase `fields` is accepted
    if not isinstance(f, dict):
        raise ApiError(400, "INVALID_ARG_VALUE", "Parameter 'fields' must be array.")
    f = {str(k).upper(): v for k, v in f.items()}
    etype = str(f.get("ENTITY_TYPE") or "").lower()
    eid = as_int(f.get("ENTITY_ID"))
    comment = str(f.get("COMMENT") or "")
    table = etype if etype in LEGACY else None
    if etype.startswith("dynamic_"):
        table = f"item_{etype[8:]}"
    if table is None or portal.t(table).get(eid) is None:
        raise ApiError(400, "OWNER_NOT_FOUND", "Owner not found")
    if not comment.strip():
        raise ApiError(400, "INVALID_ARG_VALUE", "Comment is empty")
    files = [portal.store_file(str(fd[0]), str(fd[1])) for fd in (list_param(x) for x in list_param(f.get("FILES")))
             if len(fd) >= 2]
    rid = portal.t("timeline_comment").insert({"ENTITY_TYPE": etype, "ENTITY_ID": eid, "COMMENT": comment,
                                               "AUTHOR_ID": ctx.user_id, "CREATED": portal.now_atom(), "FILES": files})
    portal.events.emit("ONCRMTIMELINECOMMENTADD", {"ID": str(rid)}, ctx.connector)
    return rid


@method("crm.timeline.comment.get")
def timeline_comment_get(portal, ctx, params):
    r = portal.t("timeline_comment").get(p(params, "id"))
    if r is None:
        raise ApiError(400, "NOT_FOUND", "Not found")
    return {"ID": str(r["ID"]), "CREATED": r["CREATED"], "ENTITY_ID": r["ENTITY_ID"], "ENTITY_TYPE": r["ENTITY_TYPE"],
            "AUTHOR_ID": str(r["AUTHOR_ID"]), "COMMENT": r["COMMENT"],
            "FILES": {str(fd["id"]): {"id": fd["id"], "name": portal.files[fd["id"]]["name"],
                                      "size": portal.files[fd["id"]]["size"], "urlDownload": fd["downloadUrl"]}
                      for fd in r["FILES"]} or []}


_COMMENT_TYPES = {"ID": "integer", "ENTITY_ID": "integer", "ENTITY_TYPE": "string", "AUTHOR_ID": "integer",
                  "COMMENT": "string", "CREATED": "datetime"}


def _comment_out(portal, r: dict, select: list[str] | None) -> dict:
    o = {"ID": str(r["ID"]), "CREATED": r["CREATED"], "ENTITY_ID": str(r["ENTITY_ID"]),
         "ENTITY_TYPE": r["ENTITY_TYPE"], "AUTHOR_ID": str(r["AUTHOR_ID"]), "COMMENT": r["COMMENT"],
         "FILES": {str(fd["id"]): {"id": fd["id"], "name": portal.files[fd["id"]]["name"],
                                   "size": portal.files[fd["id"]]["size"], "urlDownload": fd["downloadUrl"]}
                   for fd in r["FILES"]} or []}
    if select and "*" not in select:
        o = {k: v for k, v in o.items() if k in {s.upper() for s in select}}
    return o


@method("crm.timeline.comment.list")
def timeline_comment_list(portal, ctx, params):
    """The comments of one CRM record: ENTITY_ID and ENTITY_TYPE are required in the filter (RU:rest_help/crm/
    timeline/comment/crm_timeline_comment_list.php "При фильтрации обязательные поля — ENTITY_ID и ENTITY_TYPE");
    the usual list paging (50, ``start``, ``next``, ``>ID``). A filter on CREATED is ignored, as forum reports say
    of live portals (dev.1c-bitrix.ru forum48 topic137144)."""
    flt = {str(k).upper(): v for k, v in (p(params, "filter", {}) or {}).items()} if isinstance(
        p(params, "filter", {}), dict) else {}
    etype = str(flt.get("ENTITY_TYPE") or flt.get("=ENTITY_TYPE") or "").lower()
    eid = flt.get("ENTITY_ID", flt.get("=ENTITY_ID"))
    if not etype or eid in (None, ""):
        raise ApiError(400, "INVALID_ARG_VALUE", "ENTITY_ID and ENTITY_TYPE are required in the filter")
    flt = {k: v for k, v in flt.items() if split_created(k)}
    flt["=ENTITY_TYPE"] = etype
    flt.pop("ENTITY_TYPE", None)
    tbl = portal.t("timeline_comment")
    resolve = lambda n: n.upper() if n.upper() in _COMMENT_TYPES else None  # noqa: E731
    start = query.parse_start(p(params, "start", 0))
    conds = query.build_conditions(flt, _COMMENT_TYPES, False, resolve)
    order = query.parse_order(p(params, "order", {}) or {}, resolve)
    rows, nxt, total = query.page(tbl, conds, order, start, "ID", lambda r, f: r.get(f), _COMMENT_TYPES)
    list_cost(ctx, len(tbl), start)
    select = [str(x) for x in list_param(p(params, "select", []))]
    return Page([_comment_out(portal, r, select or None) for r in rows], total, nxt)


def split_created(key: str) -> bool:
    return query.split_key(key)[1] != "CREATED"


# ---- duplicates [fact sheet §6.11, §9.11, EN:crm-duplicate-find-by-comm.md] --------------------------------------
@method("crm.duplicate.findbycomm")
def duplicate_findbycomm(portal, ctx, params):
    typ = str(p(params, "type", "") or "").upper()
    if typ not in ("EMAIL", "PHONE"):
        raise ApiError(400, "Communication type is not defined", "Parameter 'type' is required.")
    values = list_param(p(params, "values"))
    if not values:
        raise ApiError(400, "Communication values is not defined", "Parameter 'values' is required.")
    if len(values) > 20:  # max 20 values per call
        raise ApiError(400, "Too many communication values", "Parameter 'values' must contain no more than 20 items.")
    want = str(p(params, "entity_type", "") or "").upper()
    found: dict[str, list[int]] = {}
    for v in values:
        for ent, rid in sorted(portal.dup_index.get((typ, norm_comm(typ, v)), ())):
            key = ent.upper()
            if want and key != want:
                continue
            lst = found.setdefault(key, [])
            if rid not in lst:
                lst.append(rid)
    order = ("LEAD", "CONTACT", "COMPANY")
    return {k: found[k] for k in order if k in found} or []  # [] when nothing found [§6.11]


@method("crm.contact.company.items.get")
def contact_company_items_get(portal, ctx, params):
    """The companies a contact is bound to: ``[{COMPANY_ID, SORT, ROLE_ID, IS_PRIMARY}]`` [fact sheet §6.2
    Relations; RU:rest_help/crm/contacts/crm_contact_company_items_get.php]. The primary one is the contact's
    ``COMPANY_ID`` (else the first binding); SORT steps by 10 in binding order (sandbox choice, not documented)."""
    rid = as_int(p(params, "id"))
    if not rid or rid <= 0:
        raise ApiError(400, "", "ID is not defined or invalid.")
    row = portal.t("contact").get(rid)
    if row is None:
        raise not_found_legacy("Not found")
    ids = [int(i) for i in (row.get("COMPANY_IDS") or ([row["COMPANY_ID"]] if row.get("COMPANY_ID") else [])) if i]
    primary = as_int(row.get("COMPANY_ID"))
    if primary not in ids:
        primary = ids[0] if ids else None
    return [{"COMPANY_ID": str(c), "SORT": str(10 * (i + 1)), "ROLE_ID": "0", "IS_PRIMARY": "Y" if c == primary else "N"}
            for i, c in enumerate(ids)]


# ---- statuses and pipelines [fact sheet §6.4] ------------------------------------------------------------------
def status_out(r: dict) -> dict:
    o = {"ID": str(r["ID"]), "ENTITY_ID": r["ENTITY_ID"], "STATUS_ID": r["STATUS_ID"], "NAME": r["NAME"],
         "NAME_INIT": r["NAME_INIT"], "SORT": str(r["SORT"]), "SYSTEM": r["SYSTEM"],
         "CATEGORY_ID": None if r["CATEGORY_ID"] is None else str(r["CATEGORY_ID"]), "COLOR": r["COLOR"],
         "SEMANTICS": r["SEMANTICS"]}
    if "EXTRA" in r:
        o["EXTRA"] = r["EXTRA"]
    return o


@method("crm.status.list")
def status_list(portal, ctx, params):
    flt = p(params, "filter", {}) or {}
    rows = [r for r in portal.t("status").rows.values()
            if all(str(r.get(str(k).upper().lstrip("="))) == str(v) for k, v in flt.items())]  # select is ignored
    order = p(params, "order", {}) or {"SORT": "ASC"}
    for k, d in reversed(list(order.items())):
        rows.sort(key=lambda r: (r.get(str(k).upper()) is None, r.get(str(k).upper()) or 0), reverse=str(d).upper() == "DESC")
    return Page([status_out(r) for r in rows], len(rows))


_STATUS_ID = re.compile(r"^[A-Za-z0-9_-]+$")


@method("crm.status.add")
def status_add(portal, ctx, params):
    """A new dictionary item / pipeline stage (dev.1c-bitrix.ru rest_help crm/auxiliary/status/crm_status_add.php):
    ENTITY_ID, STATUS_ID (both fixed once made) and NAME required; since CRM 20.5.500 a deal stage's STATUS_ID is
    latin letters, digits, '-' and '_', at most 22 characters in DEAL_STAGE and 19 in DEAL_STAGE_N (N < 10, one fewer
    per further digit); a stage of pipeline N gets the prefix CN: added by the portal. Answers the new item's ID."""
    from .bootstrap import add_status

    ctx.cost = WRITE_COST
    f = fields_param(params)
    ent, sid, name = str(f.get("ENTITY_ID") or ""), str(f.get("STATUS_ID") or ""), str(f.get("NAME") or "")
    if not ent or not sid or not name:
        raise ApiError(400, "ERROR_CORE", "Required fields are not filled: " + ", ".join(
            k for k, v in (("ENTITY_ID", ent), ("STATUS_ID", sid), ("NAME", name)) if not v))
    cat = None
    if ent.startswith("DEAL_STAGE"):
        cat = int(ent.rsplit("_", 1)[1]) if ent != "DEAL_STAGE" else 0
        limit = 22 if cat == 0 else 20 - len(str(cat))
        if not _STATUS_ID.match(sid) or len(sid) > limit:
            raise ApiError(400, "ERROR_CORE", f"STATUS_ID: latin letters, digits, '-' and '_', at most {limit} "
                                              "characters")
        if cat and portal.t("category").get(cat) is None:
            raise ApiError(400, "ERROR_CORE", "Category not found")
        if cat:
            sid = f"C{cat}:{sid}"
    if any(r["ENTITY_ID"] == ent and r["STATUS_ID"] == sid for r in portal.t("status").rows.values()):
        raise ApiError(400, "ERROR_CORE", f"The status {sid} already exists")
    sem = f.get("SEMANTICS") or None
    row = add_status(portal, ent, sid, name, int(f.get("SORT") or 10), sem if sem in ("S", "F") else None, cat,
                     str(f.get("COLOR") or "") or None, extra=ent.startswith("DEAL_STAGE"))
    return int(row["ID"])


@method("crm.status.entity.items")
def status_entity_items(portal, ctx, params):
    ent = str(p(params, "entityId", ""))
    return [{"NAME": r["NAME"], "SORT": r["SORT"], "STATUS_ID": r["STATUS_ID"]}
            for r in sorted(portal.t("status").rows.values(), key=lambda r: r["SORT"]) if r["ENTITY_ID"] == ent]


@method("crm.dealcategory.stage.list")
def dealcategory_stage_list(portal, ctx, params):
    cid = as_int(p(params, "id")) or 0
    ent = stage_entity_id(2, cid)
    return [{"NAME": r["NAME"], "SORT": r["SORT"], "STATUS_ID": r["STATUS_ID"]}
            for r in sorted(portal.t("status").rows.values(), key=lambda r: r["SORT"]) if r["ENTITY_ID"] == ent]


@method("crm.dealcategory.list")
def dealcategory_list(portal, ctx, params):
    rows = [{"ID": str(r["ID"]), "CREATED_DATE": "2024-01-01T00:00:00+03:00", "NAME": r["name"], "IS_LOCKED": "N",
             "SORT": str(r["sort"])} for r in portal.t("category").rows.values() if r["entityTypeId"] == 2]
    return Page(rows, len(rows))


@method("crm.category.add")
def category_add(portal, ctx, params):
    etid = as_int(p(params, "entityTypeId"))
    f = fields_param(params)
    row = add_category(portal, etid, str(f.get("name") or f.get("NAME") or "Воронка"), as_int(f.get("sort")) or 500)
    return {"category": category_out(row)}


def category_out(r: dict) -> dict:
    return {"id": r["ID"], "name": r["name"], "sort": r["sort"], "entityTypeId": r["entityTypeId"],
            "isDefault": r["isDefault"], "originId": r["originId"], "originatorId": r["originatorId"]}


@method("crm.category.list")
def category_list(portal, ctx, params):
    etid = as_int(p(params, "entityTypeId"))
    if etid is None:
        raise ApiError(400, "NOT_FOUND", "Smart process not found")
    cats = [category_out(r) for r in portal.t("category").rows.values() if r["entityTypeId"] == etid]
    if etid == 2:  # the general pipeline has id 0 [§9.10, EN:crm-category-list.md]
        cats.append({"id": 0, "name": "Общая", "sort": 300, "entityTypeId": 2, "isDefault": "Y"})
    cats.sort(key=lambda c: (c["sort"], c["id"]))
    return Page({"categories": cats}, len(cats))


@method("crm.category.get")
def category_get(portal, ctx, params):
    r = portal.t("category").get(p(params, "id"))
    if r is None:
        raise ApiError(400, "NOT_FOUND", "Category not found")
    return {"category": category_out(r)}


# ---- merging duplicates [RU:rest_help/crm/auxiliary/duplicates/crm_entity_mergeBatch.php] ----------------------
_MERGE_KEEP_OWN = {"ID", "DATE_CREATE", "DATE_MODIFY", "CREATED_BY_ID", "MODIFY_BY_ID", "ASSIGNED_BY_ID"}


@method("crm.entity.mergeBatch")
def entity_merge_batch(portal, ctx, params):
    """``{params: {entityTypeId: 1|2|3|4, entityIds: [..]}}`` → ``{STATUS: SUCCESS|CONFLICT|ERROR, ENTITY_IDS}``
    where ENTITY_IDS are the merged-away ids, without the one left. The docs do not say which id is left; the
    sandbox keeps the **first** (an assumption; the connector checks which one survived and handles either).
    Sandbox choices: the kept record's empty fields are filled from the others in order, PHONE / EMAIL values are
    added, deals / contacts / requisites of the others move to it, the others are deleted; two different non-empty
    values of one user field (``UF_CRM_*``) are a CONFLICT and nothing is changed (the docs send the user to the
    manual merge page then)."""
    inner = p(params, "params") or {}
    if not isinstance(inner, dict):
        raise ApiError(400, "INVALID_ARG_VALUE", "Parameter 'params' must be an object.")
    etid = as_int(inner.get("entityTypeId"))
    ent = next((k for k, v in LEGACY.items() if v == etid), None)
    ids = [as_int(i) for i in list_param(inner.get("entityIds"))]
    if ent is None:
        raise ApiError(400, "INVALID_ARG_VALUE", "Entity type is not supported.")
    if len(ids) < 2 or any(not i or i <= 0 for i in ids):
        raise ApiError(400, "INVALID_ARG_VALUE", "At least two entity IDs are required.")
    rows = [portal.t(ent).get(i) for i in ids]
    if any(r is None for r in rows):
        return {"STATUS": "ERROR", "ENTITY_IDS": []}
    keep, others = rows[0], rows[1:]
    for name in {k for r in rows for k in r if k.startswith("UF_CRM_")}:
        vals = {str(r.get(name)) for r in rows if r.get(name) not in (None, "", [], False)}
        if len(vals) > 1:
            return {"STATUS": "CONFLICT", "ENTITY_IDS": []}
    ctx.cost = WRITE_COST * len(rows)
    portal.index_multifields(ent, keep, remove=True)
    for o in others:
        for k, v in o.items():
            if k in _MERGE_KEEP_OWN:
                continue
            if k in ("PHONE", "EMAIL", "WEB", "IM") and isinstance(v, list):
                have = {str(m.get("VALUE")) for m in keep.get(k) or []}
                for m in v:
                    if str(m.get("VALUE")) not in have:
                        keep.setdefault(k, []).append(dict(m))
                continue
            if keep.get(k) in (None, "", [], False) and v not in (None, "", [], False):
                keep[k] = v
    gone = {o["ID"] for o in others}
    for table, col in (("deal", "COMPANY_ID" if ent == "company" else "CONTACT_ID"), ("contact", "COMPANY_ID")):
        if table == ent:
            continue
        for r in list(portal.t(table).rows.values()):
            many = r.get(col + "S")
            moved = r.get(col) in gone or (isinstance(many, list) and any(x in gone for x in many))
            if r.get(col) in gone:
                r[col] = keep["ID"]
            if isinstance(many, list) and any(x in gone for x in many):
                r[col + "S"] = list(dict.fromkeys(keep["ID"] if x in gone else x for x in many))
            if moved:
                portal.t(table).save(r)
    for rq in list(portal.t("requisite").rows.values()):
        if rq["ENTITY_TYPE_ID"] == etid and rq["ENTITY_ID"] in gone:
            rq["ENTITY_ID"] = keep["ID"]
            portal.t("requisite").save(rq)
    keep["DATE_MODIFY"], keep["MODIFY_BY_ID"] = portal.now_atom(), ctx.user_id
    portal.t(ent).save(keep)
    portal.index_multifields(ent, keep)
    for o in others:
        delete_legacy(portal, ctx, ent, o["ID"])
    portal.events.emit(f"ONCRM{EVENT_CODE[ent]}UPDATE", {"ID": str(keep["ID"])}, ctx.connector)
    return {"STATUS": "SUCCESS", "ENTITY_IDS": [str(o["ID"]) for o in others]}

"""Catalogue methods of the legacy CRM product API: product sections (``crm.productsection.*``), VAT rates as a
table (``crm.vat.*``), product properties (``crm.product.property.*``) and their ``PROPERTY_<ID>`` values on
``crm.product.*`` records.

Sources (bitrix24/b24restdocs, ``api-reference/crm/outdated/``): ``product-section/crm-product-section-*.md``
(fields ``ID, CATALOG_ID, SECTION_ID, NAME, XML_ID, CODE``), ``vat/crm-vat-*.md`` (``ID, ACTIVE, C_SORT, NAME,
RATE``; ``NAME`` and ``RATE`` required on add; ``crm.vat.get`` example ``{"ID": "13", "ACTIVE": "Y", "NAME":
"НДС 20%", "RATE": "20.00", "C_SORT": "100"}``), ``products/crm-product-property-*.md`` (``ID, IBLOCK_ID, NAME,
ACTIVE, SORT, CODE, PROPERTY_TYPE, MULTIPLE, XML_ID``). All are deprecated in favour of ``catalog.*`` but still
operational (the docs' warning notes); the method-spec in /work/shared/samples/bitrix24-method-spec lists them.

Property values: the docs give no response example for a product's ``PROPERTY_<ID>``; the sandbox answers a
single-value property as ``{"valueId": "<n>", "value": "<text>"}`` (the shape public integrations read) and
accepts a plain value, ``{"value": v}`` or a list of those on writes. [unverified: exact live shape]
"""

from __future__ import annotations

from typing import Any

from . import crm_legacy as legacy
from .model import VAT_RATES
from .portal import WRITE_COST, ApiError, Page, as_int, fields_param, list_param, method, not_found_legacy, p

CATALOG_ID = 25  # the CRM catalogue's id (crm.product.add default in crm_legacy)

legacy.REQ_SCHEMAS["productsection"] = {
    "ID": legacy._f("integer", "ID", ro=True), "CATALOG_ID": legacy._f("integer", "Каталог"),
    "SECTION_ID": legacy._f("integer", "Родительский раздел"), "NAME": legacy._f("string", "Название", True),
    "XML_ID": legacy._f("string", "Внешний код"), "CODE": legacy._f("string", "Символьный код")}
legacy.REQ_SCHEMAS["vat"] = {
    "ID": legacy._f("integer", "ID", ro=True), "TIMESTAMP_X": legacy._f("datetime", "Дата изменения", ro=True),
    "ACTIVE": legacy._f("char", "Активность"), "C_SORT": legacy._f("integer", "Сортировка"),
    "NAME": legacy._f("string", "Название", True), "RATE": legacy._f("double", "Ставка")}
legacy.REQ_SCHEMAS["productproperty"] = {
    "ID": legacy._f("integer", "ID", ro=True), "IBLOCK_ID": legacy._f("integer", "Инфоблок", ro=True),
    "NAME": legacy._f("string", "Название", True), "ACTIVE": legacy._f("char", "Активность"),
    "SORT": legacy._f("integer", "Сортировка"), "CODE": legacy._f("string", "Символьный код"),
    "PROPERTY_TYPE": legacy._f("char", "Тип"), "MULTIPLE": legacy._f("char", "Множественное"),
    "XML_ID": legacy._f("string", "Внешний код"), "DEFAULT_VALUE": legacy._f("string", "Значение по умолчанию")}


# ---- sections -------------------------------------------------------------------------------------------------
@method("crm.productsection.add")
def section_add(portal, ctx, params):
    f = {str(k).upper(): v for k, v in fields_param(params).items()}
    if not str(f.get("NAME") or "").strip():
        raise ApiError(400, "", "Name is not specified.")  # wording is the sandbox's own (undocumented)
    parent = as_int(f.get("SECTION_ID"))
    if parent and portal.t("productsection").get(parent) is None:
        raise ApiError(400, "", "Parent section is not found.")
    row: dict[str, Any] = {"CATALOG_ID": CATALOG_ID}
    legacy._write_simple(portal, ctx, "productsection", row, f)
    ctx.cost = WRITE_COST
    return portal.t("productsection").insert(row)


@method("crm.productsection.update")
def section_update(portal, ctx, params):
    row = portal.t("productsection").get(p(params, "id"))
    if row is None:
        raise not_found_legacy("Section is not found.")
    legacy._write_simple(portal, ctx, "productsection", row, fields_param(params))
    portal.t("productsection").save(row)
    ctx.cost = WRITE_COST
    return True


@method("crm.productsection.get")
def section_get(portal, ctx, params):
    row = portal.t("productsection").get(p(params, "id"))
    if row is None:
        raise not_found_legacy("Not found")
    return legacy.simple_out(portal, "productsection", row)


@method("crm.productsection.delete")
def section_delete(portal, ctx, params):
    row = portal.t("productsection").get(p(params, "id"))
    if row is None:
        raise not_found_legacy("Not found")
    portal.t("productsection").delete(row["ID"])
    return True


@method("crm.productsection.list")
def section_list(portal, ctx, params):
    return legacy._simple_list(portal, ctx, "productsection", params)


@method("crm.productsection.fields")
def section_fields(portal, ctx, params):
    return legacy.schema(portal, "productsection")


# ---- VAT rates as a table (crm.vat.add / update / delete change what crm.vat.list answers) ----------------------
def _vat_table(portal):
    t = portal.t("vat")
    if not t.rows and not portal.store.meta.get("vat_seeded"):
        for i, name, rate in VAT_RATES:
            t.insert({"TIMESTAMP_X": "2024-01-01T00:00:00+03:00", "ACTIVE": "Y", "C_SORT": i * 100, "NAME": name,
                      "RATE": rate}, rid=i)
        portal.store.meta["vat_seeded"] = True
    return t


def _vat_out(row: dict) -> dict:
    rate = row.get("RATE")
    return {"ID": str(row["ID"]), "TIMESTAMP_X": row.get("TIMESTAMP_X"), "ACTIVE": row.get("ACTIVE") or "Y",
            "C_SORT": str(row.get("C_SORT") or 100), "NAME": row.get("NAME"),
            "RATE": None if rate is None else f"{float(rate):.2f}"}


@method("crm.vat.list")
def vat_list(portal, ctx, params):
    rows = [_vat_out(r) for r in _vat_table(portal).rows.values()]
    return Page(rows, len(rows))


@method("crm.vat.get")
def vat_get(portal, ctx, params):
    row = _vat_table(portal).get(p(params, "id"))
    if row is None:
        raise not_found_legacy("Not found")
    return _vat_out(row)


@method("crm.vat.add")
def vat_add(portal, ctx, params):
    f = {str(k).upper(): v for k, v in fields_param(params).items()}
    if not str(f.get("NAME") or "").strip() or f.get("RATE") in (None, ""):
        raise ApiError(400, "", "Required fields NAME and RATE are not specified.")  # sandbox wording
    t = _vat_table(portal)
    ctx.cost = WRITE_COST
    return t.insert({"TIMESTAMP_X": portal.now_atom(), "ACTIVE": str(f.get("ACTIVE") or "Y"),
                     "C_SORT": as_int(f.get("C_SORT")) or 100, "NAME": str(f["NAME"]), "RATE": float(f["RATE"])})


@method("crm.vat.update")
def vat_update(portal, ctx, params):
    t = _vat_table(portal)
    row = t.get(p(params, "id"))
    if row is None:
        raise not_found_legacy("Not found")
    for k, v in {str(k).upper(): v for k, v in fields_param(params).items()}.items():
        if k in ("ACTIVE", "NAME"):
            row[k] = str(v)
        elif k == "RATE":
            row[k] = float(v)
        elif k == "C_SORT":
            row[k] = as_int(v)
    row["TIMESTAMP_X"] = portal.now_atom()
    t.save(row)
    return True


@method("crm.vat.delete")
def vat_delete(portal, ctx, params):
    t = _vat_table(portal)
    row = t.get(p(params, "id"))
    if row is None:
        raise not_found_legacy("Not found")
    t.delete(row["ID"])
    return True


@method("crm.vat.fields")
def vat_fields(portal, ctx, params):
    return legacy.schema(portal, "vat")


# ---- product properties --------------------------------------------------------------------------------------
@method("crm.product.property.add")
def property_add(portal, ctx, params):
    f = {str(k).upper(): v for k, v in fields_param(params).items()}
    if not str(f.get("NAME") or "").strip():
        raise ApiError(400, "", "Name is not specified.")  # sandbox wording
    row = {"IBLOCK_ID": CATALOG_ID, "ACTIVE": "Y", "SORT": 500, "PROPERTY_TYPE": "S", "MULTIPLE": "N"}
    legacy._write_simple(portal, ctx, "productproperty", row, f)
    ctx.cost = WRITE_COST
    return portal.t("productproperty").insert(row)


@method("crm.product.property.get")
def property_get(portal, ctx, params):
    row = portal.t("productproperty").get(p(params, "id"))
    if row is None:
        raise not_found_legacy("Not found")
    return legacy.simple_out(portal, "productproperty", row)


@method("crm.product.property.list")
def property_list(portal, ctx, params):
    return legacy._simple_list(portal, ctx, "productproperty", params)


@method("crm.product.property.fields")
def property_fields(portal, ctx, params):
    return legacy.schema(portal, "productproperty")


# ---- PROPERTY_<ID> values on products --------------------------------------------------------------------------
def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return v.get("value", v.get("VALUE"))
    if isinstance(v, list):
        return _plain(v[0]) if v else None
    return v


def _split_props(portal, fields: dict) -> tuple[dict, dict[int, Any]]:
    rest, props = {}, {}
    for k, v in fields.items():
        name = str(k).upper()
        if name.startswith("PROPERTY_"):
            pid = as_int(name[9:])
            if pid is None or portal.t("productproperty").get(pid) is None:
                continue  # unknown properties are ignored, like unknown fields
            props[pid] = _plain(v)
        else:
            rest[k] = v
    return rest, props


def _store_props(portal, row: dict, props: dict[int, Any]) -> None:
    vals = row.setdefault("PROPERTIES", {})
    for pid, v in props.items():
        if v is None or v == "":
            vals.pop(str(pid), None)
        else:
            n = int(portal.store.meta.get("propval_next", 1))
            portal.store.meta["propval_next"] = n + 1
            vals[str(pid)] = {"valueId": str(n), "value": str(v)}


def _with_props(portal, row: dict, out: dict, select: list[str] | None) -> dict:
    wanted = None if select is None else {s.upper() for s in select}
    vals = row.get("PROPERTIES") or {}
    for pid in portal.t("productproperty").rows:
        key = f"PROPERTY_{pid}"
        if wanted is None or key in wanted or "PROPERTY_*" in wanted:
            out[key] = vals.get(str(pid))
    return out


_product_add = legacy.product_add
_product_update = legacy.product_update


@method("crm.product.add")
def product_add(portal, ctx, params):
    rest, props = _split_props(portal, fields_param(params))
    rid = _product_add(portal, ctx, {**params, "fields": rest})
    if props:
        row = portal.t("product").get(rid)
        _store_props(portal, row, props)
        portal.t("product").save(row)
    ctx.cost = WRITE_COST
    return rid


@method("crm.product.update")
def product_update(portal, ctx, params):
    rest, props = _split_props(portal, fields_param(params))
    res = _product_update(portal, ctx, {**params, "fields": rest})
    if props:
        row = portal.t("product").get(p(params, "id"))
        _store_props(portal, row, props)
        portal.t("product").save(row)
    ctx.cost = WRITE_COST
    return res


@method("crm.product.get")
def product_get(portal, ctx, params):
    row = portal.t("product").get(p(params, "id"))
    if row is None:
        raise not_found_legacy("Not found")
    return _with_props(portal, row, legacy.simple_out(portal, "product", row), None)


@method("crm.product.list")
def product_list(portal, ctx, params):
    select = [str(s) for s in list_param(p(params, "select", []))]
    page = legacy._simple_list(portal, ctx, "product", params)
    if any(s.upper().startswith("PROPERTY_") for s in select):
        t = portal.t("product")
        page = Page([_with_props(portal, t.get(r["ID"]), r, select) for r in page.result], page.total, page.next)
    return page


# ---- units of measure as a table (crm.measure.add / update / delete; b24restdocs
# api-reference/crm/outdated/measure/crm-measure-*.md: CODE (integer) and MEASURE_TITLE required) -----------------
def _measure_table(portal):
    from .model import MEASURES

    t = portal.t("measure")
    if not t.rows and not portal.store.meta.get("measure_seeded"):
        for i, (code, title, rus, intl, letter, default) in enumerate(MEASURES, 1):
            t.insert({"CODE": code, "MEASURE_TITLE": title, "SYMBOL_RUS": rus, "SYMBOL_INTL": intl,
                      "SYMBOL_LETTER_INTL": letter, "IS_DEFAULT": default}, rid=i)
        portal.store.meta["measure_seeded"] = True
    return t


def _measure_out(row: dict) -> dict:
    return {"ID": str(row["ID"]), "CODE": str(row["CODE"]), "MEASURE_TITLE": row.get("MEASURE_TITLE"),
            "SYMBOL_RUS": row.get("SYMBOL_RUS"), "SYMBOL_INTL": row.get("SYMBOL_INTL"),
            "SYMBOL_LETTER_INTL": row.get("SYMBOL_LETTER_INTL"), "IS_DEFAULT": row.get("IS_DEFAULT") or "N"}


@method("crm.measure.list")
def measure_list(portal, ctx, params):
    rows = [_measure_out(r) for r in _measure_table(portal).rows.values()]
    return Page(rows, len(rows))


@method("crm.measure.get")
def measure_get(portal, ctx, params):
    row = _measure_table(portal).get(p(params, "id"))
    if row is None:
        raise not_found_legacy("Not found")
    return _measure_out(row)


@method("crm.measure.add")
def measure_add(portal, ctx, params):
    f = {str(k).upper(): v for k, v in fields_param(params).items()}
    code = as_int(f.get("CODE"))
    if code is None or not str(f.get("MEASURE_TITLE") or "").strip():
        raise ApiError(400, "", "Required fields CODE and MEASURE_TITLE are not specified.")  # sandbox wording
    t = _measure_table(portal)
    if any(int(r["CODE"]) == code for r in t.rows.values()):
        raise ApiError(400, "", f"Measure with code {code} already exists.")  # sandbox wording
    ctx.cost = WRITE_COST
    return t.insert({"CODE": code, **{k: str(f[k]) for k in ("MEASURE_TITLE", "SYMBOL_RUS", "SYMBOL_INTL",
                                                            "SYMBOL_LETTER_INTL", "IS_DEFAULT") if f.get(k)}})


@method("crm.measure.delete")
def measure_delete(portal, ctx, params):
    t = _measure_table(portal)
    row = t.get(p(params, "id"))
    if row is None:
        raise not_found_legacy("Not found")
    t.delete(row["ID"])
    return True

"""Universal product rows: ``crm.item.productrow.set`` / ``.list`` / ``.get`` (camelCase fields) over the same rows
the legacy ``crm.deal.productrows.*`` keep — one table, as on the portal [document-flows.md A.5,
EN:api-reference/crm/universal/product-rows/crm-item-productrow-set.md, …-list.md,
EN:api-reference/crm/data-types.md#crm_item_product_row]. ``set`` overwrites all rows of the owner; ``ownerType``
is the short code (``D`` deal, ``L`` lead, ``SI`` smart invoice, ``Q`` quote, ``T{hex}`` smart process)."""

from __future__ import annotations

from typing import Any

from . import crm_item
from .crm_legacy import make_row, owner_rows, replace_rows
from .portal import WRITE_COST, ApiError, Page, as_int, list_param, method, p

CAMEL = {"ID": "id", "OWNER_ID": "ownerId", "OWNER_TYPE": "ownerType", "PRODUCT_ID": "productId",
         "PRODUCT_NAME": "productName", "PRICE": "price", "PRICE_ACCOUNT": "priceAccount",
         "PRICE_EXCLUSIVE": "priceExclusive", "PRICE_NETTO": "priceNetto", "PRICE_BRUTTO": "priceBrutto",
         "QUANTITY": "quantity", "DISCOUNT_TYPE_ID": "discountTypeId", "DISCOUNT_RATE": "discountRate",
         "DISCOUNT_SUM": "discountSum", "TAX_RATE": "taxRate", "TAX_INCLUDED": "taxIncluded",
         "CUSTOMIZED": "customized", "MEASURE_CODE": "measureCode", "MEASURE_NAME": "measureName", "SORT": "sort",
         "XML_ID": "xmlId", "TYPE": "type", "STORE_ID": "storeId"}
UPPER = {v: k for k, v in CAMEL.items()}


def _owner(portal, owner_type: str, owner_id: int) -> tuple[str, dict | None, int | None]:
    """(table, row, entityTypeId of a universal item) of the rows' owner."""
    code = owner_type.upper()
    if code in ("D", "L"):
        table = "deal" if code == "D" else "lead"
        return table, portal.t(table).get(owner_id), None
    if code == "SI":
        etid = 31
    elif code == "Q":
        etid = 7
    elif code.startswith("T") and len(code) > 1:
        try:
            etid = int(code[1:], 16)
        except ValueError:
            raise ApiError(400, "INVALID_ARG_VALUE", f"Unknown ownerType {owner_type}") from None
    else:
        raise ApiError(400, "INVALID_ARG_VALUE", f"Unknown ownerType {owner_type}")
    table = f"item_{etid}"
    return table, portal.t(table).get(owner_id), etid


def _out(r: dict) -> dict[str, Any]:
    o: dict[str, Any] = {}
    for k, c in CAMEL.items():
        v = r.get(k)
        if k in ("PRICE", "PRICE_EXCLUSIVE", "PRICE_NETTO", "PRICE_BRUTTO", "QUANTITY", "DISCOUNT_RATE",
                 "DISCOUNT_SUM", "TAX_RATE"):
            v = None if v is None else float(v)
        elif k in ("ID", "OWNER_ID", "PRODUCT_ID", "DISCOUNT_TYPE_ID", "MEASURE_CODE", "SORT", "TYPE"):
            v = None if v is None else int(v)
        o[c] = v
    return o


@method("crm.item.productrow.set")
def productrow_set(portal, ctx, params):
    owner_type = str(p(params, "ownerType", "") or "")
    owner_id = as_int(p(params, "ownerId"))
    table, owner, etid = _owner(portal, owner_type, owner_id)
    if owner is None:
        raise ApiError(400, "NOT_FOUND", "Owner not found")
    ctx.cost = WRITE_COST
    rows = []
    for i, r in enumerate(list_param(p(params, "productRows", []))):
        r = {UPPER.get(str(k), str(k).upper()): v for k, v in (r or {}).items()}
        rows.append(make_row(portal, owner_type.upper(), owner_id, r, i))
    stored = replace_rows(portal, owner_type.upper(), owner_id, rows)
    total = round(sum(r["PRICE"] * r["QUANTITY"] for r in rows), 2)
    if etid is None:  # a deal or lead: the legacy owner
        if owner.get("IS_MANUAL_OPPORTUNITY") != "Y":
            owner["OPPORTUNITY"] = total
        portal.t(table).save(owner)
        portal.events.emit("ONCRMDEALUPDATE" if table == "deal" else "ONCRMLEADUPDATE", {"ID": str(owner_id)},
                           ctx.connector)
    else:
        if owner.get("isManualOpportunity") != "Y":  # opportunity follows the rows [A.5]
            owner["opportunity"] = total
        owner["updatedBy"], owner["updatedTime"] = ctx.user_id, portal.now_atom()
        portal.t(table).save(owner)
        crm_item.dyn_event(portal, ctx, etid, "UPDATE", owner_id)
    return {"productRows": [_out(r) for r in stored]}


@method("crm.item.productrow.list")
def productrow_list(portal, ctx, params):
    flt = {str(k).lstrip("="): v for k, v in (p(params, "filter", {}) or {}).items()}
    if "ownerType" not in flt or "ownerId" not in flt:
        raise ApiError(400, "INVALID_ARG_VALUE", "filter must contain =ownerType and =ownerId")
    owner_type, owner_id = str(flt["ownerType"]).upper(), as_int(flt["ownerId"])
    rows = owner_rows(portal, owner_type, owner_id)
    start = max(0, as_int(p(params, "start", 0)) or 0)
    page = rows[start:start + 50]
    nxt = start + 50 if start + 50 < len(rows) else None
    return Page({"productRows": [_out(r) for r in page]}, len(rows), nxt)


@method("crm.item.productrow.get")
def productrow_get(portal, ctx, params):
    r = portal.t("productrow").get(as_int(p(params, "id")))
    if r is None:
        raise ApiError(400, "NOT_FOUND", "Not found")
    return {"productRow": _out(r)}

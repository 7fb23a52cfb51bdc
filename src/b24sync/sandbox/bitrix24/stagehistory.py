"""``crm.stagehistory.list`` and the history rows behind it (document-flows.md A.4).

A row is written when a deal, a lead, a smart invoice (31) or a smart-process item is created (``TYPE_ID`` 1), moved
to an intermediate stage (2), moved to a final stage (3) or to another pipeline (5). The answer is
``{"result": {"items": [...]}, "total": N, "next": …}``, 50 per page; filters use the list operators (``>ID``,
``@OWNER_ID``, …); only the rows of the record's **current** pipeline are returned ("it does work this way",
[GH:bitrix24/b24restdocs#8]). Leads carry ``STATUS_ID``/``STATUS_SEMANTIC_ID``, the others ``STAGE_ID``/
``STAGE_SEMANTIC_ID``/``CATEGORY_ID``. ``Portal.stagehistory_unsupported`` lists entity type ids answered with
``ENTITY_TYPE_NOT_SUPPORTED`` — the maintainer's warning that new invoices and SPAs may not be served yet
[GH:bitrix-tools/b24-rest-docs#147]; the sandbox serves 31 by default and a test can switch it off.
"""

from __future__ import annotations

from typing import Any

from . import query
from .portal import ApiError, Page, as_int, list_param, method, p

SUPPORTED = {1, 2, 5, 31}
_TYPES = {"ID": "integer", "TYPE_ID": "integer", "OWNER_ID": "integer", "CREATED_TIME": "datetime",
          "CATEGORY_ID": "integer", "STAGE_SEMANTIC_ID": "string", "STAGE_ID": "string",
          "STATUS_SEMANTIC_ID": "string", "STATUS_ID": "string"}


def record(portal, entity_type_id: int, owner_id: int, stage_id: str | None, semantic: str | None,
           category_id: int | None, *, created: bool = False, pipeline_changed: bool = False) -> None:
    """Append one history row (called by the deal/lead/item writers on create and on every stage change)."""
    if stage_id is None:
        return
    type_id = 1 if created else 5 if pipeline_changed else 3 if semantic in ("S", "F") else 2
    row: dict[str, Any] = {"ENTITY_TYPE_ID": entity_type_id, "TYPE_ID": type_id, "OWNER_ID": int(owner_id),
                           "CREATED_TIME": portal.now_atom()}
    if entity_type_id == 1:
        row.update(STATUS_ID=stage_id, STATUS_SEMANTIC_ID=semantic or "P")
    else:
        row.update(STAGE_ID=stage_id, STAGE_SEMANTIC_ID=semantic or "P", CATEGORY_ID=int(category_id or 0))
    portal.t("stagehistory").insert(row)


def _current_category(portal, etid: int, owner_id: int) -> int | None:
    if etid == 2:
        row = portal.t("deal").get(owner_id)
        return None if row is None else int(row.get("CATEGORY_ID") or 0)
    if etid == 1:
        return None
    row = portal.t(f"item_{etid}").get(owner_id)
    return None if row is None else int(row.get("categoryId") or 0)


@method("crm.stagehistory.list")
def stagehistory_list(portal, ctx, params):
    etid = as_int(p(params, "entityTypeId"))
    unsupported = getattr(portal, "stagehistory_unsupported", set())
    if etid is None:
        raise ApiError(400, "INVALID_ARG_VALUE", "entityTypeId is required")
    known_spa = any(t["entityTypeId"] == etid for t in portal.t("crm_type").rows.values())
    if (etid not in SUPPORTED and not known_spa) or etid in unsupported:
        raise ApiError(400, "ENTITY_TYPE_NOT_SUPPORTED", f"entity type {etid} is not supported")
    names = set(_TYPES)
    resolve = lambda n: n.upper() if n.upper() in names else None  # noqa: E731
    try:
        conds = query.build_conditions(p(params, "filter", {}) or {}, _TYPES, True, resolve)
        order = query.parse_order(p(params, "order", {}) or {}, resolve, True)
    except query.FilterError as exc:
        raise ApiError(400, "INVALID_ARG_VALUE", f"field '{exc.field}' is not allowed in filter or order")
    start = query.parse_start(p(params, "start", 0))
    tbl = portal.t("stagehistory")

    def visible(r: dict) -> bool:
        if r["ENTITY_TYPE_ID"] != etid:
            return False
        if etid == 1:
            return True
        return r.get("CATEGORY_ID") == _current_category(portal, etid, r["OWNER_ID"])

    rows, nxt, total = query.page(tbl, conds, order, start, "ID", lambda r, f: r.get(f), _TYPES, visible)
    from .crm_legacy import list_cost  # crm_legacy imports this module to record rows

    list_cost(ctx, len(tbl), start)
    select = [str(s).upper() for s in list_param(p(params, "select", []))]
    out = []
    for r in rows:
        o = {k: v for k, v in r.items() if k != "ENTITY_TYPE_ID"}
        if select and "*" not in select:
            o = {k: v for k, v in o.items() if k in select or k == "ID"}
        out.append(o)
    return Page({"items": out}, total, nxt)

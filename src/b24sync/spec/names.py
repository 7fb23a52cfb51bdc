"""Every system name an entity uses — its object on each side and each field it maps, matches, links or guards
on — with the spec path it is written at, so a check against the live systems can point at the line."""

from __future__ import annotations

from dataclasses import dataclass

from b24sync.spec.models import Entity, Side

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class NameUse:
    side: Side
    name: str
    path: Path_
    what: str  # "field", "match key", "link", "guard"


def names_of(ename: str, e: Entity) -> list[NameUse]:
    base: Path_ = ("entities", ename)
    out: list[NameUse] = []
    for i, f in enumerate(e.fields):
        out.append(NameUse("crm", f.crm, base + ("fields", i, "crm"), "field"))
        out.append(NameUse("erp", f.erp, base + ("fields", i, "erp"), "field"))
        for j, t in enumerate(f.transform):
            if getattr(t, "qualify", None):
                out.append(NameUse("erp", t.qualify, base + ("fields", i, "transform", j, "qualify"),
                                   "table qualifier"))  # not fatal: without it the plain value is looked up
    for i, rule in enumerate(e.match):
        for j, k in enumerate(rule.keys):
            out.append(NameUse("crm", k.crm, base + ("match", i, "keys", j, "crm"), "match key"))
            out.append(NameUse("erp", k.erp, base + ("match", i, "keys", j, "erp"), "match key"))
    if e.link.crm:
        out.append(NameUse("crm", e.link.crm, base + ("link", "crm"), "link"))
    if e.link.erp:
        out.append(NameUse("erp", e.link.erp, base + ("link", "erp"), "link"))
    for i, g in enumerate(e.guards):
        gp = base + ("guards", i)
        if g.skip_if:
            out.append(NameUse(g.skip_if.side, g.skip_if.field, gp + ("skip_if", "field"), "guard"))
        if g.require_fields:
            for j, n in enumerate(g.require_fields.fields):
                out.append(NameUse(g.require_fields.side, n, gp + ("require_fields", "fields", j), "guard"))
        if g.require_valid:
            for j, c in enumerate(g.require_valid.checks):
                out.append(NameUse(g.require_valid.side, c.field, gp + ("require_valid", "checks", j, "field"),
                                   "guard"))
                if c.bic:
                    out.append(NameUse(g.require_valid.side, c.bic, gp + ("require_valid", "checks", j, "bic"),
                                       "guard"))
        if g.require_active_party:
            ap = g.require_active_party
            out.append(NameUse(ap.side, ap.inn, gp + ("require_active_party", "inn"), "guard"))
            if ap.kpp:
                out.append(NameUse(ap.side, ap.kpp, gp + ("require_active_party", "kpp"), "guard"))
    for i, h in enumerate(e.header):
        for side in ("crm", "erp"):
            if getattr(h, side):
                out.append(NameUse(side, getattr(h, side), base + ("header", i, side), "header value"))  # type: ignore[arg-type]
        src: Side = "erp" if h.crm is not None else "crm"  # `when` looks at the source record (docs/flow-suppliers.md)
        for k in h.when:
            out.append(NameUse(src, k, base + ("header", i, "when", k), "header condition"))
    if e.erp.route is not None and e.erp.route.parent is not None:
        # `by` is the parent's field (the deal's seller), checked on the parent (engine/names.py); the link is ours
        out.append(NameUse("crm", e.erp.route.parent.field, base + ("erp", "route", "parent", "field"), "route"))
    elif e.erp.route is not None and e.erp.route.by:
        out.append(NameUse("crm", e.erp.route.by, base + ("erp", "route", "by"), "route"))
    for i, wb in enumerate(e.write_back):
        out.append(NameUse("crm", wb.crm, base + ("write_back", i, "crm"), "write-back"))
        out.append(NameUse("erp", wb.erp, base + ("write_back", i, "erp"), "write-back"))
    if e.rows is not None:
        out += _row_names(base + ("rows",), e)
    cc = e.credit_control
    if cc is not None:
        cp = base + ("credit_control",)
        out.append(NameUse("erp", cc.debt, cp + ("debt",), "debt"))
        if cc.overdue:
            out.append(NameUse("erp", cc.overdue, cp + ("overdue",), "overdue debt"))
        if cc.limit.erp:
            out.append(NameUse("erp", cc.limit.erp, cp + ("limit", "erp"), "credit limit"))
        if cc.overdue_forbidden:
            out.append(NameUse("erp", cc.overdue_forbidden, cp + ("overdue_forbidden",), "no-overdue flag"))
    return out


def _row_names(rp: Path_, e: Entity) -> list[NameUse]:
    """The ERP side of ``rows``: the tabular section on the document, its row fields as ``<section>/<field>``
    (the 1C adapter describes rows that way), the document total and the prices-include-VAT flag."""
    r = e.rows
    assert r is not None
    tab = r.erp
    out = [NameUse("erp", tab, rp + ("erp",), "tabular section")]
    m = r.money
    row: list[tuple[str | None, Path_]] = [
        (r.product.erp if r.product_entity else None, ("product", "erp")), (m.quantity.erp, ("money", "quantity", "erp")),
        (m.price.erp, ("money", "price", "erp")), (m.vat_rate.erp, ("money", "vat_rate", "erp")),
        (m.sum, ("money", "sum")), (m.vat_sum, ("money", "vat_sum")), (m.total, ("money", "total")),
        (r.line_number, ("line_number",))]
    text = getattr(r.free_text, "text", None)
    if text:
        row.append((text, ("free_text", "text")))
    row += [(f.erp, ("fields", j, "erp")) for j, f in enumerate(r.fields)]
    out += [NameUse("erp", f"{tab}/{n}", rp + sub, "row field") for n, sub in row if n]
    if r.document_total:
        out.append(NameUse("erp", r.document_total, rp + ("document_total",), "document total"))
    if m.header_flag:
        out.append(NameUse("erp", m.header_flag, rp + ("money", "header_flag"), "prices-include-VAT flag"))
    return out

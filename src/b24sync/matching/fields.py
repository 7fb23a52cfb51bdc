"""Which fields of a spec entity are the evidence the matcher reads: name, INN, KPP, phones, e-mails, address."""

from __future__ import annotations

from typing import Any

from b24sync.spec.models import Entity, Side

_NAME_FIELDS_CRM = ("TITLE", "title", "NAME", "name", "COMPANY_TITLE")
_NAME_FIELDS_ERP = ("Description", "Наименование", "НаименованиеПолное", "name", "title", "Name", "NAME")
# Fields that hold an INN whatever the spec's `normalize` says (a flow's own block may say `digits`): checked always.
INN_FIELDS = frozenset({"RQ_INN", "ИНН", "inn", "INN", "Inn", "vat", "VAT", "UF_CRM_INN"})
KPP_FIELDS = frozenset({"RQ_KPP", "КПП", "kpp", "KPP", "Kpp", "UF_CRM_KPP"})
# Default evidence fields when the spec's `dedupe` block names none (CRM card fields, 1C / Odoo / SQL names).
EVIDENCE_FIELDS: dict[str, tuple[str, ...]] = {
    "phones": ("PHONE", "phone", "Phone", "Телефон", "RQ_PHONE", "mobile"),
    "emails": ("EMAIL", "email", "Email", "ЭлектроннаяПочта", "RQ_EMAIL"),
    "address": ("ADDRESS", "RQ_ADDR", "address", "Address", "АдресЮридический", "ЮридическийАдрес", "Адрес",
                "street"),
}


def name_fields(entity: Entity) -> tuple[str | None, str | None]:
    """The company-name field on each side: a ``normalize: name`` match part, else the mapped title field."""
    for r in entity.match:
        for p in r.keys:
            if p.normalize == "name":
                return p.crm, p.erp
    for f in entity.fields:
        if f.crm in _NAME_FIELDS_CRM or f.erp in _NAME_FIELDS_ERP:
            return f.crm, f.erp
    return None, None


def is_inn_part(p: Any) -> bool:
    return p.normalize == "inn" or p.crm in INN_FIELDS or p.erp in INN_FIELDS


def evidence_fields(entity: Entity, side: Side) -> dict[str, list[str]]:
    """Which fields of a record are the name, INN, KPP, phones, e-mails and address (spec ``dedupe`` first)."""
    dd = entity.dedupe
    out: dict[str, list[str]] = {}
    for kind in ("phones", "emails", "address"):
        declared = getattr(dd, kind, None) if dd else None
        out[kind] = [declared.crm if side == "crm" else declared.erp] if declared else list(EVIDENCE_FIELDS[kind])
    inn = [p.crm if side == "crm" else p.erp for r in entity.match for p in r.keys if is_inn_part(p)]
    kpp = [p.crm if side == "crm" else p.erp for r in entity.match for p in r.keys
           if p.crm in KPP_FIELDS or p.erp in KPP_FIELDS]
    out["inn"] = inn or sorted(INN_FIELDS)
    out["kpp"] = kpp or sorted(KPP_FIELDS)
    return out

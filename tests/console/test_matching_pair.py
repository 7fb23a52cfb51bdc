"""A CRM/ERP SQL pair whose company entity holds likely duplicates before a create (``dedupe.before_create``)."""

from __future__ import annotations

from pathlib import Path

from tests.flows.pair import sql, write_spec

DEDUPE = """    dedupe:
      before_create: hold
      phones: {crm: phone, erp: phone}
"""


def dedupe_spec(tmp: Path) -> Path:
    p = write_spec(tmp, direction="crm_to_erp")
    for db, table in (("crm.db", "company"), ("erp.db", "counterparty")):
        sql(tmp / db, f"alter table {table} add column phone varchar")
    text = p.read_text(encoding="utf-8").replace("    link: {crm: erp_id, erp: crm_id}\n",
                                                 "    link: {crm: erp_id, erp: crm_id}\n" + DEDUPE)
    p.write_text(text, encoding="utf-8")
    return p

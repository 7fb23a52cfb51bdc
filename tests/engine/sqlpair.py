"""Two exchange-table databases (an "ERP" and a "CRM") for engine tests, driven through the sql connector."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, create_engine, insert

SPEC = """
name: engine test — two exchange tables
systems:
  crm:
    type: sql
    role: crm
    url: sqlite:///{crm}
    tables:
      company: {{table: company, id: id, modified: modified, version: version}}
  erp:
    type: sql
    role: erp
    url: sqlite:///{erp}
    tables:
      counterparty: {{table: counterparty, id: id, modified: modified, version: version}}
defaults:
  lease: {lease}
  poll_overlap: 5s
  poll_page: {page}
  workers: {workers}
  retry: {{max_attempts: 5, base_seconds: 0.05, max_seconds: 0.5}}
entities:
  company:
    title: Counterparties
    master: erp
    direction: {direction}
    crm: {{object: company}}
    erp: {{object: counterparty}}
    match:{match}
    link: {{crm: erp_id, erp: crm_id}}
    fields:
      - {{crm: title, erp: name}}
      - {{crm: inn, erp: inn}}
      - {{crm: kpp, erp: kpp}}
      - {{crm: status, erp: status, transform: {{map: {{active: A, closed: C}}}}}}
      - {{crm: note, erp: note, owner: {note_owner}}}
    triggers:
      - poll: 1s
      - webhook: ONCRMCOMPANYUPDATE
    guards:
      - skip_if: {{side: erp, field: note, values: [NOSYNC]}}
"""


def make_tables(path: Path, table: str, link: str) -> None:
    eng = create_engine(f"sqlite:///{path}")
    md = MetaData()
    Table(table, md, Column("id", Integer, primary_key=True, autoincrement=True), Column("name", String),
          Column("title", String), Column("inn", String), Column("kpp", String), Column("status", String), Column("note", String),
          Column(link, String), Column("modified", DateTime(timezone=True)), Column("version", Integer))
    md.create_all(eng)
    eng.dispose()


INN_ONLY = "\n      - {crm: inn, erp: inn, normalize: inn}"
BRANCHES = ("\n      - keys: [{crm: inn, erp: inn, normalize: inn}, {crm: kpp, erp: kpp}]"
            "\n      - {crm: inn, erp: inn, normalize: inn}")


def write_spec(tmp: Path, *, direction: str = "erp_to_crm", lease: str = "30s", page: int = 500, workers: int = 8,
               note_owner: str = "erp", match: str = INN_ONLY) -> Path:
    crm, erp = tmp / "crm.db", tmp / "erp.db"
    if not crm.exists():
        make_tables(crm, "company", "erp_id")
        make_tables(erp, "counterparty", "crm_id")
    p = tmp / "spec.yaml"
    p.write_text(SPEC.format(crm=crm, erp=erp, lease=lease, page=page, workers=workers, direction=direction,
                             note_owner=note_owner, match=match), encoding="utf-8")
    return p


def seed_erp(tmp: Path, n: int, start: int = 1) -> None:
    eng = create_engine(f"sqlite:///{tmp / 'erp.db'}")
    md = MetaData()
    t = Table("counterparty", md, autoload_with=eng)
    now = datetime.now(UTC)
    with eng.begin() as c:
        c.execute(insert(t), [
            {"id": i, "name": f"ООО Ромашка {i}", "inn": inn(i), "status": "active", "note": f"n{i}", "modified": now,
             "version": 1}
            for i in range(start, start + n)
        ])
    eng.dispose()


def inn(i: int) -> str:
    """A valid 10-digit INN built from a counter (check digit per the published algorithm)."""
    base = f"77{i:07d}"
    w = [2, 4, 10, 3, 5, 9, 4, 6, 8]
    return base + str(sum(int(d) * k for d, k in zip(base, w, strict=True)) % 11 % 10)

"""Two exchange-table databases (CRM ``company``, ERP ``counterparty``) with INN + KPP, for the initial-load tests.

Same style as tests/engine/sqlpair.py, plus a KPP column and the two match rules real specs use
(INN + KPP for branches, then INN alone for sole traders and head offices without a KPP)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, create_engine, insert, text

SPEC = """
name: initial load test — two exchange tables
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
  poll_overlap: 5s
  poll_page: {page}
  workers: 8
  retry: {{max_attempts: 3, base_seconds: 0.05, max_seconds: 0.2}}
entities:
  company:
    title: Counterparties
    master: erp
    direction: {direction}
    crm: {{object: company}}
    erp: {{object: counterparty}}
    match:
      - keys: [{{crm: inn, erp: inn, normalize: inn}}, {{crm: kpp, erp: kpp}}]
        title: INN + KPP
      - {{crm: inn, erp: inn, normalize: inn}}
    link: {{crm: erp_id, erp: crm_id}}
    fields:
      - {{crm: title, erp: name, owner: {owner}}}
      - {{crm: inn, erp: inn, owner: {owner}}}
      - {{crm: kpp, erp: kpp, owner: {owner}}}
    triggers:
      - poll: 1s
"""


def _make(path: Path, table: str, name_col: str, link: str) -> None:
    eng = create_engine(f"sqlite:///{path}")
    md = MetaData()
    Table(table, md, Column("id", Integer, primary_key=True, autoincrement=True), Column(name_col, String),
          Column("inn", String), Column("kpp", String), Column(link, String),
          Column("modified", DateTime(timezone=True)), Column("version", Integer))
    md.create_all(eng)
    eng.dispose()


def write_spec(tmp: Path, *, direction: str = "both", page: int = 50, owner: str | None = None) -> Path:
    """``direction: both`` with fields owned by both sides (so a CRM-only company lands in the ERP with its data);
    the master (ERP) still wins for a linked pair."""
    crm, erp = tmp / "crm.db", tmp / "erp.db"
    if not crm.exists():
        _make(crm, "company", "title", "erp_id")
        _make(erp, "counterparty", "name", "crm_id")
    p = tmp / "spec.yaml"
    p.write_text(SPEC.format(crm=crm, erp=erp, page=page, direction=direction,
                                  owner=owner or ("both" if direction == "both" else direction.split("_")[0])), encoding="utf-8")
    return p


def insert_rows(path: Path, table: str, rows: Iterable[dict[str, Any]]) -> None:
    rows = list(rows)
    if not rows:
        return
    eng = create_engine(f"sqlite:///{path}")
    t = Table(table, MetaData(), autoload_with=eng)
    now = datetime.now(UTC)
    cols = [c.name for c in t.columns if c.name != "id"]
    with eng.begin() as c:
        c.execute(insert(t), [{**dict.fromkeys(cols), "modified": now, "version": 1, **r} for r in rows])
    eng.dispose()


def sql(path: Path, statement: str, **params: object) -> list:
    eng = create_engine(f"sqlite:///{path}")
    with eng.begin() as c:
        res = c.execute(text(statement), params)
        rows = res.all() if res.returns_rows else []
    eng.dispose()
    return rows


def inn10(i: int, region: str = "77") -> str:
    """A valid 10-digit INN from a counter (check digit per the published algorithm)."""
    base = f"{region}{i:07d}"
    w = [2, 4, 10, 3, 5, 9, 4, 6, 8]
    return base + str(sum(int(d) * k for d, k in zip(base, w, strict=True)) % 11 % 10)


def broken(inn: str) -> str:
    """The same INN with a wrong check digit."""
    return inn[:-1] + str((int(inn[-1]) + 1) % 10)

"""Test helper: small SQLite tables standing in for a CRM or an ERP behind the sql connector."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, create_engine


def make_table(db_file: Path, table: str, columns: tuple[str, ...], *, modified: str = "m",
               timezone: bool = False) -> None:
    """``table`` with an integer id, string ``columns`` and a change-time column ``modified``."""
    eng = create_engine(f"sqlite:///{db_file}")
    Table(table, MetaData(), Column("id", Integer, primary_key=True), *[Column(c, String) for c in columns],
          Column(modified, DateTime(timezone=timezone))).create(eng)
    eng.dispose()


def crm_and_erp(tmp: Path, *, timezone: bool = False) -> tuple[Path, Path]:
    """crm.db (company: title, inn, erp_id) and erp.db (cp: name, inn) — the pair the bus/console tests sync."""
    make_table(tmp / "crm.db", "company", ("title", "inn", "erp_id"), timezone=timezone)
    make_table(tmp / "erp.db", "cp", ("name", "inn"), timezone=timezone)
    return tmp / "crm.db", tmp / "erp.db"


def valid_inn(i: int) -> str:
    """The i-th 10-digit INN with correct check digits (engine match keys on an INN are check-digit validated)."""
    from b24sync.sandbox.bitrix24.model import checksum_inn

    return checksum_inn(f"77{i:07d}")

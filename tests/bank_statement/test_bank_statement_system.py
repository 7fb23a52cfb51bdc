"""``type: bank-statement``: a watched folder of statements as a read-only payment source."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from b24sync.connectors.bank_statement.system import BankStatementSystem
from b24sync.connectors.registry import build_adapter
from b24sync.engine.errors import PermanentError
from b24sync.engine.ports import ChangeCursor, ObjectRef
from b24sync.sandbox.bank import sample_statement

PAYMENTS = ObjectRef("payments")


def poll_all(s: BankStatementSystem, obj: ObjectRef = PAYMENTS, cursor: ChangeCursor | None = None):  # type: ignore[no-untyped-def]
    out, cur = [], cursor or ChangeCursor()
    while True:
        page = asyncio.run(s.read_changes(obj, cur, overlap_seconds=0, limit=3))
        out += page.records
        cur = page.cursor
        if not page.more:
            return out, cur


def system(tmp_path: Path) -> BankStatementSystem:
    a = build_adapter("bank", "bank-statement", {"folder": str(tmp_path / "in")})
    assert isinstance(a, BankStatementSystem)
    return a


def test_overlapping_statements_and_a_file_dropped_twice_give_each_payment_once(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_bytes(sample_statement(10, seed=3))
    (tmp_path / "in" / "b.txt").write_bytes(sample_statement(6, seed=3))  # the first 6 of a.txt again
    s = system(tmp_path)
    recs, cur = poll_all(s)
    assert len(recs) == 10 and len({r.id for r in recs}) == 10
    (tmp_path / "in" / "a.txt").write_bytes(sample_statement(10, seed=3))  # re-sent with the same name
    again, _ = poll_all(s, cursor=cur)
    assert again == []
    archived = sorted(p.name for p in (tmp_path / "in" / "archive").iterdir())
    assert len(archived) == 3 and "a.txt" in archived and "b.txt" in archived  # the re-sent one kept beside
    restarted = system(tmp_path)  # the payments are on disk: a restart re-reads nothing twice
    assert asyncio.run(restarted.get(PAYMENTS, recs[0].id)) is not None


def test_a_broken_statement_is_rejected_whole_with_its_reason_and_imports_nothing(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    raw = sample_statement(4, seed=5).replace("Сумма=".encode("cp1251"), "Сумма=abc".encode("cp1251"), 1)
    (tmp_path / "in" / "bad.txt").write_bytes(raw)
    s = system(tmp_path)
    recs, _ = poll_all(s)
    assert recs == []
    reason = (tmp_path / "in" / "rejected" / "bad.txt.reason.txt").read_text(encoding="utf-8")
    assert "Сумма" in reason


def test_payment_values_and_a_statement_is_never_written_to(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "s.txt").write_bytes(sample_statement(2, seed=9))
    s = system(tmp_path)
    recs, _ = poll_all(s)
    v = recs[0].values
    assert v["Направление"] == "incoming" and v["Сумма"].count(".") == 1 and len(v["ПлательщикИНН"]) == 10
    assert asyncio.run(s.find(PAYMENTS, {"КлючПлатежа": v["КлючПлатежа"]}))[0].id == recs[0].id
    assert poll_all(s, ObjectRef("payments.outgoing"))[0] == []
    with pytest.raises(PermanentError, match="read-only"):
        asyncio.run(s.create(PAYMENTS, {"Сумма": "1"}))


def test_a_missing_folder_is_a_clear_error() -> None:
    with pytest.raises(PermanentError, match="folder"):
        build_adapter("bank", "bank-statement", {})

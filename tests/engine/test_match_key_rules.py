"""Issue 12.6: a `require_valid` guard's (Russian) message holds a record whose match key fails its check
(`normalize: inn`) instead of a dead letter at the matching step. Issue 12.10: `without_match_key` declares what
happens to a source record with no match key value — park (default), create, or skip with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from b24sync.connectors.registry import build_adapter
from b24sync.engine.service import build_runtime
from b24sync.spec.loader import load_spec
from b24sync.store.models import DeadLetter
from tests.engine.sqlpair import inn, seed_erp, write_spec
from tests.engine.test_rules import once, sql

GUARD = """
      - require_valid:
          side: erp
          message: Контрагент не передаётся, пока реквизиты не исправлены
          checks:
            - {field: inn, check: inn, label: ИНН, required: true}
"""


def _rt(tmp_path: Path, store_url: str, *, extra_guard: str = "", entity_keys: str = ""):  # type: ignore[no-untyped-def]
    p = write_spec(tmp_path)
    text = p.read_text(encoding="utf-8")
    text = text.replace("      - skip_if: {side: erp, field: note, values: [NOSYNC]}\n",
                        "      - skip_if: {side: erp, field: note, values: [NOSYNC]}\n" + extra_guard.lstrip("\n"))
    if entity_keys:
        text = text.replace("    master: erp\n", f"    master: erp\n    {entity_keys}\n", 1)
    p.write_text(text, encoding="utf-8")
    return build_runtime(load_spec(p), build_adapter, database_url=store_url)


def _entries(rt):  # type: ignore[no-untyped-def]
    with rt.db.connect() as c:
        return c.execute(select(DeadLetter)).all()


def test_require_valid_message_holds_a_bad_match_key(tmp_path: Path, store_url: str) -> None:
    rt = _rt(tmp_path, store_url, extra_guard=GUARD)
    seed_erp(tmp_path, 2)
    bad = inn(2)[:-1] + str((int(inn(2)[-1]) + 1) % 10)
    sql(tmp_path / "erp.db", "update counterparty set inn = :inn where id = 2", inn=bad)
    s = once(rt)
    assert s.actions == {"created": 1} and s.dead == 0 and s.held == 1
    (entry,) = _entries(rt)
    assert entry.kind == "held" and entry.reason.startswith("Контрагент не передаётся, пока реквизиты не исправлены")
    assert "ИНН" in entry.reason


def test_without_a_guard_a_bad_match_key_is_still_a_dead_letter(tmp_path: Path, store_url: str) -> None:
    rt = _rt(tmp_path, store_url)
    seed_erp(tmp_path, 1)
    sql(tmp_path / "erp.db", "update counterparty set inn = '7700000001' where id = 1")
    s = once(rt)
    assert s.dead == 1 and s.held == 0


@pytest.mark.parametrize("policy", [None, "park"])
def test_without_match_key_park_is_the_default(policy: str | None, tmp_path: Path, store_url: str) -> None:
    rt = _rt(tmp_path, store_url, entity_keys=f"without_match_key: {policy}" if policy else "")
    assert rt.spec.entities["company"].without_match_key == "park"
    seed_erp(tmp_path, 2)
    sql(tmp_path / "erp.db", "update counterparty set inn = NULL where id = 2")
    s = once(rt)
    assert s.actions == {"created": 1} and s.dead == 1
    (entry,) = _entries(rt)
    assert "не заполнен ключ сопоставления" in entry.reason  # Russian by default (messages.py sync.no_match_key)


def test_without_match_key_create_creates_and_links(tmp_path: Path, store_url: str) -> None:
    rt = _rt(tmp_path, store_url, entity_keys="without_match_key: create")
    seed_erp(tmp_path, 2)
    sql(tmp_path / "erp.db", "update counterparty set inn = NULL where id = 2")
    assert once(rt).actions == {"created": 2}
    assert sql(tmp_path / "crm.db", "select erp_id from company order by erp_id") == [("1",), ("2",)]
    assert once(rt).done == 0  # linked: the next cycle neither duplicates nor re-creates it
    assert sql(tmp_path / "crm.db", "select count(*) from company")[0][0] == 2


def test_without_match_key_skip_logs_the_reason_and_waits_for_a_change(tmp_path: Path, store_url: str) -> None:
    rt = _rt(tmp_path, store_url, entity_keys="without_match_key: skip")
    seed_erp(tmp_path, 2)
    sql(tmp_path / "erp.db", "update counterparty set inn = NULL where id = 2")
    s = once(rt)
    assert s.actions.get("created") == 1 and s.actions.get("skipped") == 1 and s.dead == 0
    assert not _entries(rt)
    assert sql(tmp_path / "crm.db", "select count(*) from company")[0][0] == 1
    sql(tmp_path / "erp.db", "update counterparty set inn = :inn, modified = datetime('now', '+2 second'), "
        "version = version + 1 where id = 2", inn=inn(2))
    assert once(rt).actions.get("created") == 1  # filled in: synced

"""Absent is not empty: a mapped source field the record does not carry (renamed or removed in the live system, a
typo that slipped through) is never written to the target as None; a field present and empty is."""

from __future__ import annotations

from pathlib import Path

from b24sync.engine.mapper import map_record
from b24sync.spec.loader import load_spec
from tests.engine.sqlpair import write_spec


def test_a_field_missing_from_the_record_is_left_alone_on_the_target(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path))
    entity = spec.entities["company"]
    values = {"name": "ООО Ромашка", "inn": "7707083893", "kpp": None, "status": "active"}  # no `note` at all
    out = map_record(spec, entity, "erp", values, for_create=False)
    assert "note" not in out  # absent: not touched
    assert "kpp" in out and out["kpp"] is None  # present and empty: cleared on the target
    assert out["title"] == "ООО Ромашка"

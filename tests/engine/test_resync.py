"""``b24sync resync``: re-reads both sides and repairs drift that polls cannot see (a value changed behind our back
without a change stamp, a record deleted on the target), writes nothing the second time, and ``--id`` repairs one."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from b24sync.cli.main import app
from tests.engine.sqlpair import seed_erp, write_spec


@pytest.fixture
def pair(tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("B24SYNC_DATABASE_URL", store_url)
    monkeypatch.setenv("B24SYNC_NO_PROGRESS", "1")
    spec = write_spec(tmp_path, page=7)
    seed_erp(tmp_path, 30)
    r = CliRunner().invoke(app, ["run", "--spec", str(spec), "--once", "--no-serve"])
    assert r.exit_code == 0, r.output
    return spec, create_engine(f"sqlite:///{tmp_path / 'crm.db'}")


def _crm(crm, sql: str, **kw):  # type: ignore[no-untyped-def]
    with crm.begin() as c:
        return c.execute(text(sql), kw)


def _titles(crm) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {str(e): t for e, t in _crm(crm, "select erp_id, title from company").all()}


def test_resync_repairs_drift_polls_cannot_see_and_a_second_resync_writes_nothing(pair) -> None:  # type: ignore[no-untyped-def]
    spec, crm = pair
    good = _titles(crm)
    assert len(good) == 30
    _crm(crm, "update company set title = 'ИСПОРЧЕНО' where erp_id in ('1','2','3','4','5')")  # no change stamp
    _crm(crm, "delete from company where erp_id in ('6','7')")
    r = CliRunner().invoke(app, ["run", "--spec", str(spec), "--once", "--no-serve"])
    assert r.exit_code == 0 and sum(t == "ИСПОРЧЕНО" for t in _titles(crm).values()) == 5  # a poll sees nothing

    r = CliRunner().invoke(app, ["resync", "company", "--spec", str(spec)])
    assert r.exit_code == 0, r.output
    assert "read 30 from erp" in r.output and "30 record(s) to compare" in r.output
    assert "read 7 from erp" in r.output  # progress per page
    assert "7 repaired" in r.output and "updated 5" in r.output and "recreated 2" in r.output, r.output
    assert _titles(crm) == good
    assert _crm(crm, "select count(*), count(distinct erp_id) from company").one() == (30, 30)

    r = CliRunner().invoke(app, ["resync", "company", "--spec", str(spec)])
    assert r.exit_code == 0, r.output
    assert "0 repaired" in r.output and "unchanged 30" in r.output, r.output


def test_resync_with_id_repairs_only_that_record(pair) -> None:  # type: ignore[no-untyped-def]
    spec, crm = pair
    _crm(crm, "update company set title = 'ИСПОРЧЕНО' where erp_id in ('3','4')")
    r = CliRunner().invoke(app, ["resync", "company", "--spec", str(spec), "--id", "3"])
    assert r.exit_code == 0, r.output
    assert "read 1 from erp" in r.output and "1 repaired" in r.output, r.output
    t = _titles(crm)
    assert t["3"] != "ИСПОРЧЕНО" and t["4"] == "ИСПОРЧЕНО"


def test_resync_refuses_an_unknown_entity_or_side(pair) -> None:  # type: ignore[no-untyped-def]
    spec, _ = pair
    r = CliRunner().invoke(app, ["resync", "nosuch", "--spec", str(spec)])
    assert r.exit_code == 2 and "not in" in r.output
    r = CliRunner().invoke(app, ["resync", "company", "--spec", str(spec), "--side", "crm"])
    assert r.exit_code == 2 and "does not flow from the crm side" in r.output, r.output

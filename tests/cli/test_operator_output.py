"""Issue 12 items 7, 8 and 13 (and issue 13's `dead` half): every command names its store, a dry run writes
nothing, a failure is one line with its fix and exit 2 (a traceback only with -v), one broken entity does not stop
the others, Alembic stays quiet, times are UTC with Z, `dead` groups by reason and speaks JSON, and tables keep every
line at 160 columns."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import func, select
from typer.testing import CliRunner

from b24sync.cli import run as run_cli
from b24sync.cli.main import app
from b24sync.store import queue as q
from b24sync.store.db import make_engine, migrate
from b24sync.store.models import DeadLetter, EntityState, Link
from tests.flows.pair import insert_rows, write_spec

runner = CliRunner()


def _store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path}/state.db"
    monkeypatch.setenv("B24SYNC_DATABASE_URL", url)
    db = make_engine(url)
    migrate(db)
    return db


def _park(db, n: int, reason: str, *, entity: str = "company", kind: str = "dead", times: int = 1) -> None:  # type: ignore[no-untyped-def]
    for i in range(n):
        for _ in range(times):
            with db.begin() as c:
                q.enqueue(c, kind="sync", entity=entity, lane=f"{entity}:erp:{reason[:5]}{i}",
                          payload={"side": "erp", "id": f"{reason[:5]}{i}"})
            (job,) = q.claim(db, "w", limit=1, lease_seconds=30)
            with db.begin() as c:
                q.park(c, job, kind=kind, reason=reason.replace("#", str(7700000000 + i)), error_type="ValidationError")


def test_every_store_command_names_its_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _store(tmp_path, monkeypatch)
    for cmd in (["status"], ["dead"], ["status", "--json"], ["dead", "--json"]):
        res = runner.invoke(app, cmd)
        assert res.exit_code == 0, res.output
        assert f"store: SQLite {tmp_path / 'state.db'}" in res.stderr
    assert json.loads(runner.invoke(app, ["status", "--json"]).stdout)["entities"] == []  # stdout stays pure JSON


def test_status_on_a_missing_store_says_where_it_looked_and_creates_nothing(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("B24SYNC_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["status"])
    assert res.exit_code == 2 and "no store at" in res.stderr and "B24SYNC_DATABASE_URL" in res.stderr
    assert not (tmp_path / ".b24sync").exists()


def test_dry_run_creates_no_file_and_changes_no_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = write_spec(tmp_path)
    insert_rows(tmp_path / "erp.db", "counterparty", [{"id": i, "name": f"ООО Ромашка {i}", "inn": inn} for i, inn in
                                                       enumerate(("7707083893", "7736207543", "5024002119"), 1)])
    insert_rows(tmp_path / "crm.db", "company", [{"id": 1, "title": "Ромашка", "inn": "7707083893"}])
    monkeypatch.delenv("B24SYNC_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    files = sorted(p.name for p in tmp_path.rglob("*"))
    res = runner.invoke(app, ["initial-load", "company", "--spec", str(spec), "--dry-run"])
    assert res.exit_code == 0, res.output
    assert "dry run" in res.stderr and "store: SQLite" in res.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == files  # no .b24sync/, no state.db, nothing

    # With a real store that has a link already: that link still counts as matched, and not one row changes.
    url = f"sqlite:///{tmp_path}/real.db"
    monkeypatch.setenv("B24SYNC_DATABASE_URL", url)
    db = make_engine(url)
    migrate(db)
    now = datetime.now(UTC)
    with db.begin() as c:
        c.execute(Link.__table__.insert().values(entity="company", crm_id="1", erp_id="1", match_key="inn:7707083893",
                                                 created_at=now, updated_at=now))
    db.dispose()
    before = (tmp_path / "real.db").read_bytes()
    out = tmp_path / "r.json"
    res = runner.invoke(app, ["initial-load", "company", "--spec", str(spec), "--dry-run", "--report", str(out)])
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text(encoding="utf-8"))["totals"]["matched"] == 2  # the linked pair: two records
    assert (tmp_path / "real.db").read_bytes() == before
    assert not list(tmp_path.glob("real.db-*"))  # no WAL or journal left by a writer


def _ghost_spec(tmp_path: Path) -> Path:
    """The test pair plus an entity whose ERP table does not exist (a wrong entity-set name in its kind)."""
    spec = write_spec(tmp_path)
    text = spec.read_text(encoding="utf-8")
    text = text.replace("      counterparty: {table: counterparty,",
                        "      ghost: {table: no_such_table, id: id, modified: modified, version: version}\n"
                        "      counterparty: {table: counterparty,")
    text += """  ghost:
    master: erp
    direction: erp_to_crm
    crm: {object: company}
    erp: {object: ghost}
    match: [{crm: inn, erp: inn}]
    link: {crm: erp_id, erp: crm_id}
    fields:
      - {crm: title, erp: name}
    triggers:
      - poll: 1s
"""
    spec.write_text(text, encoding="utf-8")
    return spec


def test_a_broken_entity_does_not_stop_the_others(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _store(tmp_path, monkeypatch)
    spec = _ghost_spec(tmp_path)
    insert_rows(tmp_path / "erp.db", "counterparty", [{"id": 1, "name": "ООО Ромашка", "inn": "7707083893"}])
    res = runner.invoke(app, ["run", "--once", "--spec", str(spec), "--no-serve"])
    assert res.exit_code == 2, res.output
    assert "created 1" in res.stdout  # the healthy entity synced
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "entity ghost" in lines[0] and "erp side" in lines[0]
    assert "Traceback" not in res.output


def test_unreachable_crm_is_one_line_with_the_fix_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec = tmp_path / "b.yaml"
    spec.write_text(f"""
name: unreachable
systems:
  b24: {{type: bitrix24, role: crm, webhook_url: "http://127.0.0.1:{port}/rest/1/abcdefgh/"}}
  erp: {{type: sql, role: erp, url: "sqlite:///{tmp_path}/erp.db", tables: {{counterparty: {{table: counterparty, id: id, modified: modified, version: version}}}}}}
entities:
  company:
    master: erp
    direction: crm_to_erp
    crm: {{object: crm.company}}
    erp: {{object: counterparty}}
    match: [{{crm: TITLE, erp: name}}]
    link: {{crm: UF_CRM_ERP_ID, erp: crm_id}}
    fields: [{{crm: TITLE, erp: name, owner: crm}}]
    triggers: [{{poll: 1m}}]
""", encoding="utf-8")
    write_spec(tmp_path)  # creates erp.db
    env = {**os.environ, "B24SYNC_DATABASE_URL": f"sqlite:///{tmp_path}/state.db", "B24SYNC_NO_PROGRESS": "1"}
    p = subprocess.run([sys.executable, "-m", "b24sync.cli.main", "run", "--once", "--spec", str(spec), "--no-serve"],
                       env=env, capture_output=True, text=True, timeout=240)
    assert p.returncode == 2, p.stderr[-3000:]
    errors = [ln for ln in p.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "not reachable" in errors[0] and "check its URL" in errors[0], p.stderr
    assert "Traceback" not in p.stderr and "abcdefgh" not in p.stderr  # no traceback, no webhook secret
    assert "Context impl" not in p.stderr and "non-transactional DDL" not in p.stderr  # Alembic is quiet


def test_an_unexpected_error_is_one_line_and_minus_v_shows_the_traceback(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _store(tmp_path, monkeypatch)

    def boom(*_a, **_k):  # type: ignore[no-untyped-def]
        raise ConnectionRefusedError("connection refused")

    monkeypatch.setattr(run_cli.jobs, "status", boom)
    res = runner.invoke(app, ["status"])
    assert res.exit_code == 2 and res.exception is None or isinstance(res.exception, SystemExit)
    assert "error:" in res.stderr and "not reachable" in res.stderr
    res = runner.invoke(app, ["-v", "status"])
    assert isinstance(res.exception, ConnectionRefusedError)  # -v: the real exception (and its traceback)


def test_migrations_are_quiet_unless_verbose(tmp_path: Path) -> None:
    env = {**os.environ, "B24SYNC_DATABASE_URL": f"sqlite:///{tmp_path}/s.db", "B24SYNC_NO_PROGRESS": "1"}
    spec = write_spec(tmp_path)
    p = subprocess.run([sys.executable, "-m", "b24sync.cli.main", "run", "--once", "--spec", str(spec), "--no-serve"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "Context impl" not in p.stderr + p.stdout and "non-transactional" not in p.stderr + p.stdout
    p = subprocess.run([sys.executable, "-m", "b24sync.cli.main", "run", "--once", "--spec", str(spec), "--no-serve",
                        "-v"], env={**env, "B24SYNC_DATABASE_URL": f"sqlite:///{tmp_path}/s2.db"},
                       capture_output=True, text=True, timeout=120)
    assert "Context impl" in p.stderr + p.stdout


def test_status_shows_every_time_in_utc_with_z() -> None:
    msk = timezone(timedelta(hours=3))
    assert run_cli.utc_text(datetime(2026, 1, 2, 15, 0, tzinfo=msk)) == "2026-01-02T12:00:00Z"
    assert run_cli.utc_text(datetime(2026, 1, 2, 12, 0)) == "2026-01-02T12:00:00Z"  # naive from SQLite = UTC
    assert run_cli.utc_text("2026-01-02T15:00:00+03:00") == "2026-01-02T12:00:00Z"
    assert run_cli.utc_text("2026-01-02T15:00:00") == "2026-01-02T15:00:00 (system time)"  # a 1C local time, said so
    assert run_cli.utc_text(None) == "—"


def test_status_lists_paused_entities(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = _store(tmp_path, monkeypatch)
    with db.begin() as c:
        c.execute(EntityState.__table__.insert().values(entity="company", paused=True, reason="RQ_KPPP is gone",
                                                         since=datetime(2026, 1, 2, 9, 0, tzinfo=UTC)))
    res = runner.invoke(app, ["status"])
    assert "Paused entities" in res.stdout and "RQ_KPPP is gone" in res.stdout and "2026-01-02T09:00:00Z" in res.stdout
    js = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    assert js["paused"] == [{"entity": "company", "reason": "RQ_KPPP is gone", "since": "2026-01-02T09:00:00Z"}]


def test_dead_groups_by_reason_with_counts_and_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = _park_many(tmp_path, monkeypatch)
    js = json.loads(runner.invoke(app, ["dead", "--json"]).stdout)
    assert js["open"] == 7
    (inn, phone) = js["groups"]
    assert (inn["records"], inn["occurrences"], inn["kind"]) == (5, 10, "dead")  # one entry per record, counted twice
    assert all(e["count"] == 2 for e in inn["entries"]) and inn["last_seen"].endswith("Z")
    assert (phone["records"], phone["kind"], phone["entity"]) == (2, "held", "contact")
    res = runner.invoke(app, ["dead"])
    assert res.stdout.count("ИНН") == 1 and "by reason" in res.stdout  # one row for the five INN records
    flat = runner.invoke(app, ["dead", "--by-record"]).stdout
    with db.connect() as c:
        ids = [r for (r,) in c.execute(select(DeadLetter.id))]
    assert all(str(i) in flat for i in ids)


def _park_many(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    db = _store(tmp_path, monkeypatch)
    _park(db, 5, "ИНН #: контрольная цифра должна быть 3 — похоже на опечатку", times=2)
    _park(db, 2, "Заполните телефон контакта #", entity="contact", kind="held")
    with db.connect() as c:
        assert c.execute(select(func.count()).select_from(DeadLetter)).scalar_one() == 7
    return db


def test_tables_keep_every_line_at_160_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = _store(tmp_path, monkeypatch)
    long_reason = ("Реквизит: " + " ".join(f"слово{i}" for i in range(60)) + "\nвторая строка причины ПОСЛЕДНЕЕ")
    _park(db, 1, long_reason)
    for args in (["dead"], ["dead", "--by-record"]):
        buf = io.StringIO()
        monkeypatch.setattr(run_cli, "console", Console(file=buf, width=160, force_terminal=False))
        assert runner.invoke(app, args).exit_code == 0
        out = buf.getvalue()
        assert max(len(ln) for ln in out.splitlines()) <= 160
        flat = " ".join(out.split())
        for word in ("слово0", "слово30", "слово59", "ПОСЛЕДНЕЕ"):
            assert word in flat, (word, out)


def test_outcome_counts_are_words_not_dicts() -> None:
    from b24sync.engine.report import actions_text, explained

    assert actions_text({"updated": 31, "not_found": 30, "created": 0}) == (
        "updated 31, not_found 30 (INN not in the state register, nothing filled)")
    assert actions_text({}) == "no writes"
    assert [k for k, _, m in explained({"linked": 2, "created": 5}) if m] == ["created", "linked"]


def test_progress_is_quiet_when_not_a_terminal_or_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    from b24sync import progress

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("B24SYNC_NO_PROGRESS", raising=False)
    assert progress.progress_wanted()
    monkeypatch.setenv("CI", "true")
    assert not progress.progress_wanted()
    with progress.Progress() as p:  # disabled: every tick is a no-op
        assert not p.enabled
        p.task("x", total=3)(1)


def test_progress_bar_shows_counts_rate_and_eta(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio as aio

    from b24sync import progress

    monkeypatch.setattr(progress, "progress_wanted", lambda: True)
    with progress.Progress() as p:
        assert p.enabled
        tick = p.task("loading", total=10)
        seen = [10, 7, 4, 0]

        def depth() -> int:  # the queue drains 10 → 0, then stays empty
            return seen.pop(0) if len(seen) > 1 else seen[0]

        async def go() -> None:
            w = aio.ensure_future(progress.watch_queue(depth, tick, every=0.01))
            await aio.sleep(0.1)
            w.cancel()
            await aio.gather(w, return_exceptions=True)

        aio.run(go())
        (task,) = p.p.tasks
        assert task.completed == 10 and task.total == 10
        cols = [type(c).__name__ for c in p.p.columns]
        assert "MofNCompleteColumn" in cols and "TimeRemainingColumn" in cols and "rate" in str(task.fields)

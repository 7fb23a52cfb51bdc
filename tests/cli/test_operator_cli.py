"""Operator commands on a real store: status, dead, replay; and SIGTERM drains a running worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from b24sync.cli.main import app
from b24sync.store import queue as q
from b24sync.store.db import make_engine, migrate
from b24sync.store.models import Job
from tests.engine.sqlpair import seed_erp, write_spec

runner = CliRunner()


def test_status_dead_replay(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path}/state.db"
    monkeypatch.setenv("B24SYNC_DATABASE_URL", url)
    db = make_engine(url)
    migrate(db)
    with db.begin() as c:
        for i in range(3):
            q.enqueue(c, kind="sync", entity="company", lane=f"company:erp:{i}", payload={"side": "erp", "id": str(i)})
    (job,) = q.claim(db, "w", limit=1, lease_seconds=30)
    with db.begin() as c:
        q.park(c, job, kind="held", reason="fill in the INN", error_type="HoldError")

    st = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    (company,) = st["entities"]
    assert (company["pending"], company["held"], company["dead"]) == (2, 1, 0)
    out = runner.invoke(app, ["dead"]).output
    assert "fill in the INN" in out and "held" in out
    assert runner.invoke(app, ["replay"]).exit_code == 2  # must say which
    res = runner.invoke(app, ["replay", "--entity", "company"])
    assert res.exit_code == 0 and "replayed 1" in res.output
    with db.connect() as c:
        assert c.execute(select(func.count()).select_from(Job)).scalar_one() == 3


def test_replay_held_alone_replays_every_held_record(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`b24sync replay --held` is what the hold texts on the timeline and the flow docs tell the user to run: alone it
    replays every open held record (not the dead letters); an id that is not open says so."""
    url = f"sqlite:///{tmp_path}/state.db"
    monkeypatch.setenv("B24SYNC_DATABASE_URL", url)
    db = make_engine(url)
    migrate(db)
    with db.begin() as c:
        for ent, i in (("order", 1), ("payment", 2), ("company", 3)):
            q.enqueue(c, kind="sync", entity=ent, lane=f"{ent}:erp:{i}", payload={"side": "erp", "id": str(i)})
    claimed = q.claim(db, "w", limit=3, lease_seconds=30)
    with db.begin() as c:
        for job in claimed:
            if job.entity == "company":
                q.park(c, job, kind="dead", reason="1C answered 500", error_type="TransientError")
            else:
                q.park(c, job, kind="held", reason="waits for its link", error_type="HoldError")

    res = runner.invoke(app, ["replay", "--held"])
    assert res.exit_code == 0, res.output
    assert "replayed 2 held record(s)" in res.output
    st = {e["entity"]: e for e in json.loads(runner.invoke(app, ["status", "--json"]).stdout)["entities"]}
    assert st["order"]["held"] == 0 and st["payment"]["held"] == 0 and st["company"]["dead"] == 1
    assert st["order"]["pending"] == 1 and st["payment"]["pending"] == 1

    res = runner.invoke(app, ["replay", "999"])
    assert res.exit_code == 1 and "no open dead letter 999" in res.output


def test_reason_groups_keep_digits_that_belong_to_a_word() -> None:
    """`dead` groups reasons that differ in ids, numbers and quoted names; «1С» and «Битрикс24» are words, not counters
    (the JSON's `pattern` said «…С» and «Битрикс…»)."""
    from b24sync.cli.run import reason_group

    text = "Компания уйдёт в 1С, когда у неё появится договор или счёт — создайте его в Битрикс24 (НДС22)"
    assert reason_group(text) == text
    a = reason_group("Компания (ID 7) не связана с контрагентом 1С от 12.03.2026 (0a1b2c3d-0000-0000-0000-000000000000)")
    b = reason_group("Компания (ID 12) не связана с контрагентом 1С от 13.03.2026 (0a1b2c3d-0000-0000-0000-00000000000f)")
    assert a == b == "Компания (ID …) не связана с контрагентом 1С от ….….… (…)"


def test_sigterm_drains_in_flight_jobs(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, workers=16)
    seed_erp(tmp_path, 3000)
    url = f"sqlite:///{tmp_path}/state.db"
    p = subprocess.Popen([sys.executable, "-m", "b24sync.cli.main", "run", "--spec", str(spec), "--no-serve"],
                         env={**os.environ, "B24SYNC_DATABASE_URL": url}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    db = make_engine(url)
    deadline = time.time() + 60
    while time.time() < deadline:  # wait until it is busy
        time.sleep(0.3)
        try:
            with db.connect() as c:
                if c.execute(select(func.count()).select_from(Job).where(Job.state == "running")).scalar_one():
                    break
        except Exception:  # noqa: BLE001 - the store may not exist yet
            continue
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err.decode()[-2000:]
    assert b"done:" in out
    with db.connect() as c:  # nothing was abandoned mid-flight: no job is left leased
        assert c.execute(select(func.count()).select_from(Job).where(Job.state == "running")).scalar_one() == 0

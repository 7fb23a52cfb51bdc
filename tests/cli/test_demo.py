"""`b24sync demo --once` — the main job — runs on the sandboxes and exits 0 with its summary (issue 12.7, 12.13: a
readable table with every outcome explained, no Python dicts; the store named; its temp directory removed unless
--keep, and then the exact commands to look at it) — and plays the deal-to-cash story (issues 10, 16) with every
step's check held (the story step by step is tests/cli/test_demo_story.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest


@pytest.mark.slow(70)
def test_demo_once_exits_zero_with_a_summary(tmp_path) -> None:  # type: ignore[no-untyped-def]
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    p = subprocess.run([sys.executable, "-m", "b24sync.cli.main", "demo", "--once"], cwd=tmp_path,
                       env={**os.environ, "COLUMNS": "160", "TMPDIR": str(tmp)}, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    out = p.stdout
    assert "Full sync" in out and "Counterparties" in out and "Contacts" in out and "Catalogue" in out
    assert "Requisites by INN" in out and "ликвидирована" in out
    # nothing written (a record the last cycle wrote may be read once more inside the poll overlap: "unchanged")
    assert re.search(r"A cycle with nothing changed: \d+ job\(s\), (no writes|unchanged \d+)\.", out), out[-3000:]
    assert "0 QUERY_LIMIT_EXCEEDED" in out
    # the deal-to-cash story, each step read back from both systems, every check held
    assert "Deal to cash" in out and "✗" not in out, out[out.find("Deal to cash"):][:6000]
    assert "Deal to cash: 7 steps, every rule held; 0 of its records in the dead-letter or held list" in " ".join(
        out.split())
    flat = " ".join(out.split())
    assert re.search(r"→ 1C: order \S+ posted, status НеСогласован", flat)
    assert "stage «Счёт на предоплату» (PREPAYMENT_INVOICE)" in flat
    assert re.search(r"timeline: «Оплата [\d ]+ ₽ получена \d\d\.\d\d\.\d{4} \(документ № 245\)»", flat)
    assert "stage «В работе» (EXECUTING)" in flat and "stage «Оплачен» (DT31_2:P)" in flat
    assert "stage «Финальный счёт» (FINAL_INVOICE)" in flat
    assert not re.search(r"\{'[a-z_]+': \d+", out), "a Python dict in the demo's output"
    assert "what it means" in out and "created on the other side" in out
    if "not_found" in out:
        assert "not in the state register" in out
    assert re.search(r"store: \S+state\.db \(temporary", out)
    assert not list(tmp.glob("b24sync-demo-*")), "the demo left its temp directory behind"
    assert not (tmp_path / ".b24sync").exists()


@pytest.mark.slow(35)
def test_demo_keep_prints_the_commands_for_its_store(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    # the story is checked by test_demo_once_exits_zero_with_a_summary and tests/cli/test_demo_story.py
    p = subprocess.run([sys.executable, "-m", "b24sync.cli.main", "demo", "--once", "--keep", "--no-story"],
                       cwd=tmp_path,
                       env={**os.environ, "COLUMNS": "160", "TMPDIR": str(tmp)}, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    (kept,) = tmp.glob("b24sync-demo-*")
    line = next(ln.strip() for ln in p.stdout.splitlines() if "B24SYNC_DATABASE_URL=" in ln)
    url = line.split("=", 1)[1]
    assert url == f"sqlite:///{kept / 'state.db'}"
    st = subprocess.run([sys.executable, "-m", "b24sync.cli.main", "status"], cwd=tmp_path,
                        env={**os.environ, "B24SYNC_DATABASE_URL": url}, capture_output=True, text=True, timeout=60)
    assert st.returncode == 0 and "queue is empty" not in st.stdout and "Last successful poll" in st.stdout, st.stdout
    assert tempfile.gettempdir()  # (the kept directory is inside this test's tmp_path, removed with it)

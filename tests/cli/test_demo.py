"""`b24sync demo --once` — the main job — runs on the sandboxes and exits 0 with its summary."""

from __future__ import annotations

import os
import subprocess
import sys


def test_demo_once_exits_zero_with_a_summary(tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = subprocess.run([sys.executable, "-m", "b24sync.cli.main", "demo", "--once"], cwd=tmp_path,
                       env={**os.environ, "COLUMNS": "160"}, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    out = p.stdout
    assert "Full sync" in out and "Counterparties" in out and "Contacts" in out and "Catalogue" in out
    assert "Requisites by INN" in out and "ликвидирована" in out
    assert "A cycle with nothing changed: 0 job(s), no writes." in out
    assert "0 QUERY_LIMIT_EXCEEDED" in out

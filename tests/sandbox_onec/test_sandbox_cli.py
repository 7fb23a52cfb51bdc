"""Issue 12.11: `b24sync sandbox onec --state-file` saves the base on SIGTERM (not only Ctrl-C) and a restart serves
the same records with the same Ref_Keys; `--empty` starts without the demo seed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

SET = "Catalog_Контрагенты"


def _start(*args: str) -> tuple[subprocess.Popen, str]:
    p = subprocess.Popen([sys.executable, "-m", "b24sync.cli.main", "sandbox", "onec", "--port", "0", *args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    assert p.stdout is not None
    url = p.stdout.readline().strip()
    assert url.startswith("http"), p.stderr.read() if p.poll() is not None else url
    return p, url


def _keys(url: str) -> list[str]:
    r = httpx.get(f"{url}{SET}", params={"$format": "json", "$select": "Ref_Key"}, auth=("odata", "secret"), timeout=30)
    r.raise_for_status()
    return sorted(x["Ref_Key"] for x in r.json()["value"])


def test_state_is_saved_on_sigterm_and_restored_with_the_same_keys(tmp_path: Path) -> None:
    state = tmp_path / "onec.sqlite"
    p, url = _start("--state-file", str(state))
    try:
        before = _keys(url)
        assert before
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
    assert state.exists() and state.stat().st_size > 0
    p2, url2 = _start("--state-file", str(state))
    try:
        assert _keys(url2) == before  # the same base, not a fresh seed with new Ref_Keys
    finally:
        p2.send_signal(signal.SIGTERM)
        p2.wait(timeout=30)


def test_empty_starts_without_the_demo_seed() -> None:
    p, url = _start("--empty")
    try:
        assert _keys(url) == []
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)

"""The commands `b24sync demo` prints to poke at it work when pasted as printed (a newcomer's first contact): the
b24sync they name can be run from the shell (`make demo` runs `.venv/bin/b24sync`, not on PATH), and the 1C OData
curl reaches the 1C sandbox (a raw Cyrillic URL is refused by the server: "Invalid HTTP request received")."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from b24sync.cli.demo import _poke_commands
from b24sync.sandbox.onec.sandbox import OneCSandbox


def _commands(onec_url: str) -> list[str]:
    return _poke_commands("sqlite:////tmp/x/state.db", "http://127.0.0.1:1/rest/1/code/", onec_url, "odata",
                          "secret", "http://127.0.0.1:2", "demo-token", 8400, serving=True, keep=False)


def test_the_printed_b24sync_commands_can_be_run() -> None:
    lines = _commands("http://127.0.0.1:3/trade/odata/standard.odata/")
    runs = [ln for ln in lines if not ln.startswith(("export ", "curl "))]
    assert [ln.split(" ", 1)[1] for ln in runs] == ["status", "dead", "dead --json"]
    for ln in runs:
        exe = ln.split(" ", 1)[0]
        assert shutil.which(exe), f"{exe!r} from `{ln}` is not a command this shell can run"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_printed_onec_curl_reaches_the_sandbox() -> None:
    onec = OneCSandbox(user="odata", password="secret", seed="demo")
    url = onec.start()
    try:
        (line,) = [ln for ln in _commands(url) if "-u odata:secret" in ln]
        assert line.isascii(), line
        p = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        rows = json.loads(p.stdout)["value"]
        assert len(rows) == 3 and all({"Ref_Key", "Description", "ИНН"} <= set(r) for r in rows), p.stdout[:500]
    finally:
        onec.stop()

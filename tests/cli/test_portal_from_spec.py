"""`b24sync portal check|prepare SPEC`: what the spec needs from the portal, created once, then nothing missing —
for the 1c-odata starter against the Bitrix24 and 1C sandboxes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from b24sync.rehearsal.stand import start_stand
from b24sync.spec.loader import load_spec

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "1c-odata.yaml"


def _portal(cmd: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "b24sync.cli.main", "portal", cmd, str(EXAMPLE)], env=env,
                          capture_output=True, text=True, timeout=300)


def test_check_prepare_check() -> None:
    names = {n: f"x-{n}" for n in re.findall(r"\$\{([A-Z0-9_]+)", EXAMPLE.read_text("utf-8"))}
    stand = start_stand(load_spec(EXAMPLE, names))
    try:
        cfg = {n: s.config() for n, s in stand.apply(load_spec(EXAMPLE, names)).systems.items()}
        env = {**os.environ, "COLUMNS": "200", "B24_WEBHOOK_URL": cfg["bitrix24"]["webhook_url"],
               "ONEC_ODATA_URL": cfg["onec"]["url"], "ONEC_USER": str(cfg["onec"]["username"]),
               "ONEC_PASSWORD": str(cfg["onec"]["password"]), "B24_EVENT_TOKEN": "t"}
        first = _portal("check", env)
        assert first.returncode == 1 and "UF_CRM_ERP_ID" in first.stdout and "missing" in first.stdout, first
        made = _portal("prepare", env)
        assert made.returncode == 0 and made.stdout.count("created") >= 3, made.stdout + made.stderr
        again = _portal("check", env)
        assert again.returncode == 0 and "missing" not in again.stdout, again.stdout + again.stderr
        assert "0 unknown name(s)" in again.stdout
    finally:
        stand.stop()

"""`b24sync portal check|prepare SPEC`: what the spec needs from the portal, created once, then nothing missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "1c-odata.yaml"


def _portal(cmd: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "b24sync.cli.main", "portal", cmd, str(EXAMPLE)], env=env,
                          capture_output=True, text=True, timeout=120)


def test_check_prepare_check() -> None:
    sb = Bitrix24Sandbox()
    sb.start()
    try:
        env = {**os.environ, "COLUMNS": "200", "B24_WEBHOOK_URL": sb.webhook_url, "ONEC_ODATA_URL": "http://x/",
               "ONEC_USER": "u", "ONEC_PASSWORD": "p", "B24_EVENT_TOKEN": "t"}
        first = _portal("check", env)
        assert first.returncode == 1 and "UF_CRM_ERP_ID" in first.stdout and "missing" in first.stdout
        made = _portal("prepare", env)
        assert made.returncode == 0 and made.stdout.count("created") >= 2
        again = _portal("check", env)
        assert again.returncode == 0 and "missing" not in again.stdout
    finally:
        sb.stop()

"""A newcomer with a wrong URL gets one clear line within seconds, no traceback (issue 12, items 8 and e):
a closed port, a host that redirects (http:// for https://, a moved portal), for `portal check` and `run --once`;
and `run` in a fresh directory opens its store (the `.b24sync/` folder is made)."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

SPEC = """\
name: wrong url
systems:
  b24: {type: bitrix24, role: crm, webhook_url: "${H_WRONG_HOOK}"}
  onec: {type: 1c-odata, role: erp, url: "${H_WRONG_ONEC}", username: u, password: p}
entities:
  company:
    master: onec
    direction: erp_to_crm
    crm: {object: crm.company}
    erp: {object: Catalog_Контрагенты}
    match: [{crm: TITLE, erp: Description}]
    fields: [{crm: TITLE, erp: Description}]
    triggers: [{poll: 15m}]
"""


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return port


@pytest.fixture()
def redirector() -> Iterator[str]:
    class H(http.server.BaseHTTPRequestHandler):
        def _moved(self) -> None:
            self.send_response(302)
            self.send_header("Location", "https://moved.example" + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = do_PATCH = _moved

        def log_message(self, *a: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def _run(cwd: Path, env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("B24SYNC_", "H_WRONG_"))}
    started = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "b24sync.cli.main", *args], cwd=cwd, capture_output=True, text=True,
                       timeout=120, env={**base, **env, "COLUMNS": "200", "B24SYNC_NO_PROGRESS": "1"})
    return p, time.monotonic() - started


def _few_short_retries(stderr: str, took: float, allowed: int = 2) -> None:
    """The waits the clients chose (logged as `retry N in X s`): at most one short resend per system, where the
    old backoff slept ~25 s. Wall time is only a sanity bound: the shared test machine may be loaded."""
    import re

    waits = [float(m.group(1)) for m in re.finditer(r"retry \d+ in ([\d.]+) ?s", stderr)]
    assert len(waits) <= allowed and all(w <= 0.5 for w in waits), waits
    assert took < 60, f"{took:.1f} s"


def _spec(tmp_path: Path) -> Path:
    f = tmp_path / "b24sync.yaml"
    f.write_text(SPEC, encoding="utf-8")
    return f


def test_portal_check_closed_port_says_so_within_seconds(tmp_path: Path) -> None:
    port = _closed_port()
    env = {"H_WRONG_HOOK": f"http://127.0.0.1:{port}/rest/1/wr0ngc0de9876/",
           "H_WRONG_ONEC": f"http://127.0.0.1:{port}/ut/odata/standard.odata/"}
    p, took = _run(tmp_path, env, "portal", "check", str(_spec(tmp_path)))
    assert p.returncode == 2, p.stdout + p.stderr
    _few_short_retries(p.stderr, took)
    errors = sorted(ln for ln in p.stderr.splitlines() if ln.startswith("error:"))
    assert len(errors) == 2, p.stderr  # one line per system
    assert errors[0].startswith("error: system b24: ") and errors[1].startswith("error: system onec: ")
    assert f"cannot connect to http://127.0.0.1:{port}" in errors[0]
    assert f"at http://127.0.0.1:{port}" in errors[1]
    assert all("not reachable from here" in e for e in errors), errors
    assert "Traceback" not in p.stderr + p.stdout and "wr0ngc0de9876" not in p.stderr + p.stdout


def test_portal_check_on_a_redirect_names_the_new_address_at_once(tmp_path: Path, redirector: str) -> None:
    env = {"H_WRONG_HOOK": f"{redirector}/rest/1/wr0ngc0de9876/",
           "H_WRONG_ONEC": f"{redirector}/ut/odata/standard.odata/"}
    p, took = _run(tmp_path, env, "portal", "check", str(_spec(tmp_path)))
    assert p.returncode == 2, p.stdout + p.stderr
    _few_short_retries(p.stderr, took, allowed=0)
    errors = sorted(ln for ln in p.stderr.splitlines() if ln.startswith("error:"))
    assert len(errors) == 2, p.stderr
    assert "HTTP 302 redirect → https://moved.example/rest/1/" in errors[0], errors[0]
    assert "HTTP 302 redirect → https://moved.example/ut/odata/standard.odata/" in errors[1], errors[1]
    assert "wr0ngc0de9876" not in p.stderr + p.stdout and "Traceback" not in p.stderr + p.stdout


def test_run_once_in_a_fresh_directory_reports_each_unreachable_side(tmp_path: Path) -> None:
    port = _closed_port()
    env = {"H_WRONG_HOOK": f"http://127.0.0.1:{port}/rest/1/wr0ngc0de9876/",
           "H_WRONG_ONEC": f"http://127.0.0.1:{port}/ut/odata/standard.odata/"}
    p, took = _run(tmp_path, env, "run", "--spec", str(_spec(tmp_path)), "--once")
    assert p.returncode == 2, p.stdout + p.stderr
    _few_short_retries(p.stderr, took, allowed=4)  # one resend per entity side that polls
    assert (tmp_path / ".b24sync" / "state.db").exists(), "the store's folder is made, not an OperationalError"
    errors = [ln for ln in p.stderr.splitlines() if ln.startswith("error:")]
    assert any("erp side" in e and "not reachable from here" in e for e in errors), p.stderr
    assert "OperationalError" not in p.stderr and "Traceback" not in p.stderr


def test_database_url_makes_the_sqlite_folder(tmp_path: Path) -> None:
    from b24sync.store.db import database_url

    target = tmp_path / "deep" / "er" / "state.db"
    assert database_url(f"sqlite:///{target}") == f"sqlite:///{target}"
    assert target.parent.is_dir()
    database_url("sqlite:///:memory:")
    database_url("postgresql://u@127.0.0.1/db")  # nothing made for a server

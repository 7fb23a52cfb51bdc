"""Helpers shared by the CLI commands: loading a spec with readable errors, consoles, logging set-up, the store
every command names, and turning a failure into one line with its fix (a traceback only with ``-v``)."""

from __future__ import annotations

import functools
import logging
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from b24sync.spec.loader import SpecError, load_spec
from b24sync.spec.models import Spec

console = Console()
err_console = Console(stderr=True)

VERBOSE = False  # set by `b24sync -v ...` or a command's own --verbose
F = TypeVar("F", bound=Callable[..., Any])


def configure_logging(verbose: bool = False) -> None:
    from b24sync.server.logging import configure

    global VERBOSE
    VERBOSE = VERBOSE or verbose
    configure(logging.DEBUG if VERBOSE else logging.INFO)


def load_or_exit(path: Path) -> Spec:
    try:
        return load_spec(path)
    except SpecError as e:
        for p in e.problems:
            typer.echo(str(p), err=True)
        raise typer.Exit(2) from None


def fail(message: str, code: int = 1) -> None:
    err_console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def is_tty() -> bool:
    return sys.stdout.isatty()


# ---------------------------------------------------------------- where state lives


def store_url(explicit: str | None = None) -> str:
    """The store a command uses (explicit, else ``B24SYNC_DATABASE_URL``, else ``./.b24sync/state.db``), without
    creating anything."""
    import os

    from b24sync.store.db import DEFAULT_SQLITE_PATH

    url = explicit or os.environ.get("B24SYNC_DATABASE_URL")
    return url or f"sqlite:///{DEFAULT_SQLITE_PATH}"


def describe_store(url: str) -> str:
    """``sqlite:///.b24sync/state.db`` → the absolute file path; a server URL with its password masked."""
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path in ("", ":memory:"):
            return "in-memory SQLite (nothing kept)"
        return f"SQLite {Path(path).resolve()}"
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL fails later with its own error
        return url


def announce_store(url: str | None = None, *, note: str = "") -> str:
    """Print which store this command reads and writes (on stderr, so ``--json`` output stays clean)."""
    u = store_url(url)
    err_console.print(f"store: {describe_store(u)}{note}", highlight=False, markup=False, soft_wrap=True)
    return u


def open_store_or_exit(url: str | None = None, *, must_exist: bool = False):  # type: ignore[no-untyped-def]
    """Open (and migrate) the store after naming it; a read-only command on a missing SQLite file says so instead
    of creating an empty store in the current directory."""
    from b24sync.engine.service import open_store

    u = announce_store(url)
    if must_exist and u.startswith("sqlite") and ":///" in u:
        path = Path(u.split(":///", 1)[1])
        if not path.exists():
            fail(f"no store at {path.resolve()} — run from the directory where `b24sync run` ran, or set "
                 "B24SYNC_DATABASE_URL to the store you mean", 2)
    return open_store(u)


# ---------------------------------------------------------------- one line instead of a traceback


def explain(exc: BaseException) -> str:
    """One line for a person: what failed and how to fix it."""
    import httpx

    from b24sync.engine.errors import AuthError, NotFoundError, RetryableError, SyncError

    reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
    from b24sync.server.logging import redact_text

    reason = redact_text(str(reason))
    unreachable = ("cannot connect" in reason or "ConnectError" in reason or "ConnectTimeout" in reason)
    if isinstance(exc, httpx.RequestError) or unreachable or isinstance(exc, ConnectionError):
        where = ""
        try:
            where = f" {redact_text(str(exc.request.url))}" if isinstance(exc, httpx.RequestError) else ""
        except RuntimeError:
            pass
        return (f"{reason}{where} — the system is not reachable from here: check its URL in the spec (and the "
                "environment variable it names), that the service runs, and any proxy or firewall in between")
    if isinstance(exc, AuthError):
        return f"{reason} — check the credentials in the spec's environment variables (webhook code, user, password)"
    if isinstance(exc, NotFoundError):
        return (f"{reason} — a name in the spec does not exist in that system: for 1C list the published entity sets "
                "with `b24sync onec discover --url ...`; for Bitrix24 run `b24sync portal check SPEC`")
    if isinstance(exc, RetryableError):
        return f"{reason} — the system answered with a temporary error; try again, or add -v for details"
    if isinstance(exc, SyncError):
        return reason
    return f"{type(exc).__name__}: {reason} (add -v for the traceback)"


def guarded(fn: F) -> F:
    """Wrap a command: an unexpected failure becomes ``error: <what> — <fix>`` and exit 2; ``-v`` shows the
    traceback instead. ``typer.Exit`` / usage errors pass through untouched."""
    import click

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, click.exceptions.ClickException, KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the whole point: one line, not a traceback
            if VERBOSE or kwargs.get("verbose"):
                raise
            err_console.print(f"[red]error:[/red] {explain(exc)}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


# ---------------------------------------------------------------- names checked against the live systems


async def name_problems(spec_file: Path, rt: Any, *, skip: frozenset[str] = frozenset()) -> tuple[Any, list[Any]]:
    """Run the live-system name check (engine/names.py) and turn its problems into FILE:LINE problems.
    ``skip``: names another check reports already (user fields ``portal prepare`` would create)."""
    from b24sync.engine.names import check_names
    from b24sync.spec.loader import SpecProblem, line_map

    report = await check_names(rt)
    lines = line_map(spec_file)
    out = []
    # crm.item.* shows a user field in camelCase (UF_CRM_SMART_INVOICE_ERP_ID is `ufCrmSmartInvoiceErpId` there,
    # document-flows.md A.1): a planned field is skipped under either spelling
    planned = {f"`{n.replace('_', '').lower()}`" for n in skip}
    for ps in report.problems.values():
        for p in ps:
            if p.fatal and any(n in p.what.replace("_", "").lower() for n in planned):
                continue
            text = p.what if p.fatal else f"warning: {p.what}"
            out.append(SpecProblem(str(spec_file), lines.line_for(p.path), text, p.fix))
    return report, sorted(out, key=lambda p: p.line)


def cli_name() -> str:
    """How the user can call this b24sync from the shell they started the demo in: `b24sync` when that is on PATH,
    else the venv's script as a path (`make demo` runs `.venv/bin/b24sync`, which is not on PATH)."""
    script = Path(sys.executable).with_name("b24sync")  # the script beside the (unresolved) venv python
    on_path = shutil.which("b24sync")
    if not script.exists() or (on_path and Path(on_path).resolve() == script.resolve()):
        return "b24sync"
    try:
        return str(script.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(script.absolute())

"""The ``b24sync`` command line. Each command group lives in its own module; this file only assembles them.

Every command is wrapped by ``common.guarded``: a failure is one line with its fix and exit 2; ``b24sync -v CMD`` (or
the command's own ``--verbose``) shows the traceback instead."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import typer

from b24sync.cli import common

app = typer.Typer(
    name="b24sync",
    help="Spec-driven sync between Bitrix24 CRM and ERP / accounting systems.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logs and tracebacks")) -> None:
    common.VERBOSE = verbose


def _cmd(module: str, name: str) -> Callable[..., Any]:
    return common.guarded(getattr(importlib.import_module(f"b24sync.cli.{module}"), name))


def _group(module: str) -> typer.Typer:
    sub: typer.Typer = importlib.import_module(f"b24sync.cli.{module}").app
    for info in sub.registered_commands:
        if info.callback is not None and not getattr(info.callback, "__wrapped__", None):
            info.callback = common.guarded(info.callback)
    return sub


app.add_typer(_group("spec"), name="spec")
app.command("init")(_cmd("init", "init_cmd"))
app.command("run")(_cmd("run", "run_cmd"))
app.command("status")(_cmd("run", "status_cmd"))
app.command("dead")(_cmd("run", "dead_cmd"))
app.command("replay")(_cmd("run", "replay_cmd"))
app.command("demo")(_cmd("demo", "demo_cmd"))
app.add_typer(_group("sandbox"), name="sandbox")
app.add_typer(_group("commerceml"), name="commerceml")
app.add_typer(_group("portal"), name="portal")
app.add_typer(_group("onec"), name="onec")
app.command("rehearse")(_cmd("rehearse", "rehearse_cmd"))
app.command("initial-load")(_cmd("initial_load", "initial_load_cmd"))
app.command("resync")(_cmd("resync", "resync_cmd"))


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # python -m b24sync.cli.main
    main()

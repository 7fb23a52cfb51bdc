"""The ``b24sync`` command line. Each command group lives in its own module; this file only assembles them."""

from __future__ import annotations

import typer

from b24sync.cli import init as init_cli
from b24sync.cli import run as run_cli
from b24sync.cli import sandbox as sandbox_cli
from b24sync.cli import spec as spec_cli

app = typer.Typer(
    name="b24sync",
    help="Spec-driven sync between Bitrix24 CRM and ERP / accounting systems.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
app.add_typer(spec_cli.app, name="spec")
app.command("init")(init_cli.init_cmd)
app.command("run")(run_cli.run_cmd)
app.command("status")(run_cli.status_cmd)
app.command("dead")(run_cli.dead_cmd)
app.command("replay")(run_cli.replay_cmd)
app.command("demo")(__import__("b24sync.cli.demo", fromlist=["demo_cmd"]).demo_cmd)
app.add_typer(sandbox_cli.app, name="sandbox")
app.add_typer(__import__("b24sync.cli.commerceml", fromlist=["app"]).app, name="commerceml")
app.add_typer(__import__("b24sync.cli.portal", fromlist=["app"]).app, name="portal")
app.add_typer(__import__("b24sync.cli.onec", fromlist=["app"]).app, name="onec")
app.command("rehearse")(__import__("b24sync.cli.rehearse", fromlist=["rehearse_cmd"]).rehearse_cmd)
app.command("initial-load")(__import__("b24sync.cli.initial_load", fromlist=["initial_load_cmd"]).initial_load_cmd)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # python -m b24sync.cli.main
    main()

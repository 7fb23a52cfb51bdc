"""Helpers shared by the CLI commands: loading a spec with readable errors, consoles, logging set-up."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import typer
from rich.console import Console

from b24sync.spec.loader import SpecError, load_spec
from b24sync.spec.models import Spec

console = Console()
err_console = Console(stderr=True)


def configure_logging(verbose: bool = False) -> None:
    from b24sync.server.logging import configure

    configure(logging.DEBUG if verbose else logging.INFO)


def load_or_exit(path: Path) -> Spec:
    try:
        return load_spec(path)
    except SpecError as e:
        for p in e.problems:
            typer.echo(str(p), err=True)
        raise typer.Exit(2) from None


def fail(message: str, code: int = 1) -> None:
    err_console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def is_tty() -> bool:
    return sys.stdout.isatty()

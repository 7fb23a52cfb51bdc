"""``b24sync sandbox <system>``: start a local emulator of an external system.

Each sandbox package provides ``cli.py`` with a Typer command ``serve``; register it in SANDBOXES below.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(help="Run a faithful local emulator of an external system (for demos, tests and dry runs).",
                  no_args_is_help=True)

# name -> module exposing `serve` (a Typer-compatible function)
SANDBOXES: dict[str, str] = {
    "bitrix24": "b24sync.sandbox.bitrix24.cli",
    "dadata": "b24sync.sandbox.dadata.cli",
    "focus": "b24sync.sandbox.focus.cli",
    "diadok": "b24sync.sandbox.diadok.cli",
    "kontur": "b24sync.sandbox.kontur.cli",
    "onec": "b24sync.sandbox.onec.cli",
    "faultproxy": "b24sync.sandbox.faultproxy.cli",
    "odoo": "b24sync.sandbox.odoo.cli",
}

for _name, _module in SANDBOXES.items():
    app.command(_name)(importlib.import_module(_module).serve)

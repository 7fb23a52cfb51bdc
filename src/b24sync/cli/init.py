"""``b24sync init --erp KIND``: write a commented starter spec for one kind of ERP."""

from __future__ import annotations

from enum import Enum
from importlib import resources
from pathlib import Path

import typer

from b24sync.cli.common import console, fail


class ErpKind(str, Enum):
    onec_odata = "1c-odata"
    onec_commerceml = "1c-commerceml"
    kontur = "kontur"
    odoo = "odoo"


def starter_text(kind: str) -> str:
    return resources.files("b24sync.spec.starters").joinpath(f"{kind}.yaml").read_text(encoding="utf-8")


def init_cmd(
    erp: ErpKind = typer.Option(..., "--erp", help="Which ERP the starter is for"),
    out: Path = typer.Option(Path("b24sync.yaml"), "--out", "-o", help="Where to write the spec"),
    force: bool = typer.Option(False, help="Overwrite an existing file"),
) -> None:
    """Write a commented starter spec (the complete example for that ERP) to edit for your project."""
    if out.exists() and not force:
        fail(f"{out} exists; pass --force to overwrite it", 1)
    out.write_text(starter_text(erp.value), encoding="utf-8")
    console.print(f"wrote {out} — edit it, then: b24sync spec validate {out}")

"""``b24sync init --erp KIND``: write a commented starter spec for one kind of ERP."""

from __future__ import annotations

from enum import Enum
from importlib import resources
from pathlib import Path

import typer

from b24sync.cli.common import cli_name, console, fail


class ErpKind(str, Enum):
    onec_odata = "1c-odata"
    onec_commerceml = "1c-commerceml"
    kontur = "kontur"
    odoo = "odoo"
    # document-flow presets, one per ERP kind (docs/flow-orders.md "Presets")
    onec_ut_orders = "1c-ut-orders"  # УТ 11 / ERP 2: deals → ЗаказКлиента, smart invoices → СчетНаОплатуКлиенту
    onec_bp_invoices = "1c-bp-invoices"  # БП 3.0: smart invoices → СчетНаОплатуПокупателю with rows
    onec_unf_orders = "1c-unf-orders"  # УНФ 3.0: deals → ЗаказПокупателя, smart invoices → СчетНаОплату
    kontur_invoices = "kontur-invoices"  # Kontur.Buhgalteria: smart invoices → invoices with lines
    # the other document flows of УТ 11 / ERP 2 and БП 3.0 (docs/flow-credit.md, flow-contracts.md, flow-suppliers.md)
    onec_ut_credit = "1c-ut-credit"  # receivables and the credit limit: debt on the company, deals paused over it
    onec_ut_contracts = "1c-ut-contracts"  # the "Contracts" smart process ⇄ УТ contracts, with the signed PDF
    onec_ut_suppliers = "1c-ut-suppliers"  # supplier invoices and payment orders → two smart processes
    onec_bp_suppliers = "1c-bp-suppliers"  # the same on БП 3.0


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
    console.print(f"wrote {out} — edit it, then: {cli_name()} spec validate {out}")

"""``b24sync commerceml``: look inside CommerceML files and packages."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from b24sync.connectors.commerceml.model import Counts
from b24sync.connectors.commerceml.reader import open_any
from b24sync.connectors.commerceml.safety import CommerceMLError

app = typer.Typer(help="CommerceML 2.x/3.x files exchanged with 1C.", no_args_is_help=True)

_FIELDS = ("groups", "properties", "products", "offers", "price_types", "warehouses", "documents",
           "counterparties")


def _inspect(path: Path) -> list[dict]:
    out = []
    for name, reader in open_any(path):
        counts = Counts()
        for rec in reader:
            counts.add(rec)
        info = reader.info
        row = {"file": name, "version": info.version if info else None,
               "encoding": (info.encoding + (" (BOM)" if info.bom else "")) if info else None,
               "namespace": info.namespace if info else None}
        row.update({f: getattr(counts, f) for f in _FIELDS})
        out.append(row)
    return out


@app.command()
def inspect(file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True,
                                        help="An XML file or a zip package from 1C"),
            as_json: bool = typer.Option(False, "--json", help="Print one JSON line instead of a table")) -> None:
    """Print version, encoding, namespace and record counts of FILE (each XML member for a zip)."""
    try:
        rows = _inspect(file)
    except CommerceMLError as exc:
        if as_json:
            typer.echo(json.dumps({"file": str(file), "error": exc.reason}, ensure_ascii=False))
        else:
            Console(stderr=True).print(f"[red]error:[/red] {exc.reason}")
        raise typer.Exit(2) from None
    if as_json:
        if len(rows) == 1 and rows[0]["file"] == str(file):
            payload = rows[0]
        else:  # a zip package: one entry per XML member plus the totals
            payload = {"file": str(file), "members": rows,
                       "totals": {f: sum(r[f] for r in rows) for f in _FIELDS}}
        typer.echo(json.dumps(payload, ensure_ascii=False))
        return
    table = Table(title=str(file))
    table.add_column("field")
    for row in rows:
        table.add_column(row["file"] if len(rows) > 1 else "value")
    for key in ("version", "encoding", "namespace", *_FIELDS):
        table.add_row(key, *[str(r[key]) if r[key] is not None else "-" for r in rows])
    Console().print(table)

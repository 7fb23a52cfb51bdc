"""``b24sync onec``: tools for a 1C (or any OData) publication.

``discover`` reads ``$metadata`` and lists the published entity sets with their fields and types — publications are
often selective and field sets differ between configurations and releases (erp-side.md §1.1, §1.14), so check a
preset's names against the real base before syncing.
"""

from __future__ import annotations

import asyncio
import json

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="1C:Enterprise tools (standard OData interface).", no_args_is_help=True)


@app.command()
def discover(
    # the quick start exports ONEC_ODATA_URL / ONEC_USER / ONEC_PASSWORD for the spec: discover reads them too
    url: str = typer.Option(..., envvar="ONEC_ODATA_URL",
                            help="OData root, e.g. http://host/base/odata/standard.odata/ (or env ONEC_ODATA_URL)"),
    user: str = typer.Option(None, "--user", "-u", envvar="ONEC_USER",
                             help="1C user (HTTP Basic, sent UTF-8; or env ONEC_USER)"),
    password: str = typer.Option(None, "--password", "-p", envvar=["B24SYNC_ONEC_PASSWORD", "ONEC_PASSWORD"],
                                 help="password (or env B24SYNC_ONEC_PASSWORD / ONEC_PASSWORD)"),
    dialect: str = typer.Option("1c", help="1c | sap | dataverse | bc"),
    like: str = typer.Option(None, help="only entity sets whose name contains this text"),
    fields: bool = typer.Option(True, "--fields/--no-fields", help="list each set's fields"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
    timeout: float = typer.Option(180.0, help="seconds; $metadata of a big base takes ~20 s (§1.2)"),
) -> None:
    """List entity sets and their fields/types from $metadata."""
    from b24sync.connectors.onec.odata import DIALECTS, ODataClient
    from b24sync.engine.errors import SyncError

    async def load():
        async with ODataClient(url, username=user, password=password, dialect=DIALECTS[dialect],
                               timeout=timeout) as c:
            return await c.metadata()

    try:
        md = asyncio.run(load())
    except SyncError as exc:
        typer.echo(f"error: {exc.reason}", err=True)
        raise typer.Exit(2) from exc
    data = md.as_json()
    if like:
        data = {k: v for k, v in data.items() if like.lower() in k.lower()}
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"{len(data)} entity sets", show_lines=fields)
    table.add_column("Entity set", style="bold")
    table.add_column("Key")
    if fields:
        table.add_column("Fields (type)")
    for name, info in data.items():
        row = [name, ", ".join(info["keys"])]
        if fields:
            row.append("\n".join(f"{f['name']}: {f['type'].removeprefix('Edm.')}" for f in info["fields"]))
        table.add_row(*row)
    Console().print(table)

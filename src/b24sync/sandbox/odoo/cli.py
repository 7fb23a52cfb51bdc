"""``b24sync sandbox odoo`` — a local Odoo (JSON-RPC, XML-RPC, JSON-2) for demos, tests and dry runs."""

from __future__ import annotations

from typing import Annotated

import typer


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0 = any free port).")] = 8069,
    version: Annotated[str, typer.Option(help="Emulated Odoo version: ≤18 RPC only, 19–21 RPC + JSON-2, 22 JSON-2.")]
    = "19.0",
    database: Annotated[str, typer.Option(help="Database name.")] = "b24sync",
    api_key: Annotated[str, typer.Option(help="Accepted API key (user admin; password admin also works for RPC).")]
    = "sandbox-odoo-key",
    seed: Annotated[bool, typer.Option(help="Seed companies, contacts, products, orders and invoices.")] = True,
) -> None:
    """Run the Odoo sandbox."""
    import uvicorn

    from b24sync.sandbox.odoo.app import OdooSandboxConfig, create_app
    from b24sync.sandbox.odoo.db import Database
    from b24sync.sandbox.odoo.seed import seed as seed_db

    cfg = OdooSandboxConfig(version=version, database=database, api_keys={api_key: "admin"})
    db = Database(name=database)
    if seed:
        seed_db(db)
    typer.echo(f"Odoo {version} sandbox: database {database!r}, login admin/admin, API key {api_key!r}; pay an "
               "invoice with POST /_sandbox/register_payment {move_id, amount}")
    uvicorn.run(create_app(cfg, db), host=host, port=port, log_level="warning")

"""``b24sync portal check|prepare``: compare a Bitrix24 portal with a requirements YAML and create what is missing."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import typer

app = typer.Typer(help="Check a Bitrix24 portal against the sync's requirements, or prepare it.", no_args_is_help=True)

WebhookOpt = typer.Option(None, "--webhook-url", help="Inbound webhook URL (default: env B24SYNC_B24_WEBHOOK).")


def _load(path: Path):
    """Requirements from an integration spec (what its entities map and link through), or a requirements YAML.
    Returns (requirements, the spec's Bitrix24 webhook URL if it names one)."""
    from ruamel.yaml import YAML

    from b24sync.connectors.bitrix24.portal import Requirements

    data = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
    if isinstance(data, dict) and "entities" in data and "systems" in data:
        from b24sync.cli.common import load_or_exit
        from b24sync.connectors.bitrix24.requirements import requirements_from_spec

        spec = load_or_exit(path)
        url = next((s.config().get("webhook_url") for s in spec.systems.values() if s.type == "bitrix24"), None)
        return requirements_from_spec(spec), url
    return Requirements.model_validate(data), None


def _run(webhook_url: str | None, requirements: Path, create: bool) -> int:
    from rich.console import Console
    from rich.table import Table

    from b24sync.connectors.bitrix24.auth import WebhookAuth
    from b24sync.connectors.bitrix24.client import Bitrix24Client
    from b24sync.connectors.bitrix24.portal import check_portal

    req, spec_url = _load(requirements)
    url = webhook_url or os.environ.get("B24SYNC_B24_WEBHOOK") or spec_url
    if not url:
        raise typer.BadParameter("give --webhook-url or set B24SYNC_B24_WEBHOOK")

    async def go():
        async with Bitrix24Client(WebhookAuth(url)) as c:
            return await check_portal(c, req, create=create)

    rep = asyncio.run(go())
    table = Table("kind", "name", "status", "detail")
    for f in rep.findings:
        table.add_row(f.kind, f.name, f.status, f.detail)
    Console().print(table)
    return 1 if rep.missing else 0


@app.command("check")
def check(requirements: Path = typer.Argument(..., exists=True, help="An integration spec, or a requirements YAML."),
          webhook_url: str | None = WebhookOpt) -> None:
    """Report what the portal lacks (exit 1 when something is missing)."""
    raise typer.Exit(_run(webhook_url, requirements, create=False))


@app.command("prepare")
def prepare(requirements: Path = typer.Argument(..., exists=True, help="An integration spec, or a requirements YAML."),
            webhook_url: str | None = WebhookOpt) -> None:
    """Create what is missing; running it twice changes nothing the second time."""
    raise typer.Exit(_run(webhook_url, requirements, create=True))

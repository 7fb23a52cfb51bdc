"""``b24sync portal check|prepare``: compare a Bitrix24 portal with a requirements YAML and create what is missing."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import typer

app = typer.Typer(help="Check a Bitrix24 portal against the sync's requirements, or prepare it.", no_args_is_help=True)

WebhookOpt = typer.Option(None, "--webhook-url", help="Inbound webhook URL (default: the spec's webhook_url, else "
                          "env B24SYNC_B24_WEBHOOK).")


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


def _names(path: Path, skip: frozenset[str]) -> tuple[list, int]:
    """For an integration spec: every object and field it names, compared with the live systems (Bitrix24
    ``crm.*.fields``, 1C ``$metadata``, ...). Returns (FILE:LINE problems, how many objects were checked)."""
    import tempfile

    from ruamel.yaml import YAML

    data = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
    if not (isinstance(data, dict) and "entities" in data and "systems" in data):
        return [], 0
    from b24sync.cli.common import load_or_exit, name_problems
    from b24sync.compose import build

    spec = load_or_exit(path)
    with tempfile.TemporaryDirectory(prefix="b24sync-portal-check-") as tmp:
        rt = build(spec, database_url=f"sqlite:///{tmp}/check.db")  # nothing of the real store is touched

        async def go():
            try:
                return await name_problems(path, rt, skip=skip)
            finally:
                await rt.aclose()

        report, problems = asyncio.run(go())
    return problems, report.checked


def _run(webhook_url: str | None, requirements: Path, create: bool) -> int:
    from rich.console import Console
    from rich.table import Table

    from b24sync.connectors.bitrix24.auth import WebhookAuth
    from b24sync.connectors.bitrix24.client import Bitrix24Client
    from b24sync.connectors.bitrix24.portal import check_portal

    req, spec_url = _load(requirements)
    url = webhook_url or spec_url or os.environ.get("B24SYNC_B24_WEBHOOK")
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
    # names the requirements cover (user fields prepare creates) are in the table, not repeated as unknown names
    planned = frozenset(f.name.split(".", 1)[-1] for f in rep.findings if f.kind == "user_field")
    problems, checked = _names(requirements, planned)
    for p in problems:
        typer.echo(str(p), err=True)
    if checked:
        typer.echo(f"names: {checked} object(s) compared with the live systems, "
                   f"{sum(1 for p in problems if not p.what.startswith('warning:'))} unknown name(s)")
    if any(not p.what.startswith("warning:") for p in problems):
        return 2
    return 1 if rep.missing else 0


@app.command("check")
def check(requirements: Path = typer.Argument(..., exists=True, help="An integration spec, or a requirements YAML."),
          webhook_url: str | None = WebhookOpt) -> None:
    """Report what the portal lacks (exit 1 when something is missing) and every object or field the spec names
    that does not exist in its systems (FILE:LINE with the nearest names, exit 2)."""
    raise typer.Exit(_run(webhook_url, requirements, create=False))


@app.command("prepare")
def prepare(requirements: Path = typer.Argument(..., exists=True, help="An integration spec, or a requirements YAML."),
            webhook_url: str | None = WebhookOpt) -> None:
    """Create what is missing; running it twice changes nothing the second time."""
    raise typer.Exit(_run(webhook_url, requirements, create=True))

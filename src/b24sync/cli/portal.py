"""``b24sync portal check|prepare SPEC``: compare the live systems with what an integration spec needs and create
what is missing on the Bitrix24 side.

What is compared (the spec's own needs, nothing else):

* user fields it maps, matches, links or guards on, with their types (``crm_type:``; UF_CRM_DEBT as ``money``),
* the smart processes it names (``crm.item:1038``, also in ``require_related``),
* for a catalogue: the VAT rates, the units of measure 1C uses and the product properties (``PROPERTY_<CODE>``),
* event handlers for its ``webhook:`` triggers (with ``--handler-url``),
* every object and field it names against the live systems (Bitrix24 ``crm.*.fields``, 1C ``$metadata``):
  an unknown name is ``FILE:LINE: … — did you mean …`` and exit 2 (engine/names.py).

Exit codes: 0 nothing missing, 1 something ``prepare`` would create is missing, 2 a name does not exist or a
system cannot be read (not reachable, a redirect, refused credentials: one line each with its fix).
A requirements YAML (``Requirements``) is accepted too, for portals prepared without a spec.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import typer

from b24sync.cli.common import err_console

app = typer.Typer(help="Check the portal and the ERP against an integration spec, or prepare the portal.",
                  no_args_is_help=True)

WebhookOpt = typer.Option(None, "--webhook-url", help="Inbound webhook URL (default: the spec's webhook_url, else "
                          "env B24SYNC_B24_WEBHOOK).")
HandlerOpt = typer.Option(None, "--handler-url", help="Public HTTPS URL of the event intake "
                          "(https://HOST/bitrix24/<system>/events): check/bind a handler for each webhook trigger "
                          "(event.bind needs application auth; with an inbound webhook set the outgoing webhook up in "
                          "the portal, docs/spec.md \"Bitrix24 events\").")


def _is_spec(path: Path) -> bool:
    from ruamel.yaml.error import MarkedYAMLError

    from b24sync.spec.loader import load_plain

    try:
        data = load_plain(path.read_text(encoding="utf-8")) or {}
    except MarkedYAMLError:
        return True  # the spec loader reports the syntax error with its FILE:LINE
    return isinstance(data, dict) and "entities" in data and "systems" in data


def _load(path: Path, handler_url: str | None):  # type: ignore[no-untyped-def]
    """(requirements, the spec's Bitrix24 webhook URL if it names one, the spec or None)."""
    from ruamel.yaml import YAML

    from b24sync.connectors.bitrix24.portal import Requirements

    if _is_spec(path):
        from b24sync.cli.common import load_or_exit
        from b24sync.connectors.bitrix24.requirements import requirements_from_spec

        spec = load_or_exit(path)
        url = next((s.config().get("webhook_url") for s in spec.systems.values() if s.type == "bitrix24"), None)
        return requirements_from_spec(spec, handler_url=handler_url), url, spec
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
    return Requirements.model_validate(data), None, None


async def _spec_checks(path: Path, spec: Any, *, create: bool, skip: frozenset[str]) -> tuple[list, list, int]:
    """With a runtime of the spec (a scratch store): the catalogue's VAT rates, measures and properties (checked or
    created) and the names compared with the live systems. Returns (catalogue findings, problems, objects checked)."""
    import tempfile

    from b24sync.cli.common import name_problems
    from b24sync.compose import build
    from b24sync.connectors.bitrix24.portal import Finding

    with tempfile.TemporaryDirectory(prefix="b24sync-portal-check-") as tmp:
        rt = build(spec, database_url=f"sqlite:///{tmp}/check.db")  # nothing of the real store is touched
        try:
            findings: list[Finding] = []
            if any(e.erp.object in ("catalog.products", "cml.products") or e.crm.object == "crm.product.card"
                   for e in spec.entities.values()):
                from b24sync.cli.common import explain
                from b24sync.flows import catalog

                try:
                    for item in await catalog.prepare_portal(rt, dry_run=not create):
                        kind, _, name = item.partition(" ")
                        findings.append(Finding(kind, name, "created" if create else "missing"))
                except Exception as exc:  # noqa: BLE001 - the measures come from the ERP: say why, check the rest
                    findings.append(Finding("catalogue", "VAT rates, measures, properties", "error", explain(exc)))
            report, problems = await name_problems(path, rt, skip=skip)
            if report.unreadable:
                # the whole point of this command is the live systems: one it cannot read is an error, not a
                # warning (at `run` start-up it stays a warning — the system may come up later)
                from b24sync.cli.common import explain

                for system, exc in report.unreadable.items():
                    err_console.print(f"[red]error:[/red] system {system}: {explain(exc)}", highlight=False,
                                      soft_wrap=True)
                raise typer.Exit(2)
            return findings, problems, report.checked
        finally:
            await rt.aclose()


def _run(webhook_url: str | None, requirements: Path, create: bool, handler_url: str | None) -> int:
    from rich.console import Console
    from rich.table import Table

    from b24sync.connectors.bitrix24.auth import WebhookAuth
    from b24sync.connectors.bitrix24.client import Bitrix24Client
    from b24sync.connectors.bitrix24.portal import check_portal

    req, spec_url, spec = _load(requirements, handler_url)
    url = webhook_url or spec_url or os.environ.get("B24SYNC_B24_WEBHOOK")
    # A spec whose portal runs under an application (oauth:) prepares it with the application's tokens — the ones
    # ONAPPINSTALL stored in the store (B24SYNC_DATABASE_URL) or Redis: robots and event handlers need that context.
    oauth = next((s.config() for s in (spec.systems.values() if spec is not None else [])
                  if s.type == "bitrix24" and s.config().get("oauth")), None) if not webhook_url else None
    if not url and oauth is None:
        raise typer.BadParameter("give --webhook-url, name webhook_url in the spec, or set B24SYNC_B24_WEBHOOK")

    def client() -> Bitrix24Client:
        if oauth is not None:
            from b24sync.connectors.bitrix24.adapter import client_from_config

            return client_from_config(oauth)
        return Bitrix24Client(WebhookAuth(url))  # type: ignore[arg-type]

    async def go():  # type: ignore[no-untyped-def]
        async with client() as c:
            rep = await check_portal(c, req, create=create)
        if spec is None:
            return rep, [], 0
        planned = frozenset(f.name.split(".", 1)[-1] for f in rep.findings if f.kind == "user_field")
        extra, problems, checked = await _spec_checks(requirements, spec, create=create, skip=planned)
        rep.findings.extend(extra)
        return rep, problems, checked

    rep, problems, checked = asyncio.run(go())
    table = Table("kind", "name", "status", "detail")
    for f in rep.findings:
        table.add_row(f.kind, f.name, f.status, f.detail)
    Console().print(table)
    for p in problems:
        typer.echo(str(p), err=True)
    errors = [p for p in problems if not p.what.startswith("warning:")]
    if checked:
        typer.echo(f"names: {checked} object(s) compared with the live systems, {len(errors)} unknown name(s)")
    if errors:
        return 2
    return 1 if rep.missing else 0


@app.command("check")
def check(requirements: Path = typer.Argument(..., exists=True, help="An integration spec, or a requirements YAML."),
          webhook_url: str | None = WebhookOpt, handler_url: str | None = HandlerOpt) -> None:
    """Report what the portal lacks (exit 1) and every object or field the spec names that does not exist in its
    systems (FILE:LINE with the nearest names, exit 2)."""
    raise typer.Exit(_run(webhook_url, requirements, False, handler_url))


@app.command("prepare")
def prepare(requirements: Path = typer.Argument(..., exists=True, help="An integration spec, or a requirements YAML."),
            webhook_url: str | None = WebhookOpt, handler_url: str | None = HandlerOpt) -> None:
    """Create what is missing (user fields with their types, smart processes, VAT rates, measures, product
    properties, event handlers); running it twice changes nothing the second time. Unknown names still exit 2."""
    raise typer.Exit(_run(webhook_url, requirements, True, handler_url))

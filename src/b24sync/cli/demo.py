"""``b24sync demo``: the product on its sandboxes. Starts the Bitrix24 and 1C sandboxes, prepares the portal
(user fields the spec needs), runs a full sync, then an incremental one after an edit "in 1C", and a third that
must write nothing; prints a summary, and (without ``--once``) keeps serving until Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

import typer
from rich.table import Table

from b24sync.cli.common import console, fail
from b24sync.compose import build
from b24sync.engine.runtime import Runtime
from b24sync.engine.service import RunOptions, run
from b24sync.engine.worker import WorkerStats
from b24sync.spec.loader import SpecError, load_spec
from b24sync.spec.models import Spec
from b24sync.sandbox.served import ServedApp

DEMO_SPEC = Path(__file__).resolve().parent.parent / "spec" / "starters" / "demo.yaml"


def demo_cmd(
    once: bool = typer.Option(False, help="Run the demo and exit 0 (CI and scripts)"),
    port: int = typer.Option(8400, help="Port of b24sync's own server (event intake, /status, /metrics)"),
    companies: int = typer.Option(0, help="Extra generated counterparties in 1C, for a bigger run"),
) -> None:
    """Start the sandboxes, sync, print a summary; keep serving until Ctrl-C (or exit with --once)."""
    from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox
    from b24sync.sandbox.onec.sandbox import OneCSandbox

    from b24sync.server.logging import configure
    import logging

    configure(logging.WARNING)
    # The demo portal runs on the Enterprise plan's limits (5 requests/s, bucket 250; sheet §3.2) so the tour takes
    # about a minute; the tests and benchmarks hold the client to the default plan's 2/s and 50.
    b24 = Bitrix24Sandbox(rate=5.0, burst=250)
    onec = OneCSandbox(user="odata", password="secret", seed="demo", seed_counterparties=companies)
    from b24sync.sandbox.dadata.app import create_app as dadata_app

    b24.start()
    onec_url = onec.start()
    dadata = ServedApp(dadata_app(token="demo-token"))
    workdir = Path(tempfile.mkdtemp(prefix="b24sync-demo-"))
    env = {**os.environ, "B24SYNC_DEMO_B24_WEBHOOK": b24.webhook_url, "B24SYNC_DEMO_ONEC_URL": onec_url,
           "B24SYNC_DEMO_DADATA_URL": f"{dadata.url}/suggestions/api/4_1/rs/", "B24SYNC_DEMO_DADATA_TOKEN": "demo-token"}
    try:
        spec = load_spec(DEMO_SPEC, env)
    except SpecError as e:
        fail(str(e))
    console.print(f"[bold]Bitrix24 sandbox[/bold] {_masked(b24.webhook_url)}   [bold]1C sandbox[/bold] {onec_url}   "
                  f"[bold]DaData sandbox[/bold] {dadata.url}")
    rt = build(spec, database_url=f"sqlite:///{workdir / 'state.db'}")
    try:
        ok = asyncio.run(_demo(rt, spec, b24, onec, dadata.app, once=once, port=port))
    finally:
        b24.stop()
        onec.stop()
        dadata.stop()
    if not ok:
        raise typer.Exit(1)


async def _demo(rt: Runtime, spec: Spec, b24, onec, dadata, *, once: bool, port: int) -> bool:  # type: ignore[no-untyped-def]
    """Everything on one event loop: the connectors' HTTP clients belong to the loop that opened them."""
    try:
        await _prepare_portal(rt, spec)
        t0 = time.monotonic()
        full = await run(rt, RunOptions(once=True))
        t_full = time.monotonic() - t0
        _summary_full(b24, full, t_full)
        # Each flow shows its rule on the live sandboxes: a change made in one system and what the sync did.
        from b24sync.flows import autofill, catalog, contacts, counterparties

        steps = (("Counterparties", lambda: counterparties.demo_step(rt, b24, onec)),
                 ("Requisites by INN (DaData)", lambda: autofill.demo_step(rt, b24, onec, dadata)),
                 ("Contacts", lambda: contacts.demo_step(rt, b24, onec)),
                 ("Catalogue, prices, stock", lambda: catalog.demo_step(rt, b24, onec)))
        for title, step in steps:
            console.print(f"\n[bold]{title}[/bold]")
            for line in await step():
                console.print(f"  • {line}", markup=False, highlight=False)
        idle = await run(rt, RunOptions(once=True))
        console.print(f"\nA cycle with nothing changed: {idle.done} job(s), "
                      f"{', '.join(f'{k} {v}' for k, v in sorted(idle.actions.items())) or 'no writes'}.")
        ok = not full.dead and not any(a in idle.actions for a in ("created", "updated", "linked", "reverted"))
        console.print(f"Bitrix24: {b24.requests_served} HTTP requests in all, {b24.query_limit_exceeded} "
                      f"QUERY_LIMIT_EXCEEDED. `b24sync status` and `b24sync dead` tell the rest.")
        if once:
            return ok
        console.print(f"\nServing: b24sync on http://127.0.0.1:{port} (/status, /metrics). Edit data in the "
                      "sandboxes and watch it sync. Ctrl-C stops.")
        from b24sync.cli.run import _serve

        await run(rt, RunOptions(extra_tasks=[_serve(rt, "127.0.0.1", port)]))
        return ok
    finally:
        await rt.aclose()
        from b24sync.connectors.dadata import aclose_clients

        await aclose_clients()


async def _prepare_portal(rt: Runtime, spec: Spec) -> None:
    from b24sync.connectors.bitrix24.portal import prepare_portal
    from b24sync.connectors.bitrix24.requirements import requirements_from_spec

    adapter = rt.adapters["bitrix24"]
    report = await prepare_portal(adapter.client, requirements_from_spec(spec))  # type: ignore[attr-defined]
    # The "Contracts" smart process the qualification guard looks for (crm.item:1038).
    types = await adapter.client.call("crm.type.list", {})  # type: ignore[attr-defined]
    if not any(int(t.get("entityTypeId", 0)) == 1038 for t in (types or {}).get("types", [])):
        await adapter.client.call("crm.type.add", {"fields": {"entityTypeId": 1038, "title": "Договоры"}})  # type: ignore[attr-defined]
    from b24sync.flows import catalog

    extra = await catalog.prepare_portal(rt)  # VAT rates, measures and product properties the catalogue needs
    console.print(f"Portal prepared: {len(report.created)} user field(s) created for the spec"
                  + (f"; {', '.join(extra)}" if extra else ""))


def _masked(url: str) -> str:
    from b24sync.server.logging import redact_text

    return redact_text(url)


def _summary_full(b24, s: WorkerStats, seconds: float) -> None:  # type: ignore[no-untyped-def]
    t = Table(title="Full sync")
    for col in ("jobs", "created", "updated", "linked", "skipped", "unchanged/echo", "dead", "held", "seconds"):
        t.add_column(col, justify="right")
    a = s.actions
    t.add_row(str(s.done), str(a.get("created", 0)), str(a.get("updated", 0)), str(a.get("linked", 0)),
              str(a.get("skipped", 0)), str(a.get("unchanged", 0) + a.get("echo", 0)), str(s.dead), str(s.held),
              f"{seconds:.1f}")
    console.print(t)
    console.print(f"Bitrix24 holds {b24.count('company')} companies, {b24.count('contact')} contacts and "
                  f"{b24.count('product')} products.")

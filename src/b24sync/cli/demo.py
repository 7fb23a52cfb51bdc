"""``b24sync demo``: the product on its sandboxes. Starts the Bitrix24 and 1C sandboxes, prepares the portal
(user fields the spec needs), runs a full sync, shows each reference-data flow's rule after an edit in one system,
plays the deal-to-cash story (``demo_story.py``: deal → order → invoice → payments → shipment, both systems read
back after each step), then a cycle that must write nothing; prints a summary, and (without ``--once``) keeps
serving until Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import typer
from rich.table import Table

from b24sync.cli.common import cli_name, console, fail
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
    keep: bool = typer.Option(False, "--keep", help="Keep the demo's store (its temporary directory) after it ends"),
    story: bool = typer.Option(True, "--story/--no-story", help="Play the deal-to-cash story after the reference data"),
) -> None:
    """Start the sandboxes, sync, print a summary and the commands to poke at it; keep serving until Ctrl-C (or exit
    with --once). Its temporary store is removed at the end unless --keep."""
    from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox
    from b24sync.sandbox.onec.sandbox import OneCSandbox

    from b24sync.server.logging import configure
    import logging

    configure(logging.WARNING)
    # The demo portal runs on the Enterprise plan's limits (5 requests/s, bucket 250; sheet §3.2) so the tour takes
    # about a minute; the tests and benchmarks hold the client to the default plan's 2/s and 50.
    b24 = Bitrix24Sandbox(rate=5.0, burst=250)
    onec = OneCSandbox(user="odata", password="secret", seed="demo", seed_counterparties=companies)
    onec.store.full_fill_checks = True  # 1C refuses an order without Организация, Соглашение, … (document-flows B.1)
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
    store = f"sqlite:///{workdir / 'state.db'}"
    console.print(f"store: {workdir / 'state.db'} (temporary{', kept after the demo' if keep else ', removed at the end; --keep keeps it'})",
                  highlight=False, markup=False, soft_wrap=True)
    rt = build(spec, database_url=store)
    poke = _poke_commands(store, b24.webhook_url, onec_url, "odata", "secret", dadata.url, "demo-token", port,
                          serving=not once, keep=keep)
    try:
        ok = asyncio.run(_demo(rt, spec, b24, onec, dadata.app, once=once, port=port, poke=poke,
                               story=(onec_url, "odata", "secret") if story else None))
    finally:
        b24.stop()
        onec.stop()
        dadata.stop()
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    if not ok:
        raise typer.Exit(1)


def _poke_commands(store: str, webhook: str, onec_url: str, user: str, password: str, dadata_url: str, token: str,
                   port: int, *, serving: bool, keep: bool) -> list[str]:
    """The exact commands to look at what the demo did: its store, the sandboxes' APIs with their (demo)
    credentials. The sandboxes live only while the demo serves; the store only while it runs, or after with --keep."""
    lines = []
    cli = cli_name()
    if serving or keep:
        lines += [f"export B24SYNC_DATABASE_URL={store}", f"{cli} status", f"{cli} dead",
                  f"{cli} dead --json"]
    if serving:
        # percent-encoded: curl sends a Cyrillic URL as raw bytes, which an HTTP server refuses ("Invalid HTTP request")
        onec_query = f"{quote('Catalog_Контрагенты')}?$format=json&$top=3&$select={quote('Ref_Key,Description,ИНН', safe=',')}"
        lines += [f"curl -s '{webhook}crm.company.list.json?select[]=ID&select[]=TITLE'",
                  f"curl -s -u {user}:{password} '{onec_url}{onec_query}'",
                  f"curl -s -X POST '{dadata_url}/suggestions/api/4_1/rs/findById/party' -H 'Authorization: Token {token}' "
                  "-H 'Content-Type: application/json' -d '{\"query\": \"7736207543\"}'",
                  f"curl -s http://127.0.0.1:{port}/status"]
    return lines


def _print_poke(lines: list[str], *, serving: bool, keep: bool) -> None:
    if not lines:
        console.print("\nThe sandboxes and the temporary store end with the demo: run `b24sync demo` (without --once) to "
                      "keep them serving, or add --keep to keep the store for `b24sync status` / `b24sync dead`.",
                      highlight=False, markup=False)
        return
    what = "while the demo serves (Ctrl-C stops it)" if serving else "after the demo (the store was kept)"
    where = "" if cli_name() == "b24sync" else f", in {Path.cwd()}"
    console.print(f"\n[bold]Poke at it[/bold] {what} — in another terminal{where}:", highlight=False)
    for line in lines:
        console.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)


async def _demo(rt: Runtime, spec: Spec, b24, onec, dadata, *, once: bool, port: int,  # type: ignore[no-untyped-def]
                poke: list[str] | None = None, story: tuple[str, str, str] | None = None) -> bool:
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
        story_ok = True
        if story is not None:
            story_ok = await _story(rt, onec, *story)
        idle = await run(rt, RunOptions(once=True))
        from b24sync.engine.report import actions_text

        console.print(f"\nA cycle with nothing changed: {idle.done} job(s), {actions_text(idle.actions)}.")
        ok = story_ok and not full.dead and not any(a in idle.actions for a in ("created", "updated", "linked",
                                                                                   "reverted"))
        console.print(f"Bitrix24: {b24.requests_served} HTTP requests in all, {b24.query_limit_exceeded} "
                      f"QUERY_LIMIT_EXCEEDED.")
        _print_poke(poke or [], serving=not once, keep=bool(poke) and once)
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


async def _story(rt: Runtime, onec, onec_url: str, user: str, password: str) -> bool:  # type: ignore[no-untyped-def]
    """The deal-to-cash story, printed step by step as each step is done."""
    from b24sync.cli.demo_story import Step, play

    console.print("\n[bold]Deal to cash[/bold] — the demo acts as the manager (Bitrix24 REST) and the 1C users; "
                  "after each action one sync cycle, then both systems are read back", highlight=False)
    n = 0

    def show(step: Step) -> None:
        nonlocal n
        n += 1
        console.print(f"\n[bold]{n}. {step.title}[/bold]", highlight=False)
        for line in step.lines:
            console.print(f"  {line}", markup=False, highlight=False, soft_wrap=False)
        for what in step.failed:
            console.print(f"  ✗ {what}", markup=False, highlight=False)

    result = await play(rt, onec, onec_url, user=user, password=password, out=show)
    from b24sync.cli.demo_story import parked

    left = parked(rt)
    console.print(f"\nDeal to cash: {len(result.steps)} steps, "
                  + ("every rule held" if result.ok else "[red]some steps did not do what they should (✗ above)[/red]")
                  + f"; {len(left)} of its records in the dead-letter or held list"
                  + "".join(f"\n  {k} {e}: {r[:160]}" for k, e, r in left), highlight=False)
    return result.ok and not left


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
    from b24sync.engine.report import explained

    t = Table(title=f"Full sync: {s.done} jobs in {seconds:.1f} s")
    t.add_column("outcome")
    t.add_column("records", justify="right")
    t.add_column("what it means", overflow="fold")
    extra = {"dead": s.dead, "held": s.held, "retried": s.retried}
    for name, n, meaning in explained({**s.actions, **extra}):
        t.add_row(name, str(n), meaning)
    console.print(t)
    console.print(f"Bitrix24 holds {b24.count('company')} companies, {b24.count('contact')} contacts and "
                  f"{b24.count('product')} products.")

"""``b24sync initial-load ENTITY``: the deduplication and first load integrators run before go-live."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from rich.table import Table

from b24sync.cli.common import configure_logging, console, fail, load_or_exit


def initial_load_cmd(
    entity: str = typer.Argument(..., help="The spec entity to load (e.g. company)"),
    spec_file: Path = typer.Option(Path("b24sync.yaml"), "--spec", "-s", help="The integration spec",
                                   envvar="B24SYNC_SPEC"),
    report: Path | None = typer.Option(None, "--report", help="Also write the full report as JSON to this file"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Compute and report; write nothing to either side or the store"),
    threshold: float = typer.Option(0.9, "--threshold", min=0.5, max=1.0,
                                    help="Name similarity from which a merge is proposed (never merged automatically)"),
    batch: int = typer.Option(100, "--batch", min=1, help="Records linked/enqueued per store transaction"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Match existing CRM and ERP records (INN, INN + KPP), link them, create the rest through the engine, and report
    proposed merges (similar names without INN), conflicts (one INN twice) and rejected records (bad INN).
    Resumable: an interrupted run continues where it stopped; a second run changes nothing."""
    from b24sync.compose import build
    from b24sync.flows.initial_load import Options, initial_load

    configure_logging(verbose)
    spec = load_or_exit(spec_file)
    if entity not in spec.entities:
        fail(f"entity `{entity}` is not in {spec_file} (it has: {', '.join(spec.entities) or 'none'})")
    rt = build(spec)

    async def main():  # type: ignore[no-untyped-def]
        try:
            return await initial_load(rt, entity, Options(threshold=threshold, dry_run=dry_run, batch=batch,
                                                          progress=True))
        finally:
            await rt.aclose()

    result = asyncio.run(main())
    title = f"Initial load of {entity}" + (" — dry run, nothing written" if dry_run else "")
    if result.resumed:
        title += " (resumed)"
    t = Table(title=title)
    t.add_column("result")
    t.add_column("records", justify="right")
    t.add_column("meaning")
    meaning = {
        "created": "would be created on the other side" if dry_run else "created on the other side by the engine",
        "updated": "would be linked by match key" if dry_run else "linked by match key, master's data sent",
        "matched": "already linked (nothing to do)",
        "proposed": "merge proposals by similar name — review them",
        "conflicts": "one INN (same or no KPP) on several records — nothing done",
        "rejected": "invalid key (INN check digit)",
        "skipped": "no INN, or not copied in this direction",
        "failed": "the engine could not create them (see `b24sync dead`)",
    }
    for k, v in result.totals.items():
        t.add_row(k, str(v), meaning.get(k, ""))
    console.print(t)
    for r in result.plan.rejected[:20]:
        console.print(f"[red]rejected[/red] {r.side} {r.id} {r.name!r}: {r.reason}")
    for c in result.plan.conflicts[:20]:
        console.print(f"[yellow]conflict[/yellow] crm {c.crm_ids} erp {c.erp_ids}: {c.reason}")
    for p in result.plan.proposals[:20]:
        console.print(f"[cyan]proposed[/cyan] {p.type} {p.crm_id} ~ {p.other_id} ({p.score:.2f}) "
                      f"{p.crm_name!r} ~ {p.other_name!r}: {p.reason}")
    shown = max(len(result.plan.rejected), len(result.plan.conflicts), len(result.plan.proposals))
    if shown > 20 and report is None:
        console.print("… more in the JSON report: add --report FILE")
    if report is not None:
        result.write(report)
        console.print(f"report written to {report}")

"""``b24sync initial-load ENTITY``: the deduplication and first load integrators run before go-live."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import tempfile
from pathlib import Path

import typer
from rich.table import Table

from b24sync.cli.common import announce_store, configure_logging, console, fail, load_or_exit
from b24sync.engine.service import open_store


def initial_load_cmd(
    entity: str = typer.Argument(..., help="The spec entity to load (e.g. company)"),
    spec_file: Path = typer.Option(Path("b24sync.yaml"), "--spec", "-s", help="The integration spec",
                                   envvar="B24SYNC_SPEC"),
    report: Path | None = typer.Option(None, "--report", help="Also write the full report as JSON to this file"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Compute and report; write nothing to either side or the store"),
    threshold: float | None = typer.Option(None, "--threshold", min=0.5, max=1.0,
                                           help="Score from which records are proposed as one company (never merged "
                                                "automatically); default: the entity's dedupe.suggest, else 0.85"),
    batch: int = typer.Option(100, "--batch", min=1, help="Records linked/enqueued per store transaction"),
    decisions: Path | None = typer.Option(None, "--decisions", help="A reviewer's decisions on the proposed clusters "
                                          "(YAML/JSON list of {cluster: ID, decision: accept|reject, keep: crm:ID})"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Match existing CRM and ERP records (INN, INN + KPP), link them, create the rest through the engine, and report
    proposed merges (similar names without INN), conflicts (one INN twice) and rejected records (bad INN).
    Resumable: an interrupted run continues where it stopped; a second run changes nothing."""
    from b24sync.compose import build
    from b24sync.flows.initial_load import Options, initial_load, load_decisions

    configure_logging(verbose)
    spec = load_or_exit(spec_file)
    if entity not in spec.entities:
        fail(f"entity `{entity}` is not in {spec_file} (it has: {', '.join(spec.entities) or 'none'})")
    decided = None
    if decisions is not None:
        try:
            decided = load_decisions(decisions)
        except (OSError, ValueError) as e:
            fail(f"--decisions: {e}")
    url = announce_store(note=" (dry run: read only, nothing written)" if dry_run else "")
    scratch = tempfile.mkdtemp(prefix="b24sync-dry-run-") if dry_run else None
    try:
        if scratch is not None:
            # A dry run works on a private scratch store holding a copy of the real store's links: the real store
            # is only read (no file created, no row changed), and what is already linked still counts as linked.
            db = open_store(f"sqlite:///{Path(scratch) / 'scratch.db'}")
            copy_links(url, db)
            rt = build(spec, db=db)
        else:
            rt = build(spec, database_url=url)

        async def main():  # type: ignore[no-untyped-def]
            try:
                return await initial_load(rt, entity, Options(threshold=threshold, dry_run=dry_run, batch=batch,
                                                              progress=True, decisions=decided))
            finally:
                await rt.aclose()

        result = asyncio.run(main())
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
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
        "proposed": "records in suspected-duplicate clusters — review them (nothing merged or created)",
        "conflicts": "records sharing one INN (same or no KPP) — nothing done",
        "rejected": "invalid key (INN check digit)",
        "skipped": "no INN, or not copied in this direction",
        "failed": "the engine could not create them (see `b24sync dead`)",
    }
    for k, v in result.totals.items():
        t.add_row(k, str(v), meaning.get(k, ""))
    read = sum(result.read.values())
    t.add_row("[bold]read[/bold]", str(read), f"records read (CRM {result.read.get('crm', 0)}, ERP "
                                              f"{result.read.get('erp', 0)}) = the sum of the rows above")
    console.print(t)
    for r in result.plan.rejected[:20]:
        console.print(f"[red]rejected[/red] {r.side} {r.id} {r.name!r}: {r.reason}")
    for c in result.plan.conflicts[:20]:
        console.print(f"[yellow]conflict[/yellow] crm {c.crm_ids} erp {c.erp_ids}: {c.reason}")
    for c in result.plan.clusters[:20]:
        who = "; ".join(f"{m['side']} {m['id']} {m['name']!r}" + (f" INN {m['inn']}" if m["inn"] else "")
                        for m in c.members)
        state = f" [bold]{c.decision}[/bold]: {c.todo}" if c.decision else ""
        console.print(f"[cyan]cluster {c.id}[/cyan] ({len(c.members)} records, weakest link {c.score:.2f}): {who}{state}")
        for link in c.links:
            console.print(f"    {link['a']} ~ {link['b']} {link['score']:.2f}: {', '.join(link['evidence'])}")
        for w in c.warnings:
            console.print(f"    [yellow]warning[/yellow] {w}")
    shown = max(len(result.plan.rejected), len(result.plan.conflicts), len(result.plan.clusters))
    if shown > 20 and report is None:
        console.print("… more in the JSON report: add --report FILE")
    if report is not None:
        result.write(report)
        console.print(f"report written to {report}")


def copy_links(url: str, scratch) -> int:  # type: ignore[no-untyped-def]
    """Copy the identity map of the store at ``url`` into ``scratch`` without writing to it (a missing SQLite file
    stays missing; SQLite is opened read-only, a server store is only SELECTed from)."""
    from sqlalchemy import create_engine, insert, text

    from b24sync.store.db import database_url as resolve
    from b24sync.store.models import Link

    cols = "entity, crm_id, erp_id, match_key, created_at, updated_at"
    rows: list[tuple] = []
    if url.startswith("sqlite"):
        path = Path(url.split(":///", 1)[1]) if ":///" in url else None
        if path is None or not path.exists():
            return 0
        # A store in use (its -wal exists) is read through SQLite's read-only mode; a closed one as immutable, so
        # not even the -wal/-shm companions are created beside it.
        live = path.with_name(path.name + "-wal").exists()
        con = sqlite3.connect(f"file:{path.resolve()}?{'mode=ro' if live else 'immutable=1'}", uri=True)
        try:
            rows = con.execute(f"SELECT {cols} FROM links").fetchall()
        except sqlite3.OperationalError:  # an older or foreign file: nothing linked yet
            rows = []
        finally:
            con.close()
    else:
        eng = create_engine(resolve(url))
        try:
            with eng.connect() as conn:
                rows = [tuple(r) for r in conn.execute(text(f"SELECT {cols} FROM links"))]
        finally:
            eng.dispose()
    if rows:
        from datetime import datetime

        def when(v):  # type: ignore[no-untyped-def]
            return datetime.fromisoformat(v) if isinstance(v, str) else v

        with scratch.begin() as conn:
            conn.execute(insert(Link), [dict(entity=r[0], crm_id=r[1], erp_id=r[2], match_key=r[3],
                                             created_at=when(r[4]), updated_at=when(r[5])) for r in rows])
    return len(rows)

"""``b24sync resync ENTITY [--id ID]``: re-read both sides and repair drift (engine/resync.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from b24sync.cli.common import announce_store, configure_logging, console, fail, load_or_exit


def resync_cmd(
    entity: str = typer.Argument(..., help="The spec entity to resync (e.g. company)"),
    spec_file: Path = typer.Option(Path("b24sync.yaml"), "--spec", "-s", help="The integration spec",
                                   envvar="B24SYNC_SPEC"),
    record_id: str | None = typer.Option(None, "--id", help="Only this record (its id on --side)"),
    side: str | None = typer.Option(None, "--side", help="crm or erp: which side to read (default: every side the "
                                                          "entity flows from; with --id, the master side)"),
    workers: int | None = typer.Option(None, help="Concurrent jobs (default: the spec's defaults.workers)"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Re-read every record of ENTITY (or one, with --id) on each side it flows from, compare it field by field
    with its partner on the other side, and write only what differs (a missing partner is found or created).
    The cure after a fixed typo in the spec or a change made behind b24sync's back. Safe to run beside `b24sync
    run` and to repeat: a second resync writes nothing."""
    from b24sync.compose import build
    from b24sync.engine.resync import enqueue_resync
    from b24sync.engine.service import RunOptions, run
    from b24sync.progress import Progress, watch_queue
    from b24sync.store import queue as jobs

    configure_logging(verbose)
    spec = load_or_exit(spec_file)
    if entity not in spec.entities:
        fail(f"entity `{entity}` is not in {spec_file} (it has: {', '.join(spec.entities) or 'none'})", 2)
    if side not in (None, "crm", "erp"):
        fail(f"--side is crm or erp, not {side!r}", 2)
    rt = build(spec, database_url=announce_store())

    async def main():  # type: ignore[no-untyped-def]
        try:
            with Progress() as prog:
                reading = {s: prog.task(f"read {s}") for s in ("crm", "erp")}

                def on_page(s: str, n: int) -> None:
                    reading[s](n)
                    console.print(f"  read {n} from {s}", highlight=False)

                plan = await enqueue_resync(rt, entity, record_id=record_id, side=side,  # type: ignore[arg-type]
                                            on_page=on_page)
                console.print(f"resync {entity}: read {', '.join(f'{n} from {s}' for s, n in plan.read.items())}; "
                              f"{plan.enqueued} record(s) to compare", highlight=False)
                watcher = asyncio.ensure_future(watch_queue(lambda: jobs.depth(rt.db), prog.task("compared")))
                try:
                    return await run(rt, RunOptions(once=True, poll=False, workers=workers))
                finally:
                    watcher.cancel()
                    await asyncio.gather(watcher, return_exceptions=True)
        finally:
            await rt.aclose()

    stats = asyncio.run(main())
    a = stats.actions
    repaired = sum(a.get(k, 0) for k in ("updated", "created", "recreated", "linked", "relinked", "reverted"))
    console.print(f"done: {repaired} repaired ({', '.join(f'{k} {v}' for k, v in sorted(a.items())) or 'nothing'}), "
                  f"retried {stats.retried}, dead {stats.dead}, held {stats.held}", highlight=False)
    if stats.dead or stats.held:
        console.print("see `b24sync dead` for the records that could not be repaired", highlight=False)
        raise typer.Exit(1)

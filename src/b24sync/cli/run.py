"""``b24sync run``, ``status`` and ``replay``: the long-running service and its operator commands."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.table import Table

from b24sync.cli.common import configure_logging, console, fail, load_or_exit
from b24sync.compose import build
from b24sync.engine.service import RunOptions, open_store, run
from b24sync.store import cursors
from b24sync.store import queue as jobs

SPEC_OPT = typer.Option(Path("b24sync.yaml"), "--spec", "-s", help="The integration spec", envvar="B24SYNC_SPEC")


def run_cmd(
    spec_file: Path = SPEC_OPT,
    once: bool = typer.Option(False, help="Poll every entity once, work until nothing is due, then exit"),
    workers: int | None = typer.Option(None, help="Concurrent jobs (default: the spec's defaults.workers)"),
    host: str = typer.Option("127.0.0.1", help="Where the event intake listens"),
    port: int = typer.Option(8400, help="Port of the event intake / health / metrics server"),
    serve: bool = typer.Option(True, help="Run the HTTP server (webhooks, /healthz, /metrics)"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Run the scheduler, the workers and the webhook intake until SIGTERM (in-flight jobs are drained)."""
    configure_logging(verbose)
    spec = load_or_exit(spec_file)
    try:
        rt = build(spec)
    except KeyError as e:
        fail(str(e.args[0]))
    extra = []
    if serve and not once:
        extra.append(_serve(rt, host, port))
    if not once:
        from b24sync.bus.consumer import tasks as bus_tasks

        extra += bus_tasks(rt)  # the outbox relay and the bus consumers of the spec's `bus:`
    stats = asyncio.run(_main(rt, RunOptions(once=once, workers=workers, extra_tasks=extra)))
    console.print(f"done: {stats.done} jobs ({', '.join(f'{k} {v}' for k, v in sorted(stats.actions.items())) or 'nothing to do'}), "
                  f"retried {stats.retried}, dead {stats.dead}, held {stats.held}")


async def _main(rt, opts):  # type: ignore[no-untyped-def]
    try:
        stats = await run(rt, opts)
        if opts.once and rt.spec.bus is not None and rt.spec.bus.publish:
            from b24sync.bus.relay import flush

            published = await flush(rt.db, rt.spec.bus)  # a one-shot run publishes what it committed
            console.print(f"bus: {published} event(s) published")
        return stats
    finally:
        await rt.aclose()


async def _serve(rt, host: str, port: int) -> None:  # type: ignore[no-untyped-def]
    import uvicorn

    from b24sync.server.mount import routers_for

    from b24sync.server.app import create_app

    server = uvicorn.Server(uvicorn.Config(create_app(rt, routers_for(rt)), host=host, port=port, log_level="warning"))
    await server.serve()


def status_cmd(as_json: bool = typer.Option(False, "--json", help="One JSON object instead of tables")) -> None:
    """Queue depth per entity, oldest pending age, dead letters and held records, last successful poll."""
    db = open_store()
    st = jobs.status(db)
    polls = cursors.all_cursors(db)
    if as_json:
        import json

        typer.echo(json.dumps({"entities": [s.__dict__ for s in st],
                               "polls": {k: {"cursor": v, "at": str(at)} for k, (v, at) in polls.items()}},
                              ensure_ascii=False, default=str))
        return
    t = Table(title="Queue")
    for col in ("entity", "pending", "running", "oldest pending", "dead letters", "held"):
        t.add_column(col, justify="right" if col != "entity" else "left")
    for s in st:
        age = f"{s.oldest_pending_age_s:.0f}s" if s.oldest_pending_age_s is not None else "—"
        t.add_row(s.entity, str(s.pending), str(s.running), age, str(s.dead), str(s.held))
    console.print(t if st else "queue is empty, no dead letters")
    if polls:
        p = Table(title="Last successful poll")
        p.add_column("entity / side")
        p.add_column("at (UTC)")
        p.add_column("cursor")
        for name, (value, at) in sorted(polls.items()):
            if name.startswith("poll:"):
                when = at.replace(tzinfo=UTC) if isinstance(at, datetime) and at.tzinfo is None else at
                p.add_row(name[5:], str(when)[:19], str(value.get("modified") or value.get("token") or "—"))
        console.print(p)


def dead_cmd(entity: str | None = typer.Option(None, help="Only this entity"),
             limit: int = typer.Option(50, help="At most this many")) -> None:
    """List open dead letters and held records with their reasons."""
    from sqlalchemy import select

    from b24sync.store.models import DeadLetter

    db = open_store()
    q = select(DeadLetter).where(DeadLetter.resolved_at.is_(None)).order_by(DeadLetter.id).limit(limit)
    if entity:
        q = q.where(DeadLetter.entity == entity)
    with db.connect() as conn:
        rows = conn.execute(q).all()
    t = Table(title="Dead letters and held records")
    for col in ("id", "kind", "entity", "record", "attempts", "reason"):
        t.add_column(col, overflow="fold")
    for r in rows:
        t.add_row(str(r.id), r.kind, r.entity, f"{r.payload.get('side', '')}:{r.payload.get('id', '')}",
                  str(r.attempts), r.reason)
    console.print(t if rows else "no open dead letters")


def replay_cmd(
    dead_letter: int | None = typer.Argument(None, help="A dead letter id (see `b24sync dead`)"),
    entity: str | None = typer.Option(None, help="Replay every open dead letter of this entity"),
    all_: bool = typer.Option(False, "--all", help="Replay every open dead letter"),
    held: bool = typer.Option(False, help="Only held records"),
) -> None:
    """Put dead letters back on the queue after the cause is fixed (one, all of an entity, or all)."""
    if dead_letter is None and entity is None and not all_:
        fail("say which: a dead letter id, --entity NAME, or --all", 2)
    n = jobs.replay(open_store(), dead_letter_id=dead_letter, entity=entity, kind="held" if held else None)
    console.print(f"replayed {n} dead letter(s)")
    if dead_letter is not None and n == 0:
        raise typer.Exit(1)

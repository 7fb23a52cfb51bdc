"""``b24sync run``, ``status`` and ``replay``: the long-running service and its operator commands."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.table import Table

from b24sync.cli.common import (announce_store, configure_logging, console, err_console, explain, fail, load_or_exit,
                                open_store_or_exit)
from b24sync.compose import build
from b24sync.engine.service import RunOptions, run
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
    """Run the scheduler, the workers and the webhook intake until SIGTERM (in-flight jobs are drained).

    With --once an entity whose poll fails (a system down, a wrong entity-set name) is reported in one line
    with its fix and the others still run; the exit code is then 2."""
    configure_logging(verbose)
    spec = load_or_exit(spec_file)
    url = announce_store()
    try:
        rt = build(spec, database_url=url)
    except KeyError as e:
        fail(str(e.args[0]))
    extra = []
    if serve and not once:
        extra.append(_serve(rt, host, port))
    if not once:
        if rt.spec.bus is not None:
            from b24sync.bus.consumer import tasks as bus_tasks

            extra += bus_tasks(rt)  # the outbox relay and the bus consumers of the spec's `bus:`
        from b24sync.ops.alerts import run_alerts
        from b24sync.ops.retention import run_retention

        extra += [run_alerts(rt), run_retention(rt)]
        from b24sync.engine.drift import watch as watch_names
        from b24sync.server.bitrix24_offline import tasks as offline_tasks

        extra.append(watch_names(rt))  # a name that disappears while running pauses its entity

        extra += offline_tasks(rt)  # Bitrix24 offline event queues (systems with offline_events: true)
        from b24sync.server.bitrix24_robots import tasks as robot_tasks

        extra += robot_tasks(rt)  # answers to Bitrix24 automation robots (bizproc.event.send) once their jobs end
    stats = asyncio.run(_main(rt, RunOptions(once=once, workers=workers, extra_tasks=extra), progress=once,
                              spec_file=spec_file))
    console.print(f"done: {stats.done} jobs ({', '.join(f'{k} {v}' for k, v in sorted(stats.actions.items())) or 'nothing to do'}), "
                  f"retried {stats.retried}, dead {stats.dead}, held {stats.held}")
    for entity, side, exc in stats.failed_polls:
        system = spec.system_for(spec.entities[entity], side)  # type: ignore[arg-type]
        err_console.print(f"[red]error:[/red] entity {entity}, {side} side (system {system}): {explain(exc)}",
                          highlight=False, soft_wrap=True)
    if stats.failed_polls or rt.refused:
        raise typer.Exit(2)


async def refuse_unknown_names(rt, spec_file: Path) -> None:  # type: ignore[no-untyped-def]
    """Before anything runs: every name the spec maps is compared with the live systems (engine/names.py); an
    entity with an unknown name does not start (FILE:LINE with the nearest names), the other entities run."""
    from b24sync.cli.common import name_problems

    report, problems = await name_problems(spec_file, rt)
    for p in problems:
        err_console.print(str(p), highlight=False, markup=False, soft_wrap=True)
    rt.refused.update(report.broken)
    for entity in report.broken:
        err_console.print(f"entity {entity} does not start (its names above do not exist); the others run",
                          highlight=False, markup=False, soft_wrap=True)


async def _main(rt, opts, *, progress: bool = False, spec_file: Path | None = None):  # type: ignore[no-untyped-def]
    from b24sync.progress import Progress, watch_queue

    try:
        if spec_file is not None:
            await refuse_unknown_names(rt, spec_file)
        if not progress:
            stats = await run(rt, opts)
        else:
            with Progress() as prog:  # the jobs the polls enqueue, drained by the workers
                watcher = asyncio.ensure_future(watch_queue(lambda: jobs.depth(rt.db), prog.task("jobs done")))
                try:
                    stats = await run(rt, opts)
                finally:
                    watcher.cancel()
                    await asyncio.gather(watcher, return_exceptions=True)
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

    from b24sync.server.logging import uvicorn_config

    server = uvicorn.Server(uvicorn_config(create_app(rt, routers_for(rt)), host=host, port=port,  # type: ignore[arg-type]
                                           log_level="warning"))
    serving = asyncio.ensure_future(server.serve())
    try:
        await asyncio.shield(serving)
    except asyncio.CancelledError:
        # drained on SIGTERM: stop the server the way it stops itself (lifespan shutdown, connections closed) —
        # cancelling it mid-lifespan printed a CancelledError traceback at every stop
        server.should_exit = True
        await serving
        raise


def utc_text(value: object) -> str:
    """Every time the operator commands print is UTC with a ``Z`` (the store keeps UTC; SQLite drops the zone).
    A system's own timestamp with an offset (``…+03:00``) is converted; one without a zone is shown as the system
    sent it, marked ``(system time)``."""
    if value is None or value == "":
        return "—"
    when: datetime | None = value if isinstance(value, datetime) else None
    if when is None and isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        if when.tzinfo is None:
            return f"{value} (system time)"
    if when is None:
        return str(value)
    if when.tzinfo is None:  # read back from the store: UTC without its zone
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _paused(db) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    """Entities the engine paused (a mapped name vanished, or a person paused it), from ``entity_state``."""
    from sqlalchemy import select

    from b24sync.store.models import EntityState

    with db.connect() as conn:
        rows = conn.execute(select(EntityState).where(EntityState.paused.is_(True)).order_by(EntityState.entity)).all()
    return [{"entity": r.entity, "reason": r.reason or "", "since": utc_text(r.since)} for r in rows]


def status_cmd(as_json: bool = typer.Option(False, "--json", help="One JSON object instead of tables")) -> None:
    """Queue depth per entity, oldest pending age, dead letters and held records, paused entities, last successful
    poll. Every time is UTC (``…Z``)."""
    db = open_store_or_exit(must_exist=True)
    st = jobs.status(db)
    polls = {k[5:]: v for k, v in cursors.all_cursors(db).items() if k.startswith("poll:")}
    paused = _paused(db)
    if as_json:
        import json

        typer.echo(json.dumps({"entities": [s.__dict__ for s in st], "paused": paused,
                               "polls": {k: {"cursor": v, "at": utc_text(at)} for k, (v, at) in sorted(polls.items())}},
                              ensure_ascii=False, default=str))
        return
    t = Table(title="Queue")
    for col in ("entity", "pending", "running", "oldest pending", "dead letters", "held"):
        t.add_column(col, justify="right" if col != "entity" else "left", overflow="fold")
    for s in st:
        age = f"{s.oldest_pending_age_s:.0f}s" if s.oldest_pending_age_s is not None else "—"
        t.add_row(s.entity, str(s.pending), str(s.running), age, str(s.dead), str(s.held))
    console.print(t if st else "queue is empty, no dead letters")
    if paused:
        pt = Table(title="Paused entities (nothing syncs for them until resumed)")
        pt.add_column("entity")
        pt.add_column("since (UTC)")
        pt.add_column("reason", overflow="fold")
        for row in paused:
            pt.add_row(str(row["entity"]), str(row["since"]), str(row["reason"]))
        console.print(pt)
    if polls:
        p = Table(title="Last successful poll")
        p.add_column("entity / side")
        p.add_column("at (UTC)")
        p.add_column("cursor", overflow="fold")
        for name, (value, at) in sorted(polls.items()):
            cur = value.get("modified") or value.get("token") or "—"
            p.add_row(name, utc_text(at), utc_text(cur) if value.get("modified") else str(cur))
        console.print(p)


# numbers standing alone vary (ids, amounts, dates); digits inside a word are part of the word («1С», «Битрикс24», НДС22)
_VARYING = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|(?<!\w)\d+(?!\w)|«[^»]*»|"
                      r"'[^']*'|\"[^\"]*\"")


def reason_group(reason: str) -> str:
    """Two reasons are one group when they differ only in ids, numbers and quoted names."""
    return _VARYING.sub("…", reason.strip().splitlines()[0] if reason.strip() else "")[:300]


def dead_cmd(entity: str | None = typer.Option(None, help="Only this entity"),
             limit: int = typer.Option(1000, help="At most this many open entries are read"),
             by_record: bool = typer.Option(False, "--by-record", help="One row per record instead of per reason"),
             as_json: bool = typer.Option(False, "--json", help="JSON (groups with their entries) instead of tables")) -> None:
    """Open dead letters and held records, grouped by reason: how many records, how often seen, the ids to replay.
    One entry per record and reason (a record parked again for the same reason is counted, not added)."""
    from sqlalchemy import select

    from b24sync.store.models import DeadLetter

    db = open_store_or_exit(must_exist=True)
    q = select(DeadLetter).where(DeadLetter.resolved_at.is_(None)).order_by(DeadLetter.id).limit(limit)
    if entity:
        q = q.where(DeadLetter.entity == entity)
    with db.connect() as conn:
        rows = conn.execute(q).all()
    groups: dict[tuple[str, str, str, str], list] = {}
    for r in rows:
        groups.setdefault((r.entity, r.kind, r.error_type, reason_group(r.reason)), []).append(r)
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))

    def entry(r) -> dict[str, object]:  # type: ignore[no-untyped-def]
        return {"id": r.id, "record": f"{r.payload.get('side', '')}:{r.payload.get('id', '')}", "lane": r.lane,
                "count": r.count or 1, "attempts": r.attempts, "first_seen": utc_text(r.created_at),
                "last_seen": utc_text(r.last_seen_at or r.created_at), "reason": r.reason}

    if as_json:
        import json

        typer.echo(json.dumps({"groups": [
            {"entity": e, "kind": k, "error_type": et, "reason": rs[0].reason, "pattern": pat, "records": len(rs),
             "occurrences": sum(r.count or 1 for r in rs),
             "last_seen": max(utc_text(r.last_seen_at or r.created_at) for r in rs),
             "entries": [entry(r) for r in rs]} for (e, k, et, pat), rs in ordered],
            "open": len(rows)}, ensure_ascii=False, default=str))
        return
    if not rows:
        console.print("no open dead letters")
        return
    if by_record:
        t = Table(title="Dead letters and held records")
        for col in ("id", "kind", "entity", "record", "times", "last seen (UTC)", "reason"):
            t.add_column(col, overflow="fold")
        for r in rows:
            e = entry(r)
            t.add_row(str(r.id), r.kind, r.entity, str(e["record"]), str(e["count"]), str(e["last_seen"]), r.reason)
        console.print(t)
        return
    t = Table(title=f"Open dead letters and held records by reason ({len(rows)} entries)")
    for col in ("kind", "entity", "records", "times", "last seen (UTC)", "ids", "reason (first record's text)"):
        t.add_column(col, overflow="fold", justify="right" if col in ("records", "times") else "left")
    for (e, k, _et, _pat), rs in ordered:
        ids = ", ".join(str(r.id) for r in rs[:5]) + (f" +{len(rs) - 5}" if len(rs) > 5 else "")
        t.add_row(k, e, str(len(rs)), str(sum(r.count or 1 for r in rs)),
                  max(utc_text(r.last_seen_at or r.created_at) for r in rs), ids, rs[0].reason)
    console.print(t)
    console.print("`b24sync replay ID` replays one, `--entity NAME` all of an entity; `--by-record` lists each record.")


def replay_cmd(
    dead_letter: int | None = typer.Argument(None, help="A dead letter id (see `b24sync dead`)"),
    entity: str | None = typer.Option(None, help="Replay every open dead letter of this entity"),
    all_: bool = typer.Option(False, "--all", help="Replay every open dead letter"),
    held: bool = typer.Option(False, help="Only held records (alone: every open held record)"),
) -> None:
    """Put dead letters back on the queue after the cause is fixed (one, all of an entity, all, or --held: every
    held record — what the hold messages on the CRM timeline tell the user to run)."""
    if dead_letter is None and entity is None and not all_ and not held:
        fail("say which: a dead letter id, --entity NAME, --held or --all", 2)
    n = jobs.replay(open_store_or_exit(must_exist=True), dead_letter_id=dead_letter, entity=entity, kind="held" if held else None)
    console.print(f"replayed {n} {'held record' if held else 'dead letter'}(s)")
    if dead_letter is not None and n == 0:
        fail(f"no open dead letter {dead_letter} — `b24sync dead --by-record` lists the open ones with their ids", 1)

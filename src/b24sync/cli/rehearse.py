"""``b24sync rehearse SPEC``: a dry run of any spec against local sandboxes.

It starts a sandbox for every system the spec names (never touching the systems the spec points at), prepares the
portal as ``portal prepare`` would, seeds sample data on both sides, runs one full cycle and prints what happened
per entity. Exit 0 when the cycle is clean (no dead letter, no entity that failed to run); held records are shown —
a hold is the spec's own rule speaking, with its message for the manager. Without ``--once`` it keeps serving
(sandboxes + b24sync's intake) until Ctrl-C, so one can edit data in the sandboxes and watch it sync.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from sqlalchemy import Integer, func, select

from b24sync.cli.common import console, fail
from b24sync.spec.loader import SpecError, load_spec
from b24sync.spec.models import Spec

_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|(?<!\w)\d+(?!\w)")
# outcomes of a job that wrote to a system (the rest: unchanged, skipped, echo, ...)
_WRITES = ("created", "updated", "linked", "relinked", "recreated", "reverted", "deleted", "posted", "commented",
           "notified", "moved")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}")


def _rehearsal_env(path: Path) -> dict[str, str]:
    """The environment the spec is loaded with: every ``${VAR}`` it names is set (to a marker) so the spec loads
    without credentials; the stand then replaces every endpoint and credential of every system."""
    env = dict(os.environ)
    for var in _VAR.findall(path.read_text(encoding="utf-8")):
        env.setdefault(var, f"rehearsal-{var.lower()}")
    return env


def rehearse_cmd(
    spec_file: Path = typer.Argument(..., exists=True, dir_okay=False, help="The integration spec to rehearse"),
    once: bool = typer.Option(False, help="Run one full cycle, print the report and exit (0 = clean)"),
    port: int = typer.Option(0, help="Port of b24sync's own server while serving (0 = any free port)"),
    records: int = typer.Option(20, help="Sample records seeded on the CRM side per object"),
) -> None:
    """Dry-run SPEC against sandboxes of every system it names; exit 0 when the cycle is clean."""
    import logging

    from b24sync.rehearsal.stand import StandError, start_stand
    from b24sync.server.logging import configure

    configure(logging.WARNING)
    try:
        written = load_spec(spec_file, _rehearsal_env(spec_file))
    except SpecError as e:
        for p in e.problems:
            typer.echo(str(p), err=True)
        raise typer.Exit(2) from None
    try:
        stand = start_stand(written)
    except StandError as e:
        fail(str(e), 2)
        return
    store_dir = Path(tempfile.mkdtemp(prefix="b24sync-rehearsal-store-"))
    try:
        spec = stand.apply(written)
        for name, url in stand.urls.items():
            console.print(f"[bold]{name}[/bold] ({spec.systems[name].type}) sandbox: {url}", highlight=False)
        store = f"sqlite:///{store_dir / 'state.db'}"
        console.print(f"store: {store}", highlight=False)
        clean = asyncio.run(_rehearse(spec, stand, store, once=once, port=port, records=records))
    finally:
        stand.stop()
        import shutil

        shutil.rmtree(store_dir, ignore_errors=True)
    raise typer.Exit(0 if clean else 1)


def _forget_cursor(rt: Any, entity: str, side: str) -> None:
    from sqlalchemy import delete

    from b24sync.engine.scheduler import cursor_name
    from b24sync.store.models import Cursor

    with rt.db.begin() as conn:
        conn.execute(delete(Cursor).where(Cursor.name == cursor_name(entity, side)))  # type: ignore[arg-type]


def _next_due_in(db: Any) -> float | None:
    """Seconds until the earliest queued job is due (negative: due now), None when the queue is empty."""
    from datetime import UTC, datetime

    from sqlalchemy import Integer, func, select

    from b24sync.store.models import Job

    with db.connect() as conn:
        at = conn.execute(select(func.min(Job.run_at))).scalar()
    if at is None:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)  # SQLite drops the zone; the store keeps UTC
    return (at - datetime.now(UTC)).total_seconds()


def _add_stats(total: Any, more: Any) -> None:
    total.done += more.done
    total.retried += more.retried
    total.dead += more.dead
    total.held += more.held
    for k, v in more.actions.items():
        total.actions[k] = total.actions.get(k, 0) + v
    total.failed_polls.extend(more.failed_polls)


async def _cycle(rt: Any) -> Any:
    """Run the workers until nothing is due (within a minute); the stats of the jobs run."""
    from b24sync.engine.service import RunOptions, run
    from b24sync.progress import Progress, watch_queue
    from b24sync.store import queue as jobs

    with Progress() as prog:  # counts, rate and ETA on a terminal; nothing in CI or a pipe
        total = await asyncio.to_thread(jobs.depth, rt.db)
        watcher = asyncio.ensure_future(watch_queue(lambda: jobs.depth(rt.db), prog.task("rehearsing", total=total)))
        try:
            stats = await run(rt, RunOptions(once=True, poll=False))
            # A cycle includes the short waits inside it: a contact whose company is pushed first retries in
            # seconds — `run --once` leaves such a job queued, a rehearsal finishes it (up to a minute).
            for _ in range(20):
                wait = await asyncio.to_thread(_next_due_in, rt.db)
                if wait is None or wait > 60:
                    break
                await asyncio.sleep(max(0.0, wait) + 0.05)
                _add_stats(stats, await run(rt, RunOptions(once=True, poll=False)))
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
    return stats


async def _rehearse(spec: Spec, stand: Any, store: str, *, once: bool, port: int, records: int) -> bool:
    from b24sync.compose import build
    from b24sync.engine.service import RunOptions, run
    from b24sync.rehearsal.prepare import prepare, seed, seed_late

    try:
        rt = build(spec, database_url=store)
    except KeyError as e:
        fail(str(e.args[0]), 2)
        return False
    try:
        notes = await prepare(rt, spec, stand)
        notes += await seed(rt, spec, stand, records=records)
        for line in notes:
            console.print(f"  • {line}", markup=False, highlight=False)
        from b24sync.engine.names import check_names

        names = await check_names(rt)  # after prepare: what is still unknown is a typo, not a missing user field
        for ps in names.problems.values():
            for p in ps:
                console.print(f"  ✗ {'' if p.fatal else 'warning: '}{p.what} — {p.fix}", markup=False,
                              highlight=False)
        rt.refused.update(names.broken)
        # A rehearsal reconciles everything seeded: each entity's source side is read once, whatever its triggers
        # (a webhook-only entity would otherwise wait for an event that a rehearsal never gets).
        from b24sync.engine.scheduler import poll_once

        for name, ent in spec.entities.items():
            sides = {"erp_to_crm": ("erp",), "crm_to_erp": ("crm",)}.get(ent.direction, ("erp", "crm"))
            for side in sides:
                await poll_once(rt, name, side)  # type: ignore[arg-type]
        stats = await _cycle(rt)
        late, again = await seed_late(rt, spec, stand, records=records)
        if late:  # contacts and deals of the companies the first cycle brought from the ERP
            for line in late:
                console.print(f"  • {line}", markup=False, highlight=False)
            for name in again:  # read afresh: the seeded records are dated before the first poll's cursor
                await asyncio.to_thread(_forget_cursor, rt, name, "crm")
                await poll_once(rt, name, "crm")
            _add_stats(stats, await _cycle(rt))
        clean = _report(rt, spec, stats) and not names.broken
        if once:
            return clean
        from b24sync.cli.run import _serve

        console.print(f"\nServing b24sync on http://127.0.0.1:{port or 8400} with the sandboxes above. Ctrl-C stops.")
        await run(rt, RunOptions(extra_tasks=[_serve(rt, "127.0.0.1", port or 8400)]))
        return clean
    finally:
        await rt.aclose()


def _report(rt: Any, spec: Spec, stats: Any) -> bool:
    from b24sync.store import queue as jobs
    from b24sync.store.models import DeadLetter, HistoryEntry

    per_entity = {s.entity: s for s in jobs.status(rt.db)}
    with rt.db.connect() as conn:
        # what each entity did: jobs settled, and of those the ones that wrote to a system
        ran = {e: (int(n), int(w or 0)) for e, n, w in conn.execute(
            select(HistoryEntry.entity, func.count(),
                   func.sum(HistoryEntry.action.in_(_WRITES).cast(Integer)))  # type: ignore[attr-defined]
            .where(HistoryEntry.outcome == "ok").group_by(HistoryEntry.entity)).all()}
        parked = conn.execute(select(DeadLetter.entity, DeadLetter.kind, DeadLetter.reason)
                              .where(DeadLetter.resolved_at.is_(None))).all()
    groups: dict[tuple[str, str, str], list[str]] = {}
    for entity, kind, reason in parked:  # one line per reason, whatever record it names
        groups.setdefault((entity, kind, _ID.sub("…", str(reason))), []).append(str(reason))
    reasons = [(e, k, texts[0], len(texts)) for (e, k, _), texts in groups.items()]
    table = Table(title="Rehearsal: one full cycle")
    for col in ("entity", "direction", "jobs", "written", "dead letters", "held", "still pending"):
        table.add_column(col, justify="left" if col in ("entity", "direction") else "right")
    for name, ent in spec.entities.items():
        st = per_entity.get(name)
        n, w = ran.get(name, (0, 0))
        table.add_row(name, ent.direction, str(n), str(w), str(st.dead if st else 0), str(st.held if st else 0),
                      str(st.pending + st.running if st else 0))
    console.print(table)
    actions = ", ".join(f"{k} {v}" for k, v in sorted(stats.actions.items())) or "no writes"
    open_held = sum(s.held for s in per_entity.values())
    # a job held on the way and let go since (a payment whose order got its deal a moment later) is no longer in the
    # table: say so, instead of a "held 2" beside a table of zeros
    held = (f"held {stats.held}" if stats.held == open_held else
            f"held {stats.held} on the way, {open_held} still held (the rest released once what they waited for "
            "arrived)")
    console.print(f"{stats.done} job(s): {actions}; retried {stats.retried}, dead {stats.dead}, {held}.")
    for entity, kind, reason, n in reasons:
        colour = "red" if kind != "held" else "yellow"
        console.print(f"  [{colour}]{kind}[/{colour}] {entity} ×{n}, e.g.: {str(reason)[:300]}", highlight=False)
    dead = sum(s.dead for s in per_entity.values())
    clean = stats.dead == 0 and dead == 0
    console.print("[green]clean[/green]: every record synced or held by a rule." if clean
                  else "[red]not clean[/red]: see the dead letters above.")
    return clean

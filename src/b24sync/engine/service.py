"""Assembling a runtime from a spec: open the store (migrating it), build one adapter per system, register the
job handlers. The engine itself knows no connector: adapters come from the factory the caller passes in."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import Engine

from b24sync.engine.ports import SystemAdapter
from b24sync.engine.runtime import Handler, Runtime
from b24sync.engine.scheduler import Scheduler
from b24sync.engine import files
from b24sync.engine.sync import sync_record
from b24sync.engine.worker import Worker, WorkerStats
from b24sync.spec.models import Spec
from b24sync.store.db import make_engine, migrate
from b24sync.store.kv import RedisState, SharedState, SqlState, installation_id, redis_prefix  # noqa: F401

log = structlog.get_logger("b24sync.service")

AdapterBuilder = Callable[[str, str, dict[str, Any]], SystemAdapter]

# Extra job handlers contributed by flows: kind -> handler. Flows register themselves here on import.
FLOW_HANDLERS: dict[str, Handler] = {}


def open_store(url: str | None = None) -> Engine:
    engine = make_engine(url)
    migrate(engine)
    return engine


def shared_state(db: Engine) -> SharedState:
    """Redis when ``B24SYNC_REDIS_URL`` is set (workers on several hosts), else the store's kv table.

    Redis keys are scoped to the installation — the store: ``b24sync:<installation id>:…``, the id kept in the
    store's kv table (``B24SYNC_REDIS_PREFIX`` overrides). Without that, a second installation on the same Redis, or
    a store created anew, read the 1C row versions an earlier one had acknowledged and skipped every record as
    unchanged (seen in bench/scale_workers.py: 0 of 400 synced)."""
    url = os.environ.get("B24SYNC_REDIS_URL")
    if not url:
        return SqlState(db)
    return RedisState(url, prefix=redis_prefix(db))


def build_runtime(spec: Spec, build_adapter: AdapterBuilder, *, db: Engine | None = None,
                  database_url: str | None = None) -> Runtime:
    from b24sync.messages import set_locale

    set_locale(spec.locale)  # the language of everything managers read (b24sync.messages)
    db = db or open_store(database_url)
    state = shared_state(db)
    adapters: dict[str, SystemAdapter] = {}
    used = {spec.system_for(e, side) for e in spec.entities.values() for side in ("crm", "erp")}
    for name, system in spec.systems.items():
        if name in used:
            # Rate budgets, tokens and version stores are shared by every worker of the installation.
            adapters[name] = build_adapter(name, system.type, {**system.config(), "state": state})
    from b24sync.engine import aggregate, overdue

    handlers: dict[str, Handler] = {"sync": sync_record, aggregate.KIND: aggregate.handle, files.KIND: files.transfer_files,
                                    overdue.KIND: overdue.remind, **FLOW_HANDLERS}
    return Runtime(spec=spec, db=db, adapters=adapters, handlers=handlers)


@dataclass
class RunOptions:
    once: bool = False  # poll every entity once, work until nothing is due, exit
    workers: int | None = None
    poll: bool = True
    extra_tasks: list[Any] = field(default_factory=list)


async def run(rt: Runtime, opts: RunOptions) -> WorkerStats:
    """Scheduler + workers until SIGTERM/SIGINT (drains in-flight jobs), or one full pass with ``once``."""
    worker = Worker(rt, concurrency=opts.workers)
    # Polls are coordinated with every other process on the store through poll leases in this worker's name.
    scheduler = Scheduler(rt, owner=worker.owner, lease_seconds=worker.stale_seconds)
    await asyncio.to_thread(worker.announce)  # frees what a dead predecessor held before anything is polled
    worker.start_heartbeat()
    if opts.once:
        failed: list[tuple[str, str, BaseException]] = []
        if opts.poll:
            for t in scheduler.plan:
                try:
                    await scheduler.poll(t, raise_errors=True)  # skipped while another live process polls it
                except Exception as e:  # noqa: BLE001 - one broken entity (a wrong name, a system down) must not stop the others
                    log.warning("poll failed", entity=t.entity, side=t.side, error=str(e))
                    failed.append((t.entity, t.side, e))
            await scheduler.sweep()  # the daily timers (overdue notices) that are due
        stats = await worker.run(until_idle=True)
        stats.failed_polls.extend(failed)
        return stats

    loop = asyncio.get_running_loop()

    def _stop() -> None:
        worker.stop()
        scheduler.stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, _stop)
        except (NotImplementedError, RuntimeError):  # not the main thread (tests)
            pass
    tasks = [asyncio.create_task(worker.run())]
    if opts.poll:
        tasks.append(asyncio.create_task(scheduler.run()))
    # Beside them: the server, the bus relay and consumers, alerts, retention, offline events. They run until the
    # workers have drained (SIGTERM), then they are cancelled — none of them may keep the process alive.
    extras = [asyncio.create_task(t) for t in opts.extra_tasks]
    for t in extras:
        t.add_done_callback(_report_extra)
    try:
        await asyncio.gather(*tasks)
    finally:
        _stop()
        for t in extras:
            t.cancel()
        await asyncio.gather(*extras, return_exceptions=True)
    return worker.stats


def _report_extra(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("a service task stopped", task=task.get_name(), error=repr(task.exception()))

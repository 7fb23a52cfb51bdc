"""Progress bars for long commands (initial-load, resync, rehearse, catalogue loads): counts, rate and ETA.

Rich draws them on stderr, so a command's own output (tables, ``--json``) stays clean. They are off when stderr is not
a terminal or a CI variable is set (``CI``, ``B24SYNC_NO_PROGRESS``): a log file or a CI job gets no control codes.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from typing import Any

Tick = Callable[[int], None]


def progress_wanted() -> bool:
    """Bars only for a person at a terminal: never in CI, never when stderr goes to a file or a pipe."""
    if os.environ.get("B24SYNC_NO_PROGRESS") or os.environ.get("CI"):
        return False
    return sys.stderr.isatty()


class Progress:
    """A set of bars; ``task(description, total)`` returns a tick function (``tick(n)`` advances by n).

    Disabled (``enabled=False`` or not wanted), every tick is a no-op, so callers never branch on it."""

    def __init__(self, enabled: bool = True) -> None:
        self.p: Any = None
        if enabled and progress_wanted():
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, SpinnerColumn, TaskProgressColumn, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)
            from rich.progress import Progress as RichProgress

            self.p = RichProgress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                  MofNCompleteColumn(), TaskProgressColumn(),
                                  TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                                  TextColumn("ETA"), TimeRemainingColumn(),
                                  console=Console(stderr=True), transient=False)

    @property
    def enabled(self) -> bool:
        return self.p is not None

    def __enter__(self) -> Progress:
        if self.p is not None:
            self.p.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.p is not None:
            self.p.__exit__(*exc)

    def task(self, description: str, total: int | None = None) -> Tick:
        if self.p is None:
            return lambda n: None
        p = self.p
        tid = p.add_task(description, total=total, rate="")

        def tick(n: int) -> None:
            p.advance(tid, n)
            speed = next((t.speed for t in p.tasks if t.id == tid), None)
            if speed:
                p.update(tid, rate=f"{speed:,.1f}/s")

        return tick

    def set_total(self, description: str, total: int) -> None:
        if self.p is not None:
            for t in self.p.tasks:
                if t.description == description:
                    self.p.update(t.id, total=total)


async def watch_queue(depth: Callable[[], int], tick: Tick, *, every: float = 0.5) -> None:
    """Advance ``tick`` by the jobs the queue lost since the last look (cancel the task to stop watching).

    The queue can grow while it drains (a created company enqueues its contacts): only decreases count."""
    last = await asyncio.to_thread(depth)
    try:
        while True:
            await asyncio.sleep(every)
            now = await asyncio.to_thread(depth)
            if now < last:
                tick(last - now)
            last = now
    except asyncio.CancelledError:
        now = await asyncio.to_thread(depth)
        if now < last:
            tick(last - now)
        raise

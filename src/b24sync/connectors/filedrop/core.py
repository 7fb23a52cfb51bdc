"""Polling loop of the file drop (see the package docstring for the rules)."""

from __future__ import annotations

import asyncio
import fnmatch
import inspect
import logging
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import anyio

from b24sync.engine.errors import DeferError, RetryableError, SyncError

log = logging.getLogger(__name__)

IGNORED_SUFFIXES = (".tmp", ".part", ".partial", ".reason.txt")


@dataclass(frozen=True, slots=True)
class DropEntry:
    name: str  # file name inside the drop location (no directory part)
    size: int
    mtime: float | str | None = None  # whatever the source offers to detect a rewrite (mtime, ETag, MDTM)


class DropSource(Protocol):
    """Where files are dropped. ``fetch`` returns a local path to read (the file itself for a local folder, a
    downloaded copy otherwise) and whether that copy is temporary."""

    description: str

    def list(self) -> list[DropEntry]: ...

    def fetch(self, name: str, tmp_dir: Path) -> Path: ...

    def archive(self, name: str, archived_name: str) -> None: ...

    def reject(self, name: str, rejected_name: str, reason: str) -> None: ...


@dataclass(slots=True)
class PollResult:
    imported: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    retry: dict[str, str] = field(default_factory=dict)
    waiting: list[str] = field(default_factory=list)  # seen but not yet stable


Handler = Callable[[Path, str], Awaitable[None] | None]


def _stamp(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%S%fZ")


class FileDrop:
    """Poll ``source``; import stable new files with ``handler``; archive or reject them."""

    def __init__(self, source: DropSource, handler: Handler, *, pattern: str = "*",
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.source = source
        self.handler = handler
        self.pattern = pattern
        self.clock = clock
        self._previous: dict[str, DropEntry] = {}

    def _eligible(self, name: str) -> bool:
        low = name.lower()
        return (not name.startswith(".") and not low.endswith(IGNORED_SUFFIXES)
                and fnmatch.fnmatch(low, self.pattern.lower()))

    async def _run_handler(self, path: Path, name: str) -> None:
        if inspect.iscoroutinefunction(self.handler):
            await self.handler(path, name)
            return
        result = await anyio.to_thread.run_sync(self.handler, path, name)
        if inspect.isawaitable(result):
            await result

    async def poll_once(self) -> PollResult:
        result = PollResult()
        entries = await anyio.to_thread.run_sync(self.source.list)
        current = {e.name: e for e in entries if self._eligible(e.name)}
        stable = []
        for name, entry in sorted(current.items()):
            before = self._previous.get(name)
            if before is not None and before.size == entry.size and before.mtime == entry.mtime:
                stable.append(name)
            else:
                result.waiting.append(name)
        self._previous = current
        for name in stable:
            with tempfile.TemporaryDirectory(prefix="b24sync-drop-") as tmp:
                try:
                    path = await anyio.to_thread.run_sync(self.source.fetch, name, Path(tmp))
                    await self._run_handler(path, name)
                except (RetryableError, DeferError) as exc:
                    result.retry[name] = exc.reason
                    log.warning("file drop %s: %s will be retried: %s", self.source.description, name, exc.reason)
                    continue
                except Exception as exc:  # noqa: BLE001 - anything else is a broken file for a person to look at
                    reason = exc.reason if isinstance(exc, SyncError) else f"{type(exc).__name__}: {exc}"
                    rejected_name = f"{_stamp(self.clock())}_{name}"
                    await anyio.to_thread.run_sync(self.source.reject, name, rejected_name, reason)
                    self._previous.pop(name, None)
                    result.rejected[name] = reason
                    log.warning("file drop %s: %s rejected: %s", self.source.description, name, reason)
                    continue
            archived = f"{_stamp(self.clock())}_{name}"
            await anyio.to_thread.run_sync(self.source.archive, name, archived)
            self._previous.pop(name, None)
            result.imported.append(name)
        return result

    async def run(self, interval_seconds: float, stop: asyncio.Event | None = None) -> None:
        """Poll forever (or until ``stop`` is set). A failing source (network down) is logged and retried."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                await self.poll_once()
            except Exception:  # noqa: BLE001
                log.exception("file drop %s: poll failed", self.source.description)
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval_seconds)
            except TimeoutError:
                pass


"""Import payments from statements exactly once, and the file-drop handler.

Deduplication key: :meth:`Payment.payment_key` (number + date + payer INN + payer account). The set of seen keys
lives in a ``SharedState`` (all workers, survives restarts) or, for tools and tests, a plain ``set``. The same
statement imported twice — or two overlapping statements (banks repeat days at period edges) — hands every payment
to ``on_payment`` once.

Per payment: the key is *claimed* atomically, ``on_payment`` runs, the key is marked *done*. A failing handler
marks it *failed* (retried on the next import); a claim older than ``claim_timeout`` (a crashed worker) can be
taken again. So delivery is at-least-once in the crash window — ``on_payment`` should be idempotent (e.g. look the
payment up by its key in the CRM before creating it).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from b24sync.connectors.bank_statement.reader import Payment, Statement, parse_bytes
from b24sync.store.kv import SharedState

OnPayment = Callable[[Payment, Statement], Awaitable[None] | None]


@dataclass
class ImportResult:
    source: str
    new: list[Payment] = field(default_factory=list)
    skipped: list[Payment] = field(default_factory=list)


class StatementImporter:
    def __init__(self, seen: SharedState | set[str], on_payment: OnPayment | None = None, *,
                 prefix: str = "bank_statement:seen:", claim_timeout: float = 600.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.seen = seen
        self.on_payment = on_payment
        self.prefix = prefix
        self.claim_timeout = claim_timeout
        self.clock = clock

    # ---- seen-key bookkeeping

    def _claim(self, key: str) -> bool:
        if isinstance(self.seen, set):
            return key not in self.seen
        now = self.clock()

        def fn(old: dict[str, Any] | None):
            if old is None or old.get("status") == "failed" or (
                    old.get("status") == "claimed" and now - old.get("at", 0) > self.claim_timeout):
                return {"status": "claimed", "at": now}, True
            return None, False

        return self.seen.update(self.prefix + key, fn)

    def _finish(self, key: str, status: str) -> None:
        if isinstance(self.seen, set):
            if status == "done":
                self.seen.add(key)
            return
        value = {"status": status, "at": self.clock()}
        self.seen.update(self.prefix + key, lambda _old: (value, None))

    def already_seen(self, payment: Payment) -> bool:
        key = payment.payment_key()
        if isinstance(self.seen, set):
            return key in self.seen
        v = self.seen.get(self.prefix + key)
        return bool(v and v.get("status") == "done")

    # ---- import

    async def import_statement(self, statement: Statement) -> ImportResult:
        result = ImportResult(statement.source)
        keys_in_file: set[str] = set()
        for p in statement.payments:
            key = p.payment_key()
            if key in keys_in_file or not self._claim(key):
                result.skipped.append(p)
                continue
            keys_in_file.add(key)
            try:
                if self.on_payment is not None:
                    out = self.on_payment(p, statement)
                    if inspect.isawaitable(out):
                        await out
            except BaseException:
                self._finish(key, "failed")
                raise
            self._finish(key, "done")
            result.new.append(p)
        return result

    async def import_bytes(self, raw: bytes, *, source: str = "statement") -> ImportResult:
        return await self.import_statement(parse_bytes(raw, source=source))

    def filedrop_handler(self) -> Callable[[Path, str], Awaitable[None]]:
        """A handler for ``b24sync.connectors.filedrop.FileDrop(source, handler, pattern="*.txt")``: a broken
        statement raises ``StatementError`` (a ValidationError) → the drop moves the file to ``rejected/`` with
        the reason; a RetryableError from ``on_payment`` leaves the file in place for the next poll (payments
        already done are skipped then)."""

        async def handle(path: Path, name: str) -> None:
            await self.import_bytes(Path(path).read_bytes(), source=name)

        return handle

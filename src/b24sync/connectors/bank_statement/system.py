"""``type: bank-statement`` in a spec: a watched folder of «Клиент банка» statements (1CClientBankExchange 1.03,
erp-side.md §4.4) as a read-only source of payments.

A poll sweeps ``folder`` (``*.txt``, the format's usual extension, or ``pattern:``): each statement is parsed whole
(a broken file moves to ``rejected/`` beside a ``.reason.txt`` naming every bad line, and nothing of it is
imported), its payments are kept in ``work_dir/payments.db`` under their payment key (number + date + payer INN +
payer account, reader.py), and the file moves to ``archive/``. Overlapping statements — banks repeat the days at
a period's edges — and the same file dropped twice give the same records, so each payment reaches the CRM once
in effect. Object ``payments``: incoming payments (to one of the statement's own accounts); ``payments.outgoing``
and ``payments.all`` for the others. Fields (Russian, as in the file): Номер, Дата, Сумма, ПлательщикИНН,
ПлательщикКПП, Плательщик, ПлательщикСчет, ПолучательИНН, ПолучательСчет, НазначениеПлатежа, ДатаПоступило,
ВидДокумента, Файл. Nothing is ever written to a bank: create/update raise a clear error.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from b24sync.connectors.bank_statement.reader import Payment, Statement, StatementError, parse_bytes
from b24sync.engine.errors import PermanentError
from b24sync.engine.ports import ChangeCursor, ChangePage, ObjectRef, Record

OBJECTS = ("payments", "payments.outgoing", "payments.all")


def _record_id(p: Payment) -> str:
    """A short stable id from the payment key (the key itself has INNs and accounts: kept in the values)."""
    return hashlib.sha1(p.payment_key().encode()).hexdigest()[:20]


def _values(p: Payment, st: Statement, incoming: bool) -> dict[str, Any]:
    return {"Номер": p.number, "Дата": p.date.isoformat(), "Сумма": str(p.amount), "Направление":
            "incoming" if incoming else "outgoing", "ПлательщикИНН": p.payer.inn or None,
            "ПлательщикКПП": p.payer.kpp or None, "Плательщик": p.payer.name or None,
            "ПлательщикСчет": p.payer.account or None, "ПолучательИНН": p.recipient.inn or None,
            "ПолучательСчет": p.recipient.account or None, "НазначениеПлатежа": p.purpose,
            "ДатаПоступило": p.received.isoformat() if p.received else None, "ВидДокумента": p.kind,
            "Файл": st.source, "КлючПлатежа": p.payment_key()}


class BankStatementSystem:
    def __init__(self, name: str, *, folder: Path, work_dir: Path, pattern: str = "*.txt") -> None:
        self.name, self.folder, self.pattern = name, folder, pattern
        self.archive, self.rejected = folder / "archive", folder / "rejected"
        work_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(work_dir / "payments.db", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS payments (id TEXT PRIMARY KEY, direction TEXT NOT NULL, "
                         "doc TEXT NOT NULL, seen_at TEXT NOT NULL)")

    def sweep(self) -> int:
        """Import every statement waiting in the folder; return how many new payments it held."""
        if not self.folder.is_dir():
            raise PermanentError(f"{self.name}: statement folder {self.folder} does not exist")
        new = 0
        for f in sorted(self.folder.glob(self.pattern)):
            if not f.is_file() or f.name.startswith("."):
                continue
            raw = f.read_bytes()
            try:
                st = parse_bytes(raw, source=f.name)
            except StatementError as e:
                self._move(f, self.rejected)
                (self.rejected / f"{f.name}.reason.txt").write_text(str(e), encoding="utf-8")
                continue
            ours = {a.account for a in st.accounts} | ({st.header.get("РасчСчет", "")} - {""})
            stamp = datetime.now(UTC).isoformat()
            with self._lock:
                for p in st.payments:
                    incoming = p.recipient.account in ours
                    rid = _record_id(p)
                    known = self._db.execute("SELECT doc FROM payments WHERE id = ?", (rid,)).fetchone()
                    if known is not None and json.loads(known[0]).get("Сумма") != str(p.amount):
                        # The same payment (number, date, payer) in a later statement with another amount: kept
                        # beside the first as its own record, so a flow sees two documents with one key and a
                        # person decides (engine/aggregate.py parks it as a conflict) — never silently dropped.
                        rid = f"{rid}-{hashlib.sha1(str(p.amount).encode()).hexdigest()[:6]}"
                    cur = self._db.execute("INSERT OR IGNORE INTO payments (id, direction, doc, seen_at) "
                                           "VALUES (?, ?, ?, ?)",
                                           (rid, "incoming" if incoming else "outgoing",
                                            json.dumps(_values(p, st, incoming), ensure_ascii=False), stamp))
                    new += cur.rowcount
            self._move(f, self.archive)
        return new

    @staticmethod
    def _move(f: Path, folder: Path) -> None:
        folder.mkdir(exist_ok=True)
        target = folder / f.name
        if target.exists():  # the same name again (a re-sent statement): keep both
            target = folder / f"{f.stem}.{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}{f.suffix}"
        shutil.move(str(f), target)

    def _check(self, obj: ObjectRef) -> str | None:
        if obj.object not in OBJECTS:
            raise PermanentError(f"{self.name}: a bank-statement system has objects {', '.join(OBJECTS)}, "
                                 f"not {obj.object!r}")
        return {"payments": "incoming", "payments.outgoing": "outgoing"}.get(obj.object)

    def _rows(self, direction: str | None) -> list[tuple[str, dict[str, Any], str]]:
        q = "SELECT id, doc, seen_at FROM payments" + (" WHERE direction = ?" if direction else "")
        q += " ORDER BY seen_at, id"
        return [(i, json.loads(d), s) for i, d, s in self._db.execute(q, (direction,) if direction else ())]

    async def read_changes(self, obj: ObjectRef, cursor: ChangeCursor, *, overlap_seconds: float,
                           limit: int) -> ChangePage:
        direction = self._check(obj)
        import asyncio

        await asyncio.to_thread(self.sweep)
        rows = self._rows(direction)
        after = (cursor.modified.isoformat(), cursor.last_id or "") if cursor.modified else None
        fresh = [r for r in rows if after is None or (r[2], r[0]) > after][:limit]
        records = [Record(id=i, values=v, modified=datetime.fromisoformat(s)) for i, v, s in fresh]
        cur = ChangeCursor(modified=records[-1].modified, last_id=records[-1].id) if records else cursor
        return ChangePage(records=records, cursor=cur, more=len(fresh) == limit and len(rows) > limit)

    async def acknowledge(self, obj: ObjectRef, page: ChangePage) -> None:
        return None

    async def get(self, obj: ObjectRef, record_id: str) -> Record | None:
        self._check(obj)
        row = self._db.execute("SELECT doc, seen_at FROM payments WHERE id = ?", (record_id,)).fetchone()
        return Record(id=record_id, values=json.loads(row[0]), modified=datetime.fromisoformat(row[1])) if row else None

    async def find(self, obj: ObjectRef, criteria: dict[str, Any]) -> list[Record]:
        direction = self._check(obj)
        want = {k: None if v is None else str(v) for k, v in criteria.items()}
        return [Record(id=i, values=v, modified=datetime.fromisoformat(s)) for i, v, s in self._rows(direction)
                if all(v.get(k) == x for k, x in want.items())]

    async def exists(self, obj: ObjectRef, criteria: dict[str, Any]) -> bool:
        return bool(await self.find(obj, criteria))

    async def create(self, obj: ObjectRef, values: dict[str, Any]) -> str:
        raise PermanentError(f"{self.name}: a bank statement is read-only — set the entity's direction so "
                             "nothing is written to it")

    async def update(self, obj: ObjectRef, record_id: str, values: dict[str, Any], *,
                     expected_version: str | None = None) -> str | None:
        raise PermanentError(f"{self.name}: a bank statement is read-only — set the entity's direction so "
                             "nothing is written to it")

    async def aclose(self) -> None:
        self._db.close()


def from_config(name: str, config: dict[str, Any]) -> BankStatementSystem:
    if not config.get("folder"):
        raise PermanentError(f"system {name}: type bank-statement needs `folder` (where the bank client saves "
                             "statements)")
    folder = Path(str(config["folder"]))
    work = Path(str(config.get("work_dir") or folder / ".b24sync"))
    return BankStatementSystem(name, folder=folder, work_dir=work, pattern=str(config.get("pattern") or "*.txt"))

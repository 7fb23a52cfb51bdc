"""``type: commerceml`` in a spec: 1C's "exchange with site" as a system the engine syncs with.

1C is the client of this protocol (erp-side.md §3.4): it uploads catalogue packages to b24sync's exchange endpoint
(or an integrator drops them into ``drop_folder``) and pulls orders with ``mode=query``. So this "system" is the
site side's own durable state, under ``work_dir``:

* ``latest/`` — the last complete catalogue files (import*.xml, offers*.xml, prices/rests of 3.x). The catalogue
  flow's ``cml.products`` / ``cml.stock`` objects read them (flows/catalog.py); they survive a restart, so a
  restart never makes the catalogue look empty.
* ``orders.db`` (SQLite) — the order outbox (``orders`` object: what the CRM sends to 1C; 1C fetches the ones not
  yet confirmed, and ``mode=success`` marks them exported) and the documents 1C posted back (``Номер1С``,
  ``Дата1С``, statuses), which a poll of ``orders`` returns as changes.

An order's id is its ``Ид`` in the file; a create is idempotent on the spec's match key (``find`` looks the outbox
up by any field), so a retried create after a crash finds the order it wrote.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import uuid
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from b24sync.engine.errors import PermanentError, ValidationError
from b24sync.engine.ports import ChangeCursor, ChangePage, ObjectRef, Record

ORDERS = "orders"
CATALOG_OBJECTS = ("cml.products", "cml.stock")
_CATALOG_PATTERNS = ("import*.xml", "offers*.xml", "prices*.xml", "rests*.xml", "*.zip")
# order fields the outbox writes into the CommerceML document (the names of the elements, §3.3)
ORDER_FIELDS = ("Ид", "Номер", "Дата", "Сумма", "Валюта", "Комментарий", "Контрагент", "ИНН", "КПП", "Статус")


def _now() -> datetime:
    return datetime.now(UTC)


class CommerceMLSystem:
    def __init__(self, name: str, *, work_dir: Path, drop_folder: Path | None, username: str, password: str,
                 file_limit: int) -> None:
        self.name = name
        self.work_dir = work_dir
        self.drop_folder = drop_folder
        self.username, self.password, self.file_limit = username, password, file_limit
        self.latest = work_dir / "latest"
        self.latest.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(work_dir / "orders.db", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS outbox (id TEXT PRIMARY KEY, doc TEXT NOT NULL, "
                         "created_at TEXT NOT NULL, updated_at TEXT NOT NULL, exported_at TEXT)")
        self._db.execute("CREATE TABLE IF NOT EXISTS inbox (id TEXT PRIMARY KEY, doc TEXT NOT NULL, "
                         "modified TEXT NOT NULL)")

    # ---- catalogue files ----------------------------------------------------------------------------------------
    def catalog_files(self) -> list[Path]:
        """Sweep the drop folder into ``latest/`` (a newer file replaces the one of the same name) and return the
        current catalogue files, oldest first (import before offers when written together)."""
        if self.drop_folder is not None and self.drop_folder.is_dir():
            for pattern in _CATALOG_PATTERNS:
                for f in sorted(self.drop_folder.glob(pattern)):
                    if f.is_file() and not f.name.startswith("."):
                        self._keep(f, move=True)
        files = [f for p in _CATALOG_PATTERNS for f in self.latest.glob(p) if f.is_file()]
        order = {"import": 0, "offers": 1, "prices": 2, "rests": 3}
        return sorted(set(files), key=lambda f: (f.stat().st_mtime_ns, order.get(f.name[:6].rstrip("s_0123456789"),
                                                                                  9), f.name))

    def remember(self, path: Path) -> None:
        """A file 1C uploaded through the exchange is complete: keep it as the latest of its name."""
        self._keep(path, move=False)

    def _keep(self, src: Path, *, move: bool) -> None:
        target = self.latest / src.name
        tmp = self.latest / f".{src.name}.part"
        if move:
            shutil.move(str(src), tmp)
        else:
            shutil.copyfile(src, tmp)
        tmp.replace(target)  # atomic: a reader sees the old file or the new one, never half of one

    # ---- orders (outbox) and documents from 1C (inbox) ---------------------------------------------------------
    def _check(self, obj: ObjectRef) -> None:
        if obj.object != ORDERS:
            raise PermanentError(f"{self.name}: a CommerceML system serves `{ORDERS}` and the catalogue objects "
                                 f"{', '.join(CATALOG_OBJECTS)} (entities with these need the catalogue flow); "
                                 f"not {obj.object!r}")

    @staticmethod
    def _clean(values: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(values) - set(ORDER_FIELDS))
        if unknown:
            raise ValidationError(f"CommerceML order: unknown field(s) {', '.join(unknown)}; an order has "
                                  f"{', '.join(ORDER_FIELDS)}")
        out = {k: (None if v is None else str(v)) for k, v in values.items()}
        if out.get("Сумма") is not None:
            try:
                out["Сумма"] = str(Decimal(out["Сумма"]))
            except InvalidOperation:
                raise ValidationError(f"CommerceML order: Сумма {values['Сумма']!r} is not a number") from None
        return out

    def _rows(self) -> list[tuple[str, dict[str, Any], str, str | None]]:
        return [(i, json.loads(d), u, e) for i, d, u, e in
                self._db.execute("SELECT id, doc, updated_at, exported_at FROM outbox ORDER BY created_at, id")]

    def _record(self, rid: str) -> Record | None:
        row = self._db.execute("SELECT doc, updated_at FROM outbox WHERE id = ?", (rid,)).fetchone()
        back = self._db.execute("SELECT doc, modified FROM inbox WHERE id = ?", (rid,)).fetchone()
        if row is None and back is None:
            return None
        values = {**(json.loads(row[0]) if row else {}), **(json.loads(back[0]) if back else {})}
        stamp = max(filter(None, [row[1] if row else None, back[1] if back else None]))
        return Record(id=rid, values=values, modified=datetime.fromisoformat(stamp))

    async def read_changes(self, obj: ObjectRef, cursor: ChangeCursor, *, overlap_seconds: float,
                           limit: int) -> ChangePage:
        """Documents 1C posted back (its number, date, status), oldest first."""
        self._check(obj)
        since = (cursor.modified.timestamp() - overlap_seconds) if cursor.modified else None
        rows = self._db.execute("SELECT id, modified FROM inbox ORDER BY modified, id").fetchall()
        picked = [r for r in rows if since is None or datetime.fromisoformat(r[1]).timestamp() >= since][:limit]
        records = [rec for rid, _ in picked if (rec := self._record(rid)) is not None]
        newest = max((r.modified for r in records if r.modified), default=cursor.modified)
        return ChangePage(records=records, cursor=ChangeCursor(modified=newest,
                                                               last_id=records[-1].id if records else cursor.last_id),
                          more=len(rows) > limit and len(picked) == limit)

    async def acknowledge(self, obj: ObjectRef, page: ChangePage) -> None:
        return None

    async def get(self, obj: ObjectRef, record_id: str) -> Record | None:
        self._check(obj)
        return self._record(record_id)

    async def find(self, obj: ObjectRef, criteria: dict[str, Any]) -> list[Record]:
        self._check(obj)
        want = {k: None if v is None else str(v) for k, v in criteria.items()}
        out = []
        for rid, *_ in self._rows():
            rec = self._record(rid)
            if rec is not None and all(rec.values.get(k) == v for k, v in want.items()):
                out.append(rec)
        return out

    async def exists(self, obj: ObjectRef, criteria: dict[str, Any]) -> bool:
        return bool(await self.find(obj, criteria))

    async def create(self, obj: ObjectRef, values: dict[str, Any]) -> str:
        self._check(obj)
        doc = self._clean(values)
        rid = doc.get("Ид") or str(uuid.uuid4())
        doc["Ид"] = rid
        stamp = _now().isoformat()
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO outbox (id, doc, created_at, updated_at) VALUES (?, ?, ?, ?)",
                             (rid, json.dumps(doc, ensure_ascii=False), stamp, stamp))
        return rid

    async def update(self, obj: ObjectRef, record_id: str, values: dict[str, Any], *,
                     expected_version: str | None = None) -> str | None:
        """An edit before 1C fetched the order goes out with it; after, 1C fetches the order again (a CommerceML
        order is re-sent whole, with the same Ид — 1C updates its document)."""
        self._check(obj)
        with self._lock:
            row = self._db.execute("SELECT doc FROM outbox WHERE id = ?", (record_id,)).fetchone()
            if row is None:
                raise ValidationError(f"{self.name}: order {record_id} was not sent from here; 1C owns it")
            doc = {**json.loads(row[0]), **self._clean(values), "Ид": record_id}
            self._db.execute("UPDATE outbox SET doc = ?, updated_at = ?, exported_at = NULL WHERE id = ?",
                             (json.dumps(doc, ensure_ascii=False), _now().isoformat(), record_id))
        return None

    # ---- what the exchange endpoint calls -----------------------------------------------------------------------
    def pending_orders(self) -> list[Any]:
        """Orders 1C has not confirmed, as CommerceML documents (the same ones again until ``mode=success``)."""
        from b24sync.connectors.commerceml.model import Counterparty, Document

        docs = []
        for rid, doc, _, exported in self._rows():
            if exported is not None:
                continue
            cp = ()
            if doc.get("Контрагент") or doc.get("ИНН"):
                cp = (Counterparty(id=f"inn-{doc.get('ИНН') or rid}", name=doc.get("Контрагент"),
                                   role="Покупатель", inn=doc.get("ИНН"), kpp=doc.get("КПП")),)
            docs.append(Document(id=rid, number=doc.get("Номер") or rid, date=(doc.get("Дата") or "")[:10] or None,
                                 currency=doc.get("Валюта"), comment=doc.get("Комментарий"),
                                 amount=Decimal(doc["Сумма"]) if doc.get("Сумма") else None, counterparties=cp))
        return docs

    def orders_exported(self, ids: list[str]) -> None:
        stamp = _now().isoformat()
        with self._lock:
            self._db.executemany("UPDATE outbox SET exported_at = ? WHERE id = ?", [(stamp, i) for i in ids])

    def documents_from_1c(self, documents: list[Any]) -> int:
        """Documents 1C posts back on ``type=sale`` (its number and date for our orders, statuses)."""
        n = 0
        with self._lock:
            for d in documents:
                values = {"Номер1С": d.number_1c, "Дата1С": d.date_1c, "ПометкаУдаления": d.deleted,
                          "Статус": d.requisite("Статус заказа") or d.requisite("Статус")}
                values = {k: v for k, v in values.items() if v is not None}
                self._db.execute("INSERT INTO inbox (id, doc, modified) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE "
                                 "SET doc = excluded.doc, modified = excluded.modified",
                                 (d.id, json.dumps(values, ensure_ascii=False), _now().isoformat()))
                n += 1
        return n

    async def aclose(self) -> None:
        self._db.close()


def from_config(name: str, config: dict[str, Any]) -> CommerceMLSystem:
    work = Path(config.get("work_dir") or f".b24sync/commerceml/{name}")
    drop = config.get("drop_folder")
    return CommerceMLSystem(name, work_dir=work, drop_folder=Path(drop) if drop else None,
                            username=str(config.get("exchange_user") or ""),
                            password=str(config.get("exchange_password") or ""),
                            file_limit=int(config.get("file_limit") or 8 * 1024 * 1024))

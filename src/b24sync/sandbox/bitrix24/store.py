"""Record storage: in-memory tables indexed by integer ID, optionally written through to a SQLite file.

Rows live in a dict (insertion order = ID order, IDs only grow) plus a sorted ID list, so ``>ID`` / ``<ID``
range scans (the fast export pattern, fact sheet §5) use ``bisect`` instead of scanning the whole table.
"""

from __future__ import annotations

import bisect
import json
import sqlite3
import threading
from typing import Any, Iterator


class Table:
    def __init__(self, name: str, store: "Store") -> None:
        self.name = name
        self.store = store
        self.rows: dict[int, dict[str, Any]] = {}
        self.ids: list[int] = []
        self.next_id = 1

    def __len__(self) -> int:
        return len(self.rows)

    def get(self, rid: Any) -> dict[str, Any] | None:
        try:
            return self.rows.get(int(rid))
        except (TypeError, ValueError):
            return None

    def new_id(self) -> int:
        rid = self.next_id
        self.next_id += 1
        return rid

    def insert(self, row: dict[str, Any], rid: int | None = None, persist: bool = True) -> int:
        if rid is None:
            rid = self.new_id()
        else:
            self.next_id = max(self.next_id, rid + 1)
        row["ID"] = rid
        if rid not in self.rows:
            if not self.ids or rid > self.ids[-1]:
                self.ids.append(rid)
            else:
                bisect.insort(self.ids, rid)
        self.rows[rid] = row
        if persist:
            self.store.persist(self.name, rid, row)
        return rid

    def save(self, row: dict[str, Any]) -> None:
        self.store.persist(self.name, row["ID"], row)

    def delete(self, rid: int) -> dict[str, Any] | None:
        row = self.rows.pop(rid, None)
        if row is not None:
            i = bisect.bisect_left(self.ids, rid)
            if i < len(self.ids) and self.ids[i] == rid:
                del self.ids[i]
            self.store.unpersist(self.name, rid)
        return row

    def id_range(self, lo: float | None = None, hi: float | None = None, lo_incl: bool = True,
                 hi_incl: bool = True, reverse: bool = False) -> Iterator[int]:
        ids = self.ids
        a = 0 if lo is None else (bisect.bisect_left(ids, lo) if lo_incl else bisect.bisect_right(ids, lo))
        b = len(ids) if hi is None else (bisect.bisect_right(ids, hi) if hi_incl else bisect.bisect_left(ids, hi))
        rng = range(b - 1, a - 1, -1) if reverse else range(a, b)
        for i in rng:
            if i < len(ids):
                yield ids[i]

    def values(self) -> Iterator[dict[str, Any]]:
        return iter(list(self.rows.values()))


class Store:
    """Named tables + optional SQLite write-through (``--data FILE``)."""

    def __init__(self, path: str | None = None) -> None:
        self.tables: dict[str, Table] = {}
        self.meta: dict[str, Any] = {}
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        self._bulk = 0
        if path:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS rows (tbl TEXT, id INTEGER, data TEXT, PRIMARY KEY (tbl, id))")
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT)")
            self._load()

    @property
    def loaded_existing(self) -> bool:
        return bool(self.meta.get("initialised"))

    def table(self, name: str) -> Table:
        t = self.tables.get(name)
        if t is None:
            t = self.tables[name] = Table(name, self)
        return t

    def _load(self) -> None:
        assert self._db is not None
        for tbl, rid, data in self._db.execute("SELECT tbl, id, data FROM rows ORDER BY tbl, id"):
            self.table(tbl).insert(json.loads(data), rid, persist=False)
        for k, v in self._db.execute("SELECT k, v FROM meta"):
            self.meta[k] = json.loads(v)
        for name, nxt in (self.meta.get("next_ids") or {}).items():
            t = self.table(name)
            t.next_id = max(t.next_id, int(nxt))

    def set_meta(self, key: str, value: Any) -> None:
        self.meta[key] = value
        if self._db is not None and not self._bulk:
            with self._lock:
                self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    def persist(self, tbl: str, rid: int, row: dict[str, Any]) -> None:
        if self._db is None or self._bulk:
            return
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO rows VALUES (?, ?, ?)",
                             (tbl, rid, json.dumps(row, ensure_ascii=False, default=str)))
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('next_ids', ?)",
                             (json.dumps({n: t.next_id for n, t in self.tables.items()}),))

    def unpersist(self, tbl: str, rid: int) -> None:
        if self._db is None or self._bulk:
            return
        with self._lock:
            self._db.execute("DELETE FROM rows WHERE tbl = ? AND id = ?", (tbl, rid))

    def begin_bulk(self) -> None:
        self._bulk += 1

    def end_bulk(self) -> None:
        """After a bulk load (seeding) write every table in one transaction."""
        self._bulk -= 1
        if self._bulk or self._db is None:
            return
        with self._lock:
            self._db.execute("BEGIN")
            for t in self.tables.values():
                self._db.executemany(
                    "INSERT OR REPLACE INTO rows VALUES (?, ?, ?)",
                    ((t.name, rid, json.dumps(r, ensure_ascii=False, default=str)) for rid, r in t.rows.items()))
            for k, v in self.meta.items():
                self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (k, json.dumps(v)))
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('next_ids', ?)",
                             (json.dumps({n: t.next_id for n, t in self.tables.items()}),))
            self._db.execute("COMMIT")

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

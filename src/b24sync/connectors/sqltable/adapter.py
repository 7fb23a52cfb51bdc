"""Exchange tables in an intermediate SQL database (the "intermediate database" pattern many 1C shops use).

Each spec object names a table with an id column, a change-time column and optionally a version column:

    systems:
      erp:
        type: sql
        role: erp
        url: ${EXCHANGE_DB_URL}          # any SQLAlchemy URL
        tables:
          counterparties: {table: exch_counterparties, id: id, modified: changed_at, version: version}

Changes are read by ``modified`` with an id tiebreak; writes bump ``modified`` (and ``version``), so the
other side's poll sees them; ``expected_version`` makes an update conditional (optimistic locking).
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import MetaData, Table, and_, create_engine, event, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from b24sync.engine.errors import ConflictError, PermanentError, RetryableError
from b24sync.engine.ports import ChangeCursor, ChangePage, ObjectRef, Record


def _utc(dt: datetime | None) -> datetime | None:
    if dt is not None and dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt


class SqlTableAdapter:
    def __init__(self, name: str, url: str, tables: dict[str, dict[str, str]]) -> None:
        self.name = name
        self.engine: Engine = create_engine(url, connect_args={"timeout": 30} if url.startswith("sqlite") else {})
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", lambda c, _r: c.execute("PRAGMA journal_mode=WAL"))
        self.tables_cfg = tables
        self._tables: dict[str, Table] = {}
        self._md = MetaData()
        self._lock = threading.Lock()

    def _t(self, obj: ObjectRef) -> tuple[Table, dict[str, str]]:
        cfg = self.tables_cfg.get(obj.object)
        if cfg is None:
            raise PermanentError(f"system {self.name}: no table configured for object {obj.object!r}")
        with self._lock:  # reflection from several worker threads at once would see a half-built table
            if obj.object not in self._tables:
                self._tables[obj.object] = Table(cfg.get("table", obj.object), self._md, autoload_with=self.engine)
        return self._tables[obj.object], cfg

    async def _run(self, fn, *args):  # type: ignore[no-untyped-def]
        try:
            return await asyncio.to_thread(fn, *args)
        except OperationalError as e:
            raise RetryableError(f"{self.name}: database unavailable ({e.orig})") from e
        except SQLAlchemyError as e:
            raise PermanentError(f"{self.name}: {e.__class__.__name__}: {e}") from e

    def _record(self, row: Any, cfg: dict[str, str]) -> Record:
        values = dict(row._mapping)
        version = values.get(cfg["version"]) if cfg.get("version") else None
        deleted = bool(values.get(cfg["deleted"])) if cfg.get("deleted") else False
        return Record(str(values[cfg.get("id", "id")]), values, modified=_utc(values.get(cfg.get("modified", ""))),
                      version=str(version) if version is not None else None, deleted=deleted)

    async def read_changes(self, obj: ObjectRef, cursor: ChangeCursor, *, overlap_seconds: float, limit: int) -> ChangePage:
        def q() -> ChangePage:
            t, cfg = self._t(obj)
            id_col, mod_col = t.c[cfg.get("id", "id")], t.c[cfg["modified"]]
            stmt = select(t).order_by(mod_col, id_col).limit(limit)
            if cursor.modified is not None:
                if overlap_seconds > 0:
                    stmt = stmt.where(mod_col >= cursor.modified - timedelta(seconds=overlap_seconds))
                else:
                    stmt = stmt.where(or_(mod_col > cursor.modified,
                                          and_(mod_col == cursor.modified, id_col > _id_value(id_col, cursor.last_id))))
            with self.engine.connect() as conn:
                rows = [self._record(r, cfg) for r in conn.execute(stmt)]
            if not rows:
                return ChangePage([], cursor, more=False)
            last = rows[-1]
            return ChangePage(rows, ChangeCursor(last.modified, last.id), more=len(rows) == limit)

        return await self._run(q)

    async def acknowledge(self, obj: ObjectRef, page: ChangePage) -> None:
        return None

    async def get(self, obj: ObjectRef, record_id: str) -> Record | None:
        def q() -> Record | None:
            t, cfg = self._t(obj)
            id_col = t.c[cfg.get("id", "id")]
            with self.engine.connect() as conn:
                row = conn.execute(select(t).where(id_col == _id_value(id_col, record_id))).first()
            return self._record(row, cfg) if row else None

        return await self._run(q)

    async def find(self, obj: ObjectRef, criteria: dict[str, Any]) -> list[Record]:
        def q() -> list[Record]:
            t, cfg = self._t(obj)
            cond = [t.c[k] == v for k, v in criteria.items()]
            with self.engine.connect() as conn:
                return [self._record(r, cfg) for r in conn.execute(select(t).where(*cond).limit(100))]

        return await self._run(q)

    async def exists(self, obj: ObjectRef, criteria: dict[str, Any]) -> bool:
        def q() -> bool:
            t, _ = self._t(obj)
            with self.engine.connect() as conn:
                return bool(conn.execute(select(func.count()).select_from(t)
                                         .where(*[t.c[k] == v for k, v in criteria.items()])).scalar())

        return await self._run(q)

    async def create(self, obj: ObjectRef, values: dict[str, Any]) -> str:
        def q() -> str:
            t, cfg = self._t(obj)
            row = self._writable(t, cfg, values)
            id_name = cfg.get("id", "id")
            if id_name not in row and t.c[id_name].type.python_type is str:
                row[id_name] = str(uuid.uuid4())  # text ids are ours to make; integer ids autoincrement
            if cfg.get("version"):
                row[cfg["version"]] = 1
            with self.engine.begin() as conn:
                res = conn.execute(t.insert().values(**row))
                new_id = row.get(id_name) or res.inserted_primary_key[0]
            return str(new_id)

        return await self._run(q)

    async def update(self, obj: ObjectRef, record_id: str, values: dict[str, Any], *,
                     expected_version: str | None = None) -> str | None:
        def q() -> str | None:
            t, cfg = self._t(obj)
            id_col = t.c[cfg.get("id", "id")]
            row = self._writable(t, cfg, values)
            cond = [id_col == _id_value(id_col, record_id)]
            vcol = cfg.get("version")
            if vcol:
                row[vcol] = t.c[vcol] + 1
                if expected_version is not None:
                    cond.append(t.c[vcol] == int(expected_version))
            with self.engine.begin() as conn:
                n = conn.execute(update(t).where(*cond).values(**row)).rowcount
                if n == 0:
                    if expected_version is not None:
                        raise ConflictError(f"{self.name}: {obj.object} {record_id} changed since version {expected_version}")
                    raise PermanentError(f"{self.name}: {obj.object} {record_id} does not exist")
                if vcol:
                    return str(conn.execute(select(t.c[vcol]).where(cond[0])).scalar())
            return None

        return await self._run(q)

    def _writable(self, t: Table, cfg: dict[str, str], values: dict[str, Any]) -> dict[str, Any]:
        unknown = [k for k in values if k not in t.c]
        if unknown:
            raise PermanentError(f"{self.name}: table {t.name} has no column(s) {', '.join(unknown)}")
        row = dict(values)
        row[cfg["modified"]] = datetime.now(UTC)
        return row

    async def aclose(self) -> None:
        self.engine.dispose()


def _id_value(col: Any, value: str | None) -> Any:
    if value is None:
        return "" if col.type.python_type is str else -1
    try:
        return col.type.python_type(value)
    except (TypeError, ValueError, NotImplementedError):
        return value


def from_config(name: str, config: dict[str, Any]) -> SqlTableAdapter:
    if "url" not in config or "tables" not in config:
        raise PermanentError(f"system {name}: type sql needs `url` and `tables`")
    return SqlTableAdapter(name, config["url"], config["tables"])

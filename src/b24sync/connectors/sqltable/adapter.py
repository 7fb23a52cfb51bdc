"""Exchange tables in an intermediate SQL database (the "intermediate database" pattern many 1C and Oracle shops
use; fact sheet ../shared/research/other-erps-and-bus.md §3.3). Any SQLAlchemy URL: PostgreSQL
(``postgresql+psycopg://``), MySQL 8+ / MariaDB 10.6+ (``mysql+pymysql://``), SQLite, Oracle, SQL Server.

Each spec object names a table (or a view to read and a table to write):

    systems:
      erp:
        type: sql
        role: erp
        url: ${EXCHANGE_DB_URL}
        tables:
          counterparties:
            table: exch_counterparties     # read (and written unless write_table is set)
            id: id                         # primary key
            modified: changed_at           # change time (set by the other side or by a trigger)
            version: version               # optional: a counter bumped on every write (optimistic locking)
            key: external_key              # optional: a create with a key that exists updates that row (upsert)
            deleted: is_deleted            # optional: a truthy value marks the row deleted
            write_table: exch_counterparties_in   # optional: where b24sync writes (default: table)
            changes:                       # optional: drain a change table in sequence order instead of `modified`
              table: exch_changes
              seq: seq                     # strictly increasing (identity / sequence)
              ref: record_id               # the id of the changed row in `table`
              op: op                       # optional: I/U/D (D or a missing row = deleted)
              entity: entity_type          # optional: a column that says which table the change is for…
              entity_value: counterparty   # …and its value for this object
              overlap_rows: 1000           # the first page of a poll re-reads this many sequence numbers

Reading by ``modified``: changes oldest first with an id tie-break; the engine re-reads the poll overlap window so a
transaction that committed *behind* the cursor is still seen. Reading a change table: by sequence; a sequence
number can commit after a higher one was read (concurrent writers), so the first page re-reads ``overlap_rows``
numbers back. Writes bump ``modified`` (and ``version``) so the other side's poll sees them. With ``key``, a create
is an idempotent upsert (``INSERT … ON CONFLICT`` on PostgreSQL and SQLite, ``ON DUPLICATE KEY UPDATE`` on MySQL /
MariaDB; a unique index on the key column is required): a create retried after a lost answer changes the row it
wrote instead of adding another. Time columns without a time zone hold UTC.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import MetaData, Table, and_, create_engine, event, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError

from b24sync.connectors.metered import meter_sql
from b24sync.engine.errors import ConflictError, PermanentError, RetryableError, ValidationError
from b24sync.engine.ports import ChangeCursor, ChangePage, ObjectRef, Record


def _utc(dt: Any) -> Any:
    if isinstance(dt, datetime) and dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt


class SqlTableAdapter:
    def __init__(self, name: str, url: str, tables: dict[str, dict[str, Any]]) -> None:
        self.name = name
        kw: dict[str, Any] = {"pool_pre_ping": True}
        if url.startswith("sqlite"):
            kw["connect_args"] = {"timeout": 30}
        self.engine: Engine = create_engine(url, **kw)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", lambda c, _r: c.execute("PRAGMA journal_mode=WAL"))
        meter_sql(name, self.engine)  # b24sync_api_requests_total{system=name} per statement
        self.tables_cfg = tables
        self._tables: dict[str, Table] = {}
        self._md = MetaData()
        self._lock = threading.Lock()

    # ---- reflection ------------------------------------------------------------------------------------------
    def _reflect(self, name: str) -> Table:
        with self._lock:  # reflection from several worker threads at once would see a half-built table
            if name not in self._tables:
                self._tables[name] = Table(name, self._md, autoload_with=self.engine)
        return self._tables[name]

    def _cfg(self, obj: ObjectRef) -> dict[str, Any]:
        cfg = self.tables_cfg.get(obj.object)
        if cfg is None:
            raise PermanentError(f"system {self.name}: no table configured for object {obj.object!r}")
        return cfg

    def _t(self, obj: ObjectRef) -> tuple[Table, dict[str, Any]]:
        cfg = self._cfg(obj)
        return self._reflect(cfg.get("table", obj.object)), cfg

    def _w(self, obj: ObjectRef) -> tuple[Table, dict[str, Any]]:
        cfg = self._cfg(obj)
        return self._reflect(cfg.get("write_table") or cfg.get("table", obj.object)), cfg

    async def _run(self, fn, *args):  # type: ignore[no-untyped-def]
        try:
            return await asyncio.to_thread(fn, *args)
        except (ConflictError, PermanentError, RetryableError):
            raise
        except OperationalError as e:
            raise RetryableError(f"{self.name}: database unavailable ({e.orig})") from e
        except IntegrityError as e:
            raise ValidationError(f"{self.name}: the database refused the row ({e.orig})") from e
        except DBAPIError as e:
            if e.connection_invalidated:
                raise RetryableError(f"{self.name}: connection lost ({e.orig})") from e
            raise PermanentError(f"{self.name}: {e.__class__.__name__}: {e.orig}") from e
        except SQLAlchemyError as e:
            raise PermanentError(f"{self.name}: {e.__class__.__name__}: {e}") from e

    def _record(self, row: Any, cfg: dict[str, Any], *, deleted: bool = False) -> Record:
        values = {k: _utc(v) for k, v in dict(row._mapping).items()}
        version = values.get(cfg["version"]) if cfg.get("version") else None
        gone = deleted or (bool(values.get(cfg["deleted"])) if cfg.get("deleted") else False)
        return Record(str(values[cfg.get("id", "id")]), values, modified=values.get(cfg.get("modified", "")),
                      version=str(version) if version is not None else None, deleted=gone)

    @staticmethod
    def _time_for(col: Any, dt: datetime) -> datetime:
        """A value for a time column: aware where the column keeps a time zone, naive UTC where it does not."""
        if getattr(col.type, "timezone", False):
            return dt
        return dt.astimezone(UTC).replace(tzinfo=None)

    # ---- reads -----------------------------------------------------------------------------------------------
    async def read_changes(self, obj: ObjectRef, cursor: ChangeCursor, *, overlap_seconds: float, limit: int) -> ChangePage:
        cfg = self._cfg(obj)
        if cfg.get("changes"):
            return await self._run(self._drain_changes, obj, cursor, overlap_seconds > 0, limit)

        def q() -> ChangePage:
            t, cfg = self._t(obj)
            id_col, mod_col = t.c[cfg.get("id", "id")], t.c[cfg["modified"]]
            stmt = select(t).order_by(mod_col, id_col).limit(limit)
            if cursor.modified is not None:
                if overlap_seconds > 0:
                    stmt = stmt.where(mod_col >= self._time_for(mod_col, cursor.modified -
                                                                 timedelta(seconds=overlap_seconds)))
                else:
                    at = self._time_for(mod_col, cursor.modified)
                    stmt = stmt.where(or_(mod_col > at, and_(mod_col == at, id_col > _id_value(id_col,
                                                                                                 cursor.last_id))))
            with self.engine.connect() as conn:
                rows = [self._record(r, cfg) for r in conn.execute(stmt)]
            if not rows:
                return ChangePage([], cursor, more=False)
            last = rows[-1]
            if len(rows) == limit:  # a full page: the next one continues right after its last row
                return ChangePage(rows, ChangeCursor(last.modified, last.id), more=True)
            if cursor.modified is not None and last.modified is not None and last.modified < cursor.modified:
                return ChangePage(rows, cursor, more=False)  # an overlap re-read never moves the cursor back
            return ChangePage(rows, ChangeCursor(last.modified, last.id), more=False)

        return await self._run(q)

    def _drain_changes(self, obj: ObjectRef, cursor: ChangeCursor, overlap: bool, limit: int) -> ChangePage:
        t, cfg = self._t(obj)
        ch_cfg = cfg["changes"]
        ch = self._reflect(ch_cfg["table"])
        seq, ref = ch.c[ch_cfg.get("seq", "seq")], ch.c[ch_cfg.get("ref", "record_id")]
        last = int(cursor.token or 0)
        start = max(0, last - int(ch_cfg.get("overlap_rows", 1000))) if overlap else last
        stmt = select(ch).where(seq > start).order_by(seq).limit(limit)
        if ch_cfg.get("entity"):
            stmt = stmt.where(ch.c[ch_cfg["entity"]] == ch_cfg.get("entity_value", obj.object))
        id_col = t.c[cfg.get("id", "id")]
        with self.engine.connect() as conn:
            changes = list(conn.execute(stmt))
            latest: dict[str, Any] = {}
            for c in changes:  # the last change of a record wins; order by its last sequence number
                latest.pop(str(c._mapping[ref.name]), None)
                latest[str(c._mapping[ref.name])] = c
            ids = [_id_value(id_col, k) for k in latest]
            rows = {str(r._mapping[id_col.name]): r for r in conn.execute(select(t).where(id_col.in_(ids)))} \
                if ids else {}
        out: list[Record] = []
        op_col = ch_cfg.get("op")
        for rid, c in latest.items():
            gone = op_col is not None and str(c._mapping[op_col]).upper().startswith("D")
            row = rows.get(rid)
            if row is None or gone:
                out.append(Record(rid, {cfg.get("id", "id"): rid}, deleted=True))
            else:
                out.append(self._record(row, cfg))
        top = max((int(c._mapping[seq.name]) for c in changes), default=last)
        return ChangePage(out, ChangeCursor(cursor.modified, out[-1].id if out else cursor.last_id,
                                            token=str(max(top, last))), more=len(changes) == limit)

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
            missing = [k for k in criteria if k not in t.c]
            if missing:
                raise PermanentError(f"{self.name}: table {t.name} has no column(s) {', '.join(missing)}")
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

    # ---- writes ----------------------------------------------------------------------------------------------
    async def create(self, obj: ObjectRef, values: dict[str, Any]) -> str:
        def q() -> str:
            t, cfg = self._w(obj)
            row = self._writable(t, cfg, values)
            id_name = cfg.get("id", "id")
            key = cfg.get("key")
            if id_name not in row and t.c[id_name].type.python_type is str:
                row[id_name] = str(uuid.uuid4())  # text ids are ours to make; integer ids autoincrement
            if cfg.get("version"):
                row[cfg["version"]] = 1
            with self.engine.begin() as conn:
                if key and row.get(key) not in (None, ""):
                    self._upsert(conn, t, cfg, row)
                    found = conn.execute(select(t.c[id_name]).where(t.c[key] == row[key])).scalar_one()
                    return str(found)
                res = conn.execute(t.insert().values(**row))
                new_id = row.get(id_name) or res.inserted_primary_key[0]
            return str(new_id)

        return await self._run(q)

    def _upsert(self, conn: Any, t: Table, cfg: dict[str, Any], row: dict[str, Any]) -> None:
        key, id_name, vcol = cfg["key"], cfg.get("id", "id"), cfg.get("version")
        dialect = self.engine.dialect.name
        changes = {k: v for k, v in row.items() if k not in (key, id_name, vcol)}
        if vcol:
            changes[vcol] = t.c[vcol] + 1
        if dialect in ("postgresql", "sqlite"):
            ins = (__import__("sqlalchemy.dialects.postgresql", fromlist=["insert"]).insert(t) if dialect == "postgresql"
                   else __import__("sqlalchemy.dialects.sqlite", fromlist=["insert"]).insert(t))
            conn.execute(ins.values(**row).on_conflict_do_update(index_elements=[t.c[key]], set_=changes))
        elif dialect in ("mysql", "mariadb"):
            from sqlalchemy.dialects.mysql import insert as my_insert

            conn.execute(my_insert(t).values(**row).on_duplicate_key_update(**changes))
        else:  # Oracle, SQL Server: look up, then update or insert (the unique index still refuses a duplicate)
            hit = conn.execute(select(t.c[id_name]).where(t.c[key] == row[key]).with_for_update()).first()
            if hit is None:
                conn.execute(t.insert().values(**row))
            else:
                conn.execute(update(t).where(t.c[key] == row[key]).values(**changes))

    async def update(self, obj: ObjectRef, record_id: str, values: dict[str, Any], *,
                     expected_version: str | None = None) -> str | None:
        def q() -> str | None:
            t, cfg = self._w(obj)
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
                    exists = conn.execute(select(func.count()).select_from(t).where(cond[0])).scalar()
                    if expected_version is not None and exists:
                        raise ConflictError(f"{self.name}: {obj.object} {record_id} changed since version "
                                            f"{expected_version}")
                    if not exists:
                        raise PermanentError(f"{self.name}: {obj.object} {record_id} does not exist")
                if vcol:
                    return str(conn.execute(select(t.c[vcol]).where(cond[0])).scalar())
            return None

        return await self._run(q)

    def _writable(self, t: Table, cfg: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
        unknown = [k for k in values if k not in t.c]
        if unknown:
            raise PermanentError(f"{self.name}: table {t.name} has no column(s) {', '.join(unknown)}")
        row = {k: (self._time_for(t.c[k], v) if isinstance(v, datetime) else v) for k, v in values.items()}
        if cfg.get("modified") and cfg["modified"] in t.c:
            row[cfg["modified"]] = self._time_for(t.c[cfg["modified"]], datetime.now(UTC))
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
    for obj, cfg in (config["tables"] or {}).items():
        if not isinstance(cfg, dict) or not (cfg.get("modified") or cfg.get("changes")):
            raise PermanentError(f"system {name}: table {obj!r} needs `modified` (a change-time column) or "
                                 "`changes` (a change table)")
    return SqlTableAdapter(name, config["url"], config["tables"])

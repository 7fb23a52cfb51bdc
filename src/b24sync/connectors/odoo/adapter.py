"""``type: odoo``: Odoo models as a system the engine syncs with (fact sheet other-erps-and-bus.md §1.5–1.7).

* An entity's ``erp.object`` is a model (``res.partner``, ``product.product``, ``sale.order``, ``account.move``);
  ``erp.options.domain`` narrows it (``[[is_company, "=", true]]``), ``erp.options.fields`` lists what to read
  (default: every stored field that is not a one2many/many2many, from ``fields_get``).
* Values as the engine sees them: ``False`` (Odoo's empty) → ``None``; a many2one ``[id, name]`` → its id; dates as
  the ISO strings Odoo writes. Writes pass values through as they are (a many2one takes an id — map it with a
  ``ref`` transform).
* Changes: ``write_date`` is the start of the writing transaction at second precision, and a long transaction can
  commit *behind* the cursor (§1.6). A poll reads ``write_date >= cursor - overlap`` ordered by
  ``write_date, id`` in pages of ``limit`` (offset paging with the pass's lower bound kept), so ties and late
  commits inside the overlap are re-read; the engine's fingerprints drop the unchanged ones. Archived records are
  read too (``active_test: false``) so an archive reaches the CRM.
* There is no optimistic locking in Odoo's API (§1.7): ``expected_version`` is compared with ``write_date`` read
  just before the write (a race window remains; last write wins).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from b24sync.connectors.odoo.client import OdooClient
from b24sync.engine.errors import ConflictError, PermanentError
from b24sync.engine.ports import ChangeCursor, ChangePage, ObjectRef, Record

_TS = "%Y-%m-%d %H:%M:%S"


def _ts(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(str(value)[:19], _TS).replace(tzinfo=UTC)


def _plain(value: Any) -> Any:
    if value is False:
        return None
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], int) and isinstance(value[1], str):
        return value[0]  # many2one [id, display_name]
    return value


class OdooAdapter:
    def __init__(self, name: str, client: OdooClient) -> None:
        self.name = name
        self.client = client
        self._fields: dict[str, list[str]] = {}

    async def _field_names(self, obj: ObjectRef) -> list[str]:
        wanted = obj.options.get("fields")
        if wanted:
            return sorted({*map(str, wanted), "write_date"})
        if obj.object not in self._fields:
            meta = await self.client.call(obj.object, "fields_get", attributes=["type"])
            self._fields[obj.object] = sorted(n for n, m in meta.items() if m.get("type") not in ("one2many",
                                                                                                     "many2many",
                                                                                                     "binary"))
        return self._fields[obj.object]

    def _domain(self, obj: ObjectRef, extra: list[Any]) -> list[Any]:
        base = obj.options.get("domain") or []
        if not isinstance(base, list):
            raise PermanentError(f"{self.name}: erp.options.domain of {obj.object} must be a list of conditions")
        return [*[list(t) if isinstance(t, (list, tuple)) else t for t in base], *extra]

    def _record(self, row: dict[str, Any]) -> Record:
        values = {k: _plain(v) for k, v in row.items()}  # "id" too: a spec may match or map on it
        stamp = row.get("write_date")
        return Record(id=str(row["id"]), values=values, modified=_ts(stamp), version=str(stamp) if stamp else None,
                      deleted=row.get("active") is False)

    async def read_changes(self, obj: ObjectRef, cursor: ChangeCursor, *, overlap_seconds: float,
                           limit: int) -> ChangePage:
        # a paged pass keeps its lower bound (cursor.modified stays the pass's start) and moves by offset (token)
        since = cursor.modified - timedelta(seconds=overlap_seconds) if cursor.modified else None
        offset = int(cursor.token or 0)
        domain = self._domain(obj, [["write_date", ">=", since.strftime(_TS)]] if since else [])
        rows = await self.client.call(obj.object, "search_read", domain=domain, fields=await self._field_names(obj),
                                      offset=offset, limit=limit, order="write_date asc, id asc", load=None,
                                      context={"active_test": False})
        records = [self._record(r) for r in rows]
        more = len(rows) >= limit
        newest = max((r.modified for r in records if r.modified), default=None)
        done = max(filter(None, [newest, cursor.modified]), default=None)
        cur = ChangeCursor(modified=cursor.modified if more else done,
                           last_id=records[-1].id if records else cursor.last_id,
                           token=str(offset + len(rows)) if more else None)
        return ChangePage(records=records, cursor=cur, more=more)

    async def acknowledge(self, obj: ObjectRef, page: ChangePage) -> None:
        return None

    async def get(self, obj: ObjectRef, record_id: str) -> Record | None:
        rows = await self.client.call(obj.object, "search_read", domain=[["id", "=", int(record_id)]],
                                      fields=await self._field_names(obj), load=None,
                                      context={"active_test": False})
        return self._record(rows[0]) if rows else None

    async def find(self, obj: ObjectRef, criteria: dict[str, Any]) -> list[Record]:
        extra = [[k, "=", False if v is None else v] for k, v in criteria.items()]
        rows = await self.client.call(obj.object, "search_read", domain=self._domain(obj, extra),
                                      fields=await self._field_names(obj), limit=50, load=None,
                                      context={"active_test": False})
        return [self._record(r) for r in rows]

    async def exists(self, obj: ObjectRef, criteria: dict[str, Any]) -> bool:
        extra = [[k, "=", False if v is None else v] for k, v in criteria.items()]
        return bool(await self.client.call(obj.object, "search_count", domain=self._domain(obj, extra)))

    async def create(self, obj: ObjectRef, values: dict[str, Any]) -> str:
        vals = {**(obj.options.get("defaults") or {}), **{k: (False if v is None else v) for k, v in values.items()}}
        ids = await self.client.call(obj.object, "create", vals_list=[vals])
        return str(ids[0] if isinstance(ids, list) else ids)

    async def update(self, obj: ObjectRef, record_id: str, values: dict[str, Any], *,
                     expected_version: str | None = None) -> str | None:
        if expected_version is not None:
            now = await self.get(obj, record_id)
            if now is not None and now.version != expected_version:
                raise ConflictError(f"{self.name}: {obj.object} {record_id} changed in Odoo since it was read "
                                    f"({expected_version} → {now.version})")
        await self.client.call(obj.object, "write", ids=[int(record_id)],
                               vals={k: (False if v is None else v) for k, v in values.items()})
        return None

    async def aclose(self) -> None:
        await self.client.aclose()


def from_config(name: str, config: dict[str, Any]) -> OdooAdapter:
    missing = [k for k in ("url", "database", "username", "api_key") if not config.get(k)]
    if missing:
        raise PermanentError(f"system {name}: type odoo needs {', '.join(missing)} (the API key of a dedicated bot "
                             "user; from the environment)")
    client = OdooClient(str(config["url"]), str(config["database"]), str(config["username"]),
                        str(config["api_key"]), protocol=str(config.get("protocol") or "auto"),
                        timeout=float(config.get("timeout") or 60), transport=config.get("transport"),
                        system=name)
    return OdooAdapter(name, client)

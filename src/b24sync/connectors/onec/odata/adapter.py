"""``ODataAdapter``: the engine's SystemAdapter over :class:`ODataClient` (1C, SAP, Dynamics).

Spec ``object:`` is a preset logical name (``counterparties``) or an entity set (``Catalog_Контрагенты``).
Values are keyed by the system's own property names (ports.py); on writes and lookups, logical field names of the
preset are translated to properties first, unknown names pass through.

Incremental reads, per object, in one of two modes:

- **exchange plan** (preferred; needs a node): ``SelectChanges`` package ``ReceivedNo + 1`` streamed and filtered to
  the object's entity set; ``acknowledge`` sends ``NotifyChangesReceived`` after the engine's commit (exchange.py).
  One node per synced object: every node of a plan gets every registered change, so each node is an independent
  queue; changes of other types in a node's package are skipped (their own nodes carry them).
- **DataVersion scan** (fallback): ``$orderby=<key>`` + ``$top``/``$skip`` pages; a row produces a record only if its
  ``DataVersion`` differs from the last synced one (erp-side.md §1.13 option (a)); versions are stored at
  ``acknowledge``, so a crash before commit re-reads. A completed pass restarts from offset 0 with ``more=False``.
  Physically deleted rows are not detected (1C deletes by ``DeletionMark``, which is detected, §1.8).
"""

from __future__ import annotations

import logging
import os
import uuid
from datetime import datetime
from typing import Any

from b24sync.connectors.onec.odata import filters as flt
from b24sync.connectors.onec.odata.client import (
    DEFAULT_MAX_PACKAGE_BYTES,
    DEFAULT_TIMEOUT,
    ODataClient,
    encode_query,
)
from b24sync.connectors.onec.odata.dialect import DIALECTS, Dialect
from b24sync.connectors.onec.odata.errors import ODataNotFoundError
from b24sync.connectors.onec.odata.exchange import ExchangePlanReader, change_type
from b24sync.connectors.onec.odata.names import EntityShapes, Shape, notes, shapes
from b24sync.connectors.onec.odata.presets import EntityPreset, Preset
from b24sync.connectors.onec.odata.versions import MemoryVersionStore, SharedStateVersionStore, VersionStore
from b24sync.engine.errors import ConflictError, HoldError, PermanentError, ValidationError
from b24sync.engine.ports import ChangeCursor, ChangePage, ObjectRef, ObjectSchema, Record

log = logging.getLogger(__name__)

_META_PREFIXES = ("odata.", "@odata.", "__metadata")
FIND_CAP = 1000
_EMPTY_REF = "00000000-0000-0000-0000-000000000000"  # a natural-key lookup returning more than this is a spec error, not a lookup


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items()
            if not k.startswith(_META_PREFIXES) and "@navigationLinkUrl" not in k and "@odata." not in k}


def _is_guid(v: Any) -> bool:
    if isinstance(v, uuid.UUID):
        return True
    if not isinstance(v, str) or len(v) != 36:
        return False
    try:
        uuid.UUID(v)
        return True
    except ValueError:
        return False


class ODataAdapter:
    def __init__(
        self,
        name: str,
        client: ODataClient,
        *,
        preset: Preset | None = None,
        exchange_plan: str | None = None,
        nodes: dict[str, str] | None = None,
        node: str | None = None,
        version_store: VersionStore | None = None,
        page_size: int = 500,
        max_package_bytes: int | None = DEFAULT_MAX_PACKAGE_BYTES,
        changes_format: str = "atom",
        resolve_names: bool = False,
    ) -> None:
        self.name = name
        client.system = name
        # spec names → the base's properties from $metadata (names.py): `_Key` vs composite `X` + `X_Type`
        self.resolve_names = resolve_names
        self._shapes: dict[str, EntityShapes | None] = {}
        # references the spec gives by name (preset `by_name`, e.g. УНФ rows' СтавкаНДС_Key by "22%"):
        # (catalog, field) -> {name: Ref_Key} and back
        self._by_name: dict[tuple[str, str], dict[str, str]] = {}
        self._name_of: dict[tuple[str, str], dict[str, str]] = {}
        self._names_read_at: dict[tuple[str, str], float] = {}
        self._metadata_failed_at: float | None = None
        self.changes_format = changes_format
        self.client = client
        self.preset = preset or Preset("none")
        self.exchange_plan = exchange_plan
        self.nodes = dict(nodes or {})
        self.default_node = node
        self.versions = version_store or MemoryVersionStore()
        self.page_size = page_size
        self.max_package_bytes = max_package_bytes
        self._readers: dict[str, ExchangePlanReader] = {}
        self._node_owner: dict[str, str] = {}
        self._warned: set[str] = set()
        used: dict[str, str] = {}
        for obj, n in self.nodes.items():
            if n in used:
                raise PermanentError(f"{name}: exchange-plan node {n} is configured for both {used[n]!r} and "
                                     f"{obj!r}; give each synced object its own node")
            used[n] = obj

    # ---- helpers ---------------------------------------------------------------------------------------------
    def entity(self, obj: ObjectRef) -> EntityPreset:
        return self.preset.resolve(obj.object)

    def _to_system(self, ent: EntityPreset, values: dict[str, Any]) -> dict[str, Any]:
        vals = {ent.fields.get(k, k): v for k, v in values.items()}
        shp = self._shapes.get(ent.entity_set)
        if shp is None:
            return vals
        out: dict[str, Any] = {}
        for k, v in vals.items():
            if k in shp.tabular and isinstance(v, list):
                out[k] = [self._wire(shp.tabular[k], r, ent, k) if isinstance(r, dict) else r for r in v]
            else:
                out.update(self._wire_one(shp.header, k, v, vals, ent.entity_set, ent))
        return out

    def _wire(self, shape: Shape, row: dict[str, Any], ent: EntityPreset, tab: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in row.items():
            out.update(self._wire_one(shape, k, v, row, f"{ent.entity_set}.{tab}", ent, f"{tab}/"))
        return out

    def _ref_by_name(self, ent: EntityPreset, key: str, v: Any) -> Any:
        spec = ent.by_name.get(key)
        if spec is None or not isinstance(v, str) or not v or _is_guid(v):
            return v
        known = self._by_name.get((spec["object"], spec.get("field", "Description")), {})
        ref = known.get(v)
        if ref is None:
            raise HoldError(f"В 1С нет «{v}» в справочнике {spec['object'].removeprefix('Catalog_')} — добавьте его "
                            f"в 1С или исправьте таблицу спецификации (есть: {', '.join(sorted(known)) or 'ничего'})",
                            detail={"field": key, "value": v})
        return ref

    def _wire_one(self, shape: Shape, k: str, v: Any, rec: dict[str, Any], where: str,
                  ent: EntityPreset | None = None, prefix: str = "") -> dict[str, Any]:
        w = shape.resolve(k)
        if w is None:
            return {k: v}  # unknown: the start-up names check reports it at its spec line
        if ent is not None and ent.by_name:
            v = self._ref_by_name(ent, prefix + w.name, v)
        if w.type_field is None:
            return {w.name: v}
        if v in (None, "", _EMPTY_REF):
            return {w.name: "", w.type_field: ""}
        typ = rec.get(w.type_field) or w.default_type
        if not typ:
            raise PermanentError(
                f"{self.name}: {where}.{w.name} is a composite field here ({w.name} + {w.type_field}) and the type of "
                f"its value is not known — add a header value {{erp: {w.type_field}, value: StandardODATA.<set>}} "
                f"or preset_overrides: {{{where.split('.')[0]}: {{composite: {{{w.name}: <set>}}}}}}")
        return {w.name: v, w.type_field: typ}

    def _aliased(self, ent: EntityPreset, values: dict[str, Any]) -> dict[str, Any]:
        """The record also under the names a spec may use for its fields (``X_Key`` for a composite ``X``, ``X``
        for ``X_Key``), rows included."""
        shp = self._shapes.get(ent.entity_set)
        if shp is None:
            return values
        for alias, prop in shp.header.aliases().items():
            if prop in values and alias not in values:
                values[alias] = values[prop]
        named = [(key, self._name_of.get((sp["object"], sp.get("field", "Description")), {}))
                 for key, sp in ent.by_name.items()]
        for key, back in named:
            if "/" not in key and values.get(key) in back:
                values[key] = back[values[key]]  # the spec names it: read back by the same name
        for tab, shape in shp.tabular.items():
            rows = values.get(tab)
            if isinstance(rows, list) and rows:
                al = shape.aliases()
                row_named = [(key.split("/", 1)[1], back) for key, back in named if key.startswith(f"{tab}/")]
                for r in rows:
                    if isinstance(r, dict):
                        for alias, prop in al.items():
                            if prop in r and alias not in r:
                                r[alias] = r[prop]
                        for f, back in row_named:
                            if r.get(f) in back:
                                r[f] = back[r[f]]
        return values

    async def _names_for(self, ent: EntityPreset, values: dict[str, Any]) -> None:
        """Before a write: a name the loaded catalog does not know re-reads that catalog (an item added in 1C since)."""
        if not ent.by_name or ent.entity_set not in self._shapes:
            return
        wanted: set[str] = set()
        for key in ent.by_name:
            tab, _, f = key.rpartition("/")
            rows = values.get(tab) if tab else [values]
            for r in rows if isinstance(rows, list) else []:
                for name in (f, f.removesuffix("_Key")):
                    v = r.get(name) if isinstance(r, dict) else None
                    if isinstance(v, str) and v and not _is_guid(v):
                        sp = ent.by_name[key]
                        if v not in self._by_name.get((sp["object"], sp.get("field", "Description")), {}):
                            wanted.add(sp["object"])
        if wanted:
            await self._load_names(ent, reload=wanted)

    async def _names_seen(self, ent: EntityPreset, rows: list[dict[str, Any]]) -> None:
        """After a read: a header reference given by name whose GUID the loaded catalog does not know (an item
        added in 1C since, e.g. a new order state) re-reads that catalog, so it is read back by its name."""
        if not ent.by_name or not rows:
            return
        stale: set[str] = set()
        for key, sp in ent.by_name.items():
            if "/" in key:
                continue
            back = self._name_of.get((sp["object"], sp.get("field", "Description")))
            if back is None:
                continue
            for r in rows:
                v = r.get(key)
                if isinstance(v, str) and v not in back and v != _EMPTY_REF and _is_guid(v):
                    stale.add(sp["object"])
                    break
        if stale:
            await self._load_names(ent, reload=stale)

    async def _load_names(self, ent: EntityPreset, reload: set[str] | None = None) -> None:
        """The small catalogs a preset lets a spec name by their names (VAT rates), read once per adapter (again
        when a write names an item not seen, at most once a minute)."""
        import time

        for sp in ent.by_name.values():
            key = (sp["object"], sp.get("field", "Description"))
            if key in self._by_name and not (reload and sp["object"] in reload):
                continue
            if reload and time.monotonic() - self._names_read_at.get(key, 0.0) < 60:
                continue
            self._names_read_at[key] = time.monotonic()
            names: dict[str, str] = {}
            try:
                async for row in self.client.iter_all(sp["object"], key_field="Ref_Key", page_size=500):
                    if not row.get("DeletionMark") and row.get(key[1]) not in (None, ""):
                        names.setdefault(str(row[key[1]]), str(row["Ref_Key"]))
            except Exception as exc:  # noqa: BLE001 - a catalog not published: names are not translated
                log.warning("%s: %s not readable (%s); references by name are not translated", self.name,
                            sp["object"], exc)
                continue
            self._by_name[key] = names
            self._name_of[key] = {v: k for k, v in names.items()}

    async def _shape(self, ent: EntityPreset) -> EntityShapes | None:
        """The entity set's shapes from ``$metadata`` (cached by the client; read once at start by the names
        check). Without a readable ``$metadata`` names pass as written (retried after 5 minutes)."""
        import time

        if not self.resolve_names or ent.kind == "virtual" or ent.entity_set in self._shapes:
            return self._shapes.get(ent.entity_set)
        if self._metadata_failed_at is not None and time.monotonic() - self._metadata_failed_at < 300:
            return None
        try:
            md = await self.client.metadata()
        except Exception as exc:  # noqa: BLE001 - resolution is a refinement; the request itself will tell
            self._metadata_failed_at = time.monotonic()
            log.warning("%s: $metadata not readable (%s); spec names are sent as written", self.name, exc)
            return None
        self._shapes[ent.entity_set] = shapes(md, ent.entity_set, ent.composite)
        if ent.by_name and self._shapes[ent.entity_set] is not None:
            await self._load_names(ent)
        return self._shapes[ent.entity_set]

    def _record(self, ent: EntityPreset, row: dict[str, Any]) -> Record:
        values = self._aliased(ent, _clean(row))
        rid = str(values.get(ent.key)) if ent.key and values.get(ent.key) is not None else ""
        version = None
        if ent.version_field and values.get(ent.version_field) is not None:
            version = str(values[ent.version_field])
        else:
            version = self.client.dialect.etag_of(row)
        if version is None and ent.kind == "register":
            # an independent information register has no DataVersion (erp-side.md §1.4): its record's content is
            # its version, so a poll sees a changed resource (a status) and nothing else
            import hashlib
            import json

            version = hashlib.sha1(json.dumps(row, sort_keys=True, ensure_ascii=False, default=str)
                                   .encode()).hexdigest()[:16]
        deleted = bool(values.get(ent.deleted_field)) if ent.deleted_field else False
        return Record(id=rid, values=values, modified=None, version=version, deleted=deleted)

    def _criteria_filter(self, ent: EntityPreset, criteria: dict[str, Any]) -> flt.Expr:
        parts = []
        for k, v in self._to_system(ent, criteria).items():
            if v in ("", None) and k.endswith("_Type"):
                continue
            # a register keyed by a composite dimension (Документ: Edm.String) compares it as a string
            if ((k == ent.key and ent.kind != "register") or k.endswith("_Key")) and _is_guid(v):
                v = flt.Guid(str(v))  # §1.4: reference fields are Edm.Guid, literal guid'…'
            parts.append(flt.F.eq(k, v))
        return flt.F.all_(*parts)

    def _node_for(self, obj: ObjectRef, ent: EntityPreset) -> str | None:
        return (obj.options.get("node") or self.nodes.get(obj.object) or self.nodes.get(ent.entity_set)
                or self.default_node)

    def _claim_node(self, node: str, entity_set: str) -> None:
        # Two objects on one node would each skip the other's entries and acknowledge them: changes lost.
        owner = self._node_owner.setdefault(node, entity_set)
        if owner != entity_set:
            raise PermanentError(f"{self.name}: exchange-plan node {node} already serves {owner}; give "
                                 f"{entity_set} its own node (nodes: {{object: node}})")

    def _reader(self, node: str) -> ExchangePlanReader:
        if not self.exchange_plan:
            raise PermanentError(f"{self.name}: a node is configured but no exchange_plan")
        if node not in self._readers:
            self._readers[node] = ExchangePlanReader(self.client, self.exchange_plan, node,
                                                     max_bytes=self.max_package_bytes, fmt=self.changes_format)
        return self._readers[node]

    # ---- SystemAdapter ---------------------------------------------------------------------------------------
    async def read_changes(self, obj: ObjectRef, cursor: ChangeCursor, *, overlap_seconds: float,
                           limit: int) -> ChangePage:
        ent = self.entity(obj)
        await self._shape(ent)
        if ent.kind == "virtual":
            raise PermanentError(f"{self.name}: {ent.entity_set} is a virtual table; read it with find()")
        node = self._node_for(obj, ent)
        if node and self.exchange_plan:
            self._claim_node(node, ent.entity_set)
            return await self._read_package(ent, node, self._selection(obj))
        poller = str(obj.options.get("poller") or "")
        if self.exchange_plan and ent.entity_set not in self._warned:
            self._warned.add(ent.entity_set)
            log.warning("%s: exchange_plan is set but no node is configured for %s; falling back to the "
                        "DataVersion scan (set nodes: {%s: <node Ref_Key>})", self.name, ent.entity_set, obj.object)
        return await self._read_scan(ent, cursor, limit, poller, self._selection(obj))

    def _selection(self, obj: ObjectRef) -> str | None:
        """The spec's ``options.filter``: an OData ``$filter`` expression (``"IsFolder eq false"``) — only records
        it selects are read by a poll (the scan sends it with every page; an exchange-plan package's records are
        checked against it with one set read per chunk). Lookups (find, get) are not filtered: a record outside the
        selection is still found, so a match key never makes a duplicate of it."""
        expr = obj.options.get("filter")
        if expr in (None, ""):
            return None
        if not isinstance(expr, str):
            raise PermanentError(f"{self.name}: options.filter of {obj.object} must be an OData $filter expression "
                                 f"(text such as \"IsFolder eq false\"), not {type(expr).__name__}")
        return expr

    async def _selected(self, ent: EntityPreset, selection: str, ids: list[str]) -> set[str]:
        """Which of ``ids`` the selection admits: ``(selection) and (key eq a or key eq b …)``, in chunks."""
        found: set[str] = set()
        key = ent.key or "Ref_Key"
        for chunk in self._key_chunks(ent, key, ids):
            expr = flt.F.any_(*(self._criteria_filter(ent, {key: v}) for v in chunk))
            text = f"({selection}) and ({expr.render(self.client.dialect.version)})"
            async for row in self.client.iter_all(ent.entity_set, filter=text, select=[key], key_field=ent.key,
                                                  page_size=self.page_size):
                found.add(str(row.get(key)))
        return found

    async def _read_package(self, ent: EntityPreset, node: str, selection: str | None = None) -> ChangePage:
        reader = self._reader(node)
        pkg = await reader.read_package()
        records = []
        skipped = 0
        await self._names_seen(ent, [c for c in pkg.changes if isinstance(c, dict)])
        for change in pkg.changes:
            t = change_type(change)
            if t is not None and t != ent.entity_set:
                skipped += 1
                continue
            rec = self._record(ent, change)
            if not rec.id:
                skipped += 1
                continue
            records.append(rec)
        if selection and records:
            admitted = await self._selected(ent, selection, [r.id for r in records if not r.deleted])
            kept = [r for r in records if r.deleted or r.id in admitted]  # a deletion cannot be queried: kept
            skipped += len(records) - len(kept)
            records = kept
        if skipped:
            log.info("%s: package #%s for %s skipped %s entries of other types", self.name, pkg.message_no,
                     ent.entity_set, skipped)
        return ChangePage(
            records=records,
            cursor=ChangeCursor(token=str(pkg.message_no)),
            more=bool(pkg.changes),
            ack={"mode": "exchange", "node": node, "message_no": pkg.message_no, "entries": len(pkg.changes)},
        )

    async def _read_scan(self, ent: EntityPreset, cursor: ChangeCursor, limit: int, poller: str = "",
                         selection: str | None = None) -> ChangePage:
        size = max(1, min(limit or self.page_size, self.page_size))
        token = cursor.token or ""
        offset = int(token.split(":", 1)[1]) if token.startswith("scan:") else 0
        order = [ent.key] if ent.key else None
        page = await self.client.query(ent.entity_set, filter=selection, orderby=order, top=size, skip=offset)
        rows = page.rows
        await self._names_seen(ent, rows)
        recs = [self._record(ent, r) for r in rows]
        # one store for all objects: keys of different sets never collide; a second entity polling the same set
        # (engine option `poller`) keeps its own versions, or the first one's scan would hide the changes from it
        vk = f"{ent.entity_set}/" if not poller else f"{poller}|{ent.entity_set}/"
        known = self.versions.get_many([vk + r.id for r in recs if r.id])
        changed = [r for r in recs if r.id and (r.version is None or known.get(vk + r.id) != r.version)]
        done = len(rows) < size
        next_token = "scan:0" if done else f"scan:{offset + len(rows)}"
        return ChangePage(
            records=changed,
            cursor=ChangeCursor(token=next_token),
            more=not done,
            ack={"mode": "scan", "versions": {vk + r.id: r.version for r in changed if r.version is not None}},
        )

    async def acknowledge(self, obj: ObjectRef, page: ChangePage) -> None:
        ack = page.ack or {}
        if ack.get("mode") == "exchange":
            if ack.get("entries"):  # an empty package is not acknowledged (nothing to drop)
                await self._reader(ack["node"]).acknowledge(int(ack["message_no"]))
        elif ack.get("mode") == "scan":
            if ack.get("versions"):
                self.versions.put_many(ack["versions"])

    async def get(self, obj: ObjectRef, record_id: str) -> Record | None:
        ent = self.entity(obj)
        await self._shape(ent)
        if ent.kind == "register" and ent.key:
            # a register record is addressed by its dimensions, not by one key: read it by the preset's key
            # dimension (БП СтатусыДокументов by Документ, one record per document and organisation)
            found = await self.find(obj, {ent.key: record_id})
            return found[0] if found else None
        try:
            row = await self.client.get(ent.entity_set, record_id)
        except ODataNotFoundError:
            return None
        await self._names_seen(ent, [row])
        return self._record(ent, row)

    async def find(self, obj: ObjectRef, criteria: dict[str, Any]) -> list[Record]:
        ent = self.entity(obj)
        await self._shape(ent)
        if ent.kind == "virtual":
            return await self._find_virtual(ent, obj, criteria)
        rows: list[dict[str, Any]] = []
        async for row in self.client.iter_all(ent.entity_set, filter=self._criteria_filter(ent, criteria),
                                              key_field=ent.key, page_size=min(self.page_size, FIND_CAP)):
            rows.append(row)
            if len(rows) > FIND_CAP:
                raise ValidationError(f"{ent.entity_set}: lookup {sorted(criteria)} matched more than {FIND_CAP} rows")
        await self._names_seen(ent, rows)
        return [self._record(ent, row) for row in rows]

    async def find_in(self, obj: ObjectRef, field: str, values: list[Any]) -> list[Record]:
        """Every row whose ``field`` is one of ``values``: a *set read* (``field eq a or field eq b …``), split so
        each request's query string stays under the client's ``max_query_bytes`` — a page of 500 keys costs a few
        requests instead of 500 (issue 13). Used by flows that join a related set to a page of records."""
        ent = self.entity(obj)
        name = ent.fields.get(field, field)
        keys = list(dict.fromkeys(v for v in values if v not in (None, "")))
        out: list[Record] = []
        rows: list[dict[str, Any]] = []
        for chunk in self._key_chunks(ent, name, keys):
            expr = flt.F.any_(*(self._criteria_filter(ent, {name: v}) for v in chunk))
            async for row in self.client.iter_all(ent.entity_set, filter=expr, key_field=ent.key,
                                                  page_size=self.page_size):
                rows.append(row)
        await self._names_seen(ent, rows)
        out += [self._record(ent, row) for row in rows]
        return out

    def _key_chunks(self, ent: EntityPreset, name: str, keys: list[Any]) -> list[list[Any]]:
        """Greedy chunks of ``keys`` whose rendered, percent-encoded ``$filter`` fits the query budget (what is
        left of ``max_query_bytes`` after the other parameters: ``$format``, ``$orderby``, ``$top``, ``$skip``)."""
        budget = max(200, self.client.max_query_bytes - 160 - len(encode_query(self.client.extra_query)))
        sep = len(encode_query([("x", " or ")])) - 2
        chunks: list[list[Any]] = []
        cur: list[Any] = []
        used = len("$filter=")
        for k in keys:
            piece = len(encode_query([("x", self._criteria_filter(ent, {name: k}).render(
                self.client.dialect.version))])) - 2
            extra = piece + (sep if cur else 0)
            if cur and used + extra > budget:
                chunks.append(cur)
                cur, used, extra = [], len("$filter="), piece
            cur.append(k)
            used += extra
        if cur:
            chunks.append(cur)
        return chunks

    async def _find_virtual(self, ent: EntityPreset, obj: ObjectRef, criteria: dict[str, Any]) -> list[Record]:
        v = ent.virtual or {}
        params: dict[str, Any] = {}
        period = obj.options.get("period")
        if period:
            params["Period"] = datetime.fromisoformat(period) if isinstance(period, str) else period
        if criteria:
            # §1.7: Condition filters inside the calculation (fast); passed as a string literal.
            params["Condition"] = self._criteria_filter(ent, criteria).render(self.client.dialect.version)
        rows = await self.client.virtual_table(ent.entity_set, obj.options.get("function") or v.get("function")
                                               or "Balance", params)
        return [Record(id="|".join(str(r.get(f, "")) for f in (v.get("product"), v.get("warehouse") or
                                                               v.get("price_type")) if f),
                       values=_clean(r)) for r in rows]

    async def create(self, obj: ObjectRef, values: dict[str, Any]) -> str:
        ent = self.entity(obj)
        await self._shape(ent)
        await self._names_for(ent, values)
        vals = self._to_system(ent, values)
        post = vals.pop("Posted", None) if ent.postable else None
        row = await self.client.create(ent.entity_set, vals)
        rid = str(row.get(ent.key, "")) if ent.key else ""
        if not rid:
            raise PermanentError(f"{ent.entity_set}: the service did not return the created key {ent.key!r}")
        if post or obj.options.get("post"):
            await self.client.post_document(ent.entity_set, rid, operational=bool(obj.options.get("operational")))
        return rid

    async def update(self, obj: ObjectRef, record_id: str, values: dict[str, Any], *,
                     expected_version: str | None = None) -> str | None:
        """Write with the guard (client.update); return the record's new version (1C answers a PATCH with the whole
        object, §1.8) so the engine can store it without another read. ``Posted: true/false`` in ``values`` of a
        document posts/unposts after the write (posting bumps DataVersion again, so it is re-read)."""
        ent = self.entity(obj)
        await self._shape(ent)
        await self._names_for(ent, values)
        vals = self._to_system(ent, values)
        post = vals.pop("Posted", None) if ent.postable else None
        new_version: str | None = None
        if vals:
            row = await self.client.update(ent.entity_set, record_id, vals, expected_version=expected_version)
            new_version = self._record(ent, row).version if row else None
        elif expected_version is not None:
            # nothing to write but a guard to honour (e.g. a posting request): check only — an empty PATCH
            # would still bump DataVersion in 1C (§1.10)
            current = await self.client.current_version(ent.entity_set, record_id)
            if current != expected_version:
                raise ConflictError(f"{ent.entity_set}: the record was changed in the ERP since it was last synced",
                                    detail={"expected": expected_version, "current": current})
        if post is True or (post is None and obj.options.get("post")):
            await self.client.post_document(ent.entity_set, record_id,
                                            operational=bool(obj.options.get("operational")))
            new_version = await self.client.current_version(ent.entity_set, record_id)
        elif post is False:
            await self.client.unpost_document(ent.entity_set, record_id)
            new_version = await self.client.current_version(ent.entity_set, record_id)
        return new_version

    async def exists(self, obj: ObjectRef, criteria: dict[str, Any]) -> bool:
        ent = self.entity(obj)
        await self._shape(ent)
        if ent.kind == "virtual":
            return bool(await self._find_virtual(ent, obj, criteria))
        page = await self.client.query(ent.entity_set, filter=self._criteria_filter(ent, criteria), top=1,
                                       select=[ent.key] if ent.key else None)
        return bool(page.rows)

    async def describe(self, obj: ObjectRef) -> ObjectSchema:
        """The entity set's properties (and navigation properties) from ``$metadata`` (sheet §1.2), plus the
        preset's logical names that map to an existing property; an unknown entity set → ``exists=False``."""
        md = await self.client.metadata()
        ent = self.entity(obj)
        t = md.type_of(ent.entity_set)
        if t is None:
            return ObjectSchema(exists=False, alternatives=sorted(md.entity_sets))
        fields = {p.name: p.type for p in t.properties}
        fields.update({n: "navigation" for n in t.navigation})
        fields.update({logical: fields[name] for logical, name in ent.fields.items() if name in fields})
        hints: dict[str, str] = {}
        shp = shapes(md, ent.entity_set, ent.composite) if ent.kind != "virtual" else None
        if shp is not None and self.resolve_names:
            self._shapes[ent.entity_set] = shp
            if ent.by_name:
                await self._load_names(ent)
            # the names a spec may use that resolve (names.py), and tabular rows as `<section>/<field>`
            fields.update({a: fields.get(p, "alias") for a, p in shp.header.aliases().items()})
            hints.update(_hints(shp.header, "", ent.entity_set))
            for tab, shape in shp.tabular.items():
                fields.update({f"{tab}/{n}": "row" for n in shape.props})
                fields.update({f"{tab}/{a}": "row" for a in shape.aliases()})
                hints.update(_hints(shape, f"{tab}/", f"{ent.entity_set}.{tab}"))
        # a register read through a virtual table (Balance, SliceLast) has resource columns the set does not list
        return ObjectSchema(fields=fields, open=ent.kind == "virtual", detail={"hints": hints} if hints else {})

    # ---- files (engine.ports.FileSource; connectors/onec/odata/files.py)
    hs_url: str = ""

    async def list_files(self, obj: ObjectRef, record_id: str, source: dict[str, Any]) -> list[Any]:
        from b24sync.connectors.onec.odata import files

        return await files.list_files(self, obj, record_id, source)

    async def read_file(self, obj: ObjectRef, record_id: str, ref: Any, source: dict[str, Any]) -> bytes:
        from b24sync.connectors.onec.odata import files

        return await files.read_file(self, obj, record_id, ref, source)

    async def aclose(self) -> None:
        await self.client.aclose()

    # ---- extras used by flows --------------------------------------------------------------------------------
    async def post(self, obj: ObjectRef, record_id: str, *, operational: bool = False) -> None:
        await self.client.post_document(self.entity(obj).entity_set, record_id, operational=operational)

    async def unpost(self, obj: ObjectRef, record_id: str) -> None:
        await self.client.unpost_document(self.entity(obj).entity_set, record_id)

    async def mark_deleted(self, obj: ObjectRef, record_id: str, mark: bool = True, *,
                           expected_version: str | None = None) -> None:
        await self.client.set_deletion_mark(self.entity(obj).entity_set, record_id, mark,
                                            expected_version=expected_version)


def _hints(shape: Shape, prefix: str, where: str) -> dict[str, str]:
    """Fixes for names a spec written for another release would use (names.notes): known renames only."""
    props = shape.props
    cands = {"СтавкаНДС", "СтавкаНДС_Key", "Заказ", "Заказ_Key"}
    for p in props:
        if p.startswith("Удалить"):
            base = p[len("Удалить"):].removesuffix("_Key")
            cands |= {base, f"{base}_Key"}
    out = {}
    for c in cands:
        if c in props or shape.resolve(c) is not None:
            continue
        fix = notes(c, props, where)
        if fix:
            out[prefix + c] = fix
    return out


def _secret(config: dict[str, Any], key: str) -> str | None:
    if config.get(key) is not None:
        return str(config[key])
    env = config.get(f"{key}_env")
    if env:
        val = os.environ.get(env)
        if val is None:
            raise PermanentError(f"environment variable {env} (for {key}) is not set")
        return val
    return None


def from_config(name: str, config: dict[str, Any]) -> ODataAdapter:
    """Build from a spec system config. Keys: ``url`` (OData root), ``username``/``password`` (or ``*_env``),
    ``bearer_token``/``bearer_token_env``, ``dialect`` (``1c`` default, ``sap``, ``dataverse``, ``bc``),
    ``preset`` (``ut11`` default for 1C, ``erp2``, ``unf``, ``none``), ``preset_overrides``, ``exchange_plan``,
    ``node`` or ``nodes`` ({object: node Ref_Key}), ``changes_format`` (``atom`` default | ``json``),
    ``page_size``, ``timeout``, ``max_package_bytes``, ``max_query_bytes`` (the web server's query-string limit,
    default 2048 as IIS; set reads split their key lists under it),
    ``extra_query`` ({name: value}, e.g. sap-client), ``state`` (a SharedState object injected by the composer
    for the DataVersion store) or ``version_store``."""
    if not config.get("url"):
        raise PermanentError(f"{name}: OData system needs url")
    dialect_name = str(config.get("dialect") or "1c")
    dialect: Dialect | None = DIALECTS.get(dialect_name)
    if dialect is None:
        raise PermanentError(f"{name}: unknown OData dialect {dialect_name!r}; known: {', '.join(DIALECTS)}")
    client = ODataClient(
        config["url"],
        username=_secret(config, "username"),
        password=_secret(config, "password"),
        bearer_token=_secret(config, "bearer_token"),
        dialect=dialect,
        timeout=float(config.get("timeout") or DEFAULT_TIMEOUT),
        page_size=int(config.get("page_size") or 500),
        max_package_bytes=int(config.get("max_package_bytes") or DEFAULT_MAX_PACKAGE_BYTES),
        extra_query=list((config.get("extra_query") or {}).items()),
        transport=config.get("transport"),
        max_query_bytes=int(config.get("max_query_bytes") or 2048),
    )
    is_1c = dialect.name == "1c"
    preset = Preset(
        str(config.get("preset") or ("ut11" if is_1c else "none")),
        config.get("preset_overrides"),
        default_key=config.get("key_field", "Ref_Key" if is_1c else None),
        default_version_field=config.get("version_field", "DataVersion" if is_1c else None),
        default_deleted_field=config.get("deleted_field", "DeletionMark" if is_1c else None),
    )
    store = config.get("version_store")
    if store is None and config.get("state") is not None:
        store = SharedStateVersionStore(config["state"], f"odata:{name}:versions")
    adapter = ODataAdapter(
        name,
        client,
        preset=preset,
        exchange_plan=config.get("exchange_plan"),
        nodes=config.get("nodes"),
        node=config.get("node"),
        version_store=store,
        page_size=int(config.get("page_size") or 500),
        max_package_bytes=int(config.get("max_package_bytes") or DEFAULT_MAX_PACKAGE_BYTES),
        changes_format=str(config.get("changes_format") or "atom"),
        resolve_names=bool(config.get("resolve_names", is_1c)),
    )
    # the publication's HTTP services (files in volumes, print forms): `hs_url`, else next to /odata/
    url = str(config["url"]).rstrip("/") + "/"
    adapter.hs_url = str(config.get("hs_url") or (url.split("/odata/")[0] + "/hs/" if "/odata/" in url else ""))
    return adapter

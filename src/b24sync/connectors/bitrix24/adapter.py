"""``Bitrix24Adapter``: the engine's ``SystemAdapter`` over the Bitrix24 client.

Objects: ``crm.company``, ``crm.contact``, ``crm.deal``, ``crm.lead``, ``crm.product``, ``crm.requisite`` (legacy
methods: UPPER_CASE fields, ``ID``, ``DATE_MODIFY``) and ``crm.item:<entityTypeId>`` (universal methods: camelCase,
``id``, ``updatedTime``; invoices are ``crm.item:31``) — sheet §6.1, §6.2.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from collections.abc import Callable
from typing import Any

from b24sync.connectors.bitrix24.auth import OAuthAuth, WebhookAuth
from b24sync.connectors.bitrix24.client import Bitrix24Client, parse_dt
from b24sync.connectors.bitrix24.errors import Bitrix24Error, Bitrix24NotFound
from b24sync.connectors.bitrix24.lookup import value_key
from b24sync.connectors.bitrix24.multifield import MULTI_FIELDS, diff_multifield
from b24sync.engine.errors import ConflictError, ValidationError
from b24sync.engine.ports import ChangeCursor, ChangePage, FileContent, ObjectRef, ObjectSchema, Record
from b24sync.store.kv import MemoryState, SharedState


def _coalescible(item: tuple[str, Any]) -> bool:
    """A lookup by one plain field and one scalar value (multi-fields and operators are sent as they are)."""
    name, value = item
    return (name not in MULTI_FIELDS and name[:1].isalpha() and not isinstance(value, bool)
            and isinstance(value, (str, int)) and str(value).strip() != "")


@dataclass(frozen=True)
class ObjSpec:
    list: str
    get: str
    add: str
    update: str
    id_field: str
    time_field: str
    entity_type_id: int | None = None  # crm.item.*

    @property
    def universal(self) -> bool:
        return self.entity_type_id is not None


_LEGACY_TIME = {"crm.product": "TIMESTAMP_X"}  # the deprecated product API names its change time differently


def obj_spec(name: str) -> ObjSpec:
    if name.startswith("crm.item:"):
        et = int(name.split(":", 1)[1])
        return ObjSpec("crm.item.list", "crm.item.get", "crm.item.add", "crm.item.update", "id", "updatedTime", et)
    if name in ("crm.company", "crm.contact", "crm.deal", "crm.lead", "crm.product", "crm.requisite", "crm.quote"):
        return ObjSpec(f"{name}.list", f"{name}.get", f"{name}.add", f"{name}.update", "ID",
                       _LEGACY_TIME.get(name, "DATE_MODIFY"))
    raise ValidationError(f"Bitrix24 adapter: unknown object {name!r} (crm.company, crm.contact, crm.deal, "
                          "crm.lead, crm.product, crm.requisite, crm.item:<entityTypeId>)")


# Composite objects: object name -> factory(client) of an object that implements the SystemAdapter verbs for a
# record spanning several REST entities (a company with its requisite, bank details and address; a product with its
# section and measure). Modules register themselves here; the adapter delegates those objects to them.
COMPOSITES: dict[str, Callable[[Bitrix24Client], Any]] = {}


class Bitrix24Adapter:
    def __init__(self, name: str, client: Bitrix24Client, *, select: list[str] | None = None) -> None:
        self.name = name
        self.client = client
        self.client.system = name
        self.select = select
        self._composites: dict[str, Any] = {}

    def composite(self, obj: ObjectRef) -> Any | None:
        factory = COMPOSITES.get(obj.object)
        if factory is None:
            return None
        if obj.object not in self._composites:
            self._composites[obj.object] = factory(self.client)
        return self._composites[obj.object]

    # ---- helpers
    def _record(self, spec: ObjSpec, row: dict[str, Any]) -> Record:
        t = row.get(spec.time_field)
        return Record(id=str(row[spec.id_field]), values=row, modified=parse_dt(t), version=str(t) if t else None)

    def _base(self, spec: ObjSpec, obj: ObjectRef) -> dict[str, Any]:
        p: dict[str, Any] = {}
        if spec.universal:
            p["entityTypeId"] = spec.entity_type_id
        sel = obj.options.get("select") or self.select
        if sel:
            sel = list(sel)
            for f in (spec.id_field, spec.time_field):
                if f not in sel and "*" not in sel:
                    sel.append(f)
            p["select"] = sel
        elif not spec.universal and obj.object in ("crm.company", "crm.contact", "crm.lead"):
            p["select"] = ["*", "UF_*", "PHONE", "EMAIL", "WEB", "IM"]  # multi-fields must be named (sheet §5)
        elif not spec.universal and obj.object == "crm.deal":
            p["select"] = ["*", "UF_*"]
        elif spec.universal:
            p["select"] = ["*"]  # fm only with '*' (sheet §5)
        if obj.options.get("filter"):
            p["filter"] = dict(obj.options["filter"])
        return p

    # ---- SystemAdapter
    async def read_changes(self, obj: ObjectRef, cursor: ChangeCursor, *, overlap_seconds: float = 0.0,
                           limit: int = 500) -> ChangePage:
        if (c := self.composite(obj)) is not None:
            return await c.read_changes(obj, cursor, overlap_seconds=overlap_seconds, limit=limit)
        spec = obj_spec(obj.object)
        new, overlap, more = await self.client.list_changes(
            spec.list, time_field=spec.time_field, id_field=spec.id_field, since=cursor.modified,
            last_id=cursor.last_id, overlap_seconds=overlap_seconds, limit=limit, params=self._base(spec, obj))
        records = [self._record(spec, r) for r in overlap + new]
        nc = cursor
        if new:
            last = self._record(spec, new[-1])
            nc = ChangeCursor(last.modified, last.id, cursor.token)
        return ChangePage(records=records, cursor=nc, more=more)

    async def acknowledge(self, obj: ObjectRef, page: ChangePage) -> None:
        return None  # cursor-based: nothing to confirm on the portal

    async def get(self, obj: ObjectRef, record_id: str) -> Record | None:
        if (c := self.composite(obj)) is not None:
            return await c.get(obj, record_id)
        spec = obj_spec(obj.object)
        p: dict[str, Any] = {"id": int(record_id)}
        if spec.universal:
            p["entityTypeId"] = spec.entity_type_id
        try:
            res = await self.client.call(spec.get, p)
        except Bitrix24NotFound:
            return None
        row = res.get("item") if spec.universal and isinstance(res, dict) else res
        return self._record(spec, row) if row else None

    async def find(self, obj: ObjectRef, criteria: dict[str, Any]) -> list[Record]:
        if (c := self.composite(obj)) is not None:
            return await c.find(obj, criteria)
        spec = obj_spec(obj.object)
        crit = dict(criteria)
        ids: list[str] | None = None
        rq = {k: crit.pop(k) for k in list(crit) if k.startswith("RQ_")}
        if rq and obj.object in ("crm.company", "crm.contact"):
            # a company's INN/KPP live on its requisites (sheet §6.5 "Find a company by INN"); lookups of concurrent
            # jobs by INN share one crm.requisite.list call per 50 INNs (connectors/bitrix24/lookup.py)
            et = 4 if obj.object == "crm.company" else 3
            ids = sorted({str(r["ENTITY_ID"]) for r in await self._requisites(et, rq)}, key=int)
            if not ids:
                return []
        p = self._base(spec, obj)
        flt = dict(p.get("filter") or {})
        if ids is None and len(crit) == 1 and _coalescible(next(iter(crit.items()))):
            # the link-field lookup before a create: one list call for up to 50 link values
            (name, value), = crit.items()
            rows = await self.client.lookup.rows(spec.list, name, value, params=p, id_field=spec.id_field)
            return [self._record(spec, r) for r in rows]
        for k, v in crit.items():
            flt[k] = v  # multi-fields filter by exact value only (sheet §5)
        if ids is not None:
            flt[f"@{spec.id_field}"] = [int(i) for i in ids]
        p["filter"] = flt
        # A natural-key lookup almost always finds 0 or 1 rows: one page through the micro-batcher (so lookups of
        # concurrent jobs share one HTTP request, sheet §4), no COUNT (start=-1, sheet §5). Only a full page
        # means there may be more, and then the ID-chained full read takes over.
        first = await self.client.call(spec.list, {**p, "order": {spec.id_field: "ASC"}, "start": -1})
        rows = first.get("items", []) if isinstance(first, dict) else list(first or [])
        out = [self._record(spec, r) for r in rows]
        if len(rows) < 50:
            return out
        last = max(int(r.get(spec.id_field) or r.get("ID") or r.get("id")) for r in rows)
        p["filter"] = {**flt, f">{spec.id_field}": last}
        async for more in self.client.list_all(spec.list, p, id_field=spec.id_field, count=False):
            out.extend(self._record(spec, r) for r in more)
        return out

    async def _requisites(self, entity_type_id: int, rq: dict[str, Any]) -> list[dict[str, Any]]:
        """Requisites of companies (4) or contacts (3) with these RQ_* values; by RQ_INN coalesced."""
        if "RQ_INN" in rq and _coalescible(("RQ_INN", rq["RQ_INN"])) and all(_coalescible(i) for i in rq.items()):
            rows = await self.client.lookup.rows(
                "crm.requisite.list", "RQ_INN", rq["RQ_INN"], id_field="ID",
                params={"filter": {"ENTITY_TYPE_ID": entity_type_id},
                        "select": sorted({"ID", "ENTITY_ID", "RQ_INN", "RQ_KPP", *rq})})  # INN and INN+KPP rules share
            # the other keys (RQ_KPP) compared as the portal compares strings (trimmed, case-insensitive)
            return [r for r in rows if all(value_key(r.get(k)) == value_key(v) for k, v in rq.items())]
        rows = []
        async for page in self.client.list_all("crm.requisite.list", {
                "filter": {"ENTITY_TYPE_ID": entity_type_id, **rq}, "select": ["ID", "ENTITY_ID"]}, count=False):
            rows.extend(page)
        return rows

    async def exists(self, obj: ObjectRef, criteria: dict[str, Any]) -> bool:
        if (c := self.composite(obj)) is not None:
            return await c.exists(obj, criteria)
        spec = obj_spec(obj.object)
        if set(criteria) == {spec.id_field} or set(criteria) == {"id"}:
            return await self.get(obj, str(next(iter(criteria.values())))) is not None
        return bool(await self.find(obj, criteria))

    async def create(self, obj: ObjectRef, values: dict[str, Any]) -> str:
        if (c := self.composite(obj)) is not None:
            return await c.create(obj, values)
        spec = obj_spec(obj.object)
        if spec.universal:
            res = await self.client.call(spec.add, {"entityTypeId": spec.entity_type_id, "fields": values})
            return str(res["item"]["id"])
        fields = dict(values)
        for t in MULTI_FIELDS:  # a wanted list of plain strings becomes [{VALUE, VALUE_TYPE}]
            if t in fields and isinstance(fields[t], list):
                fields[t] = diff_multifield(t, [], fields[t])
        return str(await self.client.call(spec.add, {"fields": fields}))

    async def update(self, obj: ObjectRef, record_id: str, values: dict[str, Any], *,
                     expected_version: str | None = None) -> None:
        if (c := self.composite(obj)) is not None:
            return await c.update(obj, record_id, values, expected_version=expected_version)
        spec = obj_spec(obj.object)
        fields = _encode_files(spec, values)
        need_current = expected_version is not None or (not spec.universal and any(t in fields for t in MULTI_FIELDS))
        if need_current:
            cur = await self.get(obj, record_id)
            if cur is None:
                raise Bitrix24NotFound(f"Bitrix24 {obj.object} {record_id} not found")
            if expected_version is not None and cur.version != expected_version:
                raise ConflictError(f"{obj.object} {record_id} changed on the portal",
                                    detail={"expected": expected_version, "current": cur.version})
            for t in MULTI_FIELDS:
                if t in fields and not spec.universal:
                    ops = diff_multifield(t, cur.values.get(t) or [], fields[t])
                    if ops:
                        fields[t] = ops
                    else:
                        fields.pop(t)
        if not fields:
            return
        single = any(isinstance(v, FileContent) for v in values.values())  # files never ride in a batch
        if spec.universal:
            await self.client.call(spec.update, {"entityTypeId": spec.entity_type_id, "id": int(record_id),
                                                 "fields": fields}, batch=not single)
        else:
            await self.client.call(spec.update, {"id": int(record_id), "fields": fields}, batch=not single)

    # ---- files (engine.ports.FileTarget; document-flows.md A.6–A.7)
    def file_id(self, value: Any) -> str | None:
        """A file field's read-back: crm.item {id, url, urlMachine}, legacy {id, showUrl, downloadUrl}."""
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, dict) and value.get("id") not in (None, "", 0, "0"):
            return str(value["id"])
        return None

    async def download(self, value: Any) -> bytes | None:
        """The bytes behind a crm.item file value's ``urlMachine``, fetched as a REST call with our credentials.
        ⚠ How a REST client may use ``urlMachine`` is not documented (A.1 names the field only): we read it as the
        method ``crm.controller.item.getFile`` with the query it carries. Legacy values (``downloadUrl``) need a
        browser session: None — the caller then sends the file again, which replaces it (one file stays)."""
        if isinstance(value, list):
            value = value[0] if value else None
        url = value.get("urlMachine") if isinstance(value, dict) else None
        if not url:
            return None
        from urllib.parse import parse_qsl, urlsplit

        query = dict(parse_qsl(urlsplit(str(url)).query))
        try:
            target = await self.client.auth.target("crm.controller.item.getFile")
            resp = await self.client.http.get(target.url, params={**(target.params or {}), **query})
        except Exception:  # noqa: BLE001 - a failed download only means "send again"
            return None
        return resp.content if resp.status_code == 200 else None

    async def merge(self, obj: ObjectRef, keep: str, others: list[str]) -> str:
        """Merge duplicate records into one with ``crm.entity.mergeBatch`` (the portal's own merger: fields, multi-
        fields, deals and contacts move to the survivor, the others are deleted). Returns the survivor's id.

        The docs say ENTITY_IDS lists the merged ids "except the one left" but not which one is left
        (RU:rest_help/crm/auxiliary/duplicates/crm_entity_mergeBatch.php). We send ``keep`` first (the reading we
        assume: the first stays) and then check: if ``keep`` is among the merged-away ids, the survivor is the id
        the answer leaves out. CONFLICT (fields that disagree) raises ``ConflictError`` with the manual merge page."""
        types = {"crm.lead": 1, "crm.deal": 2, "crm.contact": 3, "crm.company": 4}
        etid = next((v for k, v in types.items() if obj.object == k or obj.object.startswith(k + "+")
                     or obj.object.startswith(k + ":")), None)
        if etid is None:
            raise ValidationError(f"Bitrix24 cannot merge {obj.object} records (crm.entity.mergeBatch takes leads, "
                                  "deals, contacts and companies)")
        ids = [str(keep), *[str(o) for o in others if str(o) != str(keep)]]
        res = await self.client.call("crm.entity.mergeBatch", {"params": {"entityTypeId": etid,
                                                                         "entityIds": [int(i) for i in ids]}},
                                     batch=False)
        status = str((res or {}).get("STATUS") or "").upper()
        gone = {str(i) for i in (res or {}).get("ENTITY_IDS") or []}
        if status == "CONFLICT":
            page = {1: "lead", 2: "deal", 3: "contact", 4: "company"}[etid]
            raise ConflictError(f"Bitrix24 could not merge {', '.join(ids)}: their fields disagree — merge them by "
                                f"hand at /crm/{page}/merge/?id={','.join(ids)}",
                                detail={"ids": ids, "status": status})
        if status != "SUCCESS":
            raise ValidationError(f"Bitrix24 refused to merge {', '.join(ids)} ({status or 'no status'}): check the "
                                  "webhook user's rights to change and delete these records")
        left = [i for i in ids if i not in gone]
        return str(keep) if str(keep) in left else (left[0] if left else str(keep))

    async def read_rows(self, obj: ObjectRef, record_id: str, name: str) -> list[dict[str, Any]]:
        """A deal's product rows (``crm.deal.productrows.get``, UPPER_CASE row fields) or a universal item's
        (``crm.item.productrow.list`` filtered by owner type and id, camelCase) — document-flows.md A.5."""
        if obj.object == "crm.deal":
            return list(await self.client.call("crm.deal.productrows.get", {"id": int(record_id)}) or [])
        if obj.object.startswith("crm.item:"):
            code = {31: "SI", 7: "Q"}.get(obj_spec(obj.object).entity_type_id or 0)
            if code is None:
                code = f"T{(obj_spec(obj.object).entity_type_id or 0):x}"
            res = await self.client.call("crm.item.productrow.list", {
                "filter": {"=ownerType": code, "=ownerId": int(record_id)}})
            return list((res or {}).get("productRows", []) if isinstance(res, dict) else res or [])
        raise ValidationError(f"Bitrix24 {obj.object} has no product rows")

    async def write_rows(self, obj: ObjectRef, record_id: str, name: str, rows: list[dict[str, Any]]) -> None:
        """Replace all product rows of a deal (``crm.deal.productrows.set``, rows not passed are removed) or of a
        universal item (``crm.item.productrow.set``) in one call — document-flows.md A.5, bitrix24-rest.md §6.8."""
        if obj.object == "crm.deal":
            await self.client.call("crm.deal.productrows.set", {"id": int(record_id), "rows": rows})
            return
        if obj.object.startswith("crm.item:"):
            et = obj_spec(obj.object).entity_type_id or 0
            code = {31: "SI", 7: "Q"}.get(et) or f"T{et:x}"
            await self.client.call("crm.item.productrow.set", {"ownerType": code, "ownerId": int(record_id),
                                                               "productRows": rows})
            return
        raise ValidationError(f"Bitrix24 {obj.object} has no product rows")

    async def stage_history(self, obj: ObjectRef, record_id: str, *, after_id: str | None = None
                            ) -> list[tuple[str, str]] | None:
        """The record's stage moves after history row ``after_id``, oldest first, as (row id, stage id), from
        ``crm.stagehistory.list`` (document-flows.md A.4: only the current pipeline's rows; leads name the stage
        STATUS_ID). None when the portal does not serve the type (``ENTITY_TYPE_NOT_SUPPORTED`` — the docs list
        smart invoices and SPAs but the maintainer says the method may not support them yet, #147): the engine then
        relies on its own memory of the last stage."""
        etid = {"crm.deal": 2, "crm.lead": 1}.get(obj.object)
        if etid is None and obj.object.startswith("crm.item:"):
            etid = obj_spec(obj.object).entity_type_id
        if etid is None:
            return None
        flt: dict[str, Any] = {"OWNER_ID": int(record_id)}
        if after_id:
            flt[">ID"] = int(after_id)
        stage_field = "STATUS_ID" if etid == 1 else "STAGE_ID"
        out: list[tuple[str, str]] = []
        try:
            while True:
                res = await self.client.call("crm.stagehistory.list", {
                    "entityTypeId": etid, "filter": flt, "order": {"ID": "ASC"}, "select": ["ID", stage_field],
                    "start": -1})
                items = (res or {}).get("items", []) if isinstance(res, dict) else list(res or [])
                out += [(str(r["ID"]), str(r[stage_field])) for r in items]
                if len(items) < 50:
                    return out
                flt[">ID"] = int(items[-1]["ID"])
        except Bitrix24Error as e:
            if e.code in ("ENTITY_TYPE_NOT_SUPPORTED", "allowed_only_intranet_user"):
                return None
            raise

    async def stage_ids(self, obj: ObjectRef) -> set[str] | None:
        """Every stage id of every pipeline of a deal / smart invoice / smart process (``crm.category.list`` +
        ``crm.status.list`` per ``*_STAGE_{cat}`` entity, document-flows.md A.2, E.6), for the start-up check of the
        stages a spec names. None for objects without stages."""
        names = await self.stage_names(obj)
        return None if names is None else set(names)

    async def stage_names(self, obj: ObjectRef) -> dict[str, str] | None:
        """Stage id → the portal's own name of it («Подготовка документов»), every pipeline (as ``stage_ids``)."""
        etid = 2 if obj.object == "crm.deal" else (obj_spec(obj.object).entity_type_id
                                                    if obj.object.startswith("crm.item:") else None)
        if etid is None:
            return None
        res = await self.client.call("crm.category.list", {"entityTypeId": etid})
        cats = [int(c.get("id", c.get("ID", 0))) for c in (res or {}).get("categories", [])] or [0]
        if etid == 2 and 0 not in cats:
            cats.append(0)
        out: dict[str, str] = {}
        for cat in cats:
            if etid == 2:
                ent = "DEAL_STAGE" if cat == 0 else f"DEAL_STAGE_{cat}"
            elif etid == 31:
                ent = f"SMART_INVOICE_STAGE_{cat}"
            else:
                ent = f"DYNAMIC_{etid}_STAGE_{cat}"
            rows = await self.client.call("crm.status.list", {"filter": {"ENTITY_ID": ent}})
            out.update({str(r["STATUS_ID"]): str(r.get("NAME") or r["STATUS_ID"]) for r in rows or []})
        return out

    # ---- the optional port verbs of timeline entries (engine/aggregate.py, engine/effects.py)
    @staticmethod
    def timeline_type(obj: ObjectRef) -> str:
        """``crm.deal`` → deal; ``crm.item:31`` → dynamic_31. ⚠ document-flows.md A.6: the docs' rule gives
        ``smart_invoice`` for invoices, public payment code posts with ``dynamic_31``; this assumes dynamic_31."""
        base = obj.object.split("+", 1)[0]
        legacy = {"crm.company": "company", "crm.contact": "contact", "crm.deal": "deal", "crm.lead": "lead"}
        if base in legacy:
            return legacy[base]
        if base.startswith("crm.item:"):
            et = int(base.split(":", 1)[1])
            return {1: "lead", 2: "deal", 3: "contact", 4: "company"}.get(et, f"dynamic_{et}")
        raise ValidationError(f"Bitrix24 {obj.object} has no timeline")

    async def add_note(self, obj: ObjectRef, record_id: str, text: str,
                       files: list[FileContent] | None = None) -> str:
        """A timeline comment (``crm.timeline.comment.add``, lowercase ``fields`` only — A.6), with ``files`` as
        ``FILES: [[name, base64], …]`` (then one JSON call: files never ride in a batch)."""
        import base64

        f: dict[str, Any] = {"ENTITY_ID": int(record_id), "ENTITY_TYPE": self.timeline_type(obj), "COMMENT": text}
        if files:
            f["FILES"] = [[x.name, base64.b64encode(x.content).decode("ascii")] for x in files]
        return str(await self.client.call("crm.timeline.comment.add", {"fields": f}, batch=not files))

    async def find_note(self, obj: ObjectRef, record_id: str, text: str) -> str | None:
        """The id of a timeline comment of the record with exactly this text (``crm.timeline.comment.list``: the
        filter needs ENTITY_ID and ENTITY_TYPE), newest pages first is not offered, so all pages are read."""
        flt = {"ENTITY_ID": int(record_id), "ENTITY_TYPE": self.timeline_type(obj)}
        async for page in self.client.list_all("crm.timeline.comment.list",
                                               {"filter": flt, "select": ["ID", "COMMENT"]}, count=False):
            for row in page:
                if str(row.get("COMMENT") or "").strip() == text.strip():
                    return str(row.get("ID"))
        return None

    async def notify(self, user_id: str, text: str, *, tag: str | None = None, personal: bool = False) -> str | None:
        """A system notification to a portal user (engine.ports.Notifier): ``im.notify.system.add`` with ``TAG``
        — a new notice with an existing tag removes the older ones — and ``CLIENT_ID`` beside it, as the method asks
        of a webhook caller (document-flows.md A.10). ``personal``: ``im.notify.personal.add`` (same parameters,
        bitrix24-rest.md §6.10). Through the batching client like every other call."""
        p: dict[str, Any] = {"USER_ID": int(user_id), "MESSAGE": text}
        if tag:
            p.update(TAG=tag[:255], CLIENT_ID="b24sync")
        res = await self.client.call("im.notify.personal.add" if personal else "im.notify.system.add", p)
        return None if res is None else str(res)

    async def describe(self, obj: ObjectRef) -> ObjectSchema | None:
        """The object's fields as the portal lists them (``crm.{entity}.fields`` with the user fields and their
        ``USER_TYPE_ID``; ``crm.item.fields`` for smart processes — sheet §6.1, §6.6), for ``portal check``."""
        if (c := self.composite(obj)) is not None:
            describe = getattr(c, "describe", None)
            return await describe(obj) if describe is not None else None
        try:
            spec = obj_spec(obj.object)
        except ValidationError:
            return ObjectSchema(exists=False, alternatives=sorted(
                ["crm.company", "crm.contact", "crm.deal", "crm.lead", "crm.product", "crm.requisite", "crm.quote",
                 "crm.item:<entityTypeId>", *COMPOSITES]))
        if spec.universal:
            types = ((await self.client.call("crm.type.list", {}, batch=False)) or {}).get("types", [])
            ids = {int(t.get("entityTypeId") or 0): str(t.get("title") or "") for t in types}
            ids.update({2: "deal", 31: "invoice", 7: "quote", 1: "lead", 3: "contact", 4: "company"})
            if spec.entity_type_id not in ids:
                return ObjectSchema(exists=False, alternatives=[f"crm.item:{i} ({t})" for i, t in sorted(ids.items())
                                                                if i >= 128 or i == 31])
            res = await self.client.call("crm.item.fields", {"entityTypeId": spec.entity_type_id}, batch=False)
            fields = (res or {}).get("fields", res) or {}
        else:
            fields = await self.client.call(f"{obj.object}.fields", {}, batch=False) or {}
        # a list (enumeration) user field: its items, so a value written in the spec by name is checked and sent as
        # the item's id. crm.*.fields lists them as `items: [{ID, VALUE}]` [M]; where it does not, the
        # userfield list's LIST (the items crm.*.userfield.add takes, bitrix24-rest.md §6.6) is read instead
        enums: dict[str, list[dict[str, Any]]] = {}
        for k, v in fields.items():
            if str((v or {}).get("type", "")) == "enumeration":
                items = (v or {}).get("items")
                if items is None and not spec.universal:
                    ufs = await self.client.call(f"{obj.object}.userfield.list", {"filter": {"FIELD_NAME": str(k)}},
                                                 batch=False) or []
                    items = next((u.get("LIST") for u in ufs if str(u.get("FIELD_NAME")) == str(k)), None)
                enums[str(k)] = [{"ID": str(i.get("ID")), "VALUE": i.get("VALUE"), "XML_ID": i.get("XML_ID")}
                                 for i in items or [] if isinstance(i, dict)]
        return ObjectSchema(fields={str(k): str((v or {}).get("type", "")) for k, v in fields.items()},
                            detail={"enums": enums} if enums else {})

    async def aclose(self) -> None:
        await self.client.aclose()


def _encode_files(spec: ObjSpec, values: dict[str, Any]) -> dict[str, Any]:
    """``FileContent`` values as the portal takes them: ``[name, base64]`` for crm.item.*, ``{"fileData": [name,
    base64]}`` for the legacy methods (document-flows.md A.7)."""
    import base64

    out = dict(values)
    for k, v in values.items():
        if isinstance(v, FileContent):
            pair = [v.name, base64.b64encode(v.content).decode("ascii")]
            out[k] = pair if spec.universal else {"fileData": pair}
    return out


def _state_from_config(config: dict[str, Any]) -> SharedState:
    if config.get("state") is not None:
        return config["state"]
    redis_url = config.get("redis_url") or os.environ.get("B24SYNC_REDIS_URL")
    db_url = config.get("database_url") or os.environ.get("B24SYNC_DATABASE_URL")
    if redis_url:
        from b24sync.store.kv import RedisState, redis_prefix

        engine = None
        if db_url:  # the installation's keys, as `b24sync run` writes them (tokens stored at ONAPPINSTALL)
            from b24sync.store.db import make_engine, migrate

            engine = make_engine(db_url)
            migrate(engine)
        return RedisState(redis_url, prefix=redis_prefix(engine))
    if db_url:
        from b24sync.store.db import make_engine, migrate
        from b24sync.store.kv import SqlState

        engine = make_engine(db_url)
        migrate(engine)
        return SqlState(engine)
    return MemoryState()


def client_from_config(config: dict[str, Any]) -> Bitrix24Client:
    state = _state_from_config(config)
    auth: WebhookAuth | OAuthAuth
    webhook = config.get("webhook_url") or (None if config.get("oauth") else os.environ.get("B24SYNC_B24_WEBHOOK"))
    if webhook:
        auth = WebhookAuth(webhook)
    elif config.get("oauth"):
        o = dict(config["oauth"])
        key = o.get("key") or f"b24:oauth:{o.get('member_id') or o.get('client_endpoint') or o['client_id']}"
        auth = OAuthAuth(
            client_id=o["client_id"], client_secret=o.get("client_secret") or os.environ.get(
                "B24SYNC_B24_CLIENT_SECRET", ""),
            state=state, key=key, token_endpoint=o.get("token_endpoint", "https://oauth.bitrix.info/oauth/token/"),
            client_endpoint=o.get("client_endpoint"), access_token=o.get("access_token"),
            refresh_token=o.get("refresh_token"))
    else:
        raise ValidationError("bitrix24 system needs webhook_url (or B24SYNC_B24_WEBHOOK) or oauth {client_id, ...}")
    return Bitrix24Client(
        auth, state=state, plan=config.get("plan"), rate=config.get("rate"), burst=config.get("burst"),
        operating_limit_seconds=float(config.get("operating_limit_seconds", 480.0)),
        auth_connector=config.get("auth_connector"), transport=config.get("transport"),
        max_park_wait=float(config.get("max_park_wait", 0.0)), verify=config.get("verify", True),
    )


def from_config(name: str, config: dict[str, Any]) -> Bitrix24Adapter:
    return Bitrix24Adapter(name, client_from_config(config), select=config.get("select"))


__all__ = ["Bitrix24Adapter", "from_config", "client_from_config", "obj_spec"]

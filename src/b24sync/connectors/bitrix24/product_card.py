"""``crm.product.card``: a Bitrix24 product as one record, with its section path, OKEI measure, VAT rate and
property values in ERP-friendly terms (a composite object, see ``adapter.COMPOSITES``).

The legacy product API (sheet §6.8; b24restdocs ``api-reference/crm/outdated/products/``) stores references as
portal ids: ``MEASURE`` (an id from ``crm.measure.list``), ``VAT_ID`` (``crm.vat.list``), ``SECTION_ID``
(``crm.productsection.*``) and custom properties as ``PROPERTY_<id>`` (``crm.product.property.*``). This object
translates them so a spec can map 1C values directly:

=====================  ==========================================================================================
record field           on the portal
=====================  ==========================================================================================
``MEASURE_CODE``       ``MEASURE`` = the ``crm.measure.list`` row whose ``CODE`` is the OKEI code (erp-side §10.2:
                       codes compare as numbers, ``"006"`` = ``6``)
``VAT_RATE``           ``VAT_ID`` = the ``crm.vat.list`` row with that ``RATE`` (``"none"`` = the row without a
                       rate, «Без НДС»)
``SECTION``            ``SECTION_ID`` of the last of a path ``[[XML_ID, NAME], ...]`` (root first); missing sections
                       are created with their ``XML_ID`` (``crm.productsection.add``), renamed ones updated
``PROPERTY_<CODE>``    ``PROPERTY_<id>`` of the property with that ``CODE``; read back as a plain value (the
                       portal's ``{"valueId", "value"}`` is unwrapped)
=====================  ==========================================================================================

Everything else passes through (``NAME``, ``XML_ID``, ``PRICE``, ``CURRENCY_ID``, ``VAT_INCLUDED``, ...).
Reference tables are read once (one command each, micro-batched) and re-read at most once a minute when a value is
missing; a VAT rate or measure the portal lacks is a ``ValidationError`` that says what to add. A property code the
portal lacks likewise (``b24sync portal prepare SPEC`` creates it through :func:`prepare_catalog`).

``ObjectRef.options``: ``where: {FIELD: value}`` — only records with these (translated) values are read by
``read_changes`` (e.g. a "not from the catalogue" marker property); ``filter`` as for ``crm.product``.

``update`` does not re-read the product to check ``expected_version``: the engine has just read it, and an edit in
between is a CRM edit of ERP-owned fields, which the revert poll puts back anyway. One command per update.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from b24sync.connectors.bitrix24.adapter import COMPOSITES
from b24sync.connectors.bitrix24.client import Bitrix24Client, parse_dt
from b24sync.connectors.bitrix24.errors import Bitrix24NotFound
from b24sync.engine.errors import ValidationError
from b24sync.engine.ports import ChangeCursor, ChangePage, ObjectRef, Record

OBJECT = "crm.product.card"
NO_VAT = "none"
_REFRESH_SECONDS = 60.0
_SELECT = ["*", "PROPERTY_*"]


def _num_key(v: Any) -> str | None:
    """OKEI codes and VAT rates compare as numbers: ``"006"`` = ``6``, ``"22.00"`` = ``22``."""
    if v is None or v == "":
        return None
    s = str(v).strip()
    try:
        f = float(s)
    except ValueError:
        return s.lower()
    return str(int(f)) if f.is_integer() else str(f)


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return v.get("value", v.get("VALUE"))
    if isinstance(v, list):
        return _plain(v[0]) if v else None
    return v


class ProductCard:
    def __init__(self, client: Bitrix24Client) -> None:
        self.client = client
        self._measures: dict[str, int] | None = None  # OKEI code -> MEASURE id
        self._measure_codes: dict[int, str] = {}
        self._vats: dict[str, int] | None = None  # rate key (or "none") -> VAT_ID
        self._vat_rates: dict[int, str] = {}
        self._props: dict[str, int] | None = None  # CODE -> property id
        self._prop_codes: dict[int, str] = {}
        self._sections: dict[int, dict[str, Any]] | None = None  # id -> {XML_ID, NAME, SECTION_ID}
        self._section_ids: dict[str, int] = {}  # XML_ID -> id
        self._loaded_at: dict[str, float] = {}
        self._lock = asyncio.Lock()
        self._section_lock = asyncio.Lock()

    # ---- reference tables ------------------------------------------------------------------------------------
    async def _load(self, what: str, *, force: bool = False) -> None:
        if not force and getattr(self, f"_{what}") is not None:
            return
        if force and time.monotonic() - self._loaded_at.get(what, 0.0) < _REFRESH_SECONDS:
            return
        async with self._lock:
            # another job may have (re)loaded it while we waited for the lock
            if not force and getattr(self, f"_{what}") is not None:
                return
            if force and time.monotonic() - self._loaded_at.get(what, 0.0) < _REFRESH_SECONDS:
                return
            if what == "measures":
                rows = await self.client.call("crm.measure.list", {})
                self._measures = {}
                for r in rows or []:
                    if (k := _num_key(r.get("CODE"))) is not None:
                        self._measures[k] = int(r["ID"])
                        self._measure_codes[int(r["ID"])] = str(r.get("CODE")).strip()
            elif what == "vats":
                rows = await self.client.call("crm.vat.list", {})
                self._vats = {}
                for r in rows or []:
                    if str(r.get("ACTIVE") or "Y") != "Y":
                        continue
                    key = _num_key(r.get("RATE")) or NO_VAT
                    self._vats.setdefault(key, int(r["ID"]))
                    self._vat_rates[int(r["ID"])] = key
            elif what == "props":
                rows = await self.client.call("crm.product.property.list", {})
                self._props = {str(r["CODE"]): int(r["ID"]) for r in rows or [] if r.get("CODE")}
                self._prop_codes = {v: k for k, v in self._props.items()}
            elif what == "sections":
                secs: dict[int, dict[str, Any]] = {}
                async for page in self.client.list_all("crm.productsection.list", {}, id_field="ID"):
                    for r in page:
                        secs[int(r["ID"])] = {"XML_ID": r.get("XML_ID"), "NAME": r.get("NAME"),
                                              "SECTION_ID": int(r["SECTION_ID"]) if r.get("SECTION_ID") else None}
                self._sections = secs
                self._section_ids = {str(s["XML_ID"]): i for i, s in secs.items() if s["XML_ID"]}
            self._loaded_at[what] = time.monotonic()

    async def _measure_id(self, code: Any) -> int | None:
        key = _num_key(code)
        if key is None:
            return None
        await self._load("measures")
        if key not in (self._measures or {}):
            await self._load("measures", force=True)
        if key not in (self._measures or {}):
            raise ValidationError(f"Bitrix24 has no unit of measure with OKEI code {code} (crm.measure.list) — add "
                                  f"it in CRM → Settings → Units of measure, then replay this product")
        return self._measures[key]  # type: ignore[index]

    async def _vat_id(self, rate: Any) -> int | None:
        if rate is None or rate == "":
            return None
        key = NO_VAT if str(rate).strip().lower() == NO_VAT else _num_key(rate)
        await self._load("vats")
        if key not in (self._vats or {}):
            await self._load("vats", force=True)
        if key not in (self._vats or {}):
            what = "a «Без НДС» (no rate) entry" if key == NO_VAT else f"an active {key}% VAT rate"
            raise ValidationError(f"Bitrix24 has no {what} (crm.vat.list) — add it in CRM → Settings → VAT rates "
                                  f"(crm.vat.add), then replay this product")
        return self._vats[key]  # type: ignore[index]

    async def _prop_id(self, code: str) -> int:
        await self._load("props")
        if code not in (self._props or {}):
            await self._load("props", force=True)
        if code not in (self._props or {}):
            raise ValidationError(f"Bitrix24 has no product property with code {code} (crm.product.property.list) "
                                  f"— create it with `b24sync portal prepare SPEC`, then `b24sync replay`")
        return self._props[code]  # type: ignore[index]

    async def _section_id(self, path: Any) -> int | None:
        if not path:
            return None
        await self._load("sections")
        parent: int | None = None
        async with self._section_lock:  # concurrent jobs must not create one section twice
            for xml_id, name in path:
                sid = self._section_ids.get(str(xml_id))
                if sid is None:
                    # another process may have created it since our read: look it up before adding
                    rows = await self.client.call("crm.productsection.list", {"filter": {"XML_ID": str(xml_id)}})
                    if rows:
                        sid = int(rows[0]["ID"])
                    else:
                        fields: dict[str, Any] = {"NAME": name or str(xml_id), "XML_ID": str(xml_id)}
                        if parent:
                            fields["SECTION_ID"] = parent
                        sid = int(await self.client.call("crm.productsection.add", {"fields": fields}))
                    self._sections[sid] = {"XML_ID": str(xml_id), "NAME": name,  # type: ignore[index]
                                           "SECTION_ID": parent}
                    self._section_ids[str(xml_id)] = sid
                else:
                    cur = self._sections[sid]  # type: ignore[index]
                    change: dict[str, Any] = {}
                    if name and cur.get("NAME") != name:
                        change["NAME"] = name
                    if (cur.get("SECTION_ID") or None) != parent:
                        change["SECTION_ID"] = parent or 0
                    if change:
                        await self.client.call("crm.productsection.update", {"id": sid, "fields": change})
                        cur.update({k: (v or None) for k, v in change.items()})
                parent = sid
        return parent

    def _section_path(self, sid: Any) -> list[list[Any]] | None:
        if not sid or self._sections is None:
            return None
        out: list[list[Any]] = []
        seen: set[int] = set()
        cur: int | None = int(sid)
        while cur and cur not in seen and cur in self._sections:
            seen.add(cur)
            s = self._sections[cur]
            out.append([s["XML_ID"], s["NAME"]])
            cur = s["SECTION_ID"]
        return list(reversed(out)) or None

    # ---- translation -----------------------------------------------------------------------------------------
    async def _to_portal(self, values: dict[str, Any], *, creating: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in values.items():
            if k == "MEASURE_CODE":
                out["MEASURE"] = await self._measure_id(v)
            elif k == "VAT_RATE":
                out["VAT_ID"] = await self._vat_id(v)
            elif k == "SECTION":
                out["SECTION_ID"] = await self._section_id(v)
            elif k.startswith("PROPERTY_") and not k[9:].isdigit():
                out[f"PROPERTY_{await self._prop_id(k[9:])}"] = v
            else:
                out[k] = v
        if creating:
            return {k: v for k, v in out.items() if v is not None and v != ""}
        # an empty string clears a field; None would make the call a JSON request outside the batch (sheet §4)
        return {k: ("" if v is None else v) for k, v in out.items()}

    async def _record(self, row: dict[str, Any]) -> Record:
        await asyncio.gather(self._load("measures"), self._load("vats"), self._load("props"), self._load("sections"))
        vals: dict[str, Any] = {}
        for k, v in row.items():
            if k.startswith("PROPERTY_") and k[9:].isdigit():
                code = self._prop_codes.get(int(k[9:]))
                if code:
                    vals[f"PROPERTY_{code}"] = _plain(v)
                continue
            vals[k] = v
        m = row.get("MEASURE")
        vals["MEASURE_CODE"] = self._measure_codes.get(int(m)) if m not in (None, "") else None
        vat = row.get("VAT_ID")
        vals["VAT_RATE"] = self._vat_rates.get(int(vat)) if vat not in (None, "") else None
        vals["SECTION"] = self._section_path(row.get("SECTION_ID"))
        t = row.get("TIMESTAMP_X")
        return Record(id=str(row["ID"]), values=vals, modified=parse_dt(t), version=str(t) if t else None)

    @staticmethod
    def _matches(rec: Record, where: dict[str, Any]) -> bool:
        from b24sync.store.fingerprints import canonical

        return all(canonical(rec.values.get(k)) == canonical(v) for k, v in where.items())

    # ---- SystemAdapter verbs ---------------------------------------------------------------------------------
    async def read_changes(self, obj: ObjectRef, cursor: ChangeCursor, *, overlap_seconds: float = 0.0,
                           limit: int = 500) -> ChangePage:
        params: dict[str, Any] = {"select": _SELECT}
        if obj.options.get("filter"):
            params["filter"] = dict(obj.options["filter"])
        new, overlap, more = await self.client.list_changes(
            "crm.product.list", time_field="TIMESTAMP_X", id_field="ID", since=cursor.modified,
            last_id=cursor.last_id, overlap_seconds=overlap_seconds, limit=limit, params=params)
        records = [await self._record(r) for r in overlap + new]
        nc = cursor
        if new:
            last = await self._record(new[-1])
            nc = ChangeCursor(last.modified, last.id, cursor.token)
        where = obj.options.get("where") or {}
        if where:
            records = [r for r in records if self._matches(r, where)]
        return ChangePage(records=records, cursor=nc, more=more)

    async def acknowledge(self, obj: ObjectRef, page: ChangePage) -> None:
        return None

    async def get(self, obj: ObjectRef, record_id: str) -> Record | None:
        try:
            row = await self.client.call("crm.product.get", {"id": int(record_id)})
        except Bitrix24NotFound:
            return None
        return await self._record(row) if row else None

    # Lookups by XML_ID (the link field, before every create) of concurrent jobs are coalesced into one
    # ``crm.product.list`` page filtered ``@XML_ID: [...]`` by the client's KeyLookup (connectors/bitrix24/lookup.py):
    # one command and one list page of operating time (sheet §3.3) for up to 50 lookups instead of 50.

    async def _find_xml(self, xml_id: str) -> list[dict[str, Any]]:
        rows = await self.client.lookup.rows("crm.product.list", "XML_ID", xml_id, params={"select": _SELECT})
        return [r for r in rows if str(r.get("XML_ID")) == xml_id]  # XML_ID is a code: compared exactly

    async def find(self, obj: ObjectRef, criteria: dict[str, Any]) -> list[Record]:
        if set(criteria) == {"XML_ID"} and not obj.options.get("filter") and criteria["XML_ID"] not in (None, ""):
            return [await self._record(r) for r in await self._find_xml(str(criteria["XML_ID"]))]
        flt = dict(obj.options.get("filter") or {})
        flt.update({k: v for k, v in (await self._to_portal(criteria, creating=False)).items()})
        # a natural-key lookup: one page through the micro-batcher, no COUNT (sheet §4, §5)
        rows = await self.client.call("crm.product.list", {"filter": flt, "select": _SELECT,
                                                           "order": {"ID": "ASC"}, "start": -1})
        out = [await self._record(r) for r in rows or []]
        if len(out) >= 50:
            last = max(int(r.id) for r in out)
            async for more in self.client.list_all("crm.product.list", {"filter": {**flt, ">ID": last},
                                                                        "select": _SELECT},
                                                   id_field="ID", count=False):
                out.extend([await self._record(r) for r in more])
        return out

    async def exists(self, obj: ObjectRef, criteria: dict[str, Any]) -> bool:
        if set(criteria) in ({"ID"}, {"id"}):
            return await self.get(obj, str(next(iter(criteria.values())))) is not None
        return bool(await self.find(obj, criteria))

    async def create(self, obj: ObjectRef, values: dict[str, Any]) -> str:
        fields = await self._to_portal(values, creating=True)
        return str(await self.client.call("crm.product.add", {"fields": fields}))

    async def update(self, obj: ObjectRef, record_id: str, values: dict[str, Any], *,
                     expected_version: str | None = None) -> None:
        fields = await self._to_portal(values, creating=False)
        if fields:
            await self.client.call("crm.product.update", {"id": int(record_id), "fields": fields})

    async def aclose(self) -> None:
        return None


async def prepare_catalog(client: Bitrix24Client, *, vat_rates: list[float] | tuple[float, ...] = (),
                          properties: list[dict[str, Any]] | tuple[dict[str, Any], ...] = (),
                          measures: list[dict[str, Any]] | tuple[dict[str, Any], ...] = (),
                          dry_run: bool = False) -> list[str]:
    """Make sure the portal has the VAT rates, units of measure and product properties a catalogue sync writes
    (idempotent). ``properties``: ``[{"CODE": "STOCK", "NAME": "Остаток", "PROPERTY_TYPE": "N"}]``;
    ``measures``: ``[{"CODE": 715, "MEASURE_TITLE": "Пара", "SYMBOL_RUS": "пар"}]`` (crm.measure.add: CODE and
    MEASURE_TITLE required, b24restdocs crm-measure-add.md). Returns what was added (with ``dry_run``: what is
    missing, nothing is created — ``portal check``)."""
    added: list[str] = []
    if measures:
        rows = await client.call("crm.measure.list", {})
        have_m = {_num_key(r.get("CODE")) for r in rows or []}
        for m in measures:
            if _num_key(m["CODE"]) not in have_m:
                if not dry_run:
                    await client.call("crm.measure.add", {"fields": {**m, "CODE": int(m["CODE"])}})
                have_m.add(_num_key(m["CODE"]))
                added.append(f"measure {m['CODE']}")
    rows = await client.call("crm.vat.list", {})
    have = {_num_key(r.get("RATE")) for r in rows or [] if str(r.get("ACTIVE") or "Y") == "Y"}
    for rate in vat_rates:
        if _num_key(rate) not in have:
            if not dry_run:
                await client.call("crm.vat.add", {"fields": {"NAME": f"НДС {_num_key(rate)}%", "RATE": rate,
                                                             "ACTIVE": "Y"}})
            added.append(f"VAT {_num_key(rate)}%")
    props = await client.call("crm.product.property.list", {})
    codes = {str(r.get("CODE")) for r in props or []}
    for prop in properties:
        if prop["CODE"] not in codes:
            if not dry_run:
                await client.call("crm.product.property.add", {"fields": {"ACTIVE": "Y", **prop}})
            added.append(f"property {prop['CODE']}")
    return added


COMPOSITES[OBJECT] = ProductCard

__all__ = ["ProductCard", "prepare_catalog", "OBJECT", "NO_VAT"]

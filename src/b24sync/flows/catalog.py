"""Catalogue, prices and stock from the ERP into Bitrix24 products (issue 7; ERP master, one way), plus items
created in the CRM as "non-catalogue" going to the ERP. See docs/flow-catalog.md.

Pieces (all plug into the generic record sync, engine/sync.py, through the documented extension points):

* ERP-side virtual objects (``rt.object_adapters[(system, object)]``):

  - ``catalog.products`` (1C OData): ``Catalog_Номенклатура`` (folders skipped) joined with its unit's OKEI code
    (``Catalog_УпаковкиЕдиницыИзмерения`` → ``Catalog_КлассификаторЕдиницИзмерения.Code``, erp-side §10.2), its VAT
    rate as a number (``СтавкаНДС`` enum, §10.1), its group path (``Parent_Key`` chain of folders) and the price of
    the spec's price type (``InformationRegister_ЦеныНоменклатуры/SliceLast`` with ``Condition`` on
    ``ВидЦены_Key``, §1.7 — one call per poll, not per item);
  - ``catalog.stock`` (1C OData): per product, ``ВНаличииBalance`` of ``AccumulationRegister_ТоварыНаСкладах/
    Balance`` summed over the spec's warehouses (``Condition`` on ``Склад_Key``; one call per poll), 0 for products
    without a balance;
  - ``cml.products`` / ``cml.stock``: the same records from CommerceML ``import.xml`` + ``offers.xml``
    (b24sync.connectors.commerceml reader), fed by the exchange router's ``on_records`` or a file drop.

  A poll reads the whole (joined) catalogue — a price lives in a register, so a product's ``DataVersion`` does
  not change with its price — and the scheduler drops every record whose fingerprint is unchanged: an idle cycle
  makes no Bitrix24 call for these entities at all.

* CRM side: ``crm.product.card`` (connectors/bitrix24/product_card.py) — sections, OKEI measures, VAT rates and
  product properties translated to ERP terms.

* The stock entity (``create: false``) updates products the catalogue entity creates. A stock job whose product
  is still being created by a catalogue job of the same cycle waits for it (bounded), instead of finding nothing.

Spec options (``erp.options`` of the entity):

  ``price_type`` (name or Ref_Key), ``warehouses`` (names or Ref_Keys; stock), ``crm_link_field`` (the 1C
  attribute that holds the Bitrix24 id of items created from the CRM: such items get ``ИзCRM = true`` so the
  catalogue entity can skip them with a guard), ``vat_map`` (extra 1C VAT enum → rate entries).
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select

from b24sync.engine.errors import PermanentError, ValidationError
from b24sync.engine.ports import ChangeCursor, ChangePage, ObjectRef, Record, SystemAdapter
from b24sync.engine.runtime import Outcome, Runtime
from b24sync.store import identity
from b24sync.store.queue import ClaimedJob

PRODUCTS = "catalog.products"
STOCK = "catalog.stock"
CML_PRODUCTS = "cml.products"
CML_STOCK = "cml.stock"
NO_VAT = "none"  # product_card.NO_VAT: the «Без НДС» row of crm.vat.list

# 1C VAT enum (erp-side §10.1: БП/УТ enum strings; calculated rates 22/122 … carry the same rate) -> rate
VAT_RATES: dict[str, str] = {
    "БезНДС": NO_VAT, "НДС0": "0", "НДС5": "5", "НДС7": "7", "НДС10": "10", "НДС18": "18", "НДС20": "20",
    "НДС22": "22", "НДС5_105": "5", "НДС7_107": "7", "НДС10_110": "10", "НДС18_118": "18", "НДС20_120": "20",
    "НДС22_122": "22",
}

# What the virtual objects emit (the names a spec maps)
F_ID, F_CODE, F_NAME, F_SKU = "Ref_Key", "Code", "Description", "Артикул"
F_OKEI, F_VAT, F_PRICE, F_VAT_INCLUDED = "ЕдиницаОКЕИ", "СтавкаНДСПроцент", "Цена", "ЦенаВключаетНДС"
F_GROUP, F_ACTIVE, F_FROM_CRM, F_STOCK = "Группа", "Активен", "ИзCRM", "Остаток"

WAIT_FOR_CATALOGUE_SECONDS = 20.0


def vat_rate(value: Any, extra: dict[str, str] | None = None) -> str | None:
    """1C ``СтавкаНДС`` (``НДС22``, ``БезНДС``, …) or a CommerceML ``Ставка`` (``22``, ``без НДС``) -> rate key."""
    if value is None or value == "":
        return None
    s = str(value).strip()
    table = {**VAT_RATES, **(extra or {})}
    if s in table:
        return table[s]
    low = s.lower().replace(" ", "").replace("%", "")
    if low in ("безндс", "необлагается", "none"):
        return NO_VAT
    try:
        d = Decimal(low)
    except Exception:  # noqa: BLE001
        raise ValidationError(f"unknown VAT rate {s!r} — add it to the entity's erp.options.vat_map "
                              f"({{{s}: <rate>}}), then replay") from None
    return str(int(d)) if d == d.to_integral_value() else str(d.normalize())


def _num(v: Any) -> Any:
    if v is None:
        return None
    d = Decimal(str(v))
    return int(d) if d == d.to_integral_value() else float(d)


def _guid(v: str) -> str:
    return f"guid'{v}'"


def _is_guid(v: str) -> bool:
    import uuid

    try:
        uuid.UUID(str(v))
        return True
    except ValueError:
        return False


class _Base:
    """Common plumbing of the virtual objects: they answer the SystemAdapter verbs the catalogue needs."""

    name: str

    async def acknowledge(self, obj: ObjectRef, page: ChangePage) -> None:
        return None

    async def find(self, obj: ObjectRef, criteria: dict[str, Any]) -> list[Record]:
        if set(criteria) == {F_ID}:
            r = await self.get(obj, str(criteria[F_ID]))  # type: ignore[attr-defined]
            return [r] if r else []
        raise PermanentError(f"{obj.object}: only lookups by {F_ID} are supported (the ERP is the master)")

    async def exists(self, obj: ObjectRef, criteria: dict[str, Any]) -> bool:
        return bool(await self.find(obj, criteria))

    async def create(self, obj: ObjectRef, values: dict[str, Any]) -> str:
        raise PermanentError(f"{obj.object} is read-only (ERP-owned catalogue): map crm_to_erp entities to "
                             f"Catalog_Номенклатура itself")

    async def update(self, obj: ObjectRef, record_id: str, values: dict[str, Any], *,
                     expected_version: str | None = None) -> str | None:
        raise PermanentError(f"{obj.object} is read-only (ERP-owned catalogue)")

    async def aclose(self) -> None:
        return None


# ---- 1C OData --------------------------------------------------------------------------------------------------
class ODataCatalog(_Base):
    """``catalog.products`` and ``catalog.stock`` over the 1C OData adapter's client (one instance per system)."""

    def __init__(self, base: Any, *, ttl: float = 30.0) -> None:
        self.base = base  # the system's ODataAdapter
        self.name = base.name
        self.client = base.client
        self.ttl = ttl
        self._ref: dict[str, Any] = {}
        self._ref_at = 0.0
        self._ref_key: tuple = ()
        self._lock = asyncio.Lock()

    def _set(self, logical: str) -> str:
        return self.base.preset.resolve(logical).entity_set

    async def _reference(self, opts: dict[str, Any], *, fresh: bool = False) -> dict[str, Any]:
        """Units, folders, price type, warehouses and the price slice: read once per poll pass."""
        key = (opts.get("price_type"), tuple(opts.get("warehouses") or ()))
        async with self._lock:
            if not fresh and self._ref and self._ref_key == key and time.monotonic() - self._ref_at < self.ttl:
                return self._ref
            c = self.client
            okei = {r["Ref_Key"]: r.get("Code") async for r in c.iter_all(self._set("okei_units"),
                                                                           select=["Ref_Key", "Code"])}
            units = {}
            async for r in c.iter_all(self._set("units"), select=["Ref_Key", "ЕдиницаПоКлассификатору_Key"]):
                units[r["Ref_Key"]] = okei.get(r.get("ЕдиницаПоКлассификатору_Key"))
            folders = {}
            async for r in c.iter_all(self._set("products"), filter="IsFolder eq true",
                                      select=["Ref_Key", "Description", "Parent_Key"]):
                folders[r["Ref_Key"]] = (r.get("Description"), r.get("Parent_Key"))
            ref: dict[str, Any] = {"units": units, "folders": folders, "prices": {}, "price_vat": None,
                                   "warehouses": None}
            pt = opts.get("price_type")
            if pt:
                types = [r async for r in c.iter_all(self._set("price_types"),
                                                     select=["Ref_Key", "Description", "ЦенаВключаетНДС"])]
                hit = [t for t in types if pt in (t["Ref_Key"], t.get("Description"))]
                if not hit:
                    raise ValidationError(f"price type {pt!r} is not in 1C ({', '.join(str(t.get('Description')) for t in types)})"
                                          f" — fix erp.options.price_type")
                ptk = hit[0]["Ref_Key"]
                ref["price_vat"] = "Y" if hit[0].get("ЦенаВключаетНДС") else "N"
                prices = self.base.preset.resolve("prices")
                v = prices.virtual or {}
                rows = await c.virtual_table(prices.entity_set, "SliceLast",
                                             {"Condition": f"{v.get('price_type', 'ВидЦены_Key')} eq {_guid(ptk)}"})
                ref["prices"] = {r.get(v.get("product", "Номенклатура_Key")): r.get(v.get("value", "Цена"))
                                 for r in rows}
            whs = opts.get("warehouses")
            if whs:
                all_w = [r async for r in c.iter_all(self._set("warehouses"), select=["Ref_Key", "Description"])]
                keys = []
                for w in whs:
                    hit = [r["Ref_Key"] for r in all_w if w in (r["Ref_Key"], r.get("Description"))]
                    if not hit:
                        raise ValidationError(f"warehouse {w!r} is not in 1C — fix erp.options.warehouses")
                    keys.append(hit[0])
                ref["warehouses"] = keys
            self._ref, self._ref_at, self._ref_key = ref, time.monotonic(), key
            return ref

    def _group_path(self, ref: dict[str, Any], parent: Any) -> list[list[Any]] | None:
        out, seen = [], set()
        folders = ref["folders"]
        while parent and parent in folders and parent not in seen:
            seen.add(parent)
            name, up = folders[parent]
            out.append([parent, name])
            parent = up
        return list(reversed(out)) or None

    def _product(self, row: dict[str, Any], ref: dict[str, Any], opts: dict[str, Any]) -> Record:
        link = opts.get("crm_link_field")
        vals = {
            F_ID: row["Ref_Key"], F_CODE: row.get("Code"), F_NAME: row.get("Description"), F_SKU: row.get("Артикул"),
            F_OKEI: ref["units"].get(row.get("ЕдиницаИзмерения_Key")),
            F_VAT: vat_rate(row.get("СтавкаНДС"), opts.get("vat_map")),
            F_PRICE: _num(ref["prices"].get(row["Ref_Key"])), F_VAT_INCLUDED: ref["price_vat"],
            F_GROUP: self._group_path(ref, row.get("Parent_Key")),
            F_ACTIVE: "N" if row.get("DeletionMark") else "Y",
            F_FROM_CRM: bool(link and row.get(link)),
        }
        return Record(id=row["Ref_Key"], values=vals, version=row.get("DataVersion"))

    def _product_select(self, opts: dict[str, Any]) -> list[str]:
        sel = ["Ref_Key", "DataVersion", "DeletionMark", "Code", "Description", "Артикул", "ЕдиницаИзмерения_Key",
               "СтавкаНДС", "Parent_Key", "IsFolder"]
        if opts.get("crm_link_field"):
            sel.append(opts["crm_link_field"])
        return sel

    async def _stock(self, ref: dict[str, Any], product: str | None = None) -> dict[str, Decimal]:
        st = self.base.preset.resolve("stock")
        v = st.virtual or {}
        wf, pf = v.get("warehouse", "Склад_Key"), v.get("product", "Номенклатура_Key")
        conds = [f"{wf} eq {_guid(w)}" for w in ref["warehouses"] or []]
        cond = " or ".join(conds)
        if len(conds) > 1:
            cond = f"({cond})"
        if product:
            cond = f"{pf} eq {_guid(product)}" + (f" and {cond}" if cond else "")
        rows = await self.client.virtual_table(st.entity_set, "Balance", {"Condition": cond} if cond else {})
        out: dict[str, Decimal] = {}
        for r in rows:
            out[r.get(pf)] = out.get(r.get(pf), Decimal(0)) + Decimal(str(r.get(v.get("value", "ВНаличииBalance")) or 0))
        return out

    async def read_changes(self, obj: ObjectRef, cursor: ChangeCursor, *, overlap_seconds: float = 0.0,
                           limit: int = 500) -> ChangePage:
        opts = obj.options
        token = cursor.token or ""
        offset = int(token.split(":", 1)[1]) if token.startswith("scan:") else 0
        if obj.object == STOCK:
            if not opts.get("warehouses"):
                raise PermanentError("catalog.stock needs erp.options.warehouses (the warehouses to sum)")
            ref = await self._reference(opts, fresh=True)
            stock = await self._stock(ref)
            sel = ["Ref_Key"] + ([opts["crm_link_field"]] if opts.get("crm_link_field") else [])
            link = opts.get("crm_link_field")
            recs = []
            async for r in self.client.iter_all(self._set("products"), filter="IsFolder eq false", select=sel,
                                                page_size=max(limit, 1000)):
                recs.append(Record(id=r["Ref_Key"], values={F_ID: r["Ref_Key"],
                                                            F_STOCK: _num(stock.get(r["Ref_Key"], Decimal(0))),
                                                            F_FROM_CRM: bool(link and r.get(link))}))
            return ChangePage(records=recs, cursor=ChangeCursor(token="scan:0"), more=False)
        ref = await self._reference(opts, fresh=offset == 0)
        page = await self.client.query(self._set("products"), filter="IsFolder eq false",
                                       select=self._product_select(opts), orderby=["Ref_Key"], top=limit, skip=offset)
        recs = [self._product(r, ref, opts) for r in page.rows]
        done = len(page.rows) < limit
        return ChangePage(records=recs, cursor=ChangeCursor(token="scan:0" if done else f"scan:{offset + len(page.rows)}"),
                          more=not done)

    async def get(self, obj: ObjectRef, record_id: str) -> Record | None:
        opts = obj.options
        if not _is_guid(record_id):
            return None
        row = await self.client.get_or_none(self._set("products"), record_id, select=self._product_select(opts))
        if row is None or row.get("IsFolder"):
            return None
        ref = await self._reference(opts)
        if obj.object == STOCK:
            st = await self._stock(ref, record_id)
            link = opts.get("crm_link_field")
            return Record(id=record_id, values={F_ID: record_id, F_STOCK: _num(st.get(record_id, Decimal(0))),
                                                F_FROM_CRM: bool(link and row.get(link))})
        rec = self._product(row, ref, opts)
        if opts.get("price_type"):  # the price as of now, not the cached slice
            prices = self.base.preset.resolve("prices")
            v = prices.virtual or {}
            pt = await self._price_type_key(opts)
            rows = await self.client.virtual_table(prices.entity_set, "SliceLast", {
                "Condition": f"{v.get('product', 'Номенклатура_Key')} eq {_guid(record_id)} and "
                             f"{v.get('price_type', 'ВидЦены_Key')} eq {_guid(pt)}"})
            rec.values[F_PRICE] = _num(rows[0].get(v.get("value", "Цена"))) if rows else None
        return rec

    async def _price_type_key(self, opts: dict[str, Any]) -> str:
        pt = opts["price_type"]
        if _is_guid(pt):
            return pt
        async for r in self.client.iter_all(self._set("price_types"), select=["Ref_Key", "Description"]):
            if r.get("Description") == pt:
                return r["Ref_Key"]
        raise ValidationError(f"price type {pt!r} is not in 1C — fix erp.options.price_type")


# ---- CommerceML ------------------------------------------------------------------------------------------------
class CommerceMLCatalog(_Base):
    """``cml.products`` / ``cml.stock``: the latest import.xml + offers.xml, kept in memory (and re-read from the
    last files on restart by whoever feeds it). Feed with :meth:`feed` (reader records), :meth:`load` (paths or
    bytes) or :meth:`on_records` (the exchange router's callback)."""

    def __init__(self, name: str = "commerceml", source: Any = None) -> None:
        self.name = name
        self.source = source  # the commerceml system: its latest files (exchange uploads, drop folder)
        self._loaded: dict[str, int] = {}  # file name -> mtime_ns of the version fed
        self.groups: dict[str, tuple[str, str | None]] = {}
        self.products: dict[str, Any] = {}
        self.offers: dict[str, Any] = {}
        self.price_types: dict[str, Any] = {}
        self.warehouses: dict[str, Any] = {}

    def feed(self, records: Any) -> int:
        from b24sync.connectors.commerceml import model as m

        n = 0
        for rec in records:
            n += 1
            if isinstance(rec, m.Group):
                self.groups[rec.id] = (rec.name, rec.parent_id)
            elif isinstance(rec, m.Product):
                self.products[rec.id] = rec
            elif isinstance(rec, m.Offer):
                prev = self.offers.get(rec.id)
                if prev is not None and (not rec.prices or not rec.stocks):  # 3.x prices.xml / rests.xml halves
                    from dataclasses import replace

                    rec = replace(rec, prices=rec.prices or prev.prices, stocks=rec.stocks or prev.stocks,
                                  quantity=rec.quantity if rec.quantity is not None else prev.quantity)
                self.offers[rec.id] = rec
            elif isinstance(rec, m.PriceType):
                self.price_types[rec.id] = rec
            elif isinstance(rec, m.Warehouse):
                self.warehouses[rec.id] = rec
        return n

    def load(self, *sources: str | Path | bytes) -> int:
        from b24sync.connectors.commerceml import read

        return sum(self.feed(read(s)) for s in sources)

    def refresh(self) -> None:
        """Feed the files the source holds that changed since they were last fed (after a restart: all of them)."""
        if self.source is None:
            return
        for f in self.source.catalog_files():
            stamp = f.stat().st_mtime_ns
            if self._loaded.get(f.name) != stamp:
                self.load(f)
                self._loaded[f.name] = stamp

    def on_records(self, batch: Any) -> None:
        """``ExchangeHandlers(on_records=catalog.on_records)``: catalogue files from 1C's exchange."""
        if getattr(batch, "exchange_type", "catalog") == "catalog":
            self.feed(batch.records)

    def _pick(self, table: dict[str, Any], wanted: Any) -> list[str]:
        out = []
        for w in ([wanted] if isinstance(wanted, str) else list(wanted or [])):
            hit = [k for k, v in table.items() if w in (k, v.name)]
            if not hit:
                raise ValidationError(f"{w!r} is not among the CommerceML file's price types / warehouses "
                                      f"({', '.join(v.name for v in table.values())})")
            out += hit[:1]
        return out

    def _group_path(self, gid: str | None) -> list[list[Any]] | None:
        out, seen = [], set()
        while gid and gid in self.groups and gid not in seen:
            seen.add(gid)
            name, up = self.groups[gid]
            out.append([gid, name])
            gid = up
        return list(reversed(out)) or None

    def _product(self, p: Any, opts: dict[str, Any]) -> Record:
        offer = self.offers.get(p.id)
        price = vat_included = None
        if opts.get("price_type"):
            pt = self._pick(self.price_types, opts["price_type"])[0]
            hit = [x for x in (offer.prices if offer else ()) if x.price_type_id == pt]
            price = _num(hit[0].value) if hit else None
            inc = self.price_types[pt].tax_included
            vat_included = None if inc is None else ("Y" if inc else "N")
        rate = next((t.rate for t in p.tax_rates if (t.name or "").upper().startswith("НДС")), None)
        code = dict(p.requisites).get("Код") if p.requisites else None
        vals = {F_ID: p.id, F_CODE: code or None, F_NAME: p.name, F_SKU: p.sku,
                F_OKEI: p.unit.code if p.unit else None, F_VAT: vat_rate(rate, opts.get("vat_map")),
                F_PRICE: price, F_VAT_INCLUDED: vat_included,
                F_GROUP: self._group_path(p.group_ids[0] if p.group_ids else None),
                F_ACTIVE: "N" if p.deleted else "Y", F_FROM_CRM: False}
        return Record(id=p.id, values=vals)

    def _stock_record(self, pid: str, opts: dict[str, Any]) -> Record:
        offer = self.offers.get(pid)
        whs = set(self._pick(self.warehouses, opts.get("warehouses"))) if opts.get("warehouses") else None
        if offer is None:
            qty = Decimal(0)
        elif whs is None:
            qty = offer.quantity or Decimal(0)
        else:
            qty = sum((s.quantity for s in offer.stocks if s.warehouse_id in whs), Decimal(0))
        return Record(id=pid, values={F_ID: pid, F_STOCK: _num(qty), F_FROM_CRM: False})

    async def read_changes(self, obj: ObjectRef, cursor: ChangeCursor, *, overlap_seconds: float = 0.0,
                           limit: int = 500) -> ChangePage:
        await asyncio.to_thread(self.refresh)
        if obj.object == CML_STOCK:
            recs = [self._stock_record(pid, obj.options) for pid in self.products]
        else:
            recs = [self._product(p, obj.options) for p in self.products.values()]
        return ChangePage(records=recs, cursor=ChangeCursor(token="full"), more=False)

    async def get(self, obj: ObjectRef, record_id: str) -> Record | None:
        if not self.products:
            await asyncio.to_thread(self.refresh)
        p = self.products.get(record_id)
        if p is None:
            return None
        return self._stock_record(record_id, obj.options) if obj.object == CML_STOCK else self._product(p, obj.options)


# ---- the stock entity waits for its product's create ----------------------------------------------------------
def _catalogue_entity_for(rt: Runtime, stock_entity: str) -> str | None:
    ent = rt.spec.entities[stock_entity]
    name = ent.erp.options.get("catalogue_entity")
    if name:
        return str(name)
    want = PRODUCTS if ent.erp.object == STOCK else CML_PRODUCTS
    hits = [n for n, e in rt.spec.entities.items() if e.erp.object == want]
    return hits[0] if len(hits) == 1 else None


def _pending_create(rt: Runtime, entity: str, erp_id: str) -> bool:
    from b24sync.store.models import Job

    scope = rt.spec.scope(entity)
    with rt.db.connect() as conn:
        if identity.find(conn, scope, "erp", erp_id) is not None:
            return False
        row = conn.execute(select(Job.id).where(Job.lane == f"{scope}:erp:{erp_id}",
                                                Job.state.in_(("pending", "running"))).limit(1)).first()
        return row is not None


def _wrap_sync(rt: Runtime, stock_entities: dict[str, str]) -> None:
    inner = rt.handlers["sync"]

    async def sync(rt_: Runtime, job: ClaimedJob) -> Outcome:
        cat = stock_entities.get(job.entity)
        if cat and job.payload.get("side") == "erp":
            erp_id = str(job.payload["id"])
            deadline = time.monotonic() + WAIT_FOR_CATALOGUE_SECONDS
            while time.monotonic() < deadline and await asyncio.to_thread(_pending_create, rt_, cat, erp_id):
                await asyncio.sleep(0.2)
        return await inner(rt_, job)

    rt.handlers["sync"] = sync


# ---- installer ------------------------------------------------------------------------------------------------
_CML: dict[str, CommerceMLCatalog] = {}


def commerceml_catalog(rt: Runtime, system: str) -> CommerceMLCatalog:
    """The CommerceML catalogue of a runtime's system (feed it from the exchange router or a file drop)."""
    obj = rt.object_adapters.get((system, CML_PRODUCTS))
    if not isinstance(obj, CommerceMLCatalog):
        raise PermanentError(f"no entity maps {CML_PRODUCTS} on system {system!r}")
    return obj


def install(rt: Runtime) -> None:
    from b24sync.connectors.bitrix24 import product_card  # noqa: F401  (registers crm.product.card)

    stock_entities: dict[str, str] = {}
    odata: dict[str, ODataCatalog] = {}
    cml: dict[str, CommerceMLCatalog] = {}
    for name, ent in rt.spec.entities.items():
        obj = ent.erp.object
        if obj not in (PRODUCTS, STOCK, CML_PRODUCTS, CML_STOCK):
            continue
        system = rt.spec.system_for(ent, "erp")
        if obj in (PRODUCTS, STOCK):
            base: SystemAdapter | None = rt.adapters.get(system)
            if base is None or not hasattr(base, "client") or not hasattr(base, "preset"):
                raise PermanentError(f"entity {name}: {obj} needs a 1C OData system (type 1c-odata)")
            adapter: Any = odata.setdefault(system, ODataCatalog(base))
        else:
            src = rt.adapters.get(system)
            adapter = cml.setdefault(system, CommerceMLCatalog(system, src if hasattr(src, "catalog_files") else None))
        rt.object_adapters[(system, obj)] = adapter
        if obj in (STOCK, CML_STOCK):
            cat = _catalogue_entity_for(rt, name)
            if cat:
                stock_entities[name] = cat
    if stock_entities:
        _wrap_sync(rt, stock_entities)


_KNOWN_PROPERTIES = {"STOCK": {"NAME": "Остаток", "PROPERTY_TYPE": "N"},
                     "NONCATALOG": {"NAME": "Не из каталога 1С", "PROPERTY_TYPE": "S"}}


def spec_properties(spec: Any) -> tuple[dict[str, Any], ...]:
    """The product properties the spec's product-card entities write or filter on (``PROPERTY_<CODE>``)."""
    codes: list[str] = []
    for ent in spec.entities.values():
        if ent.crm.object != "crm.product.card":
            continue
        names = [f.crm for f in ent.fields] + list((ent.crm.options.get("where") or {}).keys())
        codes += [n[len("PROPERTY_"):] for n in names if n.startswith("PROPERTY_")]
    out = []
    for code in dict.fromkeys(codes):
        known = _KNOWN_PROPERTIES.get(code, {"NAME": code.replace("_", " ").capitalize(), "PROPERTY_TYPE": "S"})
        out.append({"CODE": code, **known})
    return tuple(out)


async def prepare_portal(rt: Runtime, *, vat_rates: tuple[float, ...] = (22, 10, 0),
                         properties: tuple[dict[str, Any], ...] | None = None, dry_run: bool = False) -> list[str]:
    """One-off portal preparation for the catalogue: the VAT rates, the units of measure 1C uses (its OKEI
    classifier, erp-side §10.2) and the product properties the spec writes (``PROPERTY_<CODE>``). Idempotent;
    returns what was added (``dry_run``: what is missing)."""
    from b24sync.connectors.bitrix24.product_card import prepare_catalog

    if properties is None:
        properties = spec_properties(rt.spec)

    b24 = next(n for n, s in rt.spec.systems.items() if s.type == "bitrix24")
    measures = []
    for name, ent in rt.spec.entities.items():
        if ent.erp.object == PRODUCTS:
            base: Any = rt.adapters[rt.spec.system_for(ent, "erp")]
            async for r in base.client.iter_all(base.preset.resolve("okei_units").entity_set,
                                                select=["Ref_Key", "Code", "Description", "НаименованиеПолное"]):
                if r.get("Code"):
                    measures.append({"CODE": int(str(r["Code"]).strip()), "SYMBOL_RUS": r.get("Description"),
                                     "MEASURE_TITLE": r.get("НаименованиеПолное") or r.get("Description")})
            break
    for (system, obj), adapter in rt.object_adapters.items():  # CommerceML: the units the files name
        if obj == CML_PRODUCTS and isinstance(adapter, CommerceMLCatalog):
            await asyncio.to_thread(adapter.refresh)
            seen = {m["CODE"] for m in measures}
            for p in adapter.products.values():
                u = p.unit
                if u is not None and u.code and u.code.strip().isdigit() and int(u.code) not in seen:
                    seen.add(int(u.code))
                    measures.append({"CODE": int(u.code), "SYMBOL_RUS": u.short_name or u.full_name,
                                     "MEASURE_TITLE": u.full_name or u.short_name})
    return await prepare_catalog(rt.adapters[b24].client, vat_rates=vat_rates,  # type: ignore[attr-defined]
                                 properties=properties, measures=measures, dry_run=dry_run)


# ---- demo ----------------------------------------------------------------------------------------------------
DEMO_YAML = Path(__file__).resolve().parent / "demo" / "catalog.yaml"


async def demo_step(rt: Runtime, b24: Any, onec: Any) -> list[str]:
    """Prepare the portal (VAT 22 %, the stock property), sync the catalogue, change a price and a stock in 1C,
    sync again; return what happened."""
    from b24sync.engine.service import RunOptions, run

    lines = []
    added = await prepare_portal(rt)
    if added:
        lines.append("portal prepared: " + ", ".join(added))
    from b24sync.engine.report import actions_text

    w0 = b24.write_calls()
    stats = await run(rt, RunOptions(once=True))
    w = b24.write_calls() - w0
    lines.append(f"catalogue: {b24.count('product')} products in {b24.count('productsection')} section(s) with "
                 f"OKEI measures, VAT, price and stock; " + (f"{actions_text(stats.actions)}, {w} write calls" if w else
                                                            "already in sync (0 write calls)"))
    item = next(p for p in onec.find("Catalog_Номенклатура", IsFolder=False) if p.get("ТипНоменклатуры") == "Товар")
    cat = next(e for e in rt.spec.entities.values() if e.erp.object == PRODUCTS)
    pt = onec.find("Catalog_ВидыЦен", Description=cat.erp.options.get("price_type", "Розничная"))
    if pt:
        onec.store.write_info("InformationRegister_ЦеныНоменклатуры", {
            "Period": time.strftime("%Y-%m-%dT%H:%M:%S"), "Номенклатура_Key": item["Ref_Key"],
            "ВидЦены_Key": pt[0]["Ref_Key"], "Цена": 777.0})
    w0 = b24.write_calls()
    stats = await run(rt, RunOptions(once=True))
    lines.append(f"price of «{item['Description']}» set to 777 in 1C → {b24.write_calls() - w0} write call(s) "
                 f"({actions_text(stats.actions)})")
    w0 = b24.write_calls()
    await run(rt, RunOptions(once=True))
    lines.append(f"idle cycle: {b24.write_calls() - w0} write calls")
    return lines

"""Thin entity helpers over ``Bitrix24Client.call`` / ``batch`` / ``list_all``. Field names are the portal's own.

Cited shapes (sheet = /work/shared/research/bitrix24-rest.md): requisites / bank details / addresses §6.5, §9.6;
multi-fields §6.3; deals, categories, stages §6.4, §9.10; product rows §6.8, §9.12; smart processes and invoices
(entityTypeId 31) §6.7, §6.9; timeline comments with ``FILES: [[name, base64]]`` §6.10, §9.13; notifications §6.10;
duplicates (≤20 values per call, ``[]`` when nothing found) §6.11, §9.11; stage dictionaries §6.4.
"""

from __future__ import annotations

import base64
from typing import Any

from b24sync.connectors.bitrix24.client import Bitrix24Client
from b24sync.connectors.bitrix24.multifield import MULTI_FIELDS, diff_multifield

ENTITY_TYPE = {"lead": 1, "deal": 2, "contact": 3, "company": 4, "quote": 7, "requisite": 8, "invoice": 31}
DUPLICATE_CHUNK = 20  # crm.duplicate.findbycomm: max 20 values per call (sheet §3.4, §6.11)


class Entities:
    def __init__(self, client: Bitrix24Client) -> None:
        self.c = client

    # ---- companies / contacts (legacy methods; multi-fields done surgically)
    async def get(self, entity: str, id_: int | str) -> dict[str, Any]:
        return await self.c.call(f"crm.{entity}.get", {"id": int(id_)})

    async def add(self, entity: str, fields: dict[str, Any], params: dict[str, Any] | None = None) -> int:
        p: dict[str, Any] = {"fields": fields}
        if params:
            p["params"] = params
        return int(await self.c.call(f"crm.{entity}.add", p))

    async def update(self, entity: str, id_: int | str, fields: dict[str, Any],
                     params: dict[str, Any] | None = None) -> bool:
        p: dict[str, Any] = {"id": int(id_), "fields": fields}
        if params:
            p["params"] = params
        return bool(await self.c.call(f"crm.{entity}.update", p))

    async def save_with_multifields(self, entity: str, id_: int | str, fields: dict[str, Any]) -> bool:
        """Update a contact/company; PHONE/EMAIL/... in ``fields`` are *wanted lists* turned into a minimal diff."""
        plain = {k: v for k, v in fields.items() if k not in MULTI_FIELDS}
        multi = {k: v for k, v in fields.items() if k in MULTI_FIELDS}
        if multi:
            current = await self.get(entity, id_)
            for t, wanted in multi.items():
                ops = diff_multifield(t, current.get(t) or [], wanted)
                if ops:
                    plain[t] = ops
        if not plain:
            return True
        return await self.update(entity, id_, plain)

    # ---- requisites, bank details, addresses
    async def requisites(self, entity_type_id: int, entity_id: int) -> list[dict[str, Any]]:
        return await self.c.call("crm.requisite.list", {
            "filter": {"ENTITY_TYPE_ID": entity_type_id, "ENTITY_ID": entity_id}})

    async def find_requisites_by_inn(self, inn: str, kpp: str | None = None, entity_type_id: int = 4) -> list[dict]:
        flt: dict[str, Any] = {"RQ_INN": inn, "ENTITY_TYPE_ID": entity_type_id}
        if kpp:
            flt["RQ_KPP"] = kpp
        return await self.c.call("crm.requisite.list", {
            "filter": flt, "select": ["ID", "ENTITY_ID", "ENTITY_TYPE_ID", "RQ_INN", "RQ_KPP", "RQ_OGRN", "XML_ID"]})

    async def add_requisite(self, entity_type_id: int, entity_id: int, preset_id: int, name: str,
                            fields: dict[str, Any]) -> int:
        # required: ENTITY_TYPE_ID, ENTITY_ID, PRESET_ID, NAME (sheet §6.5); RQ_* are strings (keep leading zeros)
        f = {"ENTITY_TYPE_ID": entity_type_id, "ENTITY_ID": entity_id, "PRESET_ID": preset_id, "NAME": name,
             **{k: (str(v) if k.startswith("RQ_") and v is not None else v) for k, v in fields.items()}}
        return int(await self.c.call("crm.requisite.add", {"fields": f}))

    async def update_requisite(self, id_: int, fields: dict[str, Any]) -> bool:
        return bool(await self.c.call("crm.requisite.update", {"id": id_, "fields": fields}))

    async def bank_details(self, requisite_id: int) -> list[dict[str, Any]]:
        return await self.c.call("crm.requisite.bankdetail.list", {"filter": {"ENTITY_ID": requisite_id}})

    async def add_bank_detail(self, requisite_id: int, name: str, fields: dict[str, Any]) -> int:
        return int(await self.c.call("crm.requisite.bankdetail.add",
                                     {"fields": {"ENTITY_ID": requisite_id, "NAME": name, **fields}}))

    async def upsert_address(self, requisite_id: int, type_id: int, fields: dict[str, Any]) -> None:
        """One address per (TYPE_ID, owner); ``crm.address.add`` returns ``true``, not an id (sheet §6.5, §9.6)."""
        key = {"TYPE_ID": type_id, "ENTITY_TYPE_ID": 8, "ENTITY_ID": requisite_id}
        existing = await self.c.call("crm.address.list", {"filter": key, "start": -1})
        method = "crm.address.update" if existing else "crm.address.add"
        await self.c.call(method, {"fields": {**key, **fields}})

    # ---- deals
    async def categories(self, entity_type_id: int = 2) -> list[dict[str, Any]]:
        res = await self.c.call("crm.category.list", {"entityTypeId": entity_type_id})
        return list((res or {}).get("categories", []))

    async def stages(self, entity_id: str) -> list[dict[str, Any]]:
        """``DEAL_STAGE`` (pipeline 0), ``DEAL_STAGE_{cat}``, ``DYNAMIC_{entityTypeId}_STAGE_{cat}`` …"""
        return await self.c.call("crm.status.list", {"filter": {"ENTITY_ID": str(entity_id)}})

    @staticmethod
    def deal_stage_entity(category_id: int) -> str:
        return "DEAL_STAGE" if int(category_id) == 0 else f"DEAL_STAGE_{int(category_id)}"

    async def set_deal_products(self, deal_id: int, rows: list[dict[str, Any]]) -> bool:
        """Replaces *all* rows of the deal (sheet §6.8, §8.12)."""
        return bool(await self.c.call("crm.deal.productrows.set", {"id": int(deal_id), "rows": rows}))

    async def move_deal_to_category(self, deal_id: int, category_id: int, stage_id: str | None = None) -> None:
        # CATEGORY_ID is immutable in crm.deal.update; crm.item.update moves it (sheet §6.4)
        f: dict[str, Any] = {"categoryId": int(category_id)}
        if stage_id:
            f["stageId"] = stage_id
        await self.c.call("crm.item.update", {"entityTypeId": 2, "id": int(deal_id), "fields": f})

    # ---- smart processes / invoices
    async def item_add(self, entity_type_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        return (await self.c.call("crm.item.add", {"entityTypeId": entity_type_id, "fields": fields}))["item"]

    async def item_update(self, entity_type_id: int, id_: int, fields: dict[str, Any]) -> dict[str, Any]:
        res = await self.c.call("crm.item.update", {"entityTypeId": entity_type_id, "id": int(id_), "fields": fields})
        return (res or {}).get("item", {})

    async def item_get(self, entity_type_id: int, id_: int) -> dict[str, Any]:
        return (await self.c.call("crm.item.get", {"entityTypeId": entity_type_id, "id": int(id_)}))["item"]

    async def invoice_add(self, fields: dict[str, Any]) -> dict[str, Any]:
        return await self.item_add(31, fields)  # new invoices are crm.item with entityTypeId 31 (sheet §6.9)

    async def smart_process_types(self) -> list[dict[str, Any]]:
        res = await self.c.call("crm.type.list", {})
        return list((res or {}).get("types", []))

    # ---- products, legacy API (crm.product.*: XML_ID, PRICE, CURRENCY_ID, MEASURE; still answered by portals)
    async def crm_product_by_xml_id(self, xml_id: str) -> dict[str, Any] | None:
        rows = await self.c.call("crm.product.list", {"filter": {"XML_ID": xml_id}, "start": -1})
        return rows[0] if rows else None

    async def crm_product_upsert(self, xml_id: str, fields: dict[str, Any]) -> int:
        """Find by XML_ID, then update or add — the idempotent way to push an ERP catalogue item."""
        hit = await self.crm_product_by_xml_id(xml_id)
        if hit:
            await self.c.call("crm.product.update", {"id": int(hit["ID"]), "fields": fields})
            return int(hit["ID"])
        return int(await self.c.call("crm.product.add", {"fields": {"XML_ID": xml_id, **fields}}))

    async def crm_measures(self) -> list[dict[str, Any]]:
        return await self.c.call("crm.measure.list", {})

    # ---- products (catalog.product.* replaces the deprecated crm.product.*, sheet §6.8)
    async def product_by_xml_id(self, iblock_id: int, xml_id: str) -> dict[str, Any] | None:
        res = await self.c.call("catalog.product.list", {
            "select": ["id", "iblockId", "name", "xmlId", "measure"], "filter": {"iblockId": iblock_id,
                                                                             "xmlId": xml_id}})
        rows = (res or {}).get("products", [])
        return rows[0] if rows else None

    async def product_add(self, iblock_id: int, name: str, xml_id: str, fields: dict[str, Any] | None = None) -> int:
        res = await self.c.call("catalog.product.add", {"fields": {"iblockId": iblock_id, "name": name,
                                                                   "xmlId": xml_id, **(fields or {})}})
        return int(((res or {}).get("element") or res or {}).get("id"))

    async def price_set(self, product_id: int, price_type_id: int, price: float, currency: str) -> Any:
        return await self.c.call("catalog.price.add", {"fields": {
            "productId": product_id, "catalogGroupId": price_type_id, "price": price, "currency": currency}})

    async def measures(self) -> list[dict[str, Any]]:
        res = await self.c.call("catalog.measure.list", {})
        return list((res or {}).get("measures", [])) if isinstance(res, dict) else list(res or [])

    # ---- timeline, files, notifications
    @staticmethod
    def file_data(name: str, content: bytes) -> list[str]:
        return [name, base64.b64encode(content).decode("ascii")]

    async def timeline_comment(self, entity_type: str, entity_id: int, comment: str,
                               files: list[tuple[str, bytes]] | None = None) -> int:
        # lowercase ``fields`` only since crm 23.100.0 (sheet §2.1); files are [[name, base64], …] (sheet §9.13).
        # Base64 payloads are too big for a query string, so this always goes as a single JSON call.
        f: dict[str, Any] = {"ENTITY_ID": int(entity_id), "ENTITY_TYPE": entity_type, "COMMENT": comment}
        if files:
            f["FILES"] = [self.file_data(n, b) for n, b in files]
        return int(await self.c.call("crm.timeline.comment.add", {"fields": f}, batch=not files))

    async def attach_file(self, entity: str, id_: int, field: str, name: str, content: bytes) -> bool:
        """Put a file into a file-type field of a record (``{"fileData": [name, base64]}``)."""
        return await self.update(entity, id_, {field: {"fileData": self.file_data(name, content)}})

    async def notify(self, user_id: int, message: str, *, tag: str | None = None, personal: bool = False) -> Any:
        p: dict[str, Any] = {"USER_ID": int(user_id), "MESSAGE": message}
        if tag:
            p["TAG"] = tag
        return await self.c.call("im.notify.personal.add" if personal else "im.notify.system.add", p)

    async def find_duplicates(self, comm_type: str, values: list[str], entity_type: str = "CONTACT") -> list[int]:
        """All ids of ``entity_type`` having any of ``values`` (PHONE/EMAIL), 20 values per call, calls batched."""
        import asyncio

        chunks = [values[i:i + DUPLICATE_CHUNK] for i in range(0, len(values), DUPLICATE_CHUNK)]
        results = await asyncio.gather(*[
            self.c.call("crm.duplicate.findbycomm", {"type": comm_type, "values": ch, "entity_type": entity_type})
            for ch in chunks if ch])
        ids: list[int] = []
        for r in results:
            if isinstance(r, dict):  # "[]" when nothing is found (sheet §9.11)
                for v in r.get(entity_type, []):
                    if int(v) not in ids:
                        ids.append(int(v))
        return ids

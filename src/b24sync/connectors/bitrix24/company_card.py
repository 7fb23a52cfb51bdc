"""The Bitrix24 composite object ``crm.company+requisite``: a company card with its requisite, bank detail and legal
address, flattened into one record so a spec can map it field by field.

Record layout (facts: /work/shared/research/bitrix24-rest.md §6.5, §9.5, §9.6):

* company fields as the portal names them: ``TITLE``, ``ASSIGNED_BY_ID``, ``UF_CRM_…``, ``ID``, ``DATE_MODIFY``;
* the company's **first requisite** (lowest ID, ``ENTITY_TYPE_ID`` 4): ``RQ_*`` as is (``RQ_INN``, ``RQ_KPP``,
  ``RQ_OGRN``, ``RQ_OGRNIP``, ``RQ_COMPANY_NAME``, ``RQ_COMPANY_FULL_NAME``, …), ``PRESET_ID`` (the requisite template:
  1 organisation, 2 sole trader, 3 person on a typical RU portal — look them up, ids differ per portal) and
  ``REQUISITE_ID`` (read only);
* that requisite's **first bank detail**: every field prefixed ``BANK_`` — ``BANK_RQ_BANK_NAME``, ``BANK_RQ_BIK``,
  ``BANK_RQ_ACC_NUM`` (settlement account), ``BANK_RQ_COR_ACC_NUM`` (correspondent account), ``BANK_ID`` (read only);
* the requisite's **legal address** (``crm.address`` ``TYPE_ID`` 6, ``ENTITY_TYPE_ID`` 8): every field prefixed
  ``ADDR_`` — ``ADDR_ADDRESS_1``, ``ADDR_ADDRESS_2``, ``ADDR_CITY``, ``ADDR_POSTAL_CODE``, ``ADDR_REGION``,
  ``ADDR_PROVINCE``, ``ADDR_COUNTRY``.

Verbs: ``create`` = company + requisite + bank detail + address as one *group* of a shared batch (other records'
commands fill the same request, up to 50), the later commands referring to the earlier ids with ``$result[…]``
(sheet §4); ``update`` = the minimal diff per sub-entity (a missing requisite,
bank detail or address is added); ``find`` by ``RQ_INN`` (+ ``RQ_KPP``) goes through ``crm.requisite.list``
(sheet §6.5 "Find a company by INN"); ``read_changes`` follows the company's ``DATE_MODIFY`` and additionally
picks up companies whose requisite or bank detail changed in the window (their own ``DATE_MODIFY``), because a
requisite-only edit does not change the company's ``DATE_MODIFY``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from b24sync.connectors.bitrix24.adapter import COMPOSITES, Bitrix24Adapter
from b24sync.connectors.bitrix24.client import Bitrix24Client, fmt_dt
from b24sync.connectors.bitrix24.encoding import Ref
from b24sync.engine.errors import ValidationError
from b24sync.engine.ports import ChangeCursor, ChangePage, ObjectRef, ObjectSchema, Record
from b24sync.store.fingerprints import canonical

NAME = "crm.company+requisite"
COMPANY_TYPE_ID = 4  # requisite owner: company (sheet §6.1)
REQUISITE_TYPE_ID = 8  # address owner: requisite (sheet §6.5)
LEGAL_ADDRESS = 6  # crm.enum.addresstype: 6 = legal (sheet §6.5)
DEFAULT_PRESET = 1  # "Организация" on a typical RU portal (sheet §6.5)
BANK, ADDR = "BANK_", "ADDR_"
READ_ONLY = {"ID", "REQUISITE_ID", "BANK_ID", "DATE_MODIFY", "DATE_CREATE"}
CHUNK = 50  # one list page (sheet §5)


def split(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Flat values → (company, requisite, bank detail, address) fields."""
    co: dict[str, Any] = {}
    rq: dict[str, Any] = {}
    bd: dict[str, Any] = {}
    ad: dict[str, Any] = {}
    for k, v in values.items():
        if k in READ_ONLY:
            continue
        if k.startswith("RQ_") or k == "PRESET_ID":
            rq[k] = v
        elif k.startswith(BANK):
            bd[k[len(BANK):]] = v
        elif k.startswith(ADDR):
            ad[k[len(ADDR):]] = v
        else:
            co[k] = v
    return co, rq, bd, ad


def _first(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    return min(rows, key=lambda r: int(r.get("ID") or 0)) if rows else None


def _flat(company: dict[str, Any], rq: dict[str, Any] | None, bd: dict[str, Any] | None,
          ad: dict[str, Any] | None) -> Record:
    values = dict(company)
    versions = [str(company.get("DATE_MODIFY") or "")]
    if rq:
        values.update({k: v for k, v in rq.items() if k.startswith("RQ_")})
        values["PRESET_ID"] = rq.get("PRESET_ID")
        values["REQUISITE_ID"] = str(rq["ID"])
        versions.append(str(rq.get("DATE_MODIFY") or ""))
    if bd:
        values.update({BANK + k: v for k, v in bd.items() if k.startswith("RQ_")})
        values["BANK_ID"] = str(bd["ID"])
        values[BANK + "NAME"] = bd.get("NAME")
        versions.append(str(bd.get("DATE_MODIFY") or ""))
    if ad:
        values.update({ADDR + k: v for k, v in ad.items() if k not in ("TYPE_ID", "ENTITY_TYPE_ID", "ENTITY_ID",
                                                                        "ANCHOR_TYPE_ID", "ANCHOR_ID", "ID")})
    from b24sync.connectors.bitrix24.client import parse_dt

    return Record(id=str(company["ID"]), values=values, modified=parse_dt(company.get("DATE_MODIFY")),
                  version="|".join(versions))


def _filled(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v not in (None, "")}


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    """None cannot travel inside a batch command (sheet §4 gotcha): an empty value is sent as ''."""
    return {k: ("" if v is None else v) for k, v in fields.items()}


class CompanyCard:
    """``SystemAdapter`` verbs for ``crm.company+requisite`` (registered in ``COMPOSITES``)."""

    def __init__(self, client: Bitrix24Client) -> None:
        self.c = client
        self.base = Bitrix24Adapter("company_card", client)

    @staticmethod
    def _company(obj: ObjectRef) -> ObjectRef:
        return ObjectRef("crm.company", obj.options)

    # ---- reads
    async def _rows(self, method: str, flt: dict[str, Any]) -> list[dict[str, Any]]:
        """Rows of one list filter over ≤ 50 owners. The first page is one command in the client's shared batches
        (concurrent jobs' card reads travel together, 50 commands to a request — issue 13); only a full page means
        there may be more, read then by the ID-chained full read. ``start=-1``: no COUNT (sheet §5)."""
        first = await self.c.call(method, {"filter": flt, "order": {"ID": "ASC"}, "start": -1})
        rows = list(first.values()) if isinstance(first, dict) else list(first or [])
        if len(rows) >= CHUNK:
            last = max(int(r["ID"]) for r in rows)
            async for page in self.c.list_all(method, {"filter": {**flt, ">ID": last}}, count=False,
                                               max_commands=4):
                rows.extend(page)
        return rows

    async def _enrich(self, companies: list[dict[str, Any]]) -> list[Record]:
        """Attach requisite, bank detail and legal address to company rows, 50 owners per list command."""
        ids = [int(r["ID"]) for r in companies]
        rqs: dict[int, list[dict[str, Any]]] = {}
        pages = await asyncio.gather(*(self._rows("crm.requisite.list", {
            "ENTITY_TYPE_ID": COMPANY_TYPE_ID, "@ENTITY_ID": ids[i:i + CHUNK]}) for i in range(0, len(ids), CHUNK)))
        for page in pages:
            for r in page:
                rqs.setdefault(int(r["ENTITY_ID"]), []).append(r)
        first_rq = {cid: _first(rows) for cid, rows in rqs.items()}
        rq_ids = [int(r["ID"]) for r in first_rq.values() if r]
        bds: dict[int, list[dict[str, Any]]] = {}
        ads: dict[int, dict[str, Any]] = {}
        chunks = [rq_ids[i:i + CHUNK] for i in range(0, len(rq_ids), CHUNK)]
        # bank details and legal addresses of every chunk at once: commands of one shared request
        answers = await asyncio.gather(
            *(self._rows("crm.requisite.bankdetail.list", {"@ENTITY_ID": chunk}) for chunk in chunks),
            # one legal address per requisite (identity = TYPE_ID + owner, sheet §6.5): ≤ 50 rows; start=-1 also
            # avoids the wrong `total` of crm.address.list (sheet §8.20)
            *(self.c.call("crm.address.list", {"filter": {
                "TYPE_ID": LEGAL_ADDRESS, "ENTITY_TYPE_ID": REQUISITE_TYPE_ID, "@ENTITY_ID": chunk}, "start": -1})
              for chunk in chunks))
        for page in answers[:len(chunks)]:
            for r in page:
                bds.setdefault(int(r["ENTITY_ID"]), []).append(r)
        for rows in answers[len(chunks):]:
            for r in (list(rows.values()) if isinstance(rows, dict) else rows or []):
                ads[int(r["ENTITY_ID"])] = r
        out = []
        for co in companies:
            rq = first_rq.get(int(co["ID"]))
            rid = int(rq["ID"]) if rq else None
            out.append(_flat(co, rq, _first(bds.get(rid, [])) if rid else None, ads.get(rid) if rid else None))
        return out

    async def get(self, obj: ObjectRef, record_id: str) -> Record | None:
        rec = await self.base.get(self._company(obj), record_id)
        if rec is None:
            return None
        return (await self._enrich([rec.values]))[0]

    async def find(self, obj: ObjectRef, criteria: dict[str, Any]) -> list[Record]:
        bad = [k for k in criteria if k.startswith((BANK, ADDR)) or k == "PRESET_ID"]
        if bad:
            raise ValidationError(f"{NAME}: cannot look companies up by {', '.join(bad)} (use RQ_INN/RQ_KPP or a "
                                  "company field)")
        recs = await self.base.find(self._company(obj), criteria)  # RQ_* through crm.requisite.list (§6.5)
        return await self._enrich([r.values for r in recs]) if recs else []

    async def exists(self, obj: ObjectRef, criteria: dict[str, Any]) -> bool:
        if set(criteria) == {"ID"}:
            return await self.base.get(self._company(obj), str(criteria["ID"])) is not None
        return bool(await self.find(obj, criteria))

    async def read_changes(self, obj: ObjectRef, cursor: ChangeCursor, *, overlap_seconds: float = 0.0,
                           limit: int = 500) -> ChangePage:
        page = await self.base.read_changes(self._company(obj), cursor, overlap_seconds=overlap_seconds,
                                            limit=limit)
        rows = [r.values for r in page.records]
        if cursor.modified is not None:
            rows += await self._requisite_only_changes(obj, cursor, overlap_seconds, {r["ID"] for r in rows})
        records = await self._enrich(rows) if rows else []
        return ChangePage(records=records, cursor=page.cursor, more=page.more, ack=page.ack)

    async def _requisite_only_changes(self, obj: ObjectRef, cursor: ChangeCursor, overlap_seconds: float,
                                      have: set[Any]) -> list[dict[str, Any]]:
        """Companies whose requisite or bank detail changed since the cursor (minus the overlap) — a requisite
        edit does not touch the company's DATE_MODIFY. Re-read until a company change moves the cursor past them
        (harmless: unchanged records are recognised by their fingerprint)."""
        assert cursor.modified is not None
        since = fmt_dt(cursor.modified - timedelta(seconds=overlap_seconds))
        rq_rows = await self.c.call("crm.requisite.list", {
            "filter": {"ENTITY_TYPE_ID": COMPANY_TYPE_ID, ">=DATE_MODIFY": since},
            "select": ["ID", "ENTITY_ID"], "start": -1})
        bd_rows = await self.c.call("crm.requisite.bankdetail.list", {
            "filter": {">=DATE_MODIFY": since}, "select": ["ID", "ENTITY_ID"], "start": -1})
        owners = {int(r["ENTITY_ID"]) for r in rq_rows or []}
        rq_of_bd = sorted({int(r["ENTITY_ID"]) for r in bd_rows or []})
        if rq_of_bd:
            rows = await self.c.call("crm.requisite.list", {
                "filter": {"ENTITY_TYPE_ID": COMPANY_TYPE_ID, "@ID": rq_of_bd[:CHUNK]},
                "select": ["ID", "ENTITY_ID"], "start": -1})
            owners |= {int(r["ENTITY_ID"]) for r in rows or []}
        want = sorted(i for i in owners if str(i) not in {str(h) for h in have})
        if not want:
            return []
        out: list[dict[str, Any]] = []
        for i in range(0, len(want), CHUNK):
            out += [r.values for r in await self.base.find(self._company(obj), {"@ID": want[i:i + CHUNK]})]
        return out

    async def acknowledge(self, obj: ObjectRef, page: ChangePage) -> None:
        return None

    # ---- writes
    async def create(self, obj: ObjectRef, values: dict[str, Any]) -> str:
        co, rq, bd, ad = (_filled(x) for x in split(values))
        if not co.get("TITLE"):
            co["TITLE"] = rq.get("RQ_COMPANY_NAME") or rq.get("RQ_NAME") or rq.get("RQ_INN") or "—"
        cmds: dict[str, tuple[str, dict[str, Any]]] = {
            "co": ("crm.company.add", {"fields": _clean({k: v for k, v in co.items() if v not in (None, "")})})}
        if rq or bd or ad:
            cmds["rq"] = ("crm.requisite.add", {"fields": self._requisite_fields(Ref("$result[co]"), rq, co)})
        if bd:
            cmds["bd"] = ("crm.requisite.bankdetail.add", {"fields": self._bank_fields(Ref("$result[rq]"), bd)})
        if ad:
            cmds["ad"] = ("crm.address.add", {"fields": self._address_fields(Ref("$result[rq]"), ad)})
        # the card's commands ride in a shared batch with other records' commands (client.call_group): halt is 0
        # there, so a piece whose $result reference points at a failed command fails by itself (sheet §4)
        out = await self.c.call_group(cmds)
        if not out["co"].ok:
            raise out["co"].error  # type: ignore[misc]
        for k in ("rq", "bd", "ad"):
            if k in out and not out[k].ok:
                # the company exists (its link field is set, so the retry finds it and adds what is missing)
                raise out[k].error  # type: ignore[misc]
        return str(out["co"].result)

    @staticmethod
    def _requisite_fields(owner: Any, rq: dict[str, Any], co: dict[str, Any]) -> dict[str, Any]:
        # required: ENTITY_TYPE_ID, ENTITY_ID, PRESET_ID, NAME; RQ_* are strings (sheet §6.5)
        f = {"ENTITY_TYPE_ID": COMPANY_TYPE_ID, "ENTITY_ID": owner,
             "PRESET_ID": rq.get("PRESET_ID") or DEFAULT_PRESET,
             "NAME": rq.get("RQ_COMPANY_NAME") or co.get("TITLE") or "Реквизиты"}
        f.update({k: str(v) for k, v in rq.items() if k.startswith("RQ_") and v not in (None, "")})
        return f

    @staticmethod
    def _bank_fields(requisite: Any, bd: dict[str, Any]) -> dict[str, Any]:
        # required: ENTITY_ID (the requisite), NAME (sheet §6.5, §9.6)
        f = {"ENTITY_ID": requisite, "NAME": bd.get("NAME") or bd.get("RQ_BANK_NAME") or "Расчётный счёт"}
        f.update({k: str(v) for k, v in bd.items() if k != "NAME" and v not in (None, "")})
        return f

    @staticmethod
    def _address_fields(requisite: Any, ad: dict[str, Any]) -> dict[str, Any]:
        # identity = (TYPE_ID, ENTITY_TYPE_ID, ENTITY_ID); add returns true, not an id (sheet §6.5, §9.6)
        return {"TYPE_ID": LEGAL_ADDRESS, "ENTITY_TYPE_ID": REQUISITE_TYPE_ID, "ENTITY_ID": requisite,
                **_clean(ad)}

    async def update(self, obj: ObjectRef, record_id: str, values: dict[str, Any], *,
                     expected_version: str | None = None) -> None:
        from b24sync.engine.errors import ConflictError, NotFoundError

        cur = await self.get(obj, record_id)
        if cur is None:
            raise NotFoundError(f"Bitrix24 company {record_id} not found")
        if expected_version is not None and cur.version != expected_version:
            raise ConflictError(f"company {record_id} changed on the portal",
                                detail={"expected": expected_version, "current": cur.version})
        changed = {k: v for k, v in values.items() if canonical(cur.values.get(k)) != canonical(v)}
        co, rq, bd, ad = split(changed)
        if cur.values.get("BANK_ID") is None and not _filled(bd):
            bd = {}
        if not any(k.startswith(ADDR) and cur.values.get(k) not in (None, "") for k in cur.values) and not _filled(ad):
            ad = {}
        rq_id = cur.values.get("REQUISITE_ID")
        cmds: dict[str, tuple[str, dict[str, Any]]] = {}
        if co:
            cmds["co"] = ("crm.company.update", {"id": int(record_id), "fields": _clean(co)})
        if rq_id is None and (rq or bd or ad):
            full_co, full_rq, _, _ = split(values)
            cmds["rq"] = ("crm.requisite.add", {"fields": self._requisite_fields(
                int(record_id), {**{k: cur.values.get(k) for k in full_rq}, **full_rq}, full_co or cur.values)})
            rq_ref: Any = Ref("$result[rq]")
        else:
            rq_ref = int(rq_id) if rq_id is not None else None
            if rq:
                cmds["rq"] = ("crm.requisite.update", {"id": rq_ref, "fields": _clean(rq)})
        if bd:
            if cur.values.get("BANK_ID") is None or "rq" in cmds and cmds["rq"][0].endswith(".add"):
                _, _, full_bd, _ = split({k: v for k, v in values.items() if k.startswith(BANK)})
                cmds["bd"] = ("crm.requisite.bankdetail.add", {"fields": self._bank_fields(rq_ref, full_bd)})
            else:
                cmds["bd"] = ("crm.requisite.bankdetail.update", {"id": int(cur.values["BANK_ID"]),
                                                                  "fields": _clean(bd)})
        if ad:
            has_addr = any(k.startswith(ADDR) and cur.values.get(k) not in (None, "") for k in cur.values)
            method = "crm.address.update" if has_addr and not isinstance(rq_ref, Ref) else "crm.address.add"
            cmds["ad"] = (method, {"fields": self._address_fields(rq_ref, ad)})
        if not cmds:
            return None
        out = await self.c.call_group(cmds)
        for oc in out.values():
            if not oc.ok:
                raise oc.error  # type: ignore[misc]
        return None

    async def describe(self, obj: ObjectRef) -> ObjectSchema:
        """The flat record's names: company fields (with user fields), requisite fields, ``BANK_`` + bank-detail
        fields and ``ADDR_`` + address fields, as the portal lists them (``crm.*.fields``)."""
        out: dict[str, str] = {}
        for method, prefix in (("crm.company.fields", ""), ("crm.requisite.fields", ""),
                               ("crm.requisite.bankdetail.fields", BANK), ("crm.address.fields", ADDR)):
            rows = await self.c.call(method, {}, batch=False) or {}
            for k, v in rows.items():
                out.setdefault(prefix + str(k), str((v or {}).get("type", "")))
        out.update({"REQUISITE_ID": "integer", "BANK_ID": "integer"})
        return ObjectSchema(fields=out)

    async def aclose(self) -> None:
        return None  # the client belongs to the Bitrix24Adapter that made this composite


def register() -> None:
    COMPOSITES[NAME] = CompanyCard


register()

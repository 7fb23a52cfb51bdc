"""``ContactCard``: a Bitrix24 contact as the contacts flow sees it — the legacy ``crm.contact`` record plus a few
derived fields that make multi-valued and related data syncable with plain field mappings.

Derived fields (read; the ones marked *w* are also written):

* ``PHONES`` *w* — every phone of the contact, normalised to E.164 where the number is valid (an invalid number
  is kept as typed, so the mapping's ``normalize: phone`` parks the record with a readable reason), distinct,
  sorted. Sorting makes the list compare equal whatever order the entries have on either side.
* ``EMAILS`` *w* — the same for e-mails (domain lower-cased).
* ``PHONE_PRIMARY``, ``EMAIL_PRIMARY`` — the first entry of the card (the one Bitrix24 shows first).
* ``COMPANY`` *w* — the contact's **primary company** (``IS_PRIMARY = Y`` of ``crm.contact.company.items.get``;
  a contact may belong to several companies, sheet §6.2 "Relations"; RU docs
  rest_help/crm/contacts/crm_contact_company_items_get.php). Written as the primary binding; other bindings kept.
* ``FULL_NAME`` — ``LAST_NAME NAME SECOND_NAME``.
* ``NO_COMM`` — true when the contact has neither a phone nor an e-mail (nothing to match it by; a spec
  ``skip_if`` on it leaves such contacts alone until one is filled in).

Writes of ``PHONES``/``EMAILS`` go through the adapter's minimal multi-field diff (``multifield.py``, sheet §6.3):
a value already on the card in any spelling (``+7 (916) 123-45-67`` vs ``+79161234567``) keeps its entry, its
spelling and its ``VALUE_TYPE``; a new value is added as one element without ``ID``; a value gone from the list
reuses or deletes its entry. A phone is therefore never duplicated.

Lookups: ``find({"PHONES": [...]})`` / ``{"EMAILS": [...]}`` go through ``crm.duplicate.findbycomm`` (which
normalises phones: digits, extension ignored, sheet §6.11 / §9.11; at most 20 values per call) and the hits are
re-checked against our own normalisation — a list filter on ``PHONE`` would only match the exact spelling
(sheet §5: multi-fields filter by exact value). A contact matches when ANY of its values is among the wanted ones.
"""

from __future__ import annotations

import asyncio
from typing import Any

from b24sync.connectors.bitrix24.multifield import normalize as mf_key
from b24sync.engine.ports import ChangeCursor, ChangePage, ObjectRef, Record

DERIVED = ("PHONES", "EMAILS", "PHONE_PRIMARY", "EMAIL_PRIMARY", "COMPANY", "COMPANIES", "FULL_NAME", "NO_COMM")
_COMM = {"PHONES": "PHONE", "EMAILS": "EMAIL", "PHONE_PRIMARY": "PHONE", "EMAIL_PRIMARY": "EMAIL"}
FINDBYCOMM_MAX = 20  # values per crm.duplicate.findbycomm call (sheet §6.11)


def canonical_comm(type_id: str, value: Any) -> str:
    """E.164 phone / normalised e-mail when valid, else the value as typed (stripped)."""
    from b24sync.requisites import check_email, check_phone

    raw = str(value or "").strip()
    r = check_phone(raw) if type_id == "PHONE" else check_email(raw)
    return r.value if r.ok else raw


def comm_list(type_id: str, entries: Any) -> list[str]:
    vals = [e.get("VALUE") if isinstance(e, dict) else e for e in (entries or [])]
    return sorted({canonical_comm(type_id, v) for v in vals if str(v or "").strip()})


def _entries(row: dict[str, Any], type_id: str) -> list[dict[str, Any]]:
    out = [e for e in (row.get(type_id) or []) if isinstance(e, dict) and str(e.get("VALUE") or "").strip()]
    return sorted(out, key=lambda e: int(e["ID"]) if str(e.get("ID", "")).isdigit() else 0)


def _value_type(type_id: str, value: str) -> str:
    """VALUE_TYPE for a new entry (sheet §6.3): MOBILE for a mobile number, else WORK."""
    if type_id == "PHONE":
        try:
            import phonenumbers

            n = phonenumbers.parse(value, "RU")
            if phonenumbers.number_type(n) == phonenumbers.PhoneNumberType.MOBILE:
                return "MOBILE"
        except Exception:  # noqa: BLE001 - a label only
            pass
    return "WORK"


class ContactCard:
    """SystemAdapter verbs for ``crm.contact`` with the derived fields above, over a ``Bitrix24Adapter``."""

    def __init__(self, adapter: Any) -> None:
        self.inner = adapter
        self.client = adapter.client
        self.name = adapter.name

    # ---- reading
    async def _companies(self, contact_id: str) -> tuple[str | None, list[str]]:
        """(primary company id, all bound company ids in SORT order)."""
        items = await self.client.call("crm.contact.company.items.get", {"id": int(contact_id)})
        items = sorted((i for i in (items or []) if str(i.get("COMPANY_ID") or "0") != "0"),
                       key=lambda i: int(i.get("SORT") or 0))
        if not items:
            return None, []
        primary = [i for i in items if str(i.get("IS_PRIMARY", "")).upper() == "Y"]
        return str((primary or items)[0]["COMPANY_ID"]), [str(i["COMPANY_ID"]) for i in items]

    async def enrich(self, rec: Record) -> Record:
        v = dict(rec.values)
        phones, emails = _entries(v, "PHONE"), _entries(v, "EMAIL")
        v["PHONES"] = comm_list("PHONE", phones)
        v["EMAILS"] = comm_list("EMAIL", emails)
        v["PHONE_PRIMARY"] = canonical_comm("PHONE", phones[0]["VALUE"]) if phones else None
        v["EMAIL_PRIMARY"] = canonical_comm("EMAIL", emails[0]["VALUE"]) if emails else None
        v["COMPANY"], v["COMPANIES"] = await self._companies(rec.id)
        # None rather than False: a created record's written values do not carry the flag, and None == absent
        v["NO_COMM"] = True if not v["PHONES"] and not v["EMAILS"] else None
        v["FULL_NAME"] = " ".join(str(v.get(k) or "").strip() for k in ("LAST_NAME", "NAME", "SECOND_NAME")
                                  if str(v.get(k) or "").strip()) or None
        return Record(rec.id, v, modified=rec.modified, version=rec.version, deleted=rec.deleted)

    async def _enrich_all(self, recs: list[Record]) -> list[Record]:
        # concurrent, so the client's micro-batcher puts the company look-ups of a page into one batch (sheet §4)
        return list(await asyncio.gather(*(self.enrich(r) for r in recs)))

    async def read_changes(self, obj: ObjectRef, cursor: ChangeCursor, *, overlap_seconds: float = 0.0,
                           limit: int = 500) -> ChangePage:
        page = await self.inner.read_changes(obj, cursor, overlap_seconds=overlap_seconds, limit=limit)
        return ChangePage(records=await self._enrich_all(page.records), cursor=page.cursor, more=page.more,
                          ack=page.ack)

    async def acknowledge(self, obj: ObjectRef, page: ChangePage) -> None:
        await self.inner.acknowledge(obj, page)

    async def get(self, obj: ObjectRef, record_id: str) -> Record | None:
        rec = await self.inner.get(obj, record_id)
        return await self.enrich(rec) if rec is not None else None

    async def find(self, obj: ObjectRef, criteria: dict[str, Any]) -> list[Record]:
        comm = {k: v for k, v in criteria.items() if k in _COMM}
        plain = {k: v for k, v in criteria.items() if k not in DERIVED}
        if "COMPANY" in criteria:
            plain["COMPANY_ID"] = criteria["COMPANY"]
        ids: set[str] | None = None
        for field, wanted in comm.items():
            hit = await self._find_by_comm(_COMM[field], wanted if isinstance(wanted, list) else [wanted])
            ids = hit if ids is None else ids & hit
        if ids is None:
            return await self._enrich_all(await self.inner.find(obj, plain))
        recs = [r for r in await asyncio.gather(*(self.get(obj, i) for i in sorted(ids, key=int))) if r is not None]
        out = []
        for r in recs:
            if any(str(r.values.get(k) or "") != str(v) for k, v in plain.items()):
                continue
            # findbycomm's own normalisation is looser (extensions, other countries): confirm with ours
            if all(set(r.values["PHONES" if _COMM[f] == "PHONE" else "EMAILS"]) &
                   {canonical_comm(_COMM[f], x) for x in (w if isinstance(w, list) else [w])}
                   for f, w in comm.items()):
                out.append(r)
        return out

    async def _find_by_comm(self, type_id: str, values: list[str]) -> set[str]:
        found: set[str] = set()
        vals = [str(v) for v in values if str(v or "").strip()]
        for i in range(0, len(vals), FINDBYCOMM_MAX):
            res = await self.client.call("crm.duplicate.findbycomm", {
                "entity_type": "CONTACT", "type": type_id, "values": vals[i:i + FINDBYCOMM_MAX]})
            if isinstance(res, dict):  # [] when nothing was found (sheet §6.11)
                found.update(str(x) for x in res.get("CONTACT") or [])
        return found

    async def exists(self, obj: ObjectRef, criteria: dict[str, Any]) -> bool:
        return bool(await self.find(obj, criteria))

    # ---- writing
    def _multi(self, type_id: str, wanted: list[str], current: list[dict[str, Any]]) -> list[dict[str, str]]:
        """The wanted multi-field list in the adapter's form, keeping the spelling and VALUE_TYPE of entries that
        already hold a value (so the minimal diff leaves them alone)."""
        by_key = {mf_key(type_id, str(e.get("VALUE", ""))): e for e in current}
        out = []
        for w in wanted:
            e = by_key.get(mf_key(type_id, str(w)))
            if e is not None:
                out.append({"VALUE": str(e["VALUE"]), "VALUE_TYPE": str(e.get("VALUE_TYPE") or "WORK")})
            else:
                out.append({"VALUE": str(w), "VALUE_TYPE": _value_type(type_id, str(w))})
        return out

    def _fields(self, values: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
        fields = {k: v for k, v in values.items() if k not in DERIVED}
        for key, type_id in (("PHONES", "PHONE"), ("EMAILS", "EMAIL")):
            if key in values:
                fields[type_id] = self._multi(type_id, list(values[key] or []), _entries(current or {}, type_id))
        return fields

    async def create(self, obj: ObjectRef, values: dict[str, Any]) -> str:
        fields = self._fields(values, None)
        if values.get("COMPANY"):
            fields["COMPANY_ID"] = values["COMPANY"]
            fields["COMPANY_IDS"] = [values["COMPANY"]]
        return await self.inner.create(obj, fields)

    async def update(self, obj: ObjectRef, record_id: str, values: dict[str, Any], *,
                     expected_version: str | None = None) -> None:
        current = None
        if any(k in values for k in ("PHONES", "EMAILS", "COMPANY")):
            cur = await self.get(obj, record_id)
            current = cur.values if cur else None
        fields = self._fields(values, current)
        if "COMPANY" in values and current is not None and str(values["COMPANY"] or "") != str(current["COMPANY"] or ""):
            others = [c for c in current.get("COMPANIES") or [] if c != str(values["COMPANY"])]
            if values["COMPANY"]:
                # COMPANY_IDS replaces the bindings (sheet §6.2); the new primary first, the others kept
                fields["COMPANY_ID"] = values["COMPANY"]
                fields["COMPANY_IDS"] = [str(values["COMPANY"])] + others
        await self.inner.update(obj, record_id, fields, expected_version=expected_version)

    async def aclose(self) -> None:
        return None  # the wrapped adapter is closed by the runtime

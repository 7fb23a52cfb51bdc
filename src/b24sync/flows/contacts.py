"""Contacts flow (issue 7): Bitrix24 contacts ⇄ 1C contact persons, both directions, the CRM is master.

The generic record sync does the work; this module gives it two objects it can map with plain field pairs:

* CRM side — ``crm.contact`` through :class:`~b24sync.connectors.bitrix24.contact_card.ContactCard`: the contact
  plus ``PHONES``/``EMAILS`` (all values, E.164 / normalised, sorted), ``COMPANY`` (the primary company), ``FULL_NAME``
  and ``NO_COMM`` (true when the contact has neither a phone nor an e-mail).
* ERP side — ``Catalog_КонтактныеЛицаПартнеров`` (UT 11 / ERP 2, preset ``contact_persons``) through
  :class:`OneCContactPersons`: the catalog item plus ``Телефоны`` / ``ЭлектроннаяПочта`` (from the tabular section
  ``КонтактнаяИнформация``, rows of ``Тип`` ``Телефон`` / ``АдресЭлектроннойПочты``), ``Контрагент_Key`` (the
  counterparty whose partner owns the person) and ``БезТелефонаИПочты``.

Why composite objects and not list logic in the engine: a phone list lives in a multi-field on one side and in a
tabular section on the other, and neither can be filtered by "any of these numbers in any spelling" with the
systems' ordinary list filters; only the side's own object can look it up (``crm.duplicate.findbycomm`` in
Bitrix24, a scan of the tabular section in 1C) and write one value without rewriting or duplicating the others.
The engine change is therefore limited to letting a match key carry a list (``normalize`` of a list is the sorted
distinct canonical values; ``match_criteria`` passes the list to ``find``, which matches ANY of them).

Several companies: 1C keeps a contact person under exactly one partner, Bitrix24 binds a contact to any number of
companies. The flow flattens to the **primary company** (``IS_PRIMARY`` of ``crm.contact.company.items.get``):
``COMPANY`` is translated by ``ref: company`` to the 1C counterparty and the person is filed under that
counterparty's partner (``Партнер_Key``). The other bindings stay in Bitrix24 only. The company binding is owned by
the CRM: moving a person to another partner in 1C is not copied back.

Installed by ``install`` (FLOW_INSTALLERS) for every entity with ``flow: contacts``.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from b24sync.connectors.bitrix24.contact_card import ContactCard, canonical_comm
from b24sync.engine.errors import ValidationError
from b24sync.engine.ports import ChangeCursor, ChangePage, ObjectRef, Record
from b24sync.engine.runtime import Runtime

FLOW = "contacts"
DEMO_YAML = Path(__file__).resolve().parent / "demo" / "contacts.yaml"
EMPTY_REF = "00000000-0000-0000-0000-000000000000"
CI = "КонтактнаяИнформация"
# Row types of the contact-information section and the kinds we write (the sandbox's and UT 11's string names;
# on a live base `Вид` is a reference to Catalog_ВидыКонтактнойИнформации — see docs/flow-contacts.md).
PHONE_ROW = {"Тип": "Телефон", "Вид": "ТелефонКонтактногоЛица", "value": "НомерТелефона"}
EMAIL_ROW = {"Тип": "АдресЭлектроннойПочты", "Вид": "EmailКонтактногоЛица", "value": "АдресЭП"}
PHONES, EMAILS, COUNTERPARTY, NO_COMM = "Телефоны", "ЭлектроннаяПочта", "Контрагент_Key", "БезТелефонаИПочты"
DERIVED_1C = (PHONES, EMAILS, COUNTERPARTY, NO_COMM)


def _ref(v: Any) -> str | None:
    s = str(v or "")
    return None if not s or s == EMPTY_REF else s


def _rows_of(rows: list[dict[str, Any]], spec: dict[str, str]) -> list[dict[str, Any]]:
    return [r for r in rows or [] if r.get("Тип") == spec["Тип"]]


def _row_value(r: dict[str, Any], spec: dict[str, str]) -> str:
    return str(r.get(spec["value"]) or r.get("Представление") or "").strip()


def merge_contact_info(rows: list[dict[str, Any]], phones: list[str] | None, emails: list[str] | None) -> list[dict]:
    """The whole tabular section after setting the phone / e-mail lists (a PATCH replaces a tabular section whole,
    erp-side.md §1.8): rows of other types and rows whose value is still wanted are kept as they are (their
    spelling, their kind), unwanted ones dropped, new values appended; LineNumber renumbered from 1."""
    out: list[dict[str, Any]] = []
    plan = [(PHONE_ROW, "PHONE", phones), (EMAIL_ROW, "EMAIL", emails)]
    handled = {spec["Тип"] for spec, _, wanted in plan if wanted is not None}
    out += [dict(r) for r in rows or [] if r.get("Тип") not in handled]
    for spec, kind, wanted in plan:
        if wanted is None:
            continue
        want = {canonical_comm(kind, w): w for w in wanted}
        for r in _rows_of(rows, spec):
            key = canonical_comm(kind, _row_value(r, spec))
            if key in want:
                out.append(dict(r))
                want.pop(key)
        for key in want:
            out.append({"Тип": spec["Тип"], "Вид": spec["Вид"], "Представление": key, spec["value"]: key})
    for i, r in enumerate(out, 1):
        r["LineNumber"] = i
    return out


class OneCContactPersons:
    """SystemAdapter verbs for 1C contact persons with the derived fields above, over an ``ODataAdapter``."""

    def __init__(self, adapter: Any, *, counterparties: str = "Catalog_Контрагенты", cache_seconds: float = 30.0) -> None:
        self.inner = adapter
        self.name = adapter.name
        self.counterparties = ObjectRef(counterparties)
        self.cache_seconds = cache_seconds
        self._partner_cp: dict[str, tuple[float, str | None]] = {}

    # ---- partner <-> counterparty
    async def _counterparty_of(self, partner: str | None) -> str | None:
        if partner is None:
            return None
        hit = self._partner_cp.get(partner)
        if hit and time.monotonic() - hit[0] < self.cache_seconds:
            return hit[1]
        rows = [r for r in await self.inner.find(self.counterparties, {"Партнер_Key": partner}) if not r.deleted]
        cp = min((r.id for r in rows), default=None)  # several counterparties of one partner: a stable choice
        self._partner_cp[partner] = (time.monotonic(), cp)
        return cp

    async def _prefetch_counterparties(self, partners: list[str | None]) -> None:
        """The counterparties of a page's partners in one set read (``Партнер_Key eq … or …``, chunked under the
        query-string limit) instead of one lookup per contact (issue 13); the per-partner cache then answers."""
        now = time.monotonic()
        want = sorted({p for p in partners if p} - {p for p, (t, _) in self._partner_cp.items()
                                                    if now - t < self.cache_seconds})
        find_in = getattr(self.inner, "find_in", None)
        if not want or find_in is None:
            return
        best: dict[str, str] = {}
        for r in await find_in(self.counterparties, "Партнер_Key", want):
            partner = _ref(r.values.get("Партнер_Key"))
            if partner and not r.deleted and (partner not in best or r.id < best[partner]):
                best[partner] = r.id  # several counterparties of one partner: a stable choice (lowest key)
        for partner in want:
            self._partner_cp[partner] = (now, best.get(partner))

    async def _partner_of(self, counterparty: str) -> str:
        rec = await self.inner.get(self.counterparties, counterparty)
        partner = _ref(rec.values.get("Партнер_Key")) if rec else None
        if partner is None:
            raise ValidationError(f"1C counterparty {counterparty} has no partner (Партнер) — 1C files contact persons "
                                  f"under a partner: set the counterparty's partner in 1C, then replay")
        return partner

    # ---- reading
    async def enrich(self, rec: Record) -> Record:
        v = dict(rec.values)
        rows = v.get(CI) or []
        v[PHONES] = sorted({canonical_comm("PHONE", _row_value(r, PHONE_ROW)) for r in _rows_of(rows, PHONE_ROW)} - {""})
        v[EMAILS] = sorted({canonical_comm("EMAIL", _row_value(r, EMAIL_ROW)) for r in _rows_of(rows, EMAIL_ROW)} - {""})
        v[COUNTERPARTY] = await self._counterparty_of(_ref(v.get("Owner_Key")))
        v[NO_COMM] = True if not v[PHONES] and not v[EMAILS] else None  # None, not False: see docs (fingerprints)
        return Record(rec.id, v, modified=rec.modified, version=rec.version, deleted=rec.deleted)

    async def read_changes(self, obj: ObjectRef, cursor: ChangeCursor, *, overlap_seconds: float,
                           limit: int) -> ChangePage:
        page = await self.inner.read_changes(obj, cursor, overlap_seconds=overlap_seconds, limit=limit)
        await self._prefetch_counterparties([_ref(r.values.get("Owner_Key")) for r in page.records])
        recs = list(await asyncio.gather(*(self.enrich(r) for r in page.records)))
        return ChangePage(records=recs, cursor=page.cursor, more=page.more, ack=page.ack)

    async def acknowledge(self, obj: ObjectRef, page: ChangePage) -> None:
        await self.inner.acknowledge(obj, page)

    async def get(self, obj: ObjectRef, record_id: str) -> Record | None:
        rec = await self.inner.get(obj, record_id)
        return await self.enrich(rec) if rec is not None else None

    async def find(self, obj: ObjectRef, criteria: dict[str, Any]) -> list[Record]:
        plain = {k: v for k, v in criteria.items() if k not in DERIVED_1C}
        if criteria.get(COUNTERPARTY):
            plain["Owner_Key"] = await self._partner_of(str(criteria[COUNTERPARTY]))
        ids: set[str] | None = None
        for field, spec, kind in ((PHONES, PHONE_ROW, "PHONE"), (EMAILS, EMAIL_ROW, "EMAIL")):
            if field in criteria:
                wanted = criteria[field] if isinstance(criteria[field], list) else [criteria[field]]
                hit = await self._scan(obj, spec, kind, {canonical_comm(kind, w) for w in wanted})
                ids = hit if ids is None else ids & hit
        if ids is None:
            return [await self.enrich(r) for r in await self.inner.find(obj, plain)]
        out = []
        for rid in sorted(ids):
            rec = await self.get(obj, rid)
            if rec is not None and not rec.deleted and all(str(rec.values.get(k)) == str(v) for k, v in plain.items()):
                out.append(rec)
        return out

    async def _scan(self, obj: ObjectRef, spec: dict[str, str], kind: str, wanted: set[str]) -> set[str]:
        """Contact persons holding any wanted value. 1C stores the number as typed, so the rows of that type are
        read (only key and value columns) and compared in canonical form — one keyed read of the tabular-section
        set (erp-side.md §1.1 table: tabular sections are published as ``<Object>_<Section>``)."""
        from b24sync.connectors.onec.odata.filters import F

        entity_set = f"{self.inner.entity(obj).entity_set}_{CI}"
        found: set[str] = set()
        async for row in self.inner.client.iter_all(entity_set, filter=F.eq("Тип", spec["Тип"]),
                                                    select=["Ref_Key", "LineNumber", spec["value"], "Представление"],
                                                    orderby=["Ref_Key", "LineNumber"], key_field=None):
            if canonical_comm(kind, _row_value(row, spec)) in wanted:
                found.add(str(row["Ref_Key"]))
        return found

    async def exists(self, obj: ObjectRef, criteria: dict[str, Any]) -> bool:
        return bool(await self.find(obj, criteria))

    # ---- writing
    async def _system_values(self, values: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
        vals = {k: v for k, v in values.items() if k not in DERIVED_1C}
        if PHONES in values or EMAILS in values:
            vals[CI] = merge_contact_info((current or {}).get(CI) or [],
                                          list(values[PHONES] or []) if PHONES in values else None,
                                          list(values[EMAILS] or []) if EMAILS in values else None)
        cp = values.get(COUNTERPARTY)
        if cp:  # never cleared: a contact person cannot exist without its partner in 1C
            partner = await self._partner_of(str(cp))
            if current is None or _ref(current.get("Owner_Key")) != partner:
                vals["Owner_Key"] = partner
        return vals

    async def create(self, obj: ObjectRef, values: dict[str, Any]) -> str:
        return await self.inner.create(obj, await self._system_values(values, None))

    async def update(self, obj: ObjectRef, record_id: str, values: dict[str, Any], *,
                     expected_version: str | None = None) -> str | None:
        current = None
        if any(k in values for k in (PHONES, EMAILS, COUNTERPARTY)):
            cur = await self.inner.get(obj, record_id)
            current = cur.values if cur else None
        vals = await self._system_values(values, current)
        if current is not None and CI in vals and _same_rows(vals[CI], current.get(CI) or []):
            vals.pop(CI)  # nothing changed in the section: do not rewrite it (a PATCH bumps DataVersion)
        if not vals and expected_version is None:
            return None
        return await self.inner.update(obj, record_id, vals, expected_version=expected_version)

    async def aclose(self) -> None:
        return None  # the wrapped adapter is closed by the runtime


def _same_rows(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    strip = lambda rows: [{k: v for k, v in r.items() if k != "LineNumber"} for r in rows]  # noqa: E731
    return strip(a) == strip(b)


def install(rt: Runtime) -> None:
    """Register the contact objects for every entity with ``flow: contacts``."""
    for entity in rt.spec.entities.values():
        if entity.flow != FLOW:
            continue
        crm_sys, erp_sys = rt.spec.system_for(entity, "crm"), rt.spec.system_for(entity, "erp")
        if crm_sys in rt.adapters and (crm_sys, entity.crm.object) not in rt.object_adapters:
            rt.object_adapters[(crm_sys, entity.crm.object)] = ContactCard(rt.adapters[crm_sys])
        if erp_sys in rt.adapters and (erp_sys, entity.erp.object) not in rt.object_adapters:
            counterparties = entity.erp.options.get("counterparties", "Catalog_Контрагенты")
            rt.object_adapters[(erp_sys, entity.erp.object)] = OneCContactPersons(
                rt.adapters[erp_sys], counterparties=counterparties)


async def demo_step(rt: Runtime, b24: Any, onec: Any) -> list[str]:
    """For ``b24sync demo``: a contact created in Bitrix24 under two companies with a phone typed one way, a 1C
    contact person holding the same number typed another way, then an edit in 1C — and an idle cycle."""
    from b24sync.engine.service import RunOptions, run

    lines: list[str] = []
    b24_client = rt.adapters["bitrix24"].client  # type: ignore[attr-defined]
    companies = await b24_client.call("crm.company.list", {"select": ["ID", "TITLE", "UF_CRM_ERP_ID"],
                                                           "filter": {"!UF_CRM_ERP_ID": ""}, "start": -1})
    companies = [c for c in companies or [] if c.get("UF_CRM_ERP_ID")][:2]
    if len(companies) < 2:
        return ["contacts: the demo needs two companies synced from 1C first — run the company sync"]
    first, second = companies
    cid = await b24_client.call("crm.contact.add", {"fields": {
        "NAME": "Ольга", "LAST_NAME": "Демина", "POST": "Главный бухгалтер", "COMPANY_ID": first["ID"],
        "COMPANY_IDS": [first["ID"], second["ID"]],
        "PHONE": [{"VALUE": "+7 (916) 123-45-67", "VALUE_TYPE": "WORK"}],
        "EMAIL": [{"VALUE": "o.demina@example.ru", "VALUE_TYPE": "WORK"}]}})
    lines.append(f"Bitrix24: contact #{cid} Демина Ольга, phone +7 (916) 123-45-67, companies "
                 f"{first['TITLE']} (primary) and {second['TITLE']}")
    await asyncio.sleep(1.1)  # DATE_MODIFY has one-second resolution
    s1 = await run(rt, RunOptions(once=True))
    persons = [p for p in onec.find("Catalog_КонтактныеЛицаПартнеров") if p.get("Фамилия") == "Демина"]
    if not persons:
        return lines + [f"1C: no contact person was created (dead {s1.dead}, held {s1.held})"]
    person = persons[0]
    cp = onec.get("Catalog_Контрагенты", first["UF_CRM_ERP_ID"])
    lines.append(f"1C: contact person {person['Description']} created under partner of «{cp['Description']}» "
                 f"(the primary company), phones {[r['Представление'] for r in person[CI] if r['Тип'] == 'Телефон']}")
    onec.edit("Catalog_КонтактныеЛицаПартнеров", person["Ref_Key"], Должность="Финансовый директор",
              КонтактнаяИнформация=person[CI] + [{"LineNumber": len(person[CI]) + 1, "Тип": "Телефон",
                                                   "Вид": "ТелефонКонтактногоЛица", "Представление": "8 903 555-44-33",
                                                   "НомерТелефона": "8 903 555-44-33"}])
    lines.append("1C: position changed to «Финансовый директор», second phone 8 903 555-44-33 added")
    await asyncio.sleep(1.1)
    before = b24.requests_served
    s2 = await run(rt, RunOptions(once=True))
    row = b24.get("contact", int(cid)) or {}
    phones = [p["VALUE"] for p in row.get("PHONE") or []]
    lines.append(f"Bitrix24: contact #{cid} POST={row.get('POST')!r}, phones {phones} "
                 f"({s2.actions.get('updated', 0)} update(s), {b24.requests_served - before} requests)")
    await asyncio.sleep(1.1)
    s3 = await run(rt, RunOptions(once=True))
    s4 = await run(rt, RunOptions(once=True))
    writes = sum(s.actions.get(a, 0) for s in (s3, s4) for a in ("created", "updated", "linked"))
    lines.append(f"two more cycles: {writes} writes in either system (our own writes were recognised as echoes)")
    return lines

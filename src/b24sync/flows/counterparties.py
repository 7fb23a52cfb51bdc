"""Counterparties (issue 7): the ERP is master for legal and financial data.

What this module adds to the engine (see docs/flow-counterparties.md):

* the 1C virtual object ``counterparty``: ``Catalog_Контрагенты`` joined with its first bank account
  (``Catalog_БанковскиеСчетаКонтрагентов``) and that account's bank (``Catalog_КлассификаторБанков``: ``Code`` = BIC,
  ``КоррСчет``), plus the legal address from the tabular section ``КонтактнаяИнформация`` (``Вид`` =
  ``ЮрАдресКонтрагента``), flattened into one record (fields below). Reads delegate to the system's OData adapter, so
  polling uses its exchange plan or DataVersion scan;
* the 1C virtual object ``counterparty_debt``: the settlements register balance
  (``AccumulationRegister_РасчетыСКлиентами/Balance``, §1.7, §1.14) per counterparty → ``{Ref_Key, Долг}``
  (summed over the counterparty's analytics keys, flows/settlements.py);
* the Bitrix24 composite ``crm.company+requisite`` (b24sync.connectors.bitrix24.company_card);
* the notification hooks (b24sync.flows.notify).

Flattened 1C counterparty fields: every attribute of ``Catalog_Контрагенты`` (``Ref_Key``, ``Description``,
``НаименованиеПолное``, ``ИНН``, ``КПП``, ``ЮрФизЛицо``, ``ИдентификаторCRM``, …) except the tabular section, and
``ОГРН`` (13 digits) / ``ОГРНИП`` (15 digits, both from the ``ОГРН`` attribute), ``БанковскийСчет_Key``,
``НомерСчета``, ``Банк`` (bank name), ``БИК``, ``КоррСчет``, ``ЮрАдрес`` (presentation), ``ЮрАдресГород``,
``ЮрАдресРегион``.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

from b24sync.engine.errors import PermanentError, ValidationError
from b24sync.engine.ports import ChangeCursor, ChangePage, ObjectRef, ObjectSchema, Record
from b24sync.engine.runtime import Runtime
from b24sync.flows.settlements import SettlementSums

COUNTERPARTY = "counterparty"
DEBT = "counterparty_debt"
CATALOG = "Catalog_Контрагенты"
ACCOUNTS = "Catalog_БанковскиеСчетаКонтрагентов"
BANKS = "Catalog_КлассификаторБанков"
SETTLEMENTS = "AccumulationRegister_РасчетыСКлиентами"
EMPTY_REF = "00000000-0000-0000-0000-000000000000"
LEGAL_ADDRESS_KIND = "ЮрАдресКонтрагента"  # the predefined contact-information kind (sandbox seed, УТ 11)
BANK_FIELDS = ("НомерСчета", "БИК", "КоррСчет", "Банк")
ADDRESS_FIELDS = {"ЮрАдрес": "Представление", "ЮрАдресГород": "Город", "ЮрАдресРегион": "Регион"}
DERIVED = {"ОГРНИП", "БанковскийСчет_Key", *BANK_FIELDS, *ADDRESS_FIELDS}
DEMO_YAML = Path(__file__).resolve().parent / "demo" / "counterparties.yaml"


def _s(v: Any) -> str:
    return "" if v is None else str(v)


class OneCCounterparty:
    """A 1C counterparty with its bank account, bank and legal address as one flat record."""

    def __init__(self, base: Any, name: str) -> None:
        self.base = base  # the system's ODataAdapter
        self.name = name
        self._bank_locks: dict[str, asyncio.Lock] = {}

    @staticmethod
    def _o(entity_set: str) -> ObjectRef:
        return ObjectRef(entity_set)

    async def describe(self, obj: ObjectRef) -> ObjectSchema:
        """``Catalog_Контрагенты`` as ``$metadata`` lists it, plus the joined bank-account and address names."""
        base = await self.base.describe(self._o(CATALOG))
        return ObjectSchema(fields={**base.fields, **{n: "Edm.String" for n in DERIVED}}, exists=base.exists,
                            alternatives=base.alternatives)

    # ---- reads
    async def _enrich(self, recs: list[Record]) -> list[Record]:
        """Join bank accounts and banks to a page of counterparties with *set reads*: the accounts of every owner
        on the page, then the banks they name — a few requests per page, not one per record (issue 13)."""
        if not recs:
            return []
        accounts: dict[str, dict[str, Any]] = {}
        owners = [r.id for r in recs]
        for a in sorted(await self.base.find_in(self._o(ACCOUNTS), "Owner_Key", owners), key=lambda r: r.id):
            owner = _s(a.values.get("Owner_Key"))
            if not a.deleted and owner not in accounts:
                accounts[owner] = a.values  # the first account (lowest Ref_Key) is the card's
        keys = sorted({_s(a.get("Банк_Key")) for a in accounts.values()} - {"", EMPTY_REF})
        banks = {b.id: b.values for b in await self.base.find_in(self._o(BANKS), "Ref_Key", keys)} if keys else {}
        return [self._flat(r, accounts.get(r.id), banks) for r in recs]

    @staticmethod
    def _flat(rec: Record, account: dict[str, Any] | None, banks: dict[str, dict[str, Any]]) -> Record:
        v = {k: val for k, val in rec.values.items() if not isinstance(val, list)}
        ogrn = "".join(ch for ch in _s(v.get("ОГРН")) if ch.isdigit())
        v["ОГРН"] = ogrn if len(ogrn) != 15 else ""
        v["ОГРНИП"] = ogrn if len(ogrn) == 15 else ""
        bank = banks.get(_s((account or {}).get("Банк_Key")), {})
        v["БанковскийСчет_Key"] = (account or {}).get("Ref_Key")
        v["НомерСчета"] = _s((account or {}).get("НомерСчета"))
        v["БИК"] = _s(bank.get("Code"))
        v["КоррСчет"] = _s(bank.get("КоррСчет"))
        v["Банк"] = _s(bank.get("Description"))
        row = next((r for r in rec.values.get("КонтактнаяИнформация") or []
                    if r.get("Тип") == "Адрес" and r.get("Вид") == LEGAL_ADDRESS_KIND), {})
        for flat, col in ADDRESS_FIELDS.items():
            v[flat] = _s(row.get(col))
        return Record(id=rec.id, values=v, modified=rec.modified, version=rec.version, deleted=rec.deleted)

    async def read_changes(self, obj: ObjectRef, cursor: ChangeCursor, *, overlap_seconds: float,
                           limit: int) -> ChangePage:
        page = await self.base.read_changes(self._o(CATALOG), cursor, overlap_seconds=overlap_seconds, limit=limit)
        page.records = await self._enrich(page.records)
        return page

    async def acknowledge(self, obj: ObjectRef, page: ChangePage) -> None:
        await self.base.acknowledge(self._o(CATALOG), page)

    async def get(self, obj: ObjectRef, record_id: str) -> Record | None:
        rec = await self.base.get(self._o(CATALOG), record_id)
        return (await self._enrich([rec]))[0] if rec else None

    async def find(self, obj: ObjectRef, criteria: dict[str, Any]) -> list[Record]:
        bad = [k for k in criteria if k in DERIVED]
        if bad:
            raise ValidationError(f"1C {COUNTERPARTY}: cannot look up by {', '.join(bad)}")
        recs = [r for r in await self.base.find(self._o(CATALOG), criteria) if not r.deleted]
        return await self._enrich(recs)

    async def exists(self, obj: ObjectRef, criteria: dict[str, Any]) -> bool:
        return bool(await self.find(obj, criteria))

    # ---- writes
    @staticmethod
    def _split(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        head = {k: v for k, v in values.items() if k not in DERIVED and k not in ("Ref_Key", "DataVersion")}
        if values.get("ОГРНИП"):
            head["ОГРН"] = values["ОГРНИП"]
        elif "ОГРН" in values or "ОГРНИП" in values:
            head["ОГРН"] = values.get("ОГРН") or ""
        bank = {k: values[k] for k in BANK_FIELDS if k in values}
        addr = {k: values[k] for k in ADDRESS_FIELDS if k in values}
        return head, bank, addr

    @staticmethod
    def _contact_rows(current: list[dict[str, Any]], addr: dict[str, Any]) -> list[dict[str, Any]]:
        """The whole tabular section with the legal-address row replaced (sections are written whole, §1.8)."""
        rows = [dict(r) for r in current]
        row = next((r for r in rows if r.get("Тип") == "Адрес" and r.get("Вид") == LEGAL_ADDRESS_KIND), None)
        if row is None:
            row = {"Тип": "Адрес", "Вид": LEGAL_ADDRESS_KIND, "Страна": "РОССИЯ"}
            rows.append(row)
        for flat, col in ADDRESS_FIELDS.items():
            if flat in addr:
                row[col] = _s(addr[flat])
        for i, r in enumerate(rows, 1):
            r["LineNumber"] = i  # a row without LineNumber makes 1C answer 500 (§1.8)
        return rows

    async def _bank_key(self, bank: dict[str, Any]) -> str | None:
        bic = "".join(ch for ch in _s(bank.get("БИК")) if ch.isdigit())
        if not bic:
            return None
        # Concurrent jobs of this process share a bank: one looks it up and adds it, the others wait and find it
        # (found by the crash-and-fault test: two companies at one new bank added the BIC twice). Workers in other
        # processes can still race on a brand-new BIC; the classifier is normally preloaded, so this is rare.
        async with self._bank_locks.setdefault(bic, asyncio.Lock()):
            found = sorted((r for r in await self.base.find(self._o(BANKS), {"Code": bic}) if not r.deleted),
                           key=lambda r: r.id)
            if found:
                return found[0].id
            # The bank classifier is normally loaded from the Bank of Russia's directory; a missing BIC is added
            # with what the CRM knows (name, correspondent account). A lost answer here is an unknown outcome: the
            # job's retry comes back to this lookup and finds the bank.
            return await self.base.create(self._o(BANKS), {"Code": bic, "Description": _s(bank.get("Банк")) or bic,
                                                           "КоррСчет": _s(bank.get("КоррСчет"))})

    async def _write_account(self, owner: str, account_key: str | None, bank: dict[str, Any],
                             current: dict[str, Any] | None) -> None:
        if not bank:
            return
        merged = {**{k: (current or {}).get(k) for k in BANK_FIELDS}, **bank}
        if not _s(merged.get("НомерСчета")):
            return
        vals: dict[str, Any] = {"НомерСчета": _s(merged["НомерСчета"]),
                                "Description": f"{_s(merged['НомерСчета'])}, {_s(merged.get('Банк'))}".strip(", ")}
        if any(k in bank for k in ("БИК", "КоррСчет", "Банк")):
            key = await self._bank_key(merged)
            if key:
                vals["Банк_Key"] = key
        if account_key:
            await self.base.update(self._o(ACCOUNTS), account_key, vals)
        else:
            await self.base.create(self._o(ACCOUNTS), {"Owner_Key": owner, **vals})

    async def create(self, obj: ObjectRef, values: dict[str, Any]) -> str:
        head, bank, addr = self._split(values)
        if addr:
            head["КонтактнаяИнформация"] = self._contact_rows([], addr)
        ref = await self.base.create(self._o(CATALOG), head)
        await self._write_account(ref, None, bank, None)
        return ref

    async def update(self, obj: ObjectRef, record_id: str, values: dict[str, Any], *,
                     expected_version: str | None = None) -> str | None:
        head, bank, addr = self._split(values)
        raw = await self.base.get(self._o(CATALOG), record_id)
        if raw is None:
            raise PermanentError(f"1C counterparty {record_id} no longer exists")
        if addr:
            head["КонтактнаяИнформация"] = self._contact_rows(raw.values.get("КонтактнаяИнформация") or [], addr)
        version = None
        if head or expected_version is not None:
            version = await self.base.update(self._o(CATALOG), record_id, head, expected_version=expected_version)
        if bank:
            cur = (await self._enrich([raw]))[0].values
            await self._write_account(record_id, cur.get("БанковскийСчет_Key"), bank, cur)
        return version

    async def aclose(self) -> None:
        return None  # the OData adapter is closed by the runtime


class OneCDebt:
    """Receivables per counterparty: ``AccumulationRegister_РасчетыСКлиентами/Balance`` (§1.7) summed per
    counterparty (flows/settlements.py: by the analytics key's ``Контрагент`` in УТ 11.5, document-flows.md B.8, or
    by a ``Контрагент_Key`` dimension where the register has one) → records ``{Ref_Key, Долг}`` keyed by the
    counterparty's Ref_Key.

    A balance has no change time: every poll reads the whole (small, grouped) balance and the engine's fingerprints
    skip the unchanged ones. A counterparty whose debt went to zero drops out of the balance, so the keys reported
    non-zero last time are kept in the shared state and reported once with 0."""

    def __init__(self, base: Any, name: str, state: Any) -> None:
        self.base = base
        self.name = name
        self.state = state
        self.key = f"counterparties:debt:nonzero:{name}"
        self.sums = SettlementSums(base)  # by analytics key or by Контрагент_Key, as $metadata says

    async def _balance(self, counterparty: str | None = None) -> dict[str, Decimal]:
        return await self.sums.sums(SETTLEMENTS, "Сумма", counterparty=counterparty)

    async def describe(self, obj: ObjectRef) -> ObjectSchema:
        """Fixed layout ``{Ref_Key, Долг}``; the settlements register must be published (``$metadata``)."""
        reg = await self.base.describe(ObjectRef(SETTLEMENTS))
        return ObjectSchema(fields={"Ref_Key": "Edm.Guid", "Долг": "Edm.Decimal"}, exists=reg.exists,
                            alternatives=[SETTLEMENTS] if not reg.exists else [])

    @staticmethod
    def _rec(ref: str, amount: Decimal) -> Record:
        a = amount.quantize(Decimal("0.01"))
        return Record(id=ref, values={"Ref_Key": ref, "Долг": format(a, "f")}, version=format(a, "f"))

    async def read_changes(self, obj: ObjectRef, cursor: ChangeCursor, *, overlap_seconds: float,
                           limit: int) -> ChangePage:
        bal = {k: v for k, v in (await self._balance()).items() if v != 0}
        before = set((await asyncio.to_thread(self.state.get, self.key) or {}).get("keys", []))
        recs = [self._rec(k, v) for k, v in sorted(bal.items())]
        recs += [self._rec(k, Decimal(0)) for k in sorted(before - set(bal))]
        return ChangePage(records=recs, cursor=cursor, more=False, ack={"keys": sorted(bal)})

    async def acknowledge(self, obj: ObjectRef, page: ChangePage) -> None:
        keys = (page.ack or {}).get("keys")
        if keys is not None:
            await asyncio.to_thread(self.state.update, self.key, lambda old: ({"keys": keys}, None))

    async def get(self, obj: ObjectRef, record_id: str) -> Record | None:
        bal = await self._balance(record_id)
        return self._rec(record_id, bal.get(record_id, Decimal(0)))

    async def find(self, obj: ObjectRef, criteria: dict[str, Any]) -> list[Record]:
        ref = criteria.get("Ref_Key")
        if ref is None or set(criteria) != {"Ref_Key"}:
            raise ValidationError(f"1C {DEBT}: look up by Ref_Key only")
        rec = await self.get(obj, str(ref))
        return [rec] if rec else []

    async def exists(self, obj: ObjectRef, criteria: dict[str, Any]) -> bool:
        return bool(await self.find(obj, criteria))

    async def create(self, obj: ObjectRef, values: dict[str, Any]) -> str:
        raise PermanentError("receivables are computed by 1C from its documents; b24sync never writes them")

    async def update(self, obj: ObjectRef, record_id: str, values: dict[str, Any], *,
                     expected_version: str | None = None) -> str | None:
        raise PermanentError("receivables are computed by 1C from its documents; b24sync never writes them")

    async def aclose(self) -> None:
        return None


def install(rt: Runtime) -> None:
    """Flow installer: the Bitrix24 composite, the 1C virtual objects on every 1C OData system, the hooks."""
    import b24sync.connectors.bitrix24.company_card  # noqa: F401  (registers crm.company+requisite)
    from b24sync.flows import notify
    from b24sync.flows.receivables import CREDIT, OneCCredit
    from b24sync.store.kv import SqlState

    for name, system in rt.spec.systems.items():
        if system.type == "1c-odata" and name in rt.adapters:
            base = rt.adapters[name]
            rt.object_adapters.setdefault((name, COUNTERPARTY), OneCCounterparty(base, name))
            rt.object_adapters.setdefault((name, DEBT), OneCDebt(base, name, SqlState(rt.db)))
            rt.object_adapters.setdefault((name, CREDIT), OneCCredit(base, name, SqlState(rt.db)))
    # Tell managers about holds and reverts only where this flow's objects are used (other specs keep their hooks).
    if any(e.crm.object == "crm.company+requisite" or e.erp.object in (COUNTERPARTY, DEBT, CREDIT)
           for e in rt.spec.entities.values()):
        notify.install(rt)


# ---- demo ---------------------------------------------------------------------------------------------------------


async def demo_step(rt: Runtime, b24: Any, onec: Any) -> list[str]:
    """A visible change in 1C (a bank account for a counterparty, a new debt), one sync pass, what happened."""
    from b24sync.engine.service import RunOptions, run

    lines: list[str] = []
    cp = next(r for r in onec.find(CATALOG) if r.get("ЮрФизЛицо") == "ЮрЛицо")
    bank = (onec.find(BANKS, Code="044525225") or [None])[0] or onec.create(
        BANKS, Code="044525225", Description="ПАО СБЕРБАНК", КоррСчет="30101810400000000225")
    if not onec.find(ACCOUNTS, Owner_Key=cp["Ref_Key"]):
        onec.create(ACCOUNTS, Owner_Key=cp["Ref_Key"], НомерСчета="40702810438000060473", Банк_Key=bank["Ref_Key"],
                    Description="40702810438000060473, ПАО СБЕРБАНК")
    onec.edit(CATALOG, cp["Ref_Key"], ОГРН="1027700132195")  # the card changes, so the poll sees it
    lines.append(f"1C: {cp['Description']} got OGRN and a settlement account at ПАО СБЕРБАНК")
    await asyncio.sleep(1.1)
    stats = await run(rt, RunOptions(once=True))
    from b24sync.engine.report import actions_text

    lines.append(f"sync: {stats.done} job(s): {actions_text(stats.actions)}; {stats.held} held, {stats.dead} dead")
    company = b24.portal.t("company") if hasattr(b24, "portal") else None
    if company is not None:
        from b24sync.store import identity

        ent = next((n for n, e in rt.spec.entities.items()
                    if e.erp.object == COUNTERPARTY and e.direction == "erp_to_crm"), None)
        if ent:
            with rt.db.connect() as conn:
                b = identity.find(conn, rt.spec.scope(ent), "erp", cp["Ref_Key"])
            if b and b.crm_id:
                bd = [r for r in b24.portal.t("bankdetail").rows.values()
                      if any(q["ID"] == r["ENTITY_ID"] and str(q["ENTITY_ID"]) == str(b.crm_id)
                             for q in b24.portal.t("requisite").rows.values())]
                lines.append(f"Bitrix24: company {b.crm_id} bank detail "
                             f"{bd[0].get('RQ_ACC_NUM') if bd else '—'} / BIC {bd[0].get('RQ_BIK') if bd else '—'}")
    return lines


__all__ = ["OneCCounterparty", "OneCDebt", "install", "demo_step", "DEMO_YAML"]

"""The 1C virtual object ``counterparty_credit``: a client's debt, its overdue part and its credit limit in one record
per counterparty — for the company card (money fields) and for the credit rule (engine/credit.py, docs/flow-credit.md).

``{Ref_Key, Долг, ПросроченныйДолг, Лимит, ПросрочкаЗапрещена}`` keyed by the counterparty's ``Ref_Key`` (document-flows.md B.8):

* ``Долг`` — ``AccumulationRegister_РасчетыСКлиентами/Balance`` summed per counterparty (as
  ``counterparty_debt``, flows/counterparties.py; both through flows/settlements.py);
* ``ПросроченныйДолг`` — ``AccumulationRegister_РасчетыСКлиентамиПоСрокам/Balance`` with the condition
  ``ДатаПлановогоПогашения < today`` (B.8: "overdue = Долг with plan date < today" [M]), never below 0. A base that
  does not publish the register gives no such field (absent, so a card's value is never cleared by mistake);
* ``ПросрочкаЗапрещена`` — one of the counterparty's contracts (not marked, not closed) has ``ЗапрещаетсяПросроченнаяЗадолженность`` (B.8 [H]: no overdue
  debt allowed); absent where the base does not publish the flag;
* ``Лимит`` — Σ ``ДопустимаяСуммаЗадолженности`` of the counterparty's contracts (``Catalog_ДоговорыКонтрагентов``,
  B.7/B.8: the limit of УТ 11.5 / ERP 2.5 lives on the contract) that limit the debt, are not marked for deletion
  and not closed; none → empty (no limit from 1C). The flag is ``ОграничиватьСуммуЗадолженности`` in УТ 11.5 (B.8
  [H]); older configurations name it ``КонтролироватьСуммуЗадолженности`` (public УТ 10 / БП 2 dumps) — whichever
  the base's ``$metadata`` has is read (11.5's first).

Both registers are read by flows/settlements.py: keyed by ``АналитикаУчетаПоПартнерам_Key``
(Catalog_КлючиАналитикиУчетаПоПартнерам → ``Контрагент``, B.8 — УТ 11.5, and the 1C sandbox) or, where the
register's ``$metadata`` has it instead, by a ``Контрагент_Key`` dimension.

A balance has no change time: each poll reads the three grouped sets (three requests, plus one set read per chunk
of analytics keys not seen before) and reports every
counterparty with a debt; one whose debt went to zero is reported once more with 0 (the keys are kept in the shared
state). Read-only."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal
from typing import Any

from b24sync.engine.errors import PermanentError, ValidationError
from b24sync.engine.ports import ChangeCursor, ChangePage, ObjectRef, ObjectSchema, Record
from b24sync.flows.settlements import SettlementSums

CREDIT = "counterparty_credit"
SETTLEMENTS = "AccumulationRegister_РасчетыСКлиентами"
BY_TERMS = "AccumulationRegister_РасчетыСКлиентамиПоСрокам"
CONTRACTS = "Catalog_ДоговорыКонтрагентов"
LIMIT_FLAGS = ("ОграничиватьСуммуЗадолженности", "КонтролироватьСуммуЗадолженности")  # УТ 11.5, then older
LIMIT_AMOUNT = "ДопустимаяСуммаЗадолженности"
NO_OVERDUE = "ЗапрещаетсяПросроченнаяЗадолженность"  # B.8 [H]: the contract allows no overdue debt
CLOSED = "Закрыт"  # Enum_СтатусыДоговоровКонтрагентов (B.7)
FIELDS = {"Ref_Key": "Edm.Guid", "Долг": "Edm.Decimal", "ПросроченныйДолг": "Edm.Decimal", "Лимит": "Edm.Decimal",
          "ПросрочкаЗапрещена": "Edm.Boolean"}


def _money(v: Decimal) -> str:
    return format(v.quantize(Decimal("0.01")), "f")


class OneCCredit:
    def __init__(self, base: Any, name: str, state: Any) -> None:
        self.base = base  # the system's ODataAdapter
        self.name = name
        self.state = state
        self.key = f"receivables:credit:nonzero:{name}"
        self._layout: tuple[bool, str | None, str | None] | None = None
        self.sums = SettlementSums(base)

    async def _published(self) -> tuple[bool, str | None, str | None]:
        """(the overdue register is published, the contract's limit flag field or None, its no-overdue flag or
        None)."""
        if self._layout is None:
            terms = await self.base.describe(ObjectRef(BY_TERMS))
            contracts = await self.base.describe(ObjectRef(CONTRACTS))
            have = contracts.fields if contracts.exists else {}
            flag = next((f for f in LIMIT_FLAGS if f in have), None) if LIMIT_AMOUNT in have else None
            self._layout = (bool(terms.exists), flag, NO_OVERDUE if NO_OVERDUE in have else None)
        return self._layout

    async def _contracts(self, flag: str | None, ban: str | None, ref: str | None
                         ) -> tuple[dict[str, Decimal], set[str]]:
        """Per counterparty: Σ the allowed debt of its limiting contracts, and whether one forbids overdue debt.
        Contracts marked for deletion or closed do not count."""
        flags = [f"{f} eq true" for f in (flag, ban) if f]
        if not flags:
            return {}, set()
        cond = f"({' or '.join(flags)}) and DeletionMark eq false"
        if ref is not None:
            cond += f" and Контрагент_Key eq guid'{ref}'"
        limits: dict[str, Decimal] = {}
        banned: set[str] = set()
        async for row in self.base.client.iter_all(CONTRACTS, filter=cond, key_field="Ref_Key"):
            k = str(row.get("Контрагент_Key") or "")
            if not k or str(row.get("Статус") or "") == CLOSED:
                continue
            if flag and row.get(flag) is True:
                limits[k] = limits.get(k, Decimal(0)) + Decimal(str(row.get(LIMIT_AMOUNT) or 0))
            if ban and row.get(ban) is True:
                banned.add(k)
        return limits, banned

    async def _read(self, ref: str | None) -> tuple[dict[str, Decimal], dict[str, Decimal] | None,
                                                    tuple[dict[str, Decimal], set[str] | None]]:
        terms, flag, ban = await self._published()
        today = date.today().isoformat()
        late = f"ДатаПлановогоПогашения lt datetime'{today}T00:00:00'"
        debt, overdue, (limits, banned) = await asyncio.gather(
            self.sums.sums(SETTLEMENTS, "Сумма", counterparty=ref),
            self.sums.sums(BY_TERMS, "Долг", late, counterparty=ref) if terms else asyncio.sleep(0, None),
            self._contracts(flag, ban, ref))
        return debt, overdue, (limits, banned if ban else None)

    @staticmethod
    def _rec(ref: str, debt: Decimal, overdue: dict[str, Decimal] | None,
             contracts: tuple[dict[str, Decimal], set[str] | None]) -> Record:
        limits, banned = contracts
        values: dict[str, Any] = {"Ref_Key": ref, "Долг": _money(debt), "Лимит": None}
        if overdue is not None:
            values["ПросроченныйДолг"] = _money(max(Decimal(0), overdue.get(ref, Decimal(0))))
        if ref in limits:
            values["Лимит"] = _money(limits[ref])
        if banned is not None:
            values["ПросрочкаЗапрещена"] = ref in banned
        version = "|".join(str(values.get(k) or "") for k in ("Долг", "ПросроченныйДолг", "Лимит",
                                                                "ПросрочкаЗапрещена"))
        return Record(id=ref, values=values, version=version)

    async def describe(self, obj: ObjectRef) -> ObjectSchema:
        reg = await self.base.describe(ObjectRef(SETTLEMENTS))
        return ObjectSchema(fields=dict(FIELDS), exists=reg.exists, alternatives=[SETTLEMENTS] if not reg.exists else [])

    async def read_changes(self, obj: ObjectRef, cursor: ChangeCursor, *, overlap_seconds: float,
                           limit: int) -> ChangePage:
        debt, overdue, contracts = await self._read(None)
        bal = {k: v for k, v in debt.items() if v != 0}
        key = self._key(obj)
        before = set((await asyncio.to_thread(self.state.get, key) or {}).get("keys", []))
        recs = [self._rec(k, v, overdue, contracts) for k, v in sorted(bal.items())]
        recs += [self._rec(k, Decimal(0), overdue, contracts) for k in sorted(before - set(bal))]
        return ChangePage(records=recs, cursor=cursor, more=False, ack={"keys": sorted(bal)})

    def _key(self, obj: ObjectRef) -> str:
        """One memory of "non-zero last time" per poller: the company card's entity and the credit rule both poll
        this object, and each must see a debt paid off once."""
        poller = str(obj.options.get("poller") or "")
        return f"{self.key}:{poller}" if poller else self.key

    async def acknowledge(self, obj: ObjectRef, page: ChangePage) -> None:
        keys = (page.ack or {}).get("keys")
        if keys is not None:
            await asyncio.to_thread(self.state.update, self._key(obj), lambda old: ({"keys": keys}, None))

    async def get(self, obj: ObjectRef, record_id: str) -> Record | None:
        debt, overdue, contracts = await self._read(record_id)
        return self._rec(record_id, debt.get(record_id, Decimal(0)), overdue, contracts)

    async def find(self, obj: ObjectRef, criteria: dict[str, Any]) -> list[Record]:
        ref = criteria.get("Ref_Key")
        if ref is None or set(criteria) != {"Ref_Key"}:
            raise ValidationError(f"1C {CREDIT}: look up by Ref_Key only")
        rec = await self.get(obj, str(ref))
        return [rec] if rec else []

    async def exists(self, obj: ObjectRef, criteria: dict[str, Any]) -> bool:
        return bool(await self.find(obj, criteria))

    async def create(self, obj: ObjectRef, values: dict[str, Any]) -> str:
        raise PermanentError("receivables and limits are kept by 1C; b24sync never writes them")

    async def update(self, obj: ObjectRef, record_id: str, values: dict[str, Any], *,
                     expected_version: str | None = None) -> str | None:
        raise PermanentError("receivables and limits are kept by 1C; b24sync never writes them")

    async def aclose(self) -> None:
        return None

"""Balances of the УТ / ERP client settlement registers summed per counterparty — shared by ``counterparty_debt``
(flows/counterparties.py) and ``counterparty_credit`` (flows/receivables.py).

Two readings, chosen per register from the base's ``$metadata`` the first time it is read:

* **analytics key** (УТ 11.5 / ERP 2.5, document-flows.md B.8 [H]): the register's dimension is
  ``АналитикаУчетаПоПартнерам_Key`` → ``Catalog_КлючиАналитикиУчетаПоПартнерам`` (``Партнер_Key``,
  ``Организация_Key``, composite ``Контрагент`` + ``_Type``, composite ``Договор`` + ``_Type``, …), one key per
  partner / organisation / counterparty / contract. The balance is read grouped by the key, the keys it names are
  read with one set read per chunk (``Ref_Key eq a or …``, ``ODataAdapter.find_in``) and cached (a key's
  attributes never change), and the amounts are summed per the key's ``Контрагент`` — B.8 "group by the key's
  Контрагент" [M]. A key whose ``Контрагент`` is not a ``Catalog_Контрагенты`` (an organisation of the same
  holding, settlements between own companies) belongs to no CRM company and is left out. One counterparty's
  balance (``get``) first reads its keys (``Контрагент eq cast(guid'…','Catalog_Контрагенты')``, erp-side.md
  §1.3 composite filter [H]) and passes them to the balance's ``Condition``. The 1C sandbox's ``ut11`` profile
  publishes this reading.
* **counterparty dimension** (a base whose register has ``Контрагент_Key`` instead, e.g. a customised or older
  configuration): the balance is grouped by ``Контрагент_Key`` directly, as before.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from b24sync.engine.ports import ObjectRef

KEYS = "Catalog_КлючиАналитикиУчетаПоПартнерам"
BY_KEY = "АналитикаУчетаПоПартнерам_Key"
BY_COUNTERPARTY = "Контрагент_Key"
COUNTERPARTIES = "Catalog_Контрагенты"
CONDITION_KEYS = 20  # keys per Balance Condition (a counterparty has a few: one per contract and organisation)


class SettlementSums:
    """``await sums(register, resource, condition=None, counterparty=None) -> {counterparty Ref_Key: amount}``."""

    def __init__(self, base: Any) -> None:
        self.base = base  # the system's ODataAdapter
        self._dims: dict[str, str] = {}
        self._owner: dict[str, str] = {}  # analytics key → counterparty Ref_Key ("" = not a counterparty)
        self._lock = asyncio.Lock()

    async def dimension(self, register: str) -> str:
        """``АналитикаУчетаПоПартнерам_Key`` when the register's ``$metadata`` has it, else ``Контрагент_Key``."""
        if register not in self._dims:
            # the dimensions are published on the register's record entity `<set>_RecordType` (erp-side.md §1.3)
            fields: set[str] = set()
            for name in (register, f"{register}_RecordType"):
                schema = await self.base.describe(ObjectRef(name))
                fields |= set(schema.fields) if schema.exists else set()
            self._dims[register] = BY_KEY if BY_KEY in fields else BY_COUNTERPARTY
        return self._dims[register]

    async def sums(self, register: str, resource: str, condition: str | None = None,
                   counterparty: str | None = None) -> dict[str, Decimal]:
        dim = await self.dimension(register)
        if dim == BY_COUNTERPARTY:
            one = f"{BY_COUNTERPARTY} eq guid'{counterparty}'" if counterparty else None
            rows = await self._balance(register, dim, _and(condition, one))
            return _total(rows, dim, resource, lambda k: k)
        if counterparty is None:
            rows = await self._balance(register, dim, condition)
            await self._learn([str(r.get(dim) or "") for r in rows])
            return _total(rows, dim, resource, lambda k: self._owner.get(k, ""))
        keys = await self._keys_of(counterparty)
        rows = []
        for i in range(0, len(keys), CONDITION_KEYS):
            chunk = " or ".join(f"{BY_KEY} eq guid'{k}'" for k in keys[i:i + CONDITION_KEYS])
            rows += await self._balance(register, dim, _and(condition, f"({chunk})"))
        return _total(rows, dim, resource, lambda k: self._owner.get(k, ""))

    async def _balance(self, register: str, dim: str, condition: str | None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"Dimensions": dim}
        if condition:
            params["Condition"] = condition
        return list(await self.base.client.virtual_table(register, "Balance", params))

    async def _learn(self, keys: list[str]) -> None:
        """Read the analytics keys not seen yet — one set read per chunk — and remember their counterparty."""
        async with self._lock:
            new = sorted({k for k in keys if k and k not in self._owner})
            if not new:
                return
            for rec in await self.base.find_in(ObjectRef(KEYS), "Ref_Key", new):
                self._owner[str(rec.values.get("Ref_Key") or rec.id)] = _counterparty(rec.values)
            for k in new:
                self._owner.setdefault(k, "")  # a key the catalogue does not answer: counted for nobody

    async def _keys_of(self, counterparty: str) -> list[str]:
        flt = f"Контрагент eq cast(guid'{counterparty}', '{COUNTERPARTIES}')"
        keys: list[str] = []
        async for row in self.base.client.iter_all(KEYS, filter=flt, key_field="Ref_Key"):
            k = str(row.get("Ref_Key") or "")
            if k and _counterparty(row) == counterparty:
                self._owner[k] = counterparty
                keys.append(k)
        return keys


def _counterparty(values: dict[str, Any]) -> str:
    kind = str(values.get("Контрагент_Type") or "")
    if kind and not kind.endswith(COUNTERPARTIES):
        return ""
    return str(values.get("Контрагент") or "")


def _and(a: str | None, b: str | None) -> str | None:
    return f"{a} and {b}" if a and b else (a or b)


def _total(rows: list[dict[str, Any]], dim: str, resource: str, owner: Any) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for r in rows:
        k = owner(str(r.get(dim) or ""))
        if k:
            out[k] = out.get(k, Decimal(0)) + Decimal(str(r.get(f"{resource}Balance") or 0))
    return out

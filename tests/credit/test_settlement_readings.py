"""Receivables over both readings of the УТ settlement registers (flows/settlements.py, document-flows.md B.8):
the analytics-key reading of УТ 11.5 (the 1C sandbox's ``ut11`` profile) — one counterparty with two keys (two
contracts, two organisations) has the sum of both — and the older ``Контрагент_Key`` dimension, over a base whose
``$metadata`` publishes that."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

from b24sync.connectors.onec.odata.adapter import ODataAdapter
from b24sync.connectors.onec.odata.client import ODataClient
from b24sync.engine.ports import ChangeCursor, ObjectRef, ObjectSchema
from b24sync.flows.counterparties import DEBT, OneCDebt
from b24sync.flows.receivables import CREDIT, OneCCredit
from b24sync.flows.settlements import KEYS
from b24sync.sandbox.onec.sandbox import OneCSandbox

SHIPMENTS = "Document_РеализацияТоваровУслуг"
RECEIPTS = "Document_ПоступлениеБезналичныхДенежныхСредств"
CONTRACTS = "Catalog_ДоговорыКонтрагентов"


class _State:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def update(self, key: str, fn: Any) -> Any:
        self.data[key], out = fn(self.data.get(key))
        return out


def _ship(sb: OneCSandbox, cp: str, partner: str, org: str, amount: float, contract: str | None,
          day: str) -> None:
    extra = {"Договор_Key": contract} if contract else {}
    doc = sb.create(SHIPMENTS, Контрагент_Key=cp, Партнер_Key=partner, Организация_Key=org, СуммаДокумента=amount,
                    Date=day, **extra)
    sb.post(SHIPMENTS, doc["Ref_Key"])


def test_two_analytics_keys_of_one_counterparty_sum_up() -> None:
    sb = OneCSandbox(seed=None)
    url = sb.start()
    try:
        org1 = sb.create("Catalog_Организации", Description="Наша фирма", ИНН="7701234567")["Ref_Key"]
        org2 = sb.create("Catalog_Организации", Description="Наша вторая фирма", ИНН="7701234568")["Ref_Key"]
        partner = sb.create("Catalog_Партнеры", Description="Ромашка")["Ref_Key"]
        cp = sb.create("Catalog_Контрагенты", Description="ООО Ромашка", ИНН="7736207543", Партнер_Key=partner)
        other = sb.create("Catalog_Контрагенты", Description="ООО Лютик", ИНН="6663003127", Партнер_Key=partner)
        c1, c2 = (sb.create(CONTRACTS, Description=f"Договор {n}", Контрагент_Key=cp["Ref_Key"], Партнер_Key=partner,
                            Организация_Key=org1, Статус="Действует")["Ref_Key"] for n in (1, 2))
        _ship(sb, cp["Ref_Key"], partner, org1, 1000, c1, "2026-01-10T10:00:00")
        _ship(sb, cp["Ref_Key"], partner, org1, 2500, c2, "2099-01-10T10:00:00")  # not due yet
        _ship(sb, cp["Ref_Key"], partner, org2, 400, None, "2026-01-12T10:00:00")  # another organisation
        _ship(sb, other["Ref_Key"], partner, org1, 70, None, "2026-01-12T10:00:00")
        _ship(sb, cp["Ref_Key"], partner, org1, 300, c1, "2026-01-15T10:00:00")  # the c1 key again: reused
        keys = [k for k in sb.find(KEYS) if k["Контрагент"] == cp["Ref_Key"]]
        assert len(keys) == 3 and len({k["Ref_Key"] for k in keys}) == 3, keys
        pay = sb.create(RECEIPTS, Контрагент_Key=cp["Ref_Key"], Организация_Key=org1, СуммаДокумента=200,
                        НомерВходящегоДокумента="17", ДатаВходящегоДокумента="2026-01-20T00:00:00",
                        РасшифровкаПлатежа=[{"LineNumber": 1, "Сумма": 200, "Договор_Key": c2}])
        sb.post(RECEIPTS, pay["Ref_Key"])

        async def main() -> None:
            base = ODataAdapter("onec", ODataClient(url, username="odata", password="secret"))
            try:
                debt = OneCDebt(base, "onec", _State())
                page = await debt.read_changes(ObjectRef(DEBT), ChangeCursor(), overlap_seconds=0, limit=100)
                got = {r.id: r.values["Долг"] for r in page.records}
                assert got == {cp["Ref_Key"]: "4000.00", other["Ref_Key"]: "70.00"}
                one = await debt.get(ObjectRef(DEBT), cp["Ref_Key"])
                assert one is not None and one.values["Долг"] == "4000.00"
                credit = OneCCredit(base, "onec", _State())
                rec = await credit.get(ObjectRef(CREDIT), cp["Ref_Key"])
                # overdue: 1000 + 400 + 300 due before today, the 200 paid closes the oldest first
                assert rec is not None and (rec.values["Долг"], rec.values["ПросроченныйДолг"]) == ("4000.00",
                                                                                                   "1500.00")
                page = await credit.read_changes(ObjectRef(CREDIT), ChangeCursor(), overlap_seconds=0, limit=100)
                assert {r.id: (r.values["Долг"], r.values["ПросроченныйДолг"]) for r in page.records} == {
                    cp["Ref_Key"]: ("4000.00", "1500.00"), other["Ref_Key"]: ("70.00", "70.00")}
            finally:
                await base.aclose()

        asyncio.run(main())
    finally:
        sb.stop()


class _OldBase:
    """A base whose settlement registers carry a ``Контрагент_Key`` dimension (no analytics key) in ``$metadata``."""

    def __init__(self, rows: dict[str, list[dict[str, Any]]]) -> None:
        self.rows = rows
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.client = self

    async def describe(self, obj: ObjectRef) -> ObjectSchema:
        name = obj.object.removesuffix("_RecordType")
        if name in self.rows:
            return ObjectSchema(fields={"Recorder": "Edm.String", "Контрагент_Key": "Edm.Guid",
                                        "Period": "Edm.DateTime"}, exists=True)
        return ObjectSchema(exists=False)

    async def virtual_table(self, register: str, function: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        self.calls.append((register, dict(params)))
        cond = str(params.get("Condition") or "")
        return [r for r in self.rows[register] if "Контрагент_Key eq" not in cond
                or f"guid'{r['Контрагент_Key']}'" in cond]

    async def find_in(self, *a: Any, **k: Any) -> Any:
        raise AssertionError("the old reading reads no analytics keys")

    async def iter_all(self, entity_set: str, **k: Any) -> Any:
        if entity_set == KEYS:
            raise AssertionError("the old reading reads no analytics keys")
        return
        yield


def test_the_older_counterparty_dimension_is_grouped_directly() -> None:
    a, b = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
    base = _OldBase({
        "AccumulationRegister_РасчетыСКлиентами": [
            {"Контрагент_Key": a, "ЗаказКлиента_Key": "x", "СуммаBalance": 100},
            {"Контрагент_Key": a, "ЗаказКлиента_Key": "y", "СуммаBalance": 50.5},
            {"Контрагент_Key": b, "ЗаказКлиента_Key": "x", "СуммаBalance": 7}],
        "AccumulationRegister_РасчетыСКлиентамиПоСрокам": [{"Контрагент_Key": a, "ДолгBalance": 30}]})

    async def main() -> None:
        debt = OneCDebt(base, "onec", _State())
        page = await debt.read_changes(ObjectRef(DEBT), ChangeCursor(), overlap_seconds=0, limit=100)
        assert {r.id: r.values["Долг"] for r in page.records} == {a: "150.50", b: "7.00"}
        assert base.calls[-1] == ("AccumulationRegister_РасчетыСКлиентами", {"Dimensions": "Контрагент_Key"})
        base.calls.clear()
        rec = await OneCCredit(base, "onec", _State()).get(ObjectRef(CREDIT), a)
        assert rec is not None and (rec.values["Долг"], rec.values["ПросроченныйДолг"]) == ("150.50", "30.00")
        today = date.today().isoformat()
        assert sorted(base.calls) == [
            ("AccumulationRegister_РасчетыСКлиентами", {"Dimensions": "Контрагент_Key",
                                                        "Condition": f"Контрагент_Key eq guid'{a}'"}),
            ("AccumulationRegister_РасчетыСКлиентамиПоСрокам", {
                "Dimensions": "Контрагент_Key",
                "Condition": f"ДатаПлановогоПогашения lt datetime'{today}T00:00:00' and Контрагент_Key eq guid'{a}'"})]

    asyncio.run(main())

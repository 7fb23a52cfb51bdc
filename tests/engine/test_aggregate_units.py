"""The pure parts of sums over documents: nested paths, the Russian money text, the numbers a payment purpose
names, the dedupe key, and the effects ledger's once-protocol (pending → lookup → done)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from b24sync.engine import effects, paths
from b24sync.engine.aggregate import _key, money, purpose_numbers, ru_date
from b24sync.spec.models import Aggregate


def test_nested_paths_read_rows_and_header_and_treat_erp_empties_as_empty() -> None:
    doc = {"Number": "1", "Контрагент": {"ИНН": "7707083893"}, "РасшифровкаПлатежа": [
        {"ОснованиеПлатежа": paths.EMPTY_REF, "Сумма": 1}, {"ОснованиеПлатежа": "abc", "Сумма": 2}]}
    row = doc["РасшифровкаПлатежа"][1]
    assert paths.get(doc, "РасшифровкаПлатежа.Сумма", row=row, rows="РасшифровкаПлатежа") == 2
    assert paths.get(doc, "Контрагент.ИНН") == "7707083893"
    assert paths.first(doc, ["РасшифровкаПлатежа.ОснованиеПлатежа", "Number"],
                       row=doc["РасшифровкаПлатежа"][0], rows="РасшифровкаПлатежа") == ("Number", "1")
    assert paths.sibling("Товары.ЗаказКлиента_Key", "_Type") == "Товары.ЗаказКлиента_Type"
    assert all(paths.empty(v) for v in (None, "", paths.EMPTY_REF, paths.EMPTY_DATE, []))


@pytest.mark.parametrize(("amount", "text"), [("150000", "150 000 ₽"), ("1428.5", "1 428,50 ₽"), ("0.01", "0,01 ₽"),
                                               ("-97500", "−97 500 ₽"), ("1234567.891", "1 234 567,89 ₽")])
def test_money_in_russian(amount: str, text: str) -> None:
    assert money(Decimal(amount)) == text


def test_ru_date() -> None:
    assert ru_date("2026-03-12") == "12.03.2026" and ru_date(None) == "—"


@pytest.mark.parametrize(("purpose", "numbers"), [
    ("Оплата по счету № 00УТ-000012 от 10.03.2026, в т.ч. НДС 22%", ["00УТ-000012"]),
    ("Оплата по сч.15 от 01.11.2026", ["15"]),
    ("оплата по счетам №12 и сч. 14", ["12", "14"]),
    ("Оплата заказа ЦБ00-000007", ["ЦБ00-000007"]),
    ("Оплата по договору 15/3", []),
    ("Invoice #A-5 payment", ["A-5"]),
    ("", []),
])
def test_purpose_numbers(purpose: str, numbers: list[str]) -> None:
    assert purpose_numbers(purpose) == numbers


def test_dedupe_key_ignores_leading_zeros_and_time_of_day() -> None:
    agg = Aggregate(amount="Сумма", key=["НомерВходящегоДокумента", "ДатаВходящегоДокумента", "Контрагент_Key"],
                    targets=[{"via": "order"}])
    a = _key(agg, {"НомерВходящегоДокумента": "000245", "ДатаВходящегоДокумента": "2026-03-12T00:00:00",
                   "Контрагент_Key": "k"})
    b = _key(agg, {"НомерВходящегоДокумента": "245", "ДатаВходящегоДокумента": "12.03.2026", "Контрагент_Key": "k"})
    assert a == b == "245|2026-03-12|K"
    assert _key(agg, {}) is None


def test_effects_once_protocol(tmp_path: Path) -> None:
    from b24sync.engine.service import open_store

    class Rt:
        db = open_store(f"sqlite:///{tmp_path / 's.db'}")

    rt = Rt()
    calls: list[str] = []

    async def main() -> None:
        async def do() -> str:
            calls.append("do")
            return "1"

        async def nothing() -> None:
            return None

        assert await effects.once(rt, "k1", do, nothing) is True
        assert await effects.once(rt, "k1", do, nothing) is False  # done: never again
        assert calls == ["do"]

        async def boom() -> str:
            calls.append("boom")
            raise RuntimeError("answer lost")

        with pytest.raises(RuntimeError):
            await effects.once(rt, "k2", boom, nothing)
        assert effects.state(rt, "k2")[0] == "pending"

        async def found() -> str:
            return "77"  # the lookup finds what the lost call wrote

        assert await effects.once(rt, "k2", do, found) is False
        assert effects.state(rt, "k2")[:2] == ("done", "77")
        assert calls == ["do", "boom"]

    asyncio.run(main())


@pytest.mark.parametrize("bad", ["1 5OO,00", "NaN", "Infinity", "12.3.4", "∞"])
def test_an_amount_that_is_not_a_number_is_a_clear_error(bad: str) -> None:
    from b24sync.engine.aggregate import _dec
    from b24sync.engine.errors import PermanentError

    with pytest.raises(PermanentError) as e:
        _dec(bad, field="Сумма", this="245")
    assert "не число" in str(e.value.reason) and "245" in str(e.value.reason)


def test_amounts_with_spaces_and_commas_are_read() -> None:
    from b24sync.engine.aggregate import _dec

    assert _dec("1 428,50", field="Сумма", this="1") == Decimal("1428.50")
    assert _dec(None, field="Сумма", this="1") == 0

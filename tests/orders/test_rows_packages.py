"""Packages of another size than the base unit (issue 10, `rows.unit.factor`): a deal row of 2 «упак» (a package of
10 шт) is an УТ row with `Упаковка_Key` = that package, `КоличествоУпаковок` = 2, `Количество` = 20 (base units),
`Цена` per package; and back. Both readings of where 1C keeps the coefficient: the packaging record's
`Числитель / Знаменатель` (УТ 11.5, what the sandbox has) or a row column (`Коэффициент`, БП-style rows)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from b24sync.engine.rows import to_crm, to_erp
from b24sync.spec.models import Rows

KOP, QTY = Decimal("0.01"), Decimal("0.001")
VIA = {"object": "Catalog_УпаковкиЕдиницыИзмерения", "where": {"ЕдиницаПоКлассификатору_Key": "{unit}"}}
CATALOG = Rows.model_validate({"unit": {"erp": "Упаковка_Key", "packages": "КоличествоУпаковок",
                                        "lookup": {"via": VIA}, "factor": {}}})
ROW_COLUMN = Rows.model_validate({"unit": {"erp": "ЕдиницаИзмерения_Key", "table": {"778": "pack"},
                                           "factor": {"row": "Коэффициент"}}})


def _crm(pid: str = "1", qty: float = 2, price: float = 1220, code: int = 778) -> dict:
    return {"PRODUCT_ID": pid, "PRODUCT_NAME": "Кабель", "PRICE": price, "QUANTITY": qty, "TAX_RATE": 22,
            "TAX_INCLUDED": "Y", "MEASURE_CODE": code}


def _res(entity: str, side: str, v: str) -> str | None:
    return {"crm": {"1": "g-1"}, "erp": {"g-1": "1"}}[side].get(v)


def test_a_package_of_ten_is_twenty_base_units_in_1c_and_two_packages_back() -> None:
    out, total = to_erp(CATALOG, [_crm()], _res, None, {"778": "pack-10"}, factors={"pack-10": Decimal(10)})
    (r,) = out
    assert (r["Упаковка_Key"], r["КоличествоУпаковок"], r["Количество"], r["Цена"], r["Сумма"]) == (
        "pack-10", 2, 20, 1220, 2440)
    assert total == 2440
    back, missing, problems = to_crm(CATALOG, out, _res, None, {"pack-10": ("778", "упак")},
                                     factors={"pack-10": Decimal(10)})
    assert not missing and not problems
    assert [(b["QUANTITY"], b["PRICE"], b["MEASURE_CODE"]) for b in back] == [(2, 1220, 778)]
    # 1C gives only the base quantity (no package count on the row): ÷ the coefficient
    only_base = [{k: v for k, v in r.items() if k != "КоличествоУпаковок"}]
    back, _, _ = to_crm(CATALOG, only_base, _res, None, {"pack-10": ("778", "упак")}, factors={"pack-10": Decimal(10)})
    assert back[0]["QUANTITY"] == 2


def test_the_coefficient_from_a_row_column_wins_and_is_written_with_the_row() -> None:
    out, _ = to_erp(ROW_COLUMN, [_crm(qty=3)], _res, None, {"778": "pack"}, factors={"pack": Decimal(12)})
    assert (out[0]["Количество"], out[0]["Коэффициент"]) == (36, 12)
    row = {**out[0], "Коэффициент": 6, "Количество": 18}  # 1C's row says its own coefficient
    back, _, _ = to_crm(ROW_COLUMN, [row], _res, None, {"pack": ("778", "упак")}, factors={"pack": Decimal(12)})
    assert back[0]["QUANTITY"] == 3


def test_a_factor_without_its_source_is_refused() -> None:
    with pytest.raises(ValueError, match="lookup.via"):
        Rows.model_validate({"unit": {"table": {"778": "p"}, "factor": {}}})


@settings(max_examples=300, deadline=None)
@given(num=st.integers(1, 1000), den=st.sampled_from([1, 1, 2, 3, 4, 10]), packs=st.integers(1, 500),
       cents=st.integers(1, 5_000_000), reading=st.sampled_from(["catalog", "row"]))
def test_round_trip_crm_erp_crm_keeps_the_quantity_and_the_amount(num: int, den: int, packs: int, cents: int,
                                                                   reading: str) -> None:
    """CRM rows in packages → ERP rows (base units × Числитель/Знаменатель) → CRM rows: the same quantity in the same
    unit, the same amount to the kopeck; 1C's base quantity is packages × coefficient at three decimals. Without a
    package-count column (the row reading here) the count is the base quantity ÷ k, exact for packages of at least
    one base unit (k ≥ 1: the three-decimal rounding of 1C's quantity is undone by the division)."""
    k = Decimal(num) / Decimal(den)
    assume(reading == "catalog" or k >= 1)
    spec, unit = (CATALOG, "pack") if reading == "catalog" else (ROW_COLUMN, "pack")
    price = float(Decimal(cents) / 100)
    out, total = to_erp(spec, [_crm(qty=packs, price=price)], _res, None, {"778": unit}, factors={unit: k})
    (r,) = out
    assert Decimal(str(r["Количество"])) == (packs * k).quantize(QTY, ROUND_HALF_UP)
    back, missing, problems = to_crm(spec, out, _res, None, {unit: ("778", "упак")}, factors={unit: k})
    assert not missing and not problems
    assert sum(Decimal(str(b["QUANTITY"])) for b in back) == packs
    assert {b["MEASURE_CODE"] for b in back} == {778}
    assert sum((Decimal(str(b["PRICE"])) * Decimal(str(b["QUANTITY"]))).quantize(KOP, ROUND_HALF_UP)
               for b in back) == total

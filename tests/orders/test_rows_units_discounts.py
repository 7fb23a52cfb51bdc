"""Units of measure and row discounts, both directions (engine/rows.py): the Bitrix24 row's OKEI code
(``MEASURE_CODE``/``MEASURE_NAME``) ⇄ the ERP's unit reference through the spec's table; the row discount
(``DISCOUNT_TYPE_ID``, ``DISCOUNT_RATE``, ``DISCOUNT_SUM`` per unit before tax) ⇄ УТ's ``ПроцентРучнойСкидки`` /
``СуммаРучнойСкидки`` with ``Цена`` the list price — Decimal, half-up, row-exact (Сумма = Цена × Количество −
СуммаРучнойСкидки on every row; the CRM rows' PRICE × QUANTITY add up to each ERP row's Сумма to the kopeck)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b24sync.engine.errors import HoldError
from b24sync.engine.rows import okei, to_crm, to_erp
from b24sync.spec.models import Rows

KOP = Decimal("0.01")
ITEMS = {"1": "g-1", "2": "g-2"}
BACK = {v: k for k, v in ITEMS.items()}
UNITS = {"796": "u-pcs", "006": "u-m", "166": "u-kg"}
SPEC = Rows.model_validate({
    "money": {"discount": {}},
    "unit": {"erp": "ЕдиницаИзмерения_Key", "table": {"796": "u-pcs", "6": "u-m", "166": "u-kg"},
             "names": {"796": "шт", "006": "м", "166": "кг"}},
})


def _to_erp_resolve(entity: str, side: str, pid: str) -> str | None:
    return ITEMS.get(pid)


def _to_crm_resolve(entity: str, side: str, item: str) -> str | None:
    return BACK.get(item)


def _row(pid="1", price=100, qty=1, rate=22, incl="Y", dtype=None, drate=None, dsum=None, measure=796, name="Товар"):  # type: ignore[no-untyped-def]
    r = {"PRODUCT_ID": pid, "PRODUCT_NAME": name, "PRICE": price, "QUANTITY": qty, "TAX_RATE": rate,
         "TAX_INCLUDED": incl, "MEASURE_CODE": measure}
    for k, v in (("DISCOUNT_TYPE_ID", dtype), ("DISCOUNT_RATE", drate), ("DISCOUNT_SUM", dsum)):
        if v is not None:
            r[k] = v
    return r


def _units(rows) -> dict:  # type: ignore[no-untyped-def]
    return {okei(r.get("MEASURE_CODE")): UNITS.get(okei(r.get("MEASURE_CODE")) or "") for r in rows}


def _d(v) -> Decimal:  # type: ignore[no-untyped-def]
    return Decimal(str(v))


def test_units_okei_code_to_the_erp_unit_and_back() -> None:
    rows = [_row(measure=796), _row(measure=6), _row(measure="166")]
    out, _ = to_erp(SPEC, rows, _to_erp_resolve, None, _units(rows))
    assert [r["ЕдиницаИзмерения_Key"] for r in out] == ["u-pcs", "u-m", "u-kg"]
    back, missing, problems = to_crm(SPEC, out, _to_crm_resolve, None,
                                     {"u-pcs": ("796", "шт"), "u-m": ("006", "м"), "u-kg": ("166", "кг")})
    assert not missing and not problems
    assert [(r["MEASURE_CODE"], r["MEASURE_NAME"]) for r in back] == [(796, "шт"), (6, "м"), (166, "кг")]


def test_units_unknown_unit_holds_naming_the_row_or_is_left_out() -> None:
    rows = [_row(measure=112, name="Литры")]
    with pytest.raises(HoldError, match="«Литры» — единица измерения 112 не найдена"):
        to_erp(SPEC, rows, _to_erp_resolve, None, {"112": None})
    omit = Rows.model_validate({**SPEC.model_dump(), "unit": {**SPEC.unit.model_dump(), "unknown": "omit"}})  # type: ignore[union-attr]
    out, _ = to_erp(omit, rows, _to_erp_resolve, None, {"112": None})
    assert "ЕдиницаИзмерения_Key" not in out[0]


def test_discount_percent_goes_into_the_manual_discount_columns_with_the_list_price() -> None:
    # Bitrix24: 10 % off a list price of 122.00 with VAT → PRICE 109.80, DISCOUNT_SUM 10.00 per unit before tax
    out, total = to_erp(SPEC, [_row(price=109.8, qty=3, dtype=2, drate=10, dsum=10)], _to_erp_resolve, None,
                        {"796": "u-pcs"})
    r = out[0]
    assert (r["Цена"], r["Количество"], r["Сумма"], r["ПроцентРучнойСкидки"], r["СуммаРучнойСкидки"]) == (
        122, 3, 329.4, 10, 36.6)
    assert r["СуммаНДС"] == 59.4 and total == Decimal("329.40")


def test_discount_percent_without_the_portals_sum_is_derived_from_the_rate() -> None:
    out, _ = to_erp(SPEC, [_row(price=90, qty=1, rate=None, incl="N", dtype=2, drate=10)], _to_erp_resolve, None,
                    {"796": "u-pcs"})
    assert (out[0]["Цена"], out[0]["Сумма"], out[0]["СуммаРучнойСкидки"]) == (100, 90, 10)


def test_discount_absolute_gives_the_percent_it_makes() -> None:
    out, _ = to_erp(SPEC, [_row(price=95, qty=2, rate=None, dtype=1, dsum=5)], _to_erp_resolve, None,
                    {"796": "u-pcs"})
    assert (out[0]["Цена"], out[0]["Сумма"], out[0]["СуммаРучнойСкидки"], out[0]["ПроцентРучнойСкидки"]) == (
        100, 190, 10, 5)


def test_discount_not_declared_sends_the_net_price_as_before() -> None:
    out, _ = to_erp(Rows(), [_row(price=109.8, qty=3, dtype=2, drate=10, dsum=10)], _to_erp_resolve, None)
    assert out[0]["Цена"] == 109.8 and "СуммаРучнойСкидки" not in out[0]


def test_erp_rows_to_crm_rows_row_exact_split_when_the_sum_does_not_divide() -> None:
    erp = [{"LineNumber": 1, "Номенклатура_Key": "g-1", "Количество": 3, "Цена": 33.34, "Сумма": 100,
            "СуммаРучнойСкидки": 0.02, "ПроцентРучнойСкидки": 0, "СтавкаНДС": "НДС22", "ЕдиницаИзмерения_Key": "u-pcs"}]
    back, _, _ = to_crm(SPEC, erp, _to_crm_resolve, None, {"u-pcs": ("796", "шт")})
    assert [(r["QUANTITY"], r["PRICE"]) for r in back] == [(2, 33.33), (1, 33.34)]
    assert sum(_d(r["PRICE"]) * _d(r["QUANTITY"]) for r in back) == Decimal(100)
    assert back[0]["DISCOUNT_TYPE_ID"] == 1 and back[0]["DISCOUNT_SUM"] == 0.01  # 0.01 gross = 0.0082 net → 0.01


def test_erp_rows_to_crm_unlinked_items_and_unknown_rates_are_reported() -> None:
    erp = [{"LineNumber": 1, "Номенклатура_Key": "g-9", "Количество": 1, "Цена": 1, "Сумма": 1, "СтавкаНДС": "НДС22"},
           {"LineNumber": 2, "Номенклатура_Key": "g-1", "Количество": 1, "Цена": 1, "Сумма": 1, "СтавкаНДС": "НДС18"},
           {"LineNumber": 3, "Номенклатура_Key": "g-1", "Количество": 1, "Цена": 1, "Сумма": 1, "СтавкаНДС": "НДС22",
            "Отменено": True}]
    back, missing, problems = to_crm(SPEC, erp, _to_crm_resolve, None, {})
    assert back == [] and missing == ["g-9"] and len(problems) == 1 and "НДС18" in problems[0]


@settings(max_examples=300, deadline=None)
@given(cents=st.integers(1, 10_000_000), qty=st.integers(1, 500), pct=st.sampled_from([0, 0, 5, 7.5, 10, 33]),
       vat=st.sampled_from(["22", "10", "0", ""]))
def test_round_trip_erp_crm_erp_keeps_every_rows_sum_to_the_kopeck(cents: int, qty: int, pct: float, vat: str) -> None:
    """A 1C row (list price, manual discount) → CRM rows → ERP rows: the amounts add up to the same Сумма, the
    VAT to the same rate, and every ERP row keeps Сумма = Цена × Количество − СуммаРучнойСкидки."""
    price = Decimal(cents) / 100
    gross = (price * qty).quantize(KOP, ROUND_HALF_UP)
    disc = (gross * Decimal(str(pct)) / 100).quantize(KOP, ROUND_HALF_UP)
    amount = gross - disc
    rate_erp = SPEC.money.vat_rates[vat]
    erp = [{"LineNumber": 1, "Номенклатура_Key": "g-1", "Количество": qty, "Цена": float(price),
            "Сумма": float(amount), "СуммаРучнойСкидки": float(disc), "ПроцентРучнойСкидки": pct,
            "СтавкаНДС": rate_erp, "ЕдиницаИзмерения_Key": "u-pcs"}]
    crm, missing, problems = to_crm(SPEC, erp, _to_crm_resolve, None, {"u-pcs": ("796", "шт")})
    assert not missing and not problems
    assert sum((_d(r["PRICE"]) * _d(r["QUANTITY"])).quantize(KOP, ROUND_HALF_UP) for r in crm) == amount
    again, total = to_erp(SPEC, crm, _to_erp_resolve, None, {"796": "u-pcs"})
    assert total == amount
    for r in again:
        assert r["СтавкаНДС"] == rate_erp and r["ЕдиницаИзмерения_Key"] == "u-pcs"
        assert _d(r["Сумма"]) == (_d(r["Цена"]) * _d(r["Количество"])).quantize(KOP, ROUND_HALF_UP) - _d(
            r["СуммаРучнойСкидки"])
        assert _d(r["СуммаРучнойСкидки"]) >= 0


@settings(max_examples=300, deadline=None)
@given(cents=st.integers(1, 1_000_000), qty=st.integers(1, 200), drate=st.sampled_from([0, 3, 10, 25, 50]),
       vat=st.sampled_from([22, 10, 0, None]), incl=st.sampled_from(["Y", "N"]))
def test_crm_rows_to_erp_and_back_keep_the_amount(cents: int, qty: int, drate: int, vat, incl: str) -> None:  # type: ignore[no-untyped-def]
    price = float(Decimal(cents) / 100)
    rows = [_row(price=price, qty=qty, rate=vat, incl=incl, dtype=2, drate=drate)]
    out, total = to_erp(SPEC, rows, _to_erp_resolve, None, {"796": "u-pcs"})
    r = out[0]
    assert _d(r["Сумма"]) == (_d(r["Цена"]) * qty).quantize(KOP, ROUND_HALF_UP) - _d(r["СуммаРучнойСкидки"])
    back, _, _ = to_crm(SPEC, out, _to_crm_resolve, None, {"u-pcs": ("796", "шт")})
    assert sum((_d(b["PRICE"]) * _d(b["QUANTITY"])).quantize(KOP, ROUND_HALF_UP) for b in back) == _d(r["Сумма"])

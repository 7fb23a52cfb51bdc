"""VAT per line, rounded to kopecks, document VAT = sum of rounded lines (fact sheet erp-side.md §10.1)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from b24sync.connectors.kontur_buh.money import (
    Line,
    VatRate,
    check_rate_for_date,
    general_rate_for,
    invoice_totals,
    line_amounts,
)
from b24sync.engine.errors import ValidationError

D = Decimal


def test_22_percent_inside_price():
    a = line_amounts(Line.of("Услуга", 1, "1000", 22), vat_included=True)
    assert (a.total, a.vat, a.net) == (D("1000.00"), D("180.33"), D("819.67"))  # 1000·22/122 = 180.3278…


def test_fact_sheet_example_20_percent_2025():
    # 136 375 × 20/120 = 22 729.17 (fact sheet §10.1, public BP dump)
    a = line_amounts(Line.of("Товар", 1, 136375, "НДС20"), vat_included=True)
    assert a.vat == D("22729.17")


def test_mixed_rates_exact_to_the_kopeck():
    lines = [
        Line.of("Молоко", 3, "89.90", "10%"),  # 269.70 · 10/110 = 24.518… → 24.52
        Line.of("Услуга", 2, "1499.99", 22),  # 2999.98 · 22/122 = 540.9800 → 540.98
        Line.of("Экспорт", 1, 5000, 0),
        Line.of("Книга", 4, "250.25", "без НДС"),
    ]
    t = invoice_totals(lines, vat_included=True)
    assert t.total == D("9270.68")
    assert t.vat == D("565.50")
    assert t.net == D("8705.18")
    assert t.vat_by_rate == {"10": D("24.52"), "22": D("540.98"), "0": D("0.00"), "none": D("0.00")}


def test_per_line_rounding_differs_from_total_rounding():
    lines = [Line.of(f"Мелочь {i}", 1, "0.10", 22) for i in range(3)]
    t = invoice_totals(lines, vat_included=True)
    assert t.vat == D("0.06")  # 3 × round(0.10·22/122 = 0.018) = 3 × 0.02, not round(0.30·22/122) = 0.05


def test_vat_on_top_and_simplified_rates():
    a = line_amounts(Line.of("Болт", 7, "33.33", 22), vat_included=False)
    assert (a.net, a.vat, a.total) == (D("233.31"), D("51.33"), D("284.64"))
    assert line_amounts(Line.of("УСН", 1, 10000, 5), vat_included=True).vat == D("476.19")
    assert line_amounts(Line.of("УСН", 1, 10000, "7"), vat_included=False).vat == D("700.00")


def test_rate_parsing_and_dates():
    assert VatRate.parse("0.22") is VatRate.VAT22
    assert VatRate.parse("НДС10") is VatRate.VAT10
    assert VatRate.parse("Без НДС") is VatRate.NONE
    assert VatRate.VAT22.onec_code == "НДС22" and VatRate.NONE.onec_code == "БезНДС"
    for bad in ("18", "abc", None):
        with pytest.raises(ValidationError):
            VatRate.parse(bad)
    assert general_rate_for(date(2025, 12, 31)) is VatRate.VAT20
    assert general_rate_for(date(2026, 1, 1)) is VatRate.VAT22
    check_rate_for_date(VatRate.VAT20, date(2025, 6, 1))  # a 2025 document keeps 20 %
    with pytest.raises(ValidationError):
        check_rate_for_date(VatRate.VAT22, date(2025, 12, 31))
    with pytest.raises(ValidationError):
        check_rate_for_date(VatRate.VAT20, date(2026, 2, 1))
    with pytest.raises(ValidationError):
        Line.of("x", 0, 1, 22)
    assert Line.of("x", 0.1, 0.3, 22).price == D("0.3")  # floats go through their shortest repr


money = st.decimals(min_value=D("0.01"), max_value=D("1000000"), places=2)
qty = st.decimals(min_value=D("0.001"), max_value=D("1000"), places=3)
rates = st.sampled_from(list(VatRate))


@given(st.lists(st.tuples(qty, money, rates), min_size=1, max_size=15), st.booleans())
def test_totals_properties(rows, included):
    lines = [Line.of(f"l{i}", q, p, r) for i, (q, p, r) in enumerate(rows)]
    t = invoice_totals(lines, vat_included=included)
    assert t.total == t.net + t.vat
    assert sum(t.vat_by_rate.values(), D(0)) == t.vat
    for ln, a in zip(lines, t.lines, strict=True):
        assert a.total == a.net + a.vat and a.vat >= 0
        assert a.vat.as_tuple().exponent == -2
    # the sum of rounded lines stays within half a kopeck per line of the exact (unrounded) VAT
    exact = D(0)
    for ln in lines:
        amount = (ln.quantity * ln.price).quantize(D("0.01"), rounding="ROUND_HALF_UP")
        r = ln.vat_rate.percent or D(0)
        exact += amount * r / (100 + r) if included else amount * r / 100
    assert abs(t.vat - exact) <= D("0.005") * len(lines)

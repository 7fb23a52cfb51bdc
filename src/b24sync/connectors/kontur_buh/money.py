"""VAT rates and invoice totals with ``Decimal``, rounded per line as 1C and Russian accounting software do.

Fact sheet /work/shared/research/erp-side.md §10.1:

* Rates in 2026: **22 %** general (from 2026-01-01, law 425-ФЗ; 20 % before), **10 %** reduced, **0 %**,
  «Без НДС»; УСН payers may apply **5 %** / **7 %** (no input-VAT deduction). Calculated rates 22/122, 20/120, 10/110.
* Historical documents keep their rate: a document dated 2025 must not be "upgraded" from 20 % to 22 %.
* VAT is computed **per line and rounded to kopecks** (price includes VAT: amount·r/(100+r); excludes: amount·r/100);
  the document VAT is the **sum of the rounded lines** — it can differ by kopecks from VAT on the total.
  Example from the sheet: 136 375 × 20/120 = 22 729.17.

Rounding mode: half up (away from zero at .5), the usual commercial rounding of 1C's ``Окр``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import Enum

from b24sync.engine.errors import ValidationError

KOPECK = Decimal("0.01")
GENERAL_RATE_22_FROM = date(2026, 1, 1)


class VatRate(str, Enum):
    VAT22 = "22"
    VAT20 = "20"  # documents dated before 2026-01-01
    VAT10 = "10"
    VAT7 = "7"  # УСН special rate
    VAT5 = "5"  # УСН special rate
    VAT0 = "0"
    NONE = "none"  # «Без НДС»

    @property
    def percent(self) -> Decimal | None:
        return None if self is VatRate.NONE else Decimal(self.value)

    @property
    def onec_code(self) -> str:
        """1C БП enumeration value (fact sheet §10.1): НДС22, НДС10, НДС0, БезНДС, ..."""
        return "БезНДС" if self is VatRate.NONE else f"НДС{self.value}"

    @property
    def label(self) -> str:
        return "Без НДС" if self is VatRate.NONE else f"{self.value}%"

    @classmethod
    def parse(cls, value: object) -> VatRate:
        """Accepts 22, "22", "22%", "0.22", "НДС22", "VAT22", "без НДС", "none", None (= без НДС is NOT assumed)."""
        if isinstance(value, VatRate):
            return value
        if value is None:
            raise ValidationError("Не указана ставка НДС.")
        s = str(value).strip().lower().replace(" ", "").replace("%", "")
        if s in ("none", "безндс", "без", "novat", "-", "exempt"):
            return cls.NONE
        for prefix in ("ндс", "vat"):
            if s.startswith(prefix):
                s = s[len(prefix):]
        try:
            d = Decimal(s.replace(",", "."))
        except InvalidOperation:
            raise ValidationError(f"Неизвестная ставка НДС: {value!r}.") from None
        if Decimal(0) < d < 1:  # a fraction, e.g. 0.22 as Bitrix24 sometimes stores it
            d = d * 100
        for rate in cls:
            if rate.percent is not None and rate.percent == d:
                return rate
        raise ValidationError(f"Ставка НДС {value!r} не поддерживается (22, 20, 10, 7, 5, 0, без НДС).")


def general_rate_for(doc_date: date) -> VatRate:
    """The general rate in force on ``doc_date``: 22 % from 2026-01-01, 20 % before."""
    return VatRate.VAT22 if doc_date >= GENERAL_RATE_22_FROM else VatRate.VAT20


def check_rate_for_date(rate: VatRate, doc_date: date) -> None:
    """Reject 22 % before 2026 and 20 % from 2026 (a 2025 document keeps 20 %; a 2026 one must not use 20 %)."""
    if rate is VatRate.VAT22 and doc_date < GENERAL_RATE_22_FROM:
        raise ValidationError(f"Ставка 22% действует с 01.01.2026; документ от {doc_date:%d.%m.%Y} — 20%.")
    if rate is VatRate.VAT20 and doc_date >= GENERAL_RATE_22_FROM:
        raise ValidationError(f"С 01.01.2026 общая ставка 22%; в документе от {doc_date:%d.%m.%Y} указано 20%.")


def to_decimal(value: object, what: str) -> Decimal:
    if isinstance(value, float):
        value = repr(value)  # shortest repr: 0.1 → "0.1", never 0.1000000000000000055…
    try:
        d = Decimal(str(value).strip().replace(",", ".").replace("\u00a0", "").replace(" ", ""))
    except InvalidOperation:
        raise ValidationError(f"{what}: {value!r} — не число.") from None
    if not d.is_finite():
        raise ValidationError(f"{what}: {value!r} — не число.")
    return d


def kop(d: Decimal) -> Decimal:
    return d.quantize(KOPECK, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Line:
    name: str
    quantity: Decimal
    price: Decimal
    vat_rate: VatRate
    unit: str = "796"  # OKEI code (штука), fact sheet §10.2
    sku: str | None = None

    @classmethod
    def of(cls, name: str, quantity: object, price: object, vat_rate: object, unit: str = "796",
           sku: str | None = None) -> Line:
        q, p = to_decimal(quantity, "Количество"), to_decimal(price, "Цена")
        if q <= 0:
            raise ValidationError(f"Количество в строке «{name}» должно быть больше нуля.")
        if p < 0:
            raise ValidationError(f"Цена в строке «{name}» не может быть отрицательной.")
        return cls(name=name, quantity=q, price=p, vat_rate=VatRate.parse(vat_rate), unit=str(unit).strip(),
                   sku=sku)


@dataclass(frozen=True)
class LineAmounts:
    net: Decimal  # без НДС
    vat: Decimal
    total: Decimal  # с НДС


def line_amounts(line: Line, *, vat_included: bool) -> LineAmounts:
    """One line, rounded to kopecks: the amount first, then VAT from the rounded amount (fact sheet §10.1)."""
    amount = kop(line.quantity * line.price)
    r = line.vat_rate.percent
    if r is None or r == 0:
        return LineAmounts(net=amount, vat=Decimal("0.00"), total=amount)
    if vat_included:
        vat = kop(amount * r / (100 + r))
        return LineAmounts(net=amount - vat, vat=vat, total=amount)
    vat = kop(amount * r / 100)
    return LineAmounts(net=amount, vat=vat, total=amount + vat)


@dataclass(frozen=True)
class Totals:
    net: Decimal
    vat: Decimal
    total: Decimal
    vat_by_rate: dict[str, Decimal] = field(default_factory=dict)  # VatRate.value → sum of rounded line VAT
    lines: tuple[LineAmounts, ...] = ()


def invoice_totals(lines: list[Line], *, vat_included: bool) -> Totals:
    if not lines:
        raise ValidationError("В счёте нет ни одной строки.")
    amounts = tuple(line_amounts(ln, vat_included=vat_included) for ln in lines)
    by_rate: dict[str, Decimal] = {}
    for ln, a in zip(lines, amounts, strict=True):
        by_rate[ln.vat_rate.value] = by_rate.get(ln.vat_rate.value, Decimal("0.00")) + a.vat
    return Totals(
        net=sum((a.net for a in amounts), Decimal("0.00")),
        vat=sum((a.vat for a in amounts), Decimal("0.00")),
        total=sum((a.total for a in amounts), Decimal("0.00")),
        vat_by_rate=by_rate,
        lines=amounts,
    )


def money_str(d: Decimal) -> str:
    return f"{kop(d):.2f}"

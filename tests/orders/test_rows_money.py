"""Row money in Decimal, VAT per line, rounded per row (engine/rows.py) — the pure part, many cases fast."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest

from b24sync.engine.errors import HoldError
from b24sync.engine.rows import same_rows, to_erp
from b24sync.spec.models import Rows

ITEMS = {"1": "g-1", "2": "g-2"}


def _resolve(entity: str, side: str, pid: str) -> str | None:
    return ITEMS.get(pid)


def _row(pid="1", price=100, qty=1, rate=22, incl="Y", name="Товар"):  # type: ignore[no-untyped-def]
    return {"PRODUCT_ID": pid, "PRODUCT_NAME": name, "PRICE": price, "QUANTITY": qty, "TAX_RATE": rate,
            "TAX_INCLUDED": incl}


def test_rows_money_vat_included_per_line() -> None:
    out, total = to_erp(Rows(), [_row(price=122, qty=3)], _resolve, None)
    assert (out[0]["Цена"], out[0]["Сумма"], out[0]["СуммаНДС"], out[0]["СуммаСНДС"]) == (122, 366, 66, 366)
    assert total == Decimal("366.00")


def test_rows_money_vat_on_top_when_the_crm_price_excludes_it() -> None:
    out, total = to_erp(Rows(), [_row(price=100, qty=2, rate=20, incl="N")], _resolve, None)
    assert (out[0]["Цена"], out[0]["Сумма"], out[0]["СуммаНДС"], out[0]["СтавкаНДС"]) == (120, 240, 40, "НДС20")


def test_rows_money_erp_net_prices() -> None:
    spec = Rows.model_validate({"money": {"erp_prices_include_vat": False}})
    out, total = to_erp(spec, [_row(price=122, qty=1)], _resolve, None)
    assert (out[0]["Цена"], out[0]["Сумма"], out[0]["СуммаНДС"], out[0]["СуммаСНДС"]) == (100, 100, 22, 122)
    assert total == Decimal("122.00")


@pytest.mark.parametrize("price,qty,rate", [(0.335, 3, 22), (99.99, 7, 10), (1.005, 1000, 20), (33.33, 3, 0),
                                            (0.01, 1, 22), (12345.678, 0.5, 22)])
def test_rows_money_total_is_the_sum_of_rows_rounded_per_row(price: float, qty: float, rate: int) -> None:
    rows = [_row(price=price, qty=qty, rate=rate), _row(pid="2", price=price, qty=qty, rate=rate, incl="N")]
    out, total = to_erp(Rows(), rows, _resolve, None)
    assert total == sum(Decimal(str(r["СуммаСНДС"])) for r in out)
    for r in out:
        assert Decimal(str(r["Сумма"])) == (Decimal(str(r["Цена"])) * Decimal(str(r["Количество"]))).quantize(
            Decimal("0.01"), ROUND_HALF_UP)  # kopecks, half up
        assert Decimal(str(r["СуммаНДС"])).as_tuple().exponent >= -2


def test_rows_no_vat_rate_is_bez_nds() -> None:
    out, _ = to_erp(Rows(), [_row(rate=None)], _resolve, None)
    assert out[0]["СтавкаНДС"] == "БезНДС" and out[0]["СуммаНДС"] == 0


def test_rows_every_bad_row_is_named_in_one_hold() -> None:
    rows = [_row(pid="0", name="Доставка"), _row(pid="9", name="Чужой товар"), _row(qty=0, name="Ноль"),
            _row(rate=18, name="Старая ставка"), _row()]
    with pytest.raises(HoldError) as e:
        to_erp(Rows(), rows, _resolve, None)
    text = str(e.value)
    for part in ("«Доставка» — товар не из каталога", "«Чужой товар» (товар 9) ещё не передан в 1С",
                 "«Ноль» — количество 0", "ставки НДС 18%"):
        assert part in text, text


def test_rows_none_at_all_is_held_unless_not_required() -> None:
    with pytest.raises(HoldError, match="нет товаров"):
        to_erp(Rows(), [], _resolve, None)
    assert to_erp(Rows.model_validate({"required": False}), [], _resolve, None) == ([], Decimal(0))


def test_rows_free_text_as_service_item_keeps_the_name() -> None:
    spec = Rows.model_validate({"free_text": {"erp_id": "svc"}})
    out, _ = to_erp(spec, [_row(pid="0", name="Монтаж")], _resolve, "svc")
    assert out[0]["Номенклатура_Key"] == "svc" and out[0]["Содержание"] == "Монтаж"


def test_rows_compare_only_the_mapped_columns() -> None:
    out, _ = to_erp(Rows(), [_row()], _resolve, None)
    have = [dict(out[0], ВариантОбеспечения="Отгрузить", Цена=float(out[0]["Цена"]))]
    assert same_rows(have, out)
    assert not same_rows(have + have, out)
    assert not same_rows([dict(have[0], Количество=2)], out)

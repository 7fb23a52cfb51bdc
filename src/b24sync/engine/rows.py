"""Line items (``Entity.rows``): a CRM record's product rows mapped row by row onto an ERP document's tabular
section, replace-all on both sides — the ERP always gets the whole, freshly mapped set, never a patch of one row.

Money is computed in ``Decimal`` and rounded to kopecks per row (document-flows.md E.10): Bitrix24 states per row
a unit price after discount (``PRICE``) and whether it includes VAT (``TAX_INCLUDED``); 1C states once per document
whether its prices include VAT (``ЦенаВключаетНДС``). Net prices are sent, never percentages (E.11). The document
total is the sum of the rounded rows. Values leave as JSON numbers (floats print their shortest exact decimal form,
so 1234.56 stays 1234.56).

Free-text rows (``productId 0``, E.7) hold the record with a message listing them, or become the spec's service
item with the row name as its text. A row whose product is not linked yet holds the record with its name.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from b24sync.engine.errors import HoldError, ValidationError
from b24sync.engine.ports import Record
from b24sync.engine.runtime import Runtime
from b24sync.spec.models import Entity, Rows, ServiceItem, Side
from b24sync.store.fingerprints import canonical

KOP = Decimal("0.01")


def rows_field(entity: Entity, side: Side) -> str | None:
    if entity.rows is None:
        return None
    return entity.rows.crm if side == "crm" else entity.rows.erp


async def with_rows(rt: Runtime, entity: Entity, side: Side, record: Record) -> Record:
    """The record with its rows under ``rows.crm`` / ``rows.erp`` (read through the adapter's ``read_rows`` when the
    system keeps them apart from the record, as Bitrix24 does)."""
    name = rows_field(entity, side)
    if name is None or isinstance(record.values.get(name), list):
        return record
    reader = getattr(rt.adapter(entity, side), "read_rows", None)
    if reader is None:
        return record
    rows = await reader(rt.objref(entity, side), record.id, name)
    return Record(record.id, {**record.values, name: rows}, record.modified, record.version, record.deleted)


def _dec(v: Any, what: str) -> Decimal:
    try:
        return Decimal(str(v if v not in (None, "") else 0))
    except InvalidOperation:
        raise ValidationError(f"{what} = {v!r} не число") from None


def _num(d: Decimal) -> int | float:
    d = d.normalize()
    return int(d) if d == d.to_integral_value() else float(d)


def _rate_key(v: Any) -> str:
    if v in (None, ""):
        return ""
    return format(_dec(v, "ставка НДС").normalize(), "f")


def frozen(spec_rows: Rows, values: dict[str, Any]) -> bool:
    return bool(spec_rows.frozen_at) and str(values.get(spec_rows.stage_field)) in spec_rows.frozen_at


def to_erp(spec_rows: Rows, rows: list[dict[str, Any]], resolve_product: Any, service_item: str | None
           ) -> tuple[list[dict[str, Any]], Decimal]:
    """The ERP rows for CRM rows and the document total. Raises HoldError naming every row that cannot go."""
    m = spec_rows.money
    out: list[dict[str, Any]] = []
    problems: list[str] = []
    total = Decimal(0)
    for i, r in enumerate(rows, 1):
        name = str(r.get("PRODUCT_NAME") or r.get("productName") or "").strip() or f"строка {i}"
        pid = r.get(spec_rows.product.crm)
        if pid in (None, "", 0, "0"):
            if spec_rows.free_text == "hold" or service_item is None:
                problems.append(f"«{name}» — товар не из каталога (выберите товар из каталога)")
                continue
            item: str | None = service_item
        else:
            item = resolve_product(spec_rows.product_entity, "crm", str(pid))
            if item is None:
                problems.append(f"«{name}» (товар {pid}) ещё не передан в 1С")
                continue
        qty = _dec(r.get(m.quantity.crm), f"количество в строке «{name}»")
        if qty <= 0:
            problems.append(f"«{name}» — количество {qty} (должно быть больше нуля)")
            continue
        price = _dec(r.get(m.price.crm), f"цена в строке «{name}»")
        rate_key = _rate_key(r.get(m.vat_rate.crm))
        if rate_key not in m.vat_rates:
            problems.append(f"«{name}» — ставки НДС {rate_key}% нет в таблице vat_rates спецификации")
            continue
        rate = _dec(rate_key or 0, "ставка НДС")
        included = str(r.get(m.vat_included) or "N").upper() == "Y"
        one = Decimal(1) + rate / 100
        if m.erp_prices_include_vat:
            unit = price if included else price * one
        else:
            unit = price / one if included else price
        unit = unit.quantize(KOP, ROUND_HALF_UP)
        amount = (unit * qty).quantize(KOP, ROUND_HALF_UP)
        if m.erp_prices_include_vat:
            vat = (amount * rate / (100 + rate)).quantize(KOP, ROUND_HALF_UP)
            with_vat = amount
        else:
            vat = (amount * rate / 100).quantize(KOP, ROUND_HALF_UP)
            with_vat = amount + vat
        total += with_vat
        row: dict[str, Any] = {spec_rows.product.erp: item, m.quantity.erp: _num(qty), m.price.erp: _num(unit),
                               m.vat_rate.erp: m.vat_rates[rate_key]}
        if spec_rows.line_number:
            row[spec_rows.line_number] = len(out) + 1
        for f, v in ((m.sum, amount), (m.vat_sum, vat), (m.total, with_vat)):
            if f:
                row[f] = _num(v)
        if pid in (None, "", 0, "0") and isinstance(spec_rows.free_text, ServiceItem) and spec_rows.free_text.text:
            row[spec_rows.free_text.text] = name
        for f in spec_rows.fields:
            row[f.erp] = r.get(f.crm)
        out.append(row)
    if problems:
        raise HoldError("Заказ не передан в 1С — исправьте товарные строки сделки: " + "; ".join(problems) + ".",
                        detail={"rows": problems})
    if spec_rows.required and not out:
        raise HoldError("В сделке нет товаров — добавьте товарные строки, и заказ уйдёт в 1С.",
                        detail={"rows": []})
    return out, total


def same_rows(current: Any, wanted: list[dict[str, Any]]) -> bool:
    """Whether the target's rows already hold the wanted set (compared on the wanted columns only: the ERP adds its
    own columns and defaults)."""
    if not isinstance(current, list) or len(current) != len(wanted):
        return False
    for have, want in zip(current, wanted):
        if not isinstance(have, dict):
            return False
        if any(canonical(have.get(k)) != canonical(v) for k, v in want.items()):
            return False
    return True


def same_value(current: Any, wanted: Any) -> bool:
    if isinstance(wanted, list) and wanted and all(isinstance(x, dict) for x in wanted):
        return same_rows(current, wanted)
    return canonical(current) == canonical(wanted)


async def apply(rt: Runtime, entity: Entity, source: dict[str, Any], values: dict[str, Any], resolve: Any, *,
                for_create: bool) -> None:
    """Put the whole mapped row set, the document total and the ERP's "prices include VAT" flag into ``values`` —
    unless the record sits in a ``frozen_at`` stage (the rows of a document being fulfilled are left alone)."""
    from b24sync.engine import header

    spec_rows = entity.rows
    if spec_rows is None or (not for_create and frozen(spec_rows, source)):
        return
    service_id: str | None = None
    if isinstance(spec_rows.free_text, ServiceItem):
        service_id = spec_rows.free_text.erp_id
        if service_id is None and spec_rows.free_text.lookup is not None:
            service_id = await header.lookup_value(
                rt.adapter(entity, "erp"), spec_rows.free_text.lookup, "услуга для строк без товара", source, values,
                "Не найдена услуга для строк без товара из каталога — проверьте спецификацию (rows.free_text).")
    mapped, total = to_erp(spec_rows, list(source.get(spec_rows.crm) or []), resolve, service_id)
    values[spec_rows.erp] = mapped
    if spec_rows.document_total:
        values[spec_rows.document_total] = _num(total)
    if spec_rows.money.header_flag:
        values[spec_rows.money.header_flag] = spec_rows.money.erp_prices_include_vat

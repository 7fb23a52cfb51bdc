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


def okei(v: Any) -> str | None:
    """An OKEI unit code as 1C's classifier writes it: three digits at least (Bitrix24 sends 6 for metre, 1C's
    ``Code`` is "006"); the spec's table may write it either way."""
    if v in (None, "", 0, "0"):
        return None
    s = str(v).strip()
    return s.zfill(3) if s.isdigit() else s


def _unit_key(table: dict[str, str], code: str) -> str | None:
    for k in (code, code.lstrip("0") or "0"):
        if k in table:
            return table[k]
    return None


def _discount_net(m: Any, r: dict[str, Any], net_after: Decimal, name: str) -> tuple[Decimal, Decimal | None]:
    """The CRM row's discount per unit before tax and its percent (None for an absolute discount). Bitrix24 states
    ``DISCOUNT_SUM`` per unit on the net price; for a percent discount it is derived from ``DISCOUNT_RATE`` when
    the portal left it out (100 % needs the sum: the portal refuses it without one, bitrix24-rest.md §9.12)."""
    d = m.discount
    kind = str(r.get(d.crm_type) or "2")
    dsum = _dec(r.get(d.crm_sum), f"скидка в строке «{name}»")
    if kind == "1":
        return max(dsum, Decimal(0)), None
    rate = _dec(r.get(d.crm_rate), f"процент скидки в строке «{name}»")
    if dsum <= 0 and 0 < rate < 100:
        dsum = net_after * rate / (100 - rate)
    return max(dsum, Decimal(0)), rate


# (the document and where it goes, the record's rows, "no rows" text) per CRM object — the hold texts name what the
# manager looks at: a deal's rows become an order, a smart invoice's rows an invoice
_TEXTS = {"crm.deal": ("Заказ не передан в {erp}", "сделки", "В сделке нет товаров — добавьте товарные строки, "
                       "и заказ уйдёт в {erp}."),
          "crm.item:31": ("Счёт не передан в {erp}", "счёта", "В счёте нет товаров — добавьте товарные строки, "
                          "и счёт уйдёт в {erp}.")}


def texts(crm_object: str, erp: str = "1С") -> tuple[str, str, str]:
    head, of, empty = _TEXTS.get(crm_object, ("Документ не передан в {erp}", "записи", "В записи нет товаров — "
                                              "добавьте товарные строки, и документ уйдёт в {erp}."))
    return head.format(erp=erp), of, empty.format(erp=erp)


QTY = Decimal("0.001")  # 1C's quantity columns: three decimals


def _factor_of(u: Any, r: dict[str, Any], uid: Any, factors: dict[str, Decimal] | None) -> Decimal:
    """Base units per unit of this row (``rows.unit.factor``): the row's own coefficient column when it has a
    value (БП-style), else the packaging record's Числитель / Знаменатель (УТ 11.5), else 1."""
    f = u.factor if u is not None else None
    if f is None:
        return Decimal(1)
    if f.row and r.get(f.row) not in (None, "", 0):
        k = _dec(r.get(f.row), f"коэффициент единицы ({f.row})")
        if k > 0:
            return k
    return (factors or {}).get(str(uid), Decimal(1))


def to_erp(spec_rows: Rows, rows: list[dict[str, Any]], resolve_product: Any, service_item: str | None,
           units: dict[str, str | None] | None = None, *, factors: dict[str, Decimal] | None = None,
           words: tuple[str, str, str] | None = None) -> tuple[list[dict[str, Any]], Decimal]:
    """The ERP rows for CRM rows and the document total. Raises HoldError naming every row that cannot go.
    ``units``: OKEI code → ERP unit id (None: not found), resolved beforehand for ``rows.unit``. ``words``: the hold
    texts (``texts()``) for the record's kind."""
    head, of, empty = words or texts("crm.deal")
    erp_in = head.rsplit(" в ", 1)[-1] if " в " in head else "1С"
    m = spec_rows.money
    u = spec_rows.unit
    out: list[dict[str, Any]] = []
    problems: list[str] = []
    total = Decimal(0)
    for i, r in enumerate(rows, 1):
        name = str(r.get("PRODUCT_NAME") or r.get("productName") or "").strip() or f"строка {i}"
        pid = r.get(spec_rows.product.crm)
        if spec_rows.product_entity is None:  # no catalogue on the ERP side: the row goes by its name
            item: str | None = None
        elif pid in (None, "", 0, "0"):
            if spec_rows.free_text == "hold" or service_item is None:
                problems.append(f"«{name}» — товар не из каталога (выберите товар из каталога)")
                continue
            item = service_item
        else:
            item = resolve_product(spec_rows.product_entity, "crm", str(pid))
            if item is None:
                problems.append(f"«{name}» (товар {pid}) ещё не передан в {erp_in}")
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
        list_price, disc_sum, disc_pct = unit, Decimal(0), Decimal(0)
        if m.discount is not None:
            net_after = price / one if included else price
            d_net, pct = _discount_net(m, r, net_after, name)
            if d_net > 0:
                d_erp = d_net * one if m.erp_prices_include_vat else d_net
                list_price = (unit + d_erp).quantize(KOP, ROUND_HALF_UP)
                disc_sum = (list_price * qty).quantize(KOP, ROUND_HALF_UP) - amount
                gross = list_price * qty
                disc_pct = (pct if pct is not None else disc_sum * 100 / gross if gross else Decimal(0))
                disc_pct = disc_pct.quantize(KOP, ROUND_HALF_UP)
        unit_id: str | None = None
        if u is not None:
            code = okei(r.get(u.crm))
            unit_id = (units or {}).get(code) if code else None
            if code and unit_id is None and u.unknown == "hold":
                uname = str(r.get(u.crm_name) or "") if u.crm_name else ""
                problems.append(f"«{name}» — единица измерения {code}{' (' + uname + ')' if uname else ''} не "
                                "найдена в 1С (добавьте её в классификатор или в rows.unit.table спецификации)")
                continue
        if m.erp_prices_include_vat:
            vat = (amount * rate / (100 + rate)).quantize(KOP, ROUND_HALF_UP)
            with_vat = amount
        else:
            vat = (amount * rate / 100).quantize(KOP, ROUND_HALF_UP)
            with_vat = amount + vat
        total += with_vat
        row: dict[str, Any] = {spec_rows.product.erp: item, m.quantity.erp: _num(qty),
                               m.price.erp: _num(list_price), m.vat_rate.erp: m.vat_rates[rate_key]}
        if spec_rows.product_entity is None:
            del row[spec_rows.product.erp]
        if m.discount is not None:
            if m.discount.percent:
                row[m.discount.percent] = _num(disc_pct)
            if m.discount.sum:
                row[m.discount.sum] = _num(disc_sum)
        if u is not None and unit_id is not None:
            row[u.erp] = unit_id
            if u.packages:
                row[u.packages] = _num(qty)
            if u.factor is not None:  # a package of k base units: 1C's quantity column is in base units
                k = _factor_of(u, {}, unit_id, factors)
                row[m.quantity.erp] = _num((qty * k).quantize(QTY, ROUND_HALF_UP))
                if u.factor.row:
                    row[u.factor.row] = _num(k)
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
        raise HoldError(f"{head} — исправьте товарные строки {of}: " + "; ".join(problems) + ".",
                        detail={"rows": problems})
    if spec_rows.required and not out:
        raise HoldError(empty, detail={"rows": []})
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


async def _service_item(rt: Runtime, entity: Entity, spec_rows: Rows, source: dict[str, Any],
                        values: dict[str, Any]) -> str | None:
    """The ERP id of the service item free-text rows go as (``rows.free_text: {erp_id | lookup}``), else None."""
    from b24sync.engine import header

    if not isinstance(spec_rows.free_text, ServiceItem):
        return None
    if spec_rows.free_text.erp_id is not None or spec_rows.free_text.lookup is None:
        return spec_rows.free_text.erp_id
    return await header.lookup_value(
        rt.adapter(entity, "erp"), spec_rows.free_text.lookup, "услуга для строк без товара", source, values,
        "Не найдена услуга для строк без товара из каталога — проверьте спецификацию (rows.free_text).")


async def prefetch(rt: Runtime, resolve: Any, entity_name: str | None, side: str, ids: list[str]) -> Any:
    """``resolve`` with the links of a row set's items read at once (one query in a thread, not one blocking query
    per row on the event loop — bench/orders_from_erp.py: 20,000 row lookups were half of the jobs' time); an id
    not linked falls back to ``resolve``."""
    import asyncio

    from b24sync.engine.mapper import other
    from b24sync.store import identity

    wanted = [i for i in dict.fromkeys(ids) if i not in ("", "0", "00000000-0000-0000-0000-000000000000")]
    if entity_name is None or len(wanted) < 2:
        return resolve
    scope = rt.spec.scope(entity_name)

    def read() -> dict[str, str | None]:
        with rt.db.connect() as conn:
            return {k: b.id_on(other(side)) for k, b in identity.find_many(conn, scope, side, wanted).items()}  # type: ignore[arg-type]

    known = await asyncio.to_thread(read)

    def fast(e: str, s: str, rid: str) -> str | None:
        if e == entity_name and s == side and rid in known:
            return known[rid]
        return resolve(e, s, rid)

    return fast


async def apply(rt: Runtime, entity: Entity, source: dict[str, Any], values: dict[str, Any], resolve: Any, *,
                for_create: bool) -> None:
    """Put the whole mapped row set, the document total and the ERP's "prices include VAT" flag into ``values`` —
    unless the record sits in a ``frozen_at`` stage (the rows of a document being fulfilled are left alone)."""
    spec_rows = entity.rows
    if spec_rows is None or (not for_create and frozen(spec_rows, source)):
        return
    service_id = await _service_item(rt, entity, spec_rows, source, values)
    crm_rows = list(source.get(spec_rows.crm) or [])
    resolve = await prefetch(rt, resolve, spec_rows.product_entity, "crm",
                             [str(r.get(spec_rows.product.crm) or "") for r in crm_rows if isinstance(r, dict)])
    units = await erp_units(rt, entity, spec_rows, crm_rows) if spec_rows.unit is not None else None
    factors = await unit_factors(rt, entity, spec_rows, [v for v in (units or {}).values() if v])
    system = rt.spec.systems.get(rt.spec.system_for(entity, "erp"))
    erp = {"kontur-buh": "Контур.Бухгалтерию"}.get(getattr(system, "type", ""), "1С")
    mapped, total = to_erp(spec_rows, crm_rows, resolve, service_id, units, factors=factors,
                           words=texts(entity.crm.object, erp))
    values[spec_rows.erp] = mapped
    if spec_rows.document_total:
        values[spec_rows.document_total] = _num(total)
    if spec_rows.money.header_flag:
        values[spec_rows.money.header_flag] = spec_rows.money.erp_prices_include_vat


# ---- units of measure (rows.unit): OKEI code ⇄ the ERP's unit reference ------------------------------------------
_unit_memo: Any = None


def _memo(adapter: Any) -> dict[Any, tuple[float, Any]]:
    import weakref

    global _unit_memo
    if _unit_memo is None:
        _unit_memo = weakref.WeakKeyDictionary()
    return _unit_memo.setdefault(adapter, {})


UNIT_TTL = 120.0  # the unit catalogue hardly changes: answered from memory like constant header lookups


async def erp_units(rt: Runtime, entity: Entity, spec_rows: Rows, crm_rows: list[dict[str, Any]]
                    ) -> dict[str, str | None]:
    """OKEI code → ERP unit id for every code the rows use (None: not found): the spec's table first, then the
    lookup in the ERP's unit catalogue (one request per code, remembered for two minutes)."""
    import time

    from b24sync.engine.ports import ObjectRef

    u = spec_rows.unit
    assert u is not None
    adapter = rt.adapter(entity, "erp")
    memo = _memo(adapter)
    out: dict[str, str | None] = {}
    for r in crm_rows:
        code = okei(r.get(u.crm))
        if code is None or code in out:
            continue
        found = _unit_key(u.table, code)
        if found is None and u.lookup is not None:
            hit = memo.get(("to_erp", code))
            if hit is not None and time.monotonic() - hit[0] < UNIT_TTL:
                found = hit[1]
            else:
                recs = [x for x in await adapter.find(ObjectRef(u.lookup.object), {u.lookup.code: code})
                        if not x.deleted]
                found = recs[0].id if len(recs) == 1 else None
                if found is not None and u.lookup.via is not None:
                    where = {k: (found if v == "{unit}" else v) for k, v in u.lookup.via.where.items()}
                    recs = [x for x in await adapter.find(ObjectRef(u.lookup.via.object), where) if not x.deleted]
                    found = (recs[0].values.get(u.lookup.via.take, recs[0].id) if u.lookup.via.take != "Ref_Key"
                             else recs[0].id) if len(recs) == 1 else None
                memo[("to_erp", code)] = (time.monotonic(), found)
        out[code] = found
    return out


async def unit_factors(rt: Runtime, entity: Entity, spec_rows: Rows, unit_ids: list[str]) -> dict[str, Decimal]:
    """ERP unit id → base units per unit from the packaging record (``rows.unit.factor`` numerator / denominator of
    the ``via`` catalogue; 0 or empty counts as 1), remembered for two minutes like the units themselves."""
    import time

    from b24sync.engine.ports import ObjectRef

    u = spec_rows.unit
    f = u.factor if u is not None else None
    if f is None or not f.numerator or u is None or u.lookup is None or u.lookup.via is None:
        return {}
    adapter = rt.adapter(entity, "erp")
    memo = _memo(adapter)
    out: dict[str, Decimal] = {}
    for uid in dict.fromkeys(str(x) for x in unit_ids if x):
        hit = memo.get(("factor", uid))
        if hit is not None and time.monotonic() - hit[0] < UNIT_TTL:
            out[uid] = hit[1]
            continue
        rec = await adapter.get(ObjectRef(u.lookup.via.object), uid)
        k = Decimal(1)
        if rec is not None:
            num = _dec(rec.values.get(f.numerator) or 0, f"{f.numerator} упаковки")
            den = _dec(rec.values.get(f.denominator) or 0, f"{f.denominator} упаковки") if f.denominator else Decimal(1)
            if num > 0:
                k = num / (den if den > 0 else Decimal(1))
        memo[("factor", uid)] = (time.monotonic(), k)
        out[uid] = k
    return out


async def crm_units(rt: Runtime, entity: Entity, spec_rows: Rows, erp_rows: list[dict[str, Any]]
                    ) -> dict[str, tuple[str, str | None] | None]:
    """ERP unit id → (OKEI code, short name) for every unit the ERP rows use (None: not found)."""
    import time

    from b24sync.engine.ports import ObjectRef

    u = spec_rows.unit
    assert u is not None
    adapter = rt.adapter(entity, "erp")
    memo = _memo(adapter)
    back = {v: k for k, v in u.table.items()}
    out: dict[str, tuple[str, str | None] | None] = {}
    for r in erp_rows:
        uid = r.get(u.erp)
        if uid in (None, "", "00000000-0000-0000-0000-000000000000") or uid in out:
            continue
        uid = str(uid)
        if uid in back:
            code = okei(back[uid]) or back[uid]
            out[uid] = (code, u.names.get(code) or u.names.get(back[uid]))
            continue
        if u.lookup is None:
            out[uid] = None
            continue
        hit = memo.get(("to_crm", uid))
        if hit is not None and time.monotonic() - hit[0] < UNIT_TTL:
            out[uid] = hit[1]
            continue
        ref = uid
        if u.lookup.via is not None:  # УТ: the packaging unit points to its classifier entry
            via = await adapter.get(ObjectRef(u.lookup.via.object), uid)
            link = next((k for k, v in u.lookup.via.where.items() if v == "{unit}"), None)
            ref = str(via.values.get(link) or "") if via is not None and link else ""
        rec = await adapter.get(ObjectRef(u.lookup.object), ref) if ref else None
        got: tuple[str, str | None] | None = None
        if rec is not None and not rec.deleted and rec.values.get(u.lookup.code) not in (None, ""):
            code = str(rec.values[u.lookup.code]).strip()
            got = (code, u.names.get(code) or (str(rec.values.get(u.lookup.name) or "") if u.lookup.name else None))
        memo[("to_crm", uid)] = (time.monotonic(), got)
        out[uid] = got
    return out


def _split_exact(total: Decimal, qty: Decimal) -> list[tuple[Decimal, Decimal]]:
    """(quantity, unit price) pairs whose rounded amounts add up to ``total`` exactly: one pair when the unit price
    at kopecks gives the total back; else, for a whole quantity above 1, qty − 1 units at the lower kopeck price and
    one unit carrying the rest (E.10: the 0.01 difference goes on one line)."""
    unit = (total / qty).quantize(KOP, ROUND_HALF_UP) if qty else Decimal(0)
    if (unit * qty).quantize(KOP, ROUND_HALF_UP) == total or qty <= 1 or qty != qty.to_integral_value():
        return [(qty, unit)]
    low = (total / qty).quantize(KOP, rounding="ROUND_DOWN")
    return [(qty - 1, low), (Decimal(1), total - low * (qty - 1))]


def to_crm(spec_rows: Rows, erp_rows: list[dict[str, Any]], resolve_product: Any, service_item: str | None,
           units: dict[str, tuple[str, str | None] | None] | None = None, *,
           factors: dict[str, Decimal] | None = None) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """CRM product rows for an ERP document's rows — the reverse of ``to_erp``, row-exact: each CRM row's unit price
    × quantity gives the ERP row's ``Сумма`` to the kopeck (a row whose sum does not divide is sent as two rows),
    the discount per unit is the ERP's list price minus that price (before tax), the VAT rate comes back through
    ``vat_rates``. Returns (rows, ERP items not linked to a CRM product yet, problems)."""
    m = spec_rows.money
    u = spec_rows.unit
    rates_back = {v: k for k, v in m.vat_rates.items()}
    out: list[dict[str, Any]] = []
    missing: list[str] = []
    problems: list[str] = []
    for i, r in enumerate(erp_rows, 1):
        item = r.get(spec_rows.product.erp)
        text = ""
        if isinstance(spec_rows.free_text, ServiceItem) and spec_rows.free_text.text:
            text = str(r.get(spec_rows.free_text.text) or "").strip()
        name = text or f"строка {r.get(spec_rows.line_number or 'LineNumber') or i}"
        pid: Any = None
        if spec_rows.product_entity is None:
            pid, item = 0, None  # no catalogue on the ERP side: a free-text row in the CRM
        if item not in (None, "", "00000000-0000-0000-0000-000000000000"):
            pid = resolve_product(spec_rows.product_entity, "erp", str(item))
            if pid is None and service_item is not None and str(item) == service_item:
                pid = 0  # the spec's service item: a free-text row with its text
            elif pid is None:
                missing.append(str(item))
                continue
        else:
            pid = 0
        qty = _dec(r.get(m.quantity.erp), f"количество в {name}")
        if u is not None and u.factor is not None and r.get(u.erp) not in (None, "", "00000000-0000-0000-0000-000000000000"):
            # the row's unit is a package of k base units: the CRM quantity is in that unit — the package count
            # where 1C gives it (КоличествоУпаковок), else the base quantity ÷ k
            packs = r.get(u.packages) if u.packages else None
            if packs not in (None, "", 0):
                qty = _dec(packs, f"количество упаковок в {name}")
            else:
                qty = (qty / _factor_of(u, r, r.get(u.erp), factors)).quantize(QTY, ROUND_HALF_UP)
        if qty <= 0 or r.get("Отменено") is True:
            continue  # 1C's cancelled (УТ `Отменено`) or empty rows carry nothing into the deal
        erp_rate = r.get(m.vat_rate.erp)
        if str(erp_rate or "") not in rates_back:
            problems.append(f"{name}: ставки НДС {erp_rate!r} нет в таблице vat_rates спецификации")
            continue
        rate_key = rates_back[str(erp_rate or "")]
        rate = _dec(rate_key or 0, "ставка НДС")
        one = Decimal(1) + rate / 100
        price = _dec(r.get(m.price.erp), f"цена в {name}")
        disc = Decimal(0)
        if m.discount is not None and m.discount.sum:
            disc = _dec(r.get(m.discount.sum), f"скидка в {name}")
        amount = (_dec(r.get(m.sum), f"сумма в {name}") if m.sum and r.get(m.sum) not in (None, "")
                  else (price * qty).quantize(KOP, ROUND_HALF_UP) - disc)
        pct = Decimal(0)
        if m.discount is not None and m.discount.percent:
            pct = _dec(r.get(m.discount.percent), f"процент скидки в {name}")
        unit_info = None
        if u is not None and r.get(u.erp) not in (None, "", "00000000-0000-0000-0000-000000000000"):
            unit_info = (units or {}).get(str(r.get(u.erp)))
            if unit_info is None and u.unknown == "hold":
                problems.append(f"{name}: единица измерения {r.get(u.erp)} не найдена (добавьте её код ОКЕИ в "
                                "rows.unit.table спецификации)")
                continue
        for part_qty, unit_price in _split_exact(amount, qty):
            row: dict[str, Any] = {spec_rows.product.crm: int(pid) if str(pid).isdigit() else pid,
                                   m.quantity.crm: _num(part_qty), m.price.crm: _num(unit_price),
                                   m.vat_rate.crm: None if rate_key == "" else _num(rate),
                                   m.vat_included: "Y" if m.erp_prices_include_vat else "N"}
            if pid == 0:
                row["PRODUCT_NAME"] = text or name
            if m.discount is not None:
                d = m.discount
                per_unit = price - unit_price if disc > 0 or pct > 0 else Decimal(0)
                d_net = (per_unit / one if m.erp_prices_include_vat else per_unit).quantize(KOP, ROUND_HALF_UP)
                if d_net > 0 and pct > 0:
                    row.update({d.crm_type: 2, d.crm_rate: _num(pct), d.crm_sum: _num(d_net)})
                elif d_net > 0:
                    row.update({d.crm_type: 1, d.crm_sum: _num(d_net)})
                else:
                    row.update({d.crm_type: 2, d.crm_rate: 0, d.crm_sum: 0})
            if unit_info is not None and u is not None:
                row[u.crm] = int(unit_info[0]) if unit_info[0].isdigit() else unit_info[0]
                if u.crm_name and unit_info[1]:
                    row[u.crm_name] = unit_info[1]
            for f in spec_rows.fields:
                if f.erp in r:
                    row[f.crm] = r.get(f.erp)
            out.append(row)
    return out, missing, problems


async def apply_to_crm(rt: Runtime, entity: Entity, name: str, source: dict[str, Any], values: dict[str, Any],
                       resolve: Any, *, for_create: bool) -> None:
    """ERP document → CRM record: the whole row set under ``rows.crm`` (written replace-all by the CRM adapter's
    ``write_rows``), on create only with ``rows.on: create``. Items not linked to CRM products yet are pushed first
    through the entity that brings the catalogue from the ERP, and the record waits; held ones hold it."""
    spec_rows = entity.rows
    if spec_rows is None or (spec_rows.on == "create" and not for_create):
        return
    service_id = await _service_item(rt, entity, spec_rows, source, {})
    erp_rows = [r for r in list(source.get(spec_rows.erp) or []) if isinstance(r, dict)]
    resolve = await prefetch(rt, resolve, spec_rows.product_entity, "erp",
                             [str(r.get(spec_rows.product.erp) or "") for r in erp_rows])
    units = await crm_units(rt, entity, spec_rows, erp_rows) if spec_rows.unit is not None else None
    factors = await unit_factors(rt, entity, spec_rows, [str(r.get(spec_rows.unit.erp)) for r in erp_rows
                                                         if r.get(spec_rows.unit.erp)]) if spec_rows.unit else {}
    mapped, missing, problems = to_crm(spec_rows, erp_rows, resolve, service_id, units, factors=factors)
    if missing:
        await _push_items(rt, name, spec_rows.product_entity, sorted(set(missing)))
    if problems:
        raise HoldError("Заказ 1С не перенесён в сделку — исправьте строки заказа: " + "; ".join(problems) + ".",
                        detail={"rows": problems})
    values[spec_rows.crm] = mapped


async def push_items_early(rt: Runtime, entity: Entity, name: str, source: dict[str, Any], resolve: Any) -> None:
    """The record waits for another reference (its counterparty): the items its rows need are pushed now too, so
    it waits once, not once per missing kind."""
    spec_rows = entity.rows
    if spec_rows is None or spec_rows.product_entity is None:
        return
    missing = sorted({str(r.get(spec_rows.product.erp)) for r in list(source.get(spec_rows.erp) or [])
                      if isinstance(r, dict) and r.get(spec_rows.product.erp) not in
                      (None, "", "00000000-0000-0000-0000-000000000000")
                      and resolve(spec_rows.product_entity, "erp", str(r.get(spec_rows.product.erp))) is None})
    if missing:
        try:
            await _push_items(rt, name, spec_rows.product_entity, missing, wait=False)
        except HoldError:
            pass  # reported when the rows are mapped


async def _push_items(rt: Runtime, name: str, product_entity: str, items: list[str], *, wait: bool = True) -> None:
    """ERP items the rows need that have no CRM product yet: enqueue them through the catalogue entity and wait
    (retry); an item that entity holds holds this record with its reason."""
    import asyncio

    from sqlalchemy import select

    from b24sync.engine.errors import RetryableError
    from b24sync.engine.mapper import flows_from
    from b24sync.store import queue as jobs
    from b24sync.store.models import DeadLetter

    scope = rt.spec.scope(product_entity)
    pushers = [n for n, en in rt.spec.entities.items() if rt.spec.scope(n) == scope and flows_from(rt.spec, en, "erp")]
    if not pushers:
        raise HoldError(f"Товары 1С ({', '.join(items[:5])}{'…' if len(items) > 5 else ''}) не связаны с товарами "
                        "Bitrix24, а загружать каталог из 1С спецификация не разрешает — свяжите товары, затем "
                        "повторите.", detail={"items": items,
                                                  "waits_for": [jobs.wait_key(scope, "erp", i) for i in items]})

    def push() -> list[str]:
        from b24sync.engine.enqueue import enqueue_sync

        with rt.db.begin() as conn:
            keys = {jobs.record_key(p, "", {"side": "erp", "id": i}): i for p in pushers for i in items}
            held = list(conn.execute(select(DeadLetter.reason).where(
                DeadLetter.entity.in_(pushers), DeadLetter.resolved_at.is_(None),
                DeadLetter.record_key.in_(list(keys)))).scalars())
            if not held:
                for i in items:
                    enqueue_sync(conn, pushers[0], "erp", i, scope=scope, reason=f"needed by {name}")
            return held

    held = await asyncio.to_thread(push)
    if not wait:
        return
    if held:
        raise HoldError(f"Товар заказа не загружен из 1С в Bitrix24: {held[0]}", detail={"items": items, "held": held,
                                "waits_for": [jobs.wait_key(scope, "erp", i) for i in items]})
    raise RetryableError(f"{len(items)} item(s) of the rows are not linked to CRM products yet — pushed them "
                         f"through {pushers[0]}; waiting", retry_after=5.0)


def pop_apart(rt: Runtime, entity: Entity, side: Side, values: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Rows the target system keeps apart from the record (Bitrix24: its adapter has ``write_rows``) are taken out
    of the values, to be written after the record in one replace-all call."""
    name = rows_field(entity, side)
    if name is None or name not in values or getattr(rt.adapter(entity, side), "write_rows", None) is None:
        return None
    return values.pop(name)


async def write_apart(rt: Runtime, entity: Entity, side: Side, record_id: str, mapped: list[dict[str, Any]]) -> None:
    name = rows_field(entity, side)
    assert name is not None
    await rt.adapter(entity, side).write_rows(rt.objref(entity, side), record_id, name, mapped)

"""Streaming CommerceML 2.x / 3.x reader.

One pass of ``lxml.etree.iterparse`` over the whole file; each record element (``Группа``, ``Свойство``, ``Товар``,
``ТипЦены``, ``Склад``, ``Предложение``, ``Контрагент``, ``Документ``) is turned into a dataclass
(:mod:`.model`), yielded, then cleared and unlinked together with its already-consumed previous siblings, so memory
stays flat for any file size (bench/commerceml_parse.py: 1 M offers).

Format facts (fact sheet /work/shared/research/erp-side.md):

* §3.1 — versions 2.03…2.10 and 3.1; namespace none / ``urn:1C.ru:commerceml_2`` / ``urn:1C.ru:commerceml_3``:
  elements are matched by local name only. Encoding from the XML declaration (UTF-8 ± BOM, windows-1251).
* §3.2 — file kinds: import (Классификатор + Каталог), offers (ПакетПредложений), split 3.x prices/rests,
  documents (Документ, optionally wrapped in ``Контейнер`` — §3.4 Bitrix ≥ 6.5), contractors (top-level
  ``Контрагенты``).
* §3.3 — element semantics (``Ид`` with ``#`` for variants, ``СодержитТолькоИзменения`` as attribute or child,
  ``БазоваяЕдиница Код`` may carry a trailing space, ``Статус``/``ПометкаУдаления``).

Records are only recognised in their proper place (``Склад`` under ``ПакетПредложений/Склады`` is a warehouse;
the ``Склад`` inside an offer or a document is part of that record), checked through the parent chain, which is
cheap because iterparse only reports the tags listed in ``_TAGS``.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import BinaryIO

from lxml import etree

from b24sync.connectors.commerceml.model import (
    Address, Counterparty, Counts, Document, DocumentLine, FileInfo, Group, Offer, Package, Price, PriceType,
    Product, Property, PropertyValue, Record, Stock, Tax, TaxRate, Unit, Warehouse,
)
from b24sync.connectors.commerceml.safety import PARSER_OPTIONS, CommerceMLError, GuardedStream

Source = str | os.PathLike | bytes | BinaryIO

ROOT = "КоммерческаяИнформация"
_SECTIONS = {"Каталог": "catalog", "ПакетПредложений": "offers", "ИзмененияПакетаПредложений": "offers_changes"}
_TAGS = [
    "{*}" + t for t in (
        ROOT, "Классификатор", "Каталог", "ПакетПредложений", "ИзмененияПакетаПредложений", "Контрагенты",
        "Группы", "Группа", "Свойство", "Товары", "Товар", "ТипЦены", "Склад", "Предложения", "Предложение",
        "Документ", "Контрагент",
    )
]
_WAREHOUSE_OWNERS = {"ПакетПредложений", "ИзмененияПакетаПредложений", "Классификатор"}


def _ln(tag: object) -> str:
    if not isinstance(tag, str):
        return ""
    return tag[tag.rfind("}") + 1:]


def _ns(tag: str) -> str | None:
    return tag[1:tag.index("}")] if tag.startswith("{") else None


def _t(el) -> str | None:
    text = el.text
    if text is None:
        return None
    text = text.strip()
    return text or None


def _where(el) -> str:
    return f"line {el.sourceline}" if getattr(el, "sourceline", None) else "?"


def _dec(text: str | None, el) -> Decimal | None:
    """CommerceML numbers: ``1719``, ``231.7400``; tolerate a decimal comma and (nb)spaces as thousand separators
    (§3.3 formatting quirks, ``ФорматСуммы`` ``ЧРД=.``)."""
    if text is None:
        return None
    cleaned = text.replace("\u00a0", "").replace(" ", "").replace(",", ".")
    if not cleaned:
        return None
    try:
        return Decimal(cleaned)
    except InvalidOperation:
        raise CommerceMLError(f"{_where(el)}: <{_ln(el.tag)}> is not a number: {text!r}") from None


def _bool(text: str | None) -> bool | None:
    if text is None:
        return None
    low = text.strip().lower()
    if low in ("true", "1", "да", "истина"):
        return True
    if low in ("false", "0", "нет", "ложь"):
        return False
    return None


def _require(value: str | None, el, what: str) -> str:
    if not value:
        raise CommerceMLError(f"{_where(el)}: <{_ln(el.tag)}> without <{what}>")
    return value


def _pairs(container, item: str, key: str = "Наименование", value: str = "Значение") -> tuple[tuple[str, str], ...]:
    out = []
    for it in container:
        if _ln(it.tag) != item:
            continue
        k = v = None
        for ch in it:
            n = _ln(ch.tag)
            if n == key:
                k = _t(ch)
            elif n == value:
                v = _t(ch)
        if k is not None:
            out.append((k, v or ""))
    return tuple(out)


def _requisites(container) -> tuple[tuple[str, str], ...]:
    return _pairs(container, "ЗначениеРеквизита")


def _unit(el) -> Unit:
    code = el.get("Код")
    full = el.get("НаименованиеПолное")
    intl = el.get("МеждународноеСокращение")
    short = _t(el)
    for ch in el:  # document lines from 1C: Единица{Ид, НаименованиеКраткое, Код, НаименованиеПолное}
        n = _ln(ch.tag)
        if n == "Код":
            code = _t(ch)
        elif n == "НаименованиеПолное":
            full = _t(ch)
        elif n == "НаименованиеКраткое":
            short = _t(ch)
        elif n == "МеждународноеСокращение":
            intl = _t(ch)
    return Unit(code=code.strip() if code else None, full_name=full, short_name=short, international=intl)


def _tax_rates(container) -> tuple[TaxRate, ...]:
    out = []
    for it in container:
        if _ln(it.tag) != "СтавкаНалога":
            continue
        name = rate = None
        for ch in it:
            n = _ln(ch.tag)
            if n == "Наименование":
                name = _t(ch)
            elif n == "Ставка":
                rate = _t(ch)
        out.append(TaxRate(name=name or "", rate=rate))
    return tuple(out)


def _taxes(container) -> tuple[Tax, ...]:
    out = []
    for it in container:
        if _ln(it.tag) != "Налог":
            continue
        name = rate = None
        included = None
        amount = None
        for ch in it:
            n = _ln(ch.tag)
            if n == "Наименование":
                name = _t(ch)
            elif n == "УчтеноВСумме":
                included = _bool(_t(ch))
            elif n == "Сумма":
                amount = _dec(_t(ch), ch)
            elif n == "Ставка":
                rate = _t(ch)
        out.append(Tax(name=name or "", included=included, amount=amount, rate=rate))
    return tuple(out)


def _address(el) -> Address:
    presentation = None
    fields = []
    for ch in el:
        n = _ln(ch.tag)
        if n == "Представление":
            presentation = _t(ch)
        elif n == "АдресноеПоле":
            typ = val = None
            for f in ch:
                fn = _ln(f.tag)
                if fn == "Тип":
                    typ = _t(f)
                elif fn == "Значение":
                    val = _t(f)
            if typ:
                fields.append((typ, val or ""))
    return Address(kind=_ln(el.tag), presentation=presentation, fields=tuple(fields))


def _group(el, parent_id: str | None) -> Group:
    gid = name = desc = None
    for ch in el:
        n = _ln(ch.tag)
        if n == "Ид":
            gid = _t(ch)
        elif n == "Наименование":
            name = _t(ch)
        elif n == "Описание":
            desc = _t(ch)
    return Group(id=_require(gid, el, "Ид"), name=name or "", parent_id=parent_id, description=desc)


def _property(el) -> Property:
    pid = name = vtype = None
    variants: list[tuple[str, str]] = []
    for ch in el:
        n = _ln(ch.tag)
        if n == "Ид":
            pid = _t(ch)
        elif n == "Наименование":
            name = _t(ch)
        elif n == "ТипЗначений":
            vtype = _t(ch)
        elif n == "ВариантыЗначений":
            for v in ch:
                vid = val = None
                for f in v:
                    fn = _ln(f.tag)
                    if fn == "ИдЗначения":
                        vid = _t(f)
                    elif fn == "Значение":
                        val = _t(f)
                if vid is not None or val is not None:
                    variants.append((vid or "", val or ""))
    return Property(id=_require(pid, el, "Ид"), name=name or "", value_type=vtype, variants=tuple(variants))


def _product(el) -> Product:
    pid = name = sku = barcode = desc = None
    status = el.get("Статус")
    deleted = False
    unit = None
    groups: tuple[str, ...] = ()
    images: list[str] = []
    requisites: tuple = ()
    values: list[PropertyValue] = []
    rates: tuple = ()
    for ch in el:
        n = _ln(ch.tag)
        if n == "Ид":
            pid = _t(ch)
        elif n == "Наименование":
            name = _t(ch)
        elif n == "Артикул":
            sku = _t(ch)
        elif n == "Штрихкод":
            barcode = _t(ch)
        elif n == "БазоваяЕдиница":
            unit = _unit(ch)
        elif n == "Группы":
            groups = tuple(g for g in (_t(x) for x in ch if _ln(x.tag) == "Ид") if g)
        elif n == "Описание":
            desc = _t(ch)
        elif n == "Картинка":
            if (img := _t(ch)) is not None:
                images.append(img)
        elif n == "ЗначенияРеквизитов":
            requisites = _requisites(ch)
        elif n == "ЗначенияСвойств":
            for pv in ch:
                prop_id = None
                vals = []
                for f in pv:
                    fn = _ln(f.tag)
                    if fn == "Ид":
                        prop_id = _t(f)
                    elif fn == "Значение":
                        vals.append(_t(f) or "")
                if prop_id:
                    values.append(PropertyValue(property_id=prop_id, values=tuple(vals)))
        elif n == "СтавкиНалогов":
            rates = _tax_rates(ch)
        elif n == "Статус":
            status = _t(ch)
        elif n == "ПометкаУдаления":
            deleted = bool(_bool(_t(ch)))
    if status and status.strip().lower() == "удален":
        deleted = True
    return Product(id=_require(pid, el, "Ид"), name=name or "", sku=sku, barcode=barcode, group_ids=groups,
                   unit=unit, description=desc, images=tuple(images), requisites=requisites,
                   property_values=tuple(values), tax_rates=rates, status=status, deleted=deleted)


def _price_type(el) -> PriceType:
    pid = name = cur = tax_name = None
    included = None
    for ch in el:
        n = _ln(ch.tag)
        if n == "Ид":
            pid = _t(ch)
        elif n == "Наименование":
            name = _t(ch)
        elif n == "Валюта":
            cur = _t(ch)
        elif n == "Налог":
            for f in ch:
                fn = _ln(f.tag)
                if fn == "Наименование":
                    tax_name = _t(f)
                elif fn == "УчтеноВСумме":
                    included = _bool(_t(f))
    return PriceType(id=_require(pid, el, "Ид"), name=name or "", currency=cur, tax_name=tax_name,
                     tax_included=included)


def _warehouse(el) -> Warehouse:
    wid = name = addr = None
    for ch in el:
        n = _ln(ch.tag)
        if n == "Ид":
            wid = _t(ch)
        elif n == "Наименование":
            name = _t(ch)
        elif n == "Адрес":
            addr = _address(ch).presentation
    return Warehouse(id=_require(wid, el, "Ид"), name=name or "", address=addr)


def _price(el) -> Price:
    tid = value = cur = unit = coef = pres = None
    for ch in el:
        n = _ln(ch.tag)
        if n == "ИдТипаЦены":
            tid = _t(ch)
        elif n == "ЦенаЗаЕдиницу":
            value = _dec(_t(ch), ch)
        elif n == "Валюта":
            cur = _t(ch)
        elif n == "Единица":
            unit = _t(ch)
        elif n == "Коэффициент":
            coef = _dec(_t(ch), ch)
        elif n == "Представление":
            pres = _t(ch)
    if value is None:
        raise CommerceMLError(f"{_where(el)}: <Цена> without <ЦенаЗаЕдиницу>")
    return Price(price_type_id=_require(tid, el, "ИдТипаЦены"), value=value, currency=cur, unit=unit,
                 coefficient=coef, presentation=pres)


def _offer(el) -> Offer:
    oid = name = sku = None
    unit = None
    quantity = None
    deleted = False
    prices: list[Price] = []
    stocks: list[Stock] = []
    chars: tuple = ()
    for ch in el:
        n = _ln(ch.tag)
        if n == "Ид":
            oid = _t(ch)
        elif n == "Наименование":
            name = _t(ch)
        elif n == "Артикул":
            sku = _t(ch)
        elif n == "БазоваяЕдиница":
            unit = _unit(ch)
        elif n == "Цены":
            prices.extend(_price(p) for p in ch if _ln(p.tag) == "Цена")
        elif n == "Количество":
            quantity = _dec(_t(ch), ch)
        elif n == "Склад":  # 2.x: <Склад ИдСклада=".." КоличествоНаСкладе=".."/>
            wid = ch.get("ИдСклада")
            if wid:
                stocks.append(Stock(warehouse_id=wid, quantity=_dec(ch.get("КоличествоНаСкладе"), ch) or Decimal(0)))
        elif n == "Остатки":  # 3.x rests: Остатки/Остаток/Склад{Ид, Количество} or Остаток/Количество
            for rest in ch:
                for part in rest:
                    pn = _ln(part.tag)
                    if pn == "Склад":
                        wid = qty = None
                        for f in part:
                            fn = _ln(f.tag)
                            if fn == "Ид":
                                wid = _t(f)
                            elif fn == "Количество":
                                qty = _dec(_t(f), f)
                        if wid:
                            stocks.append(Stock(warehouse_id=wid, quantity=qty if qty is not None else Decimal(0)))
                    elif pn == "Количество":
                        quantity = _dec(_t(part), part)
        elif n == "ХарактеристикиТовара":
            chars = _pairs(ch, "ХарактеристикаТовара")
        elif n == "ПометкаУдаления":
            deleted = bool(_bool(_t(ch)))
        elif n == "Статус":
            deleted = deleted or (_t(ch) or "").lower() == "удален"
    oid = _require(oid, el, "Ид")
    product_id, _, char_id = oid.partition("#")
    return Offer(id=oid, product_id=product_id, characteristic_id=char_id or None, name=name, sku=sku, unit=unit,
                 prices=tuple(prices), quantity=quantity, stocks=tuple(stocks), characteristics=chars,
                 deleted=deleted)


def _counterparty(el) -> Counterparty:
    cid = name = full = role = inn = kpp = okpo = first = last = version = None
    deleted = False
    addresses: list[Address] = []
    contacts: tuple = ()
    for ch in el:
        n = _ln(ch.tag)
        if n == "Ид":
            cid = _t(ch)
        elif n == "Наименование":
            name = _t(ch)
        elif n in ("ОфициальноеНаименование", "ПолноеНаименование"):
            full = full or _t(ch)
        elif n == "Роль":
            role = _t(ch)
        elif n == "ИНН":
            inn = _t(ch)
        elif n == "КПП":
            kpp = _t(ch)
        elif n == "КодПоОКПО":
            okpo = _t(ch)
        elif n == "Имя":
            first = _t(ch)
        elif n == "Фамилия":
            last = _t(ch)
        elif n in ("АдресРегистрации", "Адрес", "ЮридическийАдрес", "ФактическийАдрес"):
            addresses.append(_address(ch))
        elif n == "Контакты":
            contacts = _pairs(ch, "Контакт", key="Тип")
        elif n == "НомерВерсии":
            version = _t(ch)
        elif n == "ПометкаУдаления":
            deleted = bool(_bool(_t(ch)))
        elif n == "Реквизиты":  # some exports nest the legal requisites
            for f in ch:
                fn = _ln(f.tag)
                if fn == "ИНН":
                    inn = inn or _t(f)
                elif fn == "КПП":
                    kpp = kpp or _t(f)
                elif fn in ("ОфициальноеНаименование", "ПолноеНаименование"):
                    full = full or _t(f)
    return Counterparty(id=_require(cid, el, "Ид"), name=name, full_name=full, role=role, inn=inn, kpp=kpp,
                        okpo=okpo, first_name=first, last_name=last, addresses=tuple(addresses),
                        contacts=contacts, version=version, deleted=deleted)


def _line(el) -> DocumentLine:
    lid = name = cat = None
    unit = price = qty = amount = coef = None
    rates: tuple = ()
    taxes: tuple = ()
    reqs: tuple = ()
    for ch in el:
        n = _ln(ch.tag)
        if n == "Ид":
            lid = _t(ch)
        elif n == "Наименование":
            name = _t(ch)
        elif n == "ИдКаталога":
            cat = _t(ch)
        elif n in ("БазоваяЕдиница", "Единица"):
            unit = _unit(ch)
        elif n in ("ЦенаЗаЕдиницу", "Цена"):
            price = _dec(_t(ch), ch)
        elif n == "Количество":
            qty = _dec(_t(ch), ch)
        elif n == "Сумма":
            amount = _dec(_t(ch), ch)
        elif n == "Коэффициент":
            coef = _dec(_t(ch), ch)
        elif n == "СтавкиНалогов":
            rates = _tax_rates(ch)
        elif n == "Налоги":
            taxes = _taxes(ch)
        elif n == "ЗначенияРеквизитов":
            reqs = _requisites(ch)
    return DocumentLine(id=_require(lid, el, "Ид"), name=name or "", catalog_id=cat, unit=unit, price=price,
                        quantity=qty, amount=amount, coefficient=coef, tax_rates=rates, taxes=taxes,
                        requisites=reqs)


def _document(el) -> Document:
    f: dict = {}
    counterparties: list[Counterparty] = []
    lines: list[DocumentLine] = []
    taxes: tuple = ()
    reqs: tuple = ()
    warehouses: list[Warehouse] = []
    simple = {"Ид": "id", "Номер": "number", "Дата": "date", "Время": "time", "ХозОперация": "operation",
              "Роль": "role", "Валюта": "currency", "Комментарий": "comment", "Номер1С": "number_1c",
              "Дата1С": "date_1c", "НомерВерсии": "version"}
    for ch in el:
        n = _ln(ch.tag)
        if n in simple:
            f[simple[n]] = _t(ch)
        elif n == "Курс":
            f["rate"] = _dec(_t(ch), ch)
        elif n == "Сумма":
            f["amount"] = _dec(_t(ch), ch)
        elif n == "ПометкаУдаления":
            f["deleted"] = bool(_bool(_t(ch)))
        elif n == "Контрагенты":
            counterparties.extend(_counterparty(c) for c in ch if _ln(c.tag) == "Контрагент")
        elif n == "Товары":
            lines.extend(_line(t) for t in ch if _ln(t.tag) == "Товар")
        elif n == "Налоги":
            taxes = _taxes(ch)
        elif n == "ЗначенияРеквизитов":
            reqs = _requisites(ch)
        elif n == "Склады":
            warehouses.extend(_warehouse(w) for w in ch if _ln(w.tag) == "Склад")
    f["id"] = _require(f.get("id"), el, "Ид")
    return Document(counterparties=tuple(counterparties), lines=tuple(lines), taxes=taxes, requisites=reqs,
                    warehouses=tuple(warehouses), **f)


def _release(el) -> None:
    """Free a consumed record element and every earlier sibling, so the in-memory tree never grows."""
    el.clear(keep_tail=False)
    parent = el.getparent()
    if parent is not None:
        while el.getprevious() is not None:
            del parent[0]


def _pname(el) -> str:
    p = el.getparent()
    return _ln(p.tag) if p is not None else ""


def _gpname(el) -> str:
    p = el.getparent()
    if p is None:
        return ""
    g = p.getparent()
    return _ln(g.tag) if g is not None else ""


class CommerceMLReader:
    """Iterate the records of one CommerceML XML stream.

    ``source``: a path, bytes, or a binary file object (e.g. a zip member from ``ZipFile.open``). The DOCTYPE
    safety check runs on construction (raising :class:`UnsafeXMLError` before anything is yielded); ``info`` is
    set once the root element has been read (i.e. after the first ``next()``); ``completed`` turns True only when
    the whole file was parsed — a consumer of a full dump (``Package.only_changes is False``) must not deactivate
    "missing" items unless it is.
    """

    def __init__(self, source: Source, *, name: str | None = None) -> None:
        if isinstance(source, (bytes, bytearray)):
            raw: BinaryIO = io.BytesIO(bytes(source))
            self.name = name or "<bytes>"
            self._owns = True
        elif isinstance(source, (str, os.PathLike)):
            raw = open(source, "rb")  # noqa: SIM115 - closed in __iter__/close
            self.name = name or os.fspath(source)
            self._owns = True
        else:
            raw = source
            self.name = name or getattr(source, "name", "<stream>")
            self._owns = False
        try:
            self._stream = GuardedStream(raw, name=str(self.name))
        except BaseException:
            if self._owns:
                raw.close()
            raise
        self._raw = raw
        self.info: FileInfo | None = None
        self.completed = False

    def close(self) -> None:
        if self._owns:
            self._raw.close()

    def __iter__(self) -> Iterator[Record]:
        try:
            yield from self._records()
            self.completed = True
        except etree.XMLSyntaxError as exc:
            raise CommerceMLError(f"{self.name}: XML error at line {exc.lineno}: {exc.msg}") from None
        finally:
            self.close()

    def _records(self) -> Iterator[Record]:
        group_frames: list[list] = []  # one [emitted_id or None] per open classifier Группа
        section = None  # [kind, element, emitted]
        root_seen = False
        for event, el in etree.iterparse(self._stream, events=("start", "end"), tag=_TAGS, **PARSER_OPTIONS):
            name = _ln(el.tag)
            if not root_seen:
                if name != ROOT:
                    raise CommerceMLError(f"{self.name}: root element is <{name}>, expected <{ROOT}>")
                root_seen = True
                self.info = FileInfo(version=el.get("ВерсияСхемы") or "", generated_at=el.get("ДатаФормирования"),
                                     namespace=_ns(el.tag), encoding=self._stream.encoding, bom=self._stream.bom)
                continue
            if event == "start":
                if name in _SECTIONS and _pname(el) == ROOT:
                    section = [_SECTIONS[name], el, False]
                elif name in ("Товары", "Предложения") and section and el.getparent() is section[1]:
                    if not section[2]:
                        section[2] = True
                        yield self._package(section)
                elif name == "Контрагенты" and _pname(el) in (ROOT, "Классификатор"):
                    yield Package(kind="counterparties", id=None, name=None, catalog_id=None, classifier_id=None,
                                  only_changes=_bool(el.get("СодержитТолькоИзменения")))
                elif name == "Группа" and _pname(el) == "Группы" and _gpname(el) in ("Классификатор", "Группа"):
                    group_frames.append([None])
                elif name == "Группы" and _pname(el) == "Группа" and group_frames:
                    frame = group_frames[-1]
                    if frame[0] is None:
                        parent_id = group_frames[-2][0] if len(group_frames) > 1 else None
                        group = _group(el.getparent(), parent_id)
                        frame[0] = group.id
                        yield group
                continue
            # end events
            parent = _pname(el)
            if name == "Группа" and parent == "Группы" and _gpname(el) in ("Классификатор", "Группа"):
                frame = group_frames.pop()
                if frame[0] is None:
                    parent_id = group_frames[-1][0] if group_frames else None
                    yield _group(el, parent_id)
                _release(el)
            elif name == "Товар" and parent == "Товары" and _gpname(el) == "Каталог":
                yield _product(el)
                _release(el)
            elif name == "Предложение" and parent == "Предложения":
                yield _offer(el)
                _release(el)
            elif name == "ТипЦены" and parent == "ТипыЦен" and _gpname(el) in _WAREHOUSE_OWNERS:
                yield _price_type(el)
                _release(el)
            elif name == "Склад" and parent == "Склады" and _gpname(el) in _WAREHOUSE_OWNERS:
                yield _warehouse(el)
                _release(el)
            elif name == "Свойство" and parent in ("Свойства", "СвойстваНоменклатуры") \
                    and _gpname(el) == "Классификатор":
                yield _property(el)
                _release(el)
            elif name == "Документ" and (parent == ROOT or parent == "Контейнер"):
                yield _document(el)
                _release(el)
            elif name == "Контрагент" and parent == "Контрагенты" and _gpname(el) in (ROOT, "Классификатор"):
                yield _counterparty(el)
                _release(el)
            elif name in _SECTIONS and section and el is section[1]:
                if not section[2]:
                    section[2] = True
                    yield self._package(section)
                section = None
                _release(el)
        if not root_seen:
            raise CommerceMLError(f"{self.name}: no <{ROOT}> root element")

    @staticmethod
    def _package(section: list) -> Package:
        kind, el = section[0], section[1]
        vals: dict[str, str | None] = {}
        only = _bool(el.get("СодержитТолькоИзменения"))
        for ch in el:
            n = _ln(ch.tag)
            if n in ("Ид", "Наименование", "ИдКаталога", "ИдКлассификатора"):
                vals[n] = _t(ch)
            elif n == "СодержитТолькоИзменения" and only is None:  # old files: child element (§3.3 [WC1C])
                only = _bool(_t(ch))
        return Package(kind=kind, id=vals.get("Ид"), name=vals.get("Наименование"),
                       catalog_id=vals.get("ИдКаталога"), classifier_id=vals.get("ИдКлассификатора"),
                       only_changes=only)


def read(source: Source, *, name: str | None = None) -> Iterator[Record]:
    """Shortcut: ``for record in read("offers.xml"): ...``."""
    return iter(CommerceMLReader(source, name=name))


def is_zip(path: str | os.PathLike) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) == b"PK\x03\x04"


_ORDER = ("import", "offers", "prices", "rests", "contractors", "contragents", "documents", "orders")


def _member_rank(name: str) -> tuple[int, str]:
    base = Path(name).name.lower()
    for i, prefix in enumerate(_ORDER):
        if base.startswith(prefix):
            return i, name
    return len(_ORDER), name


def zip_members(zf: zipfile.ZipFile) -> list[str]:
    """XML members of a 1C package in import order (classifier/catalog before offers, prices, rests — §3.2);
    images under ``import_files/`` are skipped."""
    names = [i.filename for i in zf.infolist()
             if not i.is_dir() and i.filename.lower().endswith(".xml")
             and not i.filename.replace("\\", "/").lower().startswith("import_files/")]
    return sorted(names, key=_member_rank)


def open_any(path: str | os.PathLike) -> Iterator[tuple[str, CommerceMLReader]]:
    """Yield ``(name, reader)`` for an XML file, or for each XML member of a zip package, streamed straight from
    the archive (nothing is extracted to disk)."""
    if is_zip(path):
        with zipfile.ZipFile(path) as zf:
            for member in zip_members(zf):
                with zf.open(member) as fh:
                    yield member, CommerceMLReader(fh, name=member)
    else:
        yield os.fspath(path), CommerceMLReader(path)


def count(source: Source | CommerceMLReader) -> tuple[FileInfo | None, Counts]:
    reader = source if isinstance(source, CommerceMLReader) else CommerceMLReader(source)
    counts = Counts()
    for rec in reader:
        counts.add(rec)
    return reader.info, counts

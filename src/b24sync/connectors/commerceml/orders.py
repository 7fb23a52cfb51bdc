"""Orders site → 1C (writer) and order changes 1C → site (reader).

Shapes follow the fact sheet /work/shared/research/erp-side.md:

* §3.3 ``Документ`` element order per the 2.10 XSD [CML-STD]: Ид, Номер, Дата, ХозОперация, Роль, Валюта, Курс,
  Сумма, Контрагенты, Время, Комментарий, Налоги, Склады, Товары, ЗначенияРеквизитов. 1C's reader matches by name,
  and the same order is valid for 2.05–2.10 (the Bitrix 2.03/2.05 samples 03/04 use it too).
* §3.3 order requisites written by Bitrix and understood by 1C: «Заказ оплачен», «Доставка разрешена», «Отменен»,
  «Финальный статус», «Статус заказа», «Дата оплаты», «Дата изменения статуса» (samples 03/04).
* §3.3 back-sync documents from 1C carry ``Номер1С``, ``Дата1С``, ``НомерВерсии``, ``ПометкаУдаления`` and the
  requisites «Проведен», «Номер оплаты по 1С», «Дата оплаты по 1С», «Номер отгрузки по 1С», «Дата отгрузки по 1С»,
  «Статуса заказа ИД» (sample 06).
* §3.1 encoding: UTF-8 by default **with BOM** (several 1C versions refuse an orders file without it), or
  windows-1251; namespace absent by default (Bitrix order files, known to be accepted by 1C, have none).
* §3.2/§3.4: a Bitrix ≥ 6.5 site wraps each ``Документ`` in ``Контейнер`` — optional here (``containers=True``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from lxml import etree

from b24sync.connectors.commerceml.model import Counterparty, Document, DocumentLine, Tax, Unit
from b24sync.connectors.commerceml.reader import CommerceMLReader, Source
from b24sync.connectors.commerceml.safety import CommerceMLError

SUPPORTED_VERSIONS = ("2.03", "2.04", "2.05", "2.06", "2.07", "2.08", "2.09", "2.10")
NS_CML2 = "urn:1C.ru:commerceml_2"
ORDER_OPERATION = "Заказ товара"  # §3.3 ХозОперация codes (2.10)

# Formatting attributes declared by Bitrix's 2.05 order export (§3.3 "Formatting quirks", sample 04).
_BITRIX_FORMAT_ATTRS = (
    ("ФорматДаты", "ДФ=yyyy-MM-dd; ДЛФ=DT"),
    ("ФорматВремени", "ДФ=ЧЧ:мм:сс; ДЛФ=T"),
    ("РазделительДатаВремя", "T"),
    ("ФорматСуммы", "ЧЦ=18; ЧДЦ=2; ЧРД=."),
    ("ФорматКоличества", "ЧЦ=18; ЧДЦ=2; ЧРД=."),
)


def _num(value: Decimal | int | str) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def order_requisites(*, status: str | None = None, status_id: str | None = None, paid: bool | None = None,
                     payment_date: str | None = None, payment_method: str | None = None,
                     delivery_allowed: bool | None = None, shipped: bool | None = None,
                     cancelled: bool | None = None, final: bool | None = None,
                     status_changed_at: str | None = None, site: str | None = None,
                     extra: Iterable[tuple[str, str]] = ()) -> tuple[tuple[str, str], ...]:
    """Build an order's ``ЗначенияРеквизитов`` with the names Bitrix writes (§3.3, samples 03/04). ``shipped``
    («Отгружен») is not in the samples; it is written only when given."""
    out: list[tuple[str, str]] = []
    if payment_date is not None:
        out.append(("Дата оплаты", payment_date))
    if payment_method is not None:
        out.append(("Метод оплаты", payment_method))
    if paid is not None:
        out.append(("Заказ оплачен", _bool(paid)))
    if delivery_allowed is not None:
        out.append(("Доставка разрешена", _bool(delivery_allowed)))
    if shipped is not None:
        out.append(("Отгружен", _bool(shipped)))
    if cancelled is not None:
        out.append(("Отменен", _bool(cancelled)))
    if final is not None:
        out.append(("Финальный статус", _bool(final)))
    if status is not None:
        out.append(("Статус заказа", status))
    if status_id is not None:
        out.append(("Статуса заказа ИД", status_id))
    if status_changed_at is not None:
        out.append(("Дата изменения статуса", status_changed_at))
    if site is not None:
        out.append(("Сайт", site))
    out.extend(extra)
    return tuple(out)


class _Builder:
    def __init__(self, ns: str | None) -> None:
        self.ns = ns

    def q(self, name: str) -> str:
        return f"{{{self.ns}}}{name}" if self.ns else name

    def sub(self, parent, name: str, text: str | None = None, **attrs: str):
        el = etree.SubElement(parent, self.q(name), {k: v for k, v in attrs.items() if v is not None})
        if text is not None:
            el.text = text
        return el

    def opt(self, parent, name: str, value) -> None:
        if value is None:
            return
        if isinstance(value, bool):
            self.sub(parent, name, _bool(value))
        elif isinstance(value, (Decimal, int)):
            self.sub(parent, name, _num(value))
        else:
            self.sub(parent, name, str(value))

    def requisites(self, parent, pairs) -> None:
        if not pairs:
            return
        box = self.sub(parent, "ЗначенияРеквизитов")
        for key, value in pairs:
            item = self.sub(box, "ЗначениеРеквизита")
            self.sub(item, "Наименование", key)
            self.sub(item, "Значение", value)

    def unit(self, parent, unit: Unit | None) -> None:
        if unit is None:
            return
        self.sub(parent, "БазоваяЕдиница", unit.short_name, **{
            "Код": unit.code, "НаименованиеПолное": unit.full_name, "МеждународноеСокращение": unit.international})

    def taxes(self, parent, taxes: tuple[Tax, ...]) -> None:
        if not taxes:
            return
        box = self.sub(parent, "Налоги")
        for tax in taxes:
            el = self.sub(box, "Налог")
            self.sub(el, "Наименование", tax.name)
            self.opt(el, "УчтеноВСумме", tax.included)
            self.opt(el, "Сумма", tax.amount)
            self.opt(el, "Ставка", tax.rate)

    def counterparty(self, parent, cp: Counterparty) -> None:
        el = self.sub(parent, "Контрагент")
        self.sub(el, "Ид", cp.id)
        self.opt(el, "НомерВерсии", cp.version)
        if cp.deleted:
            self.sub(el, "ПометкаУдаления", "true")
        self.sub(el, "Наименование", cp.name or "")
        # Legal entities (10-digit INN) carry ОфициальноеНаименование (sample 07), persons ПолноеНаименование
        # (Bitrix orders, samples 03/04).
        if cp.full_name is not None:
            tag = "ОфициальноеНаименование" if cp.inn and len(cp.inn) == 10 else "ПолноеНаименование"
            self.sub(el, tag, cp.full_name)
        self.opt(el, "Фамилия", cp.last_name)
        self.opt(el, "Имя", cp.first_name)
        self.opt(el, "ИНН", cp.inn)
        self.opt(el, "КПП", cp.kpp)
        self.opt(el, "КодПоОКПО", cp.okpo)
        for addr in cp.addresses:
            a = self.sub(el, addr.kind or "АдресРегистрации")
            self.sub(a, "Представление", addr.presentation or "")
            for typ, value in addr.fields:
                f = self.sub(a, "АдресноеПоле")
                self.sub(f, "Тип", typ)
                self.sub(f, "Значение", value)
        if cp.contacts:
            box = self.sub(el, "Контакты")
            for typ, value in cp.contacts:
                c = self.sub(box, "Контакт")
                self.sub(c, "Тип", typ)
                self.sub(c, "Значение", value)
        self.sub(el, "Роль", cp.role or "Покупатель")

    def line(self, parent, line: DocumentLine) -> None:
        el = self.sub(parent, "Товар")
        self.sub(el, "Ид", line.id)
        self.opt(el, "ИдКаталога", line.catalog_id)
        self.sub(el, "Наименование", line.name)
        self.unit(el, line.unit)
        self.opt(el, "ЦенаЗаЕдиницу", line.price)
        self.opt(el, "Количество", line.quantity)
        self.opt(el, "Сумма", line.amount)
        self.opt(el, "Коэффициент", line.coefficient)
        if line.tax_rates:
            box = self.sub(el, "СтавкиНалогов")
            for rate in line.tax_rates:
                r = self.sub(box, "СтавкаНалога")
                self.sub(r, "Наименование", rate.name)
                self.opt(r, "Ставка", rate.rate)
        self.taxes(el, line.taxes)
        self.requisites(el, line.requisites)

    def document(self, parent, doc: Document) -> None:
        el = self.sub(parent, "Документ")
        self.sub(el, "Ид", doc.id)
        self.opt(el, "НомерВерсии", doc.version)
        if doc.deleted:
            self.sub(el, "ПометкаУдаления", "true")
        self.sub(el, "Номер", doc.number if doc.number is not None else doc.id)
        self.opt(el, "Номер1С", doc.number_1c)
        self.sub(el, "Дата", doc.date or datetime.now().strftime("%Y-%m-%d"))
        self.opt(el, "Дата1С", doc.date_1c)
        self.sub(el, "ХозОперация", doc.operation or ORDER_OPERATION)
        self.sub(el, "Роль", doc.role or "Продавец")
        self.sub(el, "Валюта", doc.currency or "RUB")
        self.sub(el, "Курс", _num(doc.rate if doc.rate is not None else Decimal(1)))
        self.sub(el, "Сумма", _num(doc.amount if doc.amount is not None else Decimal(0)))
        cps = self.sub(el, "Контрагенты")
        for cp in doc.counterparties:
            self.counterparty(cps, cp)
        self.opt(el, "Время", doc.time)
        self.opt(el, "Комментарий", doc.comment)
        self.taxes(el, doc.taxes)
        if doc.warehouses:
            box = self.sub(el, "Склады")
            for wh in doc.warehouses:
                w = self.sub(box, "Склад")
                self.sub(w, "Ид", wh.id)
                self.sub(w, "Наименование", wh.name)
        goods = self.sub(el, "Товары")
        for line in doc.lines:
            self.line(goods, line)
        self.requisites(el, doc.requisites)


def write_documents(documents: Iterable[Document], *, version: str = "2.08", encoding: str = "utf-8",
                    bom: bool | None = None, namespace: str | None = None, containers: bool = False,
                    generated_at: datetime | None = None) -> bytes:
    """Serialize documents (orders) as one ``КоммерческаяИнформация`` file; returns the exact bytes to send.

    ``version``: 2.03…2.10 (2.05/2.08/2.10 are the ones 1C asks for in ``init``); ``encoding``: ``utf-8`` or
    ``windows-1251`` (characters outside cp1251 become character references, never lost); ``bom`` defaults to
    True for UTF-8 (§3.1); ``namespace``: None or ``urn:1C.ru:commerceml_2``.
    """
    if version not in SUPPORTED_VERSIONS:
        raise CommerceMLError(f"CommerceML version {version!r} is not supported for writing; "
                              f"use one of {', '.join(SUPPORTED_VERSIONS)}")
    enc = encoding.lower().replace("_", "-")
    if enc in ("utf8", "utf-8"):
        enc_name = "UTF-8"
    elif enc in ("windows-1251", "cp1251"):
        enc_name = "windows-1251"
    else:
        raise CommerceMLError(f"encoding {encoding!r} is not supported; use utf-8 or windows-1251")
    b = _Builder(namespace)
    attrs = {"ВерсияСхемы": version,
             "ДатаФормирования": (generated_at or datetime.now()).strftime("%Y-%m-%dT%H:%M:%S")}
    if version <= "2.05":
        attrs.update(_BITRIX_FORMAT_ATTRS)
    root = etree.Element(b.q("КоммерческаяИнформация"), attrs, nsmap={None: namespace} if namespace else None)
    for doc in documents:
        b.document(b.sub(root, "Контейнер") if containers else root, doc)
    body = etree.tostring(root, encoding=enc_name, xml_declaration=False, pretty_print=True)
    head = f'<?xml version="1.0" encoding="{enc_name}"?>\n'.encode("ascii")
    use_bom = (enc_name == "UTF-8") if bom is None else (bom and enc_name == "UTF-8")
    return (b"\xef\xbb\xbf" if use_bom else b"") + head + body


@dataclass(slots=True, frozen=True)
class OrderChange:
    """What 1C says about an order (documents file posted back, §3.2 ``documents___…xml``): numbers, status,
    payment and shipment marks. ``None`` means "not stated in the file", never "false"."""

    order_id: str  # Документ/Ид — the site's order id
    number: str | None
    number_1c: str | None
    date_1c: str | None
    status: str | None
    status_id: str | None
    paid: bool | None
    payment_number: str | None
    payment_date: str | None
    shipped: bool | None
    shipment_number: str | None
    shipment_date: str | None
    delivery_allowed: bool | None
    cancelled: bool | None
    posted: bool | None
    deleted: bool
    amount: Decimal | None
    currency: str | None
    document: Document


def _flag(doc: Document, *names: str) -> bool | None:
    for name in names:
        value = doc.requisite(name)
        if value is not None:
            low = value.strip().lower()
            if low in ("true", "1", "да"):
                return True
            if low in ("false", "0", "нет"):
                return False
    return None


def _first(doc: Document, *names: str) -> str | None:
    for name in names:
        value = doc.requisite(name)
        if value:
            return value
    return None


def order_change(doc: Document) -> OrderChange:
    payment_number = _first(doc, "Номер оплаты по 1С", "Номер платежного документа")
    payment_date = _first(doc, "Дата оплаты по 1С", "Дата оплаты")
    shipment_number = _first(doc, "Номер отгрузки по 1С")
    shipment_date = _first(doc, "Дата отгрузки по 1С", "Дата отгрузки")
    paid = _flag(doc, "Заказ оплачен", "Оплачен")
    if paid is None and payment_number:
        paid = True  # 1C states the payment document; sample 06 carries no explicit flag
    shipped = _flag(doc, "Отгружен")
    if shipped is None and shipment_number:
        shipped = True
    return OrderChange(
        order_id=doc.id, number=doc.number, number_1c=doc.number_1c, date_1c=doc.date_1c,
        status=_first(doc, "Статус заказа"), status_id=_first(doc, "Статуса заказа ИД", "Статус заказа ИД"),
        paid=paid, payment_number=payment_number, payment_date=payment_date, shipped=shipped,
        shipment_number=shipment_number, shipment_date=shipment_date,
        delivery_allowed=_flag(doc, "Доставка разрешена"), cancelled=_flag(doc, "Отменен"),
        posted=_flag(doc, "Проведен"), deleted=doc.deleted, amount=doc.amount, currency=doc.currency,
        document=doc)


def read_documents(source: Source, *, name: str | None = None) -> Iterator[Document]:
    for rec in CommerceMLReader(source, name=name):
        if isinstance(rec, Document):
            yield rec


def read_order_changes(source: Source, *, name: str | None = None) -> Iterator[OrderChange]:
    """Order changes from a documents file 1C posts back (or any file with ``Документ`` elements)."""
    for doc in read_documents(source, name=name):
        yield order_change(doc)

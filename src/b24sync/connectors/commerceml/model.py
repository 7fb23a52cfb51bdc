"""Typed records produced by the CommerceML reader and consumed by the order writer.

Field names are English; each docstring names the CommerceML element it comes from. Element meanings follow the
fact sheet /work/shared/research/erp-side.md §3.3 ([CML-STD] 2.10 XSD, [SAMPLES] 01–09).

Money and quantities are ``Decimal`` (never float: §10.3, sums may carry four decimals like ``231.7400``).
Dates stay naive strings/`date` exactly as 1C wrote them (§10.3: converting a 1C date to UTC shifts the day).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

Pairs = tuple[tuple[str, str], ...]


def _lookup(pairs: Pairs, name: str, default: str | None = None) -> str | None:
    for key, value in pairs:
        if key == name:
            return value
    return default


@dataclass(slots=True, frozen=True)
class FileInfo:
    """Root ``КоммерческаяИнформация``: ``ВерсияСхемы``, ``ДатаФормирования`` (§3.1); how the bytes were encoded."""

    version: str
    generated_at: str | None
    namespace: str | None  # None, "urn:1C.ru:commerceml_2" or "urn:1C.ru:commerceml_3"
    encoding: str  # as declared (upper-cased), "UTF-8" when no declaration
    bom: bool


@dataclass(slots=True, frozen=True)
class Package:
    """Header of a section: ``Каталог`` / ``ПакетПредложений`` / ``ИзмененияПакетаПредложений`` / ``Контрагенты``.

    ``only_changes`` is ``СодержитТолькоИзменения`` (attribute, or a child element in old files — §3.3 [WC1C]):
    False means a full dump (items absent from the file may be deactivated), True a delta, None when absent.
    Yielded before the first record of the section.
    """

    kind: str  # "catalog" | "offers" | "offers_changes" | "counterparties"
    id: str | None
    name: str | None
    catalog_id: str | None
    classifier_id: str | None
    only_changes: bool | None


@dataclass(slots=True, frozen=True)
class Unit:
    """``БазоваяЕдиница`` (attr ``Код`` = OKEI, ``НаименованиеПолное``, ``МеждународноеСокращение``, text = short)
    or a document line's ``Единица{Код, НаименованиеКраткое, НаименованиеПолное}``. The code is trimmed: Bitrix
    sends ``"796 "`` (§3.3, §10.2)."""

    code: str | None
    full_name: str | None = None
    short_name: str | None = None
    international: str | None = None


@dataclass(slots=True, frozen=True)
class Group:
    """``Классификатор/Группы/Группа`` (nested). Parents are always yielded before their children."""

    id: str
    name: str
    parent_id: str | None
    description: str | None = None


@dataclass(slots=True, frozen=True)
class Property:
    """``Классификатор/Свойства/Свойство``: ``ТипЗначений`` and, for ``Справочник``, the variants
    (``ВариантыЗначений/Справочник{ИдЗначения, Значение}``) as (value id, text) pairs."""

    id: str
    name: str
    value_type: str | None
    variants: Pairs = ()


@dataclass(slots=True, frozen=True)
class PropertyValue:
    """``ЗначенияСвойств/ЗначенияСвойства{Ид, Значение+}``; a value may be a variant id of the property."""

    property_id: str
    values: tuple[str, ...]


@dataclass(slots=True, frozen=True)
class TaxRate:
    """``СтавкиНалогов/СтавкаНалога{Наименование, Ставка}``; ``rate`` is kept as text ("18", "Без НДС")."""

    name: str
    rate: str | None


@dataclass(slots=True, frozen=True)
class Tax:
    """``Налоги/Налог{Наименование, УчтеноВСумме, Сумма, Ставка}`` on documents and lines."""

    name: str
    included: bool | None
    amount: Decimal | None
    rate: str | None = None


@dataclass(slots=True, frozen=True)
class Product:
    """``Каталог/Товары/Товар``. ``requisites`` = ``ЗначенияРеквизитов`` as ordered (name, value) pairs (names may
    repeat, e.g. ``ОписаниеФайла``). ``deleted``: ``ПометкаУдаления`` true or ``Статус`` «Удален» (§3.3)."""

    id: str
    name: str
    sku: str | None = None
    barcode: str | None = None
    group_ids: tuple[str, ...] = ()
    unit: Unit | None = None
    description: str | None = None
    images: tuple[str, ...] = ()
    requisites: Pairs = ()
    property_values: tuple[PropertyValue, ...] = ()
    tax_rates: tuple[TaxRate, ...] = ()
    status: str | None = None
    deleted: bool = False

    def requisite(self, name: str, default: str | None = None) -> str | None:
        return _lookup(self.requisites, name, default)


@dataclass(slots=True, frozen=True)
class PriceType:
    """``ТипыЦен/ТипЦены{Ид, Наименование, Валюта, Налог{Наименование, УчтеноВСумме}}`` (§3.3)."""

    id: str
    name: str
    currency: str | None = None
    tax_name: str | None = None
    tax_included: bool | None = None


@dataclass(slots=True, frozen=True)
class Warehouse:
    """``Склады/Склад{Ид, Наименование, Адрес/Представление}`` of a package or classifier."""

    id: str
    name: str
    address: str | None = None


@dataclass(slots=True, frozen=True)
class Price:
    """``Цены/Цена{Представление, ИдТипаЦены, ЦенаЗаЕдиницу, Валюта, Единица, Коэффициент}`` (§3.3)."""

    price_type_id: str
    value: Decimal
    currency: str | None = None
    unit: str | None = None
    coefficient: Decimal | None = None
    presentation: str | None = None


@dataclass(slots=True, frozen=True)
class Stock:
    """Stock of an offer on one warehouse: ``Склад`` attributes ``ИдСклада``/``КоличествоНаСкладе`` (2.x) or
    ``Остатки/Остаток/Склад{Ид, Количество}`` (3.x rests, §3.2)."""

    warehouse_id: str
    quantity: Decimal


@dataclass(slots=True, frozen=True)
class Offer:
    """``ПакетПредложений/Предложения/Предложение``. ``id`` may be ``<product>#<characteristic>`` (§3.3);
    ``product_id``/``characteristic_id`` are the two halves. Split 3.x files carry only prices or only stocks."""

    id: str
    product_id: str
    characteristic_id: str | None = None
    name: str | None = None
    sku: str | None = None
    unit: Unit | None = None
    prices: tuple[Price, ...] = ()
    quantity: Decimal | None = None
    stocks: tuple[Stock, ...] = ()
    characteristics: Pairs = ()
    deleted: bool = False


@dataclass(slots=True, frozen=True)
class Address:
    """``АдресРегистрации`` / ``Адрес`` / ``ЮридическийАдрес``: ``Представление`` + ``АдресноеПоле{Тип, Значение}``."""

    kind: str  # local element name: "АдресРегистрации", "Адрес", ...
    presentation: str | None
    fields: Pairs = ()


@dataclass(slots=True, frozen=True)
class Counterparty:
    """``Контрагент`` (top-level ``Контрагенты`` of a 2.09 contractors file, or inside a ``Документ``).
    INN is kept as written: foreign counterparties carry non-RU numbers (§3.3, sample 07)."""

    id: str
    name: str | None = None
    full_name: str | None = None  # ОфициальноеНаименование or ПолноеНаименование
    role: str | None = None
    inn: str | None = None
    kpp: str | None = None
    okpo: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    addresses: tuple[Address, ...] = ()
    contacts: Pairs = ()  # (Тип, Значение)
    version: str | None = None  # НомерВерсии
    deleted: bool = False


@dataclass(slots=True, frozen=True)
class DocumentLine:
    """``Документ/Товары/Товар``. Site-written orders use ``ЦенаЗаЕдиницу`` + ``БазоваяЕдиница``; 1C back-sync
    documents use ``Цена`` + ``Единица{Код,...}`` + ``Коэффициент`` (sample 06) — both land here."""

    id: str
    name: str
    catalog_id: str | None = None
    unit: Unit | None = None
    price: Decimal | None = None
    quantity: Decimal | None = None
    amount: Decimal | None = None
    coefficient: Decimal | None = None
    tax_rates: tuple[TaxRate, ...] = ()
    taxes: tuple[Tax, ...] = ()
    requisites: Pairs = ()

    def requisite(self, name: str, default: str | None = None) -> str | None:
        return _lookup(self.requisites, name, default)


@dataclass(slots=True, frozen=True)
class Document:
    """``Документ`` (§3.3): orders site → 1C (``ХозОперация`` «Заказ товара») and documents 1C → site
    (``Номер1С``, ``Дата1С``, ``НомерВерсии``, ``ПометкаУдаления``)."""

    id: str
    number: str | None = None
    date: str | None = None  # YYYY-MM-DD as written
    time: str | None = None
    operation: str | None = None  # ХозОперация
    role: str | None = None
    currency: str | None = None
    rate: Decimal | None = None
    amount: Decimal | None = None
    comment: str | None = None
    counterparties: tuple[Counterparty, ...] = ()
    lines: tuple[DocumentLine, ...] = ()
    taxes: tuple[Tax, ...] = ()
    requisites: Pairs = ()
    warehouses: tuple[Warehouse, ...] = ()
    number_1c: str | None = None
    date_1c: str | None = None
    version: str | None = None
    deleted: bool = False

    def requisite(self, name: str, default: str | None = None) -> str | None:
        return _lookup(self.requisites, name, default)


Record = Package | Group | Property | Product | PriceType | Warehouse | Offer | Counterparty | Document


@dataclass(slots=True)
class Counts:
    """What ``inspect`` reports."""

    groups: int = 0
    properties: int = 0
    products: int = 0
    offers: int = 0
    price_types: int = 0
    warehouses: int = 0
    documents: int = 0
    counterparties: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    def add(self, record: object) -> None:
        name = _COUNT_FIELD.get(type(record))
        if name:
            setattr(self, name, getattr(self, name) + 1)


_COUNT_FIELD: dict[type, str] = {
    Group: "groups", Property: "properties", Product: "products", Offer: "offers", PriceType: "price_types",
    Warehouse: "warehouses", Document: "documents", Counterparty: "counterparties",
}

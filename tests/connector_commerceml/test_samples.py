"""Every real sample in /work/shared/samples/commerceml parses, with counts checked two independent ways:

1. an lxml full-tree parse + XPath by local name (a different mechanism from the streaming reader);
2. the numbers written by hand in the samples' SOURCES.md (e.g. "22 groups, 10 properties", "5 offers",
   "2 orders, 8 line items", "14 warehouse entries").
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from b24sync.connectors.commerceml import (
    CommerceMLReader, Counterparty, Document, Group, Offer, Package, PriceType, Product, Property, Warehouse,
    read, read_order_changes,
)

SAMPLES = Path("/work/shared/samples/commerceml")
FILES = sorted(p.name for p in SAMPLES.glob("*.xml"))


def _xpath_counts(path: Path) -> dict[str, int]:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    tree = etree.parse(str(path), parser)

    def n(expr: str) -> int:
        return int(tree.xpath(f"count({expr})"))

    ln = "*[local-name()='{}']".format
    return {
        "groups": n(f"//{ln('Классификатор')}//{ln('Группа')}"),
        "properties": n(f"/{ln('КоммерческаяИнформация')}/{ln('Классификатор')}/{ln('Свойства')}/{ln('Свойство')}"),
        "products": n(f"//{ln('Каталог')}/{ln('Товары')}/{ln('Товар')}"),
        "offers": n(f"//{ln('Предложения')}/{ln('Предложение')}"),
        "price_types": n(f"//{ln('ТипыЦен')}/{ln('ТипЦены')}"),
        "warehouses": n(f"//{ln('ПакетПредложений')}/{ln('Склады')}/{ln('Склад')}"),
        "documents": n(f"/{ln('КоммерческаяИнформация')}/{ln('Документ')}"),
        "counterparties": n(f"/{ln('КоммерческаяИнформация')}/{ln('Контрагенты')}/{ln('Контрагент')}"),
        "lines": n(f"//{ln('Документ')}/{ln('Товары')}/{ln('Товар')}"),
        "stock_entries": n(f"//{ln('Предложение')}/{ln('Остатки')}/{ln('Остаток')}/{ln('Склад')}")
        + n(f"//{ln('Предложение')}/{ln('Склад')}"),
    }


def _reader_counts(path: Path) -> dict[str, int]:
    kinds = {Group: "groups", Property: "properties", Product: "products", Offer: "offers",
             PriceType: "price_types", Warehouse: "warehouses", Document: "documents",
             Counterparty: "counterparties"}
    out = dict.fromkeys([*kinds.values(), "lines", "stock_entries"], 0)
    for rec in read(path):
        if type(rec) in kinds:
            out[kinds[type(rec)]] += 1
        if isinstance(rec, Document):
            out["lines"] += len(rec.lines)
        if isinstance(rec, Offer):
            out["stock_entries"] += len(rec.stocks)
    return out


def test_all_samples_present():
    assert len(FILES) == 9, FILES


@pytest.mark.parametrize("name", FILES)
def test_counts_match_full_parse(name):
    assert _reader_counts(SAMPLES / name) == _xpath_counts(SAMPLES / name)


# Hand-written in SOURCES.md next to each file (counts from the file description column).
HAND = {
    "01-import-2.07-utf8.xml": {"groups": 22, "properties": 10, "products": 2},
    "02-offers-2.07-utf8.xml": {"offers": 5},
    "03-orders-site-to-1c-2.03-cp1251.xml": {"documents": 1, "lines": 2},
    "04-sale-query-response-2.05-cp1251.xml": {"documents": 2, "lines": 8},
    "05-sale-query-response-empty-2.05-cp1251.xml": {"documents": 0, "lines": 0},
    "06-documents-1c-to-site-2.09-utf8.xml": {"documents": 2},
    "07-contractors-2.09-utf8.xml": {"counterparties": 4},
    "08-rests-3.1-utf8.xml": {"offers": 2, "stock_entries": 14},
    "09-prices-3.1-utf8.xml": {"offers": 3},
}


@pytest.mark.parametrize("name", sorted(HAND))
def test_counts_match_sources_md(name):
    got = _reader_counts(SAMPLES / name)
    for key, value in HAND[name].items():
        assert got[key] == value, key


EXPECTED_INFO = {  # from SOURCES.md: schema, namespace, encoding/BOM columns
    "01-import-2.07-utf8.xml": ("2.07", "urn:1C.ru:commerceml_2", "UTF-8", True),
    "02-offers-2.07-utf8.xml": ("2.07", "urn:1C.ru:commerceml_2", "UTF-8", True),
    "03-orders-site-to-1c-2.03-cp1251.xml": ("2.03", None, "WINDOWS-1251", False),
    "04-sale-query-response-2.05-cp1251.xml": ("2.05", None, "WINDOWS-1251", False),
    "05-sale-query-response-empty-2.05-cp1251.xml": ("2.05", None, "WINDOWS-1251", False),
    "06-documents-1c-to-site-2.09-utf8.xml": ("2.09", "urn:1C.ru:commerceml_2", "UTF-8", False),
    "07-contractors-2.09-utf8.xml": ("2.09", "urn:1C.ru:commerceml_2", "UTF-8", False),
    "08-rests-3.1-utf8.xml": ("3.1", "urn:1C.ru:commerceml_3", "UTF-8", False),
    "09-prices-3.1-utf8.xml": ("3.1", "urn:1C.ru:commerceml_3", "UTF-8", False),
}


@pytest.mark.parametrize("name", FILES)
def test_file_info(name):
    reader = CommerceMLReader(SAMPLES / name)
    list(reader)
    info = reader.info
    assert (info.version, info.namespace, info.encoding, info.bom) == EXPECTED_INFO[name]
    assert reader.completed


def test_import_fields():
    recs = list(read(SAMPLES / "01-import-2.07-utf8.xml"))
    groups = {g.id: g for g in recs if isinstance(g, Group)}
    # nested group "Бытовая техника с учетом серий, гарантия 12 мес." under "Бытовая техника" (lines 24-31)
    child = groups["f3257ce7-9c2f-11e1-a282-0011955bd175"]
    assert groups[child.parent_id].name == "Бытовая техника"
    # parents are yielded before children
    order = [g.id for g in recs if isinstance(g, Group)]
    for g in groups.values():
        if g.parent_id:
            assert order.index(g.parent_id) < order.index(g.id)
    pkg = next(r for r in recs if isinstance(r, Package))
    assert (pkg.kind, pkg.only_changes) == ("catalog", False)
    product = next(r for r in recs if isinstance(r, Product))
    assert product.id == "bd72d910-55bc-11d9-848a-00112f43529a"
    assert product.sku == "Б-130001" and product.barcode == "2000018987155"
    assert product.unit.code == "715" and product.unit.full_name == "Пара (2 шт.)"
    assert product.group_ids == ("e5a4c309-a659-11dd-acee-0015e9b8c48d",)
    assert len(product.images) == 3 and product.images[0].startswith("import_files/9d/")
    assert product.requisite("ВидНоменклатуры") == "Обувь"
    assert len(product.property_values) == 4
    prop = next(r for r in recs if isinstance(r, Property) and r.id == "bb14a4ba-6b17-11e0-9819-e0cb4ed5eed4")
    assert prop.name == "Вид товара" and prop.value_type == "Справочник" and len(prop.variants) > 5


def test_offer_fields():
    recs = list(read(SAMPLES / "02-offers-2.07-utf8.xml"))
    offer = next(r for r in recs if isinstance(r, Offer))
    assert offer.product_id == "bd72d910-55bc-11d9-848a-00112f43529a"
    assert offer.characteristic_id == "90c55447-d3a8-11e4-9423-e0cb4ed5eed4"
    assert offer.prices[0].value == Decimal("1719") and offer.prices[0].currency == "RUB"
    assert offer.prices[0].price_type_id == "bb14a3a4-6b17-11e0-9819-e0cb4ed5eed4"
    assert offer.quantity == Decimal(20)
    assert offer.stocks[0].warehouse_id == "b6112590-41ba-11dd-ac9d-0015e9b8c48d"
    assert offer.stocks[0].quantity == Decimal(20)
    assert dict(offer.characteristics)["Размер"] == "40"
    pt = next(r for r in recs if isinstance(r, PriceType))
    assert (pt.name, pt.currency, pt.tax_name, pt.tax_included) == ("Розничная", "RUB", "НДС", True)
    wh = next(r for r in recs if isinstance(r, Warehouse))
    assert wh.name == 'Магазин "Обувь"' and wh.address.startswith("РОССИЯ")


def test_rests_and_prices_3x():
    rests = [r for r in read(SAMPLES / "08-rests-3.1-utf8.xml") if isinstance(r, Offer)]
    assert rests[0].stocks[4].quantity == Decimal(4)  # fifth Остаток of the first offer is 4
    assert all(not o.prices for o in rests)
    prices = [r for r in read(SAMPLES / "09-prices-3.1-utf8.xml") if isinstance(r, Offer)]
    assert [o.prices[0].value for o in prices] == [Decimal(790), Decimal(790), Decimal(600)]
    assert all(not o.stocks for o in prices)


def test_cp1251_order():
    doc = next(r for r in read(SAMPLES / "03-orders-site-to-1c-2.03-cp1251.xml") if isinstance(r, Document))
    assert doc.operation == "Заказ товара" and doc.amount == Decimal("9683.42")
    cp = doc.counterparties[0]
    assert (cp.id, cp.name, cp.role, cp.last_name) == ("1#admin#Петров Петр", "Петр Петров", "Покупатель", "Петров")
    assert doc.lines[1].unit.code == "796" and doc.lines[1].price == Decimal("9335.42")
    assert sum(line.amount for line in doc.lines) == doc.amount
    assert doc.requisite("Статус заказа") == "[F] Доставлен"


def test_contractors_keep_foreign_inn():
    cps = [r for r in read(SAMPLES / "07-contractors-2.09-utf8.xml") if isinstance(r, Counterparty)]
    assert cps[1].inn == "181310839110"  # Kazakh BIN, invalid as a Russian INN (§3.3) — kept as written
    assert cps[0].inn is None


def test_order_changes_from_1c():
    changes = list(read_order_changes(SAMPLES / "06-documents-1c-to-site-2.09-utf8.xml"))
    first = changes[0]
    assert (first.order_id, first.number_1c, first.posted, first.status_id) == ("142", "ТДЦУ-000001", True, "P")
    assert first.paid is True and first.payment_number == "ТДЦУ-000001"
    assert first.shipped is True and first.shipment_number == "ТДЦУ-000003"
    assert changes[1].shipped is None  # no shipment stated for order 235
    line = first.document.lines[0]
    assert line.price == Decimal(3338) and line.unit.code == "796" and line.taxes[0].amount == Decimal("600.84")

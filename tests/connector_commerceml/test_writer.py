"""Order writer → reader round trips (versions 2.05/2.08/2.10, UTF-8 ± BOM, windows-1251, namespace on/off)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from b24sync.connectors.commerceml import (
    Address, CommerceMLError, CommerceMLReader, Counterparty, Document, DocumentLine, Tax, TaxRate, Unit,
    order_requisites, read_documents, read_order_changes, write_documents,
)

SAMPLES = Path("/work/shared/samples/commerceml")


def _order(n: int = 1, name: str = "ООО «Ромашка»", amount: Decimal = Decimal("12345.67")) -> Document:
    return Document(
        id=f"B24-{n}", number=f"{n:06d}", date="2026-01-15", time="10:20:30", operation="Заказ товара",
        role="Продавец", currency="RUB", rate=Decimal(1), amount=amount, comment="Позвонить до 18:00 — Ω",
        counterparties=(Counterparty(
            id="company-77", name=name, full_name=name, role="Покупатель", inn="7707083893", kpp="773601001",
            addresses=(Address(kind="АдресРегистрации", presentation="117312, Москва, ул. Вавилова, 19",
                               fields=(("Почтовый индекс", "117312"), ("Улица", "Вавилова"))),),
            contacts=(("Электронная почта", "buyer@example.com"),)),),
        lines=(DocumentLine(id="bd72d910-55bc-11d9-848a-00112f43529a#90c55447", name="Ботфорты (38)",
                            unit=Unit(code="715", full_name="Пара (2 шт.)", short_name="пар"),
                            price=Decimal("1719.00"), quantity=Decimal("2"), amount=Decimal("3438.00"),
                            tax_rates=(TaxRate("НДС", "22"),),
                            taxes=(Tax("НДС", True, Decimal("620.00"), "22"),),
                            requisites=(("ВидНоменклатуры", "Товар"), ("ТипНоменклатуры", "Товар"))),),
        taxes=(Tax("НДС", True, Decimal("620.00")),),
        requisites=order_requisites(status="[N] Принят", paid=True, payment_date="2026-01-15 11:00:00",
                                    shipped=False, cancelled=False),
    )


@pytest.mark.parametrize("version", ["2.05", "2.08", "2.10"])
@pytest.mark.parametrize("encoding", ["utf-8", "windows-1251"])
@pytest.mark.parametrize("namespace", [None, "urn:1C.ru:commerceml_2"])
def test_round_trip(version, encoding, namespace):
    docs = [_order(1), _order(2, name="ИП Иванов И.И.", amount=Decimal("0.01"))]
    data = write_documents(docs, version=version, encoding=encoding, namespace=namespace)
    reader = CommerceMLReader(data)
    back = [d for d in reader]
    assert back == docs
    assert reader.info.version == version and reader.info.namespace == namespace
    if encoding == "utf-8":
        assert data.startswith(b"\xef\xbb\xbf<?xml")  # §3.1: 1C wants the BOM on orders
        assert reader.info.encoding == "UTF-8" and reader.info.bom
    else:
        assert data.startswith(b'<?xml version="1.0" encoding="windows-1251"?>')
        assert "Ромашка".encode("cp1251") in data
        assert b"&#937;" in data  # "Ω" is not in cp1251: written as a character reference, not lost


def test_document_element_order_follows_xsd():
    data = write_documents([_order()], version="2.10", bom=False)
    root = etree.fromstring(data)
    doc = root[0]
    names = [etree.QName(c).localname for c in doc]
    expected = ["Ид", "Номер", "Дата", "ХозОперация", "Роль", "Валюта", "Курс", "Сумма", "Контрагенты", "Время",
                "Комментарий", "Налоги", "Товары", "ЗначенияРеквизитов"]
    assert names == expected
    assert etree.QName(doc.find("Контрагенты")[0][-1]).localname == "Роль"


def test_requisite_names_match_bitrix_sample():
    # names Bitrix writes in sample 04 (and 1C understands): the helper must use exactly these
    sample_names = {k for d in read_documents(SAMPLES / "04-sale-query-response-2.05-cp1251.xml")
                    for k, _ in d.requisites}
    ours = {k for k, _ in order_requisites(status="x", status_id="N", paid=True, delivery_allowed=True,
                                           cancelled=False, final=False, status_changed_at="x", site="x",
                                           payment_method="x")}
    assert ours <= sample_names, ours - sample_names


def test_order_change_reader_on_written_file():
    data = write_documents([_order(5)], version="2.08")
    change = next(read_order_changes(data))
    assert change.order_id == "B24-5" and change.paid is True and change.shipped is False
    assert change.cancelled is False and change.status == "[N] Принят"
    assert change.payment_date == "2026-01-15 11:00:00"


def test_containers_option():
    data = write_documents([_order(1), _order(2)], containers=True, bom=False)
    root = etree.fromstring(data)
    assert [etree.QName(c).localname for c in root] == ["Контейнер", "Контейнер"]
    assert [d.id for d in read_documents(data)] == ["B24-1", "B24-2"]


def test_empty_query_response_is_an_empty_root():
    data = write_documents([], version="2.05", encoding="windows-1251")
    root = etree.fromstring(data)
    assert len(root) == 0 and root.get("ВерсияСхемы") == "2.05" and root.get("ФорматСуммы")
    assert list(read_documents(data)) == []


def test_bad_version_and_encoding():
    with pytest.raises(CommerceMLError):
        write_documents([], version="4.0")
    with pytest.raises(CommerceMLError):
        write_documents([], encoding="koi8-r")


@pytest.mark.parametrize("sample", ["03-orders-site-to-1c-2.03-cp1251.xml",
                                    "04-sale-query-response-2.05-cp1251.xml",
                                    "06-documents-1c-to-site-2.09-utf8.xml"])
def test_real_documents_round_trip(sample):
    docs = list(read_documents(SAMPLES / sample))
    for version in ("2.05", "2.10"):
        assert list(read_documents(write_documents(docs, version=version))) == docs


_money = st.decimals(min_value=Decimal("0"), max_value=Decimal("99999999.9999"), places=4, allow_nan=False)
_name = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp", "Zs")), min_size=1,
                max_size=30)


@settings(max_examples=50, deadline=None)
@given(price=_money, qty=_money, name=_name, encoding=st.sampled_from(["utf-8", "windows-1251"]))
def test_property_round_trip(price, qty, name, encoding):
    doc = Document(id="1", number="1", date="2026-01-01", operation="Заказ товара", role="Продавец",
                   currency="RUB", rate=Decimal(1), amount=price * qty,
                   counterparties=(Counterparty(id="c", name=name, role="Покупатель"),),
                   lines=(DocumentLine(id="p", name=name, price=price, quantity=qty, amount=price * qty),))
    assert list(read_documents(write_documents([doc], encoding=encoding))) == [doc]

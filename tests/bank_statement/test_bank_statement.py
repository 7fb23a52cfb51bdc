"""1CClientBankExchange 1.03 reader and importer: cp1251 and cp866 files, dedup, broken lines, file drop."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal

import pytest

from b24sync.connectors.bank_statement import (
    StatementError,
    StatementImporter,
    detect_encoding,
    parse_bytes,
    read_statement,
)
from b24sync.engine.errors import RetryableError, ValidationError
from b24sync.store.kv import MemoryState

OUR_ACC = "40702810423000009235"  # valid with BIC 045004774 (erp-side.md §9.2)


def doc(number: str, day: str, amount: str, payer_inn: str = "7736207543", payer_acc: str = "40702810400000000001",
        purpose_lines: tuple[str, ...] = ("Оплата по счету № 15 от 01.11.2026, в т.ч. НДС 22%",)) -> str:
    purpose = (f"НазначениеПлатежа={purpose_lines[0]}" if len(purpose_lines) == 1 else
               "\n".join(f"НазначениеПлатежа{i}={t}" for i, t in enumerate(purpose_lines, 1)))
    return f"""СекцияДокумент=Платежное поручение
Номер={number}
Дата={day}
Сумма={amount}
ПлательщикСчет={payer_acc}
ДатаСписано={day}
Плательщик=ИНН {payer_inn} ООО "ЯНДЕКС"
ПлательщикИНН={payer_inn}
Плательщик1=ООО "ЯНДЕКС"
ПлательщикРасчСчет={payer_acc}
ПлательщикБанк1=ПАО СБЕРБАНК
ПлательщикБанк2=г. Москва
ПлательщикБИК=044525225
ПлательщикКорсчет=30101810400000000225
ПлательщикКПП=770401001
ПолучательСчет={OUR_ACC}
ДатаПоступило={day}
Получатель=ООО "Ромашка"
ПолучательИНН=6663003127
ПолучательКПП=668601001
ПолучательРасчСчет={OUR_ACC}
ПолучательБанк1=ФИЛИАЛ БАНКА
ПолучательБИК=045004774
ВидОплаты=01
Очередность=5
{purpose}
КонецДокумента"""


def statement(encoding_word: str, docs: list[str], *, end: bool = True) -> str:
    body = "\n".join(docs)
    return f"""1CClientBankExchange
ВерсияФормата=1.03
Кодировка={encoding_word}
Отправитель=Банк-Клиент
Получатель=Бухгалтерия предприятия
ДатаСоздания=03.11.2026
ВремяСоздания=09:15:00
ДатаНачала=01.11.2026
ДатаКонца=02.11.2026
РасчСчет={OUR_ACC}
СекцияРасчСчет
ДатаНачала=01.11.2026
ДатаКонца=02.11.2026
РасчСчет={OUR_ACC}
НачальныйОстаток=1000.00
ВсегоПоступило=151500.50
ВсегоСписано=0.00
КонечныйОстаток=152500.50
КонецРасчСчет
{body}
""" + ("КонецФайла\n" if end else "")


DOCS = [doc("123", "01.11.2026", "150000.50"),
        doc("7", "02.11.2026", "1500.00", payer_inn="500110126803", payer_acc="40802810500000000002",
            purpose_lines=("Оплата заказа 42", "без НДС"))]


def write(tmp_path, name: str, text: str, enc: str):
    p = tmp_path / name
    p.write_bytes(text.replace("\n", "\r\n").encode(enc))  # banks write CRLF
    return p


@pytest.mark.parametrize("word,enc", [("Windows", "cp1251"), ("DOS", "cp866")])
def test_reads_cp1251_and_cp866(tmp_path, word, enc):
    path = write(tmp_path, "kl_to_1c.txt", statement(word, DOCS), enc)
    raw = path.read_bytes()
    assert detect_encoding(raw) == enc
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # really a legacy single-byte file
    st = read_statement(path)
    assert st.encoding == enc and st.version == "1.03" and st.warnings == []
    assert st.header["Отправитель"] == "Банк-Клиент"
    [acc] = st.accounts
    assert acc.account == OUR_ACC and acc.opening_balance == Decimal("1000.00")
    assert acc.closing_balance == Decimal("152500.50") and acc.start == date(2026, 11, 1)
    p1, p2 = st.payments
    assert p1.kind == "Платежное поручение" and p1.number == "123" and p1.date == date(2026, 11, 1)
    assert p1.amount == Decimal("150000.50") and isinstance(p1.amount, Decimal)
    assert p1.payer.name == 'ООО "ЯНДЕКС"' and p1.payer.inn == "7736207543" and p1.payer.kpp == "770401001"
    assert p1.payer.bic == "044525225" and p1.payer.bank == "ПАО СБЕРБАНК г. Москва"
    assert p1.payer.corr_account == "30101810400000000225"
    assert p1.recipient.account == OUR_ACC and p1.recipient.inn == "6663003127" and p1.is_incoming(OUR_ACC)
    assert p1.purpose.startswith("Оплата по счету № 15") and p1.received == date(2026, 11, 1)
    assert p2.purpose == "Оплата заказа 42 без НДС" and p2.payer.inn == "500110126803"
    text_lines = statement(word, DOCS).split("\n")
    assert p1.line == text_lines.index("СекцияДокумент=Платежное поручение") + 1


def test_declared_encoding_contradicting_the_bytes_is_a_warning(tmp_path):
    path = write(tmp_path, "x.txt", statement("DOS", DOCS), "cp1251")
    st = read_statement(path)
    assert st.encoding == "cp1251" and st.payments[0].payer.name == 'ООО "ЯНДЕКС"'
    assert any("Кодировка=DOS" in w for w in st.warnings)


def test_broken_line_rejects_the_file_with_its_line_number(tmp_path):
    text = statement("Windows", DOCS)
    lines = text.split("\n")
    i = lines.index("Сумма=1500.00")
    lines[i] = "Сумма=1 5OO,00"  # letter O instead of zero
    j = lines.index("ВидОплаты=01")
    lines[j] = "ВидОплаты 01"  # '=' lost
    path = write(tmp_path, "bad.txt", "\n".join(lines), "cp1251")
    with pytest.raises(StatementError) as e:
        read_statement(path)
    err = e.value
    assert isinstance(err, ValidationError)
    assert (j + 1, "broken line 'ВидОплаты 01': expected key=value") in err.problems
    assert any(n == i + 1 and "Сумма" in m and "not an amount" in m for n, m in err.problems)
    assert f"line {j + 1}" in err.reason and "bad.txt was not imported" in err.reason


def test_truncated_file_is_rejected(tmp_path):
    text = statement("Windows", DOCS, end=False)
    cut = text[: text.rindex("КонецДокумента")]
    with pytest.raises(StatementError) as e:
        parse_bytes(cut.encode("cp1251"), source="cut.txt")
    assert any("not closed" in m for _, m in e.value.problems)
    with pytest.raises(StatementError) as e:
        parse_bytes(text.encode("cp1251"))
    assert "КонецФайла is missing" in e.value.reason


def test_not_a_statement():
    with pytest.raises(StatementError) as e:
        parse_bytes("Дата;Сумма\n01.11.2026;100\n".encode("cp1251"), source="export.csv")
    assert e.value.problems[0][0] == 1


def test_duplicate_import_changes_nothing():
    raw = statement("Windows", DOCS).encode("cp1251")
    got: list[str] = []
    state = MemoryState()
    imp = StatementImporter(state, lambda p, st: got.append(p.payment_key()))
    r1 = asyncio.run(imp.import_bytes(raw, source="a.txt"))
    r2 = asyncio.run(imp.import_bytes(raw, source="a.txt"))
    assert len(r1.new) == 2 and r2.new == [] and len(r2.skipped) == 2
    assert got == [p.payment_key() for p in r1.new]
    # another worker with the same shared state, and an overlapping statement with the numbers zero-padded
    overlapping = statement("DOS", [doc("000123", "01.11.2026", "150000.50"), doc("124", "02.11.2026", "10.00")])
    r3 = asyncio.run(StatementImporter(state, lambda p, st: got.append(p.number)).import_bytes(
        overlapping.encode("cp866")))
    assert [p.number for p in r3.new] == ["124"] and [p.number for p in r3.skipped] == ["000123"]


def test_same_number_from_another_payer_is_not_a_duplicate():
    seen: set[str] = set()
    raw = statement("Windows", [doc("1", "01.11.2026", "10.00"),
                                doc("1", "01.11.2026", "10.00", payer_inn="7707083893")]).encode("cp1251")
    r = asyncio.run(StatementImporter(seen).import_bytes(raw))
    assert len(r.new) == 2 and len(seen) == 2


def test_failed_handler_is_retried_next_time():
    state = MemoryState()
    raw = statement("Windows", DOCS).encode("cp1251")
    calls: list[str] = []

    def flaky(p, st):
        calls.append(p.number)
        if p.number == "7" and calls.count("7") == 1:
            raise RetryableError("CRM is down")

    imp = StatementImporter(state, flaky)
    with pytest.raises(RetryableError):
        asyncio.run(imp.import_bytes(raw))
    r = asyncio.run(imp.import_bytes(raw))
    assert [p.number for p in r.new] == ["7"] and calls == ["123", "7", "7"]


def test_file_drop_integration(tmp_path):
    from b24sync.connectors.filedrop import FileDrop, LocalFolderSource

    drop = tmp_path / "drop"
    drop.mkdir()
    got: list[str] = []
    imp = StatementImporter(MemoryState(), lambda p, st: got.append(p.number))
    fd = FileDrop(LocalFolderSource(drop), imp.filedrop_handler(), pattern="*.txt")
    write(drop, "kl_to_1c.txt", statement("Windows", DOCS), "cp1251")
    bad = statement("Windows", DOCS).replace("Дата=01.11.2026", "Дата=31.11.2026")
    write(drop, "broken.txt", bad, "cp1251")
    asyncio.run(fd.poll_once())  # first sight: waits until the size is stable
    res = asyncio.run(fd.poll_once())
    assert res.imported == ["kl_to_1c.txt"] and got == ["123", "7"]
    assert "broken.txt" in res.rejected and "31.11.2026" in res.rejected["broken.txt"]
    line = bad.split("\n").index("Дата=31.11.2026") + 1
    assert f"line {line}:" in res.rejected["broken.txt"]
    assert (drop / "rejected").exists() and not (drop / "broken.txt").exists()

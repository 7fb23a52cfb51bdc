"""Hostile bank statements (issue 11): negative and 40-digit amounts, conflicting duplicates — refused with the line
number; a fuzz of the reader: every mutation parses or raises StatementError with lines, nothing else escapes."""

from __future__ import annotations

import random
import time

import pytest

from b24sync.connectors.bank_statement import StatementError, parse_bytes

from .test_bank_statement import doc, statement


def _parse(text: str):
    return parse_bytes(text.encode("cp1251", errors="replace"))


def _line_of(text: str, needle: str) -> int:
    return next(i for i, ln in enumerate(text.split("\n"), 1) if ln.startswith(needle))


@pytest.mark.parametrize("amount", ["-1500.00", "-0.01", "0", "0.00", "1" * 40, "1" * 16, "1e5", "1500.001",
                                    "１５００", "1 500,00,00", "NaN", "Infinity"])
def test_bad_amounts_refused_with_the_line(amount):
    text = statement("Windows", [doc("15", "02.11.2026", "100.00"), doc("16", "02.11.2026", amount)])
    with pytest.raises(StatementError) as e:
        _parse(text)
    lines = [n for n, _ in e.value.problems]
    assert _line_of(text, f"Сумма={amount}") in lines, e.value.problems


def test_largest_legal_amount_accepted():
    st = _parse(statement("Windows", [doc("15", "02.11.2026", "9" * 15 + ".99")]))
    assert str(st.payments[0].amount) == "9" * 15 + ".99"


def test_same_document_with_another_amount_is_a_conflict_not_a_silent_drop():
    text = statement("Windows", [doc("15", "02.11.2026", "100.00"), doc("015", "02.11.2026", "900.00")])
    with pytest.raises(StatementError) as e:
        _parse(text)
    msg = " ".join(m for _, m in e.value.problems)
    assert "900" in msg and "100" in msg, msg


def test_exact_repeat_is_not_a_conflict():
    st = _parse(statement("Windows", [doc("15", "02.11.2026", "100.00"), doc("15", "02.11.2026", "100.00")]))
    assert len({p.payment_key() for p in st.payments}) == 1


JUNK = ["Сумма=-5", "Сумма=" + "9" * 40, "Дата=31.02.2026", "Дата=", "СекцияДокумент=x", "КонецДокумента",
        "КонецРасчСчет", "КонецФайла", "\x00\x00", "=", "==", "Номер=", "СекцияРасчСчет", "ДатаСписано=99.99.9999",
        "ПлательщикИНН=" + "7" * 500, "x" * 5000, "Кодировка=DOS", "ВерсияФормата=9.99", "\ufffd"]


def test_fuzz_reader_1000_mutations():
    rng = random.Random(7)
    base = statement("Windows", [doc(str(i), "02.11.2026", f"{i}00.00") for i in range(1, 4)]).split("\n")
    ok = bad = 0
    for n in range(1000):
        lines = list(base)
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(lines))
            op = rng.randrange(4)
            if op == 0:
                del lines[i]
            elif op == 1:
                lines.insert(i, rng.choice(JUNK))
            elif op == 2:
                lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)]
            else:
                lines.insert(i, lines[rng.randrange(len(lines))])
        text = "\n".join(lines)
        t0 = time.perf_counter()
        try:
            st = _parse(text)
            ok += 1
            assert all(p.amount > 0 and len(str(int(p.amount))) <= 15 for p in st.payments)
        except StatementError as e:
            bad += 1
            assert e.problems and all(isinstance(ln, int) and 1 <= ln <= len(lines) + 1 for ln, _ in e.problems), \
                (n, e.problems)
        assert time.perf_counter() - t0 < 1.0
    assert ok > 20 and bad > 300, (ok, bad)

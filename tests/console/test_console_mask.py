"""The console's ``mask`` hides real phones, e-mails and personal INNs only — the log redaction's rules — so a
company's INN, a 14-digit deal id, a GUID, an amount or a time stays readable (before, any run of ten digits or more
was taken for a phone and ``ИНН 7707083893`` showed as ``770…93``)."""

from __future__ import annotations

import pytest

from b24sync.server.console.data import mask

KEPT = ["ИНН 7707083893", "INN 7707083893 КПП 770701001", "7707083893", "сделка 78912345678901", "deal 12345678901234",
        "CRM 78912345678901 ↔ ERP 5f1c0c43-0000-0000-0000-000000000020", "ОГРН 1027700132195",
        "ИНН 770708389312 (контрольные цифры не сходятся: это не человек)", "счёт 40702810900000012345",
        "БИК 044525225", "сумма 1 234 567,89 руб.", "amount 71234567.89", "2026-12-02T06:10:00.123456+03:00",
        "2026-12-02 06:10:11", "заказ 00УТ-000123 от 02.12.2026", "job 123456789012", "ts 1700000000",
        "status_code=429 reason_key=dead:ValueError", "DataVersion AAAAAgAAAAA=", "v 1.2.3-45-67"]
MASKED = [("+7 (916) 123-45-67", "916"), ("8 916 123 45 67", "916 123"), ("89161234567", "9161234567"),
          ("+79161234567", "9161234567"), ("(495) 123-45-67", "123-45"), ("ivan.petrov@mail.ru", "ivan.petrov"),
          ("ИНН 500100732259", "500100732259"), ("ИНН: 500100732259 (ИП)", "500100732259"),
          ("RQ_INN=500100732259", "500100732259"), ("+44 20 7946 0958", "7946")]


@pytest.mark.parametrize("text", KEPT)
def test_ids_inns_amounts_and_times_are_shown(text: str) -> None:
    assert mask(text) == text


@pytest.mark.parametrize("text,hidden", MASKED)
def test_phones_emails_and_personal_inns_are_hidden(text: str, hidden: str) -> None:
    out = mask(f"клиент {text}, сделка 78912345678901, ИНН компании 7707083893")
    assert hidden not in out, out
    assert "78912345678901" in out and "7707083893" in out  # the ids around it stay


def test_a_line_with_everything() -> None:
    line = ("ООО «Вектор» ИНН 7707083893, ИП Петров ИНН 500100732259, тел. +7 (916) 123-45-67, petrov@mail.ru; "
            "сделка 78912345678901, Ref_Key 5f1c0c43-0000-0000-0000-000000000020, 2026-12-02T06:10:00Z, 1 234,50 ₽")
    out = mask(line)
    for gone in ("500100732259", "123-45-67", "petrov@"):
        assert gone not in out, out
    for kept in ("ИНН 7707083893", "78912345678901", "5f1c0c43-0000-0000-0000-000000000020", "2026-12-02T06:10:00Z",
                 "1 234,50 ₽", "ИНН ***59", "***67"):
        assert kept in out, (kept, out)

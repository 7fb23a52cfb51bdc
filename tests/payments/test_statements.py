"""Bank statements (1CClientBankExchange, the no-API path) as payments: matched to the deal by the order/invoice
number in the payment purpose (ambiguous → held for review, never guessed); the same statement imported twice is
one payment; the same payment in a later statement with another amount is a conflict for a person."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.bank_statement.test_bank_statement import doc, statement, write
from tests.orders.harness import cycle
from tests.orders.test_orders import entities
from tests.payments.harness import bank_scenario, comments, deal_row, parked, placed, statement_entity


def _ents():  # type: ignore[no-untyped-def]
    e = entities()
    e["statement"] = statement_entity()
    return e


def test_same_statement_imported_twice_is_one_payment(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client, folder):  # type: ignore[no-untyped-def]
        s, d, o = await placed(rt, b24, onec, client, price=150000)
        number = deal_row(b24, d)["UF_CRM_ERP_ORDER_NUMBER"]
        text = statement("Windows", [doc("245", "12.03.2026", "100000.00",
                                         purpose_lines=(f"Оплата по счету № {number} от 10.03.2026, в т.ч. НДС",))])
        src = write(tmp_path, "kl_to_1c.txt", text, "cp1251")
        shutil.copy(src, folder / "kl_to_1c.txt")
        await cycle(rt)
        assert deal_row(b24, d)["UF_CRM_PAID_AMOUNT"] == "100000.00|RUB", parked(rt)
        shutil.copy(src, folder / "kl_to_1c.txt")  # the bank client saves the same statement again
        shutil.copy(src, folder / "copy.txt")
        await cycle(rt)
        await cycle(rt)
        assert deal_row(b24, d)["UF_CRM_PAID_AMOUNT"] == "100000.00|RUB"
        assert comments(b24, d) == ["Оплата 100 000 ₽ получена 12.03.2026 (документ № 245)"]
        assert deal_row(b24, d)["STAGE_ID"] == "FINAL_INVOICE"
        # the rest arrives in the next statement: full → the stage moves
        text2 = statement("Windows", [doc("250", "13.03.2026", "50000.00",
                                          purpose_lines=(f"Доплата по сч. {number}",))])
        (folder / "next.txt").write_bytes(text2.replace("\n", "\r\n").encode("cp1251"))
        await cycle(rt)
        assert deal_row(b24, d)["STAGE_ID"] == "WON" and deal_row(b24, d)["UF_CRM_BALANCE"] == "0.00|RUB"
        # the same payment (number, date, payer) in a later statement with another amount: a person decides
        text3 = statement("Windows", [doc("245", "12.03.2026", "100500.00",
                                          purpose_lines=(f"Оплата по счету № {number}",))])
        (folder / "late.txt").write_bytes(text3.replace("\n", "\r\n").encode("cp1251"))
        await cycle(rt)
        (kind, reason), = parked(rt)
        assert kind == "conflict" and "100 000 ₽" in reason and "100 500 ₽" in reason, reason
        assert deal_row(b24, d)["UF_CRM_PAID_AMOUNT"] == "150000.00|RUB"

    bank_scenario(steps, tmp_path, _ents())


def test_statement_without_a_known_number_is_held_with_its_purpose(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client, folder):  # type: ignore[no-untyped-def]
        s, d, o = await placed(rt, b24, onec, client, price=1000)
        text = statement("Windows", [doc("7", "02.03.2026", "500.00", purpose_lines=("Оплата по договору 15/3",))])
        (folder / "a.txt").write_bytes(text.replace("\n", "\r\n").encode("cp1251"))
        await cycle(rt)
        (kind, reason), = parked(rt)
        assert kind == "held" and "Оплата по договору 15/3" in reason, reason
        assert not deal_row(b24, d).get("UF_CRM_PAID_AMOUNT")

    bank_scenario(steps, tmp_path, _ents())

"""Payments (issue 16) as a sum over related documents, end to end over the sandboxes: a 1C bank receipt names its
order inside РасшифровкаПлатежа (a nested path); the deal's paid amount is the sum of the posted receipts, its
balance and last payment date follow, the stage moves once when the sum reaches the deal amount; exactly one
Russian timeline entry per payment, whatever replays, polls and crashes do."""

from __future__ import annotations

from pathlib import Path

from tests.orders.harness import cycle, scenario
from tests.payments.harness import (RECEIPTS, comments, deal_row, parked, payment_entity, placed, stage_moves,
                                    with_payments)


def test_two_partial_payments_then_a_third_move_the_stage_once(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s, d, o = await placed(rt, b24, onec, client)
        onec.register_payment(o["Ref_Key"], 150000, incoming_number="245", incoming_date="2026-03-12T00:00:00")
        await cycle(rt)
        row = deal_row(b24, d)
        assert row["UF_CRM_PAID_AMOUNT"] == "150000.00|RUB", (row, parked(rt))
        assert row["UF_CRM_BALANCE"] == "197500.00|RUB"
        assert str(row["UF_CRM_LAST_PAYMENT_DATE"])[:10] == "2026-03-12"
        assert row["STAGE_ID"] == "FINAL_INVOICE"  # partial: the stage stays
        assert comments(b24, d) == ["Оплата 150 000 ₽ получена 12.03.2026 (документ № 245)"]

        onec.register_payment(o["Ref_Key"], 100000, incoming_number="251", incoming_date="2026-03-14T00:00:00")
        await cycle(rt)
        row = deal_row(b24, d)
        assert row["UF_CRM_PAID_AMOUNT"] == "250000.00|RUB" and row["STAGE_ID"] == "FINAL_INVOICE"
        assert str(row["UF_CRM_LAST_PAYMENT_DATE"])[:10] == "2026-03-14"

        onec.register_payment(o["Ref_Key"], 97500, incoming_number="260", incoming_date="2026-03-20T00:00:00")
        await cycle(rt)
        row = deal_row(b24, d)
        assert row["UF_CRM_PAID_AMOUNT"] == "347500.00|RUB" and row["UF_CRM_BALANCE"] == "0.00|RUB"
        assert row["STAGE_ID"] == "WON"
        for _ in range(2):  # replays and polls change nothing
            await cycle(rt)
        from tests.payments.harness import ORDER_TYPE  # noqa: F401
        assert stage_moves(b24, d, "WON") == 1
        assert len(comments(b24, d)) == 3, comments(b24, d)
        assert comments(b24, d)[2] == "Оплата 97 500 ₽ получена 20.03.2026 (документ № 260)"
        assert parked(rt) == []

    scenario(steps, tmp_path, with_payments())


def test_unposting_and_deletion_mark_take_the_payment_back(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s, d, o = await placed(rt, b24, onec, client, price=1000)
        p1 = onec.register_payment(o["Ref_Key"], 400, incoming_number="1", incoming_date="2026-03-01T00:00:00")
        p2 = onec.register_payment(o["Ref_Key"], 600, incoming_number="2", incoming_date="2026-03-02T00:00:00")
        await cycle(rt)
        assert deal_row(b24, d)["UF_CRM_PAID_AMOUNT"] == "1000.00|RUB"
        assert deal_row(b24, d)["STAGE_ID"] == "WON"
        onec.unpost(RECEIPTS, p2["Ref_Key"])
        await cycle(rt)
        row = deal_row(b24, d)
        assert row["UF_CRM_PAID_AMOUNT"] == "400.00|RUB" and row["UF_CRM_BALANCE"] == "600.00|RUB"
        assert str(row["UF_CRM_LAST_PAYMENT_DATE"])[:10] == "2026-03-01"
        assert comments(b24, d)[-1].startswith("Оплата 600 ₽ от 02.03.2026 (документ № 2) отменена")
        onec.edit(RECEIPTS, p1["Ref_Key"], DeletionMark=True)  # 1C unposts a document marked for deletion
        await cycle(rt)
        assert deal_row(b24, d)["UF_CRM_PAID_AMOUNT"] == "0.00|RUB"
        onec.post(RECEIPTS, p2["Ref_Key"])  # posted again: counts again, its entry is written again
        await cycle(rt)
        await cycle(rt)
        assert deal_row(b24, d)["UF_CRM_PAID_AMOUNT"] == "600.00|RUB"
        texts = comments(b24, d)
        assert texts.count("Оплата 600 ₽ получена 02.03.2026 (документ № 2)") == 2, texts
        assert len(texts) == 5, texts  # 2 received, 2 reversed, 1 received again

    scenario(steps, tmp_path, with_payments())


def test_storno_reverses_and_a_correction_replaces(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s, d, o = await placed(rt, b24, onec, client, price=1000)
        p1 = onec.register_payment(o["Ref_Key"], 300, incoming_number="10", incoming_date="2026-03-01T00:00:00")
        await cycle(rt)
        assert deal_row(b24, d)["UF_CRM_PAID_AMOUNT"] == "300.00|RUB"
        # the storno document of УТ (Исправление + СторнируемыйДокумент, B.4): its amounts negative
        onec.register_payment(o["Ref_Key"], -300, incoming_number="10с", incoming_date="2026-03-05T00:00:00",
                              Исправление=True, СторнируемыйДокумент_Key=p1["Ref_Key"])
        await cycle(rt)
        assert deal_row(b24, d)["UF_CRM_PAID_AMOUNT"] == "0.00|RUB"
        # a correction replaces the document it corrects: 500 instead of 450
        p3 = onec.register_payment(o["Ref_Key"], 450, incoming_number="11", incoming_date="2026-03-06T00:00:00")
        await cycle(rt)
        assert deal_row(b24, d)["UF_CRM_PAID_AMOUNT"] == "450.00|RUB"
        # the correction keeps the payer's number and date: not a duplicate of the one it corrects
        fix = onec.register_payment(o["Ref_Key"], 500, incoming_number="11", incoming_date="2026-03-06T00:00:00",
                                    Исправление=True, ИсправляемыйДокумент_Key=p3["Ref_Key"])
        await cycle(rt)
        assert deal_row(b24, d)["UF_CRM_PAID_AMOUNT"] == "500.00|RUB", parked(rt)
        onec.edit(RECEIPTS, p3["Ref_Key"], Комментарий="re-read")  # the corrected one seen again: still replaced
        await cycle(rt)
        assert deal_row(b24, d)["UF_CRM_PAID_AMOUNT"] == "500.00|RUB" and parked(rt) == []
        onec.unpost(RECEIPTS, fix["Ref_Key"])  # the correction is taken back: the corrected one counts again
        await cycle(rt)
        await cycle(rt)
        assert deal_row(b24, d)["UF_CRM_PAID_AMOUNT"] == "450.00|RUB", parked(rt)

    scenario(steps, tmp_path, with_payments())


def test_same_incoming_payment_twice_counts_once_and_another_amount_is_a_conflict(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s, d, o = await placed(rt, b24, onec, client, price=1000)
        onec.register_payment(o["Ref_Key"], 400, incoming_number="000245", incoming_date="2026-03-12T00:00:00")
        await cycle(rt)
        # the same statement loaded into 1C again: a second document with the payer's same number, date, payer
        onec.register_payment(o["Ref_Key"], 400, incoming_number="245", incoming_date="2026-03-12T00:00:00")
        await cycle(rt)
        assert deal_row(b24, d)["UF_CRM_PAID_AMOUNT"] == "400.00|RUB"
        assert len(comments(b24, d)) == 1
        assert parked(rt) == []
        # the same key with another amount: a conflict for a person, nothing counted, nothing skipped silently
        onec.register_payment(o["Ref_Key"], 450, incoming_number="245", incoming_date="2026-03-12T00:00:00")
        await cycle(rt)
        assert deal_row(b24, d)["UF_CRM_PAID_AMOUNT"] == "400.00|RUB"
        (kind, reason), = parked(rt)
        assert kind == "conflict" and "уже учтён на 400 ₽" in reason and "450 ₽" in reason, reason

    scenario(steps, tmp_path, with_payments())


def test_purpose_number_finds_the_deal_and_an_ambiguous_one_is_held_for_review(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s, d, o = await placed(rt, b24, onec, client, price=1000)
        _, d2, o2 = await placed(rt, b24, onec, client, price=2000, s=s)
        number = deal_row(b24, d)["UF_CRM_ERP_ORDER_NUMBER"]
        assert number == o["Number"]
        # no breakdown rows: only the purpose tells what is paid
        onec.create(RECEIPTS, Контрагент_Key=o["Контрагент_Key"], СуммаДокумента=700, НомерВходящегоДокумента="77",
                    ДатаВходящегоДокумента="2026-03-02T00:00:00",
                    НазначениеПлатежа=f"Оплата по счету № {number} от 01.03.2026, в т.ч. НДС 22%",
                    РасшифровкаПлатежа=[{"LineNumber": 1, "Сумма": 700}])
        for doc in onec.find(RECEIPTS):
            onec.post(RECEIPTS, doc["Ref_Key"])
        await cycle(rt)
        assert deal_row(b24, d)["UF_CRM_PAID_AMOUNT"] == "700.00|RUB", parked(rt)
        bad = onec.create(RECEIPTS, Контрагент_Key=o["Контрагент_Key"], СуммаДокумента=50,
                          НомерВходящегоДокумента="78", ДатаВходящегоДокумента="2026-03-03T00:00:00",
                          НазначениеПлатежа=f"Оплата по счетам № {number} и сч. {o2['Number']}",
                          РасшифровкаПлатежа=[{"LineNumber": 1, "Сумма": 50}])
        onec.post(RECEIPTS, bad["Ref_Key"])
        await cycle(rt)
        (kind, reason), = parked(rt)
        assert kind == "held" and "не угадывает" in reason and d in reason and d2 in reason, reason
        assert deal_row(b24, d)["UF_CRM_PAID_AMOUNT"] == "700.00|RUB"
        assert not deal_row(b24, d2).get("UF_CRM_PAID_AMOUNT")

    scenario(steps, tmp_path, with_payments())


def test_edit_of_a_paid_deal_is_reverted_with_a_note(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        from b24sync.server.intake import accept_event

        s, d, o = await placed(rt, b24, onec, client, price=1000)
        onec.register_payment(o["Ref_Key"], 400, incoming_number="5", incoming_date="2026-03-01T00:00:00")
        await cycle(rt)
        await client.call("crm.deal.update", {"id": int(d), "fields": {"OPPORTUNITY": 10, "IS_MANUAL_OPPORTUNITY": "Y"}})
        accept_event(rt, side="crm", event="ONCRMDEALUPDATE", record_id=d, source="b24", delivery_id="edit1")
        await cycle(rt)
        await cycle(rt)
        assert float(deal_row(b24, d)["OPPORTUNITY"]) == 1000
        notes = [c for c in comments(b24, d) if "Ручное изменение отменено" in c]
        assert len(notes) == 1 and "ведутся в onec" in notes[0], comments(b24, d)
        # a title edit is not ERP-owned: left alone
        await client.call("crm.deal.update", {"id": int(d), "fields": {"TITLE": "Новое название"}})
        accept_event(rt, side="crm", event="ONCRMDEALUPDATE", record_id=d, source="b24", delivery_id="edit2")
        await cycle(rt)
        assert deal_row(b24, d)["TITLE"] == "Новое название"

    scenario(steps, tmp_path, with_payments())


def test_crash_between_the_timeline_entry_and_the_store_commit_leaves_one_entry(tmp_path: Path,
                                                                                monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from b24sync.engine import effects

    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s, d, o = await placed(rt, b24, onec, client, price=1000)
        real = effects._done
        crashes = {"n": 0}

        def crash_once(rt_, key, remote_id):  # type: ignore[no-untyped-def]
            if key.startswith("note:") and crashes["n"] == 0:
                crashes["n"] += 1
                raise RuntimeError("killed after the comment was written, before the store commit")
            return real(rt_, key, remote_id)

        monkeypatch.setattr(effects, "_done", crash_once)
        onec.register_payment(o["Ref_Key"], 400, incoming_number="9", incoming_date="2026-03-01T00:00:00")
        await cycle(rt)  # the settle job fails after the comment: retried
        await cycle(rt)
        await cycle(rt)
        assert crashes["n"] == 1
        assert comments(b24, d) == ["Оплата 400 ₽ получена 01.03.2026 (документ № 9)"], comments(b24, d)
        assert deal_row(b24, d)["UF_CRM_PAID_AMOUNT"] == "400.00|RUB"

    scenario(steps, tmp_path, with_payments())


def test_cash_receipt_adds_into_the_same_ledger(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s, d, o = await placed(rt, b24, onec, client, price=1000)
        onec.register_payment(o["Ref_Key"], 400, incoming_number="5", incoming_date="2026-03-01T00:00:00")
        onec.register_payment(o["Ref_Key"], 600, cash=True)
        await cycle(rt)
        assert deal_row(b24, d)["UF_CRM_PAID_AMOUNT"] == "1000.00|RUB", parked(rt)
        assert deal_row(b24, d)["STAGE_ID"] == "WON"

    cash = payment_entity("Document_ПриходныйКассовыйОрдер", date="Date", number="Number", key=["Number", "Date"])
    scenario(steps, tmp_path, with_payments(cash=cash))


def test_unknown_reach_stage_is_refused_at_start_with_the_nearest_ids(tmp_path: Path) -> None:
    from b24sync.engine.names import check_names
    from tests.payments.harness import payment_targets

    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        rep = await check_names(rt, ["payment"])
        probs = [p for p in rep.problems["payment"] if "stage" in p.what]
        assert len(probs) == 1 and "`WONN`" in probs[0].what and "WON" in probs[0].fix, probs
        assert probs[0].path[:4] == ("entities", "payment", "aggregate", "targets")
        assert "payment" in rep.broken

    bad = payment_entity(targets=payment_targets(reach=[{"crm": "STAGE_ID", "value": "WONN"}]))
    scenario(steps, tmp_path, with_payments(payment=bad))


def test_hostile_amounts_and_shapes_never_count_and_say_why(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s, d, o = await placed(rt, b24, onec, client, price=1000)
        ok = onec.register_payment(o["Ref_Key"], 100, incoming_number="1", incoming_date="2026-03-01T00:00:00")
        # a row naming a document of another kind (a contract), a row with an empty reference: not this deal's
        onec.create(RECEIPTS, Контрагент_Key=o["Контрагент_Key"], СуммаДокумента=5, НомерВходящегоДокумента="2",
                    ДатаВходящегоДокумента="2026-03-02T00:00:00", НазначениеПлатежа="Аванс по договору",
                    РасшифровкаПлатежа=[{"LineNumber": 1, "ОснованиеПлатежа": o["Ref_Key"],
                                         "ОснованиеПлатежа_Type": "StandardODATA.Catalog_ДоговорыКонтрагентов",
                                         "Сумма": 5},
                                        {"LineNumber": 2, "Сумма": 7}])
        for doc in onec.find(RECEIPTS):
            if not doc["Posted"]:
                onec.post(RECEIPTS, doc["Ref_Key"])
        await cycle(rt)
        assert deal_row(b24, d)["UF_CRM_PAID_AMOUNT"] == "100.00|RUB"
        (kind, reason), = parked(rt)
        assert kind == "held" and "Аванс по договору" in reason, reason
        assert ok["Posted"]

    scenario(steps, tmp_path, with_payments())


def test_lost_answer_of_the_timeline_comment_never_writes_it_twice(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s, d, o = await placed(rt, b24, onec, client, price=1000)
        b24.force("crm.timeline.comment.add", "lost")  # applied, then the answer is lost (a 504 gateway page)
        onec.register_payment(o["Ref_Key"], 250, incoming_number="8", incoming_date="2026-03-01T00:00:00")
        for _ in range(3):
            await cycle(rt)
        assert not b24._faults.get("crm.timeline.comment.add")  # the lost answer did happen
        assert comments(b24, d) == ["Оплата 250 ₽ получена 01.03.2026 (документ № 8)"], comments(b24, d)
        assert deal_row(b24, d)["UF_CRM_PAID_AMOUNT"] == "250.00|RUB" and parked(rt) == []

    scenario(steps, tmp_path, with_payments())

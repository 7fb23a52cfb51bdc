"""A payment of a 1C invoice (its РасшифровкаПлатежа names the СчетНаОплатуКлиенту, B.3–B.4): it counts for the
smart invoice (through the invoice links) and, following the invoice's ДокументОснование, for the deal of its order.
Full → the invoice moves to "paid"; after the payment, an edit of the invoice's ERP-owned fields in Bitrix24 is
put back with a timeline note (A.9: there is no REST lock)."""

from __future__ import annotations

from pathlib import Path

from tests.orders.harness import cycle, scenario
from tests.orders.test_invoices import INVOICES, _invoice, _setup, _stage, _with_invoice
from tests.payments.harness import RECEIPTS, comments, deal_row, parked


def _ents():  # type: ignore[no-untyped-def]
    e = _with_invoice()
    ref = ["РасшифровкаПлатежа.ОснованиеПлатежа"]
    e["invoice_payment"] = {
        "title": "Payments of 1C invoices → smart invoice and deal", "master": "onec", "direction": "erp_to_crm",
        "crm": {"object": "crm.item:31"}, "erp": {"object": RECEIPTS}, "match": [],
        "aggregate": {"rows": "РасшифровкаПлатежа", "amount": "РасшифровкаПлатежа.Сумма",
                      "date": "ДатаВходящегоДокумента", "number": "НомерВходящегоДокумента",
                      "key": ["НомерВходящегоДокумента", "ДатаВходящегоДокумента", "Контрагент_Key"],
                      "targets": [
                          {"via": "invoice", "ref": ref, "type": INVOICES, "total": "opportunity",
                           "reach": [{"crm": "stageId", "value": "DT31_2:P"}], "lock": ["opportunity", "companyId"]},
                          {"via": "order", "ref": ref, "type": INVOICES, "follow": "ДокументОснование_Key",
                           "total": "OPPORTUNITY", "note": False,
                           "set": [{"crm": "UF_CRM_PAID_AMOUNT", "value": "sum", "currency": "RUB"}]}]},
        "triggers": [{"poll": "1m"}, {"webhook": "ONCRMDYNAMICITEMUPDATE"}]}
    return e


def test_invoice_payment_pays_invoice_and_deal_and_locks_the_invoice(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        from b24sync.server.intake import accept_event

        s, d, order = await _setup(rt, b24, onec, client)
        inv = await _invoice(client, s["company"], d)
        await _stage(rt, client, inv, "DT31_2:S")
        await cycle(rt)
        (doc,) = onec.find(INVOICES)
        onec.register_payment(doc["Ref_Key"], 366, basis_type=INVOICES, incoming_number="31",
                              incoming_date="2026-03-12T00:00:00")
        await cycle(rt)
        item = b24.portal.t("item_31").get(int(inv))
        assert item["stageId"] == "DT31_2:P", parked(rt)
        assert deal_row(b24, d)["UF_CRM_PAID_AMOUNT"] == "366.00|RUB"
        assert comments(b24, inv, "dynamic_31") == ["Оплата 366 ₽ получена 12.03.2026 (документ № 31)"]
        assert comments(b24, d) == []  # the deal rule says note: false
        # a manager edits the paid invoice's amount in Bitrix24: put back, with a note
        await client.call("crm.item.update", {"entityTypeId": 31, "id": int(inv), "fields": {"opportunity": 999}})
        accept_event(rt, side="crm", event="ONCRMDYNAMICITEMUPDATE", record_id=inv, source="b24", delivery_id="e1")
        for _ in range(3):
            await cycle(rt)
        assert float(b24.portal.t("item_31").get(int(inv))["opportunity"]) == 366
        notes = [c for c in comments(b24, inv, "dynamic_31") if "Ручное изменение отменено" in c]
        assert len(notes) == 1, comments(b24, inv, "dynamic_31")
        from sqlalchemy import text as _t
        with rt.db.connect() as c:
            hist = [tuple(r) for r in c.execute(_t("select entity, action, outcome, detail from history order by id"))]
        assert onec.get(INVOICES, doc["Ref_Key"])["СуммаДокумента"] == 366, "\n".join(map(str, [h for h in hist if h[0].startswith("invoice")]))

    scenario(steps, tmp_path, _ents())

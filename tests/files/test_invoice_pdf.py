"""Issue 10: the invoice's printable PDF, where the ERP provides one, is attached to the invoice — in a file field or
as a timeline note, as the spec says — once: not re-sent every cycle, replaced when the ERP's form changes, and a
lost answer on the upload leaves one file (or one note). Here 1C renders the form through an HTTP service
(erp-side.md §2); the Kontur print form is rehearsed by examples/kontur.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.orders.harness import cycle, scenario
from tests.orders.test_invoices import INVOICES, _invoice, _setup, _stage, _with_invoice

PRINT = {"http": "b24/print/Document_СчетНаОплатуКлиенту/{id}", "name": "Счёт.pdf"}


def _entities(to: dict[str, Any]) -> dict[str, Any]:
    ents = _with_invoice()
    ents["invoice"]["files"] = [{"source": PRINT, "to": to, "file_name": "Счёт {erp:Number}.pdf"}]
    return ents


async def _issued(rt, b24, onec, client):  # type: ignore[no-untyped-def]
    s, d, order = await _setup(rt, b24, onec, client)
    inv = await _invoice(client, s["company"], d)
    await cycle(rt)
    await _stage(rt, client, inv, "DT31_2:S")
    await cycle(rt)
    (doc,) = onec.find(INVOICES)
    return inv, doc


def test_invoice_pdf_lands_in_the_file_field_once_and_is_replaced_when_the_form_changes(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        inv, doc = await _issued(rt, b24, onec, client)
        item = b24.portal.t("item_31").get(int(inv))
        value = item["ufCrmSmartInvoicePdf"]
        f = b24.portal.files[value["id"]]
        assert f["name"] == f"Счёт {doc['Number']}.pdf" and f["content"].startswith(b"%PDF-")
        assert doc["Number"][-6:].encode() in f["content"]  # the form of this invoice (ASCII in the sandbox PDF)
        files, calls = len(b24.portal.files), sum(b24.portal.method_calls.values())
        for _ in range(2):
            await cycle(rt)
        assert len(b24.portal.files) == files  # nothing re-sent by later cycles
        # the manager edits the invoice: 1C's invoice changes, so does its printable form → the file is replaced
        await client.call("crm.item.update", {"entityTypeId": 31, "id": int(inv),
                                              "fields": {"title": "Счёт по поставке (исправлен)"}})
        from b24sync.server.intake import accept_event

        accept_event(rt, side="crm", event="ONCRMDYNAMICITEMUPDATE", record_id=inv, source="b24", delivery_id="edit")
        await cycle(rt)
        value2 = b24.portal.t("item_31").get(int(inv))["ufCrmSmartInvoicePdf"]
        assert value2["id"] != value["id"] and value["id"] not in b24.portal.files  # replaced, the old one deleted
        assert sum(1 for x in b24.portal.files.values() if x["name"] == f["name"]) == 1
        assert calls  # (requests were counted)

    scenario(steps, tmp_path, _entities({"field": "ufCrmSmartInvoicePdf"}))


def test_invoice_pdf_as_a_timeline_note_once_even_when_the_answer_is_lost(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        b24.force("crm.timeline.comment.add", "lost")  # the note is stored, its answer lost
        inv, doc = await _issued(rt, b24, onec, client)
        for _ in range(3):
            await cycle(rt)
        notes = [r for r in b24.portal.t("timeline_comment").rows.values()
                 if r["ENTITY_TYPE"] == "dynamic_31" and r["ENTITY_ID"] == int(inv)]
        assert len(notes) == 1, notes
        assert notes[0]["COMMENT"] == f"Печатная форма счёта № {doc['Number']} из 1С"
        (fref,) = notes[0]["FILES"]
        assert b24.portal.files[fref["id"]]["content"].startswith(b"%PDF-")

    scenario(steps, tmp_path, _entities({"timeline": "Печатная форма счёта № {erp:Number} из 1С"}))


def test_invoice_pdf_waits_while_the_erp_has_no_form_and_holds_a_bad_one(tmp_path: Path) -> None:
    """A 404 from the HTTP service holds with the reason; a form that is not a PDF is held, never attached."""
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        from tests.orders.test_orders import held_reasons

        inv, doc = await _issued(rt, b24, onec, client)
        assert not b24.portal.t("item_31").get(int(inv)).get("ufCrmSmartInvoicePdf")
        assert any("HTTP-сервис 1С не нашёл файл" in r for r in held_reasons(rt))

    ents = _entities({"field": "ufCrmSmartInvoicePdf"})
    ents["invoice"]["files"][0]["source"] = {"http": "b24/print/Document_НетТакого/{id}"}
    scenario(steps, tmp_path, ents)

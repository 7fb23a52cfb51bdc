"""Contracts (issue 16): a stage of the Contracts smart process creates the contract in 1C
(``Catalog_ДоговорыКонтрагентов``: counterparty through the company link, number, date, sum, currency; the ERP's code
and id come back); when 1C finalises it (``Статус = Действует``), the signed PDF from its attached files lands in the
card's file field — once, replaced when 1C's signed file changes. Generic concepts only (stage_change, header,
write_back, files), end to end over the Bitrix24 and 1C sandboxes."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from b24sync.server.intake import accept_event
from tests.orders.harness import cycle, scenario
from tests.orders.test_orders import entities, held_reasons, seed

CONTRACTS = "Catalog_ДоговорыКонтрагентов"
SPA = 1040
FILES = "Catalog_ДоговорыКонтрагентовПрисоединенныеФайлы"


def pdf(text: str) -> bytes:
    return b"%PDF-1.4\n% " + text.encode() + b"\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def contract_entities(**files_over: Any) -> dict[str, Any]:
    ents = entities()
    ents["contract"] = {
        "title": "Договоры (смарт-процесс) → договоры 1С", "master": "bitrix24", "direction": "crm_to_erp",
        "crm": {"object": f"crm.item:{SPA}"}, "erp": {"object": CONTRACTS},
        "match": [{"crm": "id", "erp": "ИдентификаторCRM"}],
        "link": {"crm": "ufCrm1ErpId", "erp": "ИдентификаторCRM"},
        "fields": [{"crm": "companyId", "erp": "Контрагент_Key", "transform": {"ref": "company"}},
                   {"crm": "title", "erp": "Description"},
                   {"crm": "ufCrm1ContractNumber", "erp": "Номер"},
                   {"crm": "begindate", "erp": "Дата", "transform": {"type": "date"}},
                   {"crm": "opportunity", "erp": "Сумма"}],
        "header": [
            {"erp": "Организация_Key", "lookup": {"object": "Catalog_Организации", "where": {"ИНН": "7701234567"}}},
            {"erp": "Партнер_Key", "lookup": {"object": "Catalog_Контрагенты",
                                              "where": {"Ref_Key": "{target:Контрагент_Key}"}, "take": "Партнер_Key"}},
            {"erp": "ВалютаВзаиморасчетов_Key", "lookup": {"object": "Catalog_Валюты", "where": {"Code": "643"}}},
            {"erp": "Статус", "value": "НеСогласован"}],
        "write_back": [{"crm": "ufCrm1ErpContractCode", "erp": "Code"}, {"crm": "ufCrm1ErpId", "erp": "Ref_Key"}],
        "triggers": [{"poll": "1m"}, {"webhook": "ONCRMDYNAMICITEMUPDATE"},
                     {"stage_change": {"to": [f"DT{SPA}_3:CLIENT"]}}],
        "guards": [{"require_fields": {"side": "crm", "fields": ["companyId"],
                                       "message": "Укажите в договоре компанию клиента — без неё 1С не создаст договор"}}],
    }
    ft = {"source": {"attached": FILES, "where": {"ПодписанЭП": True}},
          "when": {"field": "Статус", "values": ["Действует"]},
          "to": {"field": "ufCrm1SignedContract"}, "file_name": "Договор {erp:Номер} (подписан).pdf", **files_over}
    ents["contract_signed"] = {
        "title": "Подписанный договор из 1С", "master": "onec", "direction": "erp_to_crm", "create": False,
        "crm": {"object": f"crm.item:{SPA}"}, "erp": {"object": CONTRACTS},
        "match": [{"crm": "id", "erp": "ИдентификаторCRM"}], "link": {"crm": "ufCrm1ErpId", "erp": "ИдентификаторCRM"},
        "fields": [{"crm": "ufCrm1ErpContractStatus", "erp": "Статус"},
                   {"crm": "ufCrm1ValidUntil", "erp": "ДатаОкончанияДействия"}],
        "triggers": [{"poll": "1m"}],
        "files": [ft],
    }
    return ents


async def _contract(rt, client, s: dict[str, Any], *, company: bool = True) -> str:  # type: ignore[no-untyped-def]
    f: dict[str, Any] = {"title": "Договор поставки", "opportunity": 250000, "currencyId": "RUB",
                         "ufCrm1ContractNumber": "Д-17/2026", "begindate": "2026-03-02T00:00:00+03:00"}
    if company:
        f["companyId"] = int(s["company"])
    res = await client.call("crm.item.add", {"entityTypeId": SPA, "fields": f})
    return str(res["item"]["id"])


async def _stage(rt, client, item: str, stage: str) -> None:  # type: ignore[no-untyped-def]
    await client.call("crm.item.update", {"entityTypeId": SPA, "id": int(item), "fields": {"stageId": stage}})
    accept_event(rt, side="crm", event="ONCRMDYNAMICITEMUPDATE", record_id=item, source="b24",
                 delivery_id=f"c{item}:{stage}")


async def _item(client, item: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return (await client.call("crm.item.get", {"entityTypeId": SPA, "id": int(item)}))["item"]


async def _signed(rt, b24, onec, client, **files_over: Any):  # type: ignore[no-untyped-def]
    """A contract created in 1C from the card and signed there; returns (seed, item, contract)."""
    s = await seed(rt, onec, client)
    item = await _contract(rt, client, s)
    await _stage(rt, client, item, f"DT{SPA}_3:CLIENT")
    await cycle(rt)
    (c,) = onec.find(CONTRACTS)
    return s, item, c


def test_contract_created_in_1c_only_on_the_stage_with_counterparty_sum_currency_and_code_back(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s = await seed(rt, onec, client)
        item = await _contract(rt, client, s)
        await cycle(rt)
        assert onec.find(CONTRACTS) == []  # a new card at a non-trigger stage: nothing in 1C
        await _stage(rt, client, item, f"DT{SPA}_3:PREPARATION")
        await cycle(rt)
        assert onec.find(CONTRACTS) == []
        await _stage(rt, client, item, f"DT{SPA}_3:CLIENT")
        await _stage(rt, client, item, f"DT{SPA}_3:CLIENT")  # the same event twice → one contract
        await cycle(rt)
        (c,) = onec.find(CONTRACTS)
        assert c["Контрагент_Key"] == s["cp"]["Ref_Key"] and c["Партнер_Key"] == s["partner"]["Ref_Key"]
        assert c["Сумма"] == 250000 and c["Номер"] == "Д-17/2026" and c["Дата"].startswith("2026-03-02")
        cur = onec.find("Catalog_Валюты", Code="643")[0]
        assert c["ВалютаВзаиморасчетов_Key"] == cur["Ref_Key"] and c["Статус"] == "НеСогласован"
        card = await _item(client, item)
        assert card["ufCrm1ErpContractCode"] == c["Code"] and card["ufCrm1ErpId"] == c["Ref_Key"]
        await cycle(rt)
        assert len(onec.find(CONTRACTS)) == 1

    scenario(steps, tmp_path, contract_entities())


def test_contract_without_company_is_held_with_a_russian_message(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s = await seed(rt, onec, client)
        item = await _contract(rt, client, s, company=False)
        await _stage(rt, client, item, f"DT{SPA}_3:CLIENT")
        await cycle(rt)
        assert onec.find(CONTRACTS) == []
        assert any("Укажите в договоре компанию" in r for r in held_reasons(rt))

    scenario(steps, tmp_path, contract_entities())


def test_signed_pdf_lands_in_the_card_once_and_is_replaced_when_1c_signs_a_new_version(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s, item, c = await _signed(rt, b24, onec, client)
        onec.attach_file(CONTRACTS, c["Ref_Key"], "Договор проект.docx", b"PK\x03\x04 draft", signed=False)
        onec.attach_file(CONTRACTS, c["Ref_Key"], "Договор скан.pdf", pdf("signed v1"), signed=True,
                         modified="2030-01-01T10:00:00")  # v2 below a minute later: 1C keeps whole seconds
        await cycle(rt)
        assert not (await _item(client, item)).get("ufCrm1SignedContract")  # not in force yet: nothing sent
        onec.edit(CONTRACTS, c["Ref_Key"], Статус="Действует", Согласован=True)
        await cycle(rt)
        card = await _item(client, item)
        value = card["ufCrm1SignedContract"]
        assert set(value) == {"id", "url", "urlMachine"}  # crm.item read-back shape (document-flows.md A.1)
        f = b24.portal.files[value["id"]]
        assert f["content"] == pdf("signed v1") and f["name"] == "Договор Д-17/2026 (подписан).pdf".replace("/", "_")
        assert card["ufCrm1ErpContractStatus"] == "Действует"
        files_before, updates_before = len(b24.portal.files), b24.portal.method_calls["crm.item.update"]
        for _ in range(2):  # later cycles send nothing
            await cycle(rt)
        assert len(b24.portal.files) == files_before
        assert b24.portal.method_calls["crm.item.update"] == updates_before
        # 1C signs a corrected version (and the contract's term changes): the field's file is replaced, the old
        # file is gone from the portal
        onec.attach_file(CONTRACTS, c["Ref_Key"], "Договор скан v2.pdf", pdf("signed v2"), signed=True,
                         modified="2030-01-01T10:01:00")
        onec.edit(CONTRACTS, c["Ref_Key"], ДатаОкончанияДействия="2027-03-01T00:00:00")
        await cycle(rt)
        value2 = (await _item(client, item))["ufCrm1SignedContract"]
        assert value2["id"] != value["id"] and value["id"] not in b24.portal.files
        assert b24.portal.files[value2["id"]]["content"] == pdf("signed v2")

    scenario(steps, tmp_path, contract_entities())


def test_signed_pdf_from_each_1c_storage_and_volumes_through_the_http_service(tmp_path: Path) -> None:
    """BSP 3.1 register storage, the older item storage, and a file in volumes: OData cannot read it, so the card is
    held with the reason until the spec names the HTTP service (document-flows.md B.9)."""
    def run(storage: str, files_over: dict[str, Any]) -> None:
        async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
            s, item, c = await _signed(rt, b24, onec, client)
            onec.attach_file(CONTRACTS, c["Ref_Key"], "Скан.pdf", pdf(storage), signed=True, storage=storage)
            onec.edit(CONTRACTS, c["Ref_Key"], Статус="Действует")
            await cycle(rt)
            value = (await _item(client, item)).get("ufCrm1SignedContract")
            if storage == "volumes" and not files_over:
                assert not value
                assert any("хранится в томах на диске" in r for r in held_reasons(rt))
                return
            assert b24.portal.files[value["id"]]["content"] == pdf(storage)

        d = tmp_path / f"{storage}{len(files_over)}"
        d.mkdir()
        scenario(steps, d, contract_entities(**files_over))

    run("register", {})
    run("item", {})
    run("volumes", {})
    run("volumes", {"source": {"attached": FILES, "where": {"ПодписанЭП": True}, "files_service": "b24/files/{file}"}})


def test_bad_signed_files_are_held_with_a_russian_reason_and_go_after_the_fix(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        from b24sync.store import queue as jobs

        s, item, c = await _signed(rt, b24, onec, client)
        onec.edit(CONTRACTS, c["Ref_Key"], Статус="Действует")
        cases = [(b"", "пустой"), (b"<html>not a pdf</html>", "не является PDF"),
                 (pdf("x" * 3000), "слишком большой")]
        for n, (content, words) in enumerate(cases):  # one minute apart: 1C's whole seconds would tie on a fast run
            onec.attach_file(CONTRACTS, c["Ref_Key"], "Скан.pdf", content, signed=True,
                             modified=f"2030-01-01T10:0{n}:00")
            onec.edit(CONTRACTS, c["Ref_Key"], Комментарий=words)  # not mapped: the file job runs on resync below
            from b24sync.engine.resync import enqueue_resync

            await enqueue_resync(rt, "contract_signed")
            await cycle(rt)
            assert not (await _item(client, item)).get("ufCrm1SignedContract")
            assert any(words in r for r in held_reasons(rt)), (words, held_reasons(rt))
        # the manager was told on the card's timeline
        notes = [r["COMMENT"] for r in b24.portal.t("timeline_comment").rows.values()]
        assert any("не является PDF" in n for n in notes)
        onec.attach_file(CONTRACTS, c["Ref_Key"], "Скан исправленный.pdf", pdf("ok"), signed=True,
                         modified="2030-01-01T10:09:00")
        assert jobs.replay(rt.db) >= 1
        await cycle(rt)
        value = (await _item(client, item))["ufCrm1SignedContract"]
        assert b24.portal.files[value["id"]]["content"] == pdf("ok")
        assert not any("слишком большой" in r for r in held_reasons(rt))

    scenario(steps, tmp_path, contract_entities(max_size="2KB"))


def test_lost_answer_on_the_upload_leaves_one_file(tmp_path: Path) -> None:
    """The portal stores the file, the answer is lost: the retry downloads the field's file, recognises its bytes and
    adopts it — no second upload."""
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s, item, c = await _signed(rt, b24, onec, client)
        onec.attach_file(CONTRACTS, c["Ref_Key"], "Скан.pdf", pdf("lost"), signed=True)
        onec.edit(CONTRACTS, c["Ref_Key"], Статус="Действует")
        before = max(b24.portal.files, default=0)
        b24.force("crm.item.update", "lost")
        for _ in range(3):
            await cycle(rt)
        value = (await _item(client, item))["ufCrm1SignedContract"]
        assert value["id"] == before + 1  # the first upload's file, adopted: the upload was not repeated
        ours = [f for f in b24.portal.files.values() if f["content"] == pdf("lost")]
        assert len(ours) == 1 and ours[0]["id"] == value["id"]

    scenario(steps, tmp_path, contract_entities())


def test_file_transfer_state_survives_a_restart_no_resend(tmp_path: Path) -> None:
    async def first(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s, item, c = await _signed(rt, b24, onec, client)
        onec.attach_file(CONTRACTS, c["Ref_Key"], "Скан.pdf", pdf("once"), signed=True)
        onec.edit(CONTRACTS, c["Ref_Key"], Статус="Действует")
        await cycle(rt)
        n = len(b24.portal.files)
        from b24sync.engine.resync import enqueue_resync

        await enqueue_resync(rt, "contract_signed")  # a forced sync of every pair re-runs the file job
        await cycle(rt)
        assert len(b24.portal.files) == n
        assert base64.b64encode(pdf("once"))

    scenario(first, tmp_path, contract_entities())

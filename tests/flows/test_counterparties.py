"""Counterparties flow (issue 7), end to end over the Bitrix24 and 1C sandboxes.

Each test starts both sandboxes, builds a runtime from the demo entity block (src/b24sync/flows/demo/
counterparties.yaml) and runs every step inside one event loop (the connectors' clients belong to it)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from b24sync.compose import build
from b24sync.engine.service import RunOptions, run
from b24sync.flows.counterparties import ACCOUNTS, BANKS, CATALOG, DEMO_YAML
from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox
from b24sync.sandbox.onec.sandbox import OneCSandbox
from b24sync.spec.models import Spec
from b24sync.store import identity

CONTRACTS = 1038
BIC, CORR, ACC = "044525225", "30101810400000000225", "40702810438000060473"


def _spec(b24_url: str, onec_url: str) -> Spec:
    entities = YAML(typ="safe").load(DEMO_YAML.read_text(encoding="utf-8"))
    return Spec.model_validate({
        "version": 1, "name": "counterparties test",
        "systems": {
            "bitrix24": {"type": "bitrix24", "role": "crm", "webhook_url": b24_url, "rate": 50, "burst": 400},
            "onec": {"type": "1c-odata", "role": "erp", "url": onec_url, "username": "odata", "password": "secret",
                     "preset": "ut11"},
        },
        "defaults": {"workers": 20, "poll_overlap": "30s", "retry": {"max_attempts": 3, "base_seconds": 0.2,
                                                                       "max_seconds": 1}},
        "entities": entities,
    })


def _seed_onec(sb: OneCSandbox) -> dict[str, str]:
    bank = sb.create(BANKS, Code=BIC, Description="ПАО СБЕРБАНК", КоррСчет=CORR)
    refs = {}
    for name, inn, kpp, ogrn in [("ПАО Сбербанк", "7707083893", "773601001", "1027700132195"),
                                 ("ООО Яндекс", "7736207543", "770401001", "1027700229193"),
                                 ("АО ПФ СКБ Контур", "6663003127", "668501001", "")]:
        cp = sb.create(CATALOG, Description=name, НаименованиеПолное=f"{name} (полное)", ИНН=inn, КПП=kpp, ОГРН=ogrn,
                       ЮрФизЛицо="ЮрЛицо", КонтактнаяИнформация=[
                           {"LineNumber": 1, "Тип": "Адрес", "Вид": "ЮрАдресКонтрагента",
                            "Представление": f"г. Москва, ул. {name[-6:]}, д. 1", "Город": "Москва"}])
        refs[inn] = cp["Ref_Key"]
    sb.create(ACCOUNTS, Owner_Key=refs["7707083893"], НомерСчета=ACC, Банк_Key=bank["Ref_Key"], Description=ACC)
    return refs


def scenario(fn, tmp_path: Path) -> Any:  # type: ignore[no-untyped-def]
    b24 = Bitrix24Sandbox(rate=50, burst=400)
    onec = OneCSandbox(seed=None)
    url = b24.start()
    onec_url = onec.start()
    try:
        rt = build(_spec(url, onec_url), database_url=f"sqlite:///{tmp_path / 'state.db'}")

        async def main() -> Any:
            try:
                from b24sync.connectors.bitrix24.portal import prepare_portal
                from b24sync.connectors.bitrix24.requirements import requirements_from_spec

                client = rt.adapters["bitrix24"].client  # type: ignore[attr-defined]
                await prepare_portal(client, requirements_from_spec(rt.spec))
                types = (await client.call("crm.type.list", {})).get("types", [])  # prepare creates it now
                if not any(int(t["entityTypeId"]) == CONTRACTS for t in types):
                    await client.call("crm.type.add", {"fields": {"title": "Договоры", "entityTypeId": CONTRACTS}})
                return await fn(rt, b24, onec, client)
            finally:
                await rt.aclose()

        return asyncio.run(main())
    finally:
        b24.stop()
        onec.stop()


def _rows(b24: Bitrix24Sandbox, table: str) -> list[dict]:
    return list(b24.portal.t(table).rows.values())


def _company_of(rt, ref: str) -> str:  # type: ignore[no-untyped-def]
    with rt.db.connect() as conn:
        b = identity.find(conn, "counterparty", "erp", ref)
    assert b is not None and b.crm_id
    return str(b.crm_id)


def _card(b24: Bitrix24Sandbox, company_id: str) -> dict[str, Any]:
    rq = [r for r in _rows(b24, "requisite") if str(r["ENTITY_ID"]) == company_id and int(r["ENTITY_TYPE_ID"]) == 4]
    assert len(rq) == 1, rq
    bd = [r for r in _rows(b24, "bankdetail") if r["ENTITY_ID"] == rq[0]["ID"]]
    ad = [r for r in _rows(b24, "address") if r["ENTITY_ID"] == rq[0]["ID"] and int(r["TYPE_ID"]) == 6]
    return {"company": b24.portal.t("company").get(int(company_id)), "rq": rq[0], "bd": bd, "ad": ad}


def _comments(b24: Bitrix24Sandbox, company_id: str) -> list[str]:
    return [str(r.get("COMMENT")) for r in _rows(b24, "timeline_comment")
            if str(r.get("ENTITY_ID")) == company_id and str(r.get("ENTITY_TYPE", "")).lower() == "company"]


def test_erp_to_crm_twice_no_duplicates_then_receivables(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        refs = _seed_onec(onec)
        first = await run(rt, RunOptions(once=True))
        assert first.dead == 0, first
        counts = {t: b24.count(t) for t in ("company", "requisite", "bankdetail", "address")}
        assert counts == {"company": 3, "requisite": 3, "bankdetail": 1, "address": 3}
        sber = _company_of(rt, refs["7707083893"])
        card = _card(b24, sber)
        assert card["company"]["TITLE"] == "ПАО Сбербанк"
        assert card["company"]["UF_CRM_ERP_ID"] == refs["7707083893"]
        assert (card["rq"]["RQ_INN"], card["rq"]["RQ_KPP"], card["rq"]["RQ_OGRN"]) == ("7707083893", "773601001",
                                                                                       "1027700132195")
        assert int(card["rq"]["PRESET_ID"]) == 1
        assert (card["bd"][0]["RQ_BIK"], card["bd"][0]["RQ_ACC_NUM"], card["bd"][0]["RQ_COR_ACC_NUM"],
                card["bd"][0]["RQ_BANK_NAME"]) == (BIC, ACC, CORR, "ПАО СБЕРБАНК")
        assert card["ad"][0]["ADDRESS_1"].startswith("г. Москва")
        # the CRM id is stored in 1C (the CRM → ERP entity links the ERP-born record on its first pass)
        await asyncio.sleep(1.1)
        await run(rt, RunOptions(once=True))
        assert onec.get(CATALOG, refs["7707083893"])["ИдентификаторCRM"] == sber
        # run again: same counts, nothing written anywhere
        await asyncio.sleep(1.1)
        served = b24.requests_served
        versions = {r: onec.get(CATALOG, r)["DataVersion"] for r in refs.values()}
        again = await run(rt, RunOptions(once=True))
        assert {t: b24.count(t) for t in counts} == counts
        assert not {"created", "updated", "linked", "recreated", "reverted"} & set(again.actions), again.actions
        assert {r: onec.get(CATALOG, r)["DataVersion"] for r in refs.values()} == versions
        assert len(onec.find(CATALOG)) == 3
        assert b24.requests_served - served < 40

        # receivables: a sale posts a debt → the company field; a payment changes it
        org = onec.create("Catalog_Организации", Description="Наша фирма", ИНН="7701234567")
        sale = onec.create("Document_РеализацияТоваровУслуг", Date="2026-01-10T10:00:00", Контрагент_Key=refs["7736207543"],
                           Организация_Key=org["Ref_Key"], СуммаДокумента=1500)
        onec.post("Document_РеализацияТоваровУслуг", sale["Ref_Key"])
        await run(rt, RunOptions(once=True))
        yandex = _company_of(rt, refs["7736207543"])
        # a money user field: Bitrix24 keeps `amount|CUR` (bitrix24-rest.md "Value formats")
        assert b24.portal.t("company").get(int(yandex))["UF_CRM_DEBT"] == "1500.00|RUB"
        pay = onec.create("Document_ПоступлениеБезналичныхДенежныхСредств", Date="2026-01-11T10:00:00",
                          Контрагент_Key=refs["7736207543"], Организация_Key=org["Ref_Key"], СуммаДокумента=1000,
                          РасшифровкаПлатежа=[{"LineNumber": 1, "Сумма": 1000}])
        onec.post("Document_ПоступлениеБезналичныхДенежныхСредств", pay["Ref_Key"])
        await run(rt, RunOptions(once=True))
        assert b24.portal.t("company").get(int(yandex))["UF_CRM_DEBT"] == "500.00|RUB"
        quiet = await run(rt, RunOptions(once=True))  # "500.00|RUB" read back equals 500 from 1C: nothing written
        assert not {"created", "updated", "linked"} & set(quiet.actions), quiet.actions
        assert b24.count("company") == 3  # receivables never create companies

    scenario(steps, tmp_path)


def test_manual_edit_of_erp_owned_field_is_reverted_with_comment(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        refs = _seed_onec(onec)
        await run(rt, RunOptions(once=True))
        sber = _company_of(rt, refs["7707083893"])
        bd = _card(b24, sber)["bd"][0]
        await asyncio.sleep(1.1)
        # a manager "fixes" the settlement account in the card (a bank-detail-only edit)
        await client.call("crm.requisite.bankdetail.update", {"id": int(bd["ID"]),
                                                              "fields": {"RQ_ACC_NUM": "40702810000000000001"}})
        await asyncio.sleep(1.1)
        stats = await run(rt, RunOptions(once=True))
        assert stats.actions.get("reverted") == 1, stats.actions
        assert _card(b24, sber)["bd"][0]["RQ_ACC_NUM"] == ACC
        notes = [c for c in _comments(b24, sber) if "отменено" in c]
        assert len(notes) == 1 and "расчётный счёт" in notes[0] and "учётная система" in notes[0]

    scenario(steps, tmp_path)


async def _company(client, title: str, inn: str, kpp: str, *, acc: str = ACC) -> int:  # type: ignore[no-untyped-def]
    cid = int(await client.call("crm.company.add", {"fields": {"TITLE": title, "ASSIGNED_BY_ID": 1}}))
    rq = int(await client.call("crm.requisite.add", {"fields": {
        "ENTITY_TYPE_ID": 4, "ENTITY_ID": cid, "PRESET_ID": 1, "NAME": title, "RQ_COMPANY_FULL_NAME": title + " (полное)",
        "RQ_INN": inn, "RQ_KPP": kpp}}))
    await client.call("crm.requisite.bankdetail.add", {"fields": {
        "ENTITY_ID": rq, "NAME": "Счёт", "RQ_BANK_NAME": "ПАО СБЕРБАНК", "RQ_BIK": BIC, "RQ_ACC_NUM": acc,
        "RQ_COR_ACC_NUM": CORR}})
    return cid


def test_crm_to_erp_held_until_valid_and_contract_then_created_with_bank_account(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        from b24sync.store.queue import replay

        bad = await _company(client, "ООО Опечатка", "7707083894", "773601001")  # INN check digit wrong
        good = await _company(client, "ООО Квалифицированный", "7736207543", "770401001")
        stats = await run(rt, RunOptions(once=True))
        assert stats.held == 2 and not onec.find(CATALOG)
        # the manager learnt why, on the card and in a notification
        bad_notes = _comments(b24, str(bad))
        assert any("ИНН 7707083894: контрольная цифра должна быть 3" in c for c in bad_notes), bad_notes
        assert any("contract or an invoice" in c for c in _comments(b24, str(good)))
        notes = [n for n in b24.portal.notifications if n["TYPE"] == "SYSTEM" and "ООО Опечатка" in n["MESSAGE"]]
        assert len(notes) == 1 and notes[0]["USER_ID"] == 1 and "ИНН" in notes[0]["MESSAGE"], notes
        # still held on the next pass, but the manager is not told again
        n_comments = len(_rows(b24, "timeline_comment"))
        await run(rt, RunOptions(once=True))
        assert len(_rows(b24, "timeline_comment")) == n_comments and not onec.find(CATALOG)

        # a contract for the good company → created in 1C with its bank account and the CRM id
        await client.call("crm.item.add", {"entityTypeId": CONTRACTS, "fields": {"title": "Договор 1",
                                                                                  "companyId": good}})
        replay(rt.db, entity="counterparty_to_erp", kind="held")
        stats = await run(rt, RunOptions(once=True))
        assert stats.actions.get("created") == 1, stats.actions
        made = onec.find(CATALOG, ИНН="7736207543")
        assert len(made) == 1 and made[0]["ИдентификаторCRM"] == str(good) and made[0]["КПП"] == "770401001"
        acc = onec.find(ACCOUNTS, Owner_Key=made[0]["Ref_Key"])
        assert len(acc) == 1 and acc[0]["НомерСчета"] == ACC
        assert onec.get(BANKS, acc[0]["Банк_Key"])["Code"] == BIC
        assert not onec.find(CATALOG, ИНН="7707083894")
        # the ERP → CRM entity then links the 1C record to the same card (no second company)
        await asyncio.sleep(1.1)
        await run(rt, RunOptions(once=True))
        assert b24.count("company") == 2
        assert b24.portal.t("company").get(good)["UF_CRM_ERP_ID"] == made[0]["Ref_Key"]

    scenario(steps, tmp_path)

"""Two legal entities, two 1C bases: the deal's "Seller legal entity" (UF_CRM_SELLER) routes its order, its smart
invoices and its contract cards (`erp.route.parent: {field: parentId2}` — the seller is read on the deal), and
payments from each base count to the right deal (docs/several-systems.md "Invoices, contracts, payments"). Over one
Bitrix24 sandbox and two 1C sandboxes: right base, nothing in the other, the number back from the right base; the
deal's seller changed after the document exists → held with a Russian reason, never a second document; an unknown
seller or no deal → held; replay after the fix; a contract card takes the signed PDF of its own base only; the same
GUIDs and numbers in both bases never collide; an item of the seller list made on the portal after the start routes
without a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from b24sync.compose import build
from b24sync.engine.scheduler import poll_once
from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox
from b24sync.sandbox.onec.sandbox import OneCSandbox
from b24sync.server.intake import accept_event
from b24sync.spec.models import Spec
from b24sync.store import queue as jobs
from tests.orders.test_two_bases import _cycle, _held, _history, _items

ORDERS = "Document_ЗаказКлиента"
INVOICES = "Document_СчетНаОплатуКлиенту"
CONTRACTS = "Catalog_ДоговорыКонтрагентов"
FILES = "Catalog_ДоговорыКонтрагентовПрисоединенныеФайлы"
RECEIPTS = "Document_ПоступлениеБезналичныхДенежныхСредств"
SHIPMENTS = "Document_РеализацияТоваровУслуг"
SPA = 1040
PDF_A = b"%PDF-1.4\n% signed in A\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
PDF_B = b"%PDF-1.4\n% the clone in B\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
A, B = "ООО Ромашка", "ООО Лютик"
INN = {"onec_a": "7701000001", "onec_b": "7702000002"}
ROUTE = {"by": "UF_CRM_SELLER", "systems": {A: "onec_a", B: "onec_b"},
         "vars": {s: {"org_inn": inn} for s, inn in INN.items()}}
BY_DEAL = {**ROUTE, "parent": {"field": "parentId2"}}  # the seller is the deal's
ORG = {"erp": "Организация_Key", "lookup": {"object": "Catalog_Организации", "where": {"ИНН": "{route:org_inn}"}}}


def _entities() -> dict[str, Any]:
    return {
        "company": {
            "master": "bitrix24", "direction": "crm_to_erp", "crm": {"object": "crm.company"},
            "erp": {"object": "Catalog_Контрагенты", "route": {"systems": ["onec_a", "onec_b"]}},
            "match": [{"crm": "UF_CRM_INN", "erp": "ИНН"}],
            "fields": [{"crm": "TITLE", "erp": "Description"}, {"crm": "UF_CRM_INN", "erp": "ИНН"}],
            "triggers": [{"webhook": "ONCRMCOMPANYUPDATE"}]},
        "order": {
            "master": "bitrix24", "direction": "crm_to_erp", "crm": {"object": "crm.deal"},
            "erp": {"object": ORDERS, "route": ROUTE},
            "match": [{"crm": "ID", "erp": "НомерПоДаннымКлиента"}],
            "link": {"crm": "UF_CRM_ERP_ORDER_ID", "erp": "НомерПоДаннымКлиента"},
            "fields": [{"crm": "TITLE", "erp": "Комментарий"},
                       {"crm": "COMPANY_ID", "erp": "Контрагент_Key", "transform": {"ref": "company"}}],
            "header": [ORG, {"erp": "Статус", "value": "КОбеспечению"}],
            "write_back": [{"crm": "UF_CRM_ERP_ORDER_NUMBER", "erp": "Number"},
                           {"crm": "UF_CRM_ERP_ORDER_ID", "erp": "Ref_Key"}],
            "triggers": [{"webhook": "ONCRMDEALUPDATE"}, {"stage_change": {"to": ["FINAL_INVOICE"]}}],
            "guards": [{"require_fields": {"side": "crm", "fields": ["COMPANY_ID"]}}]},
        "invoice": {
            "master": "bitrix24", "direction": "crm_to_erp", "crm": {"object": "crm.item:31"},
            "erp": {"object": INVOICES, "route": BY_DEAL},
            "match": [{"crm": "id", "erp": "ИдентификаторCRM"}],
            "link": {"crm": "ufCrmErpId", "erp": "ИдентификаторCRM"},
            "fields": [{"crm": "companyId", "erp": "Контрагент_Key", "transform": {"ref": "company"}},
                       {"crm": "parentId2", "erp": "ДокументОснование_Key", "transform": {"ref": "order"}},
                       {"crm": "opportunity", "erp": "СуммаДокумента"}, {"crm": "title", "erp": "Комментарий"}],
            "header": [ORG],
            "write_back": [{"crm": "ufCrmErpNumber", "erp": "Number"}, {"crm": "ufCrmErpId", "erp": "Ref_Key"}],
            "triggers": [{"webhook": "ONCRMDYNAMICITEMUPDATE"},
                         {"stage_change": {"from": ["DT31_2:N"], "to": ["DT31_2:S"]}}],
            "guards": [{"require_fields": {"side": "crm", "fields": ["companyId"]}}]},
        "contract": {
            "master": "bitrix24", "direction": "crm_to_erp", "crm": {"object": f"crm.item:{SPA}"},
            "erp": {"object": CONTRACTS, "route": BY_DEAL},
            "match": [{"crm": "id", "erp": "ИдентификаторCRM"}],
            "link": {"crm": "ufCrm1ErpId", "erp": "ИдентификаторCRM"},
            "fields": [{"crm": "companyId", "erp": "Контрагент_Key", "transform": {"ref": "company"}},
                       {"crm": "title", "erp": "Description"}, {"crm": "ufCrm1ContractNumber", "erp": "Номер"}],
            "header": [ORG, {"erp": "ВидДоговора", "value": "СПокупателем"}, {"erp": "Статус", "value": "НеСогласован"}],
            "write_back": [{"crm": "ufCrm1ErpContractCode", "erp": "Code"}, {"crm": "ufCrm1ErpId", "erp": "Ref_Key"}],
            "triggers": [{"webhook": "ONCRMDYNAMICITEMUPDATE"}, {"stage_change": {"to": [f"DT{SPA}_3:CLIENT"]}}],
            "guards": [{"require_fields": {"side": "crm", "fields": ["companyId"]}}]},
        "contract_signed": {
            "master": "erp", "direction": "erp_to_crm", "create": False, "crm": {"object": f"crm.item:{SPA}"},
            "erp": {"object": CONTRACTS, "route": BY_DEAL},
            "match": [{"crm": "id", "erp": "ИдентификаторCRM"}],
            "link": {"crm": "ufCrm1ErpId", "erp": "ИдентификаторCRM"},
            "fields": [{"crm": "ufCrm1ErpContractStatus", "erp": "Статус"}],
            "files": [{"source": {"attached": FILES, "where": {"ПодписанЭП": True}},
                       "when": {"field": "Статус", "values": ["Действует"]},
                       "to": {"field": "ufCrm1SignedContract"}, "file_name": "Договор {erp:Номер}.pdf"}],
            "triggers": [{"poll": "1m"}]},
        "payment": {
            "master": "erp", "direction": "erp_to_crm", "crm": {"object": "crm.deal"},
            "erp": {"object": RECEIPTS, "route": {"systems": ["onec_a", "onec_b"]}}, "match": [],
            "aggregate": {
                "ledger": "payments", "rows": "РасшифровкаПлатежа", "amount": "РасшифровкаПлатежа.Сумма",
                "date": "ДатаВходящегоДокумента", "number": "НомерВходящегоДокумента",
                "key": ["НомерВходящегоДокумента", "ДатаВходящегоДокумента", "Контрагент_Key"],
                "targets": [{"via": "order", "ref": ["РасшифровкаПлатежа.ОснованиеПлатежа"], "type": ORDERS,
                             "total": "OPPORTUNITY",
                             "set": [{"crm": "UF_CRM_PAID_AMOUNT", "value": "sum", "currency": "RUB"}]}],
                "purpose": {"via": "order", "number": "UF_CRM_ERP_ORDER_NUMBER"}},
            "triggers": [{"poll": "1m"}]},
        "shipment": {
            "master": "erp", "direction": "erp_to_crm", "crm": {"object": "crm.deal"},
            "erp": {"object": SHIPMENTS, "route": {"systems": ["onec_a", "onec_b"]}}, "match": [],
            "aggregate": {
                "rows": "Товары", "amount": "Товары.СуммаСНДС",
                "counts_if": {"Posted": [True], "DeletionMark": [False], "Статус": ["Отгружено"]},
                "targets": [{"via": "order", "ref": ["Товары.ЗаказКлиента_Key", "ЗаказКлиента_Key"],
                             "total": "OPPORTUNITY",
                             "set": [{"crm": "UF_CRM_SHIPPED_AMOUNT", "value": "sum", "currency": "RUB"}]}]},
            "triggers": [{"poll": "1m"}]},
    }


def _spec(b24: str, a: str, b: str) -> Spec:
    onec = {"type": "1c-odata", "role": "erp", "username": "odata", "password": "secret", "preset": "ut11"}
    return Spec.model_validate({
        "version": 1, "name": "two legal entities, their documents",
        "systems": {"bitrix24": {"type": "bitrix24", "role": "crm", "webhook_url": b24, "rate": 50, "burst": 400},
                    "onec_a": {**onec, "url": a}, "onec_b": {**onec, "url": b}},
        "defaults": {"workers": 8, "poll_overlap": "30s",
                     "retry": {"max_attempts": 4, "base_seconds": 0.2, "max_seconds": 1}},
        "entities": _entities()})


def _scenario(fn, tmp_path: Path) -> Any:  # type: ignore[no-untyped-def]
    b24 = Bitrix24Sandbox(rate=50, burst=400)
    a, b = OneCSandbox(seed=None), OneCSandbox(seed=None)
    urls = b24.start(), a.start(), b.start()
    try:
        rt = build(_spec(*urls), database_url=f"sqlite:///{tmp_path / 'state.db'}")

        async def main() -> Any:
            from b24sync.connectors.bitrix24.portal import prepare_portal
            from b24sync.connectors.bitrix24.requirements import requirements_from_spec

            try:
                client = rt.adapters["bitrix24"].client  # type: ignore[attr-defined]
                await prepare_portal(client, requirements_from_spec(rt.spec))
                for base, system in ((a, "onec_a"), (b, "onec_b")):
                    base.create("Catalog_Организации", Description="Продавец", ИНН=INN[system])
                company = str(await client.call("crm.company.add", {"fields": {
                    "TITLE": "ООО Покупатель", "UF_CRM_INN": "7707083893"}}))
                return await fn(rt, b24, client, a, b, company)
            finally:
                await rt.aclose()

        return asyncio.run(main())
    finally:
        b24.stop()
        a.stop()
        b.stop()


async def _deal(rt, client, company: str, seller: str | None, tag: str) -> str:  # type: ignore[no-untyped-def]
    """A deal of the seller, moved to "Invoice": its order is made in the seller's base."""
    f: dict[str, Any] = {"TITLE": f"Поставка {tag}", "STAGE_ID": "NEW", "COMPANY_ID": company, "OPPORTUNITY": 5000}
    if seller is not None:
        f["UF_CRM_SELLER"] = seller
    d = str(await client.call("crm.deal.add", {"fields": f}))
    await client.call("crm.deal.update", {"id": int(d), "fields": {"STAGE_ID": "FINAL_INVOICE"}})
    accept_event(rt, side="crm", event="ONCRMDEALUPDATE", record_id=d, source="b24", delivery_id=f"{d}:fi")
    return d


async def _item(rt, client, etype: int, fields: dict[str, Any]) -> str:  # type: ignore[no-untyped-def]
    res = await client.call("crm.item.add", {"entityTypeId": etype, "fields": fields})
    return str(res["item"]["id"])


async def _touch(rt, client, etype: int, item: str, fields: dict[str, Any], tag: str) -> None:  # type: ignore[no-untyped-def]
    await client.call("crm.item.update", {"entityTypeId": etype, "id": int(item), "fields": fields})
    accept_event(rt, side="crm", event="ONCRMDYNAMICITEMUPDATE", record_id=item, source="b24",
                 delivery_id=f"{etype}:{item}:{tag}")


async def _get(client, etype: int, item: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return (await client.call("crm.item.get", {"entityTypeId": etype, "id": int(item)}))["item"]


def _mine(base: OneCSandbox, obj: str, crm_id: str) -> list[dict]:
    return [x for x in base.find(obj) if str(x.get("ИдентификаторCRM")) == crm_id]


async def _seller_field(client) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    (uf,) = await client.call("crm.deal.userfield.list", {"filter": {"FIELD_NAME": "UF_CRM_SELLER"}})
    return uf


async def _add_list_item(client, name: str) -> str:  # type: ignore[no-untyped-def]
    """The portal's administrator adds an item to the seller list (as in the field's settings)."""
    uf = await _seller_field(client)
    await client.call("crm.deal.userfield.update", {"id": uf["ID"], "fields": {"LIST": [{"VALUE": name}]}})
    after = await _seller_field(client)
    return next(str(i["ID"]) for i in after["LIST"] if i["VALUE"] == name)


async def _drop_list_item(client, item_id: str) -> None:  # type: ignore[no-untyped-def]
    uf = await _seller_field(client)
    await client.call("crm.deal.userfield.update", {"id": uf["ID"], "fields": {"LIST": [{"ID": item_id, "DEL": "Y"}]}})


def test_smart_invoices_go_to_the_base_of_their_deals_seller(tmp_path: Path) -> None:
    async def steps(rt, b24, client, a, b, company):  # type: ignore[no-untyped-def]
        items = await _items(client)
        d_a, d_b = await _deal(rt, client, company, items[A], "A"), await _deal(rt, client, company, items[B], "B")
        await _cycle(rt)
        (o_a,), (o_b,) = a.find(ORDERS), b.find(ORDERS)
        inv = {}
        for d, tag in ((d_a, "A"), (d_b, "B")):
            inv[tag] = await _item(rt, client, 31, {"title": f"Счёт {tag}", "companyId": int(company),
                                                    "opportunity": 5000, "parentId2": int(d)})
        inv["none"] = await _item(rt, client, 31, {"title": "Счёт без сделки", "companyId": int(company),
                                                   "opportunity": 10})
        for tag in inv:
            await _touch(rt, client, 31, inv[tag], {"stageId": "DT31_2:S"}, "sent")
        await _cycle(rt)

        (i_a,), (i_b,) = _mine(a, INVOICES, inv["A"]), _mine(b, INVOICES, inv["B"])
        assert _mine(b, INVOICES, inv["A"]) == [] and _mine(a, INVOICES, inv["B"]) == [], _history(rt)
        # the basis is the deal's order of the same base; the number comes back from that base
        assert i_a["ДокументОснование"] == o_a["Ref_Key"] and i_b["ДокументОснование"] == o_b["Ref_Key"]
        assert (await _get(client, 31, inv["A"]))["ufCrmErpNumber"] == i_a["Number"]
        assert (await _get(client, 31, inv["B"]))["ufCrmErpId"] == i_b["Ref_Key"]
        # an invoice with no deal: no base is named, held saying what to do
        held = _held(rt)
        assert list(held) == [f"invoice@onec_a:crm:{inv['none']}"], held
        assert "не привязана к сделке" in held[f"invoice@onec_a:crm:{inv['none']}"]
        assert len(a.find(INVOICES)) == 1 and len(b.find(INVOICES)) == 1

        # the fix: the invoice is put on deal B, replayed → base B only
        await client.call("crm.item.update", {"entityTypeId": 31, "id": int(inv["none"]),
                                              "fields": {"parentId2": int(d_b)}})
        assert jobs.replay(rt.db) == 1
        await _cycle(rt)
        assert len(_mine(b, INVOICES, inv["none"])) == 1 and _mine(a, INVOICES, inv["none"]) == []
        assert _held(rt) == {}

        # the deal's seller changed after its invoice exists: the invoice is held in A, nothing made in B
        await client.call("crm.deal.update", {"id": int(d_a), "fields": {"UF_CRM_SELLER": items[B]}})
        await _touch(rt, client, 31, inv["A"], {"title": "Счёт A (изм.)"}, "moved")
        await _cycle(rt)
        assert _mine(b, INVOICES, inv["A"]) == [] and len(_mine(a, INVOICES, inv["A"])) == 1
        key = f"invoice@onec_a:crm:{inv['A']}"
        assert key in _held(rt), _held(rt)
        assert "уже передана" in _held(rt)[key] and B in _held(rt)[key] and "сделка" in _held(rt)[key]
        # put back: replayed, the edit reaches A
        await client.call("crm.deal.update", {"id": int(d_a), "fields": {"UF_CRM_SELLER": items[A]}})
        jobs.replay(rt.db)
        await _cycle(rt)
        assert _mine(a, INVOICES, inv["A"])[0]["Комментарий"] == "Счёт A (изм.)" and _mine(b, INVOICES, inv["A"]) == []
        assert not any(k.startswith("invoice@") for k in _held(rt)), _held(rt)

        # a seller the route does not know (an item added to the list afterwards): held, then fixed
        other = await _add_list_item(client, "ООО Василёк")
        d_x = await _deal(rt, client, company, other, "X")
        inv_x = await _item(rt, client, 31, {"title": "Счёт X", "companyId": int(company), "opportunity": 1,
                                             "parentId2": int(d_x)})
        await _touch(rt, client, 31, inv_x, {"stageId": "DT31_2:S"}, "sent")
        await _cycle(rt)
        held = _held(rt)
        assert f"invoice@onec_a:crm:{inv_x}" in held and "ООО Василёк" in held[f"invoice@onec_a:crm:{inv_x}"], held
        assert _mine(a, INVOICES, inv_x) == [] == _mine(b, INVOICES, inv_x)
        # fixed on the deal, replayed: the order and then its invoice land in B only
        await client.call("crm.deal.update", {"id": int(d_x), "fields": {"UF_CRM_SELLER": items[B]}})
        assert jobs.replay(rt.db) == 2
        await _cycle(rt)
        (i_x,) = _mine(b, INVOICES, inv_x)
        assert _mine(a, INVOICES, inv_x) == [] and _held(rt) == {}, _held(rt)
        (o_x,) = [o for o in b.find(ORDERS) if o["НомерПоДаннымКлиента"] == d_x]
        assert i_x["ДокументОснование"] == o_x["Ref_Key"] and [o for o in a.find(ORDERS) if o["НомерПоДаннымКлиента"] == d_x] == []

    _scenario(steps, tmp_path)


def test_contracts_go_to_the_base_of_their_deals_seller_and_take_that_base_s_signed_pdf(tmp_path: Path) -> None:
    async def steps(rt, b24, client, a, b, company):  # type: ignore[no-untyped-def]
        items = await _items(client)
        d_a = await _deal(rt, client, company, items[A], "A")
        d_empty = await _deal(rt, client, company, None, "?")
        await _cycle(rt)
        c_a = await _item(rt, client, SPA, {"title": "Договор поставки", "companyId": int(company),
                                            "ufCrm1ContractNumber": "Д-1", "parentId2": int(d_a)})
        c_empty = await _item(rt, client, SPA, {"title": "Договор без продавца", "companyId": int(company),
                                                "ufCrm1ContractNumber": "Д-2", "parentId2": int(d_empty)})
        for c in (c_a, c_empty):
            await _touch(rt, client, SPA, c, {"stageId": f"DT{SPA}_3:CLIENT"}, "client")
        await _cycle(rt)
        (k_a,) = _mine(a, CONTRACTS, c_a)
        assert _mine(b, CONTRACTS, c_a) == [] and _mine(a, CONTRACTS, c_empty) == [] == _mine(b, CONTRACTS, c_empty)
        assert (await _get(client, SPA, c_a))["ufCrm1ErpContractCode"] == k_a["Code"]
        held = _held(rt)
        assert f"contract@onec_a:crm:{c_empty}" in held, held
        assert "Не заполнено поле «UF_CRM_SELLER (сделка" in held[f"contract@onec_a:crm:{c_empty}"]

        # base B is a clone: the same contract (same GUID, same CRM id) signed there with another PDF — the card's
        # deal is seller A, so B's file never reaches it; A's signed PDF does
        b.create(CONTRACTS, Ref_Key=k_a["Ref_Key"], Description="клон", Номер="Д-1", ИдентификаторCRM=c_a,
                 Статус="Действует")
        b.attach_file(CONTRACTS, k_a["Ref_Key"], "клон.pdf", PDF_B, signed=True)
        a.attach_file(CONTRACTS, k_a["Ref_Key"], "скан.pdf", PDF_A, signed=True)
        a.edit(CONTRACTS, k_a["Ref_Key"], Статус="Действует")
        for name in ("contract_signed@onec_a", "contract_signed@onec_b"):
            await poll_once(rt, name, "erp")
        await _cycle(rt)
        card = await _get(client, SPA, c_a)
        assert card["ufCrm1ErpContractStatus"] == "Действует", _history(rt)
        value = card["ufCrm1SignedContract"]
        assert b24.portal.files[value["id"]]["content"] == PDF_A, _history(rt)
        assert not any(f["content"] == PDF_B for f in b24.portal.files.values())

        # the seller set on the empty deal: replayed, the contract lands in B only
        await client.call("crm.deal.update", {"id": int(d_empty), "fields": {"UF_CRM_SELLER": items[B]}})
        assert jobs.replay(rt.db) >= 1
        await _cycle(rt)
        assert len(_mine(b, CONTRACTS, c_empty)) == 1 and _mine(a, CONTRACTS, c_empty) == []

        # the seller of A's deal changed after the contract exists: held, no contract in B
        await client.call("crm.deal.update", {"id": int(d_a), "fields": {"UF_CRM_SELLER": items[B]}})
        await _touch(rt, client, SPA, c_a, {"title": "Договор поставки (изм.)"}, "moved")
        await _cycle(rt)
        assert [x["Description"] for x in _mine(b, CONTRACTS, c_a)] == ["клон"]  # only the clone's own
        assert "уже передана" in _held(rt).get(f"contract@onec_a:crm:{c_a}", ""), _held(rt)

    _scenario(steps, tmp_path)


def test_payments_and_shipments_from_each_base_count_to_the_deal_of_that_base_s_order(tmp_path: Path) -> None:
    async def steps(rt, b24, client, a, b, company):  # type: ignore[no-untyped-def]
        items = await _items(client)
        d_a, d_b = await _deal(rt, client, company, items[A], "A"), await _deal(rt, client, company, items[B], "B")
        await _cycle(rt)
        (o_a,), (o_b,) = a.find(ORDERS), b.find(ORDERS)
        assert o_a["Number"] == o_b["Number"]  # each base numbers its own orders: the same number in both
        # a cloned base: the same receipt GUID and the same payer's document number and date in both bases
        guid = "99999999-0000-0000-0000-000000000001"
        a.register_payment(o_a["Ref_Key"], 1000, incoming_number="7", incoming_date="2026-03-12T00:00:00",
                           Ref_Key=guid)
        b.register_payment(o_b["Ref_Key"], 2000, incoming_number="7", incoming_date="2026-03-12T00:00:00",
                           Ref_Key=guid)
        # and a receipt in B with no breakdown: the order number in its purpose is the same in both bases
        doc = b.create(RECEIPTS, Контрагент_Key=o_b["Контрагент_Key"], СуммаДокумента=300, ПроведеноБанком=True,
                       НазначениеПлатежа=f"Оплата по заказу № {o_b['Number']}", НомерВходящегоДокумента="8",
                       ДатаВходящегоДокумента="2026-03-13T00:00:00",
                       РасшифровкаПлатежа=[{"LineNumber": 1, "Сумма": 300}])
        b.post(RECEIPTS, doc["Ref_Key"])
        # a shipment with the same GUID in both bases, each naming its own base's order
        ship = "99999999-0000-0000-0000-000000000002"
        for base, o, amount in ((a, o_a, 300), (b, o_b, 700)):
            base.create(SHIPMENTS, Ref_Key=ship, Контрагент_Key=o["Контрагент_Key"], ЗаказКлиента_Key=o["Ref_Key"],
                        Статус="Отгружено", Товары=[{"LineNumber": 1, "ЗаказКлиента_Key": o["Ref_Key"],
                                                     "СуммаСНДС": amount}])
            base.post(SHIPMENTS, ship)
        for name in ("payment@onec_a", "payment@onec_b", "shipment@onec_a", "shipment@onec_b"):
            await poll_once(rt, name, "erp")
        await _cycle(rt)
        assert b24.portal.t("deal").get(int(d_a))["UF_CRM_SHIPPED_AMOUNT"] == "300.00|RUB", _held(rt)
        assert b24.portal.t("deal").get(int(d_b))["UF_CRM_SHIPPED_AMOUNT"] == "700.00|RUB"
        row_a, row_b = b24.portal.t("deal").get(int(d_a)), b24.portal.t("deal").get(int(d_b))
        assert row_a["UF_CRM_PAID_AMOUNT"] == "1000.00|RUB", (row_a, _held(rt), _history(rt))
        assert row_b["UF_CRM_PAID_AMOUNT"] == "2300.00|RUB", (row_b, _held(rt))
        assert _held(rt) == {}
        for name in ("payment@onec_a", "payment@onec_b"):  # read again: nothing counts twice
            await poll_once(rt, name, "erp")
        await _cycle(rt)
        assert b24.portal.t("deal").get(int(d_b))["UF_CRM_PAID_AMOUNT"] == "2300.00|RUB"
        assert b24.portal.t("deal").get(int(d_a))["UF_CRM_PAID_AMOUNT"] == "1000.00|RUB"

    _scenario(steps, tmp_path)


def test_a_seller_item_made_on_the_portal_after_the_start_routes_without_a_restart(tmp_path: Path) -> None:
    async def steps(rt, b24, client, a, b, company):  # type: ignore[no-untyped-def]
        items = await _items(client)
        d_a = await _deal(rt, client, company, items[A], "A")
        await _cycle(rt)  # the list's items are read: «ООО Лютик» has its first id
        assert len(a.find(ORDERS)) == 1
        # the administrator deletes «ООО Лютик» and makes it again: a new item id the start did not see
        await _drop_list_item(client, items[B])
        new_b = await _add_list_item(client, B)
        assert new_b != items[B]
        d_b = await _deal(rt, client, company, new_b, "B")
        await _cycle(rt)
        assert [o["НомерПоДаннымКлиента"] for o in b.find(ORDERS)] == [d_b], (_held(rt), _history(rt))
        assert [o["НомерПоДаннымКлиента"] for o in a.find(ORDERS)] == [d_a] and _held(rt) == {}

        # a value the route really lacks, on many deals: the list is read again once, not once per deal
        other = await _add_list_item(client, "ООО Василёк")
        before = b24.portal.method_calls["crm.deal.fields"]
        flood = [await _deal(rt, client, company, other, f"X{i}") for i in range(4)]
        await _cycle(rt)
        assert b24.portal.method_calls["crm.deal.fields"] - before == 1
        assert sorted(k for k in _held(rt)) == sorted(f"order@onec_a:crm:{d}" for d in flood), _held(rt)
        assert all("ООО Василёк" in r for r in _held(rt).values())

    _scenario(steps, tmp_path)

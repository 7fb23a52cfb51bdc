"""Two legal entities, two 1C bases, one routed entity (spec `erp.route`, docs/several-systems.md "Routing"): the
deal's "Seller legal entity" list field sends its order to one base only; an empty seller is held with a reason and
lands after the fix; a seller changed after the order exists never makes a second order; orders entered in both
bases with the same numbers and GUIDs become two deals, each with its seller; a repeated stage event and a lost
answer on create in base B still give one order. Over one Bitrix24 sandbox and two 1C sandboxes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import select

from b24sync.compose import build
from b24sync.engine.service import RunOptions, run
from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox
from b24sync.sandbox.onec.sandbox import OneCSandbox
from b24sync.server.intake import accept_event
from b24sync.spec.models import Spec
from b24sync.store import queue as jobs
from b24sync.store.models import DeadLetter

ORDERS = "Document_ЗаказКлиента"
A, B = "ООО Ромашка", "ООО Лютик"
ROUTE = {"by": "UF_CRM_SELLER", "systems": {A: "onec_a", B: "onec_b"},
         "vars": {"onec_a": {"org_inn": "7701000001"}, "onec_b": {"org_inn": "7702000002"}}}


def _spec(b24: str, a: str, b: str) -> Spec:
    onec = {"type": "1c-odata", "role": "erp", "username": "odata", "password": "secret", "preset": "ut11"}
    return Spec.model_validate({
        "version": 1, "name": "two legal entities",
        "systems": {"bitrix24": {"type": "bitrix24", "role": "crm", "webhook_url": b24, "rate": 50, "burst": 400},
                    "onec_a": {**onec, "url": a}, "onec_b": {**onec, "url": b}},
        "defaults": {"workers": 8, "poll_overlap": "30s",
                     "retry": {"max_attempts": 4, "base_seconds": 0.2, "max_seconds": 1}},
        "entities": {
            "company": {  # pushed into the base an order needs it in, and only there
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
                "header": [{"erp": "Организация_Key",
                            "lookup": {"object": "Catalog_Организации", "where": {"ИНН": "{route:org_inn}"}}},
                           {"erp": "Статус", "value": "КОбеспечению"}],
                "write_back": [{"crm": "UF_CRM_ERP_ORDER_NUMBER", "erp": "Number"},
                               {"crm": "UF_CRM_ERP_ORDER_ID", "erp": "Ref_Key"}],
                "triggers": [{"webhook": "ONCRMDEALUPDATE"}, {"stage_change": {"to": ["FINAL_INVOICE"]}}],
                "guards": [{"skip_if": {"side": "crm", "field": "ORIGINATOR_ID", "values": ["1C"]}},
                           {"require_fields": {"side": "crm", "fields": ["COMPANY_ID"]}}]},
            "order_from_erp": {
                "master": "erp", "direction": "erp_to_crm", "crm": {"object": "crm.deal"},
                "erp": {"object": ORDERS, "route": ROUTE},
                "match": [{"crm": "ID", "erp": "НомерПоДаннымКлиента"}],
                "link": {"crm": "UF_CRM_ERP_ORDER_ID"}, "without_match_key": "create",
                "fields": [{"crm": "UF_CRM_ERP_ORDER_NUMBER", "erp": "Number", "on": "create"}],
                "header": [{"crm": "TITLE", "value": "Заказ 1С {field:Number}"},
                           {"crm": "ORIGINATOR_ID", "value": "1C"}],
                "triggers": [{"poll": "5m"}]},
        }})


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
                await prepare_portal(client, requirements_from_spec(rt.spec))  # UF_CRM_SELLER: a list of the two
                for base, inn in ((a, "7701000001"), (b, "7702000002")):
                    # the same GUID for both organisations: a base cloned for the second legal entity
                    base.create("Catalog_Организации", Ref_Key="0f0f0f0f-0000-0000-0000-000000000001",
                                Description="Продавец", ИНН=inn)
                return await fn(rt, client, a, b)
            finally:
                await rt.aclose()

        return asyncio.run(main())
    finally:
        b24.stop()
        a.stop()
        b.stop()


async def _items(client) -> dict[str, str]:  # type: ignore[no-untyped-def]
    fields = await client.call("crm.deal.fields", {})
    return {i["VALUE"]: str(i["ID"]) for i in fields["UF_CRM_SELLER"]["items"]}


async def _deal(client, company: str, seller: str | None) -> str:  # type: ignore[no-untyped-def]
    f: dict[str, Any] = {"TITLE": "Поставка", "STAGE_ID": "NEW", "COMPANY_ID": company}
    if seller is not None:
        f["UF_CRM_SELLER"] = seller
    return str(await client.call("crm.deal.add", {"fields": f}))


async def _event(rt, client, d: str, fields: dict[str, Any], tag: str) -> None:  # type: ignore[no-untyped-def]
    await client.call("crm.deal.update", {"id": int(d), "fields": fields})
    accept_event(rt, side="crm", event="ONCRMDEALUPDATE", record_id=d, source="b24", delivery_id=f"{d}:{tag}")


def _orders(base: OneCSandbox, deal: str | None = None) -> list[dict]:
    got = list(base.find(ORDERS))
    return [o for o in got if deal is None or str(o.get("НомерПоДаннымКлиента")) == deal]


def _held(rt) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with rt.db.connect() as conn:
        rows = conn.execute(select(DeadLetter.record_key, DeadLetter.reason, DeadLetter.kind)
                            .where(DeadLetter.resolved_at.is_(None))).all()
    return {k: f"{kind}: {r}" for k, r, kind in rows}


def _history(rt) -> str:  # type: ignore[no-untyped-def]
    from b24sync.store.models import HistoryEntry

    with rt.db.connect() as conn:
        rows = conn.execute(select(HistoryEntry.entity, HistoryEntry.lane, HistoryEntry.action, HistoryEntry.detail)
                            .order_by(HistoryEntry.id)).all()
    return "\n".join(f"{e} {lane} {a} {d}" for e, lane, a, d in rows)


async def _cycle(rt) -> None:  # type: ignore[no-untyped-def]
    """Run until nothing waits (an order waits ~5 s for the company pushed before it, a lost answer for its retry)."""
    from sqlalchemy import func

    from b24sync.store.models import Job

    for _ in range(40):
        await run(rt, RunOptions(once=True, poll=False))
        with rt.db.connect() as conn:
            if not conn.execute(select(func.count()).select_from(Job)).scalar_one():
                return
        await asyncio.sleep(0.25)
    raise AssertionError("jobs still waiting:\n" + _history(rt))


def test_deals_go_to_the_base_their_seller_names_and_the_rules_of_routing_hold(tmp_path: Path) -> None:
    async def steps(rt, client, a, b):  # type: ignore[no-untyped-def]
        items = await _items(client)
        assert set(items) == {A, B}
        company = str(await client.call("crm.company.add", {"fields": {"TITLE": "ООО Покупатель",
                                                                       "UF_CRM_INN": "7707083893"}}))
        d_a, d_b, d_empty = (await _deal(client, company, items[A]), await _deal(client, company, items[B]),
                             await _deal(client, company, None))
        d_idle = await _deal(client, company, None)  # never reaches the trigger stage: never held
        for d in (d_a, d_b, d_empty):
            await _event(rt, client, d, {"STAGE_ID": "FINAL_INVOICE"}, "invoice")
        await _event(rt, client, d_idle, {"TITLE": "Ещё думает"}, "idle")
        await _cycle(rt)

        assert len(_orders(a, d_a)) == 1 and _orders(b, d_a) == [], _history(rt)
        assert len(_orders(b, d_b)) == 1 and _orders(a, d_b) == []
        assert _orders(a, d_empty) == [] == _orders(b, d_empty)
        # the company was pushed into each base before its order, as that base's counterparty
        assert [c["ИНН"] for c in a.find("Catalog_Контрагенты")] == ["7707083893"]
        assert [c["ИНН"] for c in b.find("Catalog_Контрагенты")] == ["7707083893"]
        assert _orders(a, d_a)[0]["Контрагент_Key"] == a.find("Catalog_Контрагенты")[0]["Ref_Key"]
        held = _held(rt)
        empty_key = f"order@onec_a:crm:{d_empty}"
        assert list(held) == [empty_key], held
        assert "UF_CRM_SELLER" in held[empty_key] and "Не заполнено" in held[empty_key] and A in held[empty_key]
        back = await client.call("crm.deal.get", {"id": int(d_b)})
        assert back["UF_CRM_ERP_ORDER_ID"] == _orders(b, d_b)[0]["Ref_Key"]

        # the same stage event twice (a redelivery with a new id, a double move): still one order
        await _event(rt, client, d_a, {"STAGE_ID": "PREPARATION"}, "back")
        await _event(rt, client, d_a, {"STAGE_ID": "FINAL_INVOICE"}, "again")
        accept_event(rt, side="crm", event="ONCRMDEALUPDATE", record_id=d_a, source="b24", delivery_id="dup")
        await _cycle(rt)
        assert len(_orders(a, d_a)) == 1 and _orders(b, d_a) == []

        # the manager fills in the seller (no event reaches us); the held record is replayed and lands in B only
        await client.call("crm.deal.update", {"id": int(d_empty), "fields": {"UF_CRM_SELLER": items[B]}})
        assert jobs.replay(rt.db) == 1
        await _cycle(rt)
        assert len(_orders(b, d_empty)) == 1 and _orders(a, d_empty) == []
        assert _held(rt) == {}

        # the seller changed after the order exists in A: no second order in B, held with the reason
        await _event(rt, client, d_a, {"UF_CRM_SELLER": items[B], "TITLE": "Поставка (изм.)"}, "moved")
        await _cycle(rt)
        assert len(_orders(a, d_a)) == 1 and _orders(b, d_a) == []
        held = _held(rt)
        assert list(held) == [f"order@onec_a:crm:{d_a}"], held
        assert "уже передана" in held[f"order@onec_a:crm:{d_a}"] and B in held[f"order@onec_a:crm:{d_a}"]
        # put back: the hold closes and the edit reaches base A
        await _event(rt, client, d_a, {"UF_CRM_SELLER": items[A]}, "restored")
        await _cycle(rt)
        assert _held(rt) == {} and _orders(a, d_a)[0]["Комментарий"] == "Поставка (изм.)"
        assert _orders(b, d_a) == []

    _scenario(steps, tmp_path)


def test_a_lost_answer_on_create_in_base_b_still_gives_one_order(tmp_path: Path) -> None:
    async def steps(rt, client, a, b):  # type: ignore[no-untyped-def]
        items = await _items(client)
        company = str(await client.call("crm.company.add", {"fields": {"TITLE": "ООО Клиент",
                                                                       "UF_CRM_INN": "7707083893"}}))
        d = await _deal(client, company, items[B])
        b.inject_fault(ORDERS, "lost", times=1)  # the order is written in B, its answer never arrives
        await _event(rt, client, d, {"STAGE_ID": "FINAL_INVOICE"}, "invoice")
        await _cycle(rt)
        assert len(_orders(b, d)) == 1 and _orders(a) == []
        back = await client.call("crm.deal.get", {"id": int(d)})
        assert back["UF_CRM_ERP_ORDER_ID"] == _orders(b, d)[0]["Ref_Key"]

    _scenario(steps, tmp_path)


def test_orders_from_both_bases_with_the_same_numbers_and_guids_become_two_deals(tmp_path: Path) -> None:
    async def steps(rt, client, a, b):  # type: ignore[no-untyped-def]
        items = await _items(client)
        guid = "11111111-2222-3333-4444-555555555555"
        for base in (a, b):  # a base cloned for the second legal entity: the same GUID and the same number
            base.create(ORDERS, Ref_Key=guid, Number="00УТ-000001", Комментарий="введён в 1С")
        for name in ("order_from_erp@onec_a", "order_from_erp@onec_b"):
            from b24sync.engine.scheduler import poll_once

            await poll_once(rt, name, "erp")
        await _cycle(rt)
        deals = await client.call("crm.deal.list", {"filter": {"UF_CRM_ERP_ORDER_ID": guid},
                                                    "select": ["ID", "UF_CRM_SELLER", "UF_CRM_ERP_ORDER_NUMBER"]})
        assert sorted(str(x["UF_CRM_SELLER"]) for x in deals) == sorted([items[A], items[B]]), deals
        assert {x["UF_CRM_ERP_ORDER_NUMBER"] for x in deals} == {"00УТ-000001"}
        # polled again (and the deals' own events): nothing new, nothing sent back to a base
        for name in ("order_from_erp@onec_a", "order_from_erp@onec_b"):
            from b24sync.engine.scheduler import poll_once

            await poll_once(rt, name, "erp")
        for x in deals:
            accept_event(rt, side="crm", event="ONCRMDEALUPDATE", record_id=str(x["ID"]), source="b24",
                         delivery_id=f"echo:{x['ID']}")
        await _cycle(rt)
        again = await client.call("crm.deal.list", {"filter": {"UF_CRM_ERP_ORDER_ID": guid}, "select": ["ID"]})
        assert len(again) == 2
        assert len(_orders(a)) == 1 and len(_orders(b)) == 1
        assert _held(rt) == {}

    _scenario(steps, tmp_path)

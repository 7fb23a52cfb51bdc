"""One 1C base with two organisations (docs/several-systems.md "One base with two organisations"): not a route —
the deal's seller maps to the order's Организация as a field (a value table, both ways, `on: create`). Deals of
each seller become orders of that organisation; a seller changed afterwards is not sent (the posted order keeps
its organisation); an order entered in 1C for the second organisation becomes a deal with that seller; a seller the
table lacks is parked with the reason. Over the Bitrix24 and 1C sandboxes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from b24sync.engine.scheduler import poll_once
from tests.orders.harness import ORDERS, cycle, scenario
from tests.orders.test_orders import deal, entities, move, order_entity, seed

ORG_A, ORG_B = "0a0a0a0a-0000-0000-0000-00000000000a", "0b0b0b0b-0000-0000-0000-00000000000b"
SELLER = {"crm": "UF_CRM_SELLER", "erp": "Организация_Key", "on": "create",
          "transform": {"map": {ORG_A: "ООО Ромашка", ORG_B: "ООО Лютик"}}}


def _entities() -> dict[str, Any]:
    base = order_entity()
    ents = entities()
    ents["order"] = order_entity(fields=[*base["fields"], SELLER],
                                 header=[h for h in base["header"] if h["erp"] != "Организация_Key"])
    ents["order_from_erp"] = {
        "master": "onec", "direction": "erp_to_crm", "crm": {"object": "crm.deal"}, "erp": {"object": ORDERS},
        "match": [{"crm": "ID", "erp": "НомерПоДаннымКлиента"}], "link": {"crm": "UF_CRM_ERP_ORDER_ID"},
        "without_match_key": "create",
        "fields": [{"crm": "UF_CRM_ERP_ORDER_NUMBER", "erp": "Number", "on": "create"}, SELLER],
        "header": [{"crm": "TITLE", "value": "Заказ 1С {field:Number}"}, {"crm": "ORIGINATOR_ID", "value": "1C"}],
        "triggers": [{"poll": "1m"}]}
    ents["order"]["guards"] = [*ents["order"]["guards"],
                               {"skip_if": {"side": "crm", "field": "ORIGINATOR_ID", "values": ["1C"]}}]
    return ents


def test_one_base_two_organisations_through_a_field_mapping(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s = await seed(rt, onec, client)
        onec.create("Catalog_Организации", Ref_Key=ORG_A, Description="ООО Ромашка", ИНН="7701000001")
        onec.create("Catalog_Организации", Ref_Key=ORG_B, Description="ООО Лютик", ИНН="7702000002")
        row = [{"PRODUCT_ID": s["products"][0], "PRICE": 100, "QUANTITY": 1, "TAX_RATE": 22, "TAX_INCLUDED": "Y"}]
        ids = {}
        for seller in ("ООО Ромашка", "ООО Лютик", "ООО Василёк"):
            d = await deal(client, s, row)
            await client.call("crm.deal.update", {"id": int(d), "fields": {"UF_CRM_SELLER": seller}})
            await move(rt, client, d, "FINAL_INVOICE")
            ids[seller] = d
        await cycle(rt)
        by_deal = {o["НомерПоДаннымКлиента"]: o for o in onec.find(ORDERS)}
        assert by_deal[ids["ООО Ромашка"]]["Организация_Key"] == ORG_A
        assert by_deal[ids["ООО Лютик"]]["Организация_Key"] == ORG_B
        assert ids["ООО Василёк"] not in by_deal  # the table has no organisation for it: parked, with the value
        from tests.payments.harness import parked

        assert any("ООО Василёк" in r for _, r in parked(rt)), parked(rt)

        # the seller changed after the order exists: not sent, the order keeps its organisation
        d = ids["ООО Ромашка"]
        await client.call("crm.deal.update", {"id": int(d), "fields": {"UF_CRM_SELLER": "ООО Лютик",
                                                                       "TITLE": "Поставка (изм.)"}})
        await move(rt, client, d, "FINAL_INVOICE")
        await cycle(rt)
        (o,) = [x for x in onec.find(ORDERS) if x["НомерПоДаннымКлиента"] == d]
        assert o["Организация_Key"] == ORG_A and o["Комментарий"] == "Поставка (изм.)"

        # an order entered in 1C for the second organisation: its deal gets that seller
        onec.create(ORDERS, Number="00УТ-000777", Организация_Key=ORG_B, Комментарий="введён в 1С")
        await poll_once(rt, "order_from_erp", "erp")
        await cycle(rt)
        deals = await client.call("crm.deal.list", {"filter": {"UF_CRM_ERP_ORDER_NUMBER": "00УТ-000777"},
                                                    "select": ["ID", "UF_CRM_SELLER"]})
        assert [x["UF_CRM_SELLER"] for x in deals] == ["ООО Лютик"], deals

    scenario(steps, tmp_path, _entities())

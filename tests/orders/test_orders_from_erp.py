"""Orders entered in 1C → deals (issue 10): an `erp_to_crm` entity over the same deal ⇄ order pair as the
deals → orders entity (shared identity scope) creates the deal at the stage the spec names, with its company
(through the counterparty link; an unlinked counterparty is pushed first through the counterparty entity) and its
product rows (product through the catalogue link, quantity, price, VAT, discount, unit) set in one replace-all
call. Orders b24sync made from a deal never make a second deal; the deal made from a 1C order never makes an
order back; a lost answer on the deal create still makes one deal; the status moves the stage afterwards."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from b24sync.store import identity
from tests.orders.harness import ORDERS, cycle, orders, scenario
from tests.orders.test_erp_status import STAGES
from tests.orders.test_orders import deal, entities, held_reasons, move, seed

UNIT = {"crm": "MEASURE_CODE", "crm_name": "MEASURE_NAME", "erp": "Упаковка_Key", "packages": "КоличествоУпаковок",
        "lookup": {"object": "Catalog_КлассификаторЕдиницИзмерения", "code": "Code", "name": "Description",
                   "via": {"object": "Catalog_УпаковкиЕдиницыИзмерения",
                           "where": {"ЕдиницаПоКлассификатору_Key": "{unit}"}}}}
MONEY = {"discount": {}}


def from_erp_entities(**order_over: Any) -> dict[str, Any]:
    ents = entities(**order_over)
    ents["order"].setdefault("guards", []).append(
        {"skip_if": {"side": "crm", "field": "ORIGINATOR_ID", "values": ["1C"]}})
    ents["order"]["rows"] = {"free_text": "hold", "unit": UNIT, "money": MONEY}
    ents["order_status"] = {
        "master": "onec", "direction": "erp_to_crm", "create": False,
        "crm": {"object": "crm.deal"}, "erp": {"object": ORDERS},
        "match": [{"crm": "ID", "erp": "НомерПоДаннымКлиента"}], "link": {"crm": "UF_CRM_ERP_ORDER_ID"},
        "without_match_key": "skip",
        "fields": [{"crm": "STAGE_ID", "erp": "Статус", "transform": {"table": "order_stage"}}],
        "triggers": [{"poll": "1m"}, {"event": "order.status_changed"}],
    }
    ents["order_from_erp"] = {
        "title": "Orders entered in 1C → deals", "master": "onec", "direction": "erp_to_crm",
        "crm": {"object": "crm.deal"}, "erp": {"object": ORDERS},
        "match": [{"crm": "ID", "erp": "НомерПоДаннымКлиента"}],  # an order made from a deal carries the deal id
        "link": {"crm": "UF_CRM_ERP_ORDER_ID"},
        "without_match_key": "create",
        "fields": [{"crm": "COMPANY_ID", "erp": "Контрагент_Key", "transform": {"ref": "company"}, "on": "create"},
                   {"crm": "COMMENTS", "erp": "Комментарий", "on": "create"},
                   {"crm": "UF_CRM_ERP_ORDER_NUMBER", "erp": "Number", "on": "create"}],
        "header": [{"crm": "TITLE", "value": "Заказ 1С {field:Number}"},
                   {"crm": "STAGE_ID", "value": "FINAL_INVOICE"},
                   {"crm": "ORIGINATOR_ID", "value": "1C"}],
        "rows": {"on": "create", "unit": UNIT, "money": MONEY},
        "triggers": [{"poll": "1m"}, {"event": "order.created"}],
    }
    # the company entity may also load an unlinked counterparty (match by INN)
    return ents


def units(onec) -> dict[int, str]:  # type: ignore[no-untyped-def]
    """The УТ unit catalogue: OKEI classifier entries and the packaging units pointing to them."""
    out = {}
    for code, short in ((796, "шт"), (6, "м"), (166, "кг")):
        okei = onec.create("Catalog_КлассификаторЕдиницИзмерения", Code=f"{code:03d}", Description=short)
        out[code] = onec.create("Catalog_УпаковкиЕдиницыИзмерения", Description=short, Числитель=1, Знаменатель=1,
                                ЕдиницаПоКлассификатору_Key=okei["Ref_Key"])["Ref_Key"]
    return out


def manual_order(onec, s: dict[str, Any], u: dict[int, str], rows: list[dict[str, Any]], **over: Any) -> dict:  # type: ignore[no-untyped-def]
    """An order a 1C user enters by hand (no deal id in НомерПоДаннымКлиента)."""
    org = onec.find("Catalog_Организации")[0]["Ref_Key"]
    lines = []
    total = 0.0
    for i, r in enumerate(rows, 1):
        line = {"LineNumber": i, "Номенклатура_Key": r["item"], "Количество": r["qty"], "КоличествоУпаковок": r["qty"],
                "Цена": r["price"], "Сумма": r["sum"], "СтавкаНДС": r.get("vat", "НДС22"),
                "СуммаНДС": r.get("vat_sum", 0), "СуммаСНДС": r["sum"],
                "ПроцентРучнойСкидки": r.get("pct", 0), "СуммаРучнойСкидки": r.get("disc", 0)}
        if r.get("unit"):
            line["Упаковка_Key"] = u[r["unit"]]
        lines.append(line)
        total += r["sum"]
    data = {"Организация_Key": org, "Контрагент_Key": s["cp"]["Ref_Key"], "Партнер_Key": s["partner"]["Ref_Key"],
            "Статус": "КОбеспечению", "ЦенаВключаетНДС": True, "Комментарий": "Звонок клиента", "Товары": lines,
            "СуммаДокумента": round(total, 2)}
    data.update(over)
    return onec.create(ORDERS, **data)


def _deals(b24) -> list[dict]:  # type: ignore[no-untyped-def]
    return list(b24.portal.t("deal").rows.values())


def _rows(b24, d: int) -> list[dict]:  # type: ignore[no-untyped-def]
    return sorted((r for r in b24.portal.t("productrow").rows.values() if r["OWNER_TYPE"] == "D" and r["OWNER_ID"] == d),
                  key=lambda r: r["SORT"])


async def _settle(rt, n: int = 3) -> None:  # type: ignore[no-untyped-def]
    for _ in range(n):
        await cycle(rt)


def test_order_from_erp_creates_one_deal_with_company_rows_and_the_named_stage(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s = await seed(rt, onec, client)
        u = units(onec)
        g0, g1 = s["goods"][0]["Ref_Key"], s["goods"][1]["Ref_Key"]
        o = manual_order(onec, s, u, [
            {"item": g0, "qty": 3, "price": 122, "sum": 329.4, "pct": 10, "disc": 36.6, "unit": 796},  # 10 % off
            {"item": g1, "qty": 2.5, "price": 100, "sum": 250, "unit": 6, "vat": "НДС20"},
            {"item": g0, "qty": 3, "price": 33.34, "sum": 100, "disc": 0.02, "vat": "БезНДС"},       # 100 / 3
        ])
        await _settle(rt)
        ds = _deals(b24)
        assert len(ds) == 1, held_reasons(rt)
        d = ds[0]
        assert d["TITLE"] == f"Заказ 1С {o['Number']}" and d["STAGE_ID"] == "FINAL_INVOICE"
        assert d["COMPANY_ID"] == int(s["company"]) and d["COMMENTS"] == "Звонок клиента"
        assert d["UF_CRM_ERP_ORDER_ID"] == o["Ref_Key"] and d["UF_CRM_ERP_ORDER_NUMBER"] == o["Number"]
        rows = _rows(b24, d["ID"])
        got = [(r["PRODUCT_ID"], r["QUANTITY"], r["PRICE"], r["TAX_RATE"], r["TAX_INCLUDED"], r["DISCOUNT_TYPE_ID"],
                r["DISCOUNT_RATE"], r["DISCOUNT_SUM"], r["MEASURE_CODE"], r["MEASURE_NAME"]) for r in rows]
        p0, p1 = int(s["products"][0]), int(s["products"][1])
        # 122 − 10 % = 109.80 (12.20 off with VAT = 10.00 before tax); 100.00 over 3 units does not divide at
        # kopecks: 2 × 33.33 + 1 × 33.34 — row-exact
        assert [g[:5] for g in got] == [(p0, 3, 109.8, 22, "Y"), (p1, 2.5, 100, 20, "Y"), (p0, 2, 33.33, None, "Y"),
                                        (p0, 1, 33.34, None, "Y")]
        assert (got[0][5], got[0][6], got[0][7]) == (2, 10, 10.0)
        assert [g[8] for g in got] == [796, 6, 796, 796] and got[1][9] == "м"
        total = sum(round(r["PRICE"] * r["QUANTITY"], 2) for r in rows)
        assert round(total, 2) == o["СуммаДокумента"] == round(d["OPPORTUNITY"], 2)
        # the deal made from the 1C order never makes an order back, nor touches it
        assert len(orders(onec)) == 1 and onec.get(ORDERS, o["Ref_Key"])["DataVersion"] == o["DataVersion"]
        await move(rt, client, str(d["ID"]), "EXECUTING")
        await move(rt, client, str(d["ID"]), "FINAL_INVOICE")
        await _settle(rt, 2)
        assert len(orders(onec)) == 1 and len(_deals(b24)) == 1
        assert onec.get(ORDERS, o["Ref_Key"])["НомерПоДаннымКлиента"] == ""

    scenario(steps, tmp_path, from_erp_entities(), {"order_stage": STAGES})


def test_order_from_erp_polled_twice_and_announced_twice_makes_one_deal_and_the_stage_follows(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        from b24sync.server.intake import accept_event

        s = await seed(rt, onec, client)
        u = units(onec)
        o = manual_order(onec, s, u, [{"item": s["goods"][0]["Ref_Key"], "qty": 1, "price": 50, "sum": 50}])
        for n in range(2):
            accept_event(rt, side="erp", event="order.created", record_id=o["Ref_Key"], source="1c",
                         delivery_id=f"c{n}")
        await cycle(rt)
        await cycle(rt)  # the same order polled again
        assert len(_deals(b24)) == 1, held_reasons(rt)
        (d,) = _deals(b24)
        onec.set_order_status(o["Ref_Key"], "КОтгрузке")
        accept_event(rt, side="erp", event="order.status_changed", record_id=o["Ref_Key"], source="1c",
                     delivery_id="s1")
        await _settle(rt, 2)
        assert b24.portal.t("deal").get(d["ID"])["STAGE_ID"] == "EXECUTING"
        assert len(_deals(b24)) == 1 and len(_rows(b24, d["ID"])) == 1  # rows not rewritten by the status change

    scenario(steps, tmp_path, from_erp_entities(), {"order_stage": STAGES})


def test_order_from_erp_an_order_made_from_a_deal_never_makes_a_second_deal(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s = await seed(rt, onec, client)
        units(onec)
        d = await deal(client, s, [{"PRODUCT_ID": s["products"][0], "PRICE": 90, "QUANTITY": 2, "MEASURE_CODE": 796,
                                    "TAX_RATE": 22, "TAX_INCLUDED": "Y", "DISCOUNT_TYPE_ID": 2, "DISCOUNT_RATE": 10}])
        await move(rt, client, d, "FINAL_INVOICE")
        await _settle(rt)
        (o,) = orders(onec)
        assert o["НомерПоДаннымКлиента"] == d and len(_deals(b24)) == 1
        t = o["Товары"][0]
        assert t["Упаковка_Key"] and t["КоличествоУпаковок"] == 2  # шт through the classifier's packaging unit
        # 10 % off: the list price and the manual discount columns, Сумма = 100 × 2 − 20
        assert (t["Цена"], t["Сумма"], t["ПроцентРучнойСкидки"], t["СуммаРучнойСкидки"], t["СуммаНДС"]) == (
            100, 180, 10, 20, 32.46)
        # the window between the order's create and the write-back (the pair not stored yet, the deal without the
        # order's id): the deal id in НомерПоДаннымКлиента finds the deal, nothing is created
        with rt.db.begin() as conn:
            from sqlalchemy import delete

            from b24sync.store.models import Link

            conn.execute(delete(Link).where(Link.entity == "order"))
        card = b24.portal.t("deal").get(int(d))
        card["UF_CRM_ERP_ORDER_ID"] = None
        b24.portal.t("deal").save(card)
        onec.edit(ORDERS, o["Ref_Key"], Комментарий="правка в 1С")
        await _settle(rt)
        assert len(_deals(b24)) == 1, held_reasons(rt)
        with rt.db.connect() as conn:
            b = identity.find(conn, "order", "erp", o["Ref_Key"])
        assert b is not None and b.crm_id == d

    scenario(steps, tmp_path, from_erp_entities(), {"order_stage": STAGES})


def test_order_from_erp_lost_answer_on_the_deal_create_makes_one_deal_with_its_rows(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s = await seed(rt, onec, client)
        u = units(onec)
        b24.force("crm.deal.add", "lost")
        b24.force("crm.deal.productrows.set", "lost")
        o = manual_order(onec, s, u, [{"item": s["goods"][0]["Ref_Key"], "qty": 2, "price": 10, "sum": 20},
                                      {"item": s["goods"][1]["Ref_Key"], "qty": 1, "price": 7.5, "sum": 7.5}])
        for _ in range(6):
            await cycle(rt)
            ds = _deals(b24)
            if ds and len(_rows(b24, ds[0]["ID"])) == 2 and not rt_pending(rt):
                break
            await asyncio.sleep(1.0)
        ds = _deals(b24)
        assert len(ds) == 1, held_reasons(rt)
        assert [r["PRICE"] for r in _rows(b24, ds[0]["ID"])] == [10, 7.5]
        assert ds[0]["UF_CRM_ERP_ORDER_ID"] == o["Ref_Key"]

    scenario(steps, tmp_path, from_erp_entities(), {"order_stage": STAGES})


def rt_pending(rt) -> int:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from b24sync.store.models import Job

    with rt.db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Job)).scalar_one())


def test_order_from_erp_unlinked_counterparty_and_items_are_pushed_first(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s = await seed(rt, onec, client)
        u = units(onec)
        partner = onec.create("Catalog_Партнеры", Description="Новый клиент", Клиент=True)
        cp = onec.create("Catalog_Контрагенты", Description="ООО Новый клиент", ИНН="7728168971",
                         Партнер_Key=partner["Ref_Key"])
        item = onec.create("Catalog_Номенклатура", Description="Щит распределительный")
        o = manual_order(onec, {**s, "cp": cp, "partner": partner}, u,
                         [{"item": item["Ref_Key"], "qty": 1, "price": 900, "sum": 900},
                          {"item": "00000000-0000-0000-0000-000000000000", "qty": 1, "price": 100, "sum": 100}],
                         НомерПоДаннымКлиента="PO-17")  # the customer's PO number, not a deal id
        for _ in range(10):  # the order waits 5 s for its counterparty, then 5 s for its item
            await cycle(rt)
            if _deals(b24) and not rt_pending(rt):
                break
            await asyncio.sleep(2.0)
        ds = _deals(b24)
        assert len(ds) == 1, (held_reasons(rt), _history(rt))
        company = b24.portal.t("company").get(ds[0]["COMPANY_ID"])
        assert company["TITLE"] == "ООО Новый клиент"
        r, free = _rows(b24, ds[0]["ID"])
        assert b24.portal.t("product").get(r["PRODUCT_ID"])["NAME"] == "Щит распределительный"
        assert free["PRODUCT_ID"] == 0 and free["PRICE"] == 100  # a row without an item comes as free text
        assert ds[0]["UF_CRM_ERP_ORDER_ID"] == o["Ref_Key"]

    ents = from_erp_entities()
    ents["product"]["triggers"] = []
    ents["company"]["triggers"] = []
    scenario(steps, tmp_path, ents, {"order_stage": STAGES})


def _history(rt) -> list:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from b24sync.store.models import HistoryEntry as History

    with rt.db.connect() as conn:
        return [tuple(r) for r in conn.execute(select(History.entity, History.action, History.detail))][-12:]


def test_order_from_erp_rows_on_always_follow_1c_edits_replace_all_and_only_when_they_differ(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s = await seed(rt, onec, client)
        u = units(onec)
        g0, g1 = s["goods"][0]["Ref_Key"], s["goods"][1]["Ref_Key"]
        o = manual_order(onec, s, u, [{"item": g0, "qty": 1, "price": 10, "sum": 10},
                                      {"item": g1, "qty": 2, "price": 5, "sum": 10}])
        await _settle(rt, 2)
        (d,) = _deals(b24)
        assert len(_rows(b24, d["ID"])) == 2
        sets = b24.method_calls["crm.deal.productrows.set"]
        onec.edit(ORDERS, o["Ref_Key"], Комментарий="без изменения строк")
        await _settle(rt, 2)
        assert b24.method_calls["crm.deal.productrows.set"] == sets  # rows equal: not written again
        line = {"LineNumber": 1, "Номенклатура_Key": g1, "Количество": 4, "КоличествоУпаковок": 4, "Цена": 5,
                "Сумма": 20, "СтавкаНДС": "НДС22", "СуммаНДС": 3.61, "СуммаСНДС": 20}
        onec.edit(ORDERS, o["Ref_Key"], Товары=[line], СуммаДокумента=20)
        await _settle(rt, 2)
        rows = _rows(b24, d["ID"])
        assert [(r["PRODUCT_ID"], r["QUANTITY"], r["PRICE"]) for r in rows] == [(int(s["products"][1]), 4, 5)]
        assert b24.method_calls["crm.deal.productrows.set"] == sets + 1  # one replace-all call
        assert len(_deals(b24)) == 1 and b24.portal.t("deal").get(d["ID"])["OPPORTUNITY"] == 20

    ents = from_erp_entities()
    ents["order_from_erp"]["rows"]["on"] = "always"
    scenario(steps, tmp_path, ents, {"order_stage": STAGES})


def test_order_from_erp_200_rows_reach_the_deal_in_one_replace_all_call(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s = await seed(rt, onec, client)
        u = units(onec)
        goods = [s["goods"][i % 2]["Ref_Key"] for i in range(200)]
        rows = [{"item": g, "qty": 1 + i % 4, "price": round(1 + i / 7, 2),
                 "sum": round(round(1 + i / 7, 2) * (1 + i % 4), 2), "unit": 796} for i, g in enumerate(goods)]
        o = manual_order(onec, s, u, rows)
        await _settle(rt, 2)
        (d,) = _deals(b24)
        got = _rows(b24, d["ID"])
        assert len(got) == 200 and b24.method_calls["crm.deal.productrows.set"] == 1
        assert round(sum(round(r["PRICE"] * r["QUANTITY"], 2) for r in got), 2) == o["СуммаДокумента"]

    scenario(steps, tmp_path, from_erp_entities(), {"order_stage": STAGES})


def test_packages_of_ten_deal_rows_in_packages_1c_quantity_in_base_units_both_ways(tmp_path: Path) -> None:
    """`rows.unit.factor` (the packaging record's Числитель / Знаменатель, УТ 11.5 — the sandbox's reading): a deal
    row of 2 «упак» (10 шт each) is an order row with КоличествоУпаковок 2 and Количество 20 at the package's price;
    an order entered in 1C with 3 such packages (Количество 30) is a deal row of 3 «упак»."""
    unit = {**UNIT, "factor": {"numerator": "Числитель", "denominator": "Знаменатель"}}

    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s = await seed(rt, onec, client)
        u = units(onec)
        okei = onec.create("Catalog_КлассификаторЕдиницИзмерения", Code="778", Description="упак")
        u[778] = onec.create("Catalog_УпаковкиЕдиницыИзмерения", Description="упак (10 шт)", Числитель=10,
                             Знаменатель=1, ЕдиницаПоКлассификатору_Key=okei["Ref_Key"])["Ref_Key"]
        d = await deal(client, s, [{"PRODUCT_ID": s["products"][0], "PRICE": 1220, "QUANTITY": 2, "TAX_RATE": 22,
                                    "TAX_INCLUDED": "Y", "MEASURE_CODE": 778, "MEASURE_NAME": "упак"}])
        await move(rt, client, d, "FINAL_INVOICE")
        await _settle(rt)
        (o,) = orders(onec)
        (r,) = o["Товары"]
        assert (r["Упаковка_Key"], r["КоличествоУпаковок"], r["Количество"], r["Цена"], r["Сумма"]) == (
            u[778], 2, 20, 1220, 2440), held_reasons(rt)
        g0 = s["goods"][0]["Ref_Key"]
        m = manual_order(onec, s, u, [{"item": g0, "qty": 3, "price": 1220, "sum": 3660, "unit": 778}])
        onec.edit(ORDERS, m["Ref_Key"], Товары=[{**m["Товары"][0], "Количество": 30}])  # 3 packages = 30 шт
        await _settle(rt)
        made = [x for x in _deals(b24) if x.get("UF_CRM_ERP_ORDER_ID") == m["Ref_Key"]]
        assert len(made) == 1, held_reasons(rt)
        assert [(x["QUANTITY"], x["PRICE"], x["MEASURE_CODE"]) for x in _rows(b24, made[0]["ID"])] == [(3, 1220, 778)]

    ents = from_erp_entities()
    ents["order"]["rows"]["unit"] = unit
    ents["order_from_erp"]["rows"]["unit"] = unit
    scenario(steps, tmp_path, ents, {"order_stage": STAGES})

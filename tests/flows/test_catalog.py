"""Catalogue flow end to end: 1C sandbox (OData, or its CommerceML files) → b24sync → Bitrix24 sandbox."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from b24sync.compose import build
from b24sync.connectors.bitrix24.product_card import prepare_catalog
from b24sync.engine.service import RunOptions, run
from b24sync.flows import catalog as flow
from b24sync.sandbox.bitrix24 import Bitrix24Sandbox
from b24sync.sandbox.onec.sandbox import OneCSandbox
from b24sync.spec.loader import load_spec

ENTITIES = (Path(flow.__file__).parent / "demo" / "catalog.yaml").read_text(encoding="utf-8")

HEAD = """
version: 1
name: catalogue test
systems:
  bitrix24: {type: bitrix24, role: crm, webhook_url: "${B24}"}
  onec: {type: 1c-odata, role: erp, url: "${ONEC}", username: odata, password: secret, preset: ut11}
defaults:
  workers: 16
  poll_overlap: 5s
  retry: {max_attempts: 3, base_seconds: 0.2, max_seconds: 1}
entities:
"""

CML_ENTITIES = """
  catalogue:
    master: onec
    direction: erp_to_crm
    crm: {object: crm.product.card}
    erp: {object: cml.products, options: {price_type: Розничная}}
    match: [{crm: XML_ID, erp: Ref_Key}]
    link: {crm: XML_ID}
    fields:
      - {crm: NAME, erp: Description}
      - {crm: PRICE, erp: Цена}
      - {crm: VAT_INCLUDED, erp: ЦенаВключаетНДС}
      - {crm: VAT_RATE, erp: СтавкаНДСПроцент}
      - {crm: MEASURE_CODE, erp: ЕдиницаОКЕИ}
      - {crm: SECTION, erp: Группа}
      - {crm: ACTIVE, erp: Активен}
    triggers: [{poll: 1h}]
  stock:
    master: onec
    direction: erp_to_crm
    create: false
    crm: {object: crm.product.card}
    erp: {object: cml.stock, options: {warehouses: [Основной склад]}}
    match: [{crm: XML_ID, erp: Ref_Key}]
    link: {crm: XML_ID}
    fields: [{crm: PROPERTY_STOCK, erp: Остаток}]
    triggers: [{poll: 15m}]
"""

PROPS = [{"CODE": "STOCK", "NAME": "Остаток", "PROPERTY_TYPE": "N"},
         {"CODE": "NONCATALOG", "NAME": "Не из каталога 1С", "PROPERTY_TYPE": "S"}]


def _spec(tmp: Path, b24: Bitrix24Sandbox, onec_url: str, entities: str):
    p = tmp / "spec.yaml"
    p.write_text(HEAD + "\n".join("  " + line if line.strip() else line for line in entities.splitlines())
                 if not entities.startswith("\n  ") else HEAD + entities, encoding="utf-8")
    return load_spec(p, {"B24": b24.webhook_url, "ONEC": onec_url})


def _call(b24: Bitrix24Sandbox, method: str, **params: Any) -> Any:
    r = httpx.post(b24.webhook_url + method, json=params, timeout=10)
    r.raise_for_status()
    return r.json()["result"]


def _products(b24: Bitrix24Sandbox) -> dict[str, dict]:
    return {r["XML_ID"]: r for r in b24.portal.t("product").rows.values() if r.get("XML_ID")}


def _stock_prop(b24: Bitrix24Sandbox) -> str:
    return next(str(r["ID"]) for r in b24.portal.t("productproperty").rows.values() if r["CODE"] == "STOCK")


def _expected(onec: OneCSandbox, price_type: str, warehouse: str) -> dict[str, dict]:
    """What the CRM must hold, computed from the 1C sandbox's own tables (not through the connector)."""
    pt = onec.find("Catalog_ВидыЦен", Description=price_type)[0]["Ref_Key"]
    wh = onec.find("Catalog_Склады", Description=warehouse)[0]["Ref_Key"]
    prices = {r["Номенклатура_Key"]: r["Цена"] for r in onec.store.slice_last("InformationRegister_ЦеныНоменклатуры",
                                                                             None, None) if r["ВидЦены_Key"] == pt}
    stock: dict[str, float] = {}
    for r in onec.store.balance("AccumulationRegister_ТоварыНаСкладах", None, None, None):
        if r["Склад_Key"] == wh:
            stock[r["Номенклатура_Key"]] = stock.get(r["Номенклатура_Key"], 0) + r["ВНаличииBalance"]
    units = onec.store.objects["Catalog_УпаковкиЕдиницыИзмерения"]
    okei = onec.store.objects["Catalog_КлассификаторЕдиницИзмерения"]
    out = {}
    for p in onec.find("Catalog_Номенклатура", IsFolder=False):
        u = units[p["ЕдиницаИзмерения_Key"]]
        out[p["Ref_Key"]] = {"name": p["Description"], "price": prices.get(p["Ref_Key"]),
                             "okei": int(okei[u["ЕдиницаПоКлассификатору_Key"]]["Code"]),
                             "vat": p["СтавкаНДС"], "stock": stock.get(p["Ref_Key"], 0),
                             "group": onec.get("Catalog_Номенклатура", p["Parent_Key"])["Description"]}
    return out


@pytest.fixture()
def sandboxes():
    b24 = Bitrix24Sandbox()  # default limits: 2 req/s, burst 50
    b24.start()
    onec = OneCSandbox(seed="demo")
    url = onec.start()
    try:
        yield b24, onec, url
    finally:
        b24.stop()
        onec.stop()


def _okei(onec: OneCSandbox) -> list[dict]:
    return [{"CODE": int(r["Code"]), "MEASURE_TITLE": r["НаименованиеПолное"], "SYMBOL_RUS": r["Description"]}
            for r in onec.find("Catalog_КлассификаторЕдиницИзмерения")]


def _dead(rt) -> list[str]:
    from sqlalchemy import select

    from b24sync.store.models import DeadLetter

    with rt.db.connect() as conn:
        return [f"{r.entity}: {r.reason}" for r in conn.execute(select(DeadLetter.entity, DeadLetter.reason))]


def _measures(b24: Bitrix24Sandbox) -> dict[int, int]:
    return {int(r["ID"]): int(r["CODE"]) for r in _call(b24, "crm.measure.list")}


def _vats(b24: Bitrix24Sandbox) -> dict[int, str | None]:
    return {int(r["ID"]): r["RATE"] for r in _call(b24, "crm.vat.list")}


def _check_landed(b24: Bitrix24Sandbox, onec: OneCSandbox, exp: dict[str, dict], *, services_priced: bool = True):
    got = _products(b24)
    assert set(got) == set(exp), "every 1C item (no folders) is one product, found by its Ref_Key in XML_ID"
    measures, vats, prop = _measures(b24), _vats(b24), _stock_prop(b24)
    sections = {r["ID"]: r for r in b24.portal.t("productsection").rows.values()}
    for ref, e in exp.items():
        row = got[ref]
        assert row["NAME"] == e["name"]
        if e["price"] is not None and (services_priced or e["stock"] or row.get("PRICE") is not None):
            assert row["PRICE"] == pytest.approx(e["price"]), e["name"]
        assert measures[row["MEASURE"]] == e["okei"]
        assert float(vats[row["VAT_ID"]]) == float(e["vat"].replace("НДС", "").split("_")[0])
        assert sections[row["SECTION_ID"]]["NAME"] == e["group"]
        assert sections[row["SECTION_ID"]]["XML_ID"] is not None
        assert float((row.get("PROPERTIES") or {}).get(prop, {"value": 0})["value"]) == pytest.approx(e["stock"])


def test_odata_catalogue_end_to_end(sandboxes, tmp_path):
    b24, onec, url = sandboxes
    spec = _spec(tmp_path, b24, url, ENTITIES)
    rt = build(spec, database_url=f"sqlite:///{tmp_path / 'state.db'}")
    exp = _expected(onec, "Розничная", "Основной склад")

    async def main() -> None:
        added = await flow.prepare_portal(rt, vat_rates=(22,), properties=tuple(PROPS))
        assert "VAT 22%" in added and "property STOCK" in added
        assert await flow.prepare_portal(rt, vat_rates=(22,), properties=tuple(PROPS)) == []  # idempotent

        # 1. full load: products with sections, measures, VAT, price and stock (Основной склад only)
        s1 = await run(rt, RunOptions(once=True))
        assert not s1.dead and not s1.held, (s1, _dead(rt))
        _check_landed(b24, onec, exp)
        assert len(b24.portal.t("productsection").rows) == 1  # the one 1C group «Товары»
        spb = onec.find("Catalog_Склады", Description="Склад Санкт-Петербург")[0]["Ref_Key"]
        both = sum(r["ВНаличииBalance"] for r in onec.store.balance("AccumulationRegister_ТоварыНаСкладах", None,
                                                                     None, None) if r["Склад_Key"] == spb)
        assert both > 0, "the second warehouse has stock, which must not be counted"

        # 2. run again: no duplicates, no write at all, no per-item read
        await asyncio.sleep(1.1)
        calls0, req0 = dict(b24.method_calls), b24.requests_served
        s2 = await run(rt, RunOptions(once=True))
        delta = {m: n - calls0.get(m, 0) for m, n in b24.method_calls.items() if n != calls0.get(m, 0)}
        assert len(b24.portal.t("product").rows) == len(exp)
        assert b24.write_calls() - sum(v for k, v in calls0.items() if k.rsplit(".", 1)[-1] in
                                       ("add", "update", "set", "delete")) == 0, delta
        assert not any(m in delta for m in ("crm.product.get",)), delta  # no per-item reads
        assert b24.requests_served - req0 <= 3, delta  # only the CRM-side polls (one request each)
        assert s2.actions.get("updated", 0) == 0 and s2.actions.get("created", 0) == 0

        # 3. a price change in 1C updates only that product, only its price
        item = next(r for r, e in exp.items() if e["stock"])
        pt = onec.find("Catalog_ВидыЦен", Description="Розничная")[0]["Ref_Key"]
        onec.store.write_info("InformationRegister_ЦеныНоменклатуры", {
            "Period": "2026-06-01T00:00:00", "Номенклатура_Key": item, "ВидЦены_Key": pt, "Цена": 4321.5})
        before = {k: dict(v) for k, v in _products(b24).items()}
        calls0 = dict(b24.method_calls)
        s3 = await run(rt, RunOptions(once=True))
        assert b24.method_calls["crm.product.update"] - calls0.get("crm.product.update", 0) == 1
        after = _products(b24)
        assert after[item]["PRICE"] == pytest.approx(4321.5)
        changed = [k for k in after if {f: v for f, v in after[k].items() if f != "TIMESTAMP_X"}
                   != {f: v for f, v in before[k].items() if f != "TIMESTAMP_X"}]
        assert changed == [item]
        assert s3.actions.get("updated") == 1

        # 4. a stock receipt at the other warehouse changes nothing; at the named one, the stock property
        prop = _stock_prop(b24)
        was = float(after[item]["PROPERTIES"][prop]["value"])
        onec.edit("Catalog_Номенклатура", item, Артикул=onec.get("Catalog_Номенклатура", item)["Артикул"])  # noop edit
        org = onec.find("Catalog_Организации")[0]["Ref_Key"]
        for wh, qty in ((spb, 1000), (onec.find("Catalog_Склады", Description="Основной склад")[0]["Ref_Key"], 7)):
            doc = onec.create("Document_ПриобретениеТоваровУслуг", Date="2026-06-02T10:00:00", Организация_Key=org,
                              Склад_Key=wh, СуммаДокумента=qty,
                              Товары=[{"LineNumber": 1, "Номенклатура_Key": item, "Количество": qty, "Цена": 1,
                                       "Сумма": qty}])
            onec.post("Document_ПриобретениеТоваровУслуг", doc["Ref_Key"])
        await run(rt, RunOptions(once=True))
        assert float(_products(b24)[item]["PROPERTIES"][prop]["value"]) == pytest.approx(was + 7)

        # 5. a manual edit of an ERP-owned field in the CRM is reverted
        crm_id = _products(b24)[item]["ID"]
        reverted: list[dict] = []

        async def on_revert(rt_, **kw):  # noqa: ANN001
            reverted.append(kw)

        rt.hooks["on_revert"] = on_revert
        await asyncio.sleep(1.1)
        _call(b24, "crm.product.update", id=crm_id, fields={"NAME": "Edited by a manager", "PRICE": 1})
        await run(rt, RunOptions(once=True))
        row = b24.get("product", crm_id)
        assert row["NAME"] == exp[item]["name"] and row["PRICE"] == pytest.approx(4321.5)
        assert reverted and set(reverted[0]["fields"]) == {"NAME", "PRICE"}

        # 6. a non-catalogue item created in the CRM reaches 1C (and is not pulled back as a catalogue item)
        nc = _call(b24, "crm.product.add", fields={"NAME": "Монтаж под ключ (нестандарт)", "PRICE": 15000,
                                                   f"PROPERTY_{next(str(r['ID']) for r in b24.portal.t('productproperty').rows.values() if r['CODE'] == 'NONCATALOG')}": "Y"})
        plain = _call(b24, "crm.product.add", fields={"NAME": "Черновик без отметки"})
        await asyncio.sleep(1.1)
        await run(rt, RunOptions(once=True))
        await run(rt, RunOptions(once=True))
        in_1c = onec.find("Catalog_Номенклатура", Описание=str(nc))
        assert len(in_1c) == 1 and in_1c[0]["Description"] == "Монтаж под ключ (нестандарт)"
        assert not onec.find("Catalog_Номенклатура", Описание=str(plain))
        assert not onec.find("Catalog_Номенклатура", Description="Черновик без отметки")
        assert len(b24.portal.t("product").rows) == len(exp) + 2  # nothing duplicated back from 1C

        await rt.aclose()

    asyncio.run(main())


def test_commerceml_path_gives_the_same_products(sandboxes, tmp_path):
    """import.xml + offers.xml from the 1C sandbox's generator: the same products as the OData path."""
    b24, onec, url = sandboxes
    spec = _spec(tmp_path, b24, url, CML_ENTITIES)
    rt = build(spec, database_url=f"sqlite:///{tmp_path / 'state.db'}")
    files = onec.generate_commerceml()
    cml = flow.commerceml_catalog(rt, "onec")
    assert cml.load(files["import.xml"], files["offers.xml"]) > 0
    exp = _expected(onec, "Розничная", "Основной склад")

    async def main() -> None:
        await prepare_catalog(rt.adapters["bitrix24"].client, vat_rates=[22], properties=PROPS,
                              measures=_okei(onec))
        s1 = await run(rt, RunOptions(once=True))
        assert not s1.dead and not s1.held, (s1, _dead(rt))
        # services have no offer in CommerceML (no price there): compare prices where the file carries them
        _check_landed(b24, onec, exp, services_priced=False)
        w0 = b24.write_calls()
        await run(rt, RunOptions(once=True))
        assert b24.write_calls() == w0
        await rt.aclose()

    asyncio.run(main())


def test_commerceml_exchange_router_feeds_the_catalogue(sandboxes, tmp_path):
    """1C's own exchange client uploads the files to our router; on_records feeds the virtual object."""
    from fastapi import FastAPI

    from b24sync.connectors.commerceml.exchange import ExchangeHandlers, ExchangeSettings, create_exchange_router

    b24, onec, url = sandboxes
    rt = build(_spec(tmp_path, b24, url, CML_ENTITIES), database_url=f"sqlite:///{tmp_path / 'state.db'}")
    cml = flow.commerceml_catalog(rt, "onec")
    app = FastAPI()
    app.include_router(create_exchange_router(
        ExchangeSettings(username="site", password="pw", work_dir=tmp_path / "cml"),
        ExchangeHandlers(on_records=cml.on_records), path="/1c_exchange"))
    import threading

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        onec.exchange_catalog(f"http://127.0.0.1:{port}/1c_exchange", "site", "pw")
    finally:
        server.should_exit = True
        th.join(5)
    n_goods = len(onec.find("Catalog_Номенклатура", IsFolder=False))
    assert len(cml.products) == n_goods and cml.offers

    async def main() -> None:
        await prepare_catalog(rt.adapters["bitrix24"].client, vat_rates=[22], properties=PROPS,
                              measures=_okei(onec))
        await run(rt, RunOptions(once=True))
        await rt.aclose()

    asyncio.run(main())
    assert len(_products(b24)) == n_goods


def test_vat_rates_from_1c_enum():
    assert flow.vat_rate("НДС22") == "22" and flow.vat_rate("НДС22_122") == "22"
    assert flow.vat_rate("НДС10") == "10" and flow.vat_rate("БезНДС") == flow.NO_VAT
    assert flow.vat_rate("без НДС") == flow.NO_VAT and flow.vat_rate("20") == "20"
    from b24sync.engine.errors import ValidationError

    with pytest.raises(ValidationError):
        flow.vat_rate("НДС99ой")

"""``type: commerceml``: the spec's system runs — catalogue files kept across restarts, orders in an outbox that 1C
fetches through the exchange, documents 1C posts back as changes."""

from __future__ import annotations

import asyncio
import base64
from decimal import Decimal
from pathlib import Path

import httpx
from fastapi import FastAPI

from b24sync.compose import build
from b24sync.connectors.commerceml import read_documents
from b24sync.connectors.commerceml.system import CommerceMLSystem, from_config
from b24sync.connectors.registry import build_adapter
from b24sync.engine.ports import ChangeCursor, ObjectRef
from b24sync.flows.catalog import CommerceMLCatalog, commerceml_catalog
from b24sync.server.mount import routers_for
from b24sync.spec.loader import load_spec

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = Path("/work/shared/samples/commerceml")
IMPORT = (SAMPLES / "01-import-2.07-utf8.xml").read_bytes()
OFFERS = (SAMPLES / "02-offers-2.07-utf8.xml").read_bytes()
ORDERS = ObjectRef("orders")


def system(tmp_path: Path, drop: bool = True) -> CommerceMLSystem:
    return from_config("onec", {"work_dir": str(tmp_path / "work"),
                                "drop_folder": str(tmp_path / "drop") if drop else None,
                                "exchange_user": "u", "exchange_password": "p"})


def test_commerceml_is_a_runnable_system_type(tmp_path: Path) -> None:
    a = build_adapter("onec", "commerceml", {"work_dir": str(tmp_path / "w")})
    assert isinstance(a, CommerceMLSystem)
    asyncio.run(a.aclose())


def test_an_order_create_retried_after_a_crash_finds_the_order_it_wrote(tmp_path: Path) -> None:
    async def go() -> None:
        s = system(tmp_path)
        rid = await s.create(ORDERS, {"Номер": "42", "Сумма": "1500.50", "Комментарий": "Сделка 42"})
        await s.aclose()
        s2 = system(tmp_path)  # a restart: the outbox is on disk
        found = await s2.find(ORDERS, {"Номер": "42"})
        assert [r.id for r in found] == [rid]
        docs = s2.pending_orders()
        assert [(d.id, d.number, d.amount) for d in docs] == [(rid, "42", Decimal("1500.50"))]
        s2.orders_exported([rid])
        assert s2.pending_orders() == []
        await s2.update(ORDERS, rid, {"Сумма": "1600"})  # an edit after 1C fetched it: sent again, whole
        assert [d.amount for d in s2.pending_orders()] == [Decimal("1600")]
        await s2.aclose()

    asyncio.run(go())


def test_an_unknown_order_field_is_a_clear_error_not_a_silent_drop(tmp_path: Path) -> None:
    import pytest

    from b24sync.engine.errors import ValidationError

    s = system(tmp_path)
    with pytest.raises(ValidationError, match="Сумм"):
        asyncio.run(s.create(ORDERS, {"Сумм": "1"}))


def test_the_catalogue_survives_a_restart_and_the_drop_folder_is_emptied(tmp_path: Path) -> None:
    (tmp_path / "drop").mkdir()
    (tmp_path / "drop" / "import.xml").write_bytes(IMPORT)
    (tmp_path / "drop" / "offers.xml").write_bytes(OFFERS)
    s = system(tmp_path)
    cat = CommerceMLCatalog("onec", s)
    page = asyncio.run(cat.read_changes(ObjectRef("cml.products"), ChangeCursor()))
    assert len(page.records) > 0
    assert list((tmp_path / "drop").iterdir()) == []
    fresh = CommerceMLCatalog("onec", system(tmp_path))  # a new process: nothing in memory
    again = asyncio.run(fresh.read_changes(ObjectRef("cml.products"), ChangeCursor()))
    assert sorted(r.id for r in again.records) == sorted(r.id for r in page.records)


def _basic() -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(b"exchange-1c:s3cret").decode()}


def test_1c_uploads_the_catalogue_and_fetches_orders_through_the_mounted_exchange(tmp_path: Path) -> None:
    env = {"B24_WEBHOOK_URL": "http://127.0.0.1:9/rest/1/x/", "CML_EXCHANGE_USER": "exchange-1c",
           "CML_EXCHANGE_PASSWORD": "s3cret", "CML_DROP_FOLDER": str(tmp_path / "drop")}
    spec = load_spec(ROOT / "examples" / "1c-commerceml.yaml", env)
    systems = dict(spec.systems)
    systems["onec"] = systems["onec"].model_copy(update={"work_dir": str(tmp_path / "work")})
    spec = spec.model_copy(update={"systems": systems})
    rt = build(spec, database_url=f"sqlite:///{tmp_path / 'state.db'}")
    app = FastAPI()
    for r in routers_for(rt):
        app.include_router(r)
    onec: CommerceMLSystem = rt.adapters["onec"]  # type: ignore[assignment]

    async def go() -> None:
        order = await onec.create(ORDERS, {"Номер": "7", "Сумма": "990", "Валюта": "RUB"})
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            url = "/1c_exchange/onec"
            r = await c.get(url, params={"type": "catalog", "mode": "checkauth"}, headers=_basic())
            lines = r.text.split("\n")
            assert lines[0] == "success", r.text
            hdr = {"Cookie": f"{lines[1]}={lines[2]}"}
            await c.get(url, params={"type": "catalog", "mode": "init"}, headers=hdr)
            for name, data in (("import.xml", IMPORT), ("offers.xml", OFFERS)):
                r = await c.post(url, params={"type": "catalog", "mode": "file", "filename": name}, content=data,
                                 headers=hdr)
                assert r.text.startswith("success"), r.text
                for _ in range(100):
                    r = await c.get(url, params={"type": "catalog", "mode": "import", "filename": name}, headers=hdr)
                    if r.text != "progress":
                        break
                assert r.text.startswith("success"), r.text
            r = await c.get(url, params={"type": "sale", "mode": "checkauth"}, headers=_basic())
            lines = r.text.split("\n")
            hdr = {"Cookie": f"{lines[1]}={lines[2]}"}
            await c.get(url, params={"type": "sale", "mode": "init"}, headers=hdr)
            xml = await c.get(url, params={"type": "sale", "mode": "query"}, headers=hdr)
            docs = list(read_documents(xml.content))
            assert [(d.id, d.number, d.amount) for d in docs] == [(order, "7", Decimal("990"))]
            r = await c.get(url, params={"type": "sale", "mode": "success"}, headers=hdr)
            assert r.text.startswith("success")
            again = await c.get(url, params={"type": "sale", "mode": "query"}, headers=hdr)
            assert list(read_documents(again.content)) == []
        assert sorted(f.name for f in (tmp_path / "work" / "latest").iterdir()) == ["import.xml", "offers.xml"]
        products = await commerceml_catalog(rt, "onec").read_changes(ObjectRef("cml.products"), ChangeCursor())
        assert products.records
        await rt.aclose()

    asyncio.run(go())

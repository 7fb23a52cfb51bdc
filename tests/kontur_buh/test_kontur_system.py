"""``type: kontur-buh``: the engine's system adapter over the preset, against the model sandbox."""

from __future__ import annotations

import httpx
import pytest

from b24sync.connectors.kontur_buh.adapter import from_config
from b24sync.connectors.registry import build_adapter
from b24sync.engine.errors import AuthError, PermanentError, ValidationError
from b24sync.engine.ports import ChangeCursor, ObjectRef
from b24sync.sandbox.kontur.app import KonturSandboxConfig, create_app

pytestmark = pytest.mark.anyio
CP, INV = ObjectRef("counterparty"), ObjectRef("invoice")


def system(token: str = "k-1", **cfg):  # type: ignore[no-untyped-def]
    app = create_app(KonturSandboxConfig(api_keys={"k-1"}))
    return from_config("kontur", {"base_url": "http://kontur.test/api/v1", "token": token, "preset": "sandbox-model",
                                  "transport": httpx.ASGITransport(app=app), **cfg}), app


async def test_the_spec_token_authenticates_and_a_wrong_one_is_refused() -> None:
    good, _ = system()
    assert await good.find(CP, {"inn": "7707083893"}) == []
    bad, _ = system(token="wrong")
    with pytest.raises(AuthError):
        await bad.find(CP, {"inn": "7707083893"})


async def test_counterparties_are_created_found_updated_and_polled_oldest_first() -> None:
    kb, _ = system()
    ids = [await kb.create(CP, {"inn": inn, "kpp": "770701001", "name": f"ООО «Тест {i}»"})
           for i, inn in enumerate(("7707083893", "7736207543", "7702070139"))]
    assert [r.id for r in await kb.find(CP, {"inn": "7736207543"})] == [ids[1]]
    await kb.update(CP, ids[0], {"name": "ООО «Новое имя»"})
    rec = await kb.get(CP, ids[0])
    assert rec is not None and rec.values["name"] == "ООО «Новое имя»"
    page = await kb.read_changes(CP, ChangeCursor(), overlap_seconds=0, limit=500)  # capped to the API's 100
    assert [r.id for r in page.records] == [ids[1], ids[2], ids[0]]  # the renamed one changed last
    again = await kb.read_changes(CP, page.cursor, overlap_seconds=0, limit=500)
    assert [r.id for r in again.records] == [ids[0]]  # since the last change time (inclusive: the overlap rule)


async def test_the_inn_of_a_counterparty_is_never_edited() -> None:
    kb, _ = system()
    rid = await kb.create(CP, {"inn": "7707083893", "kpp": "770701001", "name": "ООО «А»"})
    with pytest.raises(ValidationError):
        await kb.update(CP, rid, {"inn": "7736207543"})


async def test_a_poll_pages_through_more_than_one_page_of_invoices() -> None:
    kb, app = system()
    cp = await kb.create(CP, {"inn": "7707083893", "kpp": "770701001", "name": "ООО «А»"})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kontur.test/api/v1",
                                 headers={"Authorization": "Bearer k-1"}) as c:
        for i in range(130):
            r = await c.post("/invoices", json={"counterparty_id": cp, "external_id": f"x{i}", "lines": [
                {"name": "Услуга", "quantity": "1", "unit": "796", "price": "10.00", "vat_rate": "22"}]})
            assert r.status_code == 201
    seen, cursor, more = [], ChangeCursor(), True
    while more:
        page = await kb.read_changes(INV, cursor, overlap_seconds=0, limit=500)
        seen += [r.values["number"] for r in page.records]
        cursor, more = page.cursor, page.more
    assert len(seen) == 130 and len(set(seen)) == 130


async def test_kontur_buh_is_a_runnable_system_type_and_a_bad_preset_is_a_clear_error() -> None:
    a = build_adapter("kontur", "kontur-buh", {"base_url": "http://x/api/v1", "token": "t"})
    await a.aclose()
    with pytest.raises(PermanentError, match="preset"):
        build_adapter("kontur", "kontur-buh", {"preset": "/nonexistent.yaml"})

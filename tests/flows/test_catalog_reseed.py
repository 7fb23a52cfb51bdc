"""A re-created 1C base (issue 12, items 11 and a): the seed comes back with new Ref_Keys. Products are found again
by their article (second match rule `{crm: CODE, erp: Артикул}`) and, because the record they were linked to is
verifiably gone in 1C, the link is taken over ("relinked", with the old id in the history line) — no duplicate
product. A product whose old 1C record still exists is never taken over (a conflict for a person), and a 1C that
cannot be read is never taken for "gone"."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from b24sync.compose import build
from b24sync.engine.service import RunOptions, run
from b24sync.flows import catalog as flow
from b24sync.sandbox.bitrix24 import Bitrix24Sandbox
from b24sync.sandbox.onec.sandbox import OneCSandbox
from b24sync.store.models import DeadLetter, HistoryEntry as History
from tests.flows.test_catalog import ENTITIES, PROPS, _products, _spec


def _dead(rt) -> list[str]:  # type: ignore[no-untyped-def]
    with rt.db.connect() as conn:
        return [f"{r.entity}: {r.reason}" for r in conn.execute(select(DeadLetter.entity, DeadLetter.reason)
                                                                .where(DeadLetter.resolved_at.is_(None)))]


def _relinked(rt) -> list[dict]:  # type: ignore[no-untyped-def]
    with rt.db.connect() as conn:
        return [r.detail for r in conn.execute(select(History.detail).where(History.action == "relinked"))]


def test_a_reseeded_base_relinks_every_product_by_article_without_duplicates(tmp_path: Path) -> None:
    b24 = Bitrix24Sandbox(rate=None)
    b24.start()
    first = OneCSandbox(seed="demo")
    url1 = first.start()
    store = f"sqlite:///{tmp_path / 'state.db'}"
    try:
        rt = build(_spec(tmp_path, b24, url1, ENTITIES), database_url=store)

        async def load() -> None:
            await flow.prepare_portal(rt, vat_rates=(22,), properties=tuple(PROPS))
            s = await run(rt, RunOptions(once=True))
            assert not s.dead, _dead(rt)
            await rt.aclose()

        asyncio.run(load())
        before = {r["CODE"]: (int(r["ID"]), r["XML_ID"]) for r in b24.portal.t("product").rows.values()}
        n = len(before)
        assert n == 18 and all(before), before
        old_refs = {x for _, x in before.values()}
    finally:
        first.stop()

    second = OneCSandbox(seed="demo")  # the base re-created: same catalogue, every Ref_Key new
    url2 = second.start()
    try:
        new_refs = {p["Ref_Key"] for p in second.find("Catalog_Номенклатура", IsFolder=False)}
        assert not new_refs & old_refs
        rt = build(_spec(tmp_path, b24, url2, ENTITIES), database_url=store)

        async def again() -> None:
            s = await run(rt, RunOptions(once=True))
            assert not s.dead and not _dead(rt), _dead(rt)
            assert s.actions.get("created", 0) == 0, s.actions
            assert s.actions.get("relinked", 0) >= n, s.actions
            s2 = await run(rt, RunOptions(once=True))  # settled: nothing more to write
            assert not {"created", "relinked", "linked"} & set(s2.actions), s2.actions
            await rt.aclose()

        asyncio.run(again())
        after = {r["CODE"]: (int(r["ID"]), r["XML_ID"]) for r in b24.portal.t("product").rows.values()}
        assert len(b24.portal.t("product").rows) == n, "no duplicate products"
        assert {c: i for c, (i, _) in after.items()} == {c: i for c, (i, _) in before.items()}, "same products"
        assert {x for _, x in after.values()} == new_refs, "each now points at its new 1C record"
        assert set(_products(b24)) == new_refs
        moved = [d for d in _relinked(rt) if d.get("relinked_from") in old_refs]
        assert len({d["relinked_from"] for d in moved}) == n
        assert all("no longer exists" in d["why"] for d in moved)
    finally:
        second.stop()
        b24.stop()


def test_an_old_record_that_still_exists_is_not_taken_over(tmp_path: Path) -> None:
    """Two 1C items with one article: the second finds the first's product, whose partner is alive — a conflict."""
    b24 = Bitrix24Sandbox(rate=None)
    b24.start()
    onec = OneCSandbox(seed="demo")
    url = onec.start()
    try:
        rt = build(_spec(tmp_path, b24, url, ENTITIES), database_url=f"sqlite:///{tmp_path / 'state.db'}")

        async def go() -> None:
            await flow.prepare_portal(rt, vat_rates=(22,), properties=tuple(PROPS))
            await run(rt, RunOptions(once=True))
            n = len(b24.portal.t("product").rows)
            src = onec.find("Catalog_Номенклатура", Артикул="KLAV-USB")[0]
            twin = {k: v for k, v in src.items() if k not in ("Ref_Key", "DataVersion", "Code")}
            onec.create("Catalog_Номенклатура", **{**twin, "Description": "Клавиатура USB (копия)"})
            s = await run(rt, RunOptions(once=True))
            assert s.actions.get("relinked", 0) == 0 and s.actions.get("created", 0) == 0, s.actions
            assert len(b24.portal.t("product").rows) == n
            dead = _dead(rt)
            assert any("уже связана" in d and "дубль" in d for d in dead), dead
            await rt.aclose()

        asyncio.run(go())
    finally:
        onec.stop()
        b24.stop()


@pytest.mark.anyio
async def test_a_failed_read_of_the_old_record_is_not_gone() -> None:
    """`_gone` asks the source side; a read that fails (1C down) raises — retried — never counts as gone."""
    from types import SimpleNamespace

    from b24sync.engine.errors import NotFoundError, RetryableError
    from b24sync.engine.ports import Record
    from b24sync.engine.binder import gone as _gone

    class Side:
        def __init__(self, answer):  # type: ignore[no-untyped-def]
            self.answer = answer

        async def get(self, obj, rid):  # type: ignore[no-untyped-def]
            if isinstance(self.answer, Exception):
                raise self.answer
            return self.answer

    def rt(answer):  # type: ignore[no-untyped-def]
        return SimpleNamespace(adapter=lambda e, s: Side(answer), objref=lambda e, s: None)

    assert await _gone(rt(None), None, "erp", "x") is True
    assert await _gone(rt(NotFoundError("404")), None, "erp", "x") is True
    assert await _gone(rt(Record("x", {}, deleted=True)), None, "erp", "x") is True
    assert await _gone(rt(Record("x", {"Description": "жив"})), None, "erp", "x") is False
    with pytest.raises(RetryableError):
        await _gone(rt(RetryableError("1C is down")), None, "erp", "x")

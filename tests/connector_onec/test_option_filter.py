"""The spec's `options.filter` on a 1C object (docs/spec.md): only records the OData `$filter` selects are read by a
poll — in the DataVersion scan and in exchange-plan packages — while lookups still find every record (so a match key
never duplicates one outside the selection); a filter of the wrong shape is a FILE:LINE error at validation."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from b24sync.connectors.onec.odata import from_config
from b24sync.engine.ports import ChangeCursor, ObjectRef
from b24sync.sandbox.onec import OneCSandbox
from b24sync.spec.loader import check_spec

SET = "Catalog_Контрагенты"
SELECTION = "ЮрФизЛицо eq 'ЮрЛицо' and DeletionMark eq false"


@pytest.fixture(scope="module")
def sb():
    s = OneCSandbox(user="odata", password="secret", seed="demo")
    s.start()
    for i in range(7):  # private persons and a deletion-marked company beside the companies: outside the selection
        s.create(SET, Description=f"Частное лицо {i}", ЮрФизЛицо="ФизЛицо")
    s.create(SET, Description="ООО Удалённое", ЮрФизЛицо="ЮрЛицо", DeletionMark=True)
    yield s
    s.stop()


def _adapter(sb, **extra):  # type: ignore[no-untyped-def]
    return from_config("erp", {"url": sb.odata_url, "username": "odata", "password": "secret", "preset": "ut11",
                               "page_size": 5, **extra})


def _selected(sb) -> set[str]:  # type: ignore[no-untyped-def]
    return {r["Ref_Key"] for r in sb.find(SET) if r.get("ЮрФизЛицо") == "ЮрЛицо" and not r.get("DeletionMark")}


async def _drain(a, obj: ObjectRef) -> set[str]:  # type: ignore[no-untyped-def]
    seen: set[str] = set()
    cursor = ChangeCursor()
    for _ in range(200):
        page = await a.read_changes(obj, cursor, overlap_seconds=0, limit=5)
        seen |= {r.id for r in page.records}
        await a.acknowledge(obj, page)
        cursor = page.cursor
        if not page.more:
            break
    return seen


def test_the_scan_reads_only_what_the_filter_selects_and_lookups_still_find_the_rest(sb) -> None:
    want = _selected(sb)
    everyone = {r["Ref_Key"] for r in sb.find(SET)}
    assert 0 < len(want) < len(everyone) - 7

    async def go() -> tuple[set[str], set[str], list]:
        a = _adapter(sb)
        filtered = await _drain(a, ObjectRef("counterparties", {"filter": SELECTION}))
        plain = await _drain(_adapter(sb), ObjectRef("counterparties"))
        person = next(r for r in sb.find(SET) if r.get("ЮрФизЛицо") == "ФизЛицо")
        found = await a.find(ObjectRef("counterparties", {"filter": SELECTION}), {"Description": person["Description"]})
        await a.aclose()
        return filtered, plain, found

    filtered, plain, found = asyncio.run(go())
    assert filtered == want  # every selected record, paged 5 at a time, and nothing else
    assert plain == everyone
    assert [r.values.get("Description") for r in found] == [found[0].values.get("Description")] and found


def test_an_exchange_plan_package_keeps_only_the_selected_records(sb) -> None:
    node = sb.add_exchange_node("B24-filter", "filter")
    company = sorted(_selected(sb))[:3]
    persons = [r["Ref_Key"] for r in sb.find(SET) if r.get("ЮрФизЛицо") == "ФизЛицо"][:3]
    for ref in company + persons:
        sb.edit(SET, ref, Комментарий="изменён")
    obj = ObjectRef("counterparties", {"filter": SELECTION})

    async def go() -> tuple[set[str], list]:
        a = _adapter(sb, exchange_plan="ОбменСB24", nodes={"counterparties": node})
        page = await a.read_changes(obj, ChangeCursor(), overlap_seconds=0, limit=100)
        await a.acknowledge(obj, page)
        again = await a.read_changes(obj, page.cursor, overlap_seconds=0, limit=100)
        await a.aclose()
        return {r.id for r in page.records}, again.records

    got, again = asyncio.run(go())
    assert got == set(company)  # the private persons' changes were in the package and left out
    assert again == []  # the package was acknowledged as a whole: nothing comes back


@pytest.mark.parametrize(("side", "value", "what"), [
    ("erp", "{DeletionMark: false}", "must be the text of a $filter expression"),
    ("erp", '""', "must be the text of a $filter expression"),
    ("crm", '"TYPE_ID eq CUSTOMER"', "must be a crm.*.list filter object"),
])
def test_a_filter_of_the_wrong_shape_is_a_file_line_error(tmp_path: Path, side: str, value: str, what: str) -> None:
    crm_opts = f"options: {{filter: {value}}}" if side == "crm" else ""
    erp_opts = f"options: {{filter: {value}}}" if side == "erp" else ""
    f = tmp_path / "spec.yaml"
    f.write_text(f"""version: 1
name: filters
systems:
  crm: {{type: bitrix24, role: crm, webhook_url: "http://127.0.0.1:1/rest/1/x/"}}
  erp: {{type: 1c-odata, role: erp, url: "http://127.0.0.1:1/odata", username: u, password: p}}
entities:
  counterparty:
    crm: {{object: crm.company, {crm_opts}}}
    erp: {{object: Catalog_Контрагенты, {erp_opts}}}
    direction: erp_to_crm
    master: erp
    match: [{{crm: TITLE, erp: Description}}]
    fields:
      - {{crm: TITLE, erp: Description}}
""", encoding="utf-8")
    spec, problems = check_spec(f, env={}, unset=[])
    hits = [p for p in problems if what in str(p)]
    assert hits, [str(p) for p in problems]
    assert all(str(p).startswith(f"{f}:{p.line}:") and p.line == (8 if side == "crm" else 9) for p in hits), [str(p) for p in hits]

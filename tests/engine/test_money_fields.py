"""Money user fields (issue 12, item b): Bitrix24 reads and writes a money UF as `amount|CUR` (`1500.00|RUB`,
bitrix24-rest.md "Value formats seen in docs"). The sandbox keeps that form; the mapper writes the pair (currency
from the spec, or from the ERP record's `currency_field`) and reads it back split, so the ERP gets the amount and a
re-read value equals what was written (no write on the next cycle)."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from b24sync.compose import build
from b24sync.engine.errors import ValidationError
from b24sync.engine.mapper import map_record, money_amount, money_text
from b24sync.engine.service import RunOptions, run
from b24sync.messages import use_locale
from b24sync.rehearsal.prepare import prepare
from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox
from b24sync.spec.loader import check_spec, load_spec
from b24sync.spec.models import FieldMapping
from b24sync.store.fingerprints import canonical
from tests.sqltables import make_table

# ---------------------------------------------------------------- the sandbox is faithful


def _post(sb: Bitrix24Sandbox, method: str, **body: object) -> httpx.Response:
    return httpx.post(sb.webhook_url + method, json=body, timeout=10)


@pytest.fixture()
def sandbox():  # type: ignore[no-untyped-def]
    sb = Bitrix24Sandbox(rate=None)
    sb.start()
    yield sb
    sb.stop()


@pytest.mark.parametrize("written,read", [
    ("1500.00|RUB", "1500.00|RUB"), ("1500|RUB", "1500.00|RUB"), ("1500.5|USD", "1500.50|USD"),
    ("0|RUB", "0.00|RUB"), ("-20.10|EUR", "-20.10|EUR"), ("99,90|rub", "99.90|RUB"),
    (1500, "1500.00|RUB"), ("1500", "1500.00|RUB"),  # a bare number: the base currency (⚠ assumed, see sandbox)
])
def test_sandbox_money_uf_reads_amount_pipe_currency(sandbox, written, read) -> None:  # type: ignore[no-untyped-def]
    assert _post(sandbox, "crm.company.userfield.add",
                 fields={"FIELD_NAME": "DEBT", "USER_TYPE_ID": "money"}).status_code == 200
    cid = _post(sandbox, "crm.company.add", fields={"TITLE": "A", "UF_CRM_DEBT": written}).json()["result"]
    assert _post(sandbox, "crm.company.get", id=cid).json()["result"]["UF_CRM_DEBT"] == read
    listed = _post(sandbox, "crm.company.list", filter={"ID": cid}, select=["UF_*"]).json()["result"]
    assert listed[0]["UF_CRM_DEBT"] == read
    item = _post(sandbox, "crm.item.get", entityTypeId=4, id=cid).json()["result"]["item"]
    assert item["ufCrmDebt"] == read


@pytest.mark.parametrize("bad", ["abc", "1500|RUBLES", "1 500|RUB", "|RUB", "1e3|RUB"])
def test_sandbox_refuses_a_money_value_that_is_not_an_amount(sandbox, bad) -> None:  # type: ignore[no-untyped-def]
    _post(sandbox, "crm.company.userfield.add", fields={"FIELD_NAME": "DEBT", "USER_TYPE_ID": "money"})
    r = _post(sandbox, "crm.company.add", fields={"TITLE": "A", "UF_CRM_DEBT": bad})
    assert r.status_code == 400 and r.json()["error"] == "ERROR_CORE"


def test_sandbox_money_update_and_empty(sandbox) -> None:  # type: ignore[no-untyped-def]
    _post(sandbox, "crm.company.userfield.add", fields={"FIELD_NAME": "DEBT", "USER_TYPE_ID": "money"})
    cid = _post(sandbox, "crm.company.add", fields={"TITLE": "A", "UF_CRM_DEBT": "10|RUB"}).json()["result"]
    _post(sandbox, "crm.company.update", id=cid, fields={"UF_CRM_DEBT": "12.345|RUB"})
    assert _post(sandbox, "crm.company.get", id=cid).json()["result"]["UF_CRM_DEBT"] == "12.35|RUB"
    _post(sandbox, "crm.item.update", entityTypeId=4, id=cid, fields={"ufCrmDebt": "7|KZT"})
    assert _post(sandbox, "crm.company.get", id=cid).json()["result"]["UF_CRM_DEBT"] == "7.00|KZT"
    _post(sandbox, "crm.company.update", id=cid, fields={"UF_CRM_DEBT": ""})
    assert _post(sandbox, "crm.company.get", id=cid).json()["result"]["UF_CRM_DEBT"] in (None, "")


# ---------------------------------------------------------------- the mapper


def _f(**kw: object) -> FieldMapping:
    return FieldMapping.model_validate({"crm": "UF_CRM_DEBT", "erp": "Долг", "crm_type": "money", **kw})


@pytest.mark.parametrize("value,kw,out", [
    (Decimal("1500"), {}, "1500.00|RUB"), (1500.5, {}, "1500.50|RUB"), ("0.005", {}, "0.01|RUB"),
    (Decimal("-3"), {"currency": "USD"}, "-3.00|USD"), ("12.5|EUR", {}, "12.50|EUR"),
    (None, {}, None), ("", {}, None),
])
def test_erp_to_crm_writes_the_pair(value, kw, out) -> None:  # type: ignore[no-untyped-def]
    assert money_text(_f(**kw), value, {}) == out


def test_currency_from_the_erp_record() -> None:
    f = _f(currency_field="currency_code")
    assert money_text(f, Decimal("10"), {"currency_code": "kzt"}) == "10.00|KZT"
    assert money_text(f, Decimal("10"), {}) == "10.00|RUB"  # empty → the field's default
    with use_locale("ru"), pytest.raises(ValidationError) as ei:
        money_text(f, Decimal("10"), {"currency_code": "рубли"})
    assert "не код валюты" in str(ei.value)


@pytest.mark.parametrize("value,out", [("1500.00|RUB", 1500), ("1500.50|RUB", 1500.5), ("1500", 1500),
                                       ("-0.01|RUB", -0.01), (None, None)])
def test_crm_to_erp_reads_the_amount(value, out) -> None:  # type: ignore[no-untyped-def]
    assert money_amount(_f(), value) == out


@pytest.mark.parametrize("value", ["abc|RUB", "NaN|RUB", "Infinity", "1500|RU", "|"])
def test_crm_to_erp_refuses_what_is_not_an_amount_in_russian(value) -> None:  # type: ignore[no-untyped-def]
    with use_locale("ru"), pytest.raises(ValidationError) as ei:
        money_amount(_f(), value)
    assert "UF_CRM_DEBT" in str(ei.value) and ("не сумма" in str(ei.value) or "валюта" in str(ei.value))


def test_crm_to_erp_another_currency_is_refused_not_relabelled() -> None:
    with use_locale("ru"), pytest.raises(ValidationError) as ei:
        money_amount(_f(), "100|USD")
    assert "в USD" in str(ei.value) and "RUB" in str(ei.value) and "не пересчитывает" in str(ei.value)
    with use_locale("en"), pytest.raises(ValidationError) as ei:
        money_amount(_f(currency="EUR"), "100|USD")
    assert "does not convert currencies" in str(ei.value)


def test_a_money_pair_equals_its_amount_spelled_otherwise() -> None:
    assert canonical("1500.00|RUB") == canonical("1500|RUB") == canonical("1500.0|RUB")
    assert canonical("1500|RUB") != canonical("1500|USD")
    assert canonical("1500|RUB") != canonical("1500")


def test_currency_keys_need_crm_type_money(tmp_path: Path) -> None:
    spec = SPEC.replace("crm_type: money, ", "")
    f = tmp_path / "s.yaml"
    f.write_text(spec.format(webhook="https://p.example/rest/1/abcdefgh1234/", erp=tmp_path / "erp.db"),
                 encoding="utf-8")
    s, problems = check_spec(f, {})
    assert s is None and any("crm_type: money" in p.fix or "crm_type: money" in p.what for p in problems), problems
    assert all(p.line > 1 for p in problems)


def test_crm_to_erp_with_currency_field_carries_the_currency() -> None:
    from b24sync.spec.models import Spec

    spec = Spec.model_validate({
        "name": "t", "systems": {"b": {"type": "bitrix24", "role": "crm", "webhook_url": "https://x/rest/1/a/"},
                                 "e": {"type": "sql", "role": "erp", "url": "sqlite://", "tables": {}}},
        "entities": {"c": {"master": "b", "direction": "crm_to_erp", "crm": {"object": "crm.company"},
                           "erp": {"object": "cp"}, "match": [{"crm": "TITLE", "erp": "name"}],
                           "fields": [{"crm": "UF_CRM_DEBT", "erp": "debt", "crm_type": "money",
                                       "currency_field": "cur"}]}}})
    out = map_record(spec, spec.entities["c"], "crm", {"UF_CRM_DEBT": "7.50|KZT"}, for_create=True)
    assert out == {"cur": "KZT", "debt": 7.5}


# ---------------------------------------------------------------- end to end: ERP → Bitrix24 → nothing to do

SPEC = """
version: 1
name: money
systems:
  bitrix24: {{type: bitrix24, role: crm, webhook_url: "{webhook}"}}
  erp: {{type: sql, role: erp, url: "sqlite:///{erp}", tables: {{cp: {{table: cp, id: id, modified: m}}}}}}
entities:
  company:
    master: erp
    direction: erp_to_crm
    crm: {{object: crm.company}}
    erp: {{object: cp}}
    match:
      - {{crm: UF_CRM_ERP_ID, erp: id}}
    link: {{crm: UF_CRM_ERP_ID}}
    fields:
      - {{crm: TITLE, erp: name}}
      - {{crm: UF_CRM_DEBT, erp: debt, crm_type: money, currency_field: cur}}
    triggers:
      - poll: 1m
"""


def test_erp_amounts_reach_the_portal_as_pairs_and_a_forced_resync_writes_nothing(tmp_path: Path) -> None:
    make_table(tmp_path / "erp.db", "cp", ("name", "debt", "cur"))
    rows = [("Альфа", "1500", "RUB"), ("Бета", "0.5", "USD"), ("Гамма", "-12.30", None), ("Дельта", None, None),
            ("Эпсилон", "1234567890.99", "KZT")]
    with sqlite3.connect(tmp_path / "erp.db") as db:
        db.executemany("INSERT INTO cp (name, debt, cur, m) VALUES (?, ?, ?, ?)",
                       [(*r, datetime(2026, 1, 1).isoformat(sep=" ")) for r in rows])
    sb = Bitrix24Sandbox(rate=None)
    sb.start()
    f = tmp_path / "spec.yaml"
    f.write_text(SPEC.format(webhook=sb.webhook_url, erp=tmp_path / "erp.db"), encoding="utf-8")
    spec = load_spec(f, {})
    rt = build(spec, database_url=f"sqlite:///{tmp_path / 'state.db'}")

    async def go() -> None:
        await prepare(rt, spec, None)  # creates UF_CRM_DEBT as money
        c = rt.adapters["bitrix24"].client  # type: ignore[attr-defined]
        uf = await c.call("crm.company.userfield.list", {"filter": {"FIELD_NAME": "UF_CRM_DEBT"}})
        assert uf[0]["USER_TYPE_ID"] == "money"
        stats = await run(rt, RunOptions(once=True))
        assert stats.dead == 0, stats
        got = {r["TITLE"]: r.get("UF_CRM_DEBT") for r in sb.portal.t("company").rows.values()}
        assert got == {"Альфа": "1500.00|RUB", "Бета": "0.50|USD", "Гамма": "-12.30|RUB", "Дельта": None,
                       "Эпсилон": "1234567890.99|KZT"}
        from b24sync.engine.resync import enqueue_resync

        await enqueue_resync(rt, "company")
        again = await run(rt, RunOptions(once=True))
        assert not {"created", "updated"} & set(again.actions), again.actions  # "1500.00|RUB" == 1500 from the ERP
        await rt.aclose()

    try:
        asyncio.run(go())
    finally:
        sb.stop()

"""Spec names resolved from $metadata (issue 10, document-flows.md E.20): `X_Key` vs composite `X` + `X_Type`, a
logical name, renames between releases — against the 1C sandbox's УТ 11, БП 3.0 and УНФ 3.0 profiles."""

from __future__ import annotations

import asyncio

import pytest

from b24sync.connectors.onec.odata.adapter import from_config
from b24sync.engine.errors import PermanentError
from b24sync.engine.ports import ObjectRef
from b24sync.sandbox.onec.sandbox import OneCSandbox


def _run(profile: str, fn, preset: str | None = None, **cfg):  # type: ignore[no-untyped-def]
    sb = OneCSandbox(profile=profile)
    url = sb.start()
    try:
        ad = from_config("onec", {"url": url, "username": "odata", "password": "secret",
                                  "preset": preset or {"bp30": "bp30", "unf30": "unf30"}.get(profile, "ut11"), **cfg})

        async def main():  # type: ignore[no-untyped-def]
            try:
                return await fn(sb, ad)
            finally:
                await ad.aclose()

        return asyncio.run(main())
    finally:
        sb.stop()


BP_INVOICE = ObjectRef("Document_СчетНаОплатуПокупателю")


@pytest.mark.parametrize("name", ["Номенклатура_Key", "Номенклатура"])
def test_bp_rows_composite_nomenclature_written_with_its_type_whatever_form_the_spec_names(name: str) -> None:
    async def steps(sb, ad):  # type: ignore[no-untyped-def]
        ids = sb.ids
        rid = await ad.create(BP_INVOICE, {
            "Организация_Key": ids["org"], "Контрагент_Key": ids["counterparties"][0],
            "Товары": [{"LineNumber": 1, name: ids["products"][0], "Количество": 2, "Цена": 61}]})
        doc = sb.get("Document_СчетНаОплатуПокупателю", rid)
        assert doc["Товары"][0]["Номенклатура"] == ids["products"][0]
        assert doc["Товары"][0]["Номенклатура_Type"] == "StandardODATA.Catalog_Номенклатура"
        assert doc["Number"].startswith("0000-")
        rec = await ad.get(BP_INVOICE, rid)  # read back under the spec's name too (rows compared by it)
        assert rec.values["Товары"][0]["Номенклатура_Key"] == ids["products"][0]
        return rid

    _run("bp30", steps)


def test_without_resolution_the_old_key_form_is_silently_dropped_by_bp() -> None:
    """The trap itself (erp-side.md §1.14 ⚠): 1C ignores an unknown property, the row's item stays empty."""
    async def steps(sb, ad):  # type: ignore[no-untyped-def]
        rid = await ad.create(BP_INVOICE, {"Товары": [{"LineNumber": 1, "Номенклатура_Key": sb.ids["products"][0],
                                                       "Количество": 1}]})
        assert sb.get("Document_СчетНаОплатуПокупателю", rid)["Товары"][0]["Номенклатура"] == ""

    _run("bp30", steps, resolve_names=False)


def test_composite_header_of_a_bank_receipt_and_lookup_by_it() -> None:
    async def steps(sb, ad):  # type: ignore[no-untyped-def]
        obj = ObjectRef("Document_ПоступлениеНаРасчетныйСчет")
        cp = sb.ids["counterparties"][1]
        rid = await ad.create(obj, {"Организация_Key": sb.ids["org"], "Контрагент_Key": cp, "СуммаДокумента": 10})
        doc = sb.get("Document_ПоступлениеНаРасчетныйСчет", rid)
        assert (doc["Контрагент"], doc["Контрагент_Type"]) == (cp, "StandardODATA.Catalog_Контрагенты")
        found = await ad.find(obj, {"Контрагент_Key": cp})
        assert [r.id for r in found] == [rid] and found[0].values["Контрагент_Key"] == cp

    _run("bp30", steps)


def test_an_explicit_type_wins_over_the_default_and_an_unknown_type_is_refused() -> None:
    async def steps(sb, ad):  # type: ignore[no-untyped-def]
        fl = sb.create("Catalog_ФизическиеЛица", Description="Иванов И. И.")["Ref_Key"]
        obj = ObjectRef("Document_ПоступлениеНаРасчетныйСчет")
        rid = await ad.create(obj, {"Контрагент": fl, "Контрагент_Type": "StandardODATA.Catalog_ФизическиеЛица"})
        assert sb.get("Document_ПоступлениеНаРасчетныйСчет", rid)["Контрагент_Type"].endswith("ФизическиеЛица")
        with pytest.raises(PermanentError, match="composite"):  # ДокументОснование: no default type known
            await ad.create(BP_INVOICE, {"ДокументОснование_Key": rid})

    _run("bp30", steps)


def test_unf_invoice_basis_is_composite_and_its_type_comes_from_the_preset() -> None:
    async def steps(sb, ad):  # type: ignore[no-untyped-def]
        order = sb.create("Document_ЗаказПокупателя", Контрагент_Key=sb.ids["counterparties"][0])["Ref_Key"]
        rid = await ad.create(ObjectRef("Document_СчетНаОплату"), {"ДокументОснование_Key": order})
        doc = sb.get("Document_СчетНаОплату", rid)
        assert (doc["ДокументОснование"], doc["ДокументОснование_Type"]) == (order, "StandardODATA.Document_ЗаказПокупателя")

    _run("unf30", steps)


def test_a_preset_override_gives_a_composite_its_type() -> None:
    async def steps(sb, ad):  # type: ignore[no-untyped-def]
        ship = sb.create("Document_РеализацияТоваровУслуг", Контрагент_Key=sb.ids["counterparties"][0])["Ref_Key"]
        rid = await ad.create(BP_INVOICE, {"ДокументОснование_Key": ship, "Товары": [
            {"LineNumber": 1, "Номенклатура": sb.ids["products"][1], "Количество": 1}]})
        doc = sb.get("Document_СчетНаОплатуПокупателю", rid)
        assert doc["ДокументОснование_Type"] == "StandardODATA.Document_РеализацияТоваровУслуг"
        assert doc["Товары"][0]["Номенклатура_Type"] == "StandardODATA.Catalog_Номенклатура"  # merged, not replaced

    _run("bp30", steps, preset_overrides={"invoices": {"composite": {
        "ДокументОснование": "Document_РеализацияТоваровУслуг"}}})


def test_describe_lists_resolvable_names_rows_and_the_known_renames() -> None:
    async def steps(sb, ad):  # type: ignore[no-untyped-def]
        bp = await ad.describe(BP_INVOICE)
        assert {"Номенклатура", "Номенклатура_Key", "Номенклатура_Type"} <= {
            f.split("/", 1)[1] for f in bp.fields if f.startswith("Товары/")}
        assert "Товары/СтавкаНДС_Key" not in bp.fields
        assert "enumeration `СтавкаНДС`" in bp.detail["hints"]["Товары/СтавкаНДС_Key"]
        assert "УдалитьСтатусОплаты" in bp.detail["hints"]["СтатусОплаты"]
        return bp

    _run("bp30", steps)

    async def unf(sb, ad):  # type: ignore[no-untyped-def]
        d = await ad.describe(ObjectRef("Document_ЗаказПокупателя"))
        assert "Запасы/СтавкаНДС_Key" in d.fields and "Запасы/СтавкаНДС" not in d.fields
        assert "reference `СтавкаНДС_Key`" in d.detail["hints"]["Запасы/СтавкаНДС"]
        assert "Контрагент" in d.fields  # the logical name of Контрагент_Key

    _run("unf30", unf)


def test_ut_shapes_unchanged_key_names_pass_as_they_are() -> None:
    async def steps(sb, ad):  # type: ignore[no-untyped-def]
        cp = sb.find("Catalog_Контрагенты")[0]
        obj = ObjectRef("Document_ЗаказКлиента")
        rid = await ad.create(obj, {"Контрагент": cp["Ref_Key"], "Партнер_Key": cp["Партнер_Key"]})
        doc = sb.get("Document_ЗаказКлиента", rid)
        assert doc["Контрагент_Key"] == cp["Ref_Key"]  # the logical name written as the _Key property
        assert (await ad.get(obj, rid)).values["Контрагент"] == cp["Ref_Key"]

    _run("ut11", steps)

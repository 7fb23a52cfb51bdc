"""1C sandbox profiles (issue 10): БП 3.0 and УНФ 3.0 bases beside УТ 11 — their object names, composite `_Type`
fields, numbering with prefixes, Post/Unpost with fill-check refusals, and two bases side by side (raw HTTP)."""

from __future__ import annotations

import httpx
import pytest

from b24sync.sandbox.onec.sandbox import OneCSandbox


@pytest.fixture()
def bases():  # type: ignore[no-untyped-def]
    made: list[OneCSandbox] = []

    def start(profile: str) -> tuple[OneCSandbox, httpx.Client, str]:
        sb = OneCSandbox(profile=profile)
        url = sb.start()
        made.append(sb)
        return sb, httpx.Client(auth=("odata", "secret"), timeout=10), url

    yield start
    for sb in made:
        sb.stop()


def _post(c: httpx.Client, url: str, doc: str, ref: str) -> httpx.Response:
    return c.post(f"{url}{doc}(guid'{ref}')/Post?PostingModeOperational=false")


def test_each_profile_publishes_its_own_documents(bases) -> None:  # type: ignore[no-untyped-def]
    names = {}
    for p in ("ut11", "bp30", "unf30"):
        sb, c, url = bases(p)
        names[p] = set(sb.entity_sets())
        assert c.get(url + "$metadata").status_code == 200
    assert "Document_ЗаказКлиента" in names["ut11"] and "Document_СчетНаОплатуКлиенту" in names["ut11"]
    assert not any("Заказ" in n and n.startswith("Document_") for n in names["bp30"])  # БП: no customer order
    assert {"Document_СчетНаОплатуПокупателю", "Document_ПоступлениеНаРасчетныйСчет",
            "AccumulationRegister_ОплатаСчетов"} <= names["bp30"]
    assert {"Document_ЗаказПокупателя", "Document_СчетНаОплату", "Catalog_СтавкиНДС",
            "Catalog_СостоянияЗаказовПокупателей"} <= names["unf30"]


def test_bp_invoice_rows_composite_type_checked_and_invoice_never_posted(bases) -> None:  # type: ignore[no-untyped-def]
    sb, c, url = bases("bp30")
    p = sb.ids["products"][0]
    body = {"Организация_Key": sb.ids["org"], "Контрагент_Key": sb.ids["counterparties"][0],
            "Товары": [{"LineNumber": 1, "Номенклатура": p, "Номенклатура_Type": "StandardODATA.Catalog_Номенклатура",
                        "Количество": 2, "Цена": 10}]}
    r = c.post(url + "Document_СчетНаОплатуПокупателю?$format=json", json=body)
    assert r.status_code == 201 and r.json()["Number"] == "0000-000001"
    assert r.json()["Товары"][0]["Номенклатура"] == p
    body["Товары"][0]["Номенклатура_Type"] = "StandardODATA.Catalog_Контрагенты"  # not an allowed type
    r = c.post(url + "Document_СчетНаОплатуПокупателю?$format=json", json=body)
    assert r.status_code == 400 and r.json()["odata.error"]["code"] == "1"
    body["Товары"] = [{"LineNumber": 1, "Номенклатура_Key": p, "Количество": 2}]  # the older clients' form
    r = c.post(url + "Document_СчетНаОплатуПокупателю?$format=json", json=body)
    assert r.status_code == 201 and r.json()["Товары"][0]["Номенклатура"] == ""  # ignored, as 1C ignores it
    posted = _post(c, url, "Document_СчетНаОплатуПокупателю", r.json()["Ref_Key"])
    assert posted.status_code == 500 and "не может быть проведен" in posted.text


def test_bp_invoice_fill_checks_on_write_when_switched_on(bases) -> None:  # type: ignore[no-untyped-def]
    sb, c, url = bases("bp30")
    sb.store.check_on_write.add("Document_СчетНаОплатуПокупателю")
    r = c.post(url + "Document_СчетНаОплатуПокупателю?$format=json", json={"Товары": []})
    assert r.status_code == 500
    text = r.json()["odata.error"]["message"]["value"]
    assert 'Поле "Организация" не заполнено' in text and "Товары (табличная часть не заполнена)" in text
    assert sb.find("Document_СчетНаОплатуПокупателю") == []


def test_bp_payment_posts_invoice_payments_and_unpost_removes_them(bases) -> None:  # type: ignore[no-untyped-def]
    sb, c, url = bases("bp30")
    inv = sb.create("Document_СчетНаОплатуПокупателю", Организация_Key=sb.ids["org"])["Ref_Key"]
    pay = c.post(url + "Document_ПоступлениеНаРасчетныйСчет?$format=json", json={
        "Организация_Key": sb.ids["org"], "Контрагент": sb.ids["counterparties"][0],
        "Контрагент_Type": "StandardODATA.Catalog_Контрагенты", "СуммаДокумента": 150,
        "РасшифровкаПлатежа": [{"LineNumber": 1, "СчетНаОплату_Key": inv, "СуммаПлатежа": 150, "СтавкаНДС": "НДС22",
                                "СуммаНДС": 27.05}]}).json()
    assert _post(c, url, "Document_ПоступлениеНаРасчетныйСчет", pay["Ref_Key"]).status_code == 200
    bal = c.get(url + "AccumulationRegister_ОплатаСчетов/Balance()?$format=json").json()["value"]
    assert [(b["СчетНаОплату_Key"], b["СуммаBalance"]) for b in bal] == [(inv, 150)]
    assert c.post(f"{url}Document_ПоступлениеНаРасчетныйСчет(guid'{pay['Ref_Key']}')/Unpost").status_code == 200
    assert c.get(url + "AccumulationRegister_ОплатаСчетов/Balance()?$format=json").json()["value"] == []


def test_unf_order_fill_checks_name_the_fields_then_post_and_unpost(bases) -> None:  # type: ignore[no-untyped-def]
    sb, c, url = bases("unf30")
    ids = sb.ids
    r = c.post(url + "Document_ЗаказПокупателя?$format=json", json={"Контрагент_Key": ids["counterparties"][0],
                                                                     "Запасы": []})
    assert r.json()["Number"] == "00УН-000001"
    ref = r.json()["Ref_Key"]
    refused = _post(c, url, "Document_ЗаказПокупателя", ref)
    assert refused.status_code == 500
    for f in ("Организация", "Договор", "СостояниеЗаказа", "ВалютаДокумента", "Запасы (табличная часть не заполнена)"):
        assert f'Поле "{f}' in refused.text
    contract = sb.find("Catalog_ДоговорыКонтрагентов", Owner_Key=ids["counterparties"][0])[0]["Ref_Key"]
    c.patch(f"{url}Document_ЗаказПокупателя(guid'{ref}')?$format=json", json={
        "Организация_Key": ids["org"], "Договор_Key": contract, "ВалютаДокумента_Key": ids["rub"],
        "СостояниеЗаказа": ids["order_states"]["В работе"],
        "СостояниеЗаказа_Type": "StandardODATA.Catalog_СостоянияЗаказовПокупателей",
        "Запасы": [{"LineNumber": 1, "Номенклатура_Key": ids["products"][0], "Количество": 1, "Цена": 100,
                    "СтавкаНДС_Key": ids["vat_rates"]["22%"]}]})
    assert _post(c, url, "Document_ЗаказПокупателя", ref).status_code == 200
    assert sb.get("Document_ЗаказПокупателя", ref)["Posted"] is True
    assert c.post(f"{url}Document_ЗаказПокупателя(guid'{ref}')/Unpost").status_code == 200
    assert sb.get("Document_ЗаказПокупателя", ref)["Posted"] is False


def test_unf_order_state_is_what_3_0_8_73_declares_and_the_older_reading_on_request() -> None:
    """docs/flow-orders.md "Limits": composite СостояниеЗаказа (+ _Type), ВариантЗавершения Успешно | Отменен,
    УдалитьЗакрыт; the catalog ships «В работе» and the predefined «Завершен». ``order_state="key"``: the older
    reading (СостояниеЗаказа_Key, Закрыт)."""
    new, old = OneCSandbox(profile="unf30"), OneCSandbox(profile="unf30", order_state="key")
    try:
        url = new.start()
        old.start()
        md = httpx.get(url + "$metadata", auth=("odata", "secret")).text
        props = new.store.defs["Document_ЗаказПокупателя"].all_fields()
        names = {f.name for f in props}
        assert {"СостояниеЗаказа", "СостояниеЗаказа_Type", "ВариантЗавершения", "УдалитьЗакрыт"} <= names
        assert not {"СостояниеЗаказа_Key", "Закрыт"} & names
        assert 'Name="СостояниеЗаказа_Type"' in md and 'Name="ВариантЗавершения"' in md
        done = new.get("Catalog_СостоянияЗаказовПокупателей", new.ids["order_states"]["Завершен"])
        assert (done["Predefined"], done["PredefinedDataName"]) == (True, "Завершен")
        assert "Code" not in done
        order = new.create("Document_ЗаказПокупателя", ВариантЗавершения="Отменен")
        assert order["ВариантЗавершения"] == "Отменен"
        with pytest.raises(Exception):
            new.create("Document_ЗаказПокупателя", ВариантЗавершения="Закрыт")  # not a member of the enum
        old_names = {f.name for f in old.store.defs["Document_ЗаказПокупателя"].all_fields()}
        assert {"СостояниеЗаказа_Key", "Закрыт"} <= old_names and "ВариантЗавершения" not in old_names
    finally:
        for sb in (new, old):
            sb.stop()


def test_two_bases_have_their_own_guids_and_number_sequences(bases) -> None:  # type: ignore[no-untyped-def]
    a, ca, ua = bases("unf30")
    b, cb, ub = bases("unf30")
    assert set(a.ids["products"]).isdisjoint(b.ids["products"])
    for _ in range(2):
        ca.post(ua + "Document_ЗаказПокупателя?$format=json", json={})
    n = cb.post(ub + "Document_ЗаказПокупателя?$format=json", json={}).json()["Number"]
    assert n == "00УН-000001" and len(a.find("Document_ЗаказПокупателя")) == 2

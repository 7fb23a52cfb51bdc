"""Behaviour of the 1C OData sandbox over raw httpx, one test per erp-side.md §12.1 item."""

import base64
import re
import time
from urllib.parse import quote
from xml.etree import ElementTree as ET

import httpx
import pytest

from b24sync.sandbox.onec.seed import inn10, valid_inn

CP = "Catalog_Контрагенты"


def client(sb, user="odata", password="secret"):
    return httpx.Client(auth=(user, password), timeout=10)


def u(sb, path, **q):
    """Build a URL with %20-encoded spaces (the platform refuses '+', §1.2)."""
    qs = "&".join(f"{k}={quote(str(v), safe=chr(39) + ',/:()')}" for k, v in q.items())
    return sb.odata_url + path + ("?" + qs if qs else "")


def test_metadata_is_edmx_with_cyrillic_sets(sb):
    r = client(sb).get(sb.odata_url + "$metadata")
    assert r.status_code == 200
    root = ET.fromstring(r.content)
    ns = {"edmx": "http://schemas.microsoft.com/ado/2007/06/edmx", "e": "http://schemas.microsoft.com/ado/2009/11/edm"}
    schema = root.find("edmx:DataServices/e:Schema", ns)
    assert schema.get("Namespace") == "StandardODATA"
    container = schema.find("e:EntityContainer", ns)
    assert container.get("Name") == "EnterpriseV8"
    sets = {s.get("Name") for s in container.findall("e:EntitySet", ns)}
    assert {CP, "Document_ЗаказКлиента", "Document_ЗаказКлиента_Товары", "AccumulationRegister_ТоварыНаСкладах",
            "InformationRegister_ЦеныНоменклатуры", "ExchangePlan_ОбменСB24"} <= sets
    funcs = {f.get("Name") for f in container.findall("e:FunctionImport", ns)}
    assert {"Post", "Unpost", "Balance", "Turnovers", "SliceLast"} <= funcs


def test_atom_by_default_json_on_request(sb):
    c = client(sb)
    atom = c.get(u(sb, CP, **{"$top": 1}))
    assert atom.headers["content-type"].startswith("application/atom+xml")
    assert atom.text.lstrip().startswith("<?xml")
    js = c.get(u(sb, CP, **{"$top": 1, "$format": "json"}))
    assert js.headers["content-type"].startswith("application/json")
    body = js.json()
    assert body["odata.metadata"].endswith("$metadata#" + CP)
    accept = c.get(u(sb, CP, **{"$top": 1}), headers={"Accept": "application/json"})
    assert accept.json()["value"][0]["Ref_Key"] == body["value"][0]["Ref_Key"]


def test_shapes_int64_strings_guid_dataversion(sb):
    body = client(sb).get(u(sb, CP, **{"$top": 3, "$inlinecount": "allpages", "$format": "json"})).json()
    assert isinstance(body["odata.count"], str) and int(body["odata.count"]) >= 3
    row = body["value"][0]
    assert re.fullmatch(r"[0-9a-f-]{36}", row["Ref_Key"])
    assert base64.b64decode(row["DataVersion"]) and len(base64.b64decode(row["DataVersion"])) == 8
    assert row["DeletionMark"] is False and "Code" not in row  # §1.4: no Code on УТ Контрагенты
    assert row["КонтактнаяИнформация"][0]["LineNumber"] == "1"  # Int64 as string
    assert "Партнер@navigationLinkUrl" in row
    assert valid_inn(row["ИНН"])


def test_filters(sb):
    c = client(sb)
    allrows = c.get(u(sb, CP, **{"$format": "json"})).json()["value"]
    target = allrows[5]
    by_inn = c.get(u(sb, CP, **{"$format": "json", "$filter": f"ИНН eq '{target['ИНН']}'"})).json()["value"]
    assert [r["Ref_Key"] for r in by_inn] == [target["Ref_Key"]]
    by_key = c.get(u(sb, CP, **{"$format": "json", "$filter": f"Ref_Key eq guid'{target['Ref_Key']}'"})).json()["value"]
    assert len(by_key) == 1
    word = target["Description"].split('"')[1][:4]
    sub = c.get(u(sb, CP, **{"$format": "json", "$filter": f"substringof('{word}', Description)"})).json()["value"]
    assert target["Ref_Key"] in {r["Ref_Key"] for r in sub}
    ip = c.get(u(sb, CP, **{"$format": "json", "$filter": "ЮрФизЛицо eq 'ИндивидуальныйПредприниматель' and not (КПП ne '')"})).json()["value"]
    assert ip and all(len(r["ИНН"]) == 12 and r["КПП"] == "" for r in ip)
    nav = c.get(u(sb, CP, **{"$format": "json", "$filter": f"Партнер/Description eq '{target['Description']}'"})).json()["value"]
    assert target["Ref_Key"] in {r["Ref_Key"] for r in nav}
    docs = c.get(u(sb, "Document_ЗаказКлиента", **{"$format": "json", "$filter": "Date ge datetime'2026-02-04T00:00:00' or Posted eq false"})).json()["value"]
    assert docs and all(d["Date"] >= "2026-02-04" or not d["Posted"] for d in docs)
    ne = c.get(u(sb, CP, **{"$format": "json", "$filter": f"Партнер_Key ne guid'{target['Партнер_Key']}'"})).json()["value"]
    assert len(ne) == len(allrows) - 1


def test_filter_errors_and_plus(sb):
    c = client(sb)
    r = c.get(u(sb, CP, **{"$format": "json", "$filter": "ИНН eq"}))
    assert r.status_code == 400 and r.json()["odata.error"]["code"] == "14"
    assert r.json()["odata.error"]["message"]["lang"] == "ru"
    plus = c.get(sb.odata_url + CP + "?$format=json&$filter=ИНН+eq+'7707083893'")
    assert plus.status_code == 400 and plus.json()["odata.error"]["code"] == "14"
    r = c.get(u(sb, CP, **{"$format": "json", "$select": "Description,НетТакогоПоля"}))
    assert r.status_code == 400 and r.json()["odata.error"]["code"] == "6" and "НетТакогоПоля" in r.text
    r = c.get(u(sb, CP, **{"$filter": "bad eq 1"}))  # Atom error by default
    assert r.status_code == 400 and "<m:code>6</m:code>" in r.text


def test_select_expand_paging_order(sb):
    c = client(sb)
    body = c.get(u(sb, CP, **{"$format": "json", "$select": "Ref_Key,ИНН,Партнер/Description", "$expand": "Партнер",
                              "$orderby": "ИНН desc", "$top": 4, "$skip": 2})).json()["value"]
    assert len(body) == 4 and set(body[0]) >= {"Ref_Key", "ИНН", "Партнер"} and "Description" not in body[0]
    assert body[0]["Партнер"]["Description"]
    inns = [r["ИНН"] for r in body]
    assert inns == sorted(inns, reverse=True)
    not_expanded = c.get(u(sb, CP, **{"$format": "json", "$select": "ИНН", "$expand": "Партнер", "$top": 1})).json()["value"][0]
    assert "Партнер" not in not_expanded  # §1.6: navigation not in $select is silently not expanded
    count = c.get(u(sb, CP + "/$count"))
    assert count.status_code == 200 and int(count.text) >= 30


def test_keys_and_not_found(sb):
    c = client(sb)
    row = c.get(u(sb, CP, **{"$format": "json", "$top": 1})).json()["value"][0]
    one = c.get(u(sb, f"{CP}(guid'{row['Ref_Key']}')", **{"$format": "json"})).json()
    assert one["Ref_Key"] == row["Ref_Key"] and one["odata.metadata"].endswith("/@Element")
    r = c.get(u(sb, f"{CP}(guid'00000000-0000-0000-0000-000000000001')", **{"$format": "json"}))
    assert r.status_code == 404 and r.json()["odata.error"]["code"] == "9"
    r = c.get(u(sb, "Catalog_НетТакого", **{"$format": "json"}))
    assert r.status_code == 404 and "Catalog_НетТакого" in r.text


def test_auth_utf8_and_401(fresh):
    ok = httpx.get(fresh.odata_url + CP + "?$top=1", auth=("Администратор", "пароль"))
    assert ok.status_code == 200
    assert httpx.get(fresh.odata_url + CP + "?$top=1").status_code == 401
    cp1251 = base64.b64encode("Администратор:пароль".encode("cp1251")).decode()
    r = httpx.get(fresh.odata_url + CP + "?$top=1", headers={"Authorization": "Basic " + cp1251})
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
    fresh.add_user("reader", "r", read_only=True)
    r = httpx.post(fresh.odata_url + "Catalog_Склады?$format=json", json={"Description": "x"}, auth=("reader", "r"))
    assert r.status_code == 403


def test_create_update_tabular_and_dataversion(fresh):
    c = client(fresh, "Администратор", "пароль")
    inn = inn10("770000001")
    r = c.post(u(fresh, CP, **{"$format": "json"}), json={
        "Description": "ООО \"Тест\"", "ИНН": inn, "НеизвестноеПоле": 1, "НаименованиеПолное": "Я" * 600,
        "КонтактнаяИнформация": [{"LineNumber": 1, "Тип": "Телефон", "Представление": "+7 900 000-00-00"}]})
    assert r.status_code == 201
    assert r.headers["location"].endswith(f"{CP}(guid'{r.json()['Ref_Key']}')")
    obj = r.json()
    assert obj["DataVersion"] == "AAAAAAAAAAA=" and len(obj["НаименованиеПолное"]) == 500  # truncated (§1.5)
    key = obj["Ref_Key"]
    stale = obj["DataVersion"]
    p1 = c.patch(u(fresh, f"{CP}(guid'{key}')", **{"$format": "json"}), json={"КПП": "770001001"})
    assert p1.status_code == 200 and "etag" not in p1.headers
    assert p1.json()["DataVersion"] == "AAAAAAAAAAE="
    # §1.10: stale If-Match and stale DataVersion are applied anyway
    p2 = c.patch(u(fresh, f"{CP}(guid'{key}')", **{"$format": "json"}), headers={"If-Match": f'W/"{stale}"'},
                 json={"DataVersion": stale, "КонтактнаяИнформация": [
                     {"LineNumber": 1, "Тип": "АдресЭлектроннойПочты", "АдресЭП": "a@b.ru"},
                     {"LineNumber": 2, "Тип": "Телефон", "НомерТелефона": "1"}]})
    assert p2.status_code == 200 and p2.json()["DataVersion"] == "AAAAAAAAAAI="
    assert [x["Тип"] for x in p2.json()["КонтактнаяИнформация"]] == ["АдресЭлектроннойПочты", "Телефон"]
    same = c.patch(u(fresh, f"{CP}(guid'{key}')", **{"$format": "json"}), json={"КПП": "770001001"})
    assert same.json()["DataVersion"] == "AAAAAAAAAAM="  # even an identical PATCH bumps it
    bad = c.patch(u(fresh, f"{CP}(guid'{key}')", **{"$format": "json"}), json={"Партнер_Key": "not-a-guid"})
    assert bad.status_code == 400 and bad.json()["odata.error"]["code"] == "1"
    norow = c.patch(u(fresh, f"{CP}(guid'{key}')", **{"$format": "json"}),
                    json={"КонтактнаяИнформация": [{"Тип": "Телефон"}]})
    assert norow.status_code == 500 and norow.json()["odata.error"]["code"] == "-1"
    direct = c.post(u(fresh, f"{CP}_КонтактнаяИнформация", **{"$format": "json"}), json={"Ref_Key": key, "LineNumber": 3})
    assert direct.status_code == 400 and direct.json()["odata.error"]["code"] == "13"
    mark = c.patch(u(fresh, f"{CP}(guid'{key}')", **{"$format": "json"}), json={"DeletionMark": True})
    assert mark.json()["DeletionMark"] is True
    assert c.delete(u(fresh, f"{CP}(guid'{key}')")).status_code == 200
    assert c.get(u(fresh, f"{CP}(guid'{key}')", **{"$format": "json"})).status_code == 404


def test_documents_numbering_posting_and_balance(fresh):
    c = client(fresh, "Администратор", "пароль")
    prod = fresh.find("Catalog_Номенклатура", Артикул="BUM-A4-500")[0]
    cp = fresh.get(CP, fresh.ids["counterparties"][3])
    wh = fresh.ids["warehouses"][0]
    before = c.get(u(fresh, "AccumulationRegister_ТоварыНаСкладах/Balance()", **{
        "$format": "json", "$filter": f"Номенклатура_Key eq guid'{prod['Ref_Key']}' and Склад_Key eq guid'{wh}'"})).json()["value"][0]
    r = c.post(u(fresh, "Document_РеализацияТоваровУслуг", **{"$format": "json"}), json={
        "Date": "2026-03-01T10:00:00", "Контрагент_Key": cp["Ref_Key"], "Склад_Key": wh, "СуммаДокумента": 840,
        "Товары": [{"LineNumber": 1, "Номенклатура_Key": prod["Ref_Key"], "Количество": 2, "Цена": 420, "Сумма": 840}]})
    doc = r.json()
    assert re.fullmatch(r"ЦБ00-\d{6}", doc["Number"]) and doc["Posted"] is False
    key = doc["Ref_Key"]
    post = c.post(u(fresh, f"Document_РеализацияТоваровУслуг(guid'{key}')/Post", PostingModeOperational="false"))
    assert post.status_code == 200
    after = c.get(u(fresh, f"Document_РеализацияТоваровУслуг(guid'{key}')", **{"$format": "json"})).json()
    assert after["Posted"] is True and after["DataVersion"] != doc["DataVersion"]
    cond = f"Номенклатура_Key eq guid'{prod['Ref_Key']}' and Склад_Key eq guid'{wh}'"
    bal = c.get(u(fresh, f"AccumulationRegister_ТоварыНаСкладах/Balance(Condition='{cond.replace(chr(39), chr(39) * 2)}')",
                  **{"$format": "json"})).json()["value"][0]
    assert bal["ВНаличииBalance"] == before["ВНаличииBalance"] - 2
    at_date = c.get(u(fresh, "AccumulationRegister_ТоварыНаСкладах/Balance(Period=datetime'2026-03-01T10:00:00',"
                              f"Condition='{cond}')", **{"$format": "json"})).json()["value"][0]
    assert at_date["ВНаличииBalance"] == before["ВНаличииBalance"]  # §1.7: movements at D are excluded
    # document-flows.md B.8: the register is keyed by the analytics key (Catalog_КлючиАналитикиУчетаПоПартнерам),
    # created when the shipment posted; there is no Контрагент_Key dimension
    keys = c.get(u(fresh, "Catalog_КлючиАналитикиУчетаПоПартнерам", **{
        "$format": "json", "$filter": f"Контрагент eq cast(guid'{cp['Ref_Key']}', 'Catalog_Контрагенты')"})).json()["value"]
    assert [(k["Контрагент_Type"], k["Договор"]) for k in keys] == [("StandardODATA.Catalog_Контрагенты", "")]
    no_dim = c.get(u(fresh, "AccumulationRegister_РасчетыСКлиентами/Balance()", **{
        "$format": "json", "$filter": f"Контрагент_Key eq guid'{cp['Ref_Key']}'"}))
    assert no_dim.status_code == 400
    debt = c.get(u(fresh, "AccumulationRegister_РасчетыСКлиентами/Balance()", **{
        "$format": "json", "$filter": f"АналитикаУчетаПоПартнерам_Key eq guid'{keys[0]['Ref_Key']}'"})).json()["value"]
    assert sum(x["СуммаBalance"] for x in debt) == 840
    turnover = c.get(u(fresh, "AccumulationRegister_ВыручкаИСебестоимостьПродаж/Balance()", **{"$format": "json"}))
    assert turnover.status_code == 400 and turnover.json()["odata.error"]["code"] == "6"
    assert c.post(u(fresh, f"Document_РеализацияТоваровУслуг(guid'{key}')/Unpost")).status_code == 200
    c.patch(u(fresh, f"Document_РеализацияТоваровУслуг(guid'{key}')", **{"$format": "json"}), json={"DeletionMark": True})
    again = c.post(u(fresh, f"Document_РеализацияТоваровУслуг(guid'{key}')/Post", PostingModeOperational="false"),
                   params=None, headers={"Accept": "application/json"})
    assert again.status_code == 500 and again.json()["odata.error"]["code"] == "-1"


def test_slice_last(sb):
    c = client(sb)
    prod = sb.find("Catalog_Номенклатура", Артикул="MON-24-IPS")[0]
    rows = c.get(u(sb, f"InformationRegister_ЦеныНоменклатуры/SliceLast(Period=datetime'2026-06-01T00:00:00',"
                       f"Condition='Номенклатура_Key eq guid''{prod['Ref_Key']}''')", **{"$format": "json"})).json()["value"]
    assert sorted(r["Цена"] for r in rows) == sorted([13990, round(13990 * 0.85, 2)])
    early = c.get(u(sb, "InformationRegister_ЦеныНоменклатуры/SliceLast(Period=datetime'2025-06-01T00:00:00')",
                    **{"$format": "json"})).json()["value"]
    assert early == []


def test_exchange_plan_cycle(fresh):
    c = client(fresh, "Администратор", "пароль")
    node = fresh.add_exchange_node("B24", "Битрикс24")
    plan = fresh.store.exchange_plan
    point = f"'{fresh.odata_url}{plan}(guid'{node}')'"
    cp = fresh.ids["counterparties"][0]
    fresh.edit(CP, cp, Комментарий="изменено в 1С")  # a user edit inside 1C
    c.patch(u(fresh, f"Catalog_Склады(guid'{fresh.ids['warehouses'][0]}')", **{"$format": "json"}), json={"Адрес": "новый"})
    sel = c.post(u(fresh, "SelectChanges", DataExchangePoint=point, MessageNo=1, **{"$top": 1, "$format": "json"}))
    assert sel.status_code == 200
    got = {(v["odata.type"], v["Ref_Key"]) for v in sel.json()["value"]}
    assert (f"StandardODATA.{CP}", cp) in got and len(got) == 2  # $top ignored: the whole package
    fresh.edit(CP, fresh.ids["counterparties"][1], Комментарий="ещё")  # registered while the package is in flight
    again = c.post(u(fresh, "SelectChanges", DataExchangePoint=point, MessageNo=1))
    assert again.text.count("<entry>") == 3  # same number again: the same plus what is new
    c.post(u(fresh, "NotifyChangesReceived", DataExchangePoint=point, MessageNo=1))
    nodes = c.get(u(fresh, plan, **{"$format": "json"})).json()["value"]
    mine = next(n for n in nodes if n["Ref_Key"] == node)
    assert mine["ReceivedNo"] == 1 and mine["SentNo"] == 1
    assert fresh.store.pending_changes(node) == 0
    empty = c.post(u(fresh, f"SelectChanges(DataExchangePoint={point},MessageNo=2)"))
    assert empty.status_code == 200 and "<entry>" not in empty.text


def test_faults_and_cold_start():
    from b24sync.sandbox.onec import OneCSandbox
    with OneCSandbox(cold_start_ms=400, latency_ms=0) as sb:
        c = client(sb)
        t = time.monotonic()
        c.get(sb.odata_url + "Catalog_Склады?$top=1")
        first = time.monotonic() - t
        t = time.monotonic()
        c.get(sb.odata_url + "Catalog_Склады?$top=1")
        assert first >= 0.4 > time.monotonic() - t
        sb.inject_fault("$metadata", "500")
        r = c.get(sb.odata_url + "$metadata")
        assert r.status_code == 500 and "<m:code>-1</m:code>" in r.text
        assert c.get(sb.odata_url + "$metadata").status_code == 200
        sb.inject_fault("Catalog_Склады", "503")
        assert c.get(sb.odata_url + "Catalog_Склады").status_code == 503
        sb.inject_fault("Catalog_Склады", "reset")
        with pytest.raises(httpx.HTTPError):
            c.get(sb.odata_url + "Catalog_Склады")
        sb.faults.timeout_s = 2
        sb.inject_fault("Catalog_Склады", "timeout")
        with pytest.raises(httpx.TimeoutException):
            c.get(sb.odata_url + "Catalog_Склады", timeout=0.3)
        sb.faults.fail_rate = 1.0
        assert c.get(sb.odata_url + "Catalog_Склады").status_code in (500, 503)


def test_volume_seed_is_quick():
    from b24sync.sandbox.onec import OneCSandbox
    t = time.process_time()  # CPU seconds: other processes on a loaded machine do not count
    sb = OneCSandbox(seed=None, seed_counterparties=100_000)
    assert time.process_time() - t < 10
    assert len(sb.store.objects[CP]) == 100_000
    assert all(valid_inn(r["ИНН"]) for r in list(sb.store.objects[CP].values())[:1000])

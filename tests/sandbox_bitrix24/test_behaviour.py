from __future__ import annotations

import httpx

from b24sync.sandbox.bitrix24 import Bitrix24Sandbox
from b24sync.sandbox.bitrix24.model import checksum_inn, inn_valid


def post(sb, method, **body):
    return httpx.post(sb.webhook_url + method, json=body, timeout=10)


def test_multifield_semantics(sandbox):
    cid = post(sandbox, "crm.contact.add", fields={"NAME": "A", "PHONE": [{"VALUE": "+7 900 1", "VALUE_TYPE": "WORK"},
                                                                          {"VALUE": "+7 900 2", "VALUE_TYPE": "MOBILE"}]}).json()["result"]
    phones = post(sandbox, "crm.contact.get", id=cid).json()["result"]["PHONE"]
    a, b = phones
    post(sandbox, "crm.contact.update", id=cid, fields={"PHONE": [{"ID": a["ID"], "VALUE": "+7 900 9"},
                                                                  {"ID": b["ID"], "VALUE": ""},
                                                                  {"VALUE": "+7 900 3", "VALUE_TYPE": "HOME"}]})
    now = post(sandbox, "crm.contact.get", id=cid).json()["result"]["PHONE"]
    assert [(p["ID"], p["VALUE"]) for p in now][0] == (a["ID"], "+7 900 9")
    assert [p["VALUE"] for p in now] == ["+7 900 9", "+7 900 3"] and now[1]["VALUE_TYPE"] == "HOME"
    post(sandbox, "crm.contact.update", id=cid, fields={"NAME": "B"})  # untouched multi-fields stay
    assert len(post(sandbox, "crm.contact.get", id=cid).json()["result"]["PHONE"]) == 2
    listed = post(sandbox, "crm.contact.list", select=["*"]).json()["result"][0]
    assert "PHONE" not in listed  # multi-fields only when named
    bad = post(sandbox, "crm.contact.add", fields={"NAME": "C", "EMAIL": [{"VALUE": "not-an-email"}]})
    assert (bad.status_code, bad.json()["error"]) == (400, "ERROR_CORE")


def test_user_fields_appear_everywhere(sandbox):
    uf = post(sandbox, "crm.company.userfield.add", fields={"FIELD_NAME": "ERP_GUID", "USER_TYPE_ID": "string"})
    assert uf.status_code == 200
    assert "UF_CRM_ERP_GUID" in post(sandbox, "crm.company.fields").json()["result"]
    cid = post(sandbox, "crm.company.add", fields={"TITLE": "A", "UF_CRM_ERP_GUID": "g-1"}).json()["result"]
    post(sandbox, "crm.company.add", fields={"TITLE": "B", "UF_CRM_ERP_GUID": "g-2"})
    r = post(sandbox, "crm.company.list", filter={"UF_CRM_ERP_GUID": "g-1"}, select=["UF_*"]).json()["result"]
    assert r == [{"UF_CRM_ERP_GUID": "g-1", "ID": str(cid)}]
    ufs = post(sandbox, "crm.company.userfield.list").json()["result"]
    assert [u["FIELD_NAME"] for u in ufs] == ["UF_CRM_ERP_GUID"]
    item = post(sandbox, "crm.item.get", entityTypeId=4, id=cid).json()["result"]["item"]
    assert item["ufCrmErpGuid"] == "g-1"  # UF_CRM_ERP_GUID → ufCrmErpGuid (naming rules, fact sheet §6.2)
    f = post(sandbox, "crm.company.add", fields={"TITLE": "F", "UF_CRM_ERP_GUID": "x"})
    assert f.status_code == 200


def test_smart_process_and_invoice(sandbox):
    t = post(sandbox, "crm.type.add", fields={"title": "Поставки", "isStagesEnabled": "Y"}).json()["result"]["type"]
    etid = t["entityTypeId"]
    assert etid >= 128 and post(sandbox, "crm.type.list").json()["result"]["types"][0]["entityTypeId"] == etid
    bad_order = post(sandbox, "crm.type.list", order={"ID": "ASC"})
    assert bad_order.json()["error"] == 100
    item = post(sandbox, "crm.item.add", entityTypeId=etid, fields={"title": "П1", "opportunity": 10}).json()
    assert item["result"]["item"]["stageId"].startswith(f"DT{etid}_")
    stages = post(sandbox, "crm.status.list",
                  filter={"ENTITY_ID": f"DYNAMIC_{etid}_STAGE_{item['result']['item']['categoryId']}"}).json()["result"]
    assert {s["SEMANTICS"] for s in stages} == {None, "S", "F"}
    inv = post(sandbox, "crm.item.add", entityTypeId=31, fields={"title": "Счёт", "opportunity": 1500.5,
                                                                   "companyId": 0, "parentId2": 0}).json()
    iid = inv["result"]["item"]["id"]
    upd = post(sandbox, "crm.item.update", entityTypeId=31, id=iid, fields={"opportunity": 2000}).json()
    assert upd["result"]["item"]["opportunity"] == 2000
    lst = post(sandbox, "crm.item.list", entityTypeId=31, filter={">opportunity": 1000}, select=["id", "title"]).json()
    assert lst["total"] == 1 and set(lst["result"]["items"][0]) == {"id", "title"}
    assert post(sandbox, "crm.item.delete", entityTypeId=31, id=iid).json()["result"] == []
    cats = post(sandbox, "crm.category.list", entityTypeId=2).json()["result"]["categories"]
    assert any(c["id"] == 0 and c["isDefault"] == "Y" for c in cats)
    assert post(sandbox, "crm.dealcategory.stage.list", id=0).json()["result"][0]["STATUS_ID"] == "NEW"


def test_products_measures(sandbox):
    pid = post(sandbox, "crm.product.add", fields={"NAME": "Болт", "XML_ID": "1c-guid", "PRICE": 12.5,
                                                   "CURRENCY_ID": "RUB", "MEASURE": 1, "VAT_ID": 4}).json()["result"]
    got = post(sandbox, "crm.product.list", filter={"XML_ID": "1c-guid"}).json()["result"][0]
    assert got["ID"] == str(pid) and got["PRICE"] == "12.50"
    assert "796" in {m["CODE"] for m in post(sandbox, "crm.measure.list").json()["result"]}


def test_fault_injection_and_latency():
    sb = Bitrix24Sandbox(rate=None)
    sb.start()
    try:
        sb.force("crm.company.list", "503", times=2)
        codes = [post(sb, "crm.company.list").status_code for _ in range(3)]
        assert codes == [503, 503, 200]
        sb.force("crm.company.get", "500")
        r = post(sb, "crm.company.get", id=1)
        assert (r.status_code, r.json()["error"]) == (500, "INTERNAL_SERVER_ERROR")
        sb.fail_rate = 1.0
        assert post(sb, "user.current").status_code in (500, 503)
    finally:
        sb.close()


def test_sqlite_persistence(tmp_path):
    path = str(tmp_path / "portal.db")
    sb = Bitrix24Sandbox(rate=None, data=path)
    sb.seed(companies=20)
    sb.start()
    code = sb.portal.webhook_code
    cid = post(sb, "crm.company.add", fields={"TITLE": "Persist"}).json()["result"]
    sb.close()
    sb2 = Bitrix24Sandbox(rate=None, data=path)
    sb2.start()
    try:
        assert sb2.portal.webhook_code == code and sb2.count("company") == 21
        assert post(sb2, "crm.company.get", id=cid).json()["result"]["TITLE"] == "Persist"
        assert post(sb2, "crm.company.add", fields={"TITLE": "Next"}).json()["result"] == cid + 1
    finally:
        sb2.close()


def test_seeded_inns_are_valid():
    sb = Bitrix24Sandbox(rate=None)
    sb.seed(companies=200)
    inns = [r["RQ_INN"] for r in sb.portal.t("requisite").rows.values()]
    assert len(inns) == 200 and all(inn_valid(i) for i in inns)
    assert checksum_inn("770708389") == "7707083893"  # Sberbank's published INN
    sb.close()


def test_item_productrow_set_list_replace_all_over_the_deals_rows_and_smart_invoices(sandbox):
    """crm.item.productrow.* (document-flows.md A.5): camelCase rows over the same table as crm.deal.productrows.*;
    set overwrites all rows of the owner; opportunity follows the rows; a percent discount states its sum."""
    import httpx

    def call(method, body):  # type: ignore[no-untyped-def]
        return httpx.post(sandbox.webhook_url + method, json=body, timeout=10)

    did = call("crm.deal.add", {"fields": {"TITLE": "rows"}}).json()["result"]
    r = call("crm.item.productrow.set", {"ownerType": "D", "ownerId": did, "productRows": [
        {"productName": "Кабель", "price": 90, "quantity": 2, "discountTypeId": 2, "discountRate": 10,
         "taxRate": 20, "taxIncluded": "Y", "measureCode": 6, "measureName": "м"},
        {"productName": "Монтаж", "price": 500, "quantity": 1}]})
    assert r.status_code == 200, r.text
    got = r.json()["result"]["productRows"]
    assert [x["productName"] for x in got] == ["Кабель", "Монтаж"] and got[0]["ownerType"] == "D"
    assert got[0]["priceExclusive"] == 75 and got[0]["discountSum"] == 8.33 and got[0]["measureCode"] == 6
    legacy = call("crm.deal.productrows.get", {"id": did}).json()["result"]
    assert [x["PRODUCT_NAME"] for x in legacy] == ["Кабель", "Монтаж"]  # one table
    assert float(call("crm.deal.get", {"id": did}).json()["result"]["OPPORTUNITY"]) == 680
    call("crm.item.productrow.set", {"ownerType": "D", "ownerId": did, "productRows": [{"productName": "x", "price": 1}]})
    lst = call("crm.item.productrow.list", {"filter": {"=ownerType": "D", "=ownerId": did}}).json()
    assert [x["productName"] for x in lst["result"]["productRows"]] == ["x"] and lst["total"] == 1  # replaced
    inv = call("crm.item.add", {"entityTypeId": 31, "fields": {"title": "Счёт"}}).json()["result"]["item"]["id"]
    call("crm.item.productrow.set", {"ownerType": "SI", "ownerId": inv,
                                     "productRows": [{"productName": "Услуга", "price": 100, "quantity": 3}]})
    item = call("crm.item.get", {"entityTypeId": 31, "id": inv}).json()["result"]["item"]
    assert item["opportunity"] == 300
    assert call("crm.item.productrow.list", {"filter": {"=ownerType": "SI", "=ownerId": inv}}).json()["total"] == 1
    missing = call("crm.item.productrow.set", {"ownerType": "SI", "ownerId": 999999, "productRows": []})
    assert missing.status_code == 400

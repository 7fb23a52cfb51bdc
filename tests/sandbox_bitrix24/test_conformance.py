"""Replays the verbatim request/response pairs of the fact sheet §9 (fixtures/fact_sheet_examples.json, extracted
from /work/shared/research/bitrix24-rest.md) and compares envelope structure, key sets, types and error codes."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

EXAMPLES = json.loads((Path(__file__).parent / "fixtures" / "fact_sheet_examples.json").read_text(encoding="utf-8"))
TIME_KEYS = {"start", "finish", "duration", "processing", "date_start", "date_finish"}


def example(method: str, idx: int = 0) -> dict:
    return [e for e in EXAMPLES if e["method"] == method][idx]


def ok_example(method: str, idx: int = 0) -> dict:
    return next(r["body"] for r in example(method, idx)["responses"] if r["status"] == 200)


def err_example(method: str, idx: int = 0) -> dict:
    return next(r["body"] for r in example(method, idx)["responses"] if r["status"] == 400)


def post(url: str, method: str, body: dict) -> httpx.Response:
    return httpx.post(url + method, json=body, timeout=10)


def assert_same_shape(got, want, path="$"):
    """Same JSON kinds; dict keys of the example present in the answer (answers may carry more fields)."""
    kinds = {bool: "bool", int: "num", float: "num", str: "str", list: "list", dict: "dict", type(None): "null"}
    if want is None or got is None:
        return
    assert kinds[type(got)] == kinds[type(want)], f"{path}: {type(got).__name__} vs example {type(want).__name__}"
    if isinstance(want, dict):
        missing = set(want) - set(got)
        assert not missing, f"{path}: keys missing vs example: {missing}"
        for k in want:
            assert_same_shape(got[k], want[k], f"{path}.{k}")
    elif isinstance(want, list) and want and got:
        assert_same_shape(got[0], want[0], f"{path}[0]")


def check_envelope(got: dict, want: dict):
    assert set(got) - {"next", "total"} == set(want) - {"next", "total"}, (set(got), set(want))
    assert ("total" in got) == ("total" in want)
    assert TIME_KEYS <= set(got["time"])
    for k in TIME_KEYS:
        assert isinstance(got["time"][k], type(want["time"].get(k, got["time"][k]))) or k in ("start", "processing")


@pytest.fixture
def seeded(sandbox):
    url = sandbox.webhook_url
    cid = post(url, "crm.company.add", {"fields": {"TITLE": "Crossroads", "COMPANY_TYPE": "CUSTOMER",
                                                   "PHONE": [{"VALUE": "+19998887766", "VALUE_TYPE": "WORK"}]}}).json()["result"]
    return sandbox, url, cid


def test_user_current(sandbox):
    r = post(sandbox.webhook_url, "user.current.json", example("user.current.json")["request"])
    assert r.status_code == 200
    want = ok_example("user.current.json")
    check_envelope(r.json(), want)
    assert_same_shape(r.json()["result"], want["result"])


def test_company_list_add_update_get(seeded):
    sb, url, cid = seeded
    ex = example("crm.company.list")
    req = json.loads(json.dumps(ex["request"]).replace("2025-01-01", "2000-01-01"))
    r = post(url, "crm.company.list", req)
    assert r.status_code == 200
    want = ok_example("crm.company.list")
    check_envelope(r.json(), want)
    assert r.json()["total"] == 1 and "next" not in r.json()
    row = r.json()["result"][0]
    assert set(row) == set(want["result"][0])  # TITLE, ASSIGNED_BY_ID, PHONE + ID although not selected
    assert_same_shape(row, want["result"][0])
    assert set(row["PHONE"][0]) == {"ID", "VALUE_TYPE", "VALUE", "TYPE_ID"}

    add = post(url, "crm.company.add", example("crm.company.add")["request"])
    assert add.status_code == 200 and isinstance(add.json()["result"], int)
    check_envelope(add.json(), ok_example("crm.company.add"))
    bad = post(url, "crm.company.add", {"params": {}})
    assert (bad.status_code, bad.json()) == (400, err_example("crm.company.add"))

    upd_req = dict(example("crm.company.update")["request"], ID=add.json()["result"])
    upd = post(url, "crm.company.update", upd_req)
    assert upd.status_code == 200 and upd.json()["result"] is True
    got = post(url, "crm.company.get", {"id": add.json()["result"]}).json()["result"]
    assert got["CURRENCY_ID"] == "EUR" and got["REVENUE"] == "500000.00" and got["EMPLOYEES"] == "EMPLOYEES_3"
    missing = post(url, "crm.company.update", dict(upd_req, ID=999999))
    errs = [r["body"] for r in example("crm.company.update")["responses"] if r["status"] == 400]
    assert (missing.status_code, missing.json()) == (400, errs[0])
    nf = post(url, "crm.company.get", {"id": 999999})
    assert (nf.status_code, nf.json()) == (400, errs[1])


def test_requisites_bank_address(seeded):
    sb, url, cid = seeded
    req = example("crm.requisite.add")["request"]
    req["fields"]["ENTITY_ID"] = cid
    r = post(url, "crm.requisite.add", req)
    assert r.status_code == 200
    check_envelope(r.json(), ok_example("crm.requisite.add"))
    rq = r.json()["result"]
    bad = post(url, "crm.requisite.add", {"fields": dict(req["fields"], ENTITY_TYPE_ID=99)})
    assert (bad.status_code, bad.json()) == (400, err_example("crm.requisite.add"))
    lst = post(url, "crm.requisite.list", example("crm.requisite.list")["request"])
    want = ok_example("crm.requisite.list")
    check_envelope(lst.json(), want)
    assert set(lst.json()["result"][0]) == set(want["result"][0])
    assert_same_shape(lst.json()["result"][0], want["result"][0])
    by_inn = post(url, "crm.requisite.list", {"filter": {"RQ_INN": "1717586110", "ENTITY_TYPE_ID": 4},
                                              "select": ["ID", "ENTITY_ID", "RQ_INN", "RQ_KPP"]}).json()
    assert by_inn["result"] == [{"ID": str(rq), "ENTITY_ID": str(cid), "RQ_INN": "1717586110", "RQ_KPP": "770501001"}]
    bank = example("crm.requisite.bankdetail.add")["request"]
    bank["fields"]["ENTITY_ID"] = rq
    b = post(url, "crm.requisite.bankdetail.add", bank)
    assert b.status_code == 200 and isinstance(b.json()["result"], int)
    addr = example("crm.address.add")["request"]
    addr["fields"]["ENTITY_ID"] = rq
    a = post(url, "crm.address.add", addr)
    assert a.status_code == 200 and a.json()["result"] is True  # true, not an id
    again = post(url, "crm.address.add", addr)
    assert again.status_code == 400


def test_deal_update_list_productrows(sandbox):
    url = sandbox.webhook_url
    did = post(url, "crm.deal.add", {"fields": {"TITLE": "[A] Tesla", "CATEGORY_ID": 1, "TYPE_ID": "COMPLEX",
                                                "OPPORTUNITY": 19999.99, "IS_MANUAL_OPPORTUNITY": "Y"}}).json()["result"]
    lst = post(url, "crm.deal.list", example("crm.deal.list")["request"])
    want = ok_example("crm.deal.list")
    check_envelope(lst.json(), want)
    assert lst.json()["total"] == 1
    assert set(lst.json()["result"][0]) == set(want["result"][0])
    assert_same_shape(lst.json()["result"][0], want["result"][0])
    assert lst.json()["result"][0]["OPPORTUNITY"] == "19999.99" and lst.json()["result"][0]["STAGE_ID"] == "C1:NEW"
    upd = post(url, "crm.deal.update", dict(example("crm.deal.update")["request"], ID=did))
    assert upd.status_code == 200 and upd.json()["result"] is True
    got = post(url, "crm.deal.get", {"id": did}).json()["result"]
    assert got["CATEGORY_ID"] == "1" and got["TITLE"] == "New Deal Title!"  # CATEGORY_ID immutable
    bad = post(url, "crm.deal.update", {"ID": did, "FIELDS": "x"})
    assert (bad.status_code, bad.json()) == (400, err_example("crm.deal.update"))
    rows_req = dict(example("crm.deal.productrows.set")["request"], id=did)
    r = post(url, "crm.deal.productrows.set", rows_req)
    assert r.status_code == 200 and r.json()["result"] is True
    rows = post(url, "crm.deal.productrows.get", {"id": did}).json()["result"]
    assert len(rows) == 2 and rows[0]["OWNER_TYPE"] == "D"
    post(url, "crm.deal.productrows.set", {"id": did, "rows": [rows_req["rows"][1]]})
    assert len(post(url, "crm.deal.productrows.get", {"id": did}).json()["result"]) == 1  # replaces all rows
    bad_rows = post(url, "crm.deal.productrows.set", {"id": did, "rows": [{"PRODUCT_NAME": "x", "PRICE": 1,
                                                                           "DISCOUNT_TYPE_ID": 2, "DISCOUNT_RATE": 100}]})
    assert (bad_rows.status_code, bad_rows.json()) == (400, err_example("crm.deal.productrows.set"))


def test_batch_examples(sandbox):
    url = sandbox.webhook_url
    r = post(url, "batch", example("batch")["request"])
    want = example("batch")["responses"][0]["body"]
    assert r.status_code == 200
    got = r.json()
    assert set(got) == set(want) and set(got["result"]) == set(want["result"])
    assert set(got["result"]["result"]) == {"get_user", "get_department"}
    assert got["result"]["result_error"] == [] and got["result"]["result_next"] == []
    assert got["result"]["result_total"] == {"get_department": 1}
    assert_same_shape(got["result"]["result"]["get_department"], want["result"]["result"]["get_department"])
    assert TIME_KEYS <= set(got["result"]["result_time"]["get_user"])


def test_item_examples(sandbox):
    url = sandbox.webhook_url
    req = example("crm.item.add")["request"]
    req["fields"].update(categoryId=0, stageId="NEW", companyId=None, contactId=None, contactIds=[], quoteId=None,
                         leadId=None, begindate="2024-06-18", closedate="2024-07-30")
    r = post(url, "crm.item.add", req)
    assert r.status_code == 200, r.text
    want = ok_example("crm.item.add")
    item = r.json()["result"]["item"]
    for k in ("id", "title", "stageId", "categoryId", "opportunity", "currencyId", "createdTime", "assignedById",
              "entityTypeId", "stageSemanticId", "isManualOpportunity", "updatedTime", "createdBy"):
        assert k in item and k in want["result"]["item"]
    assert isinstance(item["id"], int) and item["opportunity"] == 999.99
    bad = post(url, "crm.item.add", {"entityTypeId": 777, "fields": {"title": "x"}})
    assert (bad.status_code, bad.json()) == (400, err_example("crm.item.add"))
    lead = post(url, "crm.item.add", {"entityTypeId": 1, "fields": {"title": "Lead #1", "name": "Klaus",
                                                                      "opportunity": 12000, "sourceId": "WEB"}})
    assert lead.status_code == 200
    lst = post(url, "crm.item.list", {"entityTypeId": 1, "select": ["id", "title", "name", "opportunity"],
                                      "filter": {"0": {"logic": "OR", "0": {"!=name": ""}, "1": {"!=lastName": ""}},
                                                 ">=opportunity": 5000}})
    wl = [r["body"] for r in example("crm.item.list")["responses"] if r["status"] == 200][0]
    assert set(lst.json()) == set(wl) and set(lst.json()["result"]) == {"items"}
    assert lst.json()["total"] == 1 and isinstance(lst.json()["result"]["items"][0]["id"], int)
    bad_f = post(url, "crm.item.list", {"entityTypeId": 1, "filter": {"FIELD": 1}})
    errs = [r["body"] for r in example("crm.item.list")["responses"] if r["status"] == 400]
    assert (bad_f.status_code, bad_f.json()) == (400, errs[0])
    nf = post(url, "crm.item.get", {"entityTypeId": 2, "id": 999999})
    assert (nf.status_code, nf.json()) == (400, errs[1])


def test_findbycomm_timeline_notify(seeded):
    sb, url, cid = seeded
    contact = post(url, "crm.contact.add", {"fields": {"NAME": "A", "PHONE": [{"VALUE": "8976543"}]}}).json()["result"]
    r = post(url, "crm.duplicate.findbycomm", example("crm.duplicate.findbycomm")["request"])
    assert r.status_code == 200 and r.json()["result"] == {"CONTACT": [contact]}
    check_envelope(r.json(), ok_example("crm.duplicate.findbycomm"))
    bad = post(url, "crm.duplicate.findbycomm", {"values": ["1"]})
    assert (bad.status_code, bad.json()) == (400, err_example("crm.duplicate.findbycomm"))
    none = post(url, "crm.duplicate.findbycomm", {"type": "EMAIL", "values": ["nobody@example.com"]})
    assert none.json()["result"] == []
    too_many = post(url, "crm.duplicate.findbycomm", {"type": "PHONE", "values": [str(i) for i in range(21)]})
    assert too_many.status_code == 400
    deal = post(url, "crm.deal.add", {"fields": {"TITLE": "d"}}).json()["result"]
    req = example("crm.timeline.comment.add")["request"]
    req["fields"]["ENTITY_ID"] = deal
    tc = post(url, "crm.timeline.comment.add", req)
    assert tc.status_code == 200 and isinstance(tc.json()["result"], int)
    assert len(sb.portal.files) == 2 and sb.portal.files[1]["name"] == "1.gif"
    n = post(url, "im.notify.system.add", example("im.notify.system.add")["request"])
    assert n.status_code == 200 and isinstance(n.json()["result"], int)


def test_auth_and_system_errors(sandbox):
    base = sandbox.base_url
    wrong = httpx.post(f"{base}/rest/1/wrongcode/user.current", json={})
    assert (wrong.status_code, wrong.json()) == (401, {"error": "INVALID_CREDENTIALS",
                                                       "error_description": "Invalid request credentials"})
    no_auth = httpx.post(f"{base}/rest/crm.item.delete", json={})
    assert (no_auth.status_code, no_auth.json()["error"]) == (401, "NO_AUTH_FOUND")
    bad_tok = httpx.post(f"{base}/rest/user.current", json={"auth": "garbage"})
    assert (bad_tok.status_code, bad_tok.json()["error"]) == (401, "invalid_token")
    unknown = httpx.post(sandbox.webhook_url + "crm.nosuch.method", json={})
    assert (unknown.status_code, unknown.json()["error"]) == (404, "ERROR_METHOD_NOT_FOUND")
    too_long = httpx.post(sandbox.webhook_url + "batch", json={"cmd": {str(i): "user.current" for i in range(51)}})
    assert (too_long.status_code, too_long.json()["error"]) == (400, "ERROR_BATCH_LENGTH_EXCEEDED")


def test_transport_variants(sandbox):
    url = sandbox.webhook_url
    httpx.post(url + "crm.company.add", data={"fields[TITLE]": "Form Co", "fields[PHONE][0][VALUE]": "+7 999 000-00-01"})
    g = httpx.get(url + "crm.company.list.json", params={"filter[%TITLE]": "form", "select[]": ["ID", "TITLE", "PHONE"]})
    assert g.status_code == 200 and g.json()["result"][0]["TITLE"] == "Form Co"
    assert g.json()["result"][0]["PHONE"][0]["VALUE"] == "+7 999 000-00-01"
    f = httpx.post(url + "crm.company.list", data={"filter[>ID]": "0", "start": "-1"})
    assert f.json()["total"] == 0 and "next" not in f.json()

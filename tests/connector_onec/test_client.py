import asyncio
import base64
import json
import uuid
from datetime import datetime

import httpx
import pytest

from b24sync.connectors.onec.odata import DATAVERSE, SAP, F, ODataClient
from b24sync.connectors.onec.odata.errors import ODataFormatError, ODataHandlerError
from b24sync.engine.errors import AuthError, ConflictError, NotFoundError

from .fake1c import Fake1C

ROOT = "http://127.0.0.1/trade/odata/standard.odata/"


def client(fake, **kw):
    return ODataClient(ROOT, username=fake.user, password=fake.password, transport=fake.transport(), **kw)


def run(coro):
    return asyncio.run(coro)


def test_paging_iterates_all_pages_with_deterministic_order():
    fake = Fake1C(rows=1234)

    async def go():
        async with client(fake, page_size=100) as c:
            return [r["Ref_Key"] async for r in c.iter_all("Catalog_Контрагенты")]

    keys = run(go())
    assert len(keys) == 1234 and len(set(keys)) == 1234
    assert len(fake.requests) == 13  # 12 full pages + a short one
    q = fake.raw_queries[1]
    assert "$orderby=Ref_Key" in q and "$top=100" in q and "$skip=100" in q and "$format=json" in q
    # Cyrillic entity set as UTF-8 percent-encoding (§1.2)
    assert fake.requests[0].url.raw_path.startswith(b"/trade/odata/standard.odata/Catalog_%D0%9A")


def test_filter_spaces_are_percent20_and_utf8_basic_auth():
    fake = Fake1C(rows=3)
    target = list(fake.sets["Catalog_Контрагенты"].values())[1]

    async def go():
        async with client(fake) as c:
            return await c.query("Catalog_Контрагенты", filter=F.eq("ИНН", target["ИНН"]))

    page = run(go())
    assert [r["Ref_Key"] for r in page.rows] == [target["Ref_Key"]]
    assert "%20eq%20" in fake.raw_queries[0] and "+" not in fake.raw_queries[0]
    assert fake.requests[0].headers["Authorization"] == "Basic " + base64.b64encode(
        "Администратор:пароль".encode()).decode()


def test_wrong_password_is_auth_error():
    fake = Fake1C(rows=1)

    async def go():
        async with ODataClient(ROOT, username=fake.user, password="bad", transport=fake.transport()) as c:
            await c.query("Catalog_Контрагенты")

    with pytest.raises(AuthError) as ei:
        run(go())
    assert "credentials" in ei.value.reason


def test_get_not_found_and_unknown_set():
    fake = Fake1C(rows=1)

    async def go():
        async with client(fake) as c:
            assert await c.get_or_none("Catalog_Контрагенты", str(uuid.uuid4())) is None
            with pytest.raises(NotFoundError):
                await c.query("Catalog_Нет")

    run(go())


def test_write_guard_detects_concurrent_edit():
    fake = Fake1C(rows=1)
    row = next(iter(fake.sets["Catalog_Контрагенты"].values()))

    async def go():
        async with client(fake) as c:
            seen = (await c.get("Catalog_Контрагенты", row["Ref_Key"]))["DataVersion"]
            # a 1C user edits the record: DataVersion moves
            row["Description"] = "edited in 1C"
            Fake1C.bump(row)
            with pytest.raises(ConflictError) as ei:
                await c.update("Catalog_Контрагенты", row["Ref_Key"], {"Description": "from b24"},
                               expected_version=seen)
            assert ei.value.detail["expected"] == seen
            assert not fake.patches  # nothing written
            fresh = ei.value.detail["current"]
            out = await c.update("Catalog_Контрагенты", row["Ref_Key"], {"Description": "from b24"},
                                 expected_version=fresh)
            assert out["Description"] == "from b24" and out["DataVersion"] != fresh
            # 1C itself would not have stopped the stale write (§1.10): the guard is ours
            assert "If-Match" not in fake.requests[-1].headers

    run(go())


def test_create_numbers_rows_and_posts():
    fake = Fake1C()

    async def go():
        async with client(fake) as c:
            doc = await c.create("Document_ЗаказКлиента", {"Товары": [{"Количество": 1}, {"Количество": 2}]})
            await c.post_document("Document_ЗаказКлиента", doc["Ref_Key"])
            return doc

    doc = run(go())
    sent = json.loads(fake.requests[0].content)
    assert [r["LineNumber"] for r in sent["Товары"]] == [1, 2]
    assert fake.posted == [doc["Ref_Key"]]
    assert fake.requests[1].url.raw_path.decode().endswith("/Post?PostingModeOperational=false&$format=json")


def test_handler_error_on_post_is_permanent():
    def handler(request):
        return httpx.Response(500, json={"odata.error": {"code": "-1", "message": {
            "lang": "ru", "value": "Ошибка при выполнении обработчика - 'ОбработкаПроведения'"}}})

    async def go():
        async with ODataClient(ROOT, transport=httpx.MockTransport(handler)) as c:
            await c.post_document("Document_X", str(uuid.uuid4()))

    with pytest.raises(ODataHandlerError):
        run(go())


def test_virtual_table_url():
    seen = []

    def handler(request):
        seen.append(request.url.raw_path.decode())
        return httpx.Response(200, json={"value": [{"Номенклатура_Key": "x", "ВНаличииBalance": 5}]})

    async def go():
        async with ODataClient(ROOT, transport=httpx.MockTransport(handler)) as c:
            g = uuid.UUID("8b9660f6-1c2d-11ee-9f6a-0242ac120002")
            return await c.virtual_table("AccumulationRegister_ТоварыНаСкладах", "Balance",
                                         {"Period": datetime(2026, 9, 1), "Condition": F.eq("Склад_Key", g)})

    rows = run(go())
    assert rows[0]["ВНаличииBalance"] == 5
    from urllib.parse import unquote
    p = unquote(seen[0])
    assert p.startswith("/trade/odata/standard.odata/AccumulationRegister_ТоварыНаСкладах/Balance(")
    assert "Period=datetime'2026-09-01T00:00:00',Condition='Склад_Key eq guid''8b9660f6-1c2d-11ee-9f6a-0242ac120002'''" in p


def test_v4_next_links_followed_and_cross_origin_refused():
    calls = []

    def handler(request):
        calls.append(str(request.url))
        n = len(calls)
        if n == 1:
            assert request.headers["Prefer"] == "odata.maxpagesize=2" and "$skip" not in str(request.url)
            return httpx.Response(200, json={"value": [{"accountid": "a"}, {"accountid": "b"}],
                                             "@odata.nextLink": "https://org/api/data/v9.2/accounts?$skiptoken=1"})
        if n == 2:
            return httpx.Response(200, json={"value": [{"accountid": "c"}],
                                             "@odata.nextLink": "https://evil.example/x"})
        raise AssertionError("followed a cross-origin link")

    async def go():
        out = []
        async with ODataClient("https://org/api/data/v9.2/", bearer_token="t", dialect=DATAVERSE,
                               transport=httpx.MockTransport(handler)) as c:
            with pytest.raises(ODataFormatError):
                async for r in c.iter_all("accounts", page_size=2, key_field=None):
                    out.append(r["accountid"])
        return out

    assert run(go()) == ["a", "b", "c"]
    assert calls[1] == "https://org/api/data/v9.2/accounts?$skiptoken=1"


def test_sap_csrf_fetch_retry_and_if_match():
    state = {"token": "T1", "fetches": 0}
    log = []

    def handler(request):
        log.append((request.method, request.headers.get("X-CSRF-Token"), request.headers.get("If-Match")))
        if request.headers.get("X-CSRF-Token") == "Fetch":
            state["fetches"] += 1
            return httpx.Response(200, headers={"X-CSRF-Token": state["token"], "Set-Cookie": "SAP_SESSIONID=s1"},
                                  json={"d": {"EntitySets": []}})
        if request.method == "GET":
            return httpx.Response(200, json={"d": {"BusinessPartner": "1000", "__metadata": {"etag": "W/\"v2\""}}})
        if request.headers.get("X-CSRF-Token") != state["token"] or "SAP_SESSIONID=s1" not in request.headers.get("cookie", ""):
            return httpx.Response(403, headers={"X-CSRF-Token": "Required"})
        if request.headers.get("If-Match") != 'W/"v2"':
            return httpx.Response(428)
        return httpx.Response(204)

    async def go():
        async with ODataClient("https://s4/sap/opu/odata/sap/API_BUSINESS_PARTNER/", username="u", password="p",
                               dialect=SAP, transport=httpx.MockTransport(handler)) as c:
            await c.update("A_BusinessPartner", "1000", {"SearchTerm1": "X"})
            state["token"] = "T2"  # session expired: server wants a new token
            await c.update("A_BusinessPartner", "1000", {"SearchTerm1": "Y"})
            with pytest.raises(ConflictError):
                await c.update("A_BusinessPartner", "1000", {"SearchTerm1": "Z"}, expected_version='W/"v1"')

    run(go())
    assert state["fetches"] == 2
    patches = [entry for entry in log if entry[0] == "PATCH"]
    assert patches[0] == ("PATCH", "T1", 'W/"v2"')
    assert patches[-1] == ("PATCH", "T2", 'W/"v2"')

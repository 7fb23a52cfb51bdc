"""The two third-party clients, unmodified, against the sandbox."""

from __future__ import annotations

import asyncio
import warnings

import pytest

from b24sync.sandbox.bitrix24 import Bitrix24Sandbox


# ---- fast-bitrix24 (aiohttp; POSTs JSON to webhook + method) --------------------------------------------------------
def test_fast_bitrix24_crud_batch_paging():
    from fast_bitrix24 import BitrixAsync

    sb = Bitrix24Sandbox(rate=None)
    sb.seed(companies=230)
    url = sb.start()
    try:
        async def run():
            b = BitrixAsync(url, verbose=False)
            allc = await b.get_all("crm.company.list", {"select": ["ID", "TITLE"]})
            assert len(allc) == 230 and len({c["ID"] for c in allc}) == 230
            new_id = await b.call("crm.company.add", {"fields": {"TITLE": "ООО «Клиент»"}})
            assert isinstance(new_id, int)
            got = await b.get_by_ID("crm.company.get", [new_id])
            assert got[str(new_id)]["TITLE"] == "ООО «Клиент»" if isinstance(got, dict) and str(new_id) in got else \
                (got["TITLE"] == "ООО «Клиент»")
            await b.call("crm.company.update", {"ID": new_id, "fields": {"TITLE": "ООО «Клиент-2»"}})
            res = await b.call_batch({"halt": 0, "cmd": {"a": f"crm.company.get?ID={new_id}",
                                                         "b": "crm.company.list?filter[>ID]=225&select[]=ID"}})
            assert res["a"]["TITLE"] == "ООО «Клиент-2»"
            many = await b.call("crm.company.add", [{"fields": {"TITLE": f"Пакет {i}"}} for i in range(60)])
            assert len(many) == 60
            return True
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert asyncio.run(run())
        assert sb.count("company") == 291
    finally:
        sb.close()


def test_fast_bitrix24_survives_query_limit():
    """A portal stricter than the client's own throttle: the client gets 503 QUERY_LIMIT_EXCEEDED and retries."""
    from fast_bitrix24 import BitrixAsync

    sb = Bitrix24Sandbox(rate=20.0, burst=3)
    sb.seed(companies=400)
    url = sb.start()
    try:
        async def run():
            b = BitrixAsync(url, verbose=False, batch_size=1)  # 8 pages → 7 concurrent batch requests
            return await b.get_all("crm.company.list", {"select": ["ID"]})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rows = asyncio.run(run())
        assert len(rows) == 400
        assert sb.query_limit_exceeded > 0
    finally:
        sb.close()


# ---- b24pysdk (requests; https only: https://{domain}/rest/{user}/{key}/{method}.json) ----------------------------
@pytest.fixture
def tls_sandbox(monkeypatch):
    sb = Bitrix24Sandbox(rate=None)
    sb.seed(companies=130)
    sb.start(tls=True)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sb.cert_path)
    yield sb
    sb.close()


def _client(sb):
    from b24pysdk import BitrixWebhook, Client
    token = BitrixWebhook(domain=sb.portal.domain, webhook_token=f"{sb.portal.webhook_user}/{sb.portal.webhook_code}")
    return Client(token)


def test_b24pysdk_crud_batch_list_fast(tls_sandbox):
    sb = tls_sandbox
    client = _client(sb)
    new = client.crm.company.add(fields={"TITLE": "АО «Тест»", "PHONE": [{"VALUE": "+7 900 000-00-00"}]}).response
    cid = new.result
    got = client.crm.company.get(bitrix_id=cid).response.result
    assert got["TITLE"] == "АО «Тест»" and got["PHONE"][0]["VALUE"] == "+7 900 000-00-00"
    assert client.crm.company.update(bitrix_id=cid, fields={"TITLE": "АО «Тест-2»"}).response.result is True
    page = client.crm.company.list(select=["ID", "TITLE"]).response
    assert page.total == 131 and len(page.result) == 50
    all_rows = list(client.crm.company.list(select=["ID"]).as_list().result)
    assert len(all_rows) == 131
    fast = list(client.crm.company.list(select=["ID", "TITLE"]).as_list_fast().result)
    assert [int(r["ID"]) for r in fast] == list(range(1, 132))
    batch = client.call_batch({"a": client.crm.company.get(bitrix_id=cid), "b": client.crm.company.get(bitrix_id=1)})
    assert batch.result.result["a"]["TITLE"] == "АО «Тест-2»" and batch.result.result["b"]["ID"] == "1"
    as_list = client.call_batch([client.crm.company.get(bitrix_id=1), client.crm.company.get(bitrix_id=2)])
    assert len(as_list.result.result) == 2  # numeric keys come back as a JSON array


def test_b24pysdk_retries_query_limit(monkeypatch):
    from b24pysdk import Config

    sb = Bitrix24Sandbox(rate=4.0, burst=2)
    sb.start(tls=True)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sb.cert_path)
    try:
        cfg = Config()  # thread-local SDK settings: retry 503s quickly in the test
        saved = (cfg.default_initial_retry_delay, cfg.default_retry_delay_increment, cfg.default_max_retries)
        cfg.default_initial_retry_delay, cfg.default_retry_delay_increment, cfg.default_max_retries = 0.2, 0.2, 10
        client = _client(sb)
        for i in range(8):
            assert client.crm.company.add(fields={"TITLE": f"T{i}"}).response.result == i + 1
        assert sb.query_limit_exceeded > 0 and sb.count("company") == 8
    finally:
        cfg.default_initial_retry_delay, cfg.default_retry_delay_increment, cfg.default_max_retries = saved
        sb.close()

"""The fault proxy (sandbox tool): a write reaches the upstream and is applied, then its answer is lost."""

from __future__ import annotations

import httpx
import pytest

from b24sync.sandbox.faultproxy import LOSS_KINDS, FaultProxy, is_write
from b24sync.sandbox.onec import OneCSandbox


def test_rest_reads_and_odata_reads_are_not_writes() -> None:
    assert not is_write("POST", "/rest/1/abc/crm.company.list.json", b"{}")
    assert is_write("POST", "/rest/1/abc/crm.company.add", b"{}")
    assert not is_write("POST", "/rest/1/abc/batch", b'{"cmd": {"a": "crm.company.list?start=0"}}')
    assert is_write("POST", "/rest/1/abc/batch", b'{"cmd": {"a": "crm.company.list?x=1", "b": "crm.company.add?f=1"}}')
    assert not is_write("GET", "/trade/odata/standard.odata/Catalog_X", b"")
    assert is_write("PATCH", "/trade/odata/standard.odata/Catalog_X(guid'1')", b"{}")
    assert not is_write("POST", "/trade/odata/standard.odata/ExchangePlan_X/SelectChanges?MessageNo=1", b"")


@pytest.mark.parametrize("kind", LOSS_KINDS)
def test_the_proxy_applies_a_write_then_loses_its_answer(kind: str) -> None:
    sb = OneCSandbox(seed=None)
    url = sb.start()
    proxy = FaultProxy(url.split("/trade/")[0], lose_rate=1.0, kinds=(kind,), seed=1)
    proxy.start()
    try:
        with httpx.Client(auth=("odata", "secret"), timeout=10) as http:
            target = proxy.url_for(url) + "Catalog_Контрагенты?$format=json"
            if kind == "504":
                assert http.post(target, json={"Description": "Потерянный"}).status_code == 504
            else:
                with pytest.raises(httpx.TransportError):
                    http.post(target, json={"Description": "Потерянный"})
            assert len(sb.find("Catalog_Контрагенты", Description="Потерянный")) == 1  # applied once
            assert http.get(target).status_code == 200  # reads pass through
        assert proxy.stats.lost == {kind: 1} and proxy.stats.writes == 1
    finally:
        proxy.stop()
        sb.stop()


def test_an_even_proxy_loses_exactly_the_share_asked() -> None:
    sb = OneCSandbox(seed=None)
    url = sb.start()
    proxy = FaultProxy(url.split("/trade/")[0], lose_rate=0.07, kinds=("504",), seed=4, even=True)
    proxy.start()
    try:
        with httpx.Client(auth=("odata", "secret"), timeout=10) as http:
            target = proxy.url_for(url) + "Catalog_Контрагенты?$format=json"
            codes = [http.post(target, json={"Description": f"n{i}"}).status_code for i in range(100)]
        assert codes.count(504) == 7 and proxy.stats.lost == {"504": 7}
        assert len(sb.find("Catalog_Контрагенты")) == 100  # every write applied, lost answers included
    finally:
        proxy.stop()
        sb.stop()

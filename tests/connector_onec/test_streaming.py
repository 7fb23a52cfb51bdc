import asyncio
import json
from decimal import Decimal

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b24sync.connectors.onec.odata.client import ODataClient
from b24sync.connectors.onec.odata.errors import ODataFormatError, ResponseTooLargeError
from b24sync.connectors.onec.odata.streaming import AtomEntryStream, JsonArrayStream, iter_bounded

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda c: st.one_of(st.lists(c, max_size=4),
                                                             st.dictionaries(st.text(max_size=8), c, max_size=4)),
                           max_leaves=12)
elements = st.lists(st.dictionaries(st.text(max_size=8), json_values, max_size=5), max_size=8)


def chunks_of(raw: bytes, cuts: list[int]):
    pos = 0
    for c in sorted(set(x % (len(raw) + 1) for x in cuts)):
        yield raw[pos:c]
        pos = c
    yield raw[pos:]


@settings(max_examples=200, deadline=None)
@given(elements, st.lists(st.integers(0, 10**6), max_size=20), st.booleans(),
       st.dictionaries(st.text(max_size=6), json_values, max_size=3))
def test_json_stream_any_chunking(elems, cuts, v2, extra):
    doc = {"d": {"results": elems, "__next": "x"}} if v2 else {"odata.metadata": "m", **extra, "value": elems,
                                                                "odata.nextLink": "n"}
    if not v2 and ("value" in extra or "d" in extra):
        return
    raw = json.dumps(doc, ensure_ascii=bool(cuts and cuts[0] % 2)).encode()
    got = list(iter_bounded(chunks_of(raw, cuts), JsonArrayStream(), None, context="t"))
    assert got == elems


def test_json_stream_decimals_and_nested_value_key_ignored():
    raw = b'{"x": {"value": [1, 2]}, "value": [{"value": [{"a": 1}], "n": 1.10}]}'
    assert list(iter_bounded([raw], JsonArrayStream(), None, context="t")) == [
        {"value": [{"a": 1}], "n": Decimal("1.10")}]


def test_json_stream_truncated_and_not_json():
    s = JsonArrayStream()
    s.feed(b'{"value": [{"a": 1}, {"b"')
    with pytest.raises(ODataFormatError):
        s.close()
    with pytest.raises(ODataFormatError):
        JsonArrayStream().feed(b"<html>proxy error</html>")


def test_size_bound():
    raw = json.dumps({"value": [{"i": i, "pad": "x" * 100} for i in range(100)]}).encode()
    chunks = [raw[i:i + 500] for i in range(0, len(raw), 500)]
    seen = []
    with pytest.raises(ResponseTooLargeError) as ei:
        for row in iter_bounded(chunks, JsonArrayStream(), 3000, context="SelectChanges"):
            seen.append(row)
    assert "3000-byte limit" in ei.value.reason
    assert 0 < len(seen) < 100  # rows before the limit were parsed incrementally, not after the whole body


ATOM = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:d="http://schemas.microsoft.com/ado/2007/08/dataservices"
      xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata">
 <entry><category term="StandardODATA.Catalog_Контрагенты" scheme="http://schemas.microsoft.com/ado/2007/08/dataservices/scheme"/>
  <content type="application/xml"><m:properties>
   <d:Ref_Key>8b9660f6-1c2d-11ee-9f6a-0242ac120002</d:Ref_Key><d:DataVersion>AAAAAAAAAAE=</d:DataVersion>
   <d:DeletionMark m:type="Edm.Boolean">false</d:DeletionMark><d:ИНН>7707083893</d:ИНН>
   <d:Сумма m:type="Edm.Double">22729.17</d:Сумма><d:Пусто m:null="true"/>
   <d:КонтактнаяИнформация m:type="Collection(StandardODATA.Catalog_Контрагенты_КонтактнаяИнформация_RowType)">
     <d:element><d:LineNumber m:type="Edm.Int64">1</d:LineNumber><d:Тип>Телефон</d:Тип></d:element>
   </d:КонтактнаяИнформация>
  </m:properties></content></entry>
 <entry><category term="StandardODATA.Document_ЗаказКлиента"/><content type="application/xml"><m:properties>
   <d:Ref_Key>11111111-1c2d-11ee-9f6a-0242ac120002</d:Ref_Key><d:Posted m:type="Edm.Boolean">true</d:Posted>
 </m:properties></content></entry>
</feed>""".encode()


@pytest.mark.parametrize("size", [1, 7, 100, 100000])
def test_atom_stream(size):
    rows = list(iter_bounded([ATOM[i:i + size] for i in range(0, len(ATOM), size)], AtomEntryStream(), None,
                             context="t"))
    assert rows[0]["odata.type"] == "StandardODATA.Catalog_Контрагенты"
    assert rows[0]["ИНН"] == "7707083893" and rows[0]["DeletionMark"] is False
    assert rows[0]["Сумма"] == Decimal("22729.17") and rows[0]["Пусто"] is None
    assert rows[0]["КонтактнаяИнформация"] == [{"LineNumber": "1", "Тип": "Телефон"}]
    assert rows[1]["Posted"] is True


def test_atom_entities_refused():
    bomb = b'<?xml version="1.0"?><!DOCTYPE f [<!ENTITY a "aaaa">]><feed xmlns="http://www.w3.org/2005/Atom">&a;</feed>'
    with pytest.raises(ODataFormatError):
        list(iter_bounded([bomb], AtomEntryStream(), None, context="t"))


def test_client_stream_declared_length_over_limit():
    def handler(request):
        return httpx.Response(200, headers={"Content-Type": "application/json", "Content-Length": "999999"},
                              content=b'{"value": []}' + b" " * (999999 - 13))

    async def run():
        c = ODataClient("http://1c/base/odata/standard.odata", transport=httpx.MockTransport(handler),
                        max_package_bytes=1000)
        with pytest.raises(ResponseTooLargeError) as ei:
            async for _ in c.stream_rows("POST", c.base_url + "SelectChanges", context="SelectChanges"):
                pass
        await c.aclose()
        return ei.value

    err = asyncio.run(run())
    assert "declared 999999 bytes" in err.reason and "nothing was acknowledged" in err.reason

"""Encoding / namespace / packaging variants, memory flatness, and untrusted-XML refusals."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b24sync.connectors.commerceml import (
    CommerceMLError, CommerceMLReader, Offer, Product, UnsafeXMLError, open_any, read,
)
from b24sync.engine.errors import PermanentError

SAMPLES = Path("/work/shared/samples/commerceml")
OFFERS = (SAMPLES / "02-offers-2.07-utf8.xml").read_bytes()
IMPORT = (SAMPLES / "01-import-2.07-utf8.xml").read_bytes()
BOM = b"\xef\xbb\xbf"


def _variants(data: bytes) -> dict[str, bytes]:
    assert data.startswith(BOM)
    text = data[3:].decode("utf-8")
    no_ns = text.replace(' xmlns="urn:1C.ru:commerceml_2"', "", 1)
    assert no_ns != text
    return {
        "utf8-bom": data,
        "utf8-nobom": data[3:],
        "cp1251": text.replace('encoding="UTF-8"', 'encoding="windows-1251"', 1).encode("cp1251"),
        "no-namespace": no_ns.encode("utf-8"),
        "cml3-namespace": text.replace("urn:1C.ru:commerceml_2", "urn:1C.ru:commerceml_3", 1).encode("utf-8"),
        "cp1251-no-namespace": no_ns.replace('encoding="UTF-8"', 'encoding="windows-1251"', 1).encode("cp1251"),
    }


@pytest.mark.parametrize("sample", [OFFERS, IMPORT], ids=["offers", "import"])
def test_encoding_and_namespace_variants_give_identical_records(sample):
    variants = _variants(sample)
    baseline = list(read(variants["utf8-bom"]))
    assert len(baseline) > 5
    for name, data in variants.items():
        assert list(read(data)) == baseline, name


def test_variant_info():
    v = _variants(OFFERS)
    r = CommerceMLReader(v["cp1251-no-namespace"])
    list(r)
    assert (r.info.encoding, r.info.namespace, r.info.bom) == ("WINDOWS-1251", None, False)


def _import_doc(names: list[str], encoding: str) -> bytes:
    goods = "".join(f"<Товар><Ид>id-{i}</Ид><Наименование>{n}</Наименование></Товар>" for i, n in enumerate(names))
    text = (f'<?xml version="1.0" encoding="{encoding}"?>\n<КоммерческаяИнформация ВерсияСхемы="2.08">'
            f"<Каталог><Ид>c</Ид><Товары>{goods}</Товары></Каталог></КоммерческаяИнформация>")
    return text.encode("cp1251" if encoding == "windows-1251" else "utf-8")


_cp1251_text = st.text(
    alphabet=st.sampled_from("абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ"
                             "abcXYZ0123456789 -_.,;:()«»№\"'&<>"),
    min_size=1, max_size=40,
).map(str.strip).filter(bool)


@settings(max_examples=60, deadline=None)
@given(names=st.lists(_cp1251_text, min_size=1, max_size=8))
def test_names_survive_both_encodings(names):
    from xml.sax.saxutils import escape

    escaped = [escape(n) for n in names]
    for enc in ("UTF-8", "windows-1251"):
        got = [r.name for r in read(_import_doc(escaped, enc)) if isinstance(r, Product)]
        assert got == names


def test_zip_package_streamed_from_members(tmp_path):
    pkg = tmp_path / "v8_2C7E_125d5b.zip"
    with zipfile.ZipFile(pkg, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("offers.xml", OFFERS)
        zf.writestr("import.xml", IMPORT)
        zf.writestr("import_files/9d/x.jpg", b"\xff\xd8 not xml")
    seen = []
    for member, reader in open_any(pkg):
        seen.append((member, sum(1 for _ in reader)))
    assert [m for m, _ in seen] == ["import.xml", "offers.xml"]  # classifier before offers, images skipped
    assert seen[0][1] == len(list(read(IMPORT))) and seen[1][1] == len(list(read(OFFERS)))


def test_truncated_file_raises_after_partial_and_not_completed():
    data = OFFERS[: len(OFFERS) * 2 // 3]
    reader = CommerceMLReader(data)
    got = []
    with pytest.raises(CommerceMLError, match="XML error"):
        for rec in reader:
            got.append(rec)
    assert not reader.completed


def test_bad_number_is_a_validation_error():
    bad = OFFERS.replace("<ЦенаЗаЕдиницу>1719</ЦенаЗаЕдиницу>".encode(), "<ЦенаЗаЕдиницу>1.7.1</ЦенаЗаЕдиницу>".encode())
    with pytest.raises(PermanentError, match="not a number"):
        list(read(bad))


def test_wrong_root_rejected():
    with pytest.raises(CommerceMLError, match="root element"):
        list(read(b"<?xml version='1.0'?><html/>"))


# ---- untrusted XML -------------------------------------------------------------------------------------------

XXE = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE r [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<\xd0\x9a\xd0\xbe\xd0\xbc\xd0\xbc\xd0\xb5\xd1\x80\xd1\x87\xd0\xb5\xd1\x81\xd0\xba\xd0\xb0\xd1\x8f\xd0\x98\xd0\xbd\xd1\x84\xd0\xbe\xd1\x80\xd0\xbc\xd0\xb0\xd1\x86\xd0\xb8\xd1\x8f>&xxe;</\xd0\x9a\xd0\xbe\xd0\xbc\xd0\xbc\xd0\xb5\xd1\x80\xd1\x87\xd0\xb5\xd1\x81\xd0\xba\xd0\xb0\xd1\x8f\xd0\x98\xd0\xbd\xd1\x84\xd0\xbe\xd1\x80\xd0\xbc\xd0\xb0\xd1\x86\xd0\xb8\xd1\x8f>
"""


def _billion_laughs() -> bytes:
    ents = ['<!ENTITY lol "lol">'] + [f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
                                     for i in range(1, 10)]
    body = "<КоммерческаяИнформация ВерсияСхемы=\"2.08\"><Каталог><Товары><Товар><Ид>1</Ид>" \
           "<Наименование>&lol9;</Наименование></Товар></Товары></Каталог></КоммерческаяИнформация>"
    return ('<?xml version="1.0"?>\n<!DOCTYPE lolz [\n' + "\n".join(ents) + "\n]>\n" + body).encode()


EXTERNAL_DTD = ('<?xml version="1.0"?>\n<!DOCTYPE КоммерческаяИнформация SYSTEM "http://127.0.0.1:9/evil.dtd">\n'
                '<КоммерческаяИнформация ВерсияСхемы="2.08"><Каталог><Товары><Товар><Ид>1</Ид></Товар>'
                '</Товары></Каталог></КоммерческаяИнформация>').encode()
CP1251_XXE = ('<?xml version="1.0" encoding="windows-1251"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/hostname">]>'
              '<КоммерческаяИнформация ВерсияСхемы="2.05"><Документ><Ид>&x;</Ид></Документ>'
              '</КоммерческаяИнформация>').encode("cp1251")
BOM_XXE = BOM + XXE


@pytest.mark.parametrize("payload", [XXE, _billion_laughs(), EXTERNAL_DTD, CP1251_XXE, BOM_XXE],
                         ids=["xxe", "billion-laughs", "external-dtd", "cp1251-xxe", "bom-xxe"])
def test_unsafe_xml_rejected_before_anything_is_yielded(payload):
    got = []
    with pytest.raises(UnsafeXMLError) as exc:
        for rec in read(payload):
            got.append(rec)
    assert got == []
    assert "refused" in exc.value.reason
    assert isinstance(exc.value, PermanentError)  # the engine dead-letters it, no retry


def test_unsafe_member_in_zip_rejected(tmp_path):
    pkg = tmp_path / "p.zip"
    with zipfile.ZipFile(pkg, "w") as zf:
        zf.writestr("import.xml", _billion_laughs())
    with pytest.raises(UnsafeXMLError):
        for _, reader in open_any(pkg):
            list(reader)


def test_undeclared_entity_without_doctype_is_a_syntax_error():
    data = "<КоммерческаяИнформация ВерсияСхемы=\"2.08\"><Документ><Ид>&passwd;</Ид></Документ></КоммерческаяИнформация>"
    with pytest.raises(CommerceMLError):
        list(read(data.encode()))


def test_oversized_prolog_refused():
    data = b'<?xml version="1.0"?>\n' + b"<!-- " + b"x" * (2 << 20) + b" -->" + b"<a/>"
    with pytest.raises(UnsafeXMLError, match="prolog"):
        list(read(io.BytesIO(data)))


def test_utf16_refused():
    data = '<?xml version="1.0" encoding="UTF-16"?><КоммерческаяИнформация/>'.encode("utf-16")
    with pytest.raises(CommerceMLError, match="UTF-16"):
        list(read(data))


# ---- memory stays flat ----------------------------------------------------------------------------------------

def test_streaming_memory_is_flat(tmp_path):
    """60 000 offers (~130 MB) parse in a fresh interpreter under 120 MB peak RSS; a full in-memory tree of this
    file would need several hundred MB, so a reader that forgot to free elements fails here."""
    path = tmp_path / "offers.xml"
    script = textwrap.dedent(f"""
        import resource, json
        from b24sync.connectors.commerceml.synth import write_offers_file
        from b24sync.connectors.commerceml.reader import read
        from b24sync.connectors.commerceml.model import Offer
        size = write_offers_file({str(path)!r}, 60000)
        n = sum(1 for r in read({str(path)!r}) if isinstance(r, Offer))
        # VmHWM (peak RSS of this process image); getrusage's ru_maxrss survives execve and would report
        # the (larger) pytest parent's peak instead.
        hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
        rss = int(hwm[0].split()[1]) / 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({{"n": n, "size": size, "rss_mb": rss}}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    import json

    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["n"] == 60000
    assert res["size"] > 100_000_000
    assert res["rss_mb"] < 120, res


def test_offers_from_synthetic_file_are_exact(tmp_path):
    path = tmp_path / "o.xml"
    from b24sync.connectors.commerceml.synth import write_offers_file

    write_offers_file(path, 50, prices=2, warehouses=3, encoding="windows-1251", namespace=None)
    offers = [r for r in read(path) if isinstance(r, Offer)]
    assert len(offers) == 50
    assert offers[7].sku == "АРТ-00000007" and len(offers[7].prices) == 2 and len(offers[7].stocks) == 3
    assert str(offers[7].prices[1].value) == f"{100 + 7 + 10}.50"


HIDDEN_ENTITY = (b'<?xml version="1.0"?>\n<!DOCTYPE r [ <!-- ] > <a> --> <!ENTITY x SYSTEM "file:///etc/passwd"> ]>\n'
                 + "<КоммерческаяИнформация><Документ><Ид>&x;</Ид></Документ></КоммерческаяИнформация>".encode())
ELEMENT_ONLY_SUBSET = (b'<?xml version="1.0"?>\n<!DOCTYPE r [ <!ELEMENT r ANY> ]>\n'
                       + "<КоммерческаяИнформация ВерсияСхемы=\"2.08\"/>".encode())


def test_subset_tricks_cannot_hide_an_entity():
    with pytest.raises(UnsafeXMLError, match="entity"):
        list(read(HIDDEN_ENTITY))
    with pytest.raises(UnsafeXMLError, match="internal subset"):
        list(read(ELEMENT_ONLY_SUBSET))


def test_bare_doctype_is_harmless_and_accepted():
    data = ('<?xml version="1.0" encoding="UTF-8"?>\n<!-- 1C --><!DOCTYPE КоммерческаяИнформация>\n'
            '<КоммерческаяИнформация ВерсияСхемы="2.08"><Документ><Ид>7</Ид></Документ></КоммерческаяИнформация>')
    assert [d.id for d in read(data.encode())] == ["7"]


class _Trickle(io.RawIOBase):
    """Returns at most 7 bytes per read, like a slow socket."""

    def __init__(self, data):
        self._buf = io.BytesIO(data)

    def readable(self):
        return True

    def read(self, n=-1):
        return self._buf.read(7 if n is None or n < 0 else min(n, 7))


@pytest.mark.parametrize("payload", [XXE, _billion_laughs(), HIDDEN_ENTITY])
def test_short_reads_do_not_weaken_the_check(payload):
    with pytest.raises(UnsafeXMLError):
        list(read(_Trickle(payload)))


def test_short_reads_still_parse():
    assert list(read(_Trickle(OFFERS))) == list(read(OFFERS))

"""Hostile archives and requests at the CommerceML exchange (issue 11): zip bombs by ratio and by session total,
too many members, corrupt archives, garbage XML, garbage modes — every one answered ``failure`` with a reason
(never a 500), nothing left half-unpacked on disk, and a valid package in the same session still imports."""

from __future__ import annotations

import asyncio
import contextlib
import base64
import io
import zipfile
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from b24sync.connectors.commerceml.exchange import ExchangeHandlers, ExchangeSettings, create_exchange_router

SAMPLES = Path("/work/shared/samples/commerceml")
IMPORT = (SAMPLES / "01-import-2.07-utf8.xml").read_bytes()
URL = "/1c_exchange"


class Sink:
    def __init__(self) -> None:
        self.batches: list = []

    async def on_records(self, batch) -> None:
        self.batches.append(batch)


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method, compresslevel=9 if method == zipfile.ZIP_DEFLATED else None) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _files(d: Path) -> list[str]:
    return sorted(p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file())


@contextlib.asynccontextmanager
async def _session(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as c:
        r = await c.get(URL, params={"type": "catalog", "mode": "checkauth"},
                        headers={"Authorization": "Basic " + base64.b64encode(b"u:p").decode()})
        lines = r.text.split("\n")
        assert lines[0] == "success", r.text
        c.cookies.clear()
        hdr = {"Cookie": f"{lines[1]}={lines[2]}"}
        await c.get(URL, params={"type": "catalog", "mode": "init"}, headers=hdr)
        yield c, hdr


async def _upload_and_import(c, hdr, name: str, package: bytes, target: str) -> str:
    r = await c.post(URL, params={"type": "catalog", "mode": "file", "filename": name}, content=package, headers=hdr)
    assert r.status_code == 200 and r.text == "success", r.text
    for _ in range(200):
        r = await c.get(URL, params={"type": "catalog", "mode": "import", "filename": target}, headers=hdr)
        assert r.status_code == 200, r.text
        if not r.text.startswith("progress"):
            return r.text
    raise AssertionError("import never finished")


def _app(tmp_path: Path, **kw):
    sink = Sink()
    settings = ExchangeSettings(username="u", password="p", work_dir=tmp_path / "work", **kw)
    router = create_exchange_router(settings, ExchangeHandlers(on_records=sink.on_records))
    app = FastAPI()
    app.include_router(router)
    return app, router.exchange_server, sink


BOMBS = {
    # name: (package, settings) — each must be refused with nothing left on disk
    "ratio 1000x": (lambda: _zip({"import.xml": b"\0" * (32 * 1024 * 1024)}), {}),
    "good member then a bomb": (lambda: _zip({"import.xml": IMPORT, "z/big.bin": b"\0" * (32 * 1024 * 1024)}), {}),
    "over the session total": (lambda: _zip({"import.xml": IMPORT, "a.bin": bytes(range(256)) * 4096}),
                               {"max_unzipped_bytes": 512 * 1024}),
    "too many members": (lambda: _zip({f"f{i}.txt": b"x" for i in range(300)}), {"max_zip_members": 100}),
    "corrupt after the signature": (lambda: b"PK\x03\x04" + b"\x00garbage" * 100, {}),
    "truncated archive": (lambda: _zip({"import.xml": IMPORT})[:-40], {}),
    "symlink member": (lambda: _symlink_zip(), {}),
    "absolute member": (lambda: _zip({"/etc/x.xml": IMPORT}), {}),
    "traversal member": (lambda: _zip({"../../x.xml": IMPORT}), {}),
}


def _symlink_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("import.xml")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


@pytest.mark.parametrize("name", list(BOMBS))
def test_hostile_archive_refused_nothing_left_and_a_good_package_still_imports(tmp_path, name):
    make, kw = BOMBS[name]
    app, server, sink = _app(tmp_path, **kw)
    package = make()

    async def go():
        async with _session(app) as (c, hdr):
            bad = await _upload_and_import(c, hdr, "bomb.zip", package, "import.xml")
            d = next(iter(server.sessions.values())).directory
            left = _files(d)
            good = await _upload_and_import(c, hdr, "good.zip", _zip({"import.xml": IMPORT}), "import.xml")
            return bad, left, good

    bad, left, good = asyncio.run(go())
    assert bad.startswith("failure\n") and len(bad.split("\n", 1)[1]) > 5, bad
    assert left == [], left  # no partial output, no archive
    assert good == "success"
    assert sink.batches and sink.batches[-1].last


def test_default_caps_refuse_a_1000x_bomb_and_keep_honest_ratios(tmp_path):
    s = ExchangeSettings(username="u", password="p", work_dir=tmp_path)
    assert s.max_zip_ratio <= 200 and s.max_unzipped_bytes <= 4 * 1024**3
    app, server, _ = _app(tmp_path)
    filler = "".join(f"<Товар><Ид>{i:08d}-ab</Ид><Наименование>Товар {i}</Наименование></Товар>\n"
                     for i in range(60_000)).encode()
    honest = _zip({"import.xml": IMPORT, "import_files/catalog.txt": filler})  # XML deflates ~10-30x: must pass
    assert 5 < len(filler) / len(honest) < s.max_zip_ratio

    async def go():
        async with _session(app) as (c, hdr):
            return await _upload_and_import(c, hdr, "p.zip", honest, "import.xml")

    assert asyncio.run(go()) == "success"


@pytest.mark.parametrize("params,body", [
    ({"type": "catalog", "mode": "import", "filename": "nothing.xml"}, b""),
    ({"type": "catalog", "mode": "file", "filename": ""}, b"x"),
    ({"type": "catalog", "mode": "file", "filename": "\x00.xml"}, b"x"),
    ({"type": "catalog", "mode": "file", "filename": "a" * 5000 + ".xml"}, b"x"),
    ({"type": "catalog", "mode": "bogus"}, b""),
    ({"type": "bogus", "mode": "init"}, b""),
    ({"type": "sale", "mode": "file", "filename": "../x.xml"}, b"x"),
])
def test_garbage_requests_are_failures_not_500(tmp_path, params, body):
    app, server, sink = _app(tmp_path)

    async def go():
        async with _session(app) as (c, hdr):
            return await c.post(URL, params=params, content=body, headers=hdr)

    r = asyncio.run(go())
    assert r.status_code == 200 and r.text.startswith("failure\n"), r.text
    assert sink.batches == []


@pytest.mark.parametrize("xml", [
    b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaa'><!ENTITY b '&a;&a;&a;&a;'>]><x>&b;</x>",
    b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><x>&e;</x>",
    b"not xml at all",
    b"<?xml version='1.0'?>" + b"<a>" * 10000 + b"</a>" * 10000,
    b"<?xml version='1.0' encoding='utf-8'?><\xff\xfe/>",
    "<?xml version='1.0'?><КоммерческаяИнформация ВерсияСхемы='2.07'><Каталог>".encode(),
])
def test_garbage_xml_import_is_failure_not_500(tmp_path, xml):
    app, server, sink = _app(tmp_path)

    async def go():
        async with _session(app) as (c, hdr):
            return await _upload_and_import(c, hdr, "import.xml", xml, "import.xml")

    text = asyncio.run(go())
    assert text.startswith("failure\n"), text


def test_unauthenticated_upload_is_refused_and_writes_nothing(tmp_path):
    app, server, sink = _app(tmp_path)

    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as c:
            bad_auth = await c.get(URL, params={"type": "catalog", "mode": "checkauth"},
                                   headers={"Authorization": "Basic " + base64.b64encode(b"u:wrong").decode()})
            forged = await c.post(URL, params={"type": "catalog", "mode": "file", "filename": "import.xml"},
                                  content=IMPORT, headers={"Cookie": "b24sync_cml=forged"})
            return bad_auth, forged

    bad_auth, forged = asyncio.run(go())
    assert bad_auth.text.startswith("failure") and forged.text.startswith("failure")
    assert not list((tmp_path / "work").rglob("import.xml"))

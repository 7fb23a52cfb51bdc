"""File drop: stable-size rule, archive, reject with reason, retry; folder, FTP (fake ftplib client), S3 (fake
boto3-shaped client), and the CommerceML reader as the handler."""

from __future__ import annotations

import asyncio
import ftplib
import io
import posixpath
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from b24sync.connectors.commerceml import Offer, read
from b24sync.connectors.filedrop import FileDrop, FTPSource, LocalFolderSource, S3Source
from b24sync.engine.errors import PermanentError, RetryableError

SAMPLES = Path("/work/shared/samples/commerceml")
CLOCK = lambda: datetime(2026, 1, 15, 10, 0, 0, tzinfo=UTC)  # noqa: E731
STAMP = "20260115T100000000000Z_"


def run(coro):
    return asyncio.run(coro)


class Collect:
    def __init__(self):
        self.seen = {}

    def __call__(self, path: Path, name: str):
        self.seen[name] = [type(r).__name__ for r in read(path)]


def test_folder_archive_reject_and_stability(tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "offers.xml").write_bytes((SAMPLES / "02-offers-2.07-utf8.xml").read_bytes())
    (drop / "broken.xml").write_bytes(b"<?xml version='1.0'?><\xd0\x9a\xd0\xbe")
    (drop / "upload.xml.part").write_bytes(b"in progress")
    (drop / ".hidden.xml").write_bytes(b"x")
    handler = Collect()
    fd = FileDrop(LocalFolderSource(drop), handler, pattern="*.xml", clock=CLOCK)

    first = run(fd.poll_once())
    assert first.imported == [] and sorted(first.waiting) == ["broken.xml", "offers.xml"]
    (drop / "growing.xml").write_bytes(b"<?xml")  # appears now: must wait one more poll
    second = run(fd.poll_once())
    assert second.imported == ["offers.xml"]
    assert "XML error" in second.rejected["broken.xml"]
    assert second.waiting == ["growing.xml"]
    assert handler.seen["offers.xml"].count("Offer") == 5
    assert (drop / "archive" / f"{STAMP}offers.xml").exists() and not (drop / "offers.xml").exists()
    reason = (drop / "rejected" / f"{STAMP}broken.xml.reason.txt").read_text(encoding="utf-8")
    assert "broken.xml" in reason and "XML error" in reason
    assert (drop / "rejected" / f"{STAMP}broken.xml").exists()
    assert (drop / "upload.xml.part").exists() and (drop / ".hidden.xml").exists()  # never touched


def test_unstable_file_not_taken(tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    f = drop / "rests.xml"
    calls = []
    fd = FileDrop(LocalFolderSource(drop), lambda p, n: calls.append(n), clock=CLOCK)
    data = (SAMPLES / "08-rests-3.1-utf8.xml").read_bytes()
    for size in (100, 2000, 4000):  # still being written: grows between polls
        f.write_bytes(data[:size])
        assert run(fd.poll_once()).imported == []
    f.write_bytes(data)
    assert run(fd.poll_once()).imported == []  # changed again: one more poll
    assert run(fd.poll_once()).imported == ["rests.xml"]
    assert calls == ["rests.xml"]


def test_retryable_error_leaves_file_and_unsafe_xml_is_rejected(tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "a.xml").write_bytes((SAMPLES / "09-prices-3.1-utf8.xml").read_bytes())
    (drop / "xxe.xml").write_bytes(b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>')
    state = {"fail": True}
    imported = []

    async def handler(path, name):
        records = list(read(path))
        if name == "a.xml" and state["fail"]:
            raise RetryableError("Bitrix24 is rate-limiting")
        imported.append((name, sum(isinstance(r, Offer) for r in records)))

    fd = FileDrop(LocalFolderSource(drop), handler, clock=CLOCK)
    run(fd.poll_once())
    res = run(fd.poll_once())
    assert res.retry == {"a.xml": "Bitrix24 is rate-limiting"} and (drop / "a.xml").exists()
    assert "entity" in res.rejected["xxe.xml"] and imported == []
    state["fail"] = False
    assert run(fd.poll_once()).imported == ["a.xml"]
    assert imported == [("a.xml", 3)]


class FakeFTP:
    """In-memory stand-in for the ftplib.FTP methods FTPSource uses (MLSD, RETR, MKD, RNFR/RNTO, STOR)."""

    def __init__(self, files: dict[str, bytes], mlsd: bool = True):
        self.files = files
        self.dirs = {"/in"}
        self.has_mlsd = mlsd

    def __call__(self):
        return self

    def mlsd(self, path, facts=()):
        if not self.has_mlsd:
            raise ftplib.error_perm("500 MLSD not understood")
        for p, data in sorted(self.files.items()):
            if posixpath.dirname(p) == path:
                yield posixpath.basename(p), {"type": "file", "size": str(len(data)), "modify": "20260115"}
        for d in sorted(self.dirs):
            if posixpath.dirname(d) == path:
                yield posixpath.basename(d), {"type": "dir"}

    def voidcmd(self, cmd):
        if cmd.startswith("MDTM "):
            return "213 20260115100000"
        return "200 ok"

    def nlst(self, path):
        return [p for p in list(self.files) + list(self.dirs) if posixpath.dirname(p) == path]

    def size(self, path):
        if path in self.dirs:
            raise ftplib.error_perm("550 not a file")
        return len(self.files[path])

    def retrbinary(self, cmd, callback):
        callback(self.files[cmd[5:]])

    def mkd(self, path):
        if path in self.dirs:
            raise ftplib.error_perm("550 exists")
        self.dirs.add(path)

    def rename(self, a, b):
        assert posixpath.dirname(b) in self.dirs
        self.files[b] = self.files.pop(a)

    def storbinary(self, cmd, fh):
        self.files[cmd[5:]] = fh.read()

    def quit(self):
        pass

    def close(self):
        pass


@pytest.mark.parametrize("mlsd", [True, False], ids=["mlsd", "nlst-size-mdtm"])
def test_ftp_source(mlsd):
    fake = FakeFTP({"/in/offers.xml": (SAMPLES / "02-offers-2.07-utf8.xml").read_bytes(),
                    "/in/bad.xml": b"not xml at all"}, mlsd=mlsd)
    handler = Collect()
    fd = FileDrop(FTPSource(directory="/in", ftp_factory=fake), handler, clock=CLOCK)
    run(fd.poll_once())
    res = run(fd.poll_once())
    assert res.imported == ["offers.xml"] and "bad.xml" in res.rejected
    assert handler.seen["offers.xml"].count("Offer") == 5
    assert f"/in/archive/{STAMP}offers.xml" in fake.files
    assert f"/in/rejected/{STAMP}bad.xml" in fake.files
    assert fake.files[f"/in/rejected/{STAMP}bad.xml.reason.txt"].decode().strip() == res.rejected["bad.xml"]


class FakeS3:
    def __init__(self, objects):
        self.objects = dict(objects)

    def list_objects_v2(self, Bucket, Prefix, Delimiter, ContinuationToken=None):  # noqa: N803
        keys = sorted(k for k in self.objects if k.startswith(Prefix))
        start = int(ContinuationToken or 0)
        page = keys[start:start + 2]  # tiny pages to exercise pagination
        more = start + 2 < len(keys)
        return {"Contents": [{"Key": k, "Size": len(self.objects[k]), "ETag": str(hash(self.objects[k]))}
                             for k in page],
                "IsTruncated": more, "NextContinuationToken": str(start + 2) if more else None}

    def download_file(self, bucket, key, filename):
        Path(filename).write_bytes(self.objects[key])

    def copy_object(self, Bucket, Key, CopySource):  # noqa: N803
        self.objects[Key] = self.objects[CopySource["Key"]]

    def delete_object(self, Bucket, Key):  # noqa: N803
        del self.objects[Key]

    def put_object(self, Bucket, Key, Body):  # noqa: N803
        self.objects[Key] = Body


def test_s3_source_with_pluggable_client():
    s3 = FakeS3({"drop/1.xml": (SAMPLES / "08-rests-3.1-utf8.xml").read_bytes(),
                 "drop/2.xml": (SAMPLES / "09-prices-3.1-utf8.xml").read_bytes(),
                 "drop/3.xml": b"<broken",
                 "drop/archive/old.xml": b"old", "other/x.xml": b"x"})
    handler = Collect()
    fd = FileDrop(S3Source("bucket", "drop", client=s3), handler, clock=CLOCK)
    run(fd.poll_once())
    res = run(fd.poll_once())
    assert res.imported == ["1.xml", "2.xml"] and list(res.rejected) == ["3.xml"]
    assert f"drop/archive/{STAMP}1.xml" in s3.objects and "drop/1.xml" not in s3.objects
    assert s3.objects[f"drop/rejected/{STAMP}3.xml.reason.txt"].decode().strip() == res.rejected["3.xml"]
    assert "drop/archive/old.xml" in s3.objects and "other/x.xml" in s3.objects


def test_s3_without_boto3_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "boto3", None)  # make `import boto3` fail even if installed
    with pytest.raises(PermanentError, match="pip install boto3"):
        S3Source("bucket", "drop")


def test_run_loop_stops(tmp_path):
    drop = tmp_path / "d"
    drop.mkdir()
    (drop / "x.xml").write_bytes((SAMPLES / "09-prices-3.1-utf8.xml").read_bytes())
    got = []
    fd = FileDrop(LocalFolderSource(drop), lambda p, n: got.append(n))

    async def go():
        stop = asyncio.Event()
        task = asyncio.create_task(fd.run(0.01, stop))
        for _ in range(500):
            await asyncio.sleep(0.01)
            if got:
                break
        stop.set()
        await asyncio.wait_for(task, 2)

    run(go())
    assert got == ["x.xml"] and len(list((drop / "archive").iterdir())) == 1


def test_reason_from_io_error_is_kept(tmp_path):
    drop = tmp_path / "d"
    drop.mkdir()
    (drop / "y.xml").write_bytes(b"data")

    def handler(path, name):
        raise io.UnsupportedOperation("cannot read that")

    fd = FileDrop(LocalFolderSource(drop), handler, clock=CLOCK)
    run(fd.poll_once())
    res = run(fd.poll_once())
    assert res.rejected == {"y.xml": "UnsupportedOperation: cannot read that"}

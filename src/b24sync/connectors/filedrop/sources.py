"""Drop locations: local/network folder, FTP (stdlib ``ftplib``), S3 (``boto3``, optional)."""

from __future__ import annotations

import ftplib
import io
import os
import posixpath
from collections.abc import Callable
from pathlib import Path
from typing import Any

from b24sync.engine.errors import PermanentError

from b24sync.connectors.filedrop.core import DropEntry

ARCHIVE_DIR = "archive"
REJECTED_DIR = "rejected"


class LocalFolderSource:
    """A local or mounted network folder; ``archive/`` and ``rejected/`` are created inside it."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.description = f"folder {self.folder}"

    def list(self) -> list[DropEntry]:
        out = []
        with os.scandir(self.folder) as it:
            for entry in it:
                if entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    out.append(DropEntry(entry.name, st.st_size, st.st_mtime))
        return out

    def fetch(self, name: str, tmp_dir: Path) -> Path:
        return self.folder / name  # read in place; nothing to download

    def archive(self, name: str, archived_name: str) -> None:
        dest = self.folder / ARCHIVE_DIR
        dest.mkdir(exist_ok=True)
        os.replace(self.folder / name, dest / archived_name)

    def reject(self, name: str, rejected_name: str, reason: str) -> None:
        dest = self.folder / REJECTED_DIR
        dest.mkdir(exist_ok=True)
        os.replace(self.folder / name, dest / rejected_name)
        (dest / f"{rejected_name}.reason.txt").write_text(reason + "\n", encoding="utf-8")


class FTPSource:
    """An FTP directory (``ftplib``; FTPS with ``tls=True``). Connects per poll, so a dropped connection heals
    itself. ``ftp_factory`` lets tests (or special servers) supply the connected client."""

    def __init__(self, host: str = "", directory: str = "/", *, port: int = 21, user: str = "anonymous",
                 password: str = "", tls: bool = False, timeout: float = 60.0,
                 ftp_factory: Callable[[], Any] | None = None) -> None:
        self.directory = directory.rstrip("/") or "/"
        self.description = f"ftp {host}:{port}{self.directory}"
        self._factory = ftp_factory or self._connect
        self._args = (host, port, user, password, tls, timeout)

    def _connect(self) -> ftplib.FTP:
        host, port, user, password, tls, timeout = self._args
        ftp: ftplib.FTP = ftplib.FTP_TLS(timeout=timeout) if tls else ftplib.FTP(timeout=timeout)
        ftp.connect(host, port)
        ftp.login(user, password)
        if tls:
            ftp.prot_p()  # type: ignore[attr-defined]
        return ftp

    def _p(self, *parts: str) -> str:
        return posixpath.join(self.directory, *parts)

    def _with(self, fn: Callable[[Any], Any]) -> Any:
        ftp = self._factory()
        try:
            return fn(ftp)
        finally:
            try:
                ftp.quit()
            except Exception:  # noqa: BLE001
                ftp.close()

    def list(self) -> list[DropEntry]:
        def go(ftp: Any) -> list[DropEntry]:
            try:
                out = []
                for name, facts in ftp.mlsd(self.directory, facts=["type", "size", "modify"]):
                    if facts.get("type") == "file":
                        out.append(DropEntry(name, int(facts.get("size", 0)), facts.get("modify")))
                return out
            except ftplib.error_perm:  # no MLSD: NLST + SIZE + MDTM
                ftp.voidcmd("TYPE I")
                out = []
                for path in ftp.nlst(self.directory):
                    name = posixpath.basename(path)
                    try:
                        size = ftp.size(self._p(name))
                    except ftplib.error_perm:
                        continue  # a directory
                    try:
                        modify = ftp.voidcmd(f"MDTM {self._p(name)}").split()[-1]
                    except ftplib.error_perm:
                        modify = None
                    out.append(DropEntry(name, int(size or 0), modify))
                return out
        return self._with(go)

    def fetch(self, name: str, tmp_dir: Path) -> Path:
        dest = tmp_dir / name

        def go(ftp: Any) -> None:
            with open(dest, "wb") as fh:
                ftp.retrbinary(f"RETR {self._p(name)}", fh.write)
        self._with(go)
        return dest

    def _ensure_dir(self, ftp: Any, sub: str) -> None:
        try:
            ftp.mkd(self._p(sub))
        except ftplib.error_perm:
            pass  # exists

    def archive(self, name: str, archived_name: str) -> None:
        def go(ftp: Any) -> None:
            self._ensure_dir(ftp, ARCHIVE_DIR)
            ftp.rename(self._p(name), self._p(ARCHIVE_DIR, archived_name))
        self._with(go)

    def reject(self, name: str, rejected_name: str, reason: str) -> None:
        def go(ftp: Any) -> None:
            self._ensure_dir(ftp, REJECTED_DIR)
            ftp.rename(self._p(name), self._p(REJECTED_DIR, rejected_name))
            ftp.storbinary(f"STOR {self._p(REJECTED_DIR, rejected_name + '.reason.txt')}",
                           io.BytesIO((reason + "\n").encode("utf-8")))
        self._with(go)


class S3Source:
    """Objects under ``s3://bucket/prefix`` (no recursion). Needs ``pip install boto3`` unless ``client`` is
    given (any object with ``list_objects_v2``, ``download_file``, ``copy_object``, ``delete_object``,
    ``put_object`` — the boto3 S3 client interface). ``archive/``/``rejected/`` are sub-prefixes."""

    def __init__(self, bucket: str, prefix: str = "", *, client: Any | None = None, **client_kwargs: Any) -> None:
        if client is None:
            try:
                import boto3  # type: ignore[import-not-found]
            except ImportError:
                raise PermanentError("the S3 file drop needs boto3, which is not installed: pip install boto3") \
                    from None
            client = boto3.client("s3", **client_kwargs)
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.description = f"s3://{bucket}/{self.prefix}"

    def list(self) -> list[DropEntry]:
        out = []
        token = None
        while True:
            kwargs = {"Bucket": self.bucket, "Prefix": self.prefix, "Delimiter": "/"}
            if token:
                kwargs["ContinuationToken"] = token
            page = self.client.list_objects_v2(**kwargs)
            for obj in page.get("Contents", []):
                name = obj["Key"][len(self.prefix):]
                if name and "/" not in name:
                    out.append(DropEntry(name, int(obj.get("Size", 0)), obj.get("ETag")))
            if not page.get("IsTruncated"):
                return out
            token = page.get("NextContinuationToken")

    def fetch(self, name: str, tmp_dir: Path) -> Path:
        dest = tmp_dir / name
        self.client.download_file(self.bucket, self.prefix + name, str(dest))
        return dest

    def _move(self, name: str, new_key: str) -> None:
        self.client.copy_object(Bucket=self.bucket, Key=new_key,
                                CopySource={"Bucket": self.bucket, "Key": self.prefix + name})
        self.client.delete_object(Bucket=self.bucket, Key=self.prefix + name)

    def archive(self, name: str, archived_name: str) -> None:
        self._move(name, f"{self.prefix}{ARCHIVE_DIR}/{archived_name}")

    def reject(self, name: str, rejected_name: str, reason: str) -> None:
        self._move(name, f"{self.prefix}{REJECTED_DIR}/{rejected_name}")
        self.client.put_object(Bucket=self.bucket, Key=f"{self.prefix}{REJECTED_DIR}/{rejected_name}.reason.txt",
                               Body=(reason + "\n").encode("utf-8"))

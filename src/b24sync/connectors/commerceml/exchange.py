"""The site side of 1C's CommerceML HTTP exchange ("Обмен с сайтом"): 1C is the client, we are the server.

Protocol per the fact sheet /work/shared/research/erp-side.md §3.4 ([BX-DATA2SITE], [BX-DOCFROMSITE], [WC1C])
and the sandbox checklist §12.2:

=====================================  ==================================================================
request (GET/POST ``?type=…&mode=…``)  answer (text/plain, ``\\n``-separated)
=====================================  ==================================================================
``checkauth`` + HTTP Basic             ``success\\n<cookie name>\\n<cookie value>`` [``\\nsessid=…\\ntimestamp=…``]
                                       or ``failure\\n<reason>``
``init`` (cookie)                      ``zip=yes|no\\nfile_limit=<bytes>``
``file&filename=…`` (POST body)        ``success``; chunks with the same name are appended, a chunk starting
                                       with ``<?xml`` starts the file again (§12.2)
``import&filename=…``                  ``progress`` (1C repeats the call) … ``success``, or ``failure\\n…``
``sale&query``                         orders XML (empty root when none)
``sale&success``                       ``success``; the orders of the last query are marked exported
=====================================  ==================================================================

``type=get_catalog`` and ``type=reference`` are not in the sheet's verified protocol (``reference`` is [L]) and
are answered with ``failure``. Every answer uses HTTP 200: 1C reads the body, not the status.

Safety: ``filename`` is never trusted (§3.4: Windows paths such as ``C:\\v8_8789_c.xml`` arrive, reduced to the
base name; ``..``, absolute paths and NUL are refused). Zip archives (``zip=yes``) are unpacked at the first
``import`` of the session with member-name checks, no symlinks, and caps on member count and unpacked bytes
(counted while copying, not trusted from the header). Uploads are capped per file and per session.

Imports run in steps bounded by ``step_seconds`` (the reason for the ``progress`` loop, §3.4 "Timeouts"); parsing
happens in a worker thread, records are handed to ``on_records`` in batches so the engine can enqueue them.
Sessions live in memory: a restart invalidates cookies and 1C simply starts a new exchange.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import inspect
import re
import secrets
import shutil
import stat
import time
import zipfile
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import Response

from b24sync.connectors.commerceml.model import Document, FileInfo, Record
from b24sync.connectors.commerceml.orders import write_documents
from b24sync.connectors.commerceml.reader import CommerceMLReader
from b24sync.connectors.commerceml.safety import CommerceMLError

_MAYBE = Awaitable[None] | None


@dataclass(slots=True)
class ImportBatch:
    """A slice of records from one file of one exchange session, in file order."""

    session_id: str
    exchange_type: str  # "catalog" | "sale"
    filename: str  # relative name inside the session directory
    info: FileInfo | None
    records: list[Record]
    first: bool  # first batch of this file
    last: bool  # the file is complete after this batch


@dataclass(slots=True)
class ExchangeHandlers:
    """Callbacks supplied by the flows. Each may be sync or async.

    * ``on_records(batch)`` — receive parsed records (catalog data, or documents 1C posts back on ``sale``).
      Raise to fail the import (1C gets ``failure`` and the text of the error).
    * ``get_orders()`` → list of :class:`Document` — orders not yet exported; must return the *same* orders again
      until ``on_orders_exported`` confirms them (re-query after a missing ``success``, §12.2).
    * ``on_orders_exported(order_ids)`` — 1C confirmed the last query (``mode=success``).
    """

    on_records: Callable[[ImportBatch], _MAYBE]
    get_orders: Callable[[], Any] | None = None
    on_orders_exported: Callable[[list[str]], _MAYBE] | None = None


@dataclass(slots=True)
class ExchangeSettings:
    username: str
    password: str  # take it from the environment; never logged
    work_dir: Path
    cookie_name: str = "b24sync_cml"
    zip_enabled: bool = True
    file_limit: int = 8 * 1024 * 1024  # advertised in init: 1C splits larger files into chunks of this size
    max_file_bytes: int = 4 * 1024**3
    max_session_bytes: int = 8 * 1024**3
    # Zip bombs (issue 11): what one session's archives may expand to, and how far one archive may expand relative to
    # its own size. CommerceML XML deflates 5-20x, pictures barely; 1 MiB turning into 1 GiB (1000x) is a bomb.
    max_unzipped_bytes: int = 2 * 1024**3
    max_zip_ratio: float = 100.0
    max_zip_members: int = 200_000
    step_seconds: float = 10.0  # time budget of one mode=import call before answering "progress"
    batch_size: int = 1000
    session_ttl_seconds: float = 6 * 3600
    bitrix_lines: bool = False  # add "sessid=…" and "timestamp=…" lines to checkauth (newer Bitrix, §3.4)
    orders_version: str = "2.08"  # used when 1C's init did not say ``version=``
    orders_encoding: str = "utf-8"


@dataclass
class _Job:
    reader: CommerceMLReader
    iterator: Iterator[Record]
    done: int = 0
    started: bool = False


@dataclass
class _Session:
    id: str
    directory: Path
    created: float
    exchange_type: str
    version: str | None = None
    sessid: str = ""
    bytes_received: int = 0
    bytes_unzipped: int = 0
    seen_files: set[str] = field(default_factory=set)
    pending_zips: set[str] = field(default_factory=set)  # uploaded archives not unpacked yet
    jobs: dict[str, _Job] = field(default_factory=dict)
    last_query_ids: list[str] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class ExchangeError(Exception):
    """A protocol-level refusal; its message becomes the second line of ``failure``."""


_BOM = b"\xef\xbb\xbf"
_DRIVE_RE = re.compile(r"^[A-Za-z]:/")


def safe_relative_name(filename: str | None) -> str:
    """Validate the ``filename`` parameter and return a safe relative POSIX path.

    Windows absolute paths (``C:\\dir\\x.xml``) are reduced to their base name (1C sends them, §3.4); relative
    sub-paths such as ``import_files/9d/x.jpg`` are kept; ``..``, absolute POSIX paths, NUL and empty names are
    refused.
    """
    if not filename:
        raise ExchangeError("не указан filename")
    name = filename.replace("\\", "/")
    if "\x00" in name:
        raise ExchangeError("недопустимое имя файла")
    if _DRIVE_RE.match(name):
        name = name.rsplit("/", 1)[-1]
    if name.startswith("/"):
        raise ExchangeError(f"недопустимое имя файла (абсолютный путь): {filename}")
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        raise ExchangeError(f"недопустимое имя файла: {filename}")
    return "/".join(parts)


def _inside(base: Path, rel: str) -> Path:
    target = (base / rel).resolve()
    if target != base.resolve() and base.resolve() not in target.parents:
        raise ExchangeError(f"недопустимое имя файла: {rel}")
    return target


async def _call(fn: Callable[..., Any], *args: Any) -> Any:
    result = fn(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


def _answer(*lines: str) -> Response:
    return Response("\n".join(lines), media_type="text/plain; charset=utf-8")


def _pull(iterator: Iterator[Record], limit: int) -> tuple[list[Record], bool]:
    out: list[Record] = []
    for rec in iterator:
        out.append(rec)
        if len(out) >= limit:
            return out, False
    return out, True


class ExchangeServer:
    """State and logic behind the router; exposed for tests and for the server to inspect sessions."""

    def __init__(self, settings: ExchangeSettings, handlers: ExchangeHandlers) -> None:
        self.settings = settings
        self.handlers = handlers
        self.sessions: dict[str, _Session] = {}
        settings.work_dir.mkdir(parents=True, exist_ok=True)

    # ---- helpers -------------------------------------------------------------------------------------------
    def _expire(self) -> None:
        now = time.monotonic()
        for sid, sess in list(self.sessions.items()):
            if now - sess.created > self.settings.session_ttl_seconds:
                self.sessions.pop(sid, None)
                shutil.rmtree(sess.directory, ignore_errors=True)

    def _check_basic(self, header: str | None) -> bool:
        if not header or not header.lower().startswith("basic "):
            return False
        try:
            raw = base64.b64decode(header[6:].strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        for enc in ("utf-8", "cp1251"):  # 1C may send a Cyrillic login in either
            try:
                user, sep, pwd = raw.decode(enc).partition(":")
            except UnicodeDecodeError:
                continue
            if sep:
                ok_user = hmac.compare_digest(user.encode(), self.settings.username.encode())
                ok_pwd = hmac.compare_digest(pwd.encode(), self.settings.password.encode())
                return ok_user and ok_pwd
        return False

    def _session(self, request: Request) -> _Session:
        value = request.cookies.get(self.settings.cookie_name)
        sess = self.sessions.get(value or "")
        if sess is None or time.monotonic() - sess.created > self.settings.session_ttl_seconds:
            raise ExchangeError("не авторизован: сначала mode=checkauth")
        return sess

    # ---- modes ---------------------------------------------------------------------------------------------
    def checkauth(self, request: Request, exchange_type: str) -> Response:
        self._expire()
        if not self._check_basic(request.headers.get("authorization")):
            return _answer("failure", "неверное имя пользователя или пароль")
        sid = secrets.token_hex(16)
        directory = self.settings.work_dir / sid
        directory.mkdir(parents=True, exist_ok=True)
        sess = _Session(id=sid, directory=directory, created=time.monotonic(), exchange_type=exchange_type,
                        sessid=secrets.token_hex(16))
        self.sessions[sid] = sess
        lines = ["success", self.settings.cookie_name, sid]
        if self.settings.bitrix_lines:
            lines += [f"sessid={sess.sessid}", f"timestamp={int(time.time())}"]
        resp = _answer(*lines)
        resp.set_cookie(self.settings.cookie_name, sid, httponly=True)
        return resp

    def init(self, sess: _Session, request: Request) -> Response:
        # A new exchange in this session starts from an empty directory.
        for child in sess.directory.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
        sess.seen_files.clear()
        sess.pending_zips.clear()
        sess.jobs.clear()
        sess.bytes_received = 0
        sess.version = request.query_params.get("version") or sess.version
        return _answer(f"zip={'yes' if self.settings.zip_enabled else 'no'}",
                       f"file_limit={self.settings.file_limit}")

    async def upload(self, sess: _Session, request: Request) -> Response:
        rel = safe_relative_name(request.query_params.get("filename"))
        target = _inside(sess.directory, rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        first_chunk = True
        size = target.stat().st_size if target.exists() else 0
        fh = None
        try:
            async for chunk in request.stream():
                if not chunk:
                    continue
                if fh is None:
                    body = chunk[3:] if chunk.startswith(_BOM) else chunk
                    restart = first_chunk and body.startswith(b"<?xml")
                    if restart and rel in sess.seen_files and size <= len(_BOM) \
                            and _BOM.startswith(target.read_bytes()):
                        restart = False  # the previous chunk ended inside/after the BOM: this continues it
                    fresh = rel not in sess.seen_files or restart
                    if fresh:
                        size = 0
                        if chunk.startswith(b"PK\x03\x04"):
                            sess.pending_zips.add(rel)
                        else:
                            sess.pending_zips.discard(rel)
                    fh = open(target, "wb" if fresh else "ab")  # noqa: SIM115
                    sess.seen_files.add(rel)
                    sess.jobs.pop(rel, None)
                first_chunk = False
                size += len(chunk)
                sess.bytes_received += len(chunk)
                if size > self.settings.max_file_bytes:
                    raise ExchangeError(f"файл {rel} больше допустимого ({self.settings.max_file_bytes} байт)")
                if sess.bytes_received > self.settings.max_session_bytes:
                    raise ExchangeError("превышен объём данных сеанса обмена")
                await anyio.to_thread.run_sync(fh.write, chunk)
        except ExchangeError:
            if fh is not None:
                fh.close()
                target.unlink(missing_ok=True)
            raise
        finally:
            if fh is not None and not fh.closed:
                fh.close()
        if fh is None:
            if rel not in sess.seen_files:  # an empty first POST still creates the (empty) file
                target.write_bytes(b"")
                sess.seen_files.add(rel)
        return _answer("success")

    def _unpack_zips(self, sess: _Session) -> None:
        """Unpack every archive uploaded in this session (first chunk starting with the zip signature), safely,
        then delete the archives. Refused (and everything this archive had written deleted): more members than
        ``max_zip_members``, a symlink or an unsafe name, more than ``max_unzipped_bytes`` in the session (declared
        sizes checked before a byte is written, actual bytes counted while writing since headers can lie), or an
        expansion beyond ``max_zip_ratio`` times the archive's size."""
        for rel_zip in sorted(sess.pending_zips):
            sess.pending_zips.discard(rel_zip)
            archive = _inside(sess.directory, rel_zip)
            if not archive.is_file():
                continue
            written: list[tuple[str, Path]] = []
            budget = min(self.settings.max_unzipped_bytes - sess.bytes_unzipped,
                         int(self.settings.max_zip_ratio * max(archive.stat().st_size, 1)) + (1 << 16))
            total = 0
            try:
                with zipfile.ZipFile(archive) as zf:
                    infos = zf.infolist()
                    if len(infos) > self.settings.max_zip_members:
                        raise ExchangeError(f"в архиве слишком много файлов ({len(infos)})")
                    if sum(i.file_size for i in infos) > budget:
                        raise ExchangeError(f"архив {archive.name} распаковывается в слишком большой объём "
                                            f"(больше {budget} байт)")
                    for info in infos:
                        if stat.S_ISLNK(info.external_attr >> 16):
                            raise ExchangeError(f"архив содержит символическую ссылку: {info.filename}")
                        rel = safe_relative_name(info.filename)
                        if info.is_dir():
                            continue
                        dest = _inside(sess.directory, rel)
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        written.append((rel, dest))
                        with zf.open(info) as src, open(dest, "wb") as out:
                            while block := src.read(1 << 20):
                                total += len(block)
                                if total > budget:
                                    raise ExchangeError(f"архив {archive.name} распаковывается в слишком большой "
                                                        f"объём (больше {budget} байт)")
                                out.write(block)
                        sess.seen_files.add(rel)
                sess.bytes_unzipped += total
            except BaseException as exc:
                for rel, dest in written:  # no partial output stays on disk
                    dest.unlink(missing_ok=True)
                    sess.seen_files.discard(rel)
                if isinstance(exc, zipfile.BadZipFile):
                    raise ExchangeError(f"повреждённый архив {archive.name}: {exc}") from None
                if isinstance(exc, (zipfile.LargeZipFile, NotImplementedError, RuntimeError, EOFError)):
                    raise ExchangeError(f"архив {archive.name} не читается: {exc}") from None
                raise
            finally:
                archive.unlink(missing_ok=True)
                sess.seen_files.discard(archive.relative_to(sess.directory).as_posix())

    def _locate(self, sess: _Session, rel: str) -> Path:
        path = _inside(sess.directory, rel)
        if path.is_file():
            return path
        # 1C packages may nest files (webdata/…/import___….xml) while import names only the file.
        matches = [p for p in sess.directory.rglob(PurePosixPath(rel).name) if p.is_file()]
        if len(matches) == 1:
            return matches[0]
        raise ExchangeError(f"файл для импорта не найден: {rel}")

    async def import_step(self, sess: _Session, request: Request, exchange_type: str) -> Response:
        rel = safe_relative_name(request.query_params.get("filename"))
        job = sess.jobs.get(rel)
        if job is None:
            await anyio.to_thread.run_sync(self._unpack_zips, sess)
            path = self._locate(sess, rel)
            if path.stat().st_size == 0:
                raise ExchangeError("файл для импорта пуст")
            reader = await anyio.to_thread.run_sync(lambda: CommerceMLReader(path, name=rel))
            job = _Job(reader=reader, iterator=iter(reader))
            sess.jobs[rel] = job
        deadline = time.monotonic() + self.settings.step_seconds
        try:
            while True:
                records, finished = await anyio.to_thread.run_sync(_pull, job.iterator, self.settings.batch_size)
                if records or finished:
                    batch = ImportBatch(session_id=sess.id, exchange_type=exchange_type, filename=rel,
                                        info=job.reader.info, records=records, first=not job.started,
                                        last=finished)
                    job.started = True
                    job.done += len(records)
                    await _call(self.handlers.on_records, batch)
                if finished:
                    sess.jobs.pop(rel, None)
                    return _answer("success")
                if time.monotonic() >= deadline:
                    return _answer("progress")
        except BaseException:
            sess.jobs.pop(rel, None)
            job.reader.close()
            raise

    async def query(self, sess: _Session) -> Response:
        docs: list[Document] = []
        if self.handlers.get_orders is not None:
            docs = list(await _call(self.handlers.get_orders) or [])
        version = sess.version if sess.version in ("2.03", "2.04", "2.05", "2.06", "2.07", "2.08", "2.09",
                                                   "2.10") else self.settings.orders_version
        body = write_documents(docs, version=version, encoding=self.settings.orders_encoding)
        sess.last_query_ids = [d.id for d in docs]
        charset = "windows-1251" if "1251" in self.settings.orders_encoding else "utf-8"
        return Response(body, media_type=f"application/xml; charset={charset}")

    async def sale_success(self, sess: _Session) -> Response:
        ids, sess.last_query_ids = sess.last_query_ids, []
        if ids and self.handlers.on_orders_exported is not None:
            await _call(self.handlers.on_orders_exported, ids)
        return _answer("success")

    # ---- dispatcher ----------------------------------------------------------------------------------------
    async def handle(self, request: Request) -> Response:
        exchange_type = request.query_params.get("type", "")
        mode = request.query_params.get("mode", "")
        if exchange_type not in ("catalog", "sale"):
            return _answer("failure", f"тип обмена не поддерживается: {exchange_type or '(пусто)'}")
        try:
            if mode == "checkauth":
                return self.checkauth(request, exchange_type)
            sess = self._session(request)
            async with sess.lock:
                if mode == "init":
                    return self.init(sess, request)
                if mode == "file":
                    if request.method != "POST":
                        raise ExchangeError("mode=file ожидает POST")
                    return await self.upload(sess, request)
                if mode == "import":
                    return await self.import_step(sess, request, exchange_type)
                if exchange_type == "sale" and mode == "query":
                    return await self.query(sess)
                if exchange_type == "sale" and mode == "success":
                    return await self.sale_success(sess)
            return _answer("failure", f"режим не поддерживается: {mode or '(пусто)'}")
        except ExchangeError as exc:
            return _answer("failure", str(exc))
        except CommerceMLError as exc:
            return _answer("failure", exc.reason)
        except Exception as exc:  # the callback failed: 1C must see failure, not a free-text 500 (§3.4)
            return _answer("failure", f"{type(exc).__name__}: {exc}")


def create_exchange_router(settings: ExchangeSettings, handlers: ExchangeHandlers, *,
                           path: str = "/1c_exchange") -> APIRouter:
    """FastAPI router answering 1C on ``path`` (GET and POST). ``router.exchange_server`` is the state object."""
    server = ExchangeServer(settings, handlers)
    router = APIRouter()

    async def endpoint(request: Request) -> Response:
        return await server.handle(request)

    router.add_api_route(path, endpoint, methods=["GET", "POST"], include_in_schema=False)
    router.exchange_server = server  # type: ignore[attr-defined]
    return router

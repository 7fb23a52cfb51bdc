"""``FaultProxy``: an HTTP/1.1 reverse proxy that, on a configurable share of *writes*, lets the request reach the
upstream and be applied, then loses the answer — the failure a create must survive without a duplicate (issue 13).

Ways an answer is lost (``LOSS_KINDS``), as seen behind real load balancers and gateways:

* ``close``   the upstream answered; the proxy closes the connection without a byte of the answer;
* ``reset``   the same, with a TCP RST (``SO_LINGER`` 0) — the client sees "connection reset by peer";
* ``partial`` the status line and half the body, then the connection closes;
* ``504``     an HTML "504 Gateway Time-out" page after the upstream applied the write (nginx's answer when the
              upstream is slower than ``proxy_read_timeout``).

A *write* is any non-GET request except the ones that only read: Bitrix24 REST reads (``*.list``, ``*.get``,
``*.fields``…, a ``batch`` of only such commands; bitrix24-rest.md §2.1, §4) and the 1C exchange-plan read
``SelectChanges`` (erp-side.md §1.13). The proxy is its own reading of those rules: it imports no connector.
Decisions come from one seeded ``random.Random``, so a run can be repeated.
"""

from __future__ import annotations

import asyncio
import random
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

import httpx

LOSS_KINDS = ("close", "reset", "partial", "504")
_READ_VERBS = {"get", "list", "fields", "getfields", "current", "info", "time", "types", "getlist", "search"}
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "te", "trailer",
        "upgrade", "proxy-connection", "host"}
_METHOD_IN_PATH = re.compile(r"/([a-z0-9_]+(?:\.[a-z0-9_]+)+)$", re.I)
_CMD = re.compile(rb"([a-z0-9_]+(?:\.[a-z0-9_]+)+)\?", re.I)


def _rest_read(method: str) -> bool:
    m = method.lower()
    if m == "event.offline.get":
        return False  # reads and clears (bitrix24-rest.md §7.6)
    verb = m.rsplit(".", 1)[-1]
    return verb in _READ_VERBS or (verb.startswith("get") and "." in m) or m in {"profile", "methods", "scope"}


def is_write(method: str, path: str, body: bytes) -> bool:
    """Whether a request may change the upstream (so losing its answer is the dangerous case)."""
    if method.upper() in ("GET", "HEAD", "OPTIONS"):
        return False
    if "SelectChanges" in unquote_to_bytes(path).decode("utf-8", "replace"):
        return False
    bare = path.split("?", 1)[0].rstrip("/")
    bare = bare[:-5] if bare.lower().endswith(".json") else bare
    m = _METHOD_IN_PATH.search(bare)
    name = m.group(1) if m else bare.rsplit("/", 1)[-1]
    if name.lower() == "batch":
        cmds = {c.decode() for c in _CMD.findall(unquote_to_bytes(body))}
        return not cmds or not all(_rest_read(c) for c in cmds)
    if m:
        return not _rest_read(name)
    return True


@dataclass
class ProxyStats:
    requests: int = 0
    writes: int = 0
    lost: dict[str, int] = field(default_factory=dict)

    @property
    def lost_total(self) -> int:
        return sum(self.lost.values())


class FaultProxy:
    def __init__(self, upstream: str, *, lose_rate: float = 0.0, kinds: tuple[str, ...] = LOSS_KINDS,
                 seed: int | None = None, even: bool = False) -> None:
        """``even``: lose exactly ``lose_rate`` of the writes (every 1/rate-th, from a random phase) instead of
        each write independently with that probability — a test that needs "≥ 5 % lost" cannot then be unlucky."""
        bad = [k for k in kinds if k not in LOSS_KINDS]
        if bad:
            raise ValueError(f"unknown loss kinds {bad}; known: {', '.join(LOSS_KINDS)}")
        self.upstream = upstream.rstrip("/")
        self.lose_rate = lose_rate
        self.kinds = tuple(kinds)
        self.rng = random.Random(seed)
        self.even = even
        self._acc = self.rng.random()
        self.stats = ProxyStats()
        self.port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._lock = threading.Lock()

    # ---- lifecycle
    def url_for(self, upstream_url: str) -> str:
        """``upstream_url`` (a URL on the upstream) as seen through the proxy."""
        if not upstream_url.startswith(self.upstream):
            raise ValueError(f"{upstream_url} is not under the upstream {self.upstream}")
        return f"http://127.0.0.1:{self.port}" + upstream_url[len(self.upstream):]

    def start(self, port: int = 0, host: str = "127.0.0.1") -> str:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(256)
        self.port = sock.getsockname()[1]
        ready = threading.Event()

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._http = httpx.AsyncClient(timeout=120.0, limits=httpx.Limits(max_connections=200))
            self._server = self._loop.run_until_complete(asyncio.start_server(self._handle, sock=sock))
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, name="fault-proxy", daemon=True)
        self._thread.start()
        ready.wait(10)
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        if self._loop is None:
            return
        loop = self._loop

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            me = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not me]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._http.aclose()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None

    def __enter__(self) -> FaultProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- one connection, HTTP/1.1 keep-alive
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = [tuple(h.split(":", 1)) for h in lines[1:] if ":" in h]
                hdr = {k.strip().lower(): v.strip() for k, v in headers}
                body = b""
                if hdr.get("transfer-encoding", "").lower() == "chunked":
                    body = await _read_chunked(reader)
                elif hdr.get("content-length"):
                    body = await reader.readexactly(int(hdr["content-length"]))
                if not await self._exchange(writer, method, target, headers, body):
                    return
                if hdr.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            if not writer.is_closing():
                writer.close()

    async def _exchange(self, writer: asyncio.StreamWriter, method: str, target: str,
                        headers: list[tuple[str, ...]], body: bytes) -> bool:
        write = is_write(method, target, body)
        with self._lock:
            self.stats.requests += 1
            self.stats.writes += write
            loss = None
            if write and self.kinds and self.lose_rate > 0:
                if self.even:
                    self._acc += self.lose_rate
                    hit = self._acc >= 1.0
                    self._acc -= 1.0 if hit else 0.0
                else:
                    hit = self.rng.random() < self.lose_rate
                loss = self.rng.choice(self.kinds) if hit else None
            if loss:
                self.stats.lost[loss] = self.stats.lost.get(loss, 0) + 1
        fwd = [(k.strip(), v.strip()) for k, v in headers if k.strip().lower() not in _HOP]
        try:
            resp = await self._http.request(method, self.upstream + target, headers=fwd, content=body)
        except httpx.HTTPError:
            writer.write(_raw(502, "Bad Gateway", [(b"Content-Type", b"text/html")], b"<html><h1>502</h1></html>"))
            await writer.drain()
            return True
        # The upstream applied it. Now the answer is delivered, or lost.
        out = [(k, v) for k, v in resp.headers.raw if k.decode("latin-1").lower() not in _HOP]
        raw = _raw(resp.status_code, resp.reason_phrase, out, resp.content)
        if loss is None:
            writer.write(raw)
            await writer.drain()
            return True
        if loss == "504":
            page = b"<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 Gateway Time-out" \
                   b"</h1></center><hr><center>nginx</center></body></html>"
            writer.write(_raw(504, "Gateway Time-out", [(b"Content-Type", b"text/html")], page))
            await writer.drain()
            return True
        if loss == "partial":
            writer.write(raw[: max(len(raw) - len(resp.content) // 2 - 1, 1)])
            await writer.drain()
        elif loss == "reset":
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()
        return False


def _raw(status: int, reason: str, headers: list[tuple[bytes, bytes]], body: bytes) -> bytes:
    """An HTTP/1.1 answer; header bytes pass through as the upstream sent them (1C sends UTF-8 in Location)."""
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())
    head = [f"HTTP/1.1 {status} {reason or 'OK'}".encode("latin-1")] + [k + b": " + v for k, v in headers]
    head += [f"Content-Length: {len(body)}".encode(), b"Connection: keep-alive", f"Date: {date}".encode()]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    out = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return bytes(out)
        out += await reader.readexactly(size)
        await reader.readexactly(2)

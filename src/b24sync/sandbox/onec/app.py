"""The ASGI application: 1C standard OData interface, sample HTTP services, auth and fault injection.

Every behaviour is per erp-side.md; section numbers are cited where a rule is encoded.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import random
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response

from b24sync.sandbox.onec import wire
from b24sync.sandbox.onec.odata_filter import FilterSyntaxError, UnknownField, compile_filter
from b24sync.sandbox.onec.schema import EntityDef, Field
from b24sync.sandbox.onec.store import ODataFault, Store, internal, not_found, segment_not_found


@dataclass
class UserSpec:
    password: str
    read_only: bool = False
    forbidden: set[str] = field(default_factory=set)


@dataclass
class Faults:
    """Fault injection (§12.1 "Fault injection"; cold start §1.11)."""

    fail_rate: float = 0.0
    read_fail_rate: float = 0.0  # share of GETs answered 500 (odata.error -1) or 503 (web server page)
    latency_ms: int = 0
    cold_start_ms: int = 0
    idle_reset_s: float = 0.0  # >0: a request after this much idle time is "cold" again
    virtual_table_latency_ms: int = 0  # §1.7: Balance/Turnovers are slow on real bases
    timeout_s: float = 30.0  # how long a forced "timeout" hangs
    retry_after_s: int = 5  # Retry-After of the web server's 503 page
    # The web server in front of 1C refuses a long query string before 1C sees it: IIS requestLimits/maxQueryString
    # (default 2048 → 404.15), Apache LimitRequestLine (8190 for the whole request line → 414). None = no limit.
    max_query_bytes: int | None = 8190
    forced: dict[str, list[list]] = field(default_factory=dict)  # target -> [[kind, remaining], ...]
    seed: int | None = None
    _last: float | None = None
    _rng: random.Random = field(default_factory=random.Random)

    def take_forced(self, target: str, method: str = "GET") -> str | None:
        for key in (target, "*"):
            queue = self.forced.get(key)
            if queue:
                kind, remaining = queue[0]
                if kind == "lost" and method == "GET":
                    continue  # only a write can lose its answer after being applied
                if remaining is not None:
                    queue[0][1] -= 1
                    if queue[0][1] <= 0:
                        queue.pop(0)
                return kind
        return None


class _Bad(Exception):
    pass


_SEG_SPLIT = re.compile(r"/")


def split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside quotes and parentheses."""
    out, buf, depth, quote = [], [], 0, False
    for ch in text:
        if ch == "'":
            quote = not quote
        elif not quote and ch == "(":
            depth += 1
        elif not quote and ch == ")":
            depth -= 1
        if ch == sep and depth == 0 and not quote:
            out.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    out.append("".join(buf))
    return out


def parse_literal(raw: str) -> Any:
    raw = raw.strip()
    m = re.fullmatch(r"guid'([^']*)'", raw)
    if m:
        try:
            return str(uuid.UUID(m.group(1)))
        except ValueError:
            raise ODataFault(400, "1", f"Не удалось разобрать строку '{m.group(1)}' как значение типа Edm.Guid!")
    m = re.fullmatch(r"datetime'([^']*)'", raw)
    if m:
        return m.group(1)
    if len(raw) >= 2 and raw[0] == "'" and raw[-1] == "'":
        return raw[1:-1].replace("''", "'")
    if raw in ("true", "false"):
        return raw == "true"
    try:
        return int(raw)
    except ValueError:
        try:
            return float(raw)
        except ValueError:
            return raw


def parse_args(text: str) -> dict[str, str]:
    """``Period=datetime'…',Condition='…'`` → raw values. Condition quotes may or may not be doubled
    (§1.7 shows ``guid''…''``; python-1c-odata sends them undoubled), so split on ``,Name=`` only."""
    out: dict[str, str] = {}
    if not text.strip():
        return out
    parts = re.split(r",(?=\s*[A-Za-z_А-Яа-яЁё][\wА-Яа-яЁё]*\s*=)", text)
    for part in parts:
        if "=" not in part:
            raise ODataFault(400, "14", "Ошибка разбора параметров функции")
        name, value = part.split("=", 1)
        out[name.strip()] = value.strip()
    return out


RAW_PLUS = "\x00"  # marks a '+' that stood unencoded in the raw query string


def unquote_condition(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == "'" and value[-1] == "'":
        value = value[1:-1].replace("''", "'")
    return value


class ODataService:
    def __init__(self, store: Store, *, base: str, users: dict[str, UserSpec], faults: Faults,
                 strict_writes: bool = False, inlinecount_ignores_paging: bool = False,
                 hs_handler: Callable | None = None, accept_plus: bool = False):
        self.store = store
        self.base = base
        self.users = users
        self.faults = faults
        self.strict_writes = strict_writes
        self.inlinecount_ignores_paging = inlinecount_ignores_paging
        self.hs_handler = hs_handler
        self.accept_plus = accept_plus
        self.request_log: list[tuple[str, str, int]] = []
        self._metadata_cache: str | None = None
        # (entity set, Ref_Key) -> changes a 1C user saves right after the next GET of that object is answered
        self.edits_after_read: dict[tuple[str, str], dict[str, Any]] = {}

    # ------------------------------------------------------------------ ASGI entry
    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        path: str = scope["path"]
        odata_prefix = f"/{self.base}/odata/standard.odata"
        hs_prefix = f"/{self.base}/hs/"
        target = "*"
        if path.startswith(odata_prefix):
            rest = path[len(odata_prefix):].lstrip("/")
            target = split_top(rest, "/")[0].split("(")[0] or "$service"
        await self._delays()
        kind = self.faults.take_forced(target, request.method)
        if kind is None and self.faults.fail_rate and self.faults._rng.random() < self.faults.fail_rate:
            kind = self.faults._rng.choice(["500", "503"])
        if (kind is None and self.faults.read_fail_rate and request.method == "GET"
                and self.faults._rng.random() < self.faults.read_fail_rate):
            kind = self.faults._rng.choice(["500", "503"])
        qs_len = len(scope.get("query_string", b""))
        if kind is None and self.faults.max_query_bytes is not None and qs_len > self.faults.max_query_bytes:
            resp = Response("<html><body><h1>HTTP Error 404.15 - Not Found</h1><p>The request filtering module is "
                            "configured to deny a request where the query string is too long.</p></body></html>",
                            status_code=404, media_type="text/html")
            self.request_log.append((request.method, path, 404))
            await resp(scope, receive, send)
            return
        if kind == "reset":
            # send headers promising a body and drop the connection mid-way
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")]})
            await send({"type": "http.response.body", "body": b'{"value": [', "more_body": True})
            raise ConnectionResetError("injected connection reset")
        if kind == "timeout":
            await asyncio.sleep(self.faults.timeout_s)
        fmt_json = self._wants_json(request)
        if kind in ("500", "503"):
            resp = self._fault_response(int(kind), fmt_json)

        else:
            try:
                if path.startswith(odata_prefix):
                    user = self._auth(request)
                    resp = await self._odata(request, path[len(odata_prefix):], user, fmt_json)
                elif path.startswith(hs_prefix) and self.hs_handler is not None:
                    user = self._auth(request)
                    resp = await self.hs_handler(request, path[len(hs_prefix):], user)
                else:
                    resp = Response("Not Found", status_code=404, media_type="text/plain")
            except _AuthFailed as exc:
                resp = exc.response
            except ODataFault as fault:
                resp = self.error(fault, fmt_json)
        self.request_log.append((request.method, path, resp.status_code))
        if kind == "lost":
            # the write is applied, the answer never arrives (a proxy died on the UTF-8 Location header,
            # document-flows.md E.8 [GATE-M2]): the connection closes before any byte of the response
            raise ConnectionResetError("injected: answer lost after the write was applied")
        await resp(scope, receive, send)

    async def _delays(self) -> None:
        f = self.faults
        now = time.monotonic()
        cold = f._last is None or (f.idle_reset_s and now - f._last > f.idle_reset_s)
        f._last = now
        delay = f.latency_ms / 1000
        if cold and f.cold_start_ms:
            delay += f.cold_start_ms / 1000  # §1.11: first request after idle takes 11–30+ s on real bases
        if delay:
            await asyncio.sleep(delay)

    def _fault_response(self, status: int, fmt_json: bool) -> Response:
        if status == 503:
            # what the web server in front of a restarting 1C answers: not an odata.error
            return Response("<html><body><h1>503 Service Unavailable</h1></body></html>", status_code=503,
                            media_type="text/html",
                            headers={"Retry-After": str(self.faults.retry_after_s)})
        return self.error(internal(), fmt_json)

    # ------------------------------------------------------------------ auth (§1.11)
    def _auth(self, request: Request) -> UserSpec:
        header = request.headers.get("authorization", "")
        if header[:6].lower() == "basic ":
            try:
                raw = base64.b64decode(header[6:].strip(), validate=True)
                text = raw.decode("utf-8")  # §1.11: UTF-8 only; cp1251 bytes fail here -> 401
            except (binascii.Error, UnicodeDecodeError, ValueError):
                raise _AuthFailed()
            login, _, password = text.partition(":")
            spec = self.users.get(login)
            if spec is not None and spec.password == password:
                return spec
        raise _AuthFailed()

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def query(request: Request) -> dict[str, str]:
        """Parse the raw query string with percent-decoding only (§1.2). A literal '+' in the raw query (a
        form-encoded space) is kept as the marker RAW_PLUS so $filter can refuse it, while an encoded %2B is a
        real plus sign and passes."""
        out: dict[str, str] = {}
        raw = request.scope.get("query_string", b"").decode("latin-1")
        for part in raw.split("&"):
            if not part:
                continue
            k, _, v = part.partition("=")
            key = unquote(k)
            out[key] = unquote(v.replace("+", RAW_PLUS)) if key == "$filter" else unquote(v)
        return out

    def _wants_json(self, request: Request) -> bool:
        q = self.query(request)
        fmt = q.get("$format", "").lower()
        if fmt:
            return fmt.startswith("json") or fmt.startswith("application/json")
        return "application/json" in request.headers.get("accept", "").lower()  # §12.1: JSON only on request

    def root_url(self, request: Request) -> str:
        return f"{request.url.scheme}://{request.url.netloc}/{self.base}/odata/standard.odata/"

    def error(self, fault: ODataFault, fmt_json: bool) -> Response:
        if fmt_json:
            return Response(json.dumps(wire.error_json(fault.code, fault.message), ensure_ascii=False),
                            status_code=fault.status, media_type=wire.JSON_CT)
        return Response(wire.error_xml(fault.code, fault.message), status_code=fault.status,
                        media_type=wire.XML_CT)

    def json_response(self, body: Any, status: int = 200, headers: list | None = None) -> Response:
        resp = Response(json.dumps(body, ensure_ascii=False), status_code=status, media_type=wire.JSON_CT)
        if headers:
            resp.raw_headers.extend(headers)
        return resp

    def _check_published(self, name: str) -> EntityDef:
        d = self.store.defs.get(name)
        if d is None or not self.store.is_published(name):
            # §1.12: unknown entity set -> 404, entity name echoed
            raise ODataFault(404, "9", f"Не найден ресурс: {name}")
        return d

    def _check_rights(self, user: UserSpec, name: str, write: bool) -> None:
        if name in user.forbidden or (write and user.read_only):
            raise ODataFault(403, "-1", f"Недостаточно прав для выполнения операции над {name}")

    # ------------------------------------------------------------------ routing
    async def _odata(self, request: Request, rest: str, user: UserSpec, fmt_json: bool) -> Response:
        rest = rest.lstrip("/")
        root = self.root_url(request)
        method = request.method.upper()
        q = self.query(request)
        if rest == "":
            names = [n for n in self._entity_set_names() if self.store.is_published(n)]
            if fmt_json:
                return self.json_response({"odata.metadata": root + "$metadata", "value": [
                    {"name": n, "url": n} for n in names]})
            return Response(wire.service_document(root, names), media_type="application/atomsvc+xml;charset=utf-8")
        if rest == "$metadata":
            if self._metadata_cache is None:
                defs = [d for d in self.store.defs.values() if self.store.is_published(d.name)]
                self._metadata_cache = wire.metadata_xml(defs)
            return Response(self._metadata_cache, media_type=wire.XML_CT)
        segs = split_top(rest, "/")
        head = segs[0]
        name, _, key_raw = head.partition("(")
        key_raw = key_raw[:-1] if key_raw.endswith(")") else key_raw
        if name in ("SelectChanges", "NotifyChangesReceived"):
            return self._exchange(request, name, key_raw, q, root, fmt_json)
        # tabular-section entity sets
        owner, tab = self._tabular_set(name)
        if owner is not None:
            self._check_rights(user, owner.name, method != "GET")
            if method == "POST":
                # §1.12 / §1.8: code 13, rows are written embedded in the owner only
                raise ODataFault(400, "13", "Создание строк табличной части напрямую не поддерживается")
            if method != "GET":
                raise ODataFault(400, "13", "Изменение строк табличной части напрямую не поддерживается")
            return self._get_tab_rows(request, owner, tab, q, root, fmt_json)
        record_type = name.endswith("_RecordType") and name[:-len("_RecordType")] in self.store.defs
        d = self._check_published(name[:-len("_RecordType")] if record_type else name)
        self._check_rights(user, d.name, method not in ("GET",) and not (len(segs) > 1 and segs[1].startswith(
            ("Balance", "Turnovers", "SliceLast", "SliceFirst"))))
        if len(segs) > 1:
            return await self._sub_resource(request, d, head, key_raw if "(" in head else None, segs[1:], q, root,
                                            fmt_json, method)
        if "(" in head:
            return await self._entity(request, d, key_raw, q, root, fmt_json, method, record_type)
        if method == "GET":
            return self._collection(request, d, q, root, fmt_json, record_type)
        if method == "POST":
            return await self._create(request, d, q, root, fmt_json)
        raise ODataFault(405, "-1", "Метод не поддерживается")

    def _entity_set_names(self) -> list[str]:
        names = []
        for d in self.store.defs.values():
            names.append(d.name)
            names += [f"{d.name}_{t.name}" for t in d.tabular]
            if d.recorder_types:
                names.append(f"{d.name}_RecordType")
        return names

    def _tabular_set(self, name: str) -> tuple[EntityDef | None, Any]:
        for d in self.store.defs.values():
            if d.tabular and name.startswith(d.name + "_"):
                t = d.tab(name[len(d.name) + 1:])
                if t is not None and self.store.is_published(d.name):
                    return d, t
        return None, None

    # ------------------------------------------------------------------ reading
    def _resolver(self, d: EntityDef | None) -> tuple[Callable, Callable]:
        store = self.store

        def check(path: list[str]) -> None:
            if d is None:
                return
            cur = d
            for i, seg in enumerate(path):
                f = cur.field(seg) or cur.field(seg + "_Key")
                if f is None:
                    raise UnknownField(seg)
                if i < len(path) - 1:
                    if not f.ref or f.ref not in store.defs:
                        raise UnknownField(path[i + 1])
                    cur = store.defs[f.ref]

        def resolve(path: list[str], row: dict) -> Any:
            cur_row, cur = row, d
            for i, seg in enumerate(path):
                if i == len(path) - 1:
                    if seg in cur_row:
                        return cur_row.get(seg)
                    return cur_row.get(seg + "_Key")
                ref = cur_row.get(seg + "_Key", cur_row.get(seg))
                f = cur.field(seg + "_Key") if cur is not None else None
                target = f.ref if f is not None else None
                nxt = store.objects.get(target, {}).get(ref) if target else None
                if nxt is None:
                    return None
                cur_row, cur = nxt, store.defs[target]
            return None

        return resolve, check

    def _compile(self, text: str | None, d: EntityDef | None, raw_names: set[str] | None = None):
        if not text:
            return None
        if RAW_PLUS in text:
            if not self.accept_plus:
                # §1.2: a '+' (form-encoded space) is not accepted by the real platform
                raise ODataFault(400, "14", "Ошибка при разборе опции запроса $filter")
            text = text.replace(RAW_PLUS, " ")
        resolve, check = self._resolver(d)
        if raw_names is not None:
            def check(path: list[str]) -> None:  # noqa: F811 - virtual-table rows: plain column names
                if path[0] not in raw_names:
                    raise UnknownField(path[0])
        try:
            return compile_filter(text, resolve, check)
        except FilterSyntaxError:
            raise ODataFault(400, "14", "Ошибка при разборе опции запроса $filter")
        except UnknownField as exc:
            raise segment_not_found(exc.name)

    def _select(self, d: EntityDef, q: dict) -> tuple[list[str] | None, dict[str, list[str] | None]]:
        raw = q.get("$select")
        expand = [e.strip() for e in q.get("$expand", "").split(",") if e.strip()]
        nested: dict[str, list[str] | None] = {}
        if not raw:
            for e in expand:
                nav = e.split("/")[0]
                self._nav_field(d, nav)
                nested[nav] = None
            return None, nested
        top: list[str] = []
        for item in raw.split(","):
            item = item.strip()
            if not item:
                continue
            first, _, sub = item.partition("/")
            if d.field(first) is None and d.tab(first) is None and not (first == "RecordSet"):
                f = d.field(first + "_Key")
                if f is None:
                    raise segment_not_found(first)  # §1.12: unknown field in $select -> 400 code 6, echoed
                # §1.6: navigation only expanded if it is also $expand-ed
                if first in [e.split("/")[0] for e in expand]:
                    nested.setdefault(first, [])
                    if sub and nested[first] is not None:
                        nested[first].append(sub)
                    elif not sub:
                        nested[first] = None
                continue
            top.append(first)
        return top, nested

    def _nav_field(self, d: EntityDef, nav: str) -> Field:
        f = d.field(nav + "_Key")
        if f is None or not f.ref:
            raise segment_not_found(nav)
        return f

    def _expanded(self, d: EntityDef, rec: dict, nested: dict[str, list[str] | None], fmt_json: bool) -> dict:
        out = {}
        for nav, sub in nested.items():
            f = self._nav_field(d, nav)
            target = self.store.defs[f.ref]
            obj = self.store.objects.get(f.ref, {}).get(rec.get(f.name))
            out[nav] = None if obj is None else wire.record_json(target, obj, select=sub or None, links=False)
        return out

    def _order_and_page(self, rows: list[dict], q: dict, d: EntityDef | None, names: set[str] | None = None,
                        resolve: Callable | None = None):
        orderby = q.get("$orderby")
        if orderby:
            for part in reversed([p.strip() for p in orderby.split(",") if p.strip()]):
                fname, _, direction = part.partition(" ")
                fname = fname.strip()
                if d is not None and d.field(fname) is None and not (names and fname in names):
                    raise segment_not_found(fname)
                if names is not None and d is None and fname not in names:
                    raise segment_not_found(fname)
                rows.sort(key=lambda r, n=fname: _sort_key(r.get(n)),
                          reverse=direction.strip().lower() == "desc")
        count = len(rows)
        ignore_paging = self.inlinecount_ignores_paging and q.get("$inlinecount") == "allpages"
        try:
            skip = int(q.get("$skip", "0") or 0)
            top = int(q["$top"]) if q.get("$top") not in (None, "") else None
        except ValueError:
            raise ODataFault(400, "14", "Ошибка при разборе опции запроса $top/$skip")
        if not ignore_paging:
            rows = rows[skip:]
            if top is not None:
                rows = rows[:top]
        return rows, count

    def _collection(self, request: Request, d: EntityDef, q: dict, root: str, fmt_json: bool,
                    record_type: bool) -> Response:
        with self.store.lock:
            if d.is_reference:
                rows = list(self.store.objects[d.name].values())
            elif d.recorder_types and not record_type:
                return self._record_sets(d, q, root, fmt_json)
            else:
                rows = [dict(r) for r in self.store.register_rows(d.name)]
            flt = self._compile(q.get("$filter"), d)
            if flt is not None:
                rows = [r for r in rows if flt(r)]
            select, nested = self._select(d, q)
            rows, count = self._order_and_page(rows, q, d)
            set_name = d.name + ("_RecordType" if record_type else "")
            inline = q.get("$inlinecount") == "allpages"
            if fmt_json:
                body = {"odata.metadata": f"{root}$metadata#{set_name}"}
                if inline:
                    body["odata.count"] = str(count)  # §1.6: odata.count is a string
                body["value"] = [wire.record_json(d, r, select=select, links=_links(q),
                                                  expanded=self._expanded(d, r, nested, True)) for r in rows]
                return self.json_response(body)
            entries = [wire.atom_entry(root, set_name, wire.entity_url(d, r) if d.is_reference else None,
                                       wire.properties_xml(d, r, select),
                                       nav=[f.nav_name for f in d.all_fields() if f.nav_name]) for r in rows]
            return Response(wire.atom_feed(root, set_name, entries, count if inline else None),
                            media_type=wire.ATOM_FEED_CT)

    def _record_sets(self, d: EntityDef, q: dict, root: str, fmt_json: bool) -> Response:
        sets = [(ref, typ, recs) for ref, (typ, recs) in self.store.sets[d.name].items()]
        keyname = d.set_key_fields()[0]
        flt_text = q.get("$filter")
        if flt_text:
            flt = self._compile(flt_text, None, raw_names=set(d.set_key_fields()))
            sets = [s for s in sets if flt({keyname: s[0], "Recorder_Type": f"StandardODATA.{s[1]}"})]
        rows = [{keyname: ref, "__t": typ, "__r": recs} for ref, typ, recs in sets]
        rows, count = self._order_and_page(rows, {k: v for k, v in q.items() if k != "$orderby"}, None)
        if fmt_json:
            body = {"odata.metadata": f"{root}$metadata#{d.name}"}
            if q.get("$inlinecount") == "allpages":
                body["odata.count"] = str(count)
            body["value"] = [wire.register_set_json(d, r[keyname], r["__t"], r["__r"]) for r in rows]
            return self.json_response(body)
        entries = [wire.atom_entry(root, d.name, None, wire.register_set_properties_xml(
            d, r[keyname], r["__t"], r["__r"])) for r in rows]
        return Response(wire.atom_feed(root, d.name, entries), media_type=wire.ATOM_FEED_CT)

    def _get_tab_rows(self, request, owner: EntityDef, tab, q: dict, root: str, fmt_json: bool) -> Response:
        rows = []
        with self.store.lock:
            for rec in self.store.objects[owner.name].values():
                for row in rec.get(tab.name, []):
                    rows.append({"Ref_Key": rec["Ref_Key"], **row})
        types = {f.name: f for f in tab.fields} | {"Ref_Key": Field("Ref_Key", "Guid")}
        flt = self._compile(q.get("$filter"), None, raw_names=set(types))
        if flt is not None:
            rows = [r for r in rows if flt(r)]
        rows, _ = self._order_and_page(rows, q, None, names=set(types))
        set_name = f"{owner.name}_{tab.name}"
        if fmt_json:
            return self.json_response({"odata.metadata": f"{root}$metadata#{set_name}", "value": [
                {k: wire.json_value(types.get(k), v) for k, v in r.items()} for r in rows]})
        entries = [wire.atom_entry(root, set_name, None, wire.plain_row_props(r, types)) for r in rows]
        return Response(wire.atom_feed(root, set_name, entries), media_type=wire.ATOM_FEED_CT)

    def _find(self, d: EntityDef, key_raw: str, record_type: bool = False) -> dict:
        key = self._parse_key(key_raw)
        with self.store.lock:
            if d.is_reference:
                ref = key.get("Ref_Key") if isinstance(key, dict) else key
                rec = self.store.objects[d.name].get(ref)
                if rec is None:
                    raise not_found()
                return rec
            if d.recorder_types:
                k = key if isinstance(key, dict) else {d.set_key_fields()[0]: key}
                ref = k.get("Recorder") or k.get("Recorder_Key")
                entry = self.store.sets[d.name].get(ref)
                if entry is None:
                    raise not_found()
                if record_type:
                    line = int(k.get("LineNumber", 0))
                    for r in entry[1]:
                        if r["LineNumber"] == line:
                            return r
                    raise not_found()
                return {"__set": entry, "__ref": ref}
            if not isinstance(key, dict):
                raise not_found()
            tkey = tuple(key.get(k) for k in d.key_fields())
            rec = self.store.records[d.name].get(tkey)
            if rec is None:
                raise not_found()  # §1.8: DELETE/GET of a missing register record -> 404 code 9
            return rec

    def _parse_key(self, key_raw: str) -> Any:
        key_raw = key_raw.strip()
        if "=" not in key_raw.split("'")[0]:
            value = parse_literal(key_raw)
            if not isinstance(value, str):
                raise ODataFault(400, "1", f"Не удалось разобрать строку '{key_raw}' как значение типа Edm.Guid!")
            try:
                return str(uuid.UUID(value))
            except ValueError:
                raise ODataFault(400, "1", f"Не удалось разобрать строку '{value}' как значение типа Edm.Guid!")
        out = {}
        for part in split_top(key_raw, ","):
            name, _, value = part.partition("=")
            out[name.strip()] = parse_literal(value)
        return out

    async def _entity(self, request, d: EntityDef, key_raw: str, q: dict, root: str, fmt_json: bool, method: str,
                      record_type: bool) -> Response:
        if method == "GET":
            rec = self._find(d, key_raw, record_type)
            resp = self._single(d, rec, q, root, fmt_json, record_type)
            edit = self.edits_after_read.pop((d.name, str(rec.get("Ref_Key"))), None) if d.is_reference else None
            if edit is not None:
                # A 1C user saves the object after our read was answered: DataVersion moves on (§1.10), and the
                # client's read-compare-write guard is what notices it — the platform itself would accept a PATCH
                # carrying the stale DataVersion (§1.10 ⚠, [GATE:P8-write-forms.md] §4).
                self.store.update(d.name, str(rec["Ref_Key"]), edit)
            return resp
        if method in ("PATCH", "PUT", "MERGE"):
            body = await self._body(request)
            rec = self._find(d, key_raw)
            if not d.is_reference:
                if d.recorder_types:
                    raise ODataFault(400, "13", "Запись набора записей по регистратору выполняется через регистратор")
                merged = {k: v for k, v in rec.items()}
                merged.update(body if isinstance(body, dict) else {})
                rec = self.store.write_info(d.name, merged)
                return self._single(d, rec, q, root, fmt_json, False)
            # §1.10: If-Match is ignored and no ETag is sent; stale DataVersion in the body is applied
            rec = self.store.update(d.name, rec["Ref_Key"], body, strict=self.strict_writes)
            return self._single(d, rec, q, root, fmt_json, False)
        if method == "DELETE":
            rec = self._find(d, key_raw)
            if d.is_reference:
                self.store.delete(d.name, rec["Ref_Key"])
            elif d.recorder_types:
                raise ODataFault(400, "13", "Удаление набора записей выполняется через регистратор")
            else:
                with self.store.lock:
                    del self.store.records[d.name][self.store.info_key(d, rec)]
                    self.store.register(d.name, json.dumps(list(self.store.info_key(d, rec)), ensure_ascii=False))
            return Response(b"", status_code=200)
        raise ODataFault(405, "-1", "Метод не поддерживается")

    def _single(self, d: EntityDef, rec: dict, q: dict, root: str, fmt_json: bool, record_type: bool,
                status: int = 200, headers: list | None = None) -> Response:
        if "__set" in rec:
            typ, recs = rec["__set"]
            if fmt_json:
                body = {"odata.metadata": f"{root}$metadata#{d.name}/@Element"}
                body.update(wire.register_set_json(d, rec["__ref"], typ, recs))
                return self.json_response(body, status, headers)
            return Response(wire.atom_entry(root, d.name, None, wire.register_set_properties_xml(
                d, rec["__ref"], typ, recs), standalone=True), status_code=status, media_type=wire.ATOM_ENTRY_CT)
        set_name = d.name + ("_RecordType" if record_type else "")
        select, nested = self._select(d, q)
        if fmt_json:
            body = {"odata.metadata": f"{root}$metadata#{set_name}/@Element"}
            body.update(wire.record_json(d, rec, select=select, links=_links(q),
                                         expanded=self._expanded(d, rec, nested, True)))
            return self.json_response(body, status, headers)
        resp = Response(wire.atom_entry(root, set_name, wire.entity_url(d, rec) if d.is_reference else None,
                                        wire.properties_xml(d, rec, select), standalone=True,
                                        nav=[f.nav_name for f in d.all_fields() if f.nav_name]),
                        status_code=status, media_type=wire.ATOM_ENTRY_CT)
        if headers:
            resp.raw_headers.extend(headers)
        return resp

    async def _body(self, request: Request) -> Any:
        raw = await request.body()
        ctype = request.headers.get("content-type", "")
        if "xml" in ctype:
            raise internal()  # the sandbox accepts JSON bodies only (documented)
        try:
            return json.loads(raw.decode("utf-8") or "{}")
        except (ValueError, UnicodeDecodeError):
            raise internal()  # §1.8: broken JSON -> 500 code -1

    async def _create(self, request: Request, d: EntityDef, q: dict, root: str, fmt_json: bool) -> Response:
        body = await self._body(request)
        if d.is_reference:
            rec = self.store.create(d.name, body, strict=self.strict_writes)
        elif not d.recorder_types:
            rec = self.store.write_info(d.name, body if isinstance(body, dict) else {})
        else:
            raise ODataFault(400, "13", "Запись набора записей по регистратору выполняется через регистратор")
        # §1.2 / §1.8: 201 + whole object + Location with the Cyrillic URL as raw UTF-8 bytes
        location = (root + wire.entity_url(d, rec)).encode("utf-8")
        return self._single(d, rec, q, root, fmt_json, False, status=201, headers=[(b"location", location)])

    async def _sub_resource(self, request, d: EntityDef, head: str, key_raw: str | None, rest: list[str], q: dict,
                            root: str, fmt_json: bool, method: str) -> Response:
        seg = rest[0]
        fname, _, args = seg.partition("(")
        args = args[:-1] if args.endswith(")") else args
        if fname == "$count" and key_raw is None:
            with self.store.lock:
                rows = list(self.store.objects[d.name].values()) if d.is_reference else list(
                    self.store.register_rows(d.name))
                flt = self._compile(q.get("$filter"), d)
                n = len([r for r in rows if flt(r)]) if flt else len(rows)
            return Response(str(n), media_type="text/plain;charset=utf-8")  # §1.6: a bare number
        if key_raw is not None and fname in ("Post", "Unpost"):
            if method != "POST":
                raise ODataFault(405, "-1", "Метод не поддерживается")
            rec = self._find(d, key_raw)
            if fname == "Post":
                # §1.9: POST …/Post?PostingModeOperational=false (query) — also /Post() and a JSON body
                flag = q.get("PostingModeOperational")
                if flag is None and args:
                    flag = parse_args(args).get("PostingModeOperational")
                if flag is None:
                    raw = await request.body()
                    if raw.strip():
                        try:
                            flag = str(json.loads(raw).get("PostingModeOperational", "false"))
                        except (ValueError, AttributeError):
                            raise internal()
                self.store.post(d.name, rec["Ref_Key"], str(flag).lower() == "true", fill_checks=True)
            else:
                self.store.unpost(d.name, rec["Ref_Key"])
            return Response(b"", status_code=200)
        if key_raw is None and fname in ("Balance", "Turnovers", "SliceLast", "SliceFirst", "BalanceAndTurnovers"):
            return await self._virtual(d, fname, args, q, root, fmt_json)
        if key_raw is not None and d.is_reference:
            rec = self._find(d, key_raw)
            f = d.field(fname + "_Key")
            if f is not None and f.ref:
                target = self.store.defs[f.ref]
                obj = self.store.objects.get(f.ref, {}).get(rec[f.name])
                if obj is None:
                    raise not_found()
                return self._single(target, obj, q, root, fmt_json, False)
            raise segment_not_found(fname)
        raise ODataFault(400, "6", f"Метод не найден: {fname}")

    async def _virtual(self, d: EntityDef, fn: str, args: str, q: dict, root: str, fmt_json: bool) -> Response:
        params = parse_args(args)
        if self.faults.virtual_table_latency_ms:
            await asyncio.sleep(self.faults.virtual_table_latency_ms / 1000)
        cond_text = unquote_condition(params["Condition"]) if "Condition" in params else None
        dims = [x.strip() for x in unquote_condition(params.get("Dimensions", "''")).split(",") if x.strip()] or None
        if dims:
            for x in dims:
                if x not in d.dimensions:
                    raise segment_not_found(x)
        cond = self._compile(cond_text, d) if cond_text else None

        def period(name: str) -> str | None:
            if name not in params:
                return None
            value = parse_literal(params[name])
            return str(value)

        if fn == "Balance":
            if d.kind != "AccumulationRegister" or not d.balance:
                raise ODataFault(400, "6", "Метод не найден")  # §1.7: Balance on a turnover register -> code 6
            rows = self.store.balance(d.name, period("Period"), cond, dims)
            suffix = "_Balance"
        elif fn == "Turnovers":
            if d.kind != "AccumulationRegister":
                raise ODataFault(400, "6", "Метод не найден")
            rows = self.store.turnovers(d.name, period("StartPeriod"), period("EndPeriod"), cond, dims)
            suffix = "_Turnover"
        elif fn in ("SliceLast", "SliceFirst"):
            if d.kind != "InformationRegister" or not d.periodic:
                raise ODataFault(400, "6", "Метод не найден")
            rows = self.store.slice_last(d.name, period("Period"), cond)
            suffix = "_SliceLast"
        else:
            raise ODataFault(400, "6", "Метод не найден")
        names = set().union(*[set(r) for r in rows]) if rows else set(d.dimensions)
        flt = self._compile(q.get("$filter"), None, raw_names=names | set(d.dimensions))
        if flt is not None:
            rows = [r for r in rows if flt(r)]  # §1.7: $filter filters the computed rows
        rows, count = self._order_and_page(rows, q, None, names=names)
        if q.get("$select"):
            sel = [s.strip() for s in q["$select"].split(",")]
            for s in sel:
                if s not in names:
                    raise segment_not_found(s)
            rows = [{k: r.get(k) for k in sel} for r in rows]
        types = {f.name: f for f in d.all_fields()}
        if fmt_json:
            return self.json_response({"odata.metadata": f"{root}$metadata#{d.name}{suffix}", "value": [
                {k: wire.json_value(types.get(k), v) for k, v in r.items()} for r in rows]})
        entries = [wire.atom_entry(root, d.name + suffix, None, wire.plain_row_props(r, types)) for r in rows]
        return Response(wire.atom_feed(root, d.name + suffix, entries), media_type=wire.ATOM_FEED_CT)

    # ------------------------------------------------------------------ exchange plan
    def _exchange(self, request, name: str, args: str, q: dict, root: str, fmt_json: bool) -> Response:
        params = {k: unquote_condition(v) if k == "DataExchangePoint" else v for k, v in parse_args(args).items()}
        point = q.get("DataExchangePoint") or params.get("DataExchangePoint")
        no = q.get("MessageNo") or params.get("MessageNo")
        if point is None or no is None:
            raise ODataFault(400, "14", "Не указан обязательный параметр DataExchangePoint или MessageNo")
        point = unquote_condition(point)
        plan_m = re.search(r"(ExchangePlan_[^(/']+)\(", point)
        if plan_m and plan_m.group(1) != self.store.exchange_plan:
            raise not_found()
        ref_m = re.search(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", point)
        if ref_m is None:
            raise ODataFault(400, "1", f"Не удалось разобрать строку '{point}' как значение типа Edm.Guid!")
        node = ref_m.group(0).lower()
        try:
            message_no = int(no)
        except ValueError:
            raise ODataFault(400, "1", f"Не удалось разобрать строку '{no}' как значение типа Edm.Int64!")
        if name == "NotifyChangesReceived":
            self.store.notify_changes_received(node, message_no)
            return Response(b"", status_code=200)
        # the whole package at once; $top/$filter are ignored here (onecdc README/DESIGN)
        keys = self.store.select_changes(node, message_no)
        entries: list[str] = []
        values: list[dict] = []
        with self.store.lock:
            for set_name, key in keys:
                d = self.store.defs[set_name]
                if not self.store.is_published(set_name):
                    continue  # onecdc DESIGN: unpublished objects are skipped silently
                if d.is_reference:
                    rec = self.store.objects[set_name].get(key)
                    if rec is None:
                        continue  # physically deleted objects are not emitted (documented limitation)
                    if fmt_json:
                        values.append({"odata.type": f"StandardODATA.{set_name}", **wire.record_json(d, rec, links=False)})
                    else:
                        entries.append(wire.atom_entry(root, set_name, wire.entity_url(d, rec),
                                                       wire.properties_xml(d, rec)))
                elif d.recorder_types:
                    typ, recs = self.store.sets[set_name].get(key, ("", []))
                    if fmt_json:
                        values.append({"odata.type": f"StandardODATA.{set_name}",
                                       **wire.register_set_json(d, key, typ, recs)})
                    else:
                        entries.append(wire.atom_entry(root, set_name, None,
                                                       wire.register_set_properties_xml(d, key, typ, recs)))
                else:
                    tkey = tuple(json.loads(key))
                    rec = self.store.records[set_name].get(tkey)
                    if rec is None:
                        continue
                    if fmt_json:
                        values.append({"odata.type": f"StandardODATA.{set_name}", **wire.record_json(d, rec)})
                    else:
                        entries.append(wire.atom_entry(root, set_name, None, wire.properties_xml(d, rec)))
        if fmt_json:
            return self.json_response({"odata.metadata": f"{root}$metadata#Changes", "value": values})
        return Response(wire.atom_feed(root, "SelectChanges", entries), media_type=wire.ATOM_FEED_CT)


class _AuthFailed(Exception):
    def __init__(self):
        super().__init__("401")
        # §1.11/§1.12: the web server answers 401 itself; the body is not an odata.error
        self.response = Response("<html><body><h1>401 Unauthorized</h1></body></html>", status_code=401,
                                 media_type="text/html", headers={"WWW-Authenticate": 'Basic realm="1C:Enterprise"'})


def _links(q: dict) -> bool:
    return "nometadata" not in q.get("$format", "").lower()


def _sort_key(v: Any) -> tuple:
    if v is None:
        return (0, "")
    if isinstance(v, bool):
        return (1, int(v))
    if isinstance(v, (int, float)):
        return (2, v)
    return (3, str(v))

"""Async OData client (httpx) for 1C ``standard.odata`` (v3) that also serves SAP (v2) and Dynamics (v4).

Everything protocol-variant lives in :mod:`dialect`; everything configuration-specific (entity set and field
names) in :mod:`presets`. Facts encoded here cite erp-side.md (§1.x) and other-erps-and-bus.md (§2.x).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import httpx

from b24sync.connectors import jsonwire
from b24sync.connectors.delivery import (FIRST_CONTACT_DELAY, FIRST_CONTACT_RETRIES, REFUSED_STATUSES, SAFE_METHODS,
                                         RetryPolicy, redirect_reason, timeout_with_connect)
from b24sync.connectors.onec.odata import filters as flt
from b24sync.connectors.onec.odata.dialect import ONEC, Dialect
from b24sync.connectors.onec.odata.errors import (
    ODataConflictError,
    ODataFormatError,
    ODataMovedError,
    ODataNotFoundError,
    ODataOutcomeUnknown,
    ResponseTooLargeError,
    error_from_response,
    error_from_transport,
    outcome_unknown,
)
from b24sync.engine import metrics
from b24sync.engine.errors import RetryableError
from b24sync.connectors.onec.odata.metadata import Metadata, parse_metadata
from b24sync.connectors.onec.odata.streaming import stream_for, too_large_message

log = logging.getLogger(__name__)

# §1.11: the first request after idle took 11-30+ s (1C session start); budget >= 60 s, 180 s for virtual tables.
DEFAULT_TIMEOUT = 60.0
VIRTUAL_TABLE_TIMEOUT = 180.0
DEFAULT_PAGE_SIZE = 500
# Bound for streamed change packages (1C builds them whole, ignores $top; see streaming.py). 256 MiB default.
DEFAULT_MAX_PACKAGE_BYTES = 256 * 1024 * 1024
# Safe characters in query values: space must become %20, never '+' (§1.2: the real platform rejected '+').
_QS_SAFE = "'(),:/=$*@;"


def basic_auth_header(username: str, password: str) -> str:
    """HTTP Basic with UTF-8 credentials: a cp1251-encoded Cyrillic login got IIS 401.5 on a live base (§1.11)."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def encode_query(params: Sequence[tuple[str, str]]) -> str:
    return "&".join(f"{k}={quote(str(v), safe=_QS_SAFE)}" for k, v in params)


def segment(name: str) -> str:
    """An entity-set / function path segment; Cyrillic names as UTF-8 percent-encoding (§1.2)."""
    return quote(name, safe="_-.")


@dataclass
class Stats:
    requests: int = 0
    retries: int = 0  # reads (and refused writes) resent by the client
    unknown_outcomes: int = 0  # writes whose answer was lost (handed to the engine, never resent)


@dataclass
class Page:
    rows: list[dict[str, Any]]
    count: int | None = None
    next_link: str | None = None


def _strip_userinfo(url: str) -> str:
    """A Location header without ``user:password@`` (it is printed)."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        return parts._replace(netloc=netloc).geturl()
    return url


class ODataClient:
    def __init__(
        self,
        base_url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        bearer_token: str | None = None,
        dialect: Dialect = ONEC,
        timeout: float = DEFAULT_TIMEOUT,
        page_size: int = DEFAULT_PAGE_SIZE,
        max_package_bytes: int | None = DEFAULT_MAX_PACKAGE_BYTES,
        transport: httpx.AsyncBaseTransport | None = None,
        extra_query: Sequence[tuple[str, str]] = (),
        headers: dict[str, str] | None = None,
        retry: RetryPolicy | None = None,
        max_query_bytes: int = 2048,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self.stats = Stats()
        # IIS in front of 1C refuses a query string longer than requestLimits/maxQueryString (default 2048 bytes,
        # 404.15); set reads split their key lists to stay under it. Raise it for Apache (LimitRequestLine 8190).
        self.max_query_bytes = max_query_bytes
        self.base_url = base_url.rstrip("/") + "/"
        self.dialect = dialect
        self.page_size = page_size
        self.max_package_bytes = max_package_bytes
        self.extra_query = list(extra_query)  # e.g. ("sap-client", "100") (other-erps §2.1)
        h = {"Accept": "application/json", "User-Agent": "b24sync-odata/0.1"}
        if username is not None:
            h["Authorization"] = basic_auth_header(username, password or "")
        elif bearer_token:
            h["Authorization"] = f"Bearer {bearer_token}"
        if dialect.version >= 4:
            h["OData-Version"] = "4.0"
            h["OData-MaxVersion"] = "4.0"
        h.update(headers or {})
        self._http = httpx.AsyncClient(timeout=timeout_with_connect(timeout), transport=transport, headers=h,
                                       follow_redirects=False)
        self.reached = False  # the service answered once (any HTTP status): see delivery.FIRST_CONTACT_RETRIES
        self._csrf: str | None = None
        self._metadata: Metadata | None = None
        self.system = "1c"  # the spec's system name (the adapter sets it): the label of the API metrics

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> ODataClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---- URL building ----------------------------------------------------------------------------------------
    def url(self, path: str, params: Sequence[tuple[str, str]] = ()) -> str:
        q = list(params)
        if self.dialect.format_param:
            k, _, v = self.dialect.format_param.partition("=")
            if not any(p[0] == k for p in q):
                q.append((k, v))  # §1.2: 1C answers Atom unless $format=json
        q.extend(self.extra_query)
        qs = encode_query(q)
        return self.base_url + path + (("?" + qs) if qs else "")

    def entity_path(self, entity_set: str, key: Any = None, *tail: str) -> str:
        p = segment(entity_set)
        if key is not None:
            p += self.dialect.key_segment(key)
        for t in tail:
            p += "/" + segment(t)
        return p

    def _check_same_origin(self, link: str) -> str:
        # Server-driven paging: follow the link but refuse another origin (pyodata 1.12 does the same, §2.1).
        absolute = urljoin(self.base_url, link)
        a, b = urlsplit(absolute), urlsplit(self.base_url)
        if (a.scheme, a.netloc) != (b.scheme, b.netloc):
            raise ODataFormatError("next link points to another origin; refused", detail={"link_host": a.netloc})
        return absolute

    # ---- transport -------------------------------------------------------------------------------------------
    async def request(
        self,
        method: str,
        url: str,
        *,
        context: str,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        resp, _ = await self._exchange(method, url, context=context, json_body=json_body, headers=headers,
                                       timeout=timeout, idempotent=idempotent, decode=False)
        return resp

    async def request_json(self, method: str, url: str, *, context: str, json_body: Any = None,
                           headers: dict[str, str] | None = None, timeout: float | None = None,
                           idempotent: bool | None = None) -> tuple[httpx.Response, Any]:
        """:meth:`request` and the parsed JSON body (None for an empty body); a read whose body is not JSON is
        retried, a write's is an unknown outcome."""
        return await self._exchange(method, url, context=context, json_body=json_body, headers=headers,
                                    timeout=timeout, idempotent=idempotent, decode=True)

    async def _exchange(self, method: str, url: str, *, context: str, json_body: Any, headers: dict[str, str] | None,
                        timeout: float | None, idempotent: bool | None, decode: bool) -> tuple[httpx.Response, Any]:
        """Send one request with the delivery rules of :mod:`b24sync.connectors.delivery`.

        A read (``idempotent``: GET/HEAD by default) is retried here after a timeout, a dropped connection, a 5xx,
        408/429 or a body that is not JSON (``decode``), with bounded exponential backoff, jitter and
        ``Retry-After`` (erp-side.md §1.11: a cold 1C answers slowly, a restarting one with the web server's 503).
        A write is retried here only when it cannot have been applied: the connection was refused, or 408/429.
        Any other failure after sending raises :class:`ODataOutcomeUnknown` — never resent blind (issue 13)."""
        if idempotent is None:
            idempotent = method in SAFE_METHODS
        started = time.monotonic()
        tries = 0
        csrf_retried = False
        while True:
            tries += 1
            try:
                resp = await self._send_once(method, url, context=context, json_body=json_body, headers=headers,
                                             timeout=timeout, write=not idempotent)
                body = None
                if decode and resp.content:
                    try:
                        body = self._json(resp, context)
                    except ODataFormatError as exc:
                        if not idempotent:
                            raise outcome_unknown(exc, context=context) from None
                        raise
                return resp, body
            except ODataOutcomeUnknown:
                self.stats.unknown_outcomes += 1
                raise
            except RetryableError as err:
                if err.detail.get("csrf_required") and not csrf_retried:
                    self._csrf = None  # other-erps §2.1 step 3: refetch once and retry
                    csrf_retried = True
                    continue
                resendable = idempotent or err.detail.get("not_sent") or err.detail.get("status") in REFUSED_STATUSES
                wait = self.retry.next_delay(tries, started, err.retry_after) if resendable else None
                if err.detail.get("not_sent") and not self.reached:
                    # never answered yet: a wrong URL or port, said within a second (delivery.py)
                    timed_out = err.detail.get("transport") == "ConnectTimeout"
                    if timed_out or tries > FIRST_CONTACT_RETRIES:
                        raise
                    wait = FIRST_CONTACT_DELAY
                if wait is None:
                    raise
                self.stats.retries += 1
                log.info("%s: %s — retry %s in %.1f s", context, type(err).__name__, tries, wait)
                await asyncio.sleep(wait)

    async def _send_once(self, method: str, url: str, *, context: str, json_body: Any, headers: dict[str, str] | None,
                         timeout: float | None, write: bool) -> httpx.Response:
        h = dict(headers or {})
        content = None
        if json_body is not None:
            content = jsonwire.dumps(json_body)
            h["Content-Type"] = "application/json; charset=utf-8"
        if self.dialect.csrf and method not in ("GET", "HEAD"):
            h["X-CSRF-Token"] = await self._csrf_token()
        kw: dict[str, Any] = {}
        if timeout is not None:
            kw["timeout"] = timeout
        self.stats.requests += 1
        group = "write" if write else "read"
        try:
            resp = await self._http.request(method, url, content=content, headers=h, **kw)
        except httpx.HTTPError as exc:
            metrics.api_request(self.system, group, "transport")
            metrics.api_error(self.system, group, "transport")
            raise error_from_transport(exc, context=context, write=write) from exc
        metrics.api_request(self.system, group, resp.status_code)
        self.reached = True
        if 300 <= resp.status_code < 400:
            # never followed (a POST would lose its body, credentials would go to whatever host it names) and never
            # retried: the address in the spec is to be fixed
            raise ODataMovedError(redirect_reason("1C OData", context, resp.status_code,
                                                  _strip_userinfo(resp.headers.get("location", ""))),
                                  detail={"status": resp.status_code, "context": context})
        if resp.status_code >= 400:
            err = error_from_response(resp.status_code, resp.headers, resp.content, context=context)
            metrics.api_error(self.system, group, err)
            if (write and isinstance(err, RetryableError) and not err.detail.get("csrf_required")
                    and resp.status_code not in REFUSED_STATUSES):
                raise outcome_unknown(err, context=context)
            raise err
        return resp

    async def _read_json(self, url: str, *, context: str, headers: dict[str, str] | None = None,
                         timeout: float | None = None) -> tuple[httpx.Response, Any]:
        return await self.request_json("GET", url, context=context, headers=headers, timeout=timeout)

    async def _csrf_token(self) -> str:
        if self._csrf is None:
            # §2.1 CSRF step 1: GET the service root with X-CSRF-Token: Fetch; httpx keeps the session cookies.
            try:
                r = await self._http.get(self.url(""), headers={"X-CSRF-Token": "Fetch"})
            except httpx.HTTPError as exc:
                err = error_from_transport(exc, context="CSRF token fetch")
                err.detail["not_sent"] = True  # the write itself has not left yet
                raise err from exc
            if r.status_code >= 400:
                err = error_from_response(r.status_code, r.headers, r.content, context="CSRF token fetch")
                if isinstance(err, RetryableError):
                    err.detail["not_sent"] = True
                raise err
            self._csrf = r.headers.get("X-CSRF-Token") or ""
        return self._csrf

    @staticmethod
    def _json(resp: httpx.Response, context: str) -> Any:
        try:
            return json.loads(resp.content, parse_float=Decimal)  # money as Decimal (§1.5: beware binary float)
        except ValueError as exc:
            ctype = resp.headers.get("Content-Type", "")
            raise ODataFormatError(f"{context}: expected JSON, got {ctype or 'no content type'}") from exc

    # ---- reads -----------------------------------------------------------------------------------------------
    def query_params(
        self,
        *,
        filter: flt.Expr | str | None = None,
        select: Iterable[str] | None = None,
        expand: Iterable[str] | None = None,
        orderby: Iterable[str] | str | None = None,
        top: int | None = None,
        skip: int | None = None,
        inlinecount: bool = False,
        extra: Sequence[tuple[str, str]] = (),
    ) -> list[tuple[str, str]]:
        q: list[tuple[str, str]] = []
        f = flt.render(filter, self.dialect.version)
        if f:
            q.append(("$filter", f))
        sel = list(select or [])
        exp = list(expand or [])
        if exp and sel:
            # §1.6: live УТ silently did not expand a navigation property unless it was also in $select.
            sel += [e for e in exp if e not in sel]
        if sel:
            q.append(("$select", ",".join(sel)))
        if exp:
            q.append(("$expand", ",".join(exp)))
        if orderby:
            q.append(("$orderby", orderby if isinstance(orderby, str) else ",".join(orderby)))
        if top is not None:
            q.append(("$top", str(top)))
        if skip:
            q.append(("$skip", str(skip)))
        if inlinecount:
            q.append(self.dialect.count_param)
        q.extend(extra)
        return q

    async def query(self, entity_set: str, **kw: Any) -> Page:
        """One page. ``kw``: filter, select, expand, orderby, top, skip, inlinecount, extra."""
        ctx = f"GET {entity_set}"
        _, body = await self._read_json(self.url(self.entity_path(entity_set), self.query_params(**kw)), context=ctx)
        return Page(self.dialect.rows(body), self.dialect.count(body), self.dialect.next_link(body))

    async def iter_all(
        self,
        entity_set: str,
        *,
        filter: flt.Expr | str | None = None,
        select: Iterable[str] | None = None,
        expand: Iterable[str] | None = None,
        orderby: Iterable[str] | str | None = None,
        page_size: int | None = None,
        key_field: str | None = "Ref_Key",
    ) -> AsyncIterator[dict[str, Any]]:
        """Every row: follow server next links when the server gives them (SAP ``__next``, v4 ``@odata.nextLink``),
        otherwise ``$top``/``$skip`` with a deterministic ``$orderby`` (§1.13: 1C has no server paging); never both.
        """
        size = page_size or self.page_size
        order = orderby or ([key_field] if key_field else None)
        headers = {}
        if not self.dialect.supports_skip:
            headers["Prefer"] = f"odata.maxpagesize={size}"  # Dataverse: no $skip (other-erps §2.2)
        skip = 0
        ctx = f"GET {entity_set}"
        url = self.url(self.entity_path(entity_set), self.query_params(
            filter=filter, select=select, expand=expand, orderby=order,
            top=size if self.dialect.supports_skip else None))
        server_paging: bool | None = None
        while True:
            _, body = await self._read_json(url, context=ctx, headers=headers)
            rows = self.dialect.rows(body)
            for row in rows:
                yield row
            link = self.dialect.next_link(body)
            if server_paging is None:
                server_paging = bool(link) or not self.dialect.supports_skip
            if server_paging:
                if not link:
                    return
                url = self._check_same_origin(link)
                continue
            if len(rows) < size:
                return
            skip += len(rows)
            url = self.url(self.entity_path(entity_set), self.query_params(
                filter=filter, select=select, expand=expand, orderby=order, top=size, skip=skip))

    async def count(self, entity_set: str, filter: flt.Expr | str | None = None) -> int:
        """``/$count`` separately: 1C's docs say ``$inlinecount`` makes it ignore ``$top/$skip`` (§1.6 ⚠)."""
        ctx = f"GET {entity_set}/$count"
        params = self.query_params(filter=filter)
        q = encode_query(params + list(self.extra_query))
        url = self.base_url + self.entity_path(entity_set) + "/$count" + (("?" + q) if q else "")
        resp = await self.request("GET", url, context=ctx, headers={"Accept": "text/plain"})
        try:
            return int(resp.text.strip())
        except ValueError as exc:
            raise ODataFormatError(f"{ctx}: not a number") from exc

    async def get(self, entity_set: str, key: Any, *, select: Iterable[str] | None = None,
                  expand: Iterable[str] | None = None) -> dict[str, Any]:
        """One entity by key; raises NotFoundError (1C: 404 code 9, §1.12)."""
        ctx = f"GET {entity_set}(key)"
        url = self.url(self.entity_path(entity_set, key), self.query_params(select=select, expand=expand))
        resp, body = await self._read_json(url, context=ctx)
        row = self.dialect.entity(body)
        etag = resp.headers.get("ETag")
        if etag and "@odata.etag" not in row and "__metadata" not in row:
            row = dict(row)
            row["@odata.etag"] = etag
        return row

    async def get_or_none(self, entity_set: str, key: Any, **kw: Any) -> dict[str, Any] | None:
        try:
            return await self.get(entity_set, key, **kw)
        except ODataNotFoundError:
            return None

    # ---- writes ----------------------------------------------------------------------------------------------
    async def create(self, entity_set: str, values: dict[str, Any]) -> dict[str, Any]:
        """POST → 201 with the whole created object (§1.8). Tabular sections go embedded, each row with
        ``LineNumber`` (a row without it makes 1C answer 500, §1.8) — numbered here if missing."""
        ctx = f"POST {entity_set}"
        body = self._prepare(values)
        headers = {"Prefer": "return=representation"} if self.dialect.version >= 4 else None
        _, answer = await self.request_json("POST", self.url(self.entity_path(entity_set)), context=ctx,
                                            json_body=body, headers=headers)
        return self.dialect.entity(answer) if answer is not None else {}

    def _prepare(self, values: dict[str, Any]) -> dict[str, Any]:
        return _number_rows(values) if self.dialect.number_rows else dict(values)

    async def current_version(self, entity_set: str, key: Any) -> str | None:
        """The row version as the server reports it: 1C ``DataVersion`` (body), or an ETag (header/body)."""
        sel = [self.dialect.version_field] if self.dialect.version_field else None
        row = await self.get(entity_set, key, select=sel)
        return self.dialect.etag_of(row)

    async def update(
        self,
        entity_set: str,
        key: Any,
        values: dict[str, Any],
        *,
        expected_version: str | None = None,
    ) -> dict[str, Any]:
        """Partial update with a write guard.

        1C (§1.10 ⚠): the platform ignores a stale ``DataVersion`` and ``If-Match`` and returns no ETag, so the
        guard is read-compare-write: re-read ``DataVersion`` right before the PATCH and raise ``ConflictError`` if
        it is not ``expected_version``. A race window remains between that read and the PATCH (a 1C user saving in
        those milliseconds is overwritten); it is as small as one round trip, not zero.
        SAP / Business Central require ``If-Match`` (428 without it, 412 when stale); Dataverse accepts it
        optionally and would *create* on PATCH without ``If-Match: *`` (other-erps §2.2-2.4).
        """
        ctx = f"PATCH {entity_set}(key)"
        headers: dict[str, str] = {}
        mode = self.dialect.etag_mode
        if mode == "compare":
            if expected_version is not None:
                current = await self.current_version(entity_set, key)
                if current != expected_version:
                    raise ODataConflictError(
                        f"{entity_set}: the record was changed in the ERP since it was last synced "
                        f"(version {current!r}, expected {expected_version!r})",
                        detail={"expected": expected_version, "current": current, "entity_set": entity_set},
                    )
        else:
            current = None
            if mode == "require" or expected_version is not None:
                current = await self.current_version(entity_set, key)
                if expected_version is not None and current != expected_version:
                    raise ODataConflictError(
                        f"{entity_set}: the record changed since it was last synced (ETag)",
                        detail={"expected": expected_version, "current": current, "entity_set": entity_set},
                    )
            headers["If-Match"] = current or "*"  # '*' = update-only on Dataverse (never an upsert)
        if self.dialect.version >= 4:
            headers["Prefer"] = "return=representation"
        _, answer = await self.request_json(self.dialect.patch_method, self.url(self.entity_path(entity_set, key)),
                                            context=ctx, json_body=self._prepare(values), headers=headers)
        return self.dialect.entity(answer) if answer is not None else {}

    async def set_deletion_mark(self, entity_set: str, key: Any, mark: bool = True, *,
                                expected_version: str | None = None) -> dict[str, Any]:
        """The safe delete for 1C: ``PATCH {"DeletionMark": true}`` (reversible; bumps DataVersion). ``DELETE`` on a
        reference object is an immediate physical delete — avoid (§1.8)."""
        return await self.update(entity_set, key, {"DeletionMark": mark}, expected_version=expected_version)

    async def delete(self, entity_set: str, key: Any) -> None:
        """Physical ``DELETE`` (registers, or non-1C services). For 1C reference objects use set_deletion_mark."""
        await self.request("DELETE", self.url(self.entity_path(entity_set, key)), context=f"DELETE {entity_set}(key)")

    async def post_document(self, entity_set: str, key: Any, *, operational: bool = False) -> None:
        """``POST Document_X(guid'…')/Post?PostingModeOperational=false`` with no body → 200 (§1.9). A posting refused
        by the configuration comes back as 500 code -1 with the handler's text → ODataHandlerError (permanent)."""
        url = self.url(self.entity_path(entity_set, key, "Post"),
                       [("PostingModeOperational", "true" if operational else "false")])
        await self.request("POST", url, context=f"POST {entity_set}(key)/Post")

    async def unpost_document(self, entity_set: str, key: Any) -> None:
        await self.request("POST", self.url(self.entity_path(entity_set, key, "Unpost")),
                           context=f"POST {entity_set}(key)/Unpost")

    async def virtual_table(
        self,
        register: str,
        function: str,
        params: dict[str, Any] | None = None,
        *,
        filter: flt.Expr | str | None = None,
        select: Iterable[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Register virtual tables as bound functions (§1.7): ``AccumulationRegister_X/Balance(Period=datetime'…',
        Condition='Склад_Key eq guid''…''')``, ``InformationRegister_X/SliceLast(...)``. ``Condition`` is a filter
        expression passed as a string literal (quotes doubled) — prefer it to ``$filter`` (filters inside the
        calculation, §1.7). Result fields are suffixed (``ВНаличииBalance``)."""
        parts = []
        for k, v in (params or {}).items():
            if isinstance(v, flt.Expr):
                v = v.render(self.dialect.version)
            parts.append(f"{k}={flt.literal(v, version=self.dialect.version)}")
        path = segment(register) + "/" + segment(function) + "(" + quote(",".join(parts), safe=_QS_SAFE) + ")"
        ctx = f"GET {register}/{function}"
        _, body = await self._read_json(self.url(path, self.query_params(filter=filter, select=select)),
                                        context=ctx, timeout=VIRTUAL_TABLE_TIMEOUT)
        return self.dialect.rows(body)

    # ---- metadata --------------------------------------------------------------------------------------------
    async def metadata(self, *, refresh: bool = False) -> Metadata:
        """Parsed ``$metadata``, cached per client (1C's can be ~17 MB and take 23 s, §1.2)."""
        if self._metadata is None or refresh:
            url = self.base_url + "$metadata" + (("?" + encode_query(self.extra_query)) if self.extra_query else "")
            resp = await self.request("GET", url, context="GET $metadata", headers={"Accept": "application/xml"},
                                      timeout=VIRTUAL_TABLE_TIMEOUT)
            self._metadata = parse_metadata(resp.content)
        return self._metadata

    # ---- streamed POST/GET (change packages) -----------------------------------------------------------------
    async def stream_rows(self, method: str, url: str, *, context: str,
                          max_bytes: int | None = None) -> AsyncIterator[dict[str, Any]]:
        """Rows of a (possibly huge) collection answer, parsed while it arrives, with a byte bound."""
        limit = self.max_package_bytes if max_bytes is None else max_bytes
        headers: dict[str, str] = {}
        if self.dialect.csrf and method != "GET":
            headers["X-CSRF-Token"] = await self._csrf_token()
        try:
            async with self._http.stream(method, url, headers=headers, timeout=VIRTUAL_TABLE_TIMEOUT) as resp:
                if resp.status_code >= 400:
                    body = await _read_capped(resp, 64 * 1024)
                    raise error_from_response(resp.status_code, resp.headers, body, context=context)
                declared = resp.headers.get("Content-Length")
                if limit is not None and declared and declared.isdigit() and int(declared) > limit:
                    raise ResponseTooLargeError(too_large_message(context, limit, int(declared), declared=True),
                                                detail={"limit": limit, "declared": int(declared)})
                parser = stream_for(resp.headers.get("Content-Type", ""))
                total = 0
                async for chunk in resp.aiter_bytes():
                    total += len(chunk)
                    if limit is not None and total > limit:
                        raise ResponseTooLargeError(too_large_message(context, limit, total),
                                                    detail={"limit": limit, "received": total})
                    for row in parser.feed(chunk):
                        yield row
                parser.close()
        except httpx.HTTPError as exc:
            raise error_from_transport(exc, context=context) from exc


async def _read_capped(resp: httpx.Response, cap: int) -> bytes:
    buf = bytearray()
    async for chunk in resp.aiter_bytes():
        buf += chunk
        if len(buf) >= cap:
            break
    return bytes(buf[:cap])


def _number_rows(values: dict[str, Any]) -> dict[str, Any]:
    """Give every tabular-section row a ``LineNumber`` (1-based) if it has none (§1.8)."""
    out = dict(values)
    for k, v in values.items():
        if isinstance(v, list) and v and all(isinstance(r, dict) for r in v):
            rows = []
            for i, r in enumerate(v, 1):
                rows.append(r if "LineNumber" in r else {**r, "LineNumber": i})
            out[k] = rows
    return out


__all__ = ["ODataClient", "Page", "basic_auth_header", "encode_query", "segment"]

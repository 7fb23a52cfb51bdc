"""``HttpJsonAdapter``: a SystemAdapter driven entirely by :class:`HttpJsonConfig` (no code per system).

HTTP failures map onto the engine's vocabulary: 401/403 → AuthError; 404 → NotFoundError (``get`` returns None);
409/412 → ConflictError; 400/422 → ValidationError; 408/425/429/5xx, timeouts and connection errors →
RetryableError (``Retry-After`` honoured; reads are resent here a few times, connectors/delivery.py); other 4xx →
PermanentError. A create/update/delete whose answer was lost after sending (timeout, dropped connection, 5xx) is
OutcomeUnknownError — never resent blind; the engine looks the record up first. 1C HTTP services return whatever status the
configuration's BSL code chose, typically 400/404/409/500 with an error object (erp-side.md §2), so the mapping is
by status class plus the configured ``error_message`` path.
"""

from __future__ import annotations

import asyncio
import hashlib
import base64
import json
import os
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from b24sync.connectors import jsonwire
from b24sync.connectors.delivery import REFUSED_STATUSES, SAFE_METHODS, RetryPolicy, not_sent
from b24sync.connectors.http_json.models import (
    AuthConfig,
    HttpJsonConfig,
    ObjectOperations,
    Operation,
)
from b24sync.connectors.http_json.paths import (
    get_path,
    render_text,
    render_value,
    set_path,
)
from b24sync.connectors.metered import metered_client
from b24sync.engine.errors import (
    AuthError,
    ConflictError,
    NotFoundError,
    OutcomeUnknownError,
    PermanentError,
    RetryableError,
    SyncError,
    ValidationError,
)
from b24sync.engine.ports import ChangeCursor, ChangePage, ObjectRef, Record


# Operations that only read even when configured as POST (a search endpoint): resending them is harmless.
# ``ack`` moves a server-side cursor to a position we name, so sending it twice changes nothing either.
_READ_OPERATIONS = frozenset({"changes", "get", "find", "exists", "ack"})


def auth_headers(auth: AuthConfig, environ: dict[str, str] | None = None) -> dict[str, str]:
    env = os.environ if environ is None else environ

    def need(var: str) -> str:
        v = env.get(var)
        if v is None:
            raise AuthError(f"environment variable {var} is not set (HTTP/JSON auth)")
        return v

    if auth.type == "header":
        return {auth.header: auth.prefix + need(auth.value_env or "")}
    if auth.type == "bearer":
        return {"Authorization": "Bearer " + need(auth.token_env or "")}
    if auth.type == "basic":
        user = auth.username if auth.username is not None else need(auth.username_env or "")
        token = base64.b64encode(f"{user}:{need(auth.password_env or '')}".encode()).decode("ascii")
        return {"Authorization": "Basic " + token}  # UTF-8 credentials (1C: erp-side.md §1.11 applies to /hs too)
    return {}


def _retry_after(resp: httpx.Response) -> float | None:
    raw = resp.headers.get("Retry-After", "").strip()
    return float(raw) if raw.isdigit() else None


def map_http_error(resp: httpx.Response, op: Operation, context: str) -> SyncError:
    msg = None
    if op.error_message:
        try:
            msg = get_path(resp.json(), op.error_message)
        except ValueError:
            msg = None
    text = f" — {str(msg)[:200]}" if msg else ""
    reason = f"{context}: HTTP {resp.status_code}{text}"
    detail = {"status": resp.status_code, "context": context}
    s = resp.status_code
    if s in (401, 403, 407):
        return AuthError(reason, detail=detail)
    if s in op.not_found_status or s == 404 or s == 410:
        return NotFoundError(reason, detail=detail)
    if s in (409, 412):
        return ConflictError(reason, detail=detail)
    if s in (408, 425, 429) or s >= 500:
        return RetryableError(reason, retry_after=_retry_after(resp), detail=detail)
    if s in (400, 422):
        return ValidationError(reason, detail=detail)
    return PermanentError(reason, detail=detail)


class HttpJsonAdapter:
    def __init__(self, name: str, config: HttpJsonConfig, *, transport: httpx.AsyncBaseTransport | None = None,
                 environ: dict[str, str] | None = None) -> None:
        self.name = name
        self.config = config
        headers = {"Accept": "application/json", "User-Agent": "b24sync-http-json/0.1", **config.headers,
                   **auth_headers(config.auth, environ)}
        self.retry = RetryPolicy(attempts=3, total=20.0)
        self._http = metered_client(name, transport=transport, verify=config.verify_tls, base_url=config.base_url + "/",
                                    headers=headers, timeout=config.timeout)

    # ---- plumbing --------------------------------------------------------------------------------------------
    def ops(self, obj: ObjectRef) -> ObjectOperations:
        ops = self.config.objects.get(obj.object)
        if ops is None:
            raise PermanentError(f"{self.name}: object {obj.object!r} is not configured "
                                 f"(known: {', '.join(sorted(self.config.objects))})")
        return ops

    def _op(self, obj: ObjectRef, name: str) -> Operation:
        op = getattr(self.ops(obj), name)
        if op is None:
            raise PermanentError(f"{self.name}: object {obj.object!r} has no {name!r} operation configured")
        return op

    async def call(self, op: Operation, ctx: dict[str, Any], *, name: str,
                   extra_headers: dict[str, str] | None = None, url: str | None = None) -> httpx.Response:
        path = url or render_text(op.path, ctx, url=True).lstrip("/")
        query = None
        if url is None:
            query = {}
            for k, t in op.query.items():
                v = render_text(t, ctx)
                if v != "":
                    query[k] = v  # an empty placeholder drops the parameter (e.g. no `since` on the first read)
            if op.criteria_query:
                for k, v in (ctx.get("criteria") or {}).items():
                    query.setdefault(str(k), render_text("{v}", {"v": v}))
        headers = {k: render_text(v, ctx) for k, v in op.headers.items()}
        headers.update(extra_headers or {})
        content = None
        if op.body is not None or op.body_fields:
            body = render_value(op.body, ctx) if op.body is not None else {}
            for target, source in op.body_fields.items():
                if not isinstance(body, dict):
                    raise PermanentError(f"{self.name}: body_fields need a JSON object body")
                set_path(body, target, get_path(ctx, source))
            content = jsonwire.dumps(body)
            headers["Content-Type"] = "application/json; charset=utf-8"
        context = f"{op.method} {op.path} ({name})"  # the template, never rendered values (may be personal data)
        write = op.method.upper() not in SAFE_METHODS and name not in _READ_OPERATIONS
        started = time.monotonic()
        tries = 0
        while True:  # delivery rules: connectors/delivery.py (reads resent; writes only when surely not applied)
            tries += 1
            try:
                resp = await self._http.request(op.method, path, params=query, content=content, headers=headers,
                                                timeout=op.timeout or self.config.timeout)
            except httpx.HTTPError as exc:
                if write and not not_sent(exc):
                    raise OutcomeUnknownError(
                        f"{context}: the answer was lost ({type(exc).__name__}) — the write may have been applied; "
                        "the record is looked up before anything is written again",
                        detail={"context": context}) from exc
                err: SyncError = RetryableError(f"{context}: {type(exc).__name__}", detail={"context": context})
            else:
                ok = resp.status_code in op.ok_status if op.ok_status else 200 <= resp.status_code < 300
                if ok:
                    return resp
                err = map_http_error(resp, op, context)
                if write and isinstance(err, RetryableError) and resp.status_code not in REFUSED_STATUSES:
                    raise OutcomeUnknownError(f"{err.reason} — the write may have been applied; the record is "
                                              "looked up before anything is written again",
                                              retry_after=err.retry_after, detail=err.detail) from None
            if not isinstance(err, RetryableError):
                raise err
            wait = self.retry.next_delay(tries, started, err.retry_after)
            if wait is None:
                raise err
            await asyncio.sleep(wait)

    @staticmethod
    def _body(resp: httpx.Response) -> Any:
        if not resp.content:
            return None
        try:
            return json.loads(resp.content, parse_float=Decimal)
        except ValueError as exc:
            raise RetryableError(f"expected JSON, got {resp.headers.get('Content-Type', 'no content type')}") from exc

    def _record(self, op: Operation, item: Any) -> Record:
        if not isinstance(item, dict):
            raise ValidationError(f"{self.name}: a record is not a JSON object")
        values = {k: get_path(item, p) for k, p in op.fields.items()} if op.fields else dict(item)
        rid = get_path(item, op.id) if op.id else None
        version = get_path(item, op.version) if op.version else None
        modified = _parse_dt(get_path(item, op.modified)) if op.modified else None
        deleted = bool(get_path(item, op.deleted)) if op.deleted else False
        return Record(id="" if rid is None else str(rid), values=values, modified=modified,
                      version=None if version is None else str(version), deleted=deleted)

    def _items(self, op: Operation, body: Any) -> list[Any]:
        items = body if not op.items else get_path(body, op.items)
        if items is None:
            return []
        if not isinstance(items, list):
            raise ValidationError(f"{self.name}: response path {op.items!r} is not a list")
        return items

    # ---- SystemAdapter ---------------------------------------------------------------------------------------
    async def read_changes(self, obj: ObjectRef, cursor: ChangeCursor, *, overlap_seconds: float,
                           limit: int) -> ChangePage:
        op = self._op(obj, "changes")
        if op.max_limit:
            limit = min(limit, op.max_limit)
        since = cursor.modified - timedelta(seconds=overlap_seconds) if cursor.modified else None
        token = cursor.token
        if token is None and op.paging.type == "page":
            token = str(op.paging.first_page)
        elif token is None and op.paging.type == "offset":
            token = "0"
        ctx = {"since": since.isoformat() if since else None, "token": token, "limit": limit,
               "cursor": cursor.to_json()}
        url = None
        if op.paging.type == "link" and cursor.token:
            url = self._same_origin(cursor.token)
        body = self._body(await self.call(op, ctx, name="changes", url=url))
        items = self._items(op, body)
        records = [self._record(op, i) for i in items]
        records.sort(key=lambda r: (r.modified or _EPOCH, r.id))
        newest = max((r.modified for r in records if r.modified), default=None)
        modified = max(filter(None, [newest, cursor.modified]), default=None)
        last_id = records[-1].id if records else cursor.last_id
        p = op.paging
        next_token: str | None = None
        if p.type == "offset":
            next_token = str(int(token or 0) + len(items)) if len(items) >= limit else None
        elif p.type == "page":
            next_token = str(int(token or p.first_page) + 1) if items and len(items) >= limit else None
        elif p.type in ("cursor", "link"):
            nxt = get_path(body, p.next or "")
            next_token = str(nxt) if nxt else None
        more = next_token is not None
        # Within a paged pass keep the pass's starting time, so `since` stays stable until the pass ends.
        cur = ChangeCursor(modified=cursor.modified if more else modified, last_id=last_id, token=next_token)
        return ChangePage(records=records, cursor=cur, more=more, ack={"ids": [r.id for r in records]})

    def _same_origin(self, link: str) -> str:
        absolute = urljoin(self.config.base_url + "/", link)
        a, b = urlsplit(absolute), urlsplit(self.config.base_url)
        if (a.scheme, a.netloc) != (b.scheme, b.netloc):
            raise PermanentError(f"{self.name}: next link points to another origin; refused")
        return absolute

    async def acknowledge(self, obj: ObjectRef, page: ChangePage) -> None:
        op = self.ops(obj).ack
        if op is None or not (page.ack or {}).get("ids"):
            return
        await self.call(op, {"ack": page.ack, "ids": page.ack["ids"], "token": page.cursor.token}, name="ack")

    async def get(self, obj: ObjectRef, record_id: str) -> Record | None:
        op = self._op(obj, "get")
        try:
            body = self._body(await self.call(op, {"id": record_id}, name="get"))
        except NotFoundError:
            return None
        item = get_path(body, op.record) if op.record else body
        return None if item is None else self._record(op, item)

    async def find(self, obj: ObjectRef, criteria: dict[str, Any]) -> list[Record]:
        op = self._op(obj, "find")
        body = self._body(await self.call(op, {"criteria": criteria}, name="find"))
        recs = [self._record(op, i) for i in self._items(op, body)]
        # A service may ignore an unknown filter and return everything: keep exact matches only, when the
        # criteria name output fields.
        def match(r: Record) -> bool:
            return all(k not in r.values or str(r.values[k]) == str(v) for k, v in criteria.items())

        return [r for r in recs if match(r)]

    async def create(self, obj: ObjectRef, values: dict[str, Any]) -> str:
        op = self._op(obj, "create")
        body = self._body(await self.call(op, {"values": values}, name="create"))
        item = get_path(body, op.record) if op.record else body
        rid = get_path(item, op.id) if op.id and item is not None else None
        if rid is None:
            raise PermanentError(f"{self.name}: create of {obj.object!r} returned no id at {op.id!r}")
        return str(rid)

    async def update(self, obj: ObjectRef, record_id: str, values: dict[str, Any], *,
                     expected_version: str | None = None) -> str | None:
        op = self._op(obj, "update")
        headers: dict[str, str] = {}
        if expected_version is not None and op.version_guard == "if-match":
            headers["If-Match"] = expected_version  # server answers 412 → ConflictError
        elif expected_version is not None and op.version_guard == "compare":
            current = await self.get(obj, record_id)
            if current is None:
                raise NotFoundError(f"{self.name}: {obj.object} {record_id} no longer exists")
            if current.version != expected_version:
                raise ConflictError(f"{self.name}: {obj.object} changed since it was last synced",
                                    detail={"expected": expected_version, "current": current.version})
        resp = await self.call(op, {"id": record_id, "values": values, "expected_version": expected_version},
                               name="update", extra_headers=headers)
        # The new version, when the service answers with the record (the engine stores it without re-reading).
        if not op.version or not resp.content:
            return None
        try:
            body = self._body(resp)
        except RetryableError:
            return None
        item = get_path(body, op.record) if op.record else body
        v = get_path(item, op.version) if isinstance(item, dict) else None
        return None if v is None else str(v)

    async def exists(self, obj: ObjectRef, criteria: dict[str, Any]) -> bool:
        ops = self.ops(obj)
        if ops.exists is not None:
            try:
                resp = await self.call(ops.exists, {"criteria": criteria}, name="exists")
            except NotFoundError:
                return False
            body = self._body(resp)
            if isinstance(body, bool):
                return body
            if ops.exists.items is not None:
                return bool(self._items(ops.exists, body))
            return True
        return bool(await self.find(obj, criteria))

    async def delete(self, obj: ObjectRef, record_id: str) -> None:
        await self.call(self._op(obj, "delete"), {"id": record_id}, name="delete")

    # ---- files (engine.ports.FileSource; spec ``files[].source: {operation: OBJ, name: …}``)
    async def list_files(self, obj: ObjectRef, record_id: str, source: dict[str, Any]) -> list[Any]:
        """One file per record: the configured object's ``get`` operation with the record's id answers its bytes
        (Kontur: ``invoice_pdf`` → ``GET /invoices/{id}/pdf``). Its version is the record's own (its version,
        else its change time), so the file is fetched again only after the record changed."""
        from b24sync.engine.ports import FileRef

        if "operation" not in source:
            raise PermanentError(f"{self.name}: a files source names `operation` (an object whose get answers the "
                                 "file's bytes)")
        rec = await self.get(obj, record_id)
        if rec is None:
            return []
        version = rec.version or (rec.modified.isoformat() if rec.modified else None)
        if version is None:  # no version on the record: the record's values stand for it
            version = hashlib.sha256(jsonwire.dumps(rec.values).encode()).hexdigest()[:32]
        name = str(source.get("name") or "{id}.pdf").replace("{id}", record_id)
        return [FileRef(id=record_id, name=name, version=f"{record_id}:{version}",
                        detail={"operation": str(source["operation"])})]

    async def read_file(self, obj: ObjectRef, record_id: str, ref: Any, source: dict[str, Any]) -> bytes:
        op = self._op(ObjectRef(ref.detail["operation"]), "get")
        return (await self.call(op, {"id": ref.id}, name="get")).content

    async def aclose(self) -> None:
        await self._http.aclose()


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _parse_dt(v: Any) -> datetime | None:
    """ISO 8601 or epoch seconds/milliseconds; a value without offset is taken as UTC (so all compare)."""
    if v is None or v == "" or isinstance(v, bool):
        return None
    if isinstance(v, (int, float, Decimal)):
        return datetime.fromtimestamp(float(v) / (1000 if v > 10**11 else 1), tz=timezone.utc)
    if isinstance(v, datetime):
        dt = v
    else:
        try:
            dt = datetime.fromisoformat(str(v).replace("Z", "+00:00"))
        except ValueError:
            return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def from_config(name: str, config: dict[str, Any]) -> HttpJsonAdapter:
    cfg = dict(config)
    transport = cfg.pop("transport", None)  # tests
    environ = cfg.pop("environ", None)  # tests: a fake environment for auth variables
    cfg.pop("state", None)  # the composer injects the SharedState into every adapter's config; unused here
    return HttpJsonAdapter(name, HttpJsonConfig.model_validate(cfg), transport=transport, environ=environ)

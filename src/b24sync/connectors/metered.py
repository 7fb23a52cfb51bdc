"""API metrics for every connector in one place: an httpx transport that counts each request it sends, and
SQLAlchemy engine events that count each statement — feeding ``b24sync_api_requests_total{system, method_group,
code}`` and ``b24sync_api_errors_total{system, method_group, error}`` (engine/metrics.py; research/operations.md
§3.3). A connector builds its client with ``metered_client`` (or wraps its transport with ``MeteredTransport``)
and never counts by hand.

Labels stay bounded: ``system`` is the spec's system name (or a provider's fixed name), ``method_group`` a class
(``read`` / ``write`` / ``auth``; by HTTP verb unless the connector says otherwise — Odoo posts every call, so its
group comes from the ORM method), ``code`` the HTTP status, ``transport`` when no answer came; for SQL ``ok`` or
``error``. Never a URL, a record id or a value.

Each attempt on the wire is one request (a retried read counts twice), as a system's own access log would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from b24sync.engine import metrics

GroupOf = Callable[[httpx.Request], str]


def verb_group(request: httpx.Request) -> str:
    """``read`` for GET / HEAD / OPTIONS, ``write`` for the rest."""
    return "read" if request.method in ("GET", "HEAD", "OPTIONS") else "write"


def status_error(code: int) -> str | None:
    """The error class of an HTTP status (None for a success)."""
    if code < 400:
        return None
    if code in (401, 403, 407):
        return "auth"
    if code == 429:
        return "rate_limit"
    if code in (409, 412):
        return "conflict"
    if code >= 500:
        return "server"
    return "client"


class MeteredTransport(httpx.AsyncBaseTransport):
    """Counts every request that goes through ``inner`` (the default: httpx's own pooled transport)."""

    def __init__(self, system: str, inner: httpx.AsyncBaseTransport | None = None, *,
                 group: GroupOf = verb_group, **transport_kw: Any) -> None:
        self.system = system
        self.inner = inner or httpx.AsyncHTTPTransport(**transport_kw)
        self.group = group

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            group = self.group(request)
        except Exception:  # noqa: BLE001 - a label is never worth failing a request
            group = verb_group(request)
        try:
            response = await self.inner.handle_async_request(request)
        except httpx.TransportError:
            metrics.api_request(self.system, group, "transport")
            metrics.api_error(self.system, group, "transport")
            raise
        metrics.api_request(self.system, group, response.status_code)
        err = status_error(response.status_code)
        if err is not None:
            metrics.api_error(self.system, group, err)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def metered_client(system: str, *, transport: httpx.AsyncBaseTransport | None = None, group: GroupOf = verb_group,
                   verify: Any = True, **client_kw: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` whose requests are counted for ``system`` (``transport``: a test's transport to
    wrap; ``verify`` goes to the default transport, where httpx would apply it)."""
    inner = transport if transport is not None else httpx.AsyncHTTPTransport(verify=verify)
    return httpx.AsyncClient(transport=MeteredTransport(system, inner, group=group), **client_kw)


def meter_sql(system: str, engine: Any) -> None:
    """Count each statement a SQLAlchemy engine runs for ``system``: ``read`` for SELECT (and WITH … SELECT),
    ``write`` for the rest; ``ok``, or ``error`` with the class (``transport``: the database is unreachable or
    the connection broke; else ``client`` — a refused row, a bad statement)."""
    from sqlalchemy import event
    from sqlalchemy.exc import DBAPIError, OperationalError

    def group(statement: str) -> str:
        head = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
        return "read" if head in ("SELECT", "WITH", "PRAGMA", "SHOW", "EXPLAIN") else "write"

    @event.listens_for(engine, "after_cursor_execute")
    def _ok(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        metrics.api_request(system, group(statement), "ok")

    @event.listens_for(engine, "handle_error")
    def _error(ctx: Any) -> None:
        g = group(str(ctx.statement or ""))
        exc = ctx.sqlalchemy_exception
        if isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated):
            cls = "transport"
        else:
            cls = "client"
        metrics.api_request(system, g, "error")
        metrics.api_error(system, g, cls)

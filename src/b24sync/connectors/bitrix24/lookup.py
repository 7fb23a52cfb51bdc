"""Coalesced key lookups: the lookups of concurrent jobs by one field become one list call per 50 values.

Before every create the engine looks the record up by its link field (``UF_CRM_ERP_ID``, ``XML_ID``) and by its match
keys (``RQ_INN`` through ``crm.requisite.list``). One call per record would spend one command and one list page of
operating time per record (sheet §3.3); here the values asked for within a short window are sent as one
``filter: {"@FIELD": [v1, …, v50]}`` page (``@`` = IN, sheet §5 filter prefixes; ``start=-1``, no COUNT) through the
client's micro-batcher, and the rows are handed back to each caller by value. A full page means there may be more
(duplicates of one value): the rest is read with the ID-chained full read.

Values are matched back case-insensitively and trimmed, as the portal's MySQL collation compares strings (sandbox
docs "Known differences"); a caller that needs an exact match filters the rows it gets (the engine does).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from b24sync.connectors.bitrix24.client import Bitrix24Client

MAX_VALUES = 50  # one list page holds 50 rows (sheet §3.4): more values per call would only mean more pages


def value_key(v: Any) -> str:
    return str(v).strip().casefold()


@dataclass
class _Pending:
    method: str
    params: dict[str, Any]
    field: str
    id_field: str
    waiters: dict[str, list[asyncio.Future]] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    timer: asyncio.TimerHandle | None = None
    since: float = 0.0  # when the first value was asked
    seen: int = 0  # values when the timer was last armed


class KeyLookup:
    """Rows of ``method`` whose ``field`` equals a value, for many concurrent callers in one call per 50 values."""

    def __init__(self, client: Bitrix24Client, *, linger: float = 0.03, max_linger: float = 1.0) -> None:
        self.client = client
        # Wait ``linger`` for more values, and again while more keep coming, up to ``max_linger``. A pause in the
        # arrivals ends the wait only while the client has room in its next request: with a request's worth of
        # commands already queued (rate-bound bulk work) a list call sent now would not travel sooner, so values
        # are collected on, up to 50 or ``max_linger``. A lone lookup waits ``linger``. Under bulk work the jobs
        # reach their lookups some 50 a second (the rate of 2 requests of 50 commands, two writes per company):
        # the earlier 0.25 s limit made a list call per ~12 values, where 1 s gathers up to 50.
        self.linger = linger
        self.max_linger = max_linger
        self._pending: dict[str, _Pending] = {}
        self.calls = 0  # list calls made (tests and benches read it)

    async def rows(self, method: str, field_name: str, value: Any, *, params: dict[str, Any] | None = None,
                   id_field: str = "ID") -> list[dict[str, Any]]:
        """Rows with ``field_name`` = ``value`` (plus ``params``' own filter and select)."""
        params = params or {}
        group = json.dumps([method, field_name, id_field, params], sort_keys=True, default=str)
        loop = asyncio.get_running_loop()
        pend = self._pending.get(group)
        if pend is None:
            pend = self._pending[group] = _Pending(method, params, field_name, id_field)
        fut: asyncio.Future = loop.create_future()
        k = value_key(value)
        pend.waiters.setdefault(k, []).append(fut)
        pend.values.setdefault(k, value)
        if len(pend.values) >= MAX_VALUES:
            self._flush(group, force=True)
        elif pend.timer is None:
            pend.since, pend.seen = loop.time(), len(pend.values)
            pend.timer = loop.call_later(self.linger, self._flush, group)
        return await fut

    def _flush(self, group: str, force: bool = False) -> None:
        pend = self._pending.get(group)
        if pend is None:
            return
        loop = asyncio.get_running_loop()
        if not force and loop.time() - pend.since + self.linger <= self.max_linger and (
                len(pend.values) > pend.seen or self.client.backlogged()):
            pend.seen = len(pend.values)  # values keep coming, or the next request is full anyway: wait on
            pend.timer = loop.call_later(self.linger, self._flush, group)
            return
        del self._pending[group]
        if pend.timer is not None:
            pend.timer.cancel()
        t = asyncio.get_running_loop().create_task(self._run(pend))
        self.client._tasks.add(t)  # awaited by the client's aclose
        t.add_done_callback(self.client._tasks.discard)

    async def _run(self, pend: _Pending) -> None:
        from b24sync.connectors.bitrix24.client import PAGE, Bitrix24Client

        try:
            self.calls += 1
            items_key, idf = Bitrix24Client.list_shape(pend.method, pend.id_field)
            flt = {**dict(pend.params.get("filter") or {}), f"@{pend.field}": list(pend.values.values())}
            base = {k: v for k, v in pend.params.items() if k != "filter"}
            first = await self.client.call(pend.method, {**base, "filter": flt, "order": {idf: "ASC"}, "start": -1},
                                           urgent=True)  # the callers' creates wait for it
            rows = Bitrix24Client._rows(first, items_key)
            if len(rows) >= PAGE:  # a full page: there may be more (several rows for one value)
                last = max(int(r[idf]) for r in rows)
                async for more in self.client.list_all(pend.method, {**base, "filter": {**flt, f">{idf}": last}},
                                                       id_field=idf, count=False):
                    rows.extend(more)
            by: dict[str, list[dict[str, Any]]] = {}
            for r in rows:
                by.setdefault(value_key(r.get(pend.field)), []).append(r)
            for k, futs in pend.waiters.items():
                for f in futs:
                    if not f.done():
                        f.set_result(list(by.get(k, [])))
        except BaseException as e:  # noqa: BLE001 - every waiter learns the failure
            for futs in pend.waiters.values():
                for f in futs:
                    if not f.done():
                        f.set_exception(e if isinstance(e, Exception) else RuntimeError("cancelled"))
            if not isinstance(e, Exception):
                raise

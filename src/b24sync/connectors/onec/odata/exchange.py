"""Incremental reads from 1C through an exchange plan, over the standard OData interface.

Call shapes (facts learned from the ``onecdc`` package's change reader; no code taken):

- nodes: ``GET ExchangePlan_<Plan>?$format=json`` → rows with ``Ref_Key``, ``Code``, ``Description``, ``ThisNode``,
  ``SentNo``, ``ReceivedNo``. ``ThisNode`` is the base itself and cannot be subscribed to.
- read:  ``POST SelectChanges?DataExchangePoint='<odata root>/ExchangePlan_<Plan>(guid'<node>')'&MessageNo=<N>``
  with ``N = ReceivedNo + 1``. 1C builds the whole package in memory and ignores ``$top``/``$filter`` there, so it is
  read as a stream with a byte ceiling (streaming.py). Each entry names its object type (Atom ``<category term>``,
  JSON ``odata.type``/``odata.metadata``) and carries the object's properties.
- acknowledge: ``POST NotifyChangesReceived?DataExchangePoint=…&MessageNo=<N>`` → 1C drops the registrations of
  that message and ``ReceivedNo`` becomes N. Sent only after the caller's commit; a crash before it means the next
  read asks for the same N again and gets the same changes (nothing lost). An empty package is not acknowledged.
- plan names are bare 1C identifiers (letters incl. Cyrillic, digits, ``_``, not starting with a digit): the name
  sits inside a nested literal, where a quote, ``&`` or ``#`` would break the request.

What the 1C administrator sets up is in docs/connector-onec.md ("Exchange plan").
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from b24sync.connectors.onec.odata.client import ODataClient, encode_query
from b24sync.engine.errors import PermanentError, RetryableError

log = logging.getLogger(__name__)

_IDENT = re.compile(r"^[^\W\d]\w*$")


class ExchangePlanConfigError(PermanentError):
    pass


def check_plan_name(name: str) -> str:
    n = (name or "").strip()
    for prefix in ("ExchangePlan_", "ПланОбмена.", "ExchangePlan."):
        if n.startswith(prefix):
            n = n[len(prefix):]
    if not _IDENT.match(n):
        raise ExchangePlanConfigError(f"exchange plan name must be a bare 1C identifier, got {name!r}")
    return n


@dataclass
class ChangePackage:
    message_no: int
    changes: list[dict[str, Any]] = field(default_factory=list)
    bytes_read: int = 0

    def of_type(self, entity_set: str) -> list[dict[str, Any]]:
        return [c for c in self.changes if change_type(c) == entity_set]

    def types(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.changes:
            t = change_type(c) or "?"
            out[t] = out.get(t, 0) + 1
        return out


def change_type(change: dict[str, Any]) -> str | None:
    """The entity set an entry belongs to: ``StandardODATA.Catalog_X`` / ``…$metadata#Catalog_X/@Element`` → ``Catalog_X``."""
    raw = change.get("odata.type") or change.get("@odata.type")
    if not raw:
        meta = change.get("__metadata")
        if isinstance(meta, dict):
            raw = meta.get("type")
    if not raw:
        m = change.get("odata.metadata") or change.get("@odata.context")
        if isinstance(m, str) and "#" in m:
            raw = m.split("#", 1)[1].split("/", 1)[0]
    if not raw:
        return None
    raw = str(raw).lstrip("#")
    if raw.startswith("Collection("):
        raw = raw[len("Collection("):].rstrip(")")
    if "." in raw:
        raw = raw.rsplit(".", 1)[1]
    for suffix in ("_RowType", "_RecordType"):
        if raw.endswith(suffix) and not raw.startswith(("InformationRegister_", "AccumulationRegister_")):
            raw = raw[: -len(suffix)]
    return raw


class ExchangePlanReader:
    def __init__(self, client: ODataClient, plan: str, node: str, *, max_bytes: int | None = None,
                 fmt: str = "atom") -> None:
        self.client = client
        self.plan = check_plan_name(plan)
        try:
            self.node = str(uuid.UUID(str(node)))  # canonical lower-case GUID, as Ref_Key comes back
        except ValueError as exc:
            raise ExchangePlanConfigError(f"exchange-plan node must be the node's Ref_Key GUID, got {node!r}") from exc
        self.max_bytes = max_bytes
        # Atom by default: the one client known to run SelectChanges against live bases (onecdc) reads Atom and
        # never asks for JSON there; "json" adds $format=json (the sandbox honours it; a real base may not).
        if fmt not in ("atom", "json"):
            raise ExchangePlanConfigError(f"changes_format must be atom or json, got {fmt!r}")
        self.fmt = fmt

    @property
    def entity_set(self) -> str:
        return f"ExchangePlan_{self.plan}"

    async def nodes(self) -> list[dict[str, Any]]:
        page = await self.client.query(self.entity_set)
        return page.rows

    async def node_info(self) -> dict[str, Any]:
        nodes = await self.nodes()
        for n in nodes:
            if str(n.get("Ref_Key", "")).lower() == self.node:
                if n.get("ThisNode"):
                    raise ExchangePlanConfigError(
                        f"node {self.node} is ThisNode (the 1C base itself); create a separate node for b24sync")
                return n
        listing = ", ".join(f"{n.get('Ref_Key')} {n.get('Code') or ''} {n.get('Description') or ''}".strip()
                            for n in nodes if not n.get("ThisNode"))
        raise ExchangePlanConfigError(
            f"node {self.node} is not a node of {self.entity_set}; available: {listing or 'none (create one in 1C)'}")

    async def received_no(self) -> int:
        return int((await self.node_info()).get("ReceivedNo") or 0)

    def _point_query(self, message_no: int) -> str:
        # the node's absolute OData URL, as one literal; decoded first so encode_query encodes it exactly once
        point = f"{unquote(self.client.base_url)}{self.entity_set}(guid'{self.node}')"
        return encode_query([("DataExchangePoint", f"'{point}'"), ("MessageNo", str(message_no))])

    async def read_package(self, message_no: int | None = None) -> ChangePackage:
        """Read package ``ReceivedNo + 1`` (or the given number) completely, streamed and size-bounded."""
        n = message_no if message_no is not None else await self.received_no() + 1
        qs = self._point_query(n)
        if self.fmt == "json" and self.client.dialect.format_param:
            qs += "&" + quote(self.client.dialect.format_param, safe="$=")
        url = f"{self.client.base_url}SelectChanges?{qs}"
        started, tries = time.monotonic(), 0
        while True:
            # SelectChanges with the same MessageNo returns the same package again (registrations stay until
            # NotifyChangesReceived), so a package whose read failed midway is read again whole, with the client's
            # read backoff (connectors/delivery.py) — a transient 5xx does not fail the poll.
            tries += 1
            pkg = ChangePackage(n)
            try:
                async for row in self.client.stream_rows("POST", url, context=f"SelectChanges {self.entity_set} #{n}",
                                                         max_bytes=self.max_bytes):
                    pkg.changes.append(row)
                break
            except RetryableError as err:
                wait = self.client.retry.next_delay(tries, started, err.retry_after)
                if wait is None:
                    raise
                self.client.stats.retries += 1
                await asyncio.sleep(wait)
        log.info("1C exchange package %s #%s: %s", self.entity_set, n, pkg.types())
        return pkg

    async def acknowledge(self, message_no: int) -> None:
        url = f"{self.client.base_url}NotifyChangesReceived?{self._point_query(message_no)}"
        await self.client.request("POST", url, context=f"NotifyChangesReceived {self.entity_set} #{message_no}",
                                  idempotent=True)  # acknowledging message N again changes nothing

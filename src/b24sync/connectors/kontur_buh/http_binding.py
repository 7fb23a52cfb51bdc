"""Binds ``KonturBuhConnector``'s operations to the generic HTTP/JSON adapter and a preset YAML.

Not a second adapter: every HTTP detail (URL, auth, body, response paths, error mapping) is done by
``b24sync.connectors.http_json.HttpJsonAdapter`` from the preset's ``http:`` section; this module only says which
configured object/operation serves which connector operation.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
from ruamel.yaml import YAML

from b24sync.connectors.http_json import HttpJsonAdapter, HttpJsonConfig
from b24sync.connectors.kontur_buh.connector import DomainSettings, KonturBuhConnector
from b24sync.engine.errors import NotFoundError, PermanentError
from b24sync.engine.ports import ObjectRef, Record

COUNTERPARTY, INVOICE, PAYMENT, INVOICE_PDF, ACT = (ObjectRef(n) for n in
                                                     ("counterparty", "invoice", "payment", "invoice_pdf", "act"))
PRESETS = {"sandbox-model": "sandbox-model.yaml"}


def _values(rec: Record) -> dict[str, Any]:
    return {**rec.values, "id": rec.id}


class HttpJsonCaller:
    """``OperationCaller`` over ``HttpJsonAdapter``."""

    def __init__(self, adapter: HttpJsonAdapter) -> None:
        self.adapter = adapter

    async def _get(self, obj: ObjectRef, rid: str) -> dict[str, Any]:
        rec = await self.adapter.get(obj, rid)
        if rec is None:
            raise NotFoundError(f"{self.adapter.name}: {obj.object} {rid} не найден.")
        return _values(rec)

    async def call(self, operation: str, params: Mapping[str, Any]) -> Any:
        a = self.adapter
        p = dict(params)
        if operation == "find_counterparty":
            criteria = {"inn": p["inn"]}
            if p.get("kpp"):
                criteria["kpp"] = p["kpp"]
            return [_values(r) for r in await a.find(COUNTERPARTY, criteria)]
        if operation == "create_counterparty":
            rid = await a.create(COUNTERPARTY, p)
            return {**p, "id": rid}
        if operation == "create_invoice":
            return await self._get(INVOICE, await a.create(INVOICE, p))
        if operation == "get_invoice":
            return await self._get(INVOICE, p["invoice_id"])
        if operation == "list_payments":
            return [_values(r) for r in await a.find(PAYMENT, {"invoice_id": p["invoice_id"]})]
        if operation == "invoice_pdf":
            op = a.ops(INVOICE_PDF).get
            if op is None:
                raise PermanentError(f"{a.name}: object 'invoice_pdf' has no 'get' operation configured")
            resp = await a.call(op, {"id": p["invoice_id"]}, name="get")
            return resp.content
        if operation == "create_act":
            return await self._get(ACT, await a.create(ACT, p))
        raise PermanentError(f"{a.name}: unknown Kontur.Buhgalteria operation {operation!r}")

    async def aclose(self) -> None:
        await self.adapter.aclose()


def load_preset(preset: str | Path) -> dict[str, Any]:
    """A shipped preset by name (``sandbox-model``) or a YAML file path."""
    yaml = YAML(typ="safe")
    if isinstance(preset, str) and preset in PRESETS:
        text = resources.files("b24sync.connectors.kontur_buh.presets").joinpath(PRESETS[preset]).read_text("utf-8")
    else:
        text = Path(preset).read_text("utf-8")
    data = yaml.load(text)
    if not isinstance(data, dict) or "http" not in data:
        raise ValueError(f"preset {preset}: needs an `http:` section (an HttpJsonConfig)")
    return data


def from_preset(
    preset: str | Path | Mapping[str, Any] = "sandbox-model",
    *,
    base_url: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    environ: dict[str, str] | None = None,
    name: str = "kontur_buh",
) -> KonturBuhConnector:
    data = dict(preset) if isinstance(preset, Mapping) else load_preset(preset)
    http = dict(data["http"])
    if base_url:
        http["base_url"] = base_url
    adapter = HttpJsonAdapter(name, HttpJsonConfig.model_validate(http), transport=transport, environ=environ)
    return KonturBuhConnector(HttpJsonCaller(adapter), DomainSettings.from_config(data.get("kontur_buh")))

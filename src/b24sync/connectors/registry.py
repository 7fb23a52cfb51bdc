"""Which connector serves which ``type:`` of a spec system. Imported lazily, so a missing optional piece of one
connector never breaks another. The engine never imports this; the CLI and server compose the pieces."""

from __future__ import annotations

import importlib
from typing import Any

from b24sync.engine.ports import SystemAdapter

# type in the spec -> "module:factory". A factory takes (name, resolved config dict) and returns a SystemAdapter.
ADAPTERS: dict[str, str] = {
    "diadok": "b24sync.connectors.diadok.adapter:from_config",
    "sql": "b24sync.connectors.sqltable.adapter:from_config",
    "bitrix24": "b24sync.connectors.bitrix24.adapter:from_config",
    "1c-odata": "b24sync.connectors.onec.odata.adapter:from_config",
    "odata": "b24sync.connectors.onec.odata.adapter:from_config",
    "http-json": "b24sync.connectors.http_json.adapter:from_config",
    "1c-http": "b24sync.connectors.onec.http.preset:from_config",
    "dadata": "b24sync.connectors.party.adapter:dadata_adapter",  # read-only party lookup (role: service)
    "kontur-focus": "b24sync.connectors.party.adapter:focus_adapter",
    "kontur-buh": "b24sync.connectors.kontur_buh.adapter:from_config",
    "commerceml": "b24sync.connectors.commerceml.system:from_config",
    "bank-statement": "b24sync.connectors.bank_statement.system:from_config",
    "odoo": "b24sync.connectors.odoo.adapter:from_config",
}


def known_types() -> list[str]:
    return sorted(ADAPTERS)


def build_adapter(name: str, system_type: str, config: dict[str, Any]) -> SystemAdapter:
    target = ADAPTERS.get(system_type)
    if target is None:
        raise KeyError(f"no connector for system type {system_type!r}; known: {', '.join(known_types())}")
    module, _, attr = target.partition(":")
    factory = getattr(importlib.import_module(module), attr)
    return factory(name, config)

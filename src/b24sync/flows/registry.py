"""Flows installed into a runtime: each installer may add job handlers and hooks (``on_parked``, ``on_revert``)
for the systems the spec uses. Installers are plain functions; a flow module adds its own to FLOW_INSTALLERS."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from b24sync.engine.runtime import Runtime

# "module:function" installers, imported lazily
FLOW_INSTALLERS: list[str] = [
    "b24sync.flows.counterparties:install",
    "b24sync.flows.contacts:install",
    "b24sync.flows.catalog:install",
    "b24sync.flows.autofill:install",
    "b24sync.flows.notify:install_for_files",
]


def install_flows(rt: Runtime) -> None:
    for target in FLOW_INSTALLERS:
        module, _, attr = target.partition(":")
        installer: Callable[[Runtime], None] = getattr(importlib.import_module(module), attr)
        installer(rt)

"""Composition root: a spec + the connector registry + the installed flows = a runnable runtime.

The engine knows no connector and no flow; this module (used by the CLI and the server) wires them together.
"""

from __future__ import annotations

from sqlalchemy import Engine

from b24sync.connectors.registry import build_adapter
from b24sync.engine.runtime import Runtime
from b24sync.engine.service import build_runtime
from b24sync.flows.registry import install_flows
from b24sync.spec.models import Spec


def build(spec: Spec, *, database_url: str | None = None, db: Engine | None = None) -> Runtime:
    rt = build_runtime(spec, build_adapter, db=db, database_url=database_url)
    install_flows(rt)
    return rt

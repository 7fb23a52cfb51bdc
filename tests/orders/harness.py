"""Both sandboxes (Bitrix24 + 1C УТ) and a runtime over them, for the document-flow tests."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from b24sync.compose import build
from b24sync.engine.service import RunOptions, run
from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox
from b24sync.sandbox.onec.sandbox import OneCSandbox
from b24sync.spec.models import Spec

ORDERS = "Document_ЗаказКлиента"


def spec(b24_url: str, onec_url: str, entities: dict[str, Any], value_maps: dict | None = None) -> Spec:
    return Spec.model_validate({
        "version": 1, "name": "orders test",
        "systems": {
            "bitrix24": {"type": "bitrix24", "role": "crm", "webhook_url": b24_url, "rate": 50, "burst": 400},
            "onec": {"type": "1c-odata", "role": "erp", "url": onec_url, "username": "odata", "password": "secret",
                     "preset": "ut11"},
        },
        "defaults": {"workers": 8, "poll_overlap": "30s",
                     "retry": {"max_attempts": 3, "base_seconds": 0.2, "max_seconds": 1}},
        "value_maps": value_maps or {},
        "entities": entities,
    })


def scenario(fn, tmp_path: Path, entities: dict[str, Any], value_maps: dict | None = None) -> Any:  # type: ignore[no-untyped-def]
    b24 = Bitrix24Sandbox(rate=50, burst=400)
    onec = OneCSandbox(seed=None)
    url = b24.start()
    onec_url = onec.start()
    try:
        rt = build(spec(url, onec_url, entities, value_maps), database_url=f"sqlite:///{tmp_path / 'state.db'}")

        async def main() -> Any:
            try:
                from b24sync.connectors.bitrix24.portal import prepare_portal
                from b24sync.connectors.bitrix24.requirements import requirements_from_spec

                client = rt.adapters["bitrix24"].client  # type: ignore[attr-defined]
                await prepare_portal(client, requirements_from_spec(rt.spec))
                return await fn(rt, b24, onec, client)
            finally:
                await rt.aclose()

        return asyncio.run(main())
    finally:
        b24.stop()
        onec.stop()


async def cycle(rt) -> Any:  # type: ignore[no-untyped-def]
    return await run(rt, RunOptions(once=True))


def orders(onec: OneCSandbox) -> list[dict]:
    return list(onec.find(ORDERS))

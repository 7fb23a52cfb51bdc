"""The b24sync HTTP server: event intake (Bitrix24 webhooks, ERP pushes), health, status and Prometheus metrics.

Connector routers are mounted here when the spec uses that connector; each hands verified events to ``intake``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from b24sync.engine.runtime import Runtime
from b24sync.store import queue as jobs


def create_app(rt: Runtime, routers: list[Any] | None = None) -> FastAPI:
    app = FastAPI(title="b24sync", version="0.1.0", docs_url="/docs")

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "queue_depth": jobs.depth(rt.db)}

    @app.get("/status")
    def status() -> dict[str, Any]:
        return {"entities": [s.__dict__ for s in jobs.status(rt.db)]}

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    for router in routers or []:
        app.include_router(router)
    return app

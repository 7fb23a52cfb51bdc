"""The b24sync HTTP server: event intake (Bitrix24 webhooks, ERP pushes), health, status and Prometheus metrics.

Connector routers are mounted here when the spec uses that connector; each hands verified events to ``intake``.
"""

from __future__ import annotations

import hmac
import os
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from b24sync.engine.runtime import Runtime
from b24sync.store import queue as jobs


def create_app(rt: Runtime, routers: list[Any] | None = None) -> FastAPI:
    app = FastAPI(title="b24sync", version="0.1.0", docs_url="/docs")

    from b24sync.engine.metrics import STORE

    STORE.db = rt.db  # the queue gauges are read from this store at scrape time

    # /status, /metrics, /docs, /openapi.json are open by default (fine on 127.0.0.1); once the port is reachable
    # from elsewhere set B24SYNC_STATUS_TOKEN and they need `Authorization: Bearer <token>` (docs/security.md).
    status_token = os.environ.get("B24SYNC_STATUS_TOKEN", "").strip()
    guarded = ("/status", "/metrics", "/docs", "/openapi.json", "/redoc")

    @app.middleware("http")
    async def status_auth(request: Request, call_next: Any) -> Response:
        if status_token and request.url.path.rstrip("/") in guarded:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {status_token}".encode()):
                return JSONResponse({"error": "unauthorized"}, status_code=401,
                                    headers={"WWW-Authenticate": "Bearer"})
        return await call_next(request)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        """The process is alive (a liveness probe: restart me if this does not answer)."""
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> Response:
        """Ready = the store answers, every entity polled successfully lately, no credentials refused."""
        from b24sync.engine.health import readiness

        r = readiness(rt)
        body = {"status": "ready" if r.ready else "not ready", "reasons": r.reasons, "entities": r.entities}
        return JSONResponse(body, status_code=200 if r.ready else 503)

    @app.get("/status")
    def status() -> dict[str, Any]:
        return {"entities": [s.__dict__ for s in jobs.status(rt.db)]}

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    for router in routers or []:
        app.include_router(router)
    from b24sync.server.console.app import mount_console

    mount_console(app, rt)  # answers only when a console token is set
    return app

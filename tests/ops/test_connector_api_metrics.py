"""API metrics of the connectors that share connectors/metered.py (Odoo, http-json and what is built on it —
Kontur.Buhgalteria, 1C HTTP services —, Diadok, Kontur.Focus, SQL): after a sandbox sync, each system's
``b24sync_api_requests_total`` per HTTP status equals what the sandbox served (counted on the server side, by an
ASGI wrapper around the sandbox app), reads and writes are told apart, and a refused key is an ``auth`` error."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from b24sync.engine import metrics
from b24sync.engine.errors import AuthError
from b24sync.engine.ports import ChangeCursor, ObjectRef


class Served:
    """Counts the responses an ASGI app sends, by status — what the sandbox served."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.codes: Counter[str] = Counter()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counted(message: dict) -> None:
            if message["type"] == "http.response.start":
                self.codes[str(message["status"])] += 1
            await send(message)

        await self.app(scope, receive, counted)


def counted(metric: Any, system: str, by: str) -> Counter[str]:
    out: Counter[str] = Counter()
    for fam in metric.collect():
        for s in fam.samples:
            if s.name.endswith("_total") and s.labels["system"] == system and s.value:
                out[s.labels[by]] += int(s.value)
    return out


def test_odoo_requests_equal_what_the_sandbox_served() -> None:
    from b24sync.connectors.odoo.adapter import from_config
    from b24sync.sandbox.odoo.app import OdooSandboxConfig, create_app
    from b24sync.sandbox.odoo.db import Database
    from b24sync.sandbox.odoo.seed import seed

    db = Database()
    seed(db)
    served = Served(create_app(OdooSandboxConfig(version="17.0", api_keys={"k": "admin"}), db))
    partner = ObjectRef("res.partner", {"domain": [["is_company", "=", True]]})
    a = from_config("odoo_metrics", {"url": "http://odoo.test", "database": "b24sync", "username": "admin",
                                     "api_key": "k", "protocol": "jsonrpc",
                                     "transport": httpx.ASGITransport(app=served)})

    async def go() -> None:
        page = await a.read_changes(partner, ChangeCursor(), overlap_seconds=0, limit=50)
        assert page.records
        rid = await a.create(partner, {"name": "ООО «Метрика»", "is_company": True, "vat": "7736207543"})
        await a.update(partner, rid, {"email": "m@example.ru"})
        assert (await a.get(partner, rid)) is not None
        await a.aclose()

    asyncio.run(go())
    assert counted(metrics.API_REQUESTS, "odoo_metrics", "code") == served.codes and served.codes["200"] >= 5
    groups = counted(metrics.API_REQUESTS, "odoo_metrics", "method_group")
    assert groups["auth"] == 1 and groups["write"] == 2 and groups["read"] >= 2, groups  # login, create + write


def test_kontur_buhgalteria_over_http_json_requests_and_an_auth_error_equal_what_was_served() -> None:
    from b24sync.connectors.kontur_buh.adapter import from_config
    from b24sync.sandbox.kontur.app import KonturSandboxConfig, create_app

    served = Served(create_app(KonturSandboxConfig(api_keys={"k-1"})))
    cp = ObjectRef("counterparty")

    def system(name: str, token: str) -> Any:
        return from_config(name, {"base_url": "http://kontur.test/api/v1", "token": token, "preset": "sandbox-model",
                                  "transport": httpx.ASGITransport(app=served)})

    async def go() -> None:
        kb = system("kontur_metrics", "k-1")
        rid = await kb.create(cp, {"inn": "7707083893", "kpp": "770701001", "name": "ООО «А»"})
        await kb.update(cp, rid, {"name": "ООО «Б»"})
        assert [r.id for r in await kb.find(cp, {"inn": "7707083893"})] == [rid]
        await kb.read_changes(cp, ChangeCursor(), overlap_seconds=0, limit=100)
        await kb.aclose()
        bad = system("kontur_metrics", "wrong")
        with pytest.raises(AuthError):
            await bad.find(cp, {"inn": "7707083893"})
        await bad.aclose()

    asyncio.run(go())
    assert counted(metrics.API_REQUESTS, "kontur_metrics", "code") == served.codes
    assert served.codes["401"] >= 1 and sum(served.codes.values()) >= 5
    assert counted(metrics.API_ERRORS, "kontur_metrics", "error") == {"auth": served.codes["401"]}
    groups = counted(metrics.API_REQUESTS, "kontur_metrics", "method_group")
    assert groups["write"] >= 2 and groups["read"] >= 2, groups


def test_diadok_requests_equal_what_the_sandbox_served(monkeypatch: pytest.MonkeyPatch) -> None:
    from b24sync.connectors.diadok.auth import AuthSettings
    from b24sync.connectors.diadok.client import DiadokClient, DiadokSettings
    from b24sync.sandbox.diadok.app import create_app

    monkeypatch.setenv("DIADOK_ACCESS_TOKEN", "sandbox-access-token")
    monkeypatch.setenv("DIADOK_CLIENT_ID", "sandbox-client-id")
    monkeypatch.delenv("DIADOK_TOKEN", raising=False)
    served = Served(create_app())
    dd = DiadokClient(DiadokSettings(base_url="http://diadok.test", auth=AuthSettings(style="bearer")),
                      transport=httpx.ASGITransport(app=served), system="diadok_metrics")

    async def go() -> None:
        boxes = await dd.my_boxes()
        await dd.get_new_events(boxes[0].box_id)
        await dd.aclose()

    asyncio.run(go())
    assert served.codes["200"] >= 2
    assert counted(metrics.API_REQUESTS, "diadok_metrics", "code") == served.codes


def test_sql_statements_are_counted_with_errors(tmp_path: Path) -> None:
    import sqlite3

    from b24sync.connectors.sqltable.adapter import SqlTableAdapter
    from b24sync.engine.errors import SyncError

    path = tmp_path / "erp.db"
    with sqlite3.connect(path) as c:
        c.execute("create table counterparty (id integer primary key, name text not null, inn text, version integer,"
                  " modified text)")
    a = SqlTableAdapter("sql_metrics", f"sqlite:///{path}", {"counterparty": {"id": "id", "version": "version",
                                                                             "modified": "modified"}})
    obj = ObjectRef("counterparty")

    async def go() -> None:
        rid = await a.create(obj, {"name": "ООО «С»", "inn": "7707083893"})
        assert (await a.get(obj, rid)) is not None
        with pytest.raises(SyncError):
            await a.create(obj, {"inn": "7736207543"})  # NOT NULL refused by the database

    asyncio.run(go())
    codes = counted(metrics.API_REQUESTS, "sql_metrics", "code")
    groups = counted(metrics.API_REQUESTS, "sql_metrics", "method_group")
    assert codes["ok"] >= 2 and codes["error"] == 1 and groups["write"] >= 2 and groups["read"] >= 1, (codes, groups)
    assert counted(metrics.API_ERRORS, "sql_metrics", "error") == {"client": 1}


def test_kontur_focus_lookups_and_a_refused_key_equal_what_the_sandbox_served() -> None:
    from b24sync.connectors.kontur_focus import FocusLookup
    from b24sync.connectors.kontur_focus.lookup import aclose_clients
    from b24sync.sandbox.focus import create_app
    from b24sync.sandbox.served import ServedApp

    served = Served(create_app(key="focus-key"))
    app = ServedApp(served)
    before = counted(metrics.API_REQUESTS, "kontur_focus", "code")
    errors_before = counted(metrics.API_ERRORS, "kontur_focus", "error")

    async def go() -> None:
        lk = FocusLookup("focus-key", base_url=app.url + "/api3/")
        assert await lk.find_by_inn("7707083893")
        assert await lk.find_by_inn("1234567894") == []
        with pytest.raises(AuthError):
            await FocusLookup("wrong", base_url=app.url + "/api3/").find_by_inn("7707083893")
        await aclose_clients()

    try:
        asyncio.run(go())
    finally:
        app.stop()
    after = counted(metrics.API_REQUESTS, "kontur_focus", "code")
    assert after - before == served.codes and served.codes["200"] == 2 and sum(served.codes.values()) == 3
    refused = counted(metrics.API_ERRORS, "kontur_focus", "error") - errors_before
    assert refused == {"auth": 1}

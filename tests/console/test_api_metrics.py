"""Per-system API metrics after a sandbox sync: requests by system, method class and status equal what the
Bitrix24 sandbox served; a forced 500 is counted as a server error; the client-side bucket's waits and fill, the
operating budget and the DaData quota are exported and shown on the console's overview."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from fastapi.testclient import TestClient

SPEC = """
version: 1
name: API metrics
systems:
  portal: {{type: bitrix24, role: crm, webhook_url: "{webhook}", rate: 8, burst: 4}}
  onec: {{type: 1c-odata, role: erp, url: "{onec}", username: odata, password: secret, preset: ut11}}
entities:
  company:
    title: Контрагенты
    master: onec
    direction: erp_to_crm
    crm: {{object: crm.company}}
    erp: {{object: Catalog_Контрагенты}}
    match:
      - {{crm: UF_CRM_ERP_ID, erp: Ref_Key}}
    link: {{crm: UF_CRM_ERP_ID}}
    fields:
      - {{crm: TITLE, erp: Description}}
    triggers:
      - poll: 10m
"""


def _value(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', line[: line.index("}")]))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_api_requests_errors_and_limiters_per_system(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from b24sync.compose import build
    from b24sync.connectors.bitrix24.portal import prepare_portal
    from b24sync.connectors.bitrix24.requirements import requirements_from_spec
    from b24sync.engine.scheduler import poll_once
    from b24sync.engine.service import RunOptions, run
    from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox
    from b24sync.sandbox.onec.sandbox import OneCSandbox
    from b24sync.server.app import create_app
    from b24sync.spec.loader import load_spec

    b24 = Bitrix24Sandbox(rate=None)
    b24.start()
    onec = OneCSandbox(seed="demo")
    onec.start()
    try:
        f = tmp_path / "spec.yaml"
        f.write_text(SPEC.format(webhook=b24.webhook_url, onec=onec.odata_url), encoding="utf-8")
        rt = build(load_spec(f, {}), database_url=f"sqlite:///{tmp_path / 'state.db'}")
        monkeypatch.setenv("B24SYNC_CONSOLE_TOKEN", "op")
        app = create_app(rt)
        client = TestClient(app)
        before = client.get("/metrics").text

        async def go() -> None:
            await prepare_portal(rt.adapters["portal"].client, requirements_from_spec(rt.spec))  # type: ignore[attr-defined]
            c = rt.adapters["portal"].client  # type: ignore[attr-defined]
            # three requests at once: the bucket (4 - margin 3 = 1 in flight at 8/s) makes two of them wait
            await asyncio.gather(*(c.call("crm.company.fields", {}, batch=False) for _ in range(3)))
            b24.force("crm.company.list", "500", times=1)  # one read answered 500: retried by the client
            await poll_once(rt, "company", "erp")
            await run(rt, RunOptions(once=True, poll=False))
            await rt.aclose()

        served = b24.requests_served
        asyncio.run(go())
        served = b24.requests_served - served
        after = client.get("/metrics").text

        def delta(name: str, **labels: str) -> float:
            return _value(after, name, **labels) - _value(before, name, **labels)

        assert served >= 4
        assert delta("b24sync_api_requests_total", system="portal") == served  # every HTTP request, once
        assert delta("b24sync_api_requests_total", system="portal", code="500") == 1
        assert delta("b24sync_api_errors_total", system="portal", error="server") == 1
        assert delta("b24sync_api_requests_total", system="portal", method_group="batch") >= 1
        assert delta("b24sync_api_requests_total", system="onec", method_group="read", code="200") >= 1
        assert delta("b24sync_api_errors_total", system="onec") == 0
        # more requests than the bucket holds (4 - margin 3) at 8/s: the client waited, and says how long
        assert delta("b24sync_ratelimit_wait_seconds_total", system="portal", limiter="bucket") > 0
        assert 'b24sync_limiter_usage_ratio{limiter="bucket",system="portal"}' in after
        assert 'b24sync_limiter_usage_ratio{limiter="operating_budget",system="portal"}' in after
        for line in after.splitlines():  # low cardinality: no URL, token or record id in a label
            if line.startswith("b24sync_api_"):
                assert "http" not in line and b24.webhook_url.split("/")[-2] not in line
        # the console's overview shows the same systems with their requests and limiter meters
        c = TestClient(app)
        c.post("/console/login", data={"token": "op"})
        page = c.get("/console/").text
        assert "data-system=\"portal\"" in page, page[-3000:]
        row = page[page.index("data-system=\"portal\""):]
        row = row[: row.index("</tr>")]
        assert 'data-limiter="bucket"' in row and 'data-limiter="operating_budget"' in row
        assert int(re.search(r'class="requests">(\d+)', row).group(1)) >= served  # type: ignore[union-attr]
        assert 'data-system="onec"' in page
    finally:
        b24.stop()
        onec.stop()


def test_dadata_quota_usage_is_counted_per_moscow_day_and_shared() -> None:
    from b24sync.connectors.dadata.lookup import DadataLookup
    from b24sync.engine.metrics import LIMITERS
    from b24sync.store.kv import MemoryState

    state = MemoryState()
    a = DadataLookup("token-1", state=state, daily_quota=4)
    b = DadataLookup("token-1", state=state, daily_quota=4)  # another worker, same key and state
    a.system = b.system = "dadata-test"
    a._count_request()
    b._count_request()
    assert a.limiter_usage() == {"daily_quota": 0.5}
    assert ("dadata-test", "daily_quota", 0.5) in LIMITERS.usage()
    from datetime import UTC, datetime, timedelta

    a._remember_exhausted(datetime.now(UTC) + timedelta(hours=1), "Feature 'SUGGESTIONS' disabled")
    assert b.limiter_usage() == {"daily_quota": 1.0}

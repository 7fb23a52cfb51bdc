"""An event lost while b24sync was down is delivered from Bitrix24's offline queue after restart, once in effect —
also when the previous run died after reserving a batch and before confirming it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import func, select

from b24sync.compose import build
from b24sync.connectors.bitrix24.auth import OAuthAuth
from b24sync.connectors.bitrix24.client import Bitrix24Client
from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox
from b24sync.server.bitrix24_offline import _process_id, bind, drain_once
from b24sync.spec.loader import load_spec
from b24sync.store.kv import MemoryState
from b24sync.store.models import InboxEntry, Job

SPEC = """
version: 1
name: offline events
systems:
  bitrix24: {{type: bitrix24, role: crm, webhook_url: "{webhook}", offline_events: true}}
  erp: {{type: sql, role: erp, url: "sqlite:///{erp}", tables: {{cp: {{table: cp, id: id, modified: m}}}}}}
entities:
  company:
    title: Companies → ERP
    master: bitrix24
    direction: crm_to_erp
    crm: {{object: crm.company}}
    erp: {{object: cp}}
    match:
      - {{crm: TITLE, erp: name}}
    link: {{erp: crm_id}}
    fields:
      - {{crm: TITLE, erp: name}}
    triggers:
      - webhook: ONCRMCOMPANYUPDATE
"""


def _app_client(sb: Bitrix24Sandbox) -> Bitrix24Client:
    tok = sb.oauth_tokens()
    state = MemoryState()
    auth = OAuthAuth(client_id="local.app.7", client_secret="secret-7", state=state, key="b24:oauth:t",
                     token_endpoint=sb.oauth_token_url, client_endpoint=sb.base_url + "/rest/",
                     access_token=tok["access_token"], refresh_token=tok["refresh_token"])
    return Bitrix24Client(auth, state=state)


def test_events_lost_while_down_are_delivered_once_after_restart_even_after_a_crash_mid_batch(tmp_path: Path) -> None:
    from tests.sqltables import make_table

    make_table(tmp_path / "erp.db", "cp", ("name", "crm_id"))
    sb = Bitrix24Sandbox(rate=None, client_id="local.app.7", client_secret="secret-7")
    sb.start()
    f = tmp_path / "spec.yaml"
    f.write_text(SPEC.format(webhook=sb.webhook_url, erp=tmp_path / "erp.db"), encoding="utf-8")
    spec = load_spec(f, {})
    store = f"sqlite:///{tmp_path / 'state.db'}"

    async def go() -> tuple[int, int]:
        rt = build(spec, database_url=store)
        app = _app_client(sb)
        rt.adapters["bitrix24"].client = app  # type: ignore[attr-defined]  # offline events need app auth
        assert await bind(rt, "bitrix24") == ["ONCRMCOMPANYUPDATE"]
        # b24sync is down: 12 companies are changed by people in Bitrix24 (through the inbound webhook)
        web = rt.adapters["bitrix24"]
        hook = build(spec, database_url=store).adapters["bitrix24"].client  # type: ignore[attr-defined]
        ids = [await hook.call("crm.company.add", {"fields": {"TITLE": f"Компания {i}"}}) for i in range(12)]
        for cid in ids:
            await hook.call("crm.company.update", {"id": cid, "fields": {"TITLE": f"Компания {cid} (ред.)"}})
        queued = await app.call_full("event.offline.list", {}, batch=False)
        assert len(queued.result) == 12
        # a previous run reserved a batch, applied part of it and died before event.offline.clear
        pid = _process_id(rt, "bitrix24")
        got = await app.call("event.offline.get", {"clear": 0, "process_id": pid, "limit": 5}, batch=False)
        from b24sync.server.bitrix24_offline import _apply

        for ev in got["events"][:3]:
            _apply(rt, "bitrix24", ev)
        # restart: leftovers first, then the rest of the queue
        applied = await drain_once(rt, "bitrix24")
        again = await drain_once(rt, "bitrix24")
        with rt.db.connect() as c:
            inbox = c.execute(select(func.count()).select_from(InboxEntry)
                              .where(InboxEntry.source == "b24offline:bitrix24")).scalar_one()
            jobs = c.execute(select(func.count()).select_from(Job).where(Job.entity == "company")).scalar_one()
        left = await app.call_full("event.offline.list", {}, batch=False)
        assert left.result == []  # the queue is confirmed empty
        await hook.aclose()
        await web.aclose()
        await app.aclose()
        return applied, again, inbox, jobs  # type: ignore[return-value]

    try:
        applied, again, inbox, jobs = asyncio.run(go())  # type: ignore[misc]
        assert again == 0
        assert applied == 12  # one record per object: the latest state of each company
        assert inbox == 12 and jobs == 12  # each event applied once, the three re-read ones dropped as duplicates
    finally:
        sb.stop()

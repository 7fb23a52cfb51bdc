"""Contacts flow (issue 7), end to end over the Bitrix24 and 1C sandboxes: phone matching across spellings,
several companies flattened to the primary one, both directions without ping-pong, an invalid phone parked,
and Bitrix24 event intake through the b24sync server route."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from ruamel.yaml import YAML
from sqlalchemy import select

from b24sync.compose import build
from b24sync.engine.normalize import normalize
from b24sync.engine.runtime import Runtime
from b24sync.engine.service import RunOptions, run
from b24sync.flows.contacts import DEMO_YAML, merge_contact_info
from b24sync.sandbox.bitrix24 import Bitrix24Sandbox
from b24sync.sandbox.onec.sandbox import OneCSandbox
from b24sync.spec.loader import load_spec
from b24sync.store import identity
from b24sync.store.models import DeadLetter, HistoryEntry

PERSONS = "Catalog_КонтактныеЛицаПартнеров"
COUNTERPARTIES = "Catalog_Контрагенты"

COMPANY = {
    "title": "Counterparties", "master": "onec", "direction": "erp_to_crm",
    "crm": {"object": "crm.company"}, "erp": {"object": COUNTERPARTIES},
    "match": [{"crm": "UF_CRM_INN", "erp": "ИНН", "normalize": "inn"}],
    "link": {"crm": "UF_CRM_ERP_ID"},
    "fields": [{"crm": "TITLE", "erp": "Description"}, {"crm": "UF_CRM_INN", "erp": "ИНН"}],
    "triggers": [{"poll": "30s"}],
}


def _spec_file(tmp_path: Path, b24: Bitrix24Sandbox, onec: OneCSandbox, extra_b24: dict | None = None) -> Path:
    contact = YAML(typ="safe").load(DEMO_YAML.read_text(encoding="utf-8"))["contact"]
    spec = {
        "version": 1, "name": "contacts test",
        "systems": {
            "bitrix24": {"type": "bitrix24", "role": "crm", "webhook_url": b24.webhook_url, **(extra_b24 or {})},
            "onec": {"type": "1c-odata", "role": "erp", "url": onec.odata_url, "username": "odata",
                     "password": "secret", "preset": "ut11"},
        },
        "defaults": {"workers": 20, "poll_overlap": "5s", "retry": {"max_attempts": 3, "base_seconds": 1,
                                                                     "max_seconds": 2}},
        "entities": {"company": COMPANY, "contact": contact},
    }
    p = tmp_path / "spec.yaml"
    p.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")  # JSON is YAML
    return p


@pytest.fixture
def env(tmp_path: Path):  # type: ignore[no-untyped-def]
    b24 = Bitrix24Sandbox(rate=20.0, burst=250)
    onec = OneCSandbox()
    b24.start()
    onec.start()
    try:
        yield tmp_path, b24, onec
    finally:
        b24.stop()
        onec.stop()


def _runtime(tmp_path: Path, b24: Bitrix24Sandbox, onec: OneCSandbox, extra_b24: dict | None = None) -> Runtime:
    spec = load_spec(_spec_file(tmp_path, b24, onec, extra_b24), {})
    return build(spec, database_url=f"sqlite:///{tmp_path / 'state.db'}")


async def _prepare(rt: Runtime) -> Any:
    from b24sync.connectors.bitrix24.portal import prepare_portal
    from b24sync.connectors.bitrix24.requirements import requirements_from_spec

    client = rt.adapters["bitrix24"].client  # type: ignore[attr-defined]
    await prepare_portal(client, requirements_from_spec(rt.spec))
    stats = await run(rt, RunOptions(once=True))  # the counterparties first, so `ref: company` resolves
    assert stats.dead == 0 and stats.actions.get("created", 0) >= 2
    return client


async def _company(client: Any, onec: OneCSandbox, n: int) -> tuple[str, dict]:
    """CRM company id and the 1C counterparty of the n-th counterparty that has a partner."""
    cp = [c for c in onec.find(COUNTERPARTIES) if c["Партнер_Key"] != "00000000-0000-0000-0000-000000000000"][n]
    rows = await client.call("crm.company.list", {"filter": {"UF_CRM_ERP_ID": cp["Ref_Key"]}, "select": ["ID"]})
    return str(rows[0]["ID"]), cp


def _writes(b24: Bitrix24Sandbox) -> float:
    """Operating time charged to the contact write methods: grows with every add/update call (sandbox cost model)."""
    return sum(b24.operating_used(m) for m in ("crm.contact.add", "crm.contact.update"))


def _versions(onec: OneCSandbox) -> dict[str, Any]:
    return {p["Ref_Key"]: p["DataVersion"] for p in onec.find(PERSONS)}


# ---------------------------------------------------------------------------------------------------------------

def test_list_keys_normalise_to_sorted_distinct_values() -> None:
    assert normalize("phone", ["8 (916) 123-45-67", "+79161234567", "", "+7 903 555 44 33"]) == \
        ["+79035554433", "+79161234567"]
    rows = [{"LineNumber": 1, "Тип": "Адрес", "Представление": "Москва"},
            {"LineNumber": 2, "Тип": "Телефон", "Представление": "8 916 123-45-67", "НомерТелефона": "8 916 123-45-67"}]
    merged = merge_contact_info(rows, ["+79161234567", "+79035554433"], None)
    # the address and the existing phone (as typed) stay, the new phone is appended, numbering is continuous
    assert [r["Представление"] for r in merged] == ["Москва", "8 916 123-45-67", "+79035554433"]
    assert [r["LineNumber"] for r in merged] == [1, 2, 3]


def test_phone_in_different_formats_links_instead_of_duplicating(env) -> None:  # type: ignore[no-untyped-def]
    tmp_path, b24, onec = env
    rt = _runtime(tmp_path, b24, onec)

    async def go() -> None:
        try:
            client = await _prepare(rt)
            company_id, cp = await _company(client, onec, 0)
            person = onec.create(PERSONS, Description="Петрова Анна", Фамилия="Петрова", Имя="Анна",
                                 Должность="Бухгалтер", Owner_Key=cp["Партнер_Key"], КонтактнаяИнформация=[
                                     {"LineNumber": 1, "Тип": "Телефон", "Вид": "ТелефонКонтактногоЛица",
                                      "Представление": "89161234567", "НомерТелефона": "89161234567"}])
            persons_before = len(onec.find(PERSONS))
            cid = await client.call("crm.contact.add", {"fields": {
                "NAME": "Анна", "LAST_NAME": "Петрова", "POST": "Бухгалтер", "COMPANY_ID": company_id,
                "PHONE": [{"VALUE": "+7 (916) 123-45-67", "VALUE_TYPE": "MOBILE"}]}})
            stats = await run(rt, RunOptions(once=True))
            assert stats.dead == 0, stats
            assert stats.actions.get("linked", 0) >= 1 and stats.actions.get("created", 0) == 0
            assert len(onec.find(PERSONS)) == persons_before and b24.count("contact") == 1
            with rt.db.connect() as conn:
                b = identity.find(conn, "contact", "crm", str(cid))
            assert b is not None and b.erp_id == person["Ref_Key"]
            # neither side got the number a second time in the other spelling
            assert [p["VALUE"] for p in b24.get("contact", int(cid))["PHONE"]] == ["+7 (916) 123-45-67"]
            rows = onec.get(PERSONS, person["Ref_Key"])["КонтактнаяИнформация"]
            assert [r["Представление"] for r in rows if r["Тип"] == "Телефон"] == ["89161234567"]
        finally:
            await rt.aclose()

    asyncio.run(go())


def test_contact_with_two_companies_is_filed_under_the_primary_companys_partner(env) -> None:  # type: ignore[no-untyped-def]
    tmp_path, b24, onec = env
    rt = _runtime(tmp_path, b24, onec)

    async def go() -> None:
        try:
            client = await _prepare(rt)
            other_id, _ = await _company(client, onec, 1)
            primary_id, primary_cp = await _company(client, onec, 2)
            # bound to two companies; the primary one is the second binding
            cid = await client.call("crm.contact.add", {"fields": {
                "NAME": "Игорь", "LAST_NAME": "Волков", "POST": "Снабженец", "COMPANY_ID": primary_id,
                "COMPANY_IDS": [other_id, primary_id], "EMAIL": [{"VALUE": "Volkov@Example.ru", "VALUE_TYPE": "WORK"}]}})
            items = await client.call("crm.contact.company.items.get", {"id": cid})
            assert {i["COMPANY_ID"]: i["IS_PRIMARY"] for i in items} == {other_id: "N", primary_id: "Y"}
            before = len(onec.find(PERSONS))
            stats = await run(rt, RunOptions(once=True))
            assert stats.dead == 0 and stats.actions.get("created") == 1
            created = [p for p in onec.find(PERSONS) if p["Description"] == "Волков Игорь"]
            assert len(onec.find(PERSONS)) == before + 1 and len(created) == 1  # one person, not one per company
            assert created[0]["Owner_Key"] == primary_cp["Партнер_Key"]
            assert created[0]["Description"] == "Волков Игорь" and created[0]["Должность"] == "Снабженец"
            assert [r["АдресЭП"] for r in created[0]["КонтактнаяИнформация"]] == ["Volkov@example.ru"]  # domain lower-cased
        finally:
            await rt.aclose()

    asyncio.run(go())


def test_both_ways_without_ping_pong(env) -> None:  # type: ignore[no-untyped-def]
    tmp_path, b24, onec = env
    rt = _runtime(tmp_path, b24, onec)

    async def go() -> None:
        try:
            client = await _prepare(rt)
            company_id, cp = await _company(client, onec, 3)
            cid = await client.call("crm.contact.add", {"fields": {
                "NAME": "Ольга", "LAST_NAME": "Демина", "POST": "Главный бухгалтер", "COMPANY_ID": company_id,
                "PHONE": [{"VALUE": "+7 (916) 765-43-21", "VALUE_TYPE": "WORK"}]}})
            # 1) created in the CRM -> 1C
            s1 = await run(rt, RunOptions(once=True))
            assert s1.actions.get("created") == 1 and s1.dead == 0
            ref = next(p for p in onec.find(PERSONS) if p["Фамилия"] == "Демина")["Ref_Key"]
            assert onec.get(PERSONS, ref)["Owner_Key"] == cp["Партнер_Key"]
            entry_id = b24.get("contact", int(cid))["PHONE"][0]["ID"]
            # 2) edited in 1C: position (owned by both) and a second phone typed the 1C way -> CRM
            person = onec.get(PERSONS, ref)
            onec.edit(PERSONS, ref, Должность="Финансовый директор", КонтактнаяИнформация=person["КонтактнаяИнформация"] + [
                {"LineNumber": 9, "Тип": "Телефон", "Вид": "ТелефонКонтактногоЛица", "Представление": "8 903 555-44-33",
                 "НомерТелефона": "8 903 555-44-33"}])
            w0 = _writes(b24)
            s2 = await run(rt, RunOptions(once=True))
            assert s2.dead == 0 and s2.actions.get("updated") == 1, s2
            row = b24.get("contact", int(cid))
            assert row["POST"] == "Финансовый директор"
            phones = {p["ID"]: p["VALUE"] for p in row["PHONE"]}
            assert len(phones) == 2 and phones[entry_id] == "+7 (916) 765-43-21"  # entry kept, one value added
            assert _writes(b24) > w0
            # 3) two more cycles: nothing is written anywhere (our own writes come back and are recognised)
            w1, v1, r1 = _writes(b24), _versions(onec), b24.requests_served
            s3 = await run(rt, RunOptions(once=True))
            s4 = await run(rt, RunOptions(once=True))
            for s in (s3, s4):
                assert not any(s.actions.get(a) for a in ("created", "updated", "linked", "reverted")), s.actions
                assert s.dead == 0
            assert _writes(b24) == w1 and _versions(onec) == v1
            assert b24.requests_served - r1 <= 8  # two polls per cycle (a page + the company look-ups), no writes
        finally:
            await rt.aclose()

    asyncio.run(go())


def test_invalid_phone_is_parked_with_a_readable_reason(env) -> None:  # type: ignore[no-untyped-def]
    tmp_path, b24, onec = env
    rt = _runtime(tmp_path, b24, onec)

    async def go() -> None:
        try:
            client = await _prepare(rt)
            company_id, _ = await _company(client, onec, 4)
            before = len(onec.find(PERSONS))
            cid = await client.call("crm.contact.add", {"fields": {
                "NAME": "Пётр", "LAST_NAME": "Опечаткин", "COMPANY_ID": company_id,
                "PHONE": [{"VALUE": "+7 916 12-34", "VALUE_TYPE": "WORK"}]}})
            stats = await run(rt, RunOptions(once=True))
            assert stats.dead == 1 and len(onec.find(PERSONS)) == before
            with rt.db.connect() as conn:
                dl = conn.execute(select(DeadLetter.payload, DeadLetter.reason)
                                  .where(DeadLetter.entity == "contact")).all()
            assert len(dl) == 1 and dl[0].payload["id"] == str(cid)
            assert "+7 916 12-34" in dl[0].reason and "такого номера не бывает" in dl[0].reason
            assert "10 цифр" in dl[0].reason
        finally:
            await rt.aclose()

    asyncio.run(go())


class _Server:
    """The b24sync server (FastAPI app with the mounted connector routers) on an ephemeral port, in a thread."""

    def __init__(self, app: Any, sock: socket.socket) -> None:
        self.sock = sock
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="off", access_log=False))
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve(sockets=[self.sock])), daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def test_bitrix24_event_intake_triggers_the_sync_and_our_echo_is_dropped(env) -> None:  # type: ignore[no-untyped-def]
    from b24sync.server.app import create_app
    from b24sync.server.mount import routers_for

    tmp_path, b24, onec = env
    # the outgoing webhooks must point at our server, and the server must know their tokens: bind the socket first
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/bitrix24/bitrix24/events"
    tokens = [b24.add_outgoing_webhook(e, url)["APPLICATION_TOKEN"] for e in ("ONCRMCONTACTADD", "ONCRMCONTACTUPDATE")]
    rt = _runtime(tmp_path, b24, onec, extra_b24={"event_tokens": tokens})
    srv = _Server(create_app(rt, routers_for(rt)), sock)
    srv.start()

    async def go() -> None:
        try:
            client = await _prepare(rt)
            company_id, _ = await _company(client, onec, 5)
            # a forged event is refused and enqueues nothing
            async with httpx.AsyncClient() as h:
                bad = await h.post(url, data={"event": "ONCRMCONTACTUPDATE", "data[FIELDS][ID]": "1",
                                              "auth[application_token]": "forged"})
            assert bad.status_code == 401
            cid = await client.call("crm.contact.add", {"fields": {
                "NAME": "Нина", "LAST_NAME": "Событьева", "COMPANY_ID": company_id,
                "EMAIL": [{"VALUE": "nina@example.ru", "VALUE_TYPE": "WORK"}]}})
            assert await asyncio.to_thread(b24.drain_events, 5.0)
            assert [d["status"] for d in b24.deliveries if d["event"] == "ONCRMCONTACTADD"] == [200]
            # no poll: only the event's job runs
            s1 = await run(rt, RunOptions(once=True, poll=False))
            assert s1.actions.get("created") == 1, s1.actions
            ref = next(p for p in onec.find(PERSONS) if p["Фамилия"] == "Событьева")["Ref_Key"]
            # an edit in 1C reaches the CRM; the portal then tells us about our own update ...
            onec.edit(PERSONS, ref, Должность="Юрист")
            s2 = await run(rt, RunOptions(once=True))
            assert s2.actions.get("updated") == 1
            assert await asyncio.to_thread(b24.drain_events, 5.0)
            assert [d["status"] for d in b24.deliveries if d["event"] == "ONCRMCONTACTUPDATE"] == [200]
            # ... and that event is recognised as the echo of our write and dropped (its job may already have run
            # inside the cycle that wrote, since the delivery is asynchronous; the CRM poll ran before the write)
            v = _versions(onec)
            s3 = await run(rt, RunOptions(once=True, poll=False))
            assert s2.actions.get("echo", 0) + s3.actions.get("echo", 0) == 1, (s2.actions, s3.actions)
            assert not any(s3.actions.get(a) for a in ("created", "updated", "linked"))
            with rt.db.connect() as conn:
                reasons = [r for (r,) in conn.execute(select(HistoryEntry.detail).where(
                    HistoryEntry.entity == "contact", HistoryEntry.action == "echo"))]
            assert len(reasons) == 1
            assert _versions(onec) == v and b24.get("contact", int(cid))["POST"] == "Юрист"
        finally:
            await rt.aclose()

    try:
        asyncio.run(go())
    finally:
        srv.stop()

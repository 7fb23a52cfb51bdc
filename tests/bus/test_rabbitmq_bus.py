"""The message bus, live on the local RabbitMQ (127.0.0.1:5672 guest/guest): the outbox relay killed mid-stream
loses nothing and keeps per-record order (duplicates carry the same event id); a consumer killed between receiving
and committing applies each event once."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from tests.sqltables import valid_inn

import pytest
from sqlalchemy import func, select

from b24sync.bus.envelope import CloudEvent, parse
from b24sync.store import outbox
from b24sync.store.db import make_engine, migrate
from b24sync.store.models import InboxEntry, Job, OutboxEvent

AMQP = os.environ.get("B24SYNC_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/")
aio_pika = pytest.importorskip("aio_pika")


def _rabbit_ok() -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=2).close()
        return True
    except OSError:
        return False


if os.environ.get("CI") and not _rabbit_ok():
    raise RuntimeError("RabbitMQ is not reachable at 127.0.0.1:5672; the bus must be tested on it in CI")
pytestmark = pytest.mark.skipif(not _rabbit_ok(), reason="RabbitMQ not reachable at 127.0.0.1:5672")


async def _declare(exchange: str | None, queue: str) -> None:
    conn = await aio_pika.connect_robust(AMQP)
    ch = await conn.channel()
    q = await ch.declare_queue(queue, durable=True, arguments={"x-queue-type": "quorum"})
    if exchange:
        ex = await ch.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        await q.bind(ex, routing_key="#")
    await conn.close()


async def _drain(queue: str, *, idle: float = 2.0) -> list:
    conn = await aio_pika.connect_robust(AMQP)
    ch = await conn.channel()
    q = await ch.declare_queue(queue, passive=True)
    out = []
    while True:
        m = await q.get(no_ack=True, fail=False, timeout=idle)
        if m is None:
            break
        out.append(parse(dict(m.headers or {}), m.body, m.content_type))
    await q.delete(if_unused=False, if_empty=False)
    await conn.close()
    return out


async def _count(queue: str) -> int:
    conn = await aio_pika.connect_robust(AMQP)
    ch = await conn.channel()
    q = await ch.declare_queue(queue, passive=True)
    n = q.declaration_result.message_count
    await conn.close()
    return int(n)


def _pending(db) -> int:  # type: ignore[no-untyped-def]
    with db.connect() as c:
        return outbox.count_pending(c)


@pytest.mark.slow(35)
def test_the_relay_killed_mid_stream_publishes_every_change_in_order_with_stable_ids(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'state.db'}"
    db = make_engine(store)
    migrate(db)
    with db.begin() as c:  # 20 records × 60 committed changes, interleaved
        for k in range(60):
            for r in range(20):
                outbox.add(c, entity="company", action="updated",
                           event={"target": "crm", "values": {"TITLE": f"v{k}"}, "links": {"crm": str(r), "erp": f"e{r}"}})
    with db.connect() as c:
        all_ids = {r.event_id for r in c.execute(select(OutboxEvent.event_id))}
    exchange, queue = f"t.{uuid.uuid4().hex[:8]}", f"t.q.{uuid.uuid4().hex[:8]}"
    asyncio.run(_declare(exchange, queue))
    rng = random.Random(5)
    cmd = [sys.executable, "-m", "b24sync.bus.relay", store, AMQP, exchange, "b24sync://test", "1.5"]
    kills = 0
    deadline = time.monotonic() + 180
    while _pending(db) and time.monotonic() < deadline:
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if kills < 6:
            before, started = _pending(db), time.monotonic()
            while _pending(db) == before and time.monotonic() - started < 60:
                time.sleep(0.02)  # kill it mid-stream, whatever its start-up time on this machine
            time.sleep(rng.uniform(0.0, 0.3))
            p.send_signal(signal.SIGKILL)
            kills += 1
            p.wait()
            continue
        for _ in range(1200):
            if not _pending(db):
                break
            time.sleep(0.1)
        p.send_signal(signal.SIGTERM)
        p.kill()
        p.wait()
    assert _pending(db) == 0, "the relay did not finish"
    assert kills == 6
    events = asyncio.run(_drain(queue))
    got = [e.id for e in events]
    assert set(got) == all_ids, f"lost {len(all_ids - set(got))} events"
    first_seen: dict[str, list[int]] = {}
    seen: set[str] = set()
    for e in events:
        if e.id in seen:
            continue  # a redelivery: same id, dropped by any consumer that deduplicates on (source, id)
        seen.add(e.id)
        first_seen.setdefault(e.subject or "", []).append(int(e.extensions["b24syncsequence"]))
    assert all(s == sorted(s) for s in first_seen.values()), "per-record order broken"
    assert len(first_seen) == 20


SPEC = """
version: 1
name: bus consumer
systems:
  crm: {{type: sql, role: crm, url: "sqlite:///{crm}", tables: {{company: {{table: company, id: id, modified: m}}}}}}
  erp: {{type: sql, role: erp, url: "sqlite:///{erp}", tables: {{cp: {{table: cp, id: id, modified: m}}}}}}
bus:
  url: {amqp}
  publish: false
  consume:
    - {{queue: {queue}, side: erp, prefetch: 20}}
entities:
  company:
    title: Counterparties
    master: erp
    direction: erp_to_crm
    crm: {{object: company}}
    erp: {{object: cp}}
    match:
      - {{crm: inn, erp: inn}}
    link: {{crm: erp_id}}
    fields:
      - {{crm: title, erp: name}}
    triggers:
      - event: counterparty.changed
"""


async def _publish(queue: str, events: list[CloudEvent], junk: int) -> None:
    conn = await aio_pika.connect_robust(AMQP)
    ch = await conn.channel(publisher_confirms=True)
    for ev in events:
        await ch.default_exchange.publish(aio_pika.Message(ev.body(), headers=ev.headers(),
                                                           content_type="application/json"), routing_key=queue)
    for i in range(junk):  # not CloudEvents: refused, never redelivered forever
        await ch.default_exchange.publish(aio_pika.Message(b"{not json", headers={"x": i}), routing_key=queue)
    await conn.close()


@pytest.mark.slow(55)
def test_a_consumer_killed_between_receiving_and_committing_applies_each_event_once(tmp_path: Path) -> None:
    from tests.sqltables import crm_and_erp

    crm_and_erp(tmp_path)
    queue = f"t.c.{uuid.uuid4().hex[:8]}"
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(crm=tmp_path / "crm.db", erp=tmp_path / "erp.db", amqp=AMQP, queue=queue),
                    encoding="utf-8")
    store = f"sqlite:///{tmp_path / 'state.db'}"
    db = make_engine(store)
    migrate(db)
    asyncio.run(_declare(None, queue))
    events = [CloudEvent(id=f"ev-{i}", source="urn:1c:ut", type="counterparty.changed",
                         subject=f"Catalog_Контрагенты/{uuid.UUID(int=i)}") for i in range(400)]
    dupes = [events[i] for i in range(0, 400, 7)]  # the producer sent some twice (same id)
    asyncio.run(_publish(queue, events + dupes, junk=3))
    rng = random.Random(11)
    cmd = [sys.executable, "-m", "b24sync.bus.consumer", str(spec), store]
    kills, deadline = 0, time.monotonic() + 240

    def applied() -> int:
        with db.connect() as c:
            return int(c.execute(select(func.count()).select_from(InboxEntry)).scalar_one())

    while asyncio.run(_count(queue)) and time.monotonic() < deadline:
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seen = applied()
        started = time.monotonic()
        while applied() == seen and time.monotonic() - started < 60 and asyncio.run(_count(queue)):
            time.sleep(0.05)  # wait for the consumer to be mid-stream (start-up time varies with the machine)
        time.sleep(rng.uniform(0.0, 0.4) if kills < 6 else 5.0)
        p.send_signal(signal.SIGKILL)
        p.wait()
        kills += 1
    assert asyncio.run(_count(queue)) == 0, "messages left in the queue"
    assert kills >= 2
    with db.connect() as c:
        inbox = c.execute(select(func.count()).select_from(InboxEntry)
                          .where(InboxEntry.source == "bus:urn:1c:ut")).scalar_one()
        jobs = c.execute(select(func.count()).select_from(Job).where(Job.entity == "company")).scalar_one()
    assert inbox == 400 and jobs == 400, (inbox, jobs)
    asyncio.run(_drain(queue, idle=0.2))


def test_every_committed_change_of_a_sync_is_published_as_a_cloudevent(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import MetaData, Table, create_engine, insert

    from b24sync.bus.relay import flush
    from b24sync.compose import build
    from b24sync.engine.service import RunOptions, run
    from b24sync.spec.loader import load_spec

    from tests.sqltables import crm_and_erp

    _, erp = crm_and_erp(tmp_path, timezone=True)
    eng = create_engine(f"sqlite:///{erp}")
    with eng.begin() as c:
        t = Table("cp", MetaData(), autoload_with=c)
        for i in range(30):
            c.execute(insert(t).values(name=f"ООО «Шина {i}»", inn=valid_inn(i), m=datetime.now(UTC)))
    eng.dispose()
    exchange, queue = f"t.{uuid.uuid4().hex[:8]}", f"t.q.{uuid.uuid4().hex[:8]}"
    asyncio.run(_declare(exchange, queue))
    text = SPEC.format(crm=tmp_path / "crm.db", erp=tmp_path / "erp.db", amqp=AMQP, queue=queue)
    text = text.replace("  publish: false\n", f"  exchange: {exchange}\n  source: b24sync://acme\n")
    text = text.replace("      - event: counterparty.changed", "      - poll: 1m\n      - event: counterparty.changed")
    (tmp_path / "spec.yaml").write_text(text, encoding="utf-8")
    spec = load_spec(tmp_path / "spec.yaml", {})
    rt = build(spec, database_url=f"sqlite:///{tmp_path / 'state.db'}")

    async def go() -> int:
        from b24sync.engine.scheduler import poll_once

        await poll_once(rt, "company", "erp")
        await run(rt, RunOptions(once=True, poll=False))
        n = await flush(rt.db, spec.bus)  # type: ignore[arg-type]
        await rt.aclose()
        return n

    assert asyncio.run(go()) == 30
    events = asyncio.run(_drain(queue))
    assert len(events) == 30 and len({e.id for e in events}) == 30
    ev = events[0]
    assert ev.source == "b24sync://acme" and ev.type == "ru.b24sync.company.created.v1"
    assert ev.subject and ev.subject.startswith("company/crm:")
    assert ev.data["links"]["erp"] and ev.data["values"]["title"].startswith("ООО «Шина")

"""The message bus on NATS JetStream, live on the local server (127.0.0.1:4222, started with -js): the outbox relay
SIGKILLed mid-stream loses nothing, keeps per-record order, and the stream holds each event once (Nats-Msg-Id
dedupe); a consumer SIGKILLed between receiving and committing applies each event once; a sync's committed changes
arrive as CloudEvents with ce- headers."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from b24sync.bus.envelope import CloudEvent, EnvelopeError, parse
from b24sync.store import outbox
from b24sync.store.db import make_engine, migrate
from b24sync.store.models import InboxEntry, Job, OutboxEvent
from tests.sqltables import valid_inn

NATS = os.environ.get("B24SYNC_TEST_NATS", "nats://127.0.0.1:4222")
nats = pytest.importorskip("nats")


def _nats_ok() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 4222), timeout=2).close()
        return True
    except OSError:
        return False


if os.environ.get("CI") and not _nats_ok():
    raise RuntimeError("NATS is not reachable at 127.0.0.1:4222; the bus must be tested on it in CI")
pytestmark = pytest.mark.skipif(not _nats_ok(), reason="NATS not reachable at 127.0.0.1:4222")


async def _read_stream(stream: str, *, delete: bool = True) -> list:
    """Every message of the stream, in stream order (an ephemeral consumer), then the stream is deleted."""
    from nats.js import api

    nc = await nats.connect(NATS)
    js = nc.jetstream()
    info = await js.stream_info(stream)
    sub = await js.pull_subscribe(info.config.subjects[0], stream=stream,
                                  config=api.ConsumerConfig(ack_policy=api.AckPolicy.NONE))
    out = []
    while len(out) < info.state.messages:
        try:
            msgs = await sub.fetch(500, timeout=2.0)
        except nats.errors.TimeoutError:
            break
        for m in msgs:
            h = dict(m.headers or {})
            try:
                out.append((h, parse(h, m.data, h.get("content-type"))))
            except EnvelopeError:
                out.append((h, None))  # the junk a test sent on purpose
    if delete:
        await js.delete_stream(stream)
    await nc.close()
    return out


def _pending(db) -> int:  # type: ignore[no-untyped-def]
    with db.connect() as c:
        return outbox.count_pending(c)


@pytest.mark.slow(30)
def test_the_nats_relay_killed_mid_stream_publishes_every_change_once_in_order(tmp_path: Path) -> None:
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
    tag = uuid.uuid4().hex[:8]
    prefix, stream = f"t{tag}.changes", f"T{tag}"
    rng = random.Random(5)
    cmd = [sys.executable, "-m", "b24sync.bus.relay", store, NATS, prefix, "b24sync://test", "1.5", stream]
    kills, deadline = 0, time.monotonic() + 180
    while _pending(db) and time.monotonic() < deadline:
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if kills < 5:
            before, started = _pending(db), time.monotonic()
            while _pending(db) == before and time.monotonic() - started < 60:
                time.sleep(0.02)  # kill it mid-stream, whatever its start-up time on this machine
            time.sleep(rng.uniform(0.0, 0.1))  # JetStream acks in about a millisecond: a short window
            p.send_signal(signal.SIGKILL)
            kills += 1
            p.wait()
            continue
        for _ in range(1200):
            if not _pending(db):
                break
            time.sleep(0.1)
        p.kill()
        p.wait()
    assert _pending(db) == 0, "the relay did not finish"
    assert kills == 5
    got = asyncio.run(_read_stream(stream))
    ids = [e.id for _, e in got]
    assert set(ids) == all_ids, f"lost {len(all_ids - set(ids))} events"
    # re-publishes after a kill carried the same Nats-Msg-Id and fell in the duplicate window: stored once
    assert len(ids) == len(all_ids), f"{len(ids) - len(all_ids)} duplicates stored"
    assert all(h["Nats-Msg-Id"] == e.id and h["ce-specversion"] == "1.0" for h, e in got)
    per_record: dict[str, list[int]] = {}
    for _, e in got:
        per_record.setdefault(e.subject or "", []).append(int(e.extensions["b24syncsequence"]))
    assert len(per_record) == 20 and all(s == sorted(s) for s in per_record.values()), "per-record order broken"


SPEC = """
version: 1
name: bus consumer on nats
systems:
  crm: {{type: sql, role: crm, url: "sqlite:///{crm}", tables: {{company: {{table: company, id: id, modified: m}}}}}}
  erp: {{type: sql, role: erp, url: "sqlite:///{erp}", tables: {{cp: {{table: cp, id: id, modified: m}}}}}}
bus:
  kind: nats
  url: {nats}
  publish: false
  consume:
    - {{queue: {durable}, stream: {stream}, subject: "{subject}", side: erp, prefetch: 20, ack_wait: 2s}}
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


async def _publish(stream: str, subject: str, events: list[CloudEvent], junk: int) -> None:
    nc = await nats.connect(NATS)
    js = nc.jetstream()
    await js.add_stream(name=stream, subjects=[f"{subject.rsplit('.', 1)[0]}.>"], duplicate_window=0.1)
    for ev in events:  # the ERP's publisher: binary mode, no Nats-Msg-Id (duplicates must be caught by us)
        await js.publish(subject.replace(">", "cp"), ev.body(),
                         headers={**ev.headers(prefix="ce-"), "content-type": "application/json"})
    for i in range(junk):  # not CloudEvents: terminated, never redelivered forever
        await js.publish(subject.replace(">", "junk"), b"{not json", headers={"x": str(i)})
    await nc.close()


async def _unfinished(stream: str, durable: str) -> int:
    nc = await nats.connect(NATS)
    js = nc.jetstream()
    try:
        ci = await js.consumer_info(stream, durable)
        return int(ci.num_pending) + int(ci.num_ack_pending)
    except nats.js.errors.NotFoundError:
        return 1  # not created yet
    finally:
        await nc.close()


@pytest.mark.slow(25)
def test_a_nats_consumer_killed_between_receiving_and_committing_applies_each_event_once(tmp_path: Path) -> None:
    from tests.sqltables import crm_and_erp

    crm_and_erp(tmp_path)
    tag = uuid.uuid4().hex[:8]
    stream, durable, subject = f"E{tag}", f"b24sync-{tag}", f"e{tag}.changes.>"
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(crm=tmp_path / "crm.db", erp=tmp_path / "erp.db", nats=NATS, stream=stream,
                                durable=durable, subject=subject), encoding="utf-8")
    store = f"sqlite:///{tmp_path / 'state.db'}"
    db = make_engine(store)
    migrate(db)
    events = [CloudEvent(id=f"ev-{i}", source="urn:1c:ut", type="counterparty.changed",
                         subject=f"Catalog_Контрагенты/{uuid.UUID(int=i)}") for i in range(300)]
    dupes = [events[i] for i in range(0, 300, 7)]  # the producer sent some twice (same id)
    asyncio.run(_publish(stream, subject, events + dupes, junk=3))
    rng = random.Random(11)
    cmd = [sys.executable, "-m", "b24sync.bus.consumer", str(spec), store]
    kills, deadline = 0, time.monotonic() + 240

    def applied() -> int:
        with db.connect() as c:
            return int(c.execute(select(func.count()).select_from(InboxEntry)).scalar_one())

    while asyncio.run(_unfinished(stream, durable)) and time.monotonic() < deadline:
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seen, started = applied(), time.monotonic()
        while applied() == seen and time.monotonic() - started < 60 and asyncio.run(_unfinished(stream, durable)):
            time.sleep(0.05)  # wait for the consumer to be mid-stream (start-up time varies with the machine)
        time.sleep(rng.uniform(0.0, 0.4) if kills < 5 else 6.0)  # the last one lives past ack_wait: redeliveries
        p.send_signal(signal.SIGKILL)
        p.wait()
        kills += 1
    assert asyncio.run(_unfinished(stream, durable)) == 0, "messages not acknowledged"
    assert kills >= 2
    with db.connect() as c:
        inbox = c.execute(select(func.count()).select_from(InboxEntry)
                          .where(InboxEntry.source == "bus:urn:1c:ut")).scalar_one()
        jobs = c.execute(select(func.count()).select_from(Job).where(Job.entity == "company")).scalar_one()
    assert inbox == 300 and jobs == 300, (inbox, jobs)
    asyncio.run(_read_stream(stream))


def test_every_committed_change_of_a_sync_is_published_to_jetstream(tmp_path: Path) -> None:
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
    tag = uuid.uuid4().hex[:8]
    text = SPEC.format(crm=tmp_path / "crm.db", erp=tmp_path / "erp.db", nats=NATS, stream=f"X{tag}",
                       durable="unused", subject=f"x{tag}.>")
    text = text.replace("  publish: false\n", f"  exchange: p{tag}.changes\n  stream: P{tag}\n"
                                              "  source: b24sync://acme\n")
    text = text.replace("      - event: counterparty.changed", "      - poll: 1m\n      - event: counterparty.changed")
    (tmp_path / "spec.yaml").write_text(text, encoding="utf-8")
    spec = load_spec(tmp_path / "spec.yaml", {})
    rt = build(spec, database_url=f"sqlite:///{tmp_path / 'state.db'}")

    async def go() -> tuple[int, int]:
        from b24sync.engine.scheduler import poll_once

        await poll_once(rt, "company", "erp")
        await run(rt, RunOptions(once=True, poll=False))
        n = await flush(rt.db, spec.bus)  # type: ignore[arg-type]
        again = await flush(rt.db, spec.bus)  # type: ignore[arg-type]
        await rt.aclose()
        return n, again

    assert asyncio.run(go()) == (30, 0)
    got = asyncio.run(_read_stream(f"P{tag}"))
    assert len(got) == 30 and len({e.id for _, e in got}) == 30
    h, ev = got[0]
    assert ev.source == "b24sync://acme" and ev.type == "ru.b24sync.company.created.v1"
    assert ev.subject and ev.subject.startswith("company/crm:")
    assert ev.data["links"]["erp"] and ev.data["values"]["title"].startswith("ООО «Шина")
    assert h["Nats-Msg-Id"] == ev.id and h["content-type"] == "application/json"


def test_a_nats_consumer_without_a_stream_is_refused_and_subjects_are_nats_tokens() -> None:
    from pydantic import ValidationError

    from b24sync.bus.jetstream import subject_for
    from b24sync.spec.models import Bus

    with pytest.raises(ValidationError, match="needs `stream:`"):
        Bus(kind="nats", url=NATS, consume=[{"queue": "b24sync"}])
    ev = CloudEvent(id="1", source="s", type="t", subject="company/erp:6f1c.9 a*>")
    assert subject_for("b24sync.changes", ev) == "b24sync.changes.company.erp.6f1c_9_a__"

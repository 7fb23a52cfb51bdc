"""The intermediate database, live on PostgreSQL and MariaDB: cursor with ties and late commits, change tables
drained in sequence order (deletes included), idempotent upserts on a key, optimistic locking — and the engine
syncing through it both ways."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.sqltables import valid_inn

import pytest
from sqlalchemy import (
    Column, DateTime, Integer, MetaData, Numeric, String, Table, UniqueConstraint, create_engine, insert, select, text,
)

from b24sync.connectors.sqltable.adapter import from_config
from b24sync.engine.errors import ConflictError, PermanentError
from b24sync.engine.ports import ChangeCursor, ObjectRef

CP, ORD = ObjectRef("counterparties"), ObjectRef("orders")
T0 = datetime(2026, 11, 2, 9, 0, 0)


def schema(url: str) -> None:
    eng = create_engine(url)
    md = MetaData()
    Table("exch_counterparties", md, Column("id", Integer, primary_key=True, autoincrement=True),
          Column("name", String(200)), Column("inn", String(12)), Column("kpp", String(9)),
          Column("changed_at", DateTime), Column("version", Integer))
    Table("exch_changes", md, Column("seq", Integer, primary_key=True, autoincrement=True),
          Column("entity_type", String(40)), Column("record_id", String(40)), Column("op", String(1)))
    Table("exch_orders", md, Column("id", Integer, primary_key=True, autoincrement=True),
          Column("external_key", String(60), nullable=False), Column("title", String(200)),
          Column("amount", Numeric(14, 2)), Column("changed_at", DateTime), Column("version", Integer),
          UniqueConstraint("external_key", name="uq_exch_orders_key"))
    md.create_all(eng)
    eng.dispose()


def adapter(url: str, **over):  # type: ignore[no-untyped-def]
    tables = {"counterparties": {"table": "exch_counterparties", "id": "id", "modified": "changed_at",
                                 "version": "version", **over},
              "orders": {"table": "exch_orders", "id": "id", "modified": "changed_at", "version": "version",
                         "key": "external_key"}}
    return from_config("erp", {"url": url, "tables": tables})


def rows(url: str, n: int, at: datetime, start: int = 0) -> list[int]:
    eng = create_engine(url)
    with eng.begin() as c:
        ids = [c.execute(insert(Table("exch_counterparties", MetaData(), autoload_with=c))
                         .values(name=f"ООО «Ёлка-{i}»", inn=valid_inn(i), kpp="770101001", changed_at=at, version=1))
               .inserted_primary_key[0] for i in range(start, start + n)]
    eng.dispose()
    return ids


def poll_all(a, obj: ObjectRef, cursor: ChangeCursor, limit: int, overlap: float = 0):  # type: ignore[no-untyped-def]
    seen, first = [], True
    while True:
        page = asyncio.run(a.read_changes(obj, cursor, overlap_seconds=overlap if first else 0, limit=limit))
        first = False
        seen += page.records
        cursor = page.cursor
        if not page.more:
            return seen, cursor


def test_a_poll_pages_through_ties_and_rereads_a_late_commit_in_the_overlap(exchange_url: str) -> None:
    schema(exchange_url)
    a = adapter(exchange_url)
    rows(exchange_url, 11, T0)  # one bulk load: eleven rows with the same change time
    seen, cur = poll_all(a, CP, ChangeCursor(), limit=3)
    assert len(seen) == 11 and len({r.id for r in seen}) == 11
    assert seen[0].values["name"] == "ООО «Ёлка-0»"  # Cyrillic and quotes survive the round trip
    rows(exchange_url, 2, T0 + timedelta(seconds=10), start=20)
    late = rows(exchange_url, 1, T0 + timedelta(seconds=5), start=30)  # committed now, stamped in the past
    again, cur = poll_all(a, CP, cur, limit=3, overlap=60)
    assert set(map(int, late)) <= {int(r.id) for r in again} and len({r.id for r in again}) >= 3
    assert poll_all(a, CP, cur, limit=3)[0] == []  # nothing new: nothing read
    asyncio.run(a.aclose())


def test_a_create_with_a_key_is_an_idempotent_upsert(exchange_url: str) -> None:
    schema(exchange_url)
    a = adapter(exchange_url)

    async def go() -> None:
        first = await a.create(ORD, {"external_key": "b24:deal:42", "title": "Сделка 42", "amount": "1500.50"})
        again = await a.create(ORD, {"external_key": "b24:deal:42", "title": "Сделка 42 (повтор)", "amount": "1600"})
        assert again == first
        found = await a.find(ORD, {"external_key": "b24:deal:42"})
        assert len(found) == 1 and found[0].values["title"] == "Сделка 42 (повтор)" and found[0].version == "2"
        await a.aclose()

    asyncio.run(go())


def test_an_update_with_a_stale_version_is_a_conflict(exchange_url: str) -> None:
    schema(exchange_url)
    a = adapter(exchange_url)
    rid = str(rows(exchange_url, 1, T0)[0])

    async def go() -> None:
        v2 = await a.update(CP, rid, {"name": "ООО «Новое»"}, expected_version="1")
        assert v2 == "2"
        with pytest.raises(ConflictError):
            await a.update(CP, rid, {"name": "ООО «Старое»"}, expected_version="1")
        with pytest.raises(PermanentError, match="does not exist"):
            await a.update(CP, "999999", {"name": "x"})
        rec = await a.get(CP, rid)
        assert rec is not None and rec.values["name"] == "ООО «Новое»"
        assert rec.modified is not None and rec.modified.tzinfo is not None  # naive UTC columns read back as UTC
        await a.aclose()

    asyncio.run(go())


def test_a_change_table_is_drained_in_sequence_order_with_deletes_and_late_sequence_numbers(exchange_url: str) -> None:
    schema(exchange_url)
    ids = rows(exchange_url, 4, T0)
    a = adapter(exchange_url, changes={"table": "exch_changes", "seq": "seq", "ref": "record_id", "op": "op",
                                       "entity": "entity_type", "entity_value": "counterparty", "overlap_rows": 50})
    eng = create_engine(exchange_url)
    ch = Table("exch_changes", MetaData(), autoload_with=eng)
    with eng.begin() as c:
        for rid in ids:
            c.execute(insert(ch).values(entity_type="counterparty", record_id=str(rid), op="I"))
        c.execute(insert(ch).values(entity_type="counterparty", record_id=str(ids[0]), op="U"))
        c.execute(insert(ch).values(entity_type="product", record_id="1", op="I"))  # another table's change
    seen, cur = poll_all(a, CP, ChangeCursor(), limit=100)
    assert sorted(int(r.id) for r in seen) == sorted(ids)  # five changes, four records, the product ignored
    with eng.begin() as c:
        c.execute(text("DELETE FROM exch_counterparties WHERE id = :i"), {"i": ids[1]})
        c.execute(insert(ch).values(entity_type="counterparty", record_id=str(ids[1]), op="D"))
    gone, cur = poll_all(a, CP, cur, limit=100)
    assert [(r.id, r.deleted) for r in gone] == [(str(ids[1]), True)]
    # a writer that took sequence number N but committed after N+1 was read: the overlap re-reads it
    with eng.begin() as c:
        late_seq = c.execute(select(ch.c.seq).order_by(ch.c.seq.desc()).limit(1)).scalar_one() + 1
        c.execute(insert(ch).values(seq=late_seq + 1, entity_type="counterparty", record_id=str(ids[2]), op="U"))
    seen2, cur = poll_all(a, CP, cur, limit=100, overlap=1)
    with eng.begin() as c:
        c.execute(insert(ch).values(seq=late_seq, entity_type="counterparty", record_id=str(ids[3]), op="U"))
    seen3, _ = poll_all(a, CP, cur, limit=100, overlap=1)
    assert str(ids[3]) in {r.id for r in seen3}
    eng.dispose()
    asyncio.run(a.aclose())


SPEC = """
version: 1
name: intermediate database both ways
systems:
  crm:
    type: sql
    role: crm
    url: sqlite:///{crm}
    tables:
      company: {{table: company, id: id, modified: modified, version: version}}
      deal: {{table: deal, id: id, modified: modified, version: version}}
  erp:
    type: sql
    role: erp
    url: {erp}
    tables:
      counterparties: {{table: exch_counterparties, id: id, modified: changed_at, version: version}}
      orders: {{table: exch_orders, id: id, modified: changed_at, version: version, key: external_key}}
defaults:
  poll_overlap: 5s
  retry: {{max_attempts: 4, base_seconds: 0.05, max_seconds: 0.2}}
entities:
  company:
    title: Counterparties (ERP → CRM)
    master: erp
    direction: erp_to_crm
    crm: {{object: company}}
    erp: {{object: counterparties}}
    match:
      - keys: [{{crm: inn, erp: inn}}, {{crm: kpp, erp: kpp}}]
    link: {{crm: erp_id}}
    fields:
      - {{crm: title, erp: name}}
      - {{crm: inn, erp: inn}}
      - {{crm: kpp, erp: kpp}}
    triggers: [{{poll: 1s}}]
  order:
    title: Deals → exchange orders (CRM → ERP)
    master: crm
    direction: crm_to_erp
    crm: {{object: deal}}
    erp: {{object: orders}}
    match:
      - {{crm: key, erp: external_key}}
    link: {{crm: erp_id}}
    fields:
      - {{crm: key, erp: external_key, on: create}}
      - {{crm: title, erp: title}}
      - {{crm: amount, erp: amount}}
    triggers: [{{poll: 1s}}]
"""


def test_the_engine_syncs_both_ways_through_the_intermediate_database(exchange_url: str, tmp_path: Path) -> None:
    from b24sync.compose import build
    from b24sync.engine.scheduler import poll_once
    from b24sync.engine.service import RunOptions, run
    from b24sync.spec.loader import load_spec

    schema(exchange_url)
    crm = tmp_path / "crm.db"
    ce = create_engine(f"sqlite:///{crm}")
    md = MetaData()
    Table("company", md, Column("id", Integer, primary_key=True), Column("title", String), Column("inn", String),
          Column("kpp", String), Column("erp_id", String), Column("modified", DateTime(timezone=True)),
          Column("version", Integer))
    deal = Table("deal", md, Column("id", Integer, primary_key=True), Column("key", String), Column("title", String),
                 Column("amount", String), Column("erp_id", String), Column("modified", DateTime(timezone=True)),
                 Column("version", Integer))
    md.create_all(ce)
    with ce.begin() as c:
        for i in range(25):
            c.execute(insert(deal).values(key=f"b24:deal:{i}", title=f"Сделка {i}", amount=f"{100 + i}.00",
                                          modified=datetime.now(UTC), version=1))
    rows(exchange_url, 30, datetime.now(UTC).replace(tzinfo=None))
    f = tmp_path / "spec.yaml"
    f.write_text(SPEC.format(crm=crm, erp=exchange_url), encoding="utf-8")
    spec = load_spec(f, {})
    rt = build(spec, database_url=f"sqlite:///{tmp_path / 'state.db'}")

    async def cycle() -> None:
        await poll_once(rt, "company", "erp")
        await poll_once(rt, "order", "crm")
        await run(rt, RunOptions(once=True, poll=False))

    async def go() -> None:
        await cycle()
        await cycle()  # a second cycle with nothing changed writes nothing
        await rt.aclose()

    asyncio.run(go())
    ee = create_engine(exchange_url)
    with ce.connect() as c:
        companies = c.execute(text("SELECT title, inn, erp_id FROM company")).all()
    with ee.connect() as c:
        orders = c.execute(text("SELECT external_key, title, amount, version FROM exch_orders")).all()
    assert len(companies) == 30 and len({x.erp_id for x in companies}) == 30
    assert {x.title for x in companies} == {f"ООО «Ёлка-{i}»" for i in range(30)}
    assert len(orders) == 25 and {o.external_key for o in orders} == {f"b24:deal:{i}" for i in range(25)}
    assert all(str(o.amount) == f"{100 + int(o.external_key.rsplit(':', 1)[1])}.00" for o in orders)
    assert {o.version for o in orders} == {1}, "an idle cycle must not write again"
    ee.dispose()
    ce.dispose()

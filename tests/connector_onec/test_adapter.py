import asyncio

import pytest

from b24sync.connectors.onec.odata import from_config
from b24sync.connectors.registry import build_adapter
from b24sync.engine.errors import ConflictError, PermanentError
from b24sync.engine.ports import ChangeCursor, ObjectRef, SystemAdapter
from b24sync.store.kv import MemoryState

from .fake1c import Fake1C, Fake1CExchange

ROOT = "http://127.0.0.1/trade/odata/standard.odata/"
CP = ObjectRef("counterparties")


def make(fake, **extra):
    cfg = {"url": ROOT, "username": fake.user, "password": fake.password, "transport": fake.transport(),
           "page_size": 50, **extra}
    return from_config("erp", cfg)


def run(coro):
    return asyncio.run(coro)


def test_is_a_system_adapter_and_registered():
    fake = Fake1C()
    assert isinstance(make(fake), SystemAdapter)
    a = build_adapter("erp", "1c-odata", {"url": ROOT, "transport": fake.transport()})
    assert a.preset.resolve("counterparties").entity_set == "Catalog_Контрагенты"
    b = build_adapter("x", "odata", {"url": "https://org/api/data/v9.2/", "dialect": "dataverse"})
    assert b.preset.resolve("accounts").key is None


@pytest.mark.parametrize("atom", [False, True])
def test_exchange_plan_crash_before_ack_rereads(atom):
    fake = Fake1CExchange(rows=5)
    fmt = "atom" if atom else "json"
    keys = list(fake.sets["Catalog_Контрагенты"])
    for k in keys[:3]:
        fake.register(k)

    async def go():
        a = make(fake, exchange_plan="ОбменСB24", node=fake.node, changes_format=fmt)
        p1 = await a.read_changes(CP, ChangeCursor(), overlap_seconds=0, limit=100)
        assert sorted(r.id for r in p1.records) == sorted(keys[:3]) and p1.more
        assert p1.cursor.token == "1"
        await a.aclose()
        # crash: the engine never called acknowledge. A new process reads the same package again.
        fake.register(keys[3])  # a change registered meanwhile comes along too
        b = make(fake, exchange_plan="ОбменСB24", node=fake.node, changes_format=fmt)
        p2 = await b.read_changes(CP, ChangeCursor(), overlap_seconds=0, limit=100)
        assert {r.id for r in p2.records} >= set(keys[:3])
        assert p2.cursor.token == "1"
        await b.acknowledge(CP, p2)
        assert fake.received_no == 1
        fake.register(keys[4])
        p3 = await b.read_changes(CP, p2.cursor, overlap_seconds=0, limit=100)
        assert [r.id for r in p3.records] == [keys[4]] and p3.cursor.token == "2"
        await b.acknowledge(CP, p3)
        p4 = await b.read_changes(CP, p3.cursor, overlap_seconds=0, limit=100)
        assert p4.records == [] and not p4.more
        n_before = len(fake.requests)
        await b.acknowledge(CP, p4)  # empty package: nothing sent
        assert len(fake.requests) == n_before
        await b.aclose()

    run(go())
    formats = {q.get("$format") for q in fake.select_calls}
    assert formats == ({"json"} if atom is False else {None})


def test_exchange_record_shape():
    fake = Fake1CExchange(rows=1)
    k = next(iter(fake.sets["Catalog_Контрагенты"]))
    fake.sets["Catalog_Контрагенты"][k]["DeletionMark"] = True
    fake.register(k)

    async def go():
        a = make(fake, exchange_plan="ОбменСB24", nodes={"counterparties": fake.node})
        p = await a.read_changes(CP, ChangeCursor(), overlap_seconds=0, limit=10)
        await a.aclose()
        return p

    p = run(go())
    (rec,) = p.records
    assert rec.id == k and rec.deleted and rec.version == "AAAAAAAAAAA="
    assert "odata.type" not in rec.values


def test_this_node_and_unknown_node_refused():
    fake = Fake1CExchange(rows=1)

    async def go(node):
        a = make(fake, exchange_plan="ОбменСB24", node=node)
        try:
            await a.read_changes(CP, ChangeCursor(), overlap_seconds=0, limit=10)
        finally:
            await a.aclose()

    with pytest.raises(PermanentError, match="ThisNode"):
        run(go(fake.this_node))
    with pytest.raises(PermanentError, match="not a node"):
        run(go("00000000-0000-0000-0000-000000000001"))
    with pytest.raises(PermanentError):
        make(fake, exchange_plan="Bad'Name&x", node=fake.node)._reader(fake.node)


def test_scan_mode_only_changed_rows_produce_work():
    fake = Fake1C(rows=120)
    state = MemoryState()

    async def full_pass(a):
        cur, out = ChangeCursor(), []
        while True:
            p = await a.read_changes(CP, cur, overlap_seconds=0, limit=50)
            out += [r.id for r in p.records]
            await a.acknowledge(CP, p)
            cur = p.cursor
            if not p.more:
                return out, cur

    async def go():
        a = make(fake, state=state)
        first, cur = await full_pass(a)
        assert len(first) == 120 and cur.token == "scan:0"
        again, _ = await full_pass(a)
        assert again == []
        k = sorted(fake.sets["Catalog_Контрагенты"])[77]
        Fake1C.bump(fake.sets["Catalog_Контрагенты"][k])
        # a page read but never acknowledged (crash) is produced again
        b = make(fake, state=state)
        p = await b.read_changes(CP, ChangeCursor(token="scan:50"), overlap_seconds=0, limit=50)
        assert [r.id for r in p.records] == [k]
        c = make(fake, state=state)
        third, _ = await full_pass(c)
        assert third == [k]
        fourth, _ = await full_pass(c)
        assert fourth == []

    run(go())


def test_find_exists_create_update_guard():
    fake = Fake1C(rows=3)
    row = list(fake.sets["Catalog_Контрагенты"].values())[2]

    async def go():
        a = make(fake)
        found = await a.find(CP, {"inn": row["ИНН"]})  # logical field name from the preset
        assert [r.id for r in found] == [row["Ref_Key"]]
        assert await a.exists(CP, {"ИНН": row["ИНН"]})
        assert not await a.exists(CP, {"ИНН": "none"})
        rec = await a.get(CP, row["Ref_Key"])
        Fake1C.bump(row)  # someone in 1C saved the record
        with pytest.raises(ConflictError):
            await a.update(CP, rec.id, {"name": "new"}, expected_version=rec.version)
        before = row["DataVersion"]
        new_version = await a.update(CP, rec.id, {"name": "new"}, expected_version=before)
        assert fake.sets["Catalog_Контрагенты"][rec.id]["Description"] == "new"
        assert new_version == row["DataVersion"] != before  # the engine stores it without another read
        new_id = await a.create(ObjectRef("customer_orders"), {"counterparty": rec.id, "Posted": True})
        assert fake.posted == [new_id]
        assert await a.get(CP, "00000000-0000-0000-0000-000000000009") is None
        await a.aclose()

    run(go())


def test_one_node_cannot_serve_two_objects():
    fake = Fake1CExchange(rows=1)

    async def go():
        a = make(fake, exchange_plan="ОбменСB24", node=fake.node)
        try:
            await a.read_changes(CP, ChangeCursor(), overlap_seconds=0, limit=10)
            with pytest.raises(PermanentError, match="own node"):
                await a.read_changes(ObjectRef("customer_orders"), ChangeCursor(), overlap_seconds=0, limit=10)
        finally:
            await a.aclose()

    run(go())
    with pytest.raises(PermanentError):
        make(fake, exchange_plan="ОбменСB24", nodes={"counterparties": fake.node, "products": fake.node})

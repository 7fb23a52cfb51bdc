"""The two third-party clients, unmodified, against the sandbox."""

import asyncio
import uuid

import pytest

from b24sync.sandbox.onec.seed import valid_inn


def test_python_1c_odata(sb):
    from python_1c_odata import AccumulationRegister, Catalog, Document, Infobase, PostingMode

    async def run():
        server = sb.base_url.rsplit("/", 1)[0]
        async with Infobase(server, sb.base, "odata", "secret") as ib:
            meta = await ib.metadata()
            assert "Catalog_Контрагенты" in await ib.entity_sets() and "EnterpriseV8" in meta
            cps = Catalog(ib, "Контрагенты")
            page = await cps.query(top=5, skip=2, odata_filter="ЮрФизЛицо eq 'ЮрЛицо'", inlinecount=True)
            assert len(page.value) == 5 and page.count >= 5
            assert all(valid_inn(r["ИНН"]) for r in page.value)
            assert await cps.count() >= 30
            one = await cps.get(page.value[0]["Ref_Key"])
            assert one["ИНН"] == page.value[0]["ИНН"]
            created = await cps.create({"Description": "ООО \"Клиент B24\"", "ИНН": "7736207543", "КПП": "773601001"})
            edited = await cps.edit(created["Ref_Key"], {"Комментарий": "из Битрикс24"})
            assert edited["DataVersion"] != created["DataVersion"]
            docs = Document(ib, "ЗаказКлиента")
            # an order needs a client (Партнер + Контрагент) to post — document-flows.md B.1 fill checks
            partner = await Catalog(ib, "Партнеры").create({"Description": "Клиент B24", "Клиент": True})
            order = await docs.create({"Date": "2026-03-02T10:00:00", "Контрагент_Key": created["Ref_Key"],
                                       "Партнер_Key": partner["Ref_Key"],
                                       "Товары": [{"LineNumber": 1, "Номенклатура_Key": sb.ids["products"][0],
                                                   "Количество": 1, "Цена": 10, "Сумма": 10}]})
            await docs.post(order["Ref_Key"], PostingMode.POST)
            assert (await docs.get(order["Ref_Key"]))["Posted"] is True
            stock = await AccumulationRegister(ib, "ТоварыНаСкладах").balance(
                condition=f"Номенклатура_Key eq guid'{sb.ids['products'][0]}'")
            assert stock["value"] and all("ВНаличииBalance" in r for r in stock["value"])
    asyncio.run(run())


PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _pg_engine():
    sqlalchemy = pytest.importorskip("sqlalchemy")
    try:
        engine = sqlalchemy.create_engine(PG, pool_size=3, max_overflow=2)
        with engine.connect():
            pass
        return engine
    except Exception as exc:  # pragma: no cover - environment dependent
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432/test is unreachable: {exc}")


@pytest.mark.postgres
def test_onecdc_full_load_and_change_cycle(fresh):
    from sqlalchemy import text

    from onecdc import Replicator

    engine = _pg_engine()
    schema = "b24s_onec_" + uuid.uuid4().hex[:8]
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        node = fresh.add_exchange_node("CDC", "Витрина")
        rep = Replicator(odata_url=fresh.odata_url.rstrip("/"), odata_auth=("Администратор", "пароль"), engine=engine,
                         exchange_name="ОбменСB24", queue_guid=node, db_schema=schema, full_load_workers=1,
                         automatic_full_load=False)
        try:
            rep.full_load("Catalog_Склады")
            with engine.connect() as conn:
                tables = [r[0] for r in conn.execute(text(
                    "select table_name from information_schema.tables where table_schema = :s"), {"s": schema})]
                sklady = next(t for t in tables if t.lower().startswith("catalog_sklad"))
                n = conn.execute(text(f'select count(*) from "{schema}"."{sklady}"')).scalar()
            assert n == len(fresh.store.objects["Catalog_Склады"])
            ref = fresh.ids["warehouses"][0]
            fresh.edit("Catalog_Склады", ref, Description="Основной склад (изменён в 1С)")
            fresh.edit("Catalog_Контрагенты", fresh.ids["counterparties"][0], Комментарий="CDC")
            rep.run_once()
            assert fresh.node(node)["ReceivedNo"] == 1 and fresh.store.pending_changes(node) == 0
            with engine.connect() as conn:
                names = [r[0] for r in conn.execute(text(f'select * from "{schema}"."{sklady}"')).mappings()
                         .all() for r in [tuple(v for k, v in r.items() if k.lower().startswith("description"))]]
            assert "Основной склад (изменён в 1С)" in names
        finally:
            rep.close()
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()

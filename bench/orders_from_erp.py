"""Orders entered in 1C → deals benchmark: N 1C customer orders with R rows each (counterparty and items linked)
become Bitrix24 deals with their rows (one replace-all call each), at the stage the spec names — Bitrix24 sandbox at
its default limits (2 req/s, burst 50, operating budget on), the spec of tests/orders/test_orders_from_erp.py
(deals → orders, order status → stage and orders from 1C → deals together, as in examples/1c-ut-orders.yaml).

    .venv/bin/python bench/orders_from_erp.py [--orders 1000] [--rows 10] [--workers 200]

Prints one JSON line: orders, rows, deals, deal_rows, http_requests (requests the portal served during the sync),
commands (REST commands inside them), requests_per_order, commands_per_order, seconds, floor_seconds (commands at
50 per request ÷ 2 req/s, less the burst), ratio (seconds ÷ floor; null when the commands fit in the burst),
min_requests (the commands in full batches of 50) and request_ratio (http_requests ÷ min_requests).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from b24sync.compose import build  # noqa: E402
from b24sync.engine.service import RunOptions, run  # noqa: E402
from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox  # noqa: E402
from b24sync.sandbox.onec.sandbox import OneCSandbox  # noqa: E402
from b24sync.store import identity  # noqa: E402
from tests.orders.harness import spec  # noqa: E402
from tests.orders.test_erp_status import STAGES  # noqa: E402
from tests.orders.test_orders_from_erp import from_erp_entities, units  # noqa: E402


async def _main(a: argparse.Namespace) -> dict:
    b24 = Bitrix24Sandbox()  # default plan: 2 req/s, burst 50, operating budget on
    onec = OneCSandbox(seed=None)
    url, onec_url = b24.start(), onec.start()
    tmp = Path(tempfile.mkdtemp())
    try:
        sp = spec(url, onec_url, from_erp_entities(), {"order_stage": STAGES})
        sp.defaults.workers = a.workers
        rt = build(sp, database_url=f"sqlite:///{tmp / 'state.db'}")
        try:
            from b24sync.connectors.bitrix24.portal import prepare_portal
            from b24sync.connectors.bitrix24.requirements import requirements_from_spec

            client = rt.adapters["bitrix24"].client  # type: ignore[attr-defined]
            await prepare_portal(client, requirements_from_spec(rt.spec))
            org = onec.create("Catalog_Организации", Description="ООО Продавец", ИНН="7701234567")
            partner = onec.create("Catalog_Партнеры", Description="Покупатель", Клиент=True)
            cp = onec.create("Catalog_Контрагенты", Description="ООО Покупатель", ИНН="7707083893",
                             Партнер_Key=partner["Ref_Key"])
            u = units(onec)
            goods = [onec.create("Catalog_Номенклатура", Description=f"Товар {i}") for i in range(a.rows)]
            portal = b24.portal  # seeding goes straight into the portal's store (not through the limited API)
            company = portal.t("company").insert({"TITLE": "ООО Покупатель"})
            products = [portal.t("product").insert({"NAME": g["Description"]}) for g in goods]
            with rt.db.begin() as conn:
                identity.bind(conn, "company", crm_id=str(company), erp_id=cp["Ref_Key"], match_key=None)
                for p, g in zip(products, goods):
                    identity.bind(conn, "product", crm_id=str(p), erp_id=g["Ref_Key"], match_key=None)
            for i in range(a.orders):
                lines = []
                for j, g in enumerate(goods):
                    price, qty = 100 + j, 1 + j % 3
                    disc = round(price * qty * 0.05, 2) if j % 4 == 0 else 0
                    lines.append({"LineNumber": j + 1, "Номенклатура_Key": g["Ref_Key"], "Количество": qty,
                                  "КоличествоУпаковок": qty, "Упаковка_Key": u[796], "Цена": price,
                                  "Сумма": round(price * qty - disc, 2), "СуммаРучнойСкидки": disc,
                                  "ПроцентРучнойСкидки": 5 if disc else 0, "СтавкаНДС": "НДС22"})
                onec.create("Document_ЗаказКлиента", Организация_Key=org["Ref_Key"], Контрагент_Key=cp["Ref_Key"],
                            Партнер_Key=partner["Ref_Key"], Статус="КОбеспечению", ЦенаВключаетНДС=True,
                            Товары=lines, СуммаДокумента=round(sum(x["Сумма"] for x in lines), 2))
            served0 = b24.requests_served
            calls0 = sum(b24.method_calls.values())
            t0 = time.monotonic()
            stats = await run(rt, RunOptions(once=True))
            seconds = time.monotonic() - t0
            http = b24.requests_served - served0
            commands = sum(b24.method_calls.values()) - calls0
        finally:
            await rt.aclose()
        deals = len(portal.t("deal"))
        deal_rows = len(portal.t("productrow"))
        floor = max(0.0, (commands / 50 - 50) / 2)  # full batches at 2 req/s after the burst of 50
        min_requests = -(-commands // 50)  # every command in a full batch of 50
        return {"orders": a.orders, "rows": a.rows, "deals": deals, "deal_rows": deal_rows, "dead": stats.dead,
                "held": stats.held, "http_requests": http, "commands": commands,
                "requests_per_order": round(http / a.orders, 3), "commands_per_order": round(commands / a.orders, 2),
                "seconds": round(seconds, 1), "floor_seconds": round(floor, 1),
                "ratio": round(seconds / floor, 2) if floor else None, "min_requests": min_requests,
                "request_ratio": round(http / min_requests, 2) if min_requests else None}
    finally:
        b24.stop()
        onec.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=1000)
    ap.add_argument("--rows", type=int, default=10)
    ap.add_argument("--workers", type=int, default=200)
    print(json.dumps(asyncio.run(_main(ap.parse_args()))))


if __name__ == "__main__":
    main()

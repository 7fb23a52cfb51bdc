"""Deals → customer orders benchmark: N deals with R product rows each, already moved into the trigger stage, become
1C orders (header lookups, rows, posting, number written back) — Bitrix24 sandbox at its default limits (2 req/s,
burst 50), 1C sandbox with the full fill checks.

    .venv/bin/python bench/orders.py [--deals 1000] [--rows 10] [--workers 200]

Prints one JSON line: deals, rows, orders, http_requests (requests the portal served during the sync), commands
(REST commands inside them), requests_per_deal, commands_per_deal, seconds, floor_seconds (commands at 50 per
request ÷ 2 req/s, less the burst), ratio (seconds ÷ floor).
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
from tests.orders.test_orders import entities  # noqa: E402


async def _main(a: argparse.Namespace) -> dict:
    b24 = Bitrix24Sandbox()  # default plan: 2 req/s, burst 50, operating budget on
    onec = OneCSandbox(seed=None)
    url, onec_url = b24.start(), onec.start()
    tmp = Path(tempfile.mkdtemp())
    try:
        sp = spec(url, onec_url, entities())
        sp.defaults.workers = a.workers
        rt = build(sp, database_url=f"sqlite:///{tmp / 'state.db'}")
        try:
            from b24sync.connectors.bitrix24.portal import prepare_portal
            from b24sync.connectors.bitrix24.requirements import requirements_from_spec

            client = rt.adapters["bitrix24"].client  # type: ignore[attr-defined]
            await prepare_portal(client, requirements_from_spec(rt.spec))
            onec.store.full_fill_checks = True
            onec.create("Catalog_Организации", Description="ООО Продавец", ИНН="7701234567")
            onec.create("Catalog_Валюты", Description="руб.", Code="643")
            onec.create("Catalog_Склады", Description="Основной склад")
            partner = onec.create("Catalog_Партнеры", Description="Покупатель", Клиент=True)
            cp = onec.create("Catalog_Контрагенты", Description="ООО Покупатель", ИНН="7707083893",
                             Партнер_Key=partner["Ref_Key"])
            onec.create("Catalog_СоглашенияСКлиентами", Description="Основное", Партнер_Key=partner["Ref_Key"])
            goods = [onec.create("Catalog_Номенклатура", Description=f"Товар {i}") for i in range(a.rows)]
            # seeding goes straight into the portal's store (not through the rate-limited API)
            portal = b24.portal
            company = portal.t("company").insert({"TITLE": "ООО Покупатель"})
            products = [portal.t("product").insert({"NAME": g["Description"]}) for g in goods]
            with rt.db.begin() as conn:
                identity.bind(conn, "company", crm_id=str(company), erp_id=cp["Ref_Key"], match_key=None)
                for p, g in zip(products, goods):
                    identity.bind(conn, "product", crm_id=str(p), erp_id=g["Ref_Key"], match_key=None)
            from b24sync.sandbox.bitrix24 import crm_legacy, stagehistory
            from b24sync.sandbox.bitrix24.portal import Ctx

            ctx = Ctx(principal="seed", user_id=1)
            for i in range(a.deals):
                d = crm_legacy.create_legacy(portal, ctx, "deal", {"TITLE": f"Сделка {i}", "COMPANY_ID": company,
                                                                   "STAGE_ID": "NEW"}, {}, emit=False)
                crm_legacy.productrows_set(portal, ctx, {"id": d, "rows": [
                    {"PRODUCT_ID": p, "PRICE": 100 + j, "QUANTITY": 1 + j % 3, "TAX_RATE": 22, "TAX_INCLUDED": "Y"}
                    for j, p in enumerate(products)]})
                row = portal.t("deal").get(d)
                row["STAGE_ID"] = "FINAL_INVOICE"
                portal.t("deal").save(row)
                stagehistory.record(portal, 2, d, "FINAL_INVOICE", "P", 0)
            served0 = b24.requests_served
            calls0 = sum(b24.method_calls.values())
            t0 = time.monotonic()
            stats = await run(rt, RunOptions(once=True))
            seconds = time.monotonic() - t0
            http = b24.requests_served - served0
            commands = sum(b24.method_calls.values()) - calls0
        finally:
            await rt.aclose()
        orders = len(onec.find("Document_ЗаказКлиента"))
        floor = max(0.0, (commands / 50 - 50) / 2)  # full batches at 2 req/s after the burst of 50
        return {"deals": a.deals, "rows": a.rows, "orders": orders, "dead": stats.dead, "held": stats.held,
                "http_requests": http, "commands": commands, "requests_per_deal": round(http / a.deals, 3),
                "commands_per_deal": round(commands / a.deals, 2), "seconds": round(seconds, 1),
                "floor_seconds": round(floor, 1), "ratio": round(seconds / floor, 2) if floor else None}
    finally:
        b24.stop()
        onec.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--deals", type=int, default=1000)
    ap.add_argument("--rows", type=int, default=10)
    ap.add_argument("--workers", type=int, default=200)
    print(json.dumps(asyncio.run(_main(ap.parse_args()))))


if __name__ == "__main__":
    main()

"""Payments benchmark (docs/flow-payments.md): N deals with their 1C orders linked, P bank receipts per deal posted
in 1C, summed onto the deals (paid amount, balance, last date, WON when full, one timeline entry per payment) —
Bitrix24 sandbox at its default limits (2 req/s, burst 50, operating budget on).

    .venv/bin/python bench/payments.py [--deals 200] [--payments 3] [--workers 200]

Two runs side by side on fresh sandboxes: ``together`` (all receipts posted before one cycle: a deal's settle jobs
coalesce into one) and ``one_by_one`` (one receipt per deal per cycle, P cycles). Prints one JSON line: per run the
receipts, http_requests, commands, commands_per_payment, request_floor (the commands in full batches of 50) and
request_ratio (http_requests ÷ that floor: how full the batches were), seconds, floor_seconds (commands at 50 per
request ÷ 2 req/s after the burst), ratio (seconds ÷ floor); and write_ratio = commands per payment one by one ÷
together.
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
from tests.payments.harness import RECEIPTS, payment_entity  # noqa: E402

ORDER = {"master": "bitrix24", "direction": "crm_to_erp", "crm": {"object": "crm.deal"},
         "erp": {"object": "Document_ЗаказКлиента"}, "match": [{"crm": "ID", "erp": "НомерПоДаннымКлиента"}],
         "create": False}


async def _one(a: argparse.Namespace, mode: str) -> dict:
    b24, onec = Bitrix24Sandbox(), OneCSandbox(seed=None)
    url, onec_url = b24.start(), onec.start()
    tmp = Path(tempfile.mkdtemp())
    try:
        pay = payment_entity()
        pay["aggregate"].pop("purpose")
        pay["triggers"] = [{"poll": "1m"}]
        sp = spec(url, onec_url, {"order": ORDER, "payment": pay})
        sp.defaults.workers = a.workers
        rt = build(sp, database_url=f"sqlite:///{tmp / 'state.db'}")
        try:
            from b24sync.connectors.bitrix24.portal import prepare_portal
            from b24sync.connectors.bitrix24.requirements import requirements_from_spec
            from b24sync.sandbox.bitrix24 import crm_legacy
            from b24sync.sandbox.bitrix24.portal import Ctx

            await prepare_portal(rt.adapters["bitrix24"].client, requirements_from_spec(rt.spec))  # type: ignore[attr-defined]
            cp = onec.create("Catalog_Контрагенты", Description="ООО Покупатель", ИНН="7707083893")
            ctx = Ctx(principal="seed", user_id=1)
            orders = []
            with rt.db.begin() as conn:
                for i in range(a.deals):  # seeding goes straight into the stores, not through the limited API
                    d = crm_legacy.create_legacy(b24.portal, ctx, "deal", {
                        "TITLE": f"Сделка {i}", "OPPORTUNITY": 300 * a.payments, "STAGE_ID": "FINAL_INVOICE"},
                        {}, emit=False)
                    o = onec.create("Document_ЗаказКлиента", Контрагент_Key=cp["Ref_Key"],
                                    СуммаДокумента=300 * a.payments, НомерПоДаннымКлиента=str(d))
                    identity.bind(conn, "order", crm_id=str(d), erp_id=o["Ref_Key"], match_key=None)
                    orders.append(o["Ref_Key"])
            served0, calls0 = b24.requests_served, sum(b24.method_calls.values())
            t0 = time.monotonic()
            rounds = [list(range(a.payments))] if mode == "together" else [[n] for n in range(a.payments)]
            for r in rounds:
                for i, ref in enumerate(orders):
                    for n in r:
                        onec.register_payment(ref, 300, incoming_number=f"{i}-{n}",
                                              incoming_date=f"2026-03-{10 + n:02d}T00:00:00")
                stats = await run(rt, RunOptions(once=True))
            seconds = time.monotonic() - t0
            http, commands = b24.requests_served - served0, sum(b24.method_calls.values()) - calls0
        finally:
            await rt.aclose()
        won = sum(1 for r in b24.portal.t("deal").rows.values() if r.get("STAGE_ID") == "WON")
        notes = len(b24.portal.t("timeline_comment").rows)
        receipts = len(onec.find(RECEIPTS))
        floor = max(0.0, (commands / 50 - 50) / 2)
        request_floor = -(-commands // 50)  # every command in a full batch of 50
        return {"request_floor": request_floor, "request_ratio": round(http / request_floor, 2) if request_floor else None,
                "receipts": receipts, "won": won, "notes": notes, "dead": stats.dead, "held": stats.held,
                "http_requests": http, "commands": commands, "commands_per_payment": round(commands / receipts, 2),
                "seconds": round(seconds, 1), "floor_seconds": round(floor, 1),
                "ratio": round(seconds / floor, 2) if floor else None}
    finally:
        b24.stop()
        onec.stop()


async def _main(a: argparse.Namespace) -> dict:
    together = await _one(a, "together")
    one_by_one = await _one(a, "one_by_one")
    return {"deals": a.deals, "payments_per_deal": a.payments, "together": together, "one_by_one": one_by_one,
            "write_ratio": round(one_by_one["commands_per_payment"] / together["commands_per_payment"], 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--deals", type=int, default=200)
    ap.add_argument("--payments", type=int, default=3)
    ap.add_argument("--workers", type=int, default=200)
    print(json.dumps(asyncio.run(_main(ap.parse_args()))))


if __name__ == "__main__":
    main()

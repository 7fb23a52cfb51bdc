"""Catalogue sync benchmark: N products from the 1C sandbox (OData) into the Bitrix24 sandbox at its default limits
(2 req/s, burst 50), then an incremental cycle with 0.1 % of the prices changed, then an idle cycle.

    .venv/bin/python bench/catalog_sync.py [--products 100000] [--workers 500] [--stock]

Ends with one JSON line: the full load's records, http_requests (requests the portal served), commands_per_request,
seconds, floor_seconds and ratio (the floor as in bench/initial_load.py: the larger of the requests needed at 50
commands per request ÷ 2 req/s and each method's operating seconds over its free 480 s ÷ (480 s / 600 s)), then
{"full": {...}, "incremental": {...}, "idle": {...}} with commands, records_per_request, commands_per_record too.
``--stock`` adds the stock entity (a second write per product on the first load).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from initial_load import floors  # noqa: E402 - the one definition of the floor

from b24sync.compose import build
from b24sync.engine.service import RunOptions, run
from b24sync.flows import catalog as flow
from b24sync.sandbox.bitrix24 import Bitrix24Sandbox
from b24sync.sandbox.onec.sandbox import OneCSandbox
from b24sync.spec.loader import load_spec

SPEC = """
version: 1
name: catalogue bench
systems:
  bitrix24: {{type: bitrix24, role: crm, webhook_url: "${{B24}}"}}
  onec: {{type: 1c-odata, role: erp, url: "${{ONEC}}", username: odata, password: secret, preset: ut11, page_size: 1000}}
defaults:
  workers: {workers}
  poll_page: 1000
  poll_overlap: 5s
  lease: 300s
  retry: {{max_attempts: 6, base_seconds: 1, max_seconds: 30}}
entities:
  catalogue:
    master: onec
    direction: erp_to_crm
    crm: {{object: crm.product.card}}
    erp: {{object: catalog.products, options: {{price_type: Розничная}}}}
    match: [{{crm: XML_ID, erp: Ref_Key}}]
    link: {{crm: XML_ID}}
    fields:
      - {{crm: NAME, erp: Description}}
      - {{crm: PRICE, erp: Цена}}
      - {{crm: VAT_INCLUDED, erp: ЦенаВключаетНДС}}
      - {{crm: VAT_RATE, erp: СтавкаНДСПроцент}}
      - {{crm: MEASURE_CODE, erp: ЕдиницаОКЕИ}}
      - {{crm: SECTION, erp: Группа}}
      - {{crm: ACTIVE, erp: Активен}}
    triggers: [{{poll: 1h}}]
{stock}"""

STOCK = """  stock:
    master: onec
    direction: erp_to_crm
    create: false
    crm: {object: crm.product.card}
    erp: {object: catalog.stock, options: {warehouses: [Основной склад]}}
    match: [{crm: XML_ID, erp: Ref_Key}]
    link: {crm: XML_ID}
    fields: [{crm: PROPERTY_STOCK, erp: Остаток}]
    triggers: [{poll: 15m}]
"""


def seed_products(onec: OneCSandbox, n: int, rng: random.Random) -> tuple[list[str], str]:
    """n generated items (fast path straight into the sandbox's store: seeding is not a user change)."""
    store = onec.store
    group = onec.find("Catalog_Номенклатура", IsFolder=True)[0]["Ref_Key"]
    units = [u["Ref_Key"] for u in onec.find("Catalog_УпаковкиЕдиницыИзмерения")]
    retail = onec.find("Catalog_ВидыЦен", Description="Розничная")[0]["Ref_Key"]
    d = store.defs["Catalog_Номенклатура"]
    blank = store._blank(d)
    objs = store.objects["Catalog_Номенклатура"]
    refs = []
    with store.lock:
        for i in range(n):
            ref = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            rec = dict(blank)
            rec.update({"Ref_Key": ref, "Code": f"БН-{i + 1:08d}", "Description": f"Товар {i + 1:06d}",
                        "НаименованиеПолное": f"Товар {i + 1:06d}", "Артикул": f"SKU-{i + 1:06d}",
                        "Parent_Key": group, "IsFolder": False, "ЕдиницаИзмерения_Key": units[i % len(units)],
                        "СтавкаНДС": "НДС22" if i % 10 else "НДС10", "ТипНоменклатуры": "Товар", "__v": 0})
            objs[ref] = rec
            refs.append(ref)
    for ref in refs:
        store.write_info("InformationRegister_ЦеныНоменклатуры", {
            "Period": "2026-01-01T00:00:00", "Номенклатура_Key": ref, "ВидЦены_Key": retail,
            "Цена": float(rng.randrange(100, 100000))}, register=False)
    return refs, retail


def count_operating(b24: Bitrix24Sandbox) -> dict[str, float]:
    """Operating seconds charged per method (the sandbox's cost model), from now on."""
    charged: dict[str, float] = {}
    charge = b24.ledger.charge

    def counting(principal: str, method: str, seconds: float):  # type: ignore[no-untyped-def]
        charged[method] = charged.get(method, 0.0) + seconds
        return charge(principal, method, seconds)

    b24.ledger.charge = counting  # type: ignore[method-assign]
    return charged


async def cycle(rt, b24: Bitrix24Sandbox, label: str, records: int, charged: dict[str, float]) -> dict:
    charged.clear()
    q0 = b24.query_limit_exceeded
    r0, c0 = b24.requests_served, sum(b24.method_calls.values())
    t0 = time.monotonic()
    stats = await run(rt, RunOptions(once=True))
    sec = time.monotonic() - t0
    req, cmds = b24.requests_served - r0 - (b24.query_limit_exceeded - q0), sum(b24.method_calls.values()) - c0
    rf, of = floors(cmds, dict(charged))
    floor = max(rf, of)
    out = {"records": records, "http_requests": req, "commands": cmds,
           "commands_per_request": round(cmds / req, 1) if req else None,
           "floor_seconds": round(floor, 1), "ratio": round(sec / floor, 2) if floor else None,
           "records_per_request": round(records / req, 1) if req else None,
           "commands_per_record": round(cmds / records, 2) if records else None, "seconds": round(sec, 1),
           "actions": stats.actions, "dead": stats.dead, "retried": stats.retried, "held": stats.held, "query_limit_exceeded": b24.query_limit_exceeded}
    from sqlalchemy import func, select

    from b24sync.store.models import Job

    with rt.db.connect() as conn:  # jobs left waiting (a retry not yet due when the once-run went idle)
        out["jobs_left"] = conn.execute(select(func.count()).select_from(Job)).scalar_one()
        errs = conn.execute(select(Job.last_error).where(Job.last_error.is_not(None)).limit(3)).scalars().all()
    if errs:
        out["sample_errors"] = [str(e)[:200] for e in errs]
    print(label, json.dumps(out, ensure_ascii=False), file=sys.stderr, flush=True)
    return out


async def main_async(args: argparse.Namespace) -> dict:
    rng = random.Random(7)
    b24 = Bitrix24Sandbox()  # default limits: 2 req/s, burst 50
    b24.start()
    onec = OneCSandbox(seed="demo")
    url = onec.start()
    tmp = Path(tempfile.mkdtemp(prefix="b24sync-bench-catalog-"))
    try:
        refs, retail = seed_products(onec, args.products, rng)
        total = len(onec.find("Catalog_Номенклатура", IsFolder=False))
        p = tmp / "spec.yaml"
        p.write_text(SPEC.format(workers=args.workers, stock=STOCK if args.stock else ""), encoding="utf-8")
        rt = build(load_spec(p, {"B24": b24.webhook_url, "ONEC": url}), database_url=f"sqlite:///{tmp / 'state.db'}")
        await flow.prepare_portal(rt)
        charged = count_operating(b24)
        res = {"full": await cycle(rt, b24, "full", total, charged)}
        changed = rng.sample(refs, max(1, len(refs) // 1000))
        for ref in changed:
            onec.store.write_info("InformationRegister_ЦеныНоменклатуры", {
                "Period": "2026-06-01T00:00:00", "Номенклатура_Key": ref, "ВидЦены_Key": retail,
                "Цена": float(rng.randrange(100, 100000))})
        res["incremental"] = await cycle(rt, b24, "incremental", len(changed), charged)
        res["idle"] = await cycle(rt, b24, "idle", 0, charged)
        res["products_in_crm"] = b24.count("product")
        await rt.aclose()
        return res
    finally:
        b24.stop()
        onec.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--products", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=500)
    ap.add_argument("--stock", action="store_true")
    args = ap.parse_args()
    res = asyncio.run(main_async(args))
    full = res["full"]
    head = {k: full[k] for k in ("records", "http_requests", "commands_per_request", "seconds", "floor_seconds",
                                 "ratio")}
    print(json.dumps({**head, **res}, ensure_ascii=False))


if __name__ == "__main__":
    main()

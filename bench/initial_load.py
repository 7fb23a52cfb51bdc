"""Initial-load benchmark: N counterparties (with requisites, bank accounts, legal addresses) from the 1C sandbox
into an empty Bitrix24 sandbox portal on the default plan — 2 requests/s, burst 50, operating budget on (480 s per
method per 10 minutes) — through the product's own path (`flows.initial_load`, then the engine's jobs).

    .venv/bin/python bench/initial_load.py [--records 5000] [--workers N]

Prints ONE JSON line: records, http_requests (requests the portal served, refused ones excluded),
commands_per_request, seconds (wall time of the load), floor_seconds, ratio = seconds / floor_seconds, plus the
floor's two parts and the operating seconds per method.

The floor is the larger of
* requests_floor = ceil(commands / 50) / rate — every command the run needed, packed 50 to a request (sheet §3.2,
  §4); the bucket's burst is ignored, so a run can beat it by the burst / rate seconds;
* operating_floor = max over methods of max(0, operating − budget) / (budget / window) — a method's operating
  seconds under the sandbox's cost model (docs/sandbox-bitrix24.md "Cost model"); the first `budget` seconds of a
  10-minute window are free, every further second needs window / budget seconds of wall time (sheet §3.3).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from b24sync.compose import build
from b24sync.flows.initial_load import Options, initial_load
from b24sync.sandbox.bitrix24 import Bitrix24Sandbox
from b24sync.sandbox.onec.sandbox import OneCSandbox
from b24sync.spec.loader import load_spec

RATE, BURST, BUDGET, WINDOW = 2.0, 50, 480.0, 600.0
SPEC = """
version: 1
name: initial load bench
systems:
  bitrix24: {{type: bitrix24, role: crm, webhook_url: "${{B24}}"}}
  onec: {{type: 1c-odata, role: erp, url: "${{ONEC}}", username: odata, password: secret, preset: ut11, page_size: 1000}}
defaults:
  {workers}poll_page: 1000
  lease: 300s
  retry: {{max_attempts: 6, base_seconds: 1, max_seconds: 30}}
entities:
  counterparty:
    master: onec
    direction: erp_to_crm
    crm: {{object: crm.company+requisite}}
    erp: {{object: counterparty}}
    match:
      - keys: [{{crm: RQ_INN, erp: ИНН, normalize: inn}}, {{crm: RQ_KPP, erp: КПП}}]
      - {{crm: RQ_INN, erp: ИНН, normalize: inn}}
    link: {{crm: UF_CRM_ERP_ID}}
    fields:
      - {{crm: TITLE, erp: Description}}
      - {{crm: RQ_COMPANY_NAME, erp: Description}}
      - {{crm: RQ_COMPANY_FULL_NAME, erp: НаименованиеПолное}}
      - {{crm: RQ_INN, erp: ИНН}}
      - {{crm: RQ_KPP, erp: КПП}}
      - {{crm: RQ_OGRN, erp: ОГРН}}
      - {{crm: ADDR_ADDRESS_1, erp: ЮрАдрес}}
      - {{crm: ADDR_CITY, erp: ЮрАдресГород}}
      - {{crm: BANK_RQ_BANK_NAME, erp: Банк}}
      - {{crm: BANK_RQ_BIK, erp: БИК}}
      - {{crm: BANK_RQ_COR_ACC_NUM, erp: КоррСчет}}
      - {{crm: BANK_RQ_ACC_NUM, erp: НомерСчета}}
    triggers: [{{poll: 1h}}]
"""


def floors(commands: int, operating: dict[str, float]) -> tuple[float, float]:
    requests_floor = math.ceil(commands / 50) / RATE
    operating_floor = max([max(0.0, s - BUDGET) / (BUDGET / WINDOW) for s in operating.values()] or [0.0])
    return requests_floor, operating_floor


async def main_async(args: argparse.Namespace) -> dict:
    from b24sync.connectors.bitrix24.portal import prepare_portal
    from b24sync.connectors.bitrix24.requirements import requirements_from_spec

    b24 = Bitrix24Sandbox(rate=RATE, burst=BURST, operating_limit=BUDGET)
    b24.start()
    charged: Counter[str] = Counter()
    charge = b24.ledger.charge

    def counting(principal: str, method: str, seconds: float):  # type: ignore[no-untyped-def]
        charged[method] += seconds
        return charge(principal, method, seconds)

    b24.ledger.charge = counting  # type: ignore[method-assign]
    onec = OneCSandbox(seed="demo", seed_counterparties=args.records)
    url = onec.start()
    tmp = Path(tempfile.mkdtemp(prefix="b24sync-bench-initial-"))
    try:
        p = tmp / "spec.yaml"
        p.write_text(SPEC.format(workers=f"workers: {args.workers}\n  " if args.workers else ""), encoding="utf-8")
        spec = load_spec(p, {"B24": b24.webhook_url, "ONEC": url})
        rt = build(spec, database_url=f"sqlite:///{tmp / 'state.db'}")
        adapter = rt.adapters["bitrix24"]
        await prepare_portal(adapter.client, requirements_from_spec(spec))  # type: ignore[attr-defined]
        charged.clear()
        r0, q0, c0 = b24.requests_served, b24.query_limit_exceeded, sum(b24.method_calls.values())
        m0 = Counter(b24.method_calls)
        t0 = time.monotonic()
        report = await initial_load(rt, "counterparty", Options())
        sec = time.monotonic() - t0
        req = (b24.requests_served - r0) - (b24.query_limit_exceeded - q0)
        cmds = sum(b24.method_calls.values()) - c0
        records = b24.count("company")
        rf, of = floors(cmds, dict(charged))
        floor = max(rf, of)
        out = {"records": records, "http_requests": req, "commands_per_request": round(cmds / req, 1) if req else None,
               "seconds": round(sec, 1), "floor_seconds": round(floor, 1),
               "ratio": round(sec / floor, 2) if floor else None,
               "commands": cmds, "requests_floor_seconds": round(rf, 1), "operating_floor_seconds": round(of, 1),
               "query_limit_exceeded": b24.query_limit_exceeded - q0,
               "operating_seconds": {m: round(s, 1) for m, s in charged.most_common(8)},
               "calls": dict((Counter(b24.method_calls) - m0).most_common(8)),
               "engine": report.engine, "workers": rt.spec.defaults.workers,
               "requisites": b24.count("requisite"), "bank_details": b24.count("bankdetail"),
               "addresses": b24.count("address")}
        await rt.aclose()
        return out
    finally:
        b24.stop()
        onec.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=5000, help="counterparties to generate in 1C (default 5000)")
    ap.add_argument("--workers", type=int, default=0, help="defaults.workers (default: the spec default)")
    args = ap.parse_args()
    print(json.dumps(asyncio.run(main_async(args)), ensure_ascii=False))
    sys.stdout.flush()


if __name__ == "__main__":
    main()

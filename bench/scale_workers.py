"""Worker scaling benchmark: N counterparties from the 1C sandbox (OData) into an empty Bitrix24 sandbox, run by 1,
2 and 4 `b24sync run` processes on one PostgreSQL store, every sandbox request delayed 50–200 ms (uniform), limits
off. Then a round of 4 processes where one is killed with SIGKILL mid-way: every record must land exactly once.

    .venv/bin/python bench/scale_workers.py [--records 1000] [--concurrency 8] [--pg postgresql+psycopg://…/test]

Each process runs `defaults.workers` (--concurrency) jobs at a time, so one process is bound by latency × its
concurrency, as a CPU-bound process would be by its core. Prints one JSON line: seconds and records/s per process
count, the ratios to one process (over the whole run and over the steady middle 80 % of the records, without the
start-up), CPU seconds per round, and the SIGKILL round's counts. ``--budgets store,redis`` measures the series twice,
with the shared Bitrix24 budgets in the store's kv rows and in Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

SPEC = """
version: 1
name: scaling bench
systems:
  bitrix24: {{type: bitrix24, role: crm, webhook_url: "{webhook}", rate: 10000, burst: 100000}}
  onec: {{type: 1c-odata, role: erp, url: "{onec}", username: odata, password: secret, preset: ut11, page_size: 500}}
defaults:
  workers: {concurrency}
  poll_page: 500
  lease: 30s
  retry: {{max_attempts: 8, base_seconds: 0.2, max_seconds: 2}}
entities:
  company:
    master: onec
    direction: erp_to_crm
    crm: {{object: crm.company}}
    erp: {{object: Catalog_Контрагенты}}
    match:
      - {{crm: UF_CRM_ERP_ID, erp: Ref_Key}}
    link: {{crm: UF_CRM_ERP_ID}}
    fields:
      - {{crm: TITLE, erp: Description}}
    triggers:
      - poll: 2s
"""


class RandomMs:
    """A per-request latency for the sandboxes: each use (``latency / 1000``) draws 50–200 ms afresh."""

    def __init__(self, lo: float, hi: float, seed: int = 7) -> None:
        self.lo, self.hi, self.rng = lo, hi, random.Random(seed)

    def __bool__(self) -> bool:
        return True

    def __truediv__(self, k: float) -> float:
        return self.rng.uniform(self.lo, self.hi) / k


def _cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def schema_url(pg: str) -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with create_engine(pg).begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in pg else "?"
    return schema, f"{pg}{sep}options=-csearch_path%3D{schema}"


def round_(args: argparse.Namespace, processes: int, *, kill_one: bool = False) -> dict:
    from b24sync.compose import build
    from b24sync.connectors.bitrix24.portal import prepare_portal
    from b24sync.connectors.bitrix24.requirements import requirements_from_spec
    from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox
    from b24sync.sandbox.onec.sandbox import OneCSandbox
    from b24sync.spec.loader import load_spec
    from b24sync.store.models import Job

    b24 = Bitrix24Sandbox(rate=None, operating_limit=None)
    b24.start()
    onec = OneCSandbox(seed=None, seed_counterparties=args.records)
    onec.start()
    tmp = Path(tempfile.mkdtemp(prefix="b24sync-bench-scale-"))
    schema, url = schema_url(args.pg)
    try:
        spec_file = tmp / "spec.yaml"
        spec_file.write_text(SPEC.format(webhook=b24.webhook_url, onec=onec.odata_url,
                                         concurrency=args.concurrency), encoding="utf-8")
        rt = build(load_spec(spec_file, {}), database_url=url)

        async def prep() -> None:
            await prepare_portal(rt.adapters["bitrix24"].client, requirements_from_spec(rt.spec))  # type: ignore[attr-defined]
            await rt.aclose()

        asyncio.run(prep())
        b24.latency_ms = RandomMs(50, 200)  # type: ignore[assignment]
        onec.faults.latency_ms = RandomMs(50, 200, seed=8)  # type: ignore[assignment]
        env = {**os.environ, "B24SYNC_DATABASE_URL": url, "B24SYNC_NO_PROGRESS": "1"}
        t0 = time.monotonic()
        self_cpu0, kids0 = _cpu_self(), _cpu_children()
        logs = [open(Path(args.logs) / f"{processes}p-w{i}.log", "w") if args.logs else subprocess.DEVNULL  # noqa: SIM115
                for i in range(processes)]
        procs = [subprocess.Popen([sys.executable, "-m", "b24sync.cli.main", "run", "--spec", str(spec_file),
                                   "--no-serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
                 for log in logs]
        killed = None
        deadline = t0 + args.timeout
        store = create_engine(url)
        marks: dict[str, float] = {}
        while time.monotonic() < deadline:
            n = b24.count("company")
            for name, share in (("first", 1 / args.records), ("p10", 0.1), ("p90", 0.9)):
                if name not in marks and n >= args.records * share:
                    marks[name] = time.monotonic() - t0
            if kill_one and killed is None and n >= args.records * 0.4:
                killed = random.Random(3).randrange(processes)
                procs[killed].send_signal(signal.SIGKILL)
            if n >= args.records:
                with store.connect() as c:
                    if c.execute(select(func.count()).select_from(Job)).scalar_one() == 0:
                        break
            time.sleep(0.05)
        seconds = time.monotonic() - t0
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
            p.wait()
        store.dispose()
        cpu_workers, cpu_sandboxes = _cpu_children() - kids0, _cpu_self() - self_cpu0
        links = [c.get("UF_CRM_ERP_ID") for c in b24.portal.t("company").values()]
        out = {"processes": processes, "seconds": round(seconds, 2), "records_in_crm": len(links),
               "distinct_links": len(set(links) - {None, ""}), "records_per_s": round(args.records / seconds, 1),
               # CPU seconds: all worker processes together, and this process (both sandboxes + the watcher)
               "cpu_s_workers": round(cpu_workers, 1), "cpu_s_sandboxes": round(cpu_sandboxes, 1),
               "cpu_ms_per_record": round(1000 * (cpu_workers + cpu_sandboxes) / args.records, 1),
               # start-up (processes up, first poll read) vs the steady middle 80 % of the records
               "first_record_s": round(marks.get("first", seconds), 2),
               "steady_records_per_s": round(0.8 * args.records / max(marks.get("p90", seconds) - marks.get("p10", 0), 1e-3), 1)}
        if kill_one:
            out["killed_process"] = killed
        return out
    finally:
        b24.stop()
        onec.stop()
        with create_engine(args.pg).begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--processes", default="1,2,4", help="process counts to measure (the first is the baseline)")
    ap.add_argument("--no-kill", action="store_true", help="skip the SIGKILL round")
    ap.add_argument("--budgets", default="store", help="where the shared Bitrix24 budgets live, one series each: "
                    "store (kv rows), redis, or store,redis side by side")
    ap.add_argument("--logs", default="", help="a folder for each worker process's log (default: discarded)")
    ap.add_argument("--redis", default=os.environ.get("B24SYNC_TEST_REDIS", "redis://127.0.0.1:6379/0"))
    ap.add_argument("--pg", default=os.environ.get("B24SYNC_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    args = ap.parse_args()
    counts = [int(x) for x in args.processes.split(",")]
    out: dict = {"records": args.records, "concurrency_per_process": args.concurrency, "latency_ms": [50, 200],
                 "load_avg_1m_at_start": round(os.getloadavg()[0], 1), "cores": os.cpu_count()}
    for budgets in args.budgets.split(","):
        # where the shared Bitrix24 budgets (leaky bucket, operating time) live: the store's kv rows, or Redis
        if budgets == "redis":
            os.environ["B24SYNC_REDIS_URL"] = args.redis
        else:
            os.environ.pop("B24SYNC_REDIS_URL", None)
        rounds = {k: round_(args, k) for k in counts}
        for k, r in rounds.items():
            print(f"budgets in {budgets}: {k} process(es)", json.dumps(r), file=sys.stderr, flush=True)
        base = rounds[counts[0]]["seconds"]
        base_steady = rounds[counts[0]]["steady_records_per_s"]
        out[f"budgets_in_{budgets}"] = {
            "rounds": list(rounds.values()),
            "speedup_vs_1": {str(k): round(base / r["seconds"], 2) for k, r in rounds.items()},
            "steady_speedup_vs_1": {str(k): round(r["steady_records_per_s"] / base_steady, 2)
                                    for k, r in rounds.items()}}
    out["sigkill_one"] = None if args.no_kill else round_(args, max(counts), kill_one=True)
    out["load_avg_1m_at_end"] = round(os.getloadavg()[0], 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

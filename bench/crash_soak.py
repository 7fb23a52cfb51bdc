"""Crash soak (issue 13): the crash-and-fault test at a larger scale and for longer.

``b24sync run --once`` as a subprocess, SIGKILLed at random points ``--kills`` times, with a fault proxy in front of
both sandboxes losing the answer of ``--lose`` of the writes after they were applied (closed, reset, half an answer,
HTML 504), 1C → Bitrix24 counterparty cards and Bitrix24 → 1C products at once. Prints one JSON line:
records, kills, lost_answers, writes, duplicates, missing, unequal, pending, dead, seconds.

    .venv/bin/python bench/crash_soak.py --counterparties 3000 --products 1000 --kills 20 --lose 0.07
    .venv/bin/python bench/crash_soak.py --store postgresql://127.0.0.1:5432/test   # a private schema is made
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.crash.harness
from tests.crash.harness import run_world  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counterparties", type=int, default=3000)
    ap.add_argument("--products", type=int, default=1000)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--lose", type=float, default=0.07, help="share of write answers lost after apply")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--store", default="sqlite", help="sqlite, or a PostgreSQL URL (a private schema is used)")
    ap.add_argument("--window", type=float, nargs=2, default=(1.0, 4.0), help="seconds a run lives before SIGKILL")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="crash-soak-"))
    admin_url = a.store.replace("postgresql://", "postgresql+psycopg://", 1)  # the driver b24sync installs
    schema = None
    if a.store == "sqlite":
        url = f"sqlite:///{tmp}/state.db"
    else:
        schema = f"soak_{uuid.uuid4().hex[:10]}"
        with create_engine(admin_url).begin() as c:
            c.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{admin_url}{'&' if '?' in admin_url else '?'}options=-csearch_path%3D{schema}"
    try:
        rep = run_world(tmp, url, counterparties=a.counterparties, products=a.products, kills=a.kills,
                        lose_rate=a.lose, seed=a.seed, window=tuple(a.window), drain_timeout=900.0)
    finally:
        if schema:
            with create_engine(admin_url).begin() as c:
                c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    print(json.dumps({"records": rep.records, "kills": rep.kills, "lost_answers": rep.lost_answers,
                      "writes": rep.writes, "lost_by_kind": rep.lost_by_kind, "by_direction": rep.by_direction, "duplicates": rep.duplicates,
                      "missing": rep.missing, "unequal": rep.unequal, "pending": rep.pending, "dead": rep.dead,
                      "store": "sqlite" if schema is None else "postgresql", "seconds": round(rep.seconds, 1)}))


if __name__ == "__main__":
    main()

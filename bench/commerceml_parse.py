"""Benchmark: stream-parse a ~1,000,000-offer CommerceML offers.xml (≥ 500 MB).

    .venv/bin/python bench/commerceml_parse.py [--offers 1000000] [--prices 2] [--warehouses 3] [--dir /tmp]

1. writes the file streaming into a fresh temporary directory (shape of the real offers sample 02, see
   b24sync.connectors.commerceml.synth);
2. parses it with the streaming reader in a *fresh* subprocess and measures that process's peak RSS
   (``resource.getrusage``; on Linux also ``VmHWM`` — ``ru_maxrss`` survives ``execve`` and so can only be an upper
   bound inherited from the parent, VmHWM is the child image's own peak);
3. deletes the temporary directory, and prints one JSON line:
   ``{"records": N, "seconds": S, "records_per_second": X, "peak_rss_mb": M, "file_mb": F}``.

Target: peak RSS under 150 MB whatever the file size.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_CHILD = r"""
import json, resource, sys, time
from b24sync.connectors.commerceml.reader import CommerceMLReader
from b24sync.connectors.commerceml.model import Offer
path = sys.argv[1]
t0 = time.perf_counter()
records = offers = 0
reader = CommerceMLReader(path)
for rec in reader:
    records += 1
    if type(rec) is Offer:
        offers += 1
seconds = time.perf_counter() - t0
hwm = None
try:
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) / 1024
except OSError:
    pass
print(json.dumps({"records": records, "offers": offers, "seconds": seconds, "completed": reader.completed,
                  "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "vmhwm_mb": hwm}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--offers", type=int, default=1_000_000)
    ap.add_argument("--prices", type=int, default=2)
    ap.add_argument("--warehouses", type=int, default=3)
    ap.add_argument("--dir", default=None, help="parent directory for the temporary file (default: system temp)")
    args = ap.parse_args()

    src = str(Path(__file__).resolve().parents[1] / "src")
    sys.path.insert(0, src)
    from b24sync.connectors.commerceml.synth import write_offers_file

    tmp = Path(tempfile.mkdtemp(prefix="b24sync-cml-bench-", dir=args.dir))
    try:
        free = shutil.disk_usage(tmp).free
        need = args.offers * (700 + 250 * args.prices + 80 * args.warehouses)
        if free < need * 1.2:
            print(f"not enough free space in {tmp}: {free / 1e9:.1f} GB free, ~{need / 1e9:.1f} GB needed",
                  file=sys.stderr)
            return 2
        path = tmp / "offers.xml"
        t0 = time.perf_counter()
        size = write_offers_file(path, args.offers, prices=args.prices, warehouses=args.warehouses)
        print(f"generated {path} ({size / 1e6:.0f} MB, {args.offers} offers) in {time.perf_counter() - t0:.1f} s",
              file=sys.stderr)
        proc = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True,
                              env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"}, check=False)
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return 1
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"parse child: {res}", file=sys.stderr)
        if not res["completed"] or res["offers"] != args.offers:
            print("parse incomplete or offer count mismatch", file=sys.stderr)
            return 1
        peak = res["vmhwm_mb"] if res["vmhwm_mb"] is not None else res["ru_maxrss_mb"]
        print(json.dumps({"records": res["records"], "seconds": round(res["seconds"], 2),
                          "records_per_second": round(res["records"] / res["seconds"]),
                          "peak_rss_mb": round(peak, 1), "file_mb": round(size / 1e6, 1)}))
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

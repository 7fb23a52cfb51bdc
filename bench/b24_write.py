"""Bulk-write benchmark: 5,000 contacts created through ``Bitrix24Adapter.create`` (auto-batched, 50 commands per
request) against a Bitrix24 sandbox at the default plan limits (2 req/s, bucket 50).

Run on demand: ``.venv/bin/python bench/b24_write.py [--records 5000]``. The last line is JSON: records,
http_requests, records_per_request, limit_errors, operating_seconds, seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from b24sync.connectors.bitrix24.adapter import Bitrix24Adapter, client_from_config
from b24sync.engine.ports import ObjectRef
from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox


async def run(records: int) -> dict:
    sb = Bitrix24Sandbox(rate=2.0, burst=50)
    url = sb.start()
    try:
        adapter = Bitrix24Adapter("b24", client_from_config({"webhook_url": url}))
        obj = ObjectRef("crm.contact")
        t0 = time.monotonic()
        ids = await asyncio.gather(*[
            adapter.create(obj, {"NAME": f"Контакт {i}", "LAST_NAME": "Bench", "ORIGIN_ID": f"bench-{i}",
                                 "PHONE": [f"+7999{i:07d}"]}) for i in range(records)])
        seconds = time.monotonic() - t0
        await adapter.aclose()
        assert len(set(ids)) == records == sb.count("contact")
        reqs = sb.requests_served
        return {"records": records, "http_requests": reqs, "records_per_request": round(records / max(1, reqs), 1),
                "limit_errors": sb.query_limit_exceeded + sb.operation_time_limit_hits,
                "operating_seconds": round(sb.operating_seconds, 3), "seconds": round(seconds, 2)}
    finally:
        sb.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=5_000)
    args = ap.parse_args()
    print(json.dumps(asyncio.run(run(args.records))))


if __name__ == "__main__":
    main()

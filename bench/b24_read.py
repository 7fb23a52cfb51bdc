"""Full-read benchmark: our Bitrix24 client vs b24pysdk ``as_list_fast`` vs fast-bitrix24 ``get_all``, each against
its own fresh Bitrix24 sandbox (same seeded data, default plan limits 2 req/s / 50, https via the sandbox's TLS mode).

Run on demand: ``.venv/bin/python bench/b24_read.py [--rows 20000]``. Peer figures are printed first; the last line
is our JSON: records, http_requests, records_per_request, limit_errors, operating_seconds, seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import time

from b24sync.connectors.bitrix24.auth import WebhookAuth
from b24sync.connectors.bitrix24.client import Bitrix24Client
from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox

SELECT = ["ID", "NAME", "LAST_NAME", "DATE_MODIFY"]


def figures(sb: Bitrix24Sandbox, records: int, seconds: float) -> dict:
    reqs = sb.requests_served
    return {"records": records, "http_requests": reqs, "records_per_request": round(records / max(1, reqs), 1),
            "limit_errors": sb.query_limit_exceeded + sb.operation_time_limit_hits,
            "operating_seconds": round(sb.operating_seconds, 3), "seconds": round(seconds, 2)}


def fresh(rows: int) -> tuple[Bitrix24Sandbox, str]:
    sb = Bitrix24Sandbox(rate=2.0, burst=50)
    sb.seed(contacts=rows)
    url = sb.start(tls=True)
    return sb, url


async def ours(rows: int) -> dict:
    sb, url = fresh(rows)
    try:
        t0 = time.monotonic()
        async with Bitrix24Client(WebhookAuth(url), verify=sb.cert_path) as c:
            n = 0
            async for page in c.list_all("crm.contact.list", {"select": SELECT}):
                n += len(page)
        return figures(sb, n, time.monotonic() - t0)
    finally:
        sb.close()


def b24pysdk_fast(rows: int) -> dict:
    from b24pysdk import BitrixWebhook, Client

    sb, url = fresh(rows)
    try:
        os.environ["REQUESTS_CA_BUNDLE"] = sb.cert_path
        tail = url.split("/rest/", 1)[1].strip("/")
        client = Client(BitrixWebhook(domain=f"127.0.0.1:{sb.port}", webhook_token=tail))
        t0 = time.monotonic()
        n = sum(1 for _ in client.crm.contact.list(select=SELECT).as_list_fast().result)
        return figures(sb, n, time.monotonic() - t0)
    finally:
        os.environ.pop("REQUESTS_CA_BUNDLE", None)
        sb.close()


async def fast_bitrix24_get_all(rows: int) -> dict:
    from fast_bitrix24 import BitrixAsync

    sb, url = fresh(rows)
    try:
        b = BitrixAsync(url, verbose=False, ssl=False)
        t0 = time.monotonic()
        res = await b.get_all("crm.contact.list", {"select": SELECT})
        return figures(sb, len(res), time.monotonic() - t0)
    finally:
        sb.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--no-peers", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for noisy in ("fast_bitrix24", "b24pysdk"):  # peers log every response body at DEBUG
        lg = logging.getLogger(noisy)
        lg.setLevel(logging.WARNING)
        lg.propagate = False
        lg.handlers.clear()
    me = asyncio.run(ours(args.rows))
    if not args.no_peers:
        for name, fn in (("b24pysdk.as_list_fast", lambda: b24pysdk_fast(args.rows)),
                         ("fast_bitrix24.get_all", lambda: asyncio.run(fast_bitrix24_get_all(args.rows)))):
            try:
                peer = fn()
            except Exception as e:  # a peer failing must not hide our figures
                print(f"peer {name}: failed: {type(e).__name__}: {e}")
                continue
            ratio = round(me["records_per_request"] / max(0.1, peer["records_per_request"]), 2)
            print(f"peer {name}: {json.dumps(peer)}  (ours/peer records_per_request = {ratio}x)")
    print(json.dumps(me))


if __name__ == "__main__":
    main()

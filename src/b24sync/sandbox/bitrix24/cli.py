"""``b24sync sandbox bitrix24`` — serve the emulated portal and print its webhook URL."""

from __future__ import annotations

import time
from typing import List, Optional

import typer


def serve(
    port: int = typer.Option(8124, help="TCP port on 127.0.0.1 (0 = any free port)."),
    host: str = typer.Option("127.0.0.1", help="Bind address."),
    rate: float = typer.Option(2.0, help="Leaky bucket drain, requests/second (0 = unlimited)."),
    burst: int = typer.Option(50, help="Leaky bucket size."),
    operating_limit: float = typer.Option(480.0, help="Operating-time budget per method, seconds per 10 min (0 = off)."),
    data: Optional[str] = typer.Option(None, help="SQLite file for persistent state (default: memory)."),
    tls: bool = typer.Option(False, help="Serve https with a generated self-signed certificate."),
    fail_rate: float = typer.Option(0.0, help="Fraction of requests answered with a random 503/500."),
    latency: float = typer.Option(0.0, help="Added latency per request, milliseconds."),
    force: List[str] = typer.Option([], help="METHOD=KIND[:N]: next N calls of METHOD answer 503, 500 or timeout."),
    webhook_code: Optional[str] = typer.Option(None, envvar="B24_SANDBOX_WEBHOOK_CODE",
                                               help="Fixed webhook secret (default: random, kept in --data)."),
    seed_companies: int = typer.Option(0, help="Generate N companies (with requisites)."),
    seed_contacts: int = typer.Option(0, help="Generate N contacts."),
    seed_deals: int = typer.Option(0, help="Generate N deals."),
    seed_products: int = typer.Option(0, help="Generate N products."),
) -> None:
    """Run a faithful Bitrix24 REST portal emulator (webhooks, OAuth, limits, batch, events)."""
    from .sandbox import Bitrix24Sandbox

    sb = Bitrix24Sandbox(rate=rate or None, burst=burst, operating_limit=operating_limit or None, data=data,
                         fail_rate=fail_rate, latency_ms=latency, webhook_code=webhook_code)
    for spec in force:
        meth, _, kind = spec.partition("=")
        kind, _, n = kind.partition(":")
        sb.force(meth, kind or "503", int(n or 1))
    if seed_companies or seed_contacts or seed_deals or seed_products:
        t0 = time.time()
        sb.seed(seed_companies, seed_contacts, seed_deals, seed_products)
        typer.echo(f"seeded in {time.time() - t0:.1f} s")
    url = sb.start(port=port, host=host, tls=tls)
    masked = url.replace(sb.portal.webhook_code, sb.portal.webhook_code[:2] + "…") if not webhook_code else url
    typer.echo(f"Bitrix24 sandbox: {sb.base_url}")
    typer.echo(f"webhook URL: {url}")
    if masked != url:
        typer.echo(f"(full code printed once above; masked form: {masked})")
    typer.echo(f"OAuth: client_id={sb.portal.client_id} token endpoint {sb.oauth_token_url}")
    if tls:
        typer.echo(f"certificate (trust it with REQUESTS_CA_BUNDLE / SSL_CERT_FILE): {sb.cert_path}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sb.close()

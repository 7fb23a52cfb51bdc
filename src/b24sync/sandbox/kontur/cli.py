"""``b24sync sandbox kontur`` — serve the Kontur.Buhgalteria model API (a model of behaviour, not the vendor's API)."""

from __future__ import annotations

from typing import Annotated

import typer


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0 = any free port).")] = 8087,
    api_key: Annotated[list[str] | None, typer.Option(help="Accepted API key(s) (Authorization: Bearer).")] = None,
    pay_after: Annotated[float, typer.Option(help="Seconds until an issued invoice gets paid; <0 = hook only.")]
    = -1.0,
    webhook_url: Annotated[str | None, typer.Option(help="POST payment.received events to this URL.")] = None,
    fail_rate: Annotated[float, typer.Option(help="Share of API calls answered 500/429 (0..1).")] = 0.0,
    latency: Annotated[float, typer.Option(help="Added latency per API call, seconds.")] = 0.0,
    seed: Annotated[int | None, typer.Option(help="Random seed for fault injection.")] = None,
) -> None:
    """Run the Kontur.Buhgalteria MODEL sandbox: counterparties, invoices (+PDF), payments, acts, webhook."""
    import uvicorn

    from b24sync.sandbox.kontur.app import KonturSandboxConfig, create_app

    cfg = KonturSandboxConfig(pay_after=pay_after, webhook_url=webhook_url, fail_rate=fail_rate, latency=latency,
                              seed=seed)
    if api_key:
        cfg.api_keys = set(api_key)
    typer.echo(f"Kontur.Buhgalteria model sandbox (NOT the vendor API): API keys {sorted(cfg.api_keys)}; "
               "pay an invoice with POST /_sandbox/bank-statement")
    uvicorn.run(create_app(cfg), host=host, port=port, log_level="warning")

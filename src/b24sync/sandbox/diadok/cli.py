"""``b24sync sandbox diadok`` — serve the Diadok emulator on a local port."""

from __future__ import annotations

from typing import Annotated

import typer


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0 = any free port).")] = 8086,
    sign_delay: Annotated[float, typer.Option(help="Seconds until a counterparty signs/rejects; <0 = hook only.")]
    = 2.0,
    print_form_polls: Annotated[int, typer.Option(help="GeneratePrintForm answers 204 + Retry-After N times.")] = 2,
    post_message_polls: Annotated[int, typer.Option(help="PostMessage answers 204 + Retry-After N times.")] = 0,
    retry_after: Annotated[int, typer.Option(help="Seconds in Retry-After headers.")] = 1,
    fail_rate: Annotated[float, typer.Option(help="Share of API calls answered 500/429 (0..1).")] = 0.0,
    latency: Annotated[float, typer.Option(help="Added latency per API call, seconds.")] = 0.0,
    seed: Annotated[int | None, typer.Option(help="Random seed for fault injection.")] = None,
    bearer_token: Annotated[list[str] | None, typer.Option(help="Accepted Bearer access token(s).")] = None,
    client_id: Annotated[list[str] | None, typer.Option(help="Accepted ddauth_api_client_id value(s).")] = None,
) -> None:
    """Run a local Kontur.Diadok emulator (JSON wire format; both auth styles; test hooks under /_sandbox)."""
    import uvicorn

    from b24sync.sandbox.diadok.app import SandboxConfig, create_app

    cfg = SandboxConfig(sign_delay=sign_delay, print_form_polls=print_form_polls,
                        post_message_polls=post_message_polls, retry_after=retry_after, fail_rate=fail_rate,
                        latency=latency, seed=seed)
    if bearer_token:
        cfg.bearer_tokens = set(bearer_token)
    if client_id:
        cfg.client_ids = set(client_id)
    typer.echo(f"Diadok sandbox: Bearer tokens {sorted(cfg.bearer_tokens)}, client ids {sorted(cfg.client_ids)}, "
               f"login {next(iter(cfg.users))}")
    uvicorn.run(create_app(cfg), host=host, port=port, log_level="warning")

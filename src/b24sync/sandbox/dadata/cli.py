"""``b24sync sandbox dadata`` — run the DaData emulator."""

from __future__ import annotations

import typer


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on"),
    port: int = typer.Option(8091, help="Port (0 = any free port)"),
    token: str = typer.Option("sandbox-token", "--token", envvar="B24SYNC_DADATA_TOKEN", help="Accepted API key"),
    daily_quota: int = typer.Option(10_000, help="Requests per Moscow-time day before 403 (free plan: 10 000)"),
    fail_rate: float = typer.Option(0.0, help="Share of requests answered 429/500/503 (0..1)"),
    latency: float = typer.Option(0.0, help="Seconds to wait before answering"),
    generated: int = typer.Option(20, help="Generated companies added to the built-in records"),
) -> None:
    """DaData Suggestions API emulation: POST /suggestions/api/4_1/rs/findById/party and suggest/party."""
    import uvicorn

    from b24sync.sandbox.dadata.app import create_app

    app = create_app(token=token, daily_quota=daily_quota, fail_rate=fail_rate, latency=latency,
                     generated=generated)
    typer.echo(f"DaData emulation: base URL http://{host}:{port}/suggestions/api/4_1/rs/ (token from --token)")
    uvicorn.run(app, host=host, port=port, log_level="warning")

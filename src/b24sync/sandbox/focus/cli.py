"""``b24sync sandbox focus`` — run the Kontur.Focus emulator."""

from __future__ import annotations

import typer


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on"),
    port: int = typer.Option(8092, help="Port (0 = any free port)"),
    key: str = typer.Option("sandbox-key", "--key", envvar="B24SYNC_FOCUS_KEY", help="Accepted API key"),
    daily_quota: int = typer.Option(100_000, help="Requests before 403 (the real limit is per contract)"),
    fail_rate: float = typer.Option(0.0, help="Share of requests answered 429/500/503 (0..1)"),
    latency: float = typer.Option(0.0, help="Seconds to wait before answering"),
    generated: int = typer.Option(20, help="Generated companies added to the built-in records"),
) -> None:
    """Kontur.Focus API emulation: GET /api3/req?key=…&inn=…|ogrn=…"""
    import uvicorn

    from b24sync.sandbox.focus.app import create_app

    app = create_app(key=key, daily_quota=daily_quota, fail_rate=fail_rate, latency=latency, generated=generated)
    typer.echo(f"Kontur.Focus emulation: base URL http://{host}:{port}/api3/ (key from --key)")
    uvicorn.run(app, host=host, port=port, log_level="warning")

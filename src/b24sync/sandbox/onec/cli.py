"""``b24sync sandbox onec``."""

from __future__ import annotations

import time

import typer


def serve(
    port: int = typer.Option(8180, help="TCP port (0 = any free port)."),
    base: str = typer.Option("trade", help="Publication (infobase) name in the URL."),
    user: str = typer.Option("odata", help="1C user name (Basic auth, UTF-8)."),
    password: str = typer.Option("secret", help="1C user password."),
    seed_counterparties: int = typer.Option(0, help="Generate this many extra counterparties."),
    fail_rate: float = typer.Option(0.0, help="Fraction of requests answered 500/503."),
    read_fail_rate: float = typer.Option(0.0, help="Fraction of GET requests (reads) answered 500/503."),
    latency: int = typer.Option(0, help="Extra latency per request, ms."),
    cold_start: int = typer.Option(0, help="Extra delay of the first request after start, ms."),
    state_file: str = typer.Option("", help="Optional SQLite file to load/save the state (saved on Ctrl-C and SIGTERM)."),
    empty: bool = typer.Option(False, "--empty", help="Start with an empty base (no demo seed)."),
    profile: str = typer.Option("ut11", help="Configuration emulated: ut11 (УТ 11 / ERP 2), bp30 (Бухгалтерия 3.0), "
                                             "unf30 (УНФ 3.0)."),
) -> None:
    """Serve an emulated 1C base (OData + HTTP services) until Ctrl-C or SIGTERM; with --state-file the base is saved
    on either and loaded at the next start (the same Ref_Keys)."""
    import signal

    from b24sync.sandbox.onec import OneCSandbox

    def _terminate(_sig: int, _frame: object) -> None:  # `docker stop`, systemd, kill: save like Ctrl-C does
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    sb = OneCSandbox(user=user, password=password, base=base, seed=None if empty else "demo",
                     seed_counterparties=seed_counterparties, profile=profile,
                     fail_rate=fail_rate, read_fail_rate=read_fail_rate, latency_ms=latency, cold_start_ms=cold_start, state_file=state_file or None)
    url = sb.start(port=port)
    typer.echo(url)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sb.stop()

"""``b24sync sandbox faultproxy``: put a proxy that loses answers after apply in front of a sandbox."""

from __future__ import annotations

import time
from typing import List

import typer


def serve(
    upstream: str = typer.Option(..., help="The upstream origin, e.g. http://127.0.0.1:8124"),
    port: int = typer.Option(8199, help="TCP port on 127.0.0.1 (0 = any free port)."),
    lose_rate: float = typer.Option(0.05, help="Share of writes whose answer is lost after the upstream applied them."),
    kind: List[str] = typer.Option(list(("close", "reset", "partial", "504")), help="Ways to lose an answer."),
    seed: int = typer.Option(1, help="Random seed (the same seed repeats the same decisions)."),
    even: bool = typer.Option(False, help="Lose exactly that share (evenly spread) instead of at random."),
) -> None:
    """Serve the fault proxy until Ctrl-C; prints its address and, on exit, what it injected."""
    from b24sync.sandbox.faultproxy import FaultProxy

    proxy = FaultProxy(upstream, lose_rate=lose_rate, kinds=tuple(kind), seed=seed, even=even)
    typer.echo(f"fault proxy: {proxy.start(port=port)} -> {upstream} (lose {lose_rate:.0%} of write answers)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        proxy.stop()
        s = proxy.stats
        typer.echo(f"requests {s.requests}, writes {s.writes}, lost answers {s.lost_total} {s.lost}")

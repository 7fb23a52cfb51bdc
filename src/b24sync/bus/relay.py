"""The outbox relay: publish the store's committed changes, in order, at least once.

One relay at a time publishes (a lease in the store, renewed while it works, taken over within ``lease`` seconds
when its process dies), so events leave in outbox order — per record and overall. A row is stamped published only
after the broker confirmed it; a crash between the confirm and the stamp publishes it again with the same event id
(consumers deduplicate on ``source`` + ``id``, CloudEvents §4.6; NATS JetStream also drops it by ``Nats-Msg-Id``
within the stream's duplicate window). The broker is behind ``bus.broker`` (RabbitMQ or NATS JetStream)."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid

import structlog
from sqlalchemy import Engine

from b24sync.bus import broker as brokers
from b24sync.bus.envelope import from_outbox
from b24sync.spec.models import Bus
from b24sync.store import leases, outbox

log = structlog.get_logger("b24sync.bus")
LEASE = "bus-relay"


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


async def publish_pending(db: Engine, bus: Bus, broker: brokers.Broker, *, batch: int = 200,
                          stamp_every: int = 20) -> int:
    """Publish what is pending now; return how many were published."""
    done = 0
    while True:
        rows = await asyncio.to_thread(_pending, db, batch)
        if not rows:
            return done
        confirmed: list[int] = []
        for row in rows:
            await broker.publish(from_outbox(row, bus.source))
            confirmed.append(row.id)
            if len(confirmed) >= stamp_every:
                await asyncio.to_thread(_stamp, db, confirmed)
                done += len(confirmed)
                confirmed = []
        await asyncio.to_thread(_stamp, db, confirmed)
        done += len(confirmed)


def _pending(db: Engine, n: int) -> list:
    with db.connect() as conn:
        return outbox.pending(conn, n)


def _stamp(db: Engine, ids: list[int]) -> None:
    with db.begin() as conn:
        outbox.mark_published(conn, ids)


async def run_relay(db: Engine, bus: Bus, *, stop: asyncio.Event | None = None, lease_seconds: float = 10.0,
                    idle_seconds: float = 0.5) -> None:
    """Until ``stop``: hold the lease and publish; on a broker error wait and reconnect (nothing is lost — the rows
    stay pending)."""
    owner = _owner()
    stop = stop or asyncio.Event()
    backoff = 1.0
    while not stop.is_set():
        if not await asyncio.to_thread(leases.acquire, db, LEASE, owner, seconds=lease_seconds):
            await _sleep(stop, lease_seconds / 3)
            continue
        try:
            broker = await brokers.connect(bus)
            try:
                backoff = 1.0
                while not stop.is_set():
                    if not await asyncio.to_thread(leases.acquire, db, LEASE, owner, seconds=lease_seconds):
                        break  # someone else took over (we were too slow to renew): stop publishing
                    n = await publish_pending(db, bus, broker)
                    if n:
                        log.info("published", events=n)
                    else:
                        await _sleep(stop, idle_seconds)
            finally:
                await broker.close()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - the broker is down or refused a message: retry later
            log.warning("bus relay error; retrying", error=f"{type(e).__name__}: {e}", retry_in=backoff)
            await _sleep(stop, backoff)
            backoff = min(backoff * 2, 60.0)
    await asyncio.to_thread(leases.release, db, owner, LEASE)


async def flush(db: Engine, bus: Bus) -> int:
    """Publish everything pending once (``run --once``)."""
    broker = await brokers.connect(bus)
    try:
        return await publish_pending(db, bus, broker)
    finally:
        await broker.close()


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass


def main() -> None:  # pragma: no cover - exercised by the relay crash test as a subprocess
    """``python -m b24sync.bus.relay STORE_URL BUS_URL EXCHANGE SOURCE [LEASE_SECONDS [STREAM]]``: a relay on its
    own (the kind from the URL's scheme: nats:// → NATS JetStream, else RabbitMQ)."""
    import sys

    from b24sync.store.db import make_engine

    store, url, exchange, source = sys.argv[1:5]
    lease = float(sys.argv[5]) if len(sys.argv) > 5 else 10.0
    kind = "nats" if url.startswith(("nats://", "tls://")) else "rabbitmq"
    extra = {"stream": sys.argv[6]} if len(sys.argv) > 6 else {}
    bus = Bus(kind=kind, url=url, exchange=exchange, source=source, **extra)
    asyncio.run(run_relay(make_engine(store), bus, lease_seconds=lease))


if __name__ == "__main__":  # pragma: no cover
    main()

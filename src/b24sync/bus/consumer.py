"""Change events from the bus as triggers (an Idempotent Consumer): each CloudEvent becomes sync jobs for the
entities whose ``event:`` trigger names its ``type``, in one store transaction with its event id recorded in the
inbox; the message is acknowledged only after that commit. A crash before the commit → the broker redelivers
(RabbitMQ at once, NATS after ``ack_wait``); a crash after the commit but before the ack → redelivered and dropped
as a duplicate. A message that is not a CloudEvent, or names no record, is refused for good (RabbitMQ: rejected
without requeue, dead-lettered when the queue has a DLX; NATS: ``+TERM``) and logged."""

from __future__ import annotations

import asyncio

import structlog

from b24sync.bus import broker as brokers
from b24sync.bus.envelope import CloudEvent, EnvelopeError, parse
from b24sync.engine.runtime import Runtime
from b24sync.spec.models import Bus, BusConsume

log = structlog.get_logger("b24sync.bus")


def record_id(ev: CloudEvent) -> str:
    """``data.id`` if the event carries one, else the last segment of ``subject`` (``counterparty/erp:42`` → 42)."""
    if isinstance(ev.data, dict) and ev.data.get("id") not in (None, ""):
        return str(ev.data["id"])
    if ev.subject:
        tail = ev.subject.replace("/", ":").rsplit(":", 1)[-1].strip()
        if tail:
            return tail
    raise EnvelopeError("the event names no record (no data.id, no subject)")


def apply(rt: Runtime, c: BusConsume, ev: CloudEvent) -> int:
    """Enqueue the event's jobs; 0 when it is a duplicate or no entity listens to its type."""
    from b24sync.server.intake import accept_event

    res = accept_event(rt, side=c.side, event=ev.type, record_id=record_id(ev), source=f"bus:{ev.source}"[:64],
                       delivery_id=ev.id, system=c.system)
    return res.jobs


async def run_consumer(rt: Runtime, bus: Bus, c: BusConsume, *, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    backoff = 1.0
    while not stop.is_set():
        try:
            broker = await brokers.connect(bus)
            try:
                backoff = 1.0
                async for d in broker.deliveries(c):
                    try:
                        ev = parse(d.headers, d.body, d.content_type)
                        n = await asyncio.to_thread(apply, rt, c, ev)
                    except EnvelopeError as e:
                        log.warning("bus message refused", queue=c.queue, reason=str(e), message_id=d.message_id)
                        await d.drop()
                        continue
                    except Exception as e:  # noqa: BLE001 - the store failed: let the broker redeliver
                        log.warning("bus message not applied; redelivering", queue=c.queue,
                                    error=f"{type(e).__name__}: {e}")
                        await d.retry()
                        await asyncio.sleep(1.0)
                        continue
                    await d.ack()
                    log.debug("bus event", queue=c.queue, type=ev.type, id=ev.id, enqueued=n)
                    if stop.is_set():
                        break
            finally:
                await broker.close()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - broker down: reconnect with backoff
            log.warning("bus consumer error; reconnecting", queue=c.queue, error=f"{type(e).__name__}: {e}")
            try:
                await asyncio.wait_for(stop.wait(), timeout=backoff)
            except TimeoutError:
                pass
            backoff = min(backoff * 2, 60.0)


def tasks(rt: Runtime) -> list:
    """The coroutines ``b24sync run`` adds for the spec's bus (relay + one consumer per queue)."""
    bus = rt.spec.bus
    if bus is None:
        return []
    from b24sync.bus.relay import run_relay

    out = [run_relay(rt.db, bus)] if bus.publish else []
    return out + [run_consumer(rt, bus, c) for c in bus.consume]


def main() -> None:  # pragma: no cover - exercised by the consumer crash test as a subprocess
    """``python -m b24sync.bus.consumer SPEC STORE_URL``: the spec's bus consumers on their own (no workers)."""
    import sys

    from b24sync.compose import build
    from b24sync.spec.loader import load_spec

    spec = load_spec(sys.argv[1])
    rt = build(spec, database_url=sys.argv[2])
    assert spec.bus is not None, "the spec has no bus"

    async def go() -> None:
        await asyncio.gather(*[run_consumer(rt, spec.bus, c) for c in spec.bus.consume])  # type: ignore[arg-type]

    asyncio.run(go())


if __name__ == "__main__":  # pragma: no cover
    main()

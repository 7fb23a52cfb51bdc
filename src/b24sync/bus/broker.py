"""The bus interface the relay and the consumers use, and the brokers behind it (fact sheet other-erps-and-bus.md
§4). A broker publishes one CloudEvent and returns only once the broker has made it durable (RabbitMQ: publisher
confirm of a routable message; NATS: the JetStream PubAck), and hands out deliveries that are settled explicitly
after the effect is committed: ``ack`` (done), ``retry`` (redeliver later), ``drop`` (never redeliver; dead-letter
where the broker is configured to). Kafka: none — no broker can run on our build machines (docs/bus.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from b24sync.bus.envelope import CloudEvent
from b24sync.spec.models import Bus, BusConsume


class Delivery(Protocol):
    headers: dict[str, Any]
    body: bytes
    content_type: str | None
    message_id: str | None

    async def ack(self) -> None: ...

    async def retry(self) -> None: ...

    async def drop(self) -> None: ...


class Broker(Protocol):
    async def publish(self, event: CloudEvent) -> None:
        """Returns once the broker durably accepted the event; raises otherwise (nothing is stamped then)."""

    def deliveries(self, c: BusConsume) -> AsyncIterator[Delivery]:
        """The consumer's deliveries, one at a time, each to be settled by the caller."""

    async def close(self) -> None: ...


async def connect(bus: Bus) -> Broker:
    if bus.kind == "nats":
        from b24sync.bus.jetstream import NatsBroker

        return await NatsBroker.connect(bus)
    from b24sync.bus.rabbitmq import RabbitBroker

    return await RabbitBroker.connect(bus)

"""RabbitMQ through aio-pika (fact sheet other-erps-and-bus.md §4.2): publisher confirms with ``mandatory`` and
``on_return_raises`` — an unroutable message is an error, not a silent "confirmed"; persistent messages on a
durable topic exchange; consumers on durable quorum queues with per-consumer prefetch and manual acks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aio_pika
from aio_pika.abc import (AbstractChannel, AbstractExchange, AbstractIncomingMessage, AbstractQueue,
                          AbstractRobustConnection)

from b24sync.bus.envelope import CloudEvent
from b24sync.spec.models import Bus, BusConsume


async def connect(url: str) -> AbstractRobustConnection:
    return await aio_pika.connect_robust(url, client_properties={"connection_name": "b24sync"})


async def publisher(conn: AbstractRobustConnection, exchange: str) -> tuple[AbstractChannel, AbstractExchange]:
    ch = await conn.channel(publisher_confirms=True, on_return_raises=True)
    ex = await ch.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
    return ch, ex


async def publish(ex: AbstractExchange, event: CloudEvent, routing_key: str) -> None:
    """Returns once the broker confirmed the message (raises if it was returned as unroutable or nacked)."""
    msg = aio_pika.Message(body=event.body(), headers=event.headers(), content_type="application/json",
                           message_id=event.id, type=event.type, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
    await ex.publish(msg, routing_key=routing_key, mandatory=True)


async def queue(conn: AbstractRobustConnection, name: str, prefetch: int) -> tuple[AbstractChannel, AbstractQueue]:
    """The queue, as it exists; declared a durable quorum queue if it does not (arguments of an existing queue are
    never redeclared: they are immutable and a mismatch is a channel error)."""
    ch = await conn.channel()
    await ch.set_qos(prefetch_count=prefetch)  # per consumer: quorum queues refuse global QoS
    try:
        q = await ch.declare_queue(name, passive=True)
    except aio_pika.exceptions.ChannelClosed:
        ch = await conn.channel()
        await ch.set_qos(prefetch_count=prefetch)
        q = await ch.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
    return ch, q


def headers_of(message: Any) -> dict[str, Any]:
    return dict(message.headers or {})


class _RabbitDelivery:
    def __init__(self, m: AbstractIncomingMessage) -> None:
        self.m = m
        self.headers = headers_of(m)
        self.body = m.body
        self.content_type = m.content_type
        self.message_id = m.message_id

    async def ack(self) -> None:
        await self.m.ack()

    async def retry(self) -> None:
        await self.m.nack(requeue=True)

    async def drop(self) -> None:
        await self.m.reject(requeue=False)  # dead-lettered when the queue has a DLX


class RabbitBroker:
    def __init__(self, bus: Bus, conn: AbstractRobustConnection) -> None:
        self.bus, self.conn = bus, conn
        self._ex: AbstractExchange | None = None

    @classmethod
    async def connect(cls, bus: Bus) -> RabbitBroker:
        return cls(bus, await connect(bus.url))

    async def publish(self, event: CloudEvent) -> None:
        if self._ex is None:
            _, self._ex = await publisher(self.conn, self.bus.exchange)
        await publish(self._ex, event, routing_key=event.subject or event.type)

    async def deliveries(self, c: BusConsume) -> AsyncIterator[_RabbitDelivery]:
        _, q = await queue(self.conn, c.queue, c.prefetch)
        async with q.iterator() as it:
            async for message in it:
                yield _RabbitDelivery(message)

    async def close(self) -> None:
        await self.conn.close()

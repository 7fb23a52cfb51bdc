"""NATS JetStream through nats-py (fact sheet other-erps-and-bus.md §4.4).

Publishing: every event goes to ``<exchange>.<entity>.<side>.<id>`` with the CloudEvents attributes as ``ce-``
headers (the CloudEvents NATS binding) and ``Nats-Msg-Id`` = the event id, and counts as published only once the
stream's PubAck came back: a relay that re-publishes after a crash within the stream's duplicate window gets
``duplicate=true`` and the stream keeps one copy; after the window the consumers' (source, id) dedupe catches it.
The stream is created if absent (capturing ``<exchange>.>``, file storage, ``duplicate_window``); an existing
stream is used as it is. A subject no stream captures is an error (no responders), never a silent success.

Consuming: a durable pull consumer (explicit acks, ``ack_wait``, ``max_deliver``) created on ``stream`` if absent;
``ack`` after the store commit, ``nak`` to redeliver, ``term`` to stop redelivering a message we cannot use."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import nats
from nats.aio.msg import Msg
from nats.js import api
from nats.js.errors import NotFoundError

from b24sync.bus.envelope import CloudEvent
from b24sync.spec.models import Bus, BusConsume, parse_duration

_TOKEN = re.compile(r"[^A-Za-z0-9_-]")
MSG_ID = "Nats-Msg-Id"


def subject_for(prefix: str, event: CloudEvent) -> str:
    """``company/crm:42`` → ``<prefix>.company.crm.42``: each part a NATS token (no dots, spaces or wildcards)."""
    parts = (event.subject or event.type).replace("/", ":").split(":")
    return ".".join([prefix, *(_TOKEN.sub("_", p) or "_" for p in parts)])


class _NatsDelivery:
    def __init__(self, m: Msg) -> None:
        self.m = m
        self.headers: dict[str, Any] = dict(m.headers or {})
        self.body = m.data
        self.content_type = self.headers.get("content-type") or self.headers.get("Content-Type")
        self.message_id = self.headers.get(MSG_ID)
        if self.message_id and not any(k.lower() == "ce-id" for k in self.headers):
            self.headers["ce-id"] = self.message_id  # a producer that set only Nats-Msg-Id: that is the event id

    async def ack(self) -> None:
        await self.m.ack_sync()  # the server confirms the ack: no redelivery after a lost ack packet

    async def retry(self) -> None:
        await self.m.nak(delay=1.0)

    async def drop(self) -> None:
        await self.m.term()


class NatsBroker:
    def __init__(self, bus: Bus, nc: Any) -> None:
        self.bus, self.nc = bus, nc
        self.js = nc.jetstream(timeout=10.0)
        self._stream_ready = False

    @classmethod
    async def connect(cls, bus: Bus) -> NatsBroker:
        nc = await nats.connect(bus.url, name="b24sync", allow_reconnect=False, connect_timeout=5)
        return cls(bus, nc)

    async def _ensure_stream(self) -> None:
        try:
            await self.js.stream_info(self.bus.stream)
        except NotFoundError:
            await self.js.add_stream(name=self.bus.stream, subjects=[f"{self.bus.exchange}.>"],
                                     storage=api.StorageType.FILE,
                                     duplicate_window=parse_duration(self.bus.duplicate_window))
        self._stream_ready = True

    async def publish(self, event: CloudEvent) -> None:
        if not self._stream_ready:
            await self._ensure_stream()
        headers = {**event.headers(prefix="ce-"), "content-type": "application/json", MSG_ID: event.id}
        ack = await self.js.publish(subject_for(self.bus.exchange, event), event.body(), headers=headers)
        if not ack.stream:
            raise RuntimeError(f"JetStream did not store event {event.id}")

    async def deliveries(self, c: BusConsume) -> AsyncIterator[_NatsDelivery]:
        assert c.stream, "a NATS consumer needs a stream (spec validation says so)"
        subject = c.subject
        try:
            info = await self.js.stream_info(c.stream)
            subjects = list(info.config.subjects or [])
            if subject is None:
                if len(subjects) != 1:
                    raise RuntimeError(f"NATS stream {c.stream!r} captures {len(subjects)} subjects; give "
                                       "`subject:` (the consumer's filter)")
                subject = subjects[0]
        except NotFoundError:
            if not subject:
                raise RuntimeError(f"NATS stream {c.stream!r} does not exist; give `subject:` to have it "
                                   "created") from None
            await self.js.add_stream(name=c.stream, subjects=[subject], storage=api.StorageType.FILE)
        cfg = api.ConsumerConfig(ack_policy=api.AckPolicy.EXPLICIT, ack_wait=parse_duration(c.ack_wait),
                                 max_deliver=c.max_deliver, max_ack_pending=max(c.prefetch, 1),
                                 deliver_policy=api.DeliverPolicy.ALL)
        sub = await self.js.pull_subscribe(subject, durable=c.queue, stream=c.stream, config=cfg)
        while True:
            try:
                msgs = await sub.fetch(c.prefetch, timeout=2.0)
            except nats.errors.TimeoutError:
                continue
            for m in msgs:
                yield _NatsDelivery(m)

    async def close(self) -> None:
        await self.nc.close()

"""The message bus beside the engine: a relay that publishes the store's outbox as CloudEvents 1.0 messages, and
consumers that turn other systems' change events into sync jobs. RabbitMQ (aio-pika). See docs/bus.md."""

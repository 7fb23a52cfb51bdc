"""CloudEvents 1.0 in binary mode (fact sheet other-erps-and-bus.md §4.6): the attributes go into message headers
prefixed ``cloudEvents_`` over AMQP 0-9-1 (the AMQP binding's prefix, the usual convention on RabbitMQ) and ``ce-``
over NATS (the CloudEvents NATS binding); the data is the JSON body. A structured-mode body
(``application/cloudevents+json``) is read too."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

PREFIX = "cloudEvents_"


@dataclass(frozen=True)
class CloudEvent:
    id: str
    source: str
    type: str
    subject: str | None = None
    time: str | None = None
    data: Any = None
    extensions: dict[str, str] = field(default_factory=dict)
    specversion: str = "1.0"

    def headers(self, prefix: str = PREFIX) -> dict[str, str]:
        """Binary-mode attributes: ``cloudEvents_`` for AMQP, ``ce-`` for NATS (the NATS binding, like HTTP's)."""
        h = {"specversion": self.specversion, "id": self.id, "source": self.source, "type": self.type,
             "datacontenttype": "application/json", **self.extensions}
        if self.subject:
            h["subject"] = self.subject
        if self.time:
            h["time"] = self.time
        return {f"{prefix}{k}": v for k, v in h.items()}

    def body(self) -> bytes:
        return json.dumps(self.data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class EnvelopeError(ValueError):
    """Not a CloudEvent b24sync can act on (the reason says what is missing)."""


def from_outbox(row: Any, source: str) -> CloudEvent:
    at = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
    return CloudEvent(id=row.event_id, source=source, type=row.type, subject=row.subject,
                      time=at.astimezone(UTC).isoformat().replace("+00:00", "Z"), data=row.data,
                      extensions={"partitionkey": row.subject, "b24syncsequence": str(row.id)})


def parse(headers: dict[str, Any] | None, body: bytes, content_type: str | None) -> CloudEvent:
    headers = headers or {}
    if (content_type or "").startswith("application/cloudevents+json"):
        try:
            doc = json.loads(body)
        except ValueError:
            raise EnvelopeError("a structured CloudEvent whose body is not JSON") from None
        if not isinstance(doc, dict):
            raise EnvelopeError("a structured CloudEvent must be a JSON object")
        attrs = {k: doc[k] for k in doc if k != "data"}
        data = doc.get("data")
    else:
        attrs = {}
        for k, v in headers.items():
            for p in (PREFIX, "cloudEvents:", "ce_", "ce-"):
                if k.startswith(p):
                    attrs[k[len(p):]] = v.decode() if isinstance(v, bytes) else v
        try:
            data = json.loads(body) if body else None
        except ValueError:
            raise EnvelopeError("the event's data is not JSON") from None
    missing = [k for k in ("specversion", "id", "source", "type") if not attrs.get(k)]
    if missing:
        raise EnvelopeError(f"not a CloudEvent: missing {', '.join(missing)}")
    if str(attrs["specversion"]) != "1.0":
        raise EnvelopeError(f"CloudEvents specversion {attrs['specversion']!r} is not 1.0")
    known = {"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema"}
    return CloudEvent(id=str(attrs["id"]), source=str(attrs["source"]), type=str(attrs["type"]),
                      subject=str(attrs["subject"]) if attrs.get("subject") else None,
                      time=str(attrs["time"]) if attrs.get("time") else None, data=data,
                      extensions={k: str(v) for k, v in attrs.items() if k not in known})


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")

"""Per-record fingerprints: what b24sync last read from and wrote to each side (see models.Fingerprint)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, select, update

from b24sync.store.db import utcnow
from b24sync.store.models import Fingerprint


_MONEY = re.compile(r"^(-?\d+(?:\.\d+)?)\|([A-Z]{3})$")


def canonical(value: Any) -> Any:
    """A comparable form: '' and None are both empty, numbers compare by value, lists/dicts recursively."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, Decimal)):
        d = Decimal(str(value)).normalize()
        return format(d, "f")
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    s = str(value)
    m = _MONEY.match(s)
    if m:  # a Bitrix24 money value: "1500.00|RUB" and "1500|RUB" are the same amount in the same currency
        return f"{format(Decimal(m.group(1)).normalize(), 'f')}|{m.group(2)}"
    try:  # "150.00" and "150" are the same amount
        if s.strip() and s.strip().lstrip("-").replace(".", "", 1).isdigit():
            return format(Decimal(s.strip()).normalize(), "f")
    except Exception:  # noqa: BLE001 - not a number after all
        pass
    return s


def fingerprint(values: dict[str, Any]) -> str:
    payload = json.dumps(canonical(values), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class Seen:
    read_hash: str | None
    written_hash: str | None
    written_values: dict[str, Any] | None
    version: str | None


def get(conn: Connection, entity: str, side: str, record_id: str) -> Seen | None:
    row = conn.execute(
        select(Fingerprint).where(Fingerprint.entity == entity, Fingerprint.side == side,
                                  Fingerprint.record_id == record_id)
    ).first()
    return Seen(row.read_hash, row.written_hash, row.written_values, row.version) if row else None


def get_many(conn: Connection, entity: str, side: str, record_ids: list[str]) -> dict[str, Seen]:
    out: dict[str, Seen] = {}
    for i in range(0, len(record_ids), 500):
        rows = conn.execute(
            select(Fingerprint).where(Fingerprint.entity == entity, Fingerprint.side == side,
                                      Fingerprint.record_id.in_(record_ids[i : i + 500]))
        )
        for r in rows:
            out[r.record_id] = Seen(r.read_hash, r.written_hash, r.written_values, r.version)
    return out


def _upsert(conn: Connection, entity: str, side: str, record_id: str, values: dict[str, Any]) -> None:
    n = conn.execute(
        update(Fingerprint).where(Fingerprint.entity == entity, Fingerprint.side == side,
                                  Fingerprint.record_id == record_id).values(**values)
    ).rowcount
    if n == 0:
        conn.execute(insert(Fingerprint).values(entity=entity, side=side, record_id=record_id, **values))


def mark_read(conn: Connection, entity: str, side: str, record_id: str, read_hash: str, version: str | None) -> None:
    _upsert(conn, entity, side, record_id, {"read_hash": read_hash, "version": version, "read_at": utcnow()})


def mark_written(conn: Connection, entity: str, side: str, record_id: str, *, written_hash: str,
                 written_values: dict[str, Any], version: str | None = None) -> None:
    values: dict[str, Any] = {"written_hash": written_hash, "written_values": written_values, "written_at": utcnow()}
    if version is not None:
        values["version"] = version
    _upsert(conn, entity, side, record_id, values)

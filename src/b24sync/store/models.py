"""Tables of the state store.

Everything b24sync remembers lives here, in one database, so that a state change and the jobs it causes
commit in one transaction (transactional outbox). SQLite (WAL) by default, PostgreSQL in production.
The schema is owned by Alembic migrations in ``store/migrations``; these models are their source.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}


class Link(Base):
    """Identity map: one row links a CRM record, an ERP record and their match key for one entity."""

    __tablename__ = "links"
    __table_args__ = (
        UniqueConstraint("entity", "crm_id", name="uq_links_entity_crm"),
        UniqueConstraint("entity", "erp_id", name="uq_links_entity_erp"),
        UniqueConstraint("entity", "match_key", name="uq_links_entity_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entity: Mapped[str] = mapped_column(String(64))
    crm_id: Mapped[str | None] = mapped_column(String(128))
    erp_id: Mapped[str | None] = mapped_column(String(128))
    match_key: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Fingerprint(Base):
    """What b24sync last read from, and last wrote to, one record on one side (hashes of mapped fields).

    ``read_hash`` lets a job skip a record whose mapped fields did not change; ``written_hash`` recognises the
    echo of our own write when the target reports it back as a change, so nothing ping-pongs.
    """

    __tablename__ = "fingerprints"

    entity: Mapped[str] = mapped_column(String(64), primary_key=True)
    side: Mapped[str] = mapped_column(String(16), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    read_hash: Mapped[str | None] = mapped_column(String(64))
    written_hash: Mapped[str | None] = mapped_column(String(64))
    written_values: Mapped[dict[str, Any] | None]
    version: Mapped[str | None] = mapped_column(String(128))
    read_at: Mapped[datetime | None]
    written_at: Mapped[datetime | None]


class Cursor(Base):
    """Poll cursors and other small resumable positions (e.g. an exchange-plan message number)."""

    __tablename__ = "cursors"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


class Job(Base):
    """The durable job queue. One lane (entity + record) runs strictly one job at a time, in id order."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_ready", "state", "run_at"),
        Index("ix_jobs_lane", "lane", "id"),
        Index("ix_jobs_dedup", "dedup_key", "state"),
        Index("ix_jobs_entity", "entity", "state"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    lane: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    dedup_key: Mapped[str | None] = mapped_column(String(400))
    state: Mapped[str] = mapped_column(String(16))  # pending | running
    priority: Mapped[int] = mapped_column(Integer, default=100)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_at: Mapped[datetime]
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class HistoryEntry(Base):
    """Append-only message history: what was sent where, the outcome and how long it took."""

    __tablename__ = "history"
    __table_args__ = (Index("ix_history_lane", "lane", "id"), Index("ix_history_entity_at", "entity", "at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    job_id: Mapped[int | None] = mapped_column(BigInteger)
    entity: Mapped[str] = mapped_column(String(64))
    lane: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))  # created | updated | linked | skipped | echo | retry | dead | held | ...
    target: Mapped[str | None] = mapped_column(String(64))
    target_id: Mapped[str | None] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(16))  # ok | retry | failed | held | skipped
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[dict[str, Any] | None]


class DeadLetter(Base):
    """A record that could not be synced, parked with its reason until replayed (never silently dropped).

    ``kind`` is ``dead`` (an error) or ``held`` (a guard held it: the manager has something to fill in).
    """

    __tablename__ = "dead_letters"
    __table_args__ = (Index("ix_dead_open", "entity", "resolved_at"), Index("ix_dead_lane", "lane"),
                      Index("ix_dead_record", "record_key", "reason_key", "resolved_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    entity: Mapped[str] = mapped_column(String(64))
    lane: Mapped[str] = mapped_column(String(300))
    job_kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    reason: Mapped[str] = mapped_column(Text)
    error_type: Mapped[str] = mapped_column(String(128))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    resolution: Mapped[str | None] = mapped_column(String(32))  # replayed | superseded | discarded
    # One open entry per record and reason: a record parked again for the same reason updates its entry.
    record_key: Mapped[str | None] = mapped_column(String(400))  # entity:side:source id (else the lane)
    reason_key: Mapped[str | None] = mapped_column(String(200))  # error type + digest of the reason
    count: Mapped[int] = mapped_column(Integer, default=1)  # how many times it was parked for this reason
    last_seen_at: Mapped[datetime | None]


class WriteIntent(Base):
    """A remote write declared before it is made and resolved after it: the in-doubt window is visible."""

    __tablename__ = "write_intents"
    __table_args__ = (Index("ix_intents_open", "entity", "side", "natural_key", "resolved_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entity: Mapped[str] = mapped_column(String(64))
    side: Mapped[str] = mapped_column(String(16))
    op: Mapped[str] = mapped_column(String(16))
    natural_key: Mapped[str] = mapped_column(String(400))
    job_id: Mapped[int | None] = mapped_column(BigInteger)
    remote_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]


class Conflict(Base):
    """Both sides changed the same field since the last sync; the spec's winner was applied, this row says so."""

    __tablename__ = "conflicts"
    __table_args__ = (Index("ix_conflicts_open", "entity", "resolved_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entity: Mapped[str] = mapped_column(String(64))
    crm_id: Mapped[str | None] = mapped_column(String(128))
    erp_id: Mapped[str | None] = mapped_column(String(128))
    field: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]


class KeyValue(Base):
    """Small shared state every worker of an installation sees: OAuth tokens, rate-limit and operating budgets."""

    __tablename__ = "kv"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    value: Mapped[dict[str, Any]]
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]


class InboxEntry(Base):
    """Idempotent consumer: a delivery id seen once (webhooks, pushed ERP events) is never processed twice."""

    __tablename__ = "inbox"
    __table_args__ = (UniqueConstraint("source", "delivery_id", name="uq_inbox_delivery"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64))
    delivery_id: Mapped[str] = mapped_column(String(300))
    received_at: Mapped[datetime]


class WorkerRow(Base):
    """A running worker process and its heartbeat: a restarted worker frees the leases of a dead predecessor at
    once instead of waiting for them to expire."""

    __tablename__ = "workers"

    owner: Mapped[str] = mapped_column(String(128), primary_key=True)  # host:pid:nonce, the jobs' lease_owner
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]


class Lease(Base):
    """A named exclusive lease (one poller per entity and side at a time): taken when free or expired, renewed by
    its holder, taken over when the holder stops renewing."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    until: Mapped[datetime]


class Observed(Base):
    """The last value seen of a field that triggers depend on (a deal's stage), per record: a stage change is an
    old → new pair, and an id-only event or a poll says only "something changed"."""

    __tablename__ = "observed"

    entity: Mapped[str] = mapped_column(String(64), primary_key=True)
    side: Mapped[str] = mapped_column(String(16), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    field: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str | None] = mapped_column(String(400))
    at: Mapped[datetime]


class EntityState(Base):
    """An entity paused by the engine (a mapped field disappeared from a system) until a person resumes it."""

    __tablename__ = "entity_state"

    entity: Mapped[str] = mapped_column(String(64), primary_key=True)
    paused: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any] | None]
    since: Mapped[datetime | None]


class OutboxEvent(Base):
    """Transactional outbox: a committed change, written in the same transaction as its job's end; the bus relay
    publishes rows in id order and stamps ``published_at`` after the broker confirmed (at-least-once)."""

    __tablename__ = "outbox"
    __table_args__ = (UniqueConstraint("event_id", name="uq_outbox_event"),
                      Index("ix_outbox_unpublished", "published_at", "id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(300))
    entity: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    published_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class AggSource(Base):
    """One source document of a sum over related documents (a payment, a shipment) in a ledger
    (engine/aggregate.py): whether it counts now (posted, not marked for deletion, not a duplicate), its dedupe
    key (the payer's incoming number + date + payer) and the document it corrects, if any."""

    __tablename__ = "agg_sources"
    __table_args__ = (
        # one counted document per dedupe key: a second one with the same key is a duplicate (or, with another
        # amount, a conflict for a person) — the index is the backstop when two arrive at the same moment
        Index("uq_agg_sources_counted_key", "ledger", "dedup_key", unique=True,
              sqlite_where=text("counted = 1 AND dedup_key IS NOT NULL"),
              postgresql_where=text("counted = 1 AND dedup_key IS NOT NULL")),
    )

    ledger: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(200), primary_key=True)
    dedup_key: Mapped[str | None] = mapped_column(String(512))
    amount: Mapped[str] = mapped_column(String(40))
    counted: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(24))
    replaces: Mapped[str | None] = mapped_column(String(200))
    number: Mapped[str | None] = mapped_column(String(80))
    doc_date: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime]


class AggPart(Base):
    """What one source document contributes to one target record (a payment row for one deal)."""

    __tablename__ = "agg_parts"
    __table_args__ = (Index("ix_agg_parts_target", "ledger", "target"), Index("ix_agg_parts_source", "ledger", "source"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ledger: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(200))
    target: Mapped[str] = mapped_column(String(200))
    amount: Mapped[str] = mapped_column(String(40))


class Effect(Base):
    """The effects ledger: a remote side effect that must happen once (a timeline entry per payment, a stage move
    at the threshold). ``pending`` is committed before the remote call, ``done`` with the remote id after it; a
    pending effect found later (a crash in between) is looked up on the remote before it is tried again."""

    __tablename__ = "effects"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    remote_id: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]


class HoldWait(Base):
    """A held record waiting for a related record's link (a payment naming an order no deal is linked to yet, a
    deal whose company is not in the ERP yet): ``wait_key`` is ``scope:side:id`` of the related record. When a link
    with that record commits (``store/identity.bind``), the held record is put back on the queue in the same
    transaction."""

    __tablename__ = "hold_waits"
    __table_args__ = (Index("ix_hold_waits_key", "wait_key"), Index("ix_hold_waits_letter", "dead_letter_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dead_letter_id: Mapped[int] = mapped_column(BigId)
    wait_key: Mapped[str] = mapped_column(String(400))

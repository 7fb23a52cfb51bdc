"""Ports: the interface the engine and the flows use to reach a system. Connectors implement it.

The engine imports nothing from ``connectors/``; a connector adapts its protocol (REST, OData, CommerceML,
a SQL table, ...) to these few verbs, in the vocabulary of the OCA connector framework's *backend adapter*.
Values are plain dicts keyed by the system's own field names; the spec's mappings translate between sides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Record:
    """One record as a system returned it."""

    id: str
    values: dict[str, Any]
    modified: datetime | None = None  # the system's change timestamp (DATE_MODIFY, ...) if it has one
    version: str | None = None  # an opaque version (1C DataVersion, an ETag) if it has one
    deleted: bool = False


@dataclass(frozen=True)
class ChangeCursor:
    """Where an incremental read stands: the last change time seen and the id of the last row at that time."""

    modified: datetime | None = None
    last_id: str | None = None
    token: str | None = None  # an opaque position for sources that have one (exchange-plan message number)

    def to_json(self) -> dict[str, Any]:
        return {
            "modified": self.modified.isoformat() if self.modified else None,
            "last_id": self.last_id,
            "token": self.token,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ChangeCursor:
        if not data:
            return cls()
        m = data.get("modified")
        return cls(datetime.fromisoformat(m) if m else None, data.get("last_id"), data.get("token"))


@dataclass
class ChangePage:
    """A slice of changed records, ascending by (modified, id), and the cursor to store once it is committed."""

    records: list[Record]
    cursor: ChangeCursor
    more: bool = False
    ack: Any = None  # what to hand back to ``acknowledge`` after commit (exchange-plan packages)


@dataclass(frozen=True)
class ObjectRef:
    """Which object of a system an entity maps to, as the spec names it (``crm.company``, ``Catalog_Контрагенты``)."""

    object: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ObjectSchema:
    """What a live system says an object has (``describe``): its field names with the system's type words.

    ``exists=False``: the object itself is unknown there (``alternatives`` lists what the system has). ``open``: the
    object accepts names beyond ``fields`` (a virtual table, a flow's computed object) — unknown names are not
    reported. Adapters that cannot tell return ``None`` from ``describe`` and are not checked."""

    fields: dict[str, str] = field(default_factory=dict)
    exists: bool = True
    alternatives: list[str] = field(default_factory=list)
    open: bool = False
    detail: dict[str, Any] = field(default_factory=dict)  # extras a check may use (user-field types, stages, ...)


@dataclass(frozen=True)
class FileRef:
    """A file a system holds for a record (a 1C attached file, a print form, a signed EDI document), as its
    ``list_files`` reports it. ``version`` changes whenever the file's content does (a modification time, a hash, a
    document state); ``detail`` carries what the connector needs to read it back (storage kind, ids).

    ``list_files`` answers the best file first. ``rank`` is the connector's preference key for that order (1C
    attached files: the modification time, then the signed flag): files that share the first file's ``rank`` tie —
    the connector cannot tell which one is meant, and the engine decides (engine/files.py: the one valid content,
    else held for a person). ``None``: the connector's first file is the one (a print form, a signed EDI document)."""

    id: str
    name: str
    version: str
    size: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    rank: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class FileContent:
    """File bytes handed to a target's ``update`` as a field value (the Bitrix24 adapter encodes it as
    ``[name, base64]`` or ``{"fileData": …}``) or to ``add_note``; the engine never encodes a wire format."""

    name: str
    content: bytes

    @property
    def sha256(self) -> str:
        import hashlib

        return hashlib.sha256(self.content).hexdigest()


@runtime_checkable
class FileSource(Protocol):
    """A system that can hand over files of its records (optional; spec ``files:`` needs it on the file's side).
    ``source`` is the spec's ``files[].source`` mapping, interpreted by the connector (docs/flow-contracts.md "File transfer")."""

    async def list_files(self, obj: ObjectRef, record_id: str, source: dict[str, Any]) -> list[FileRef]: ...

    async def read_file(self, obj: ObjectRef, record_id: str, ref: FileRef, source: dict[str, Any]) -> bytes: ...


@runtime_checkable
class FileTarget(Protocol):
    """A system that can receive files (optional): into a record's file field through ``update`` with a
    ``FileContent`` value, or as a timeline note with files. The read-backs let a retry after a lost answer see
    what the lost call did instead of repeating it."""

    def file_id(self, value: Any) -> str | None:
        """The id of the file a file field holds (its read-back value), or None when empty."""
        ...

    async def download(self, value: Any) -> bytes | None:
        """The bytes of the file a file field holds (None if it cannot be downloaded)."""
        ...

    async def add_note(self, obj: ObjectRef, record_id: str, text: str,
                       files: list[FileContent] | None = None) -> str: ...

    async def find_note(self, obj: ObjectRef, record_id: str, text: str) -> str | None:
        """The id of the record's note with exactly this text, if there is one."""
        ...


@runtime_checkable
class Notifier(Protocol):
    """A system that can tell a person something (optional; the credit rule tells a deal's manager). ``tag``: a new
    notice with the same tag replaces the older one (Bitrix24 ``TAG``), so a notice repeated after a lost answer is
    seen once."""

    async def notify(self, user_id: str, text: str, *, tag: str | None = None, personal: bool = False) -> str | None:
        """``personal``: as a personal rather than a system notice, where the system tells them apart."""
        ...


@runtime_checkable
class SystemAdapter(Protocol):
    """What every connector offers the engine. All methods are async; connectors batch and rate-limit inside."""

    name: str

    async def read_changes(
        self, obj: ObjectRef, cursor: ChangeCursor, *, overlap_seconds: float, limit: int
    ) -> ChangePage:
        """Records changed since ``cursor`` minus ``overlap_seconds``, oldest first, at most ``limit``."""
        ...

    async def acknowledge(self, obj: ObjectRef, page: ChangePage) -> None:
        """Called after a page's effects are committed in the store (no-op for cursor-based sources)."""
        ...

    async def get(self, obj: ObjectRef, record_id: str) -> Record | None: ...

    async def find(self, obj: ObjectRef, criteria: dict[str, Any]) -> list[Record]:
        """Records whose fields equal all of ``criteria`` (a natural-key lookup)."""
        ...

    async def create(self, obj: ObjectRef, values: dict[str, Any]) -> str:
        """Create a record and return its id."""
        ...

    async def update(
        self, obj: ObjectRef, record_id: str, values: dict[str, Any], *, expected_version: str | None = None
    ) -> str | None:
        """Update fields; raise ``ConflictError`` if ``expected_version`` is given and no longer current.

        Returns the record's new version when the system reports one (1C DataVersion), else None."""
        ...

    async def exists(self, obj: ObjectRef, criteria: dict[str, Any]) -> bool:
        """Whether any record matches (guards such as "a contract exists for this company")."""
        ...

    async def aclose(self) -> None: ...


class AdapterFactory(Protocol):
    def __call__(self, name: str, config: dict[str, Any]) -> SystemAdapter: ...

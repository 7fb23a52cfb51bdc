"""The provider-neutral counterparty record and the lookup protocol."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Protocol, runtime_checkable


class PartyKind(str, enum.Enum):
    LEGAL = "legal"  # юридическое лицо (INN 10 digits, OGRN)
    INDIVIDUAL = "individual"  # индивидуальный предприниматель (INN 12 digits, OGRNIP, no KPP)


class BranchType(str, enum.Enum):
    MAIN = "main"
    BRANCH = "branch"


class PartyStatus(str, enum.Enum):
    """Registry status. DaData lists ACTIVE, LIQUIDATING, LIQUIDATED, BANKRUPT, REORGANIZING (some clients add
    SUSPENDED; the official C# SDK has only four) — erp-side.md §7.2 ⚠. Anything else maps to UNKNOWN and the
    provider's raw value is kept in ``Party.status_raw``."""

    ACTIVE = "active"
    LIQUIDATING = "liquidating"
    LIQUIDATED = "liquidated"
    BANKRUPT = "bankrupt"
    REORGANIZING = "reorganizing"
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, raw: object) -> PartyStatus:
        """Lenient: case-insensitive, unknown or empty values → UNKNOWN (never an exception)."""
        if not isinstance(raw, str):
            return cls.UNKNOWN
        try:
            return cls(raw.strip().lower())
        except ValueError:
            return cls.UNKNOWN


@dataclass(frozen=True)
class Director:
    name: str
    post: str | None = None


@dataclass(frozen=True)
class PersonName:
    """Name of a sole trader (ИП)."""

    last: str
    first: str
    middle: str | None = None

    @property
    def full(self) -> str:
        return " ".join(p for p in (self.last, self.first, self.middle) if p)


@dataclass(frozen=True)
class Address:
    value: str
    postal_code: str | None = None
    region: str | None = None
    city: str | None = None


@dataclass(frozen=True)
class Party:
    inn: str
    kind: PartyKind
    full_name: str  # with the legal form spelled out: «ПУБЛИЧНОЕ АКЦИОНЕРНОЕ ОБЩЕСТВО "СБЕРБАНК РОССИИ"»
    short_name: str  # with the short legal form: «ПАО СБЕРБАНК»
    kpp: str | None = None  # None for sole traders (they have no KPP; erp-side.md §9.1)
    ogrn: str | None = None  # OGRN (13) for companies, OGRNIP (15) for sole traders
    branch_type: BranchType = BranchType.MAIN
    legal_address: Address | None = None
    director: Director | None = None
    person: PersonName | None = None  # sole traders only
    status: PartyStatus = PartyStatus.UNKNOWN
    status_raw: str | None = None  # the provider's own value, kept for UNKNOWN and for audit
    registration_date: date | None = None
    liquidation_date: date | None = None
    opf_short: str | None = None  # ООО, ПАО, ИП, ...
    provider: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def is_branch(self) -> bool:
        return self.branch_type is BranchType.BRANCH

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("kind", "branch_type", "status"):
            d[k] = getattr(self, k).value
        for k in ("registration_date", "liquidation_date"):
            d[k] = getattr(self, k).isoformat() if getattr(self, k) else None
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Party:
        d = dict(d)
        d["kind"] = PartyKind(d["kind"])
        d["branch_type"] = BranchType(d["branch_type"])
        d["status"] = PartyStatus.parse(d.get("status"))
        for k in ("registration_date", "liquidation_date"):
            d[k] = date.fromisoformat(d[k]) if d.get(k) else None
        d["legal_address"] = Address(**d["legal_address"]) if d.get("legal_address") else None
        d["director"] = Director(**d["director"]) if d.get("director") else None
        d["person"] = PersonName(**d["person"]) if d.get("person") else None
        return cls(**d)


@runtime_checkable
class PartyLookup(Protocol):
    """A counterparty registry. Providers raise the engine's errors: ``ValidationError`` for a malformed INN /
    OGRN (before spending quota), ``AuthError`` (401/403 bad key), ``DeferError`` (daily quota exhausted),
    ``RetryableError`` (429, 5xx, network). Not found → an empty list."""

    name: str

    async def find_by_inn(self, inn: str, kpp: str | None = None, branches: bool = True) -> list[Party]:
        """Main office first, then branches (when ``branches``); with ``kpp`` only the unit with that KPP."""
        ...

    async def find_by_ogrn(self, ogrn: str) -> list[Party]:
        """The party registered under this OGRN / OGRNIP (main office)."""
        ...

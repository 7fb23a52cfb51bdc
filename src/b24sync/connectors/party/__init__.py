"""Party (counterparty) lookup by INN / OGRN: one interface, several providers (DaData, Kontur.Focus).

* :class:`Party` — what every provider returns, normalized (names with legal form, INN/KPP/OGRN, kind,
  main office or branch, legal address, director, status).
* :class:`PartyLookup` — the protocol providers implement (async).
* :class:`CachedPartyLookup` — a TTL cache in front of any provider: an in-process LRU plus the installation's
  :class:`~b24sync.store.kv.SharedState`, so all workers share results and spend the provider's quota once.
* :func:`requisite_fields` / :func:`legal_address_fields` — Bitrix24 requisite auto-fill from a Party.
* :func:`check_can_push` — a guard raising ``HoldError`` for liquidated / liquidating counterparties.

Provider facts: /work/shared/research/erp-side.md §6 (Focus) and §7 (DaData). Docs: docs/party-lookup.md.
"""

from b24sync.connectors.party.autofill import check_can_push, legal_address_fields, requisite_fields
from b24sync.connectors.party.cache import CachedPartyLookup
from b24sync.connectors.party.model import (
    Address,
    BranchType,
    Director,
    Party,
    PartyKind,
    PartyLookup,
    PartyStatus,
    PersonName,
)

__all__ = [
    "Address",
    "BranchType",
    "CachedPartyLookup",
    "Director",
    "Party",
    "PartyKind",
    "PartyLookup",
    "PartyStatus",
    "PersonName",
    "check_can_push",
    "legal_address_fields",
    "requisite_fields",
]

"""DaData party lookup (``findById/party``) through the maintained official ``dadata`` package.

Facts (erp-side.md §7): base ``https://suggestions.dadata.ru/suggestions/api/4_1/rs/``, JSON POST,
``Authorization: Token <key>``; ``findById/party`` takes ``query`` (INN or OGRN), ``kpp``, ``branch_type``
(MAIN/BRANCH), ``count``; response ``{"suggestions": [{"value", "unrestricted_value", "data": {...}}]}`` with
epoch-millisecond dates. Free plan 10 000 suggestion requests/day, the day in Moscow time; over the limit →
403 ``{"family":"CLIENT_ERROR","reason":"Forbidden","message":"Feature 'SUGGESTIONS' disabled for token …"}``;
≤ 60 new TCP connections per minute per IP → one keep-alive client per process (§7.3).
"""

from b24sync.connectors.dadata.lookup import (
    DadataLookup,
    aclose_clients,
    from_config,
    next_quota_reset,
    party_from_suggestion,
)

__all__ = ["DadataLookup", "aclose_clients", "from_config", "next_quota_reset", "party_from_suggestion"]

"""Kontur.Focus implementation of PartyLookup (facts cited in the package docstring, erp-side.md §6)."""

from __future__ import annotations

import asyncio
import os
import weakref
from datetime import date
from typing import Any

import httpx

from b24sync.connectors.metered import metered_client
from b24sync.connectors.party import (
    Address,
    BranchType,
    CachedPartyLookup,
    Director,
    Party,
    PartyKind,
    PartyStatus,
    PersonName,
)
from b24sync.engine.errors import AuthError, PermanentError, RetryableError
from b24sync.requisites import check_inn, check_kpp, check_ogrn, check_ogrnip
from b24sync.store.kv import SharedState

DEFAULT_BASE_URL = "https://focus-api.kontur.ru/api3/"

# One pooled client per process and event loop (keep-alive reuse).
_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, float], httpx.AsyncClient]] = (
    weakref.WeakKeyDictionary()
)


def _client(base_url: str, timeout: float) -> httpx.AsyncClient:
    per_loop = _CLIENTS.setdefault(asyncio.get_running_loop(), {})
    c = per_loop.get((base_url, timeout))
    if c is None or c.is_closed:
        c = metered_client(FocusLookup.name, base_url=base_url, timeout=timeout, headers={"Accept": "application/json"})
        per_loop[(base_url, timeout)] = c
    return c


async def aclose_clients() -> None:
    """Close this event loop's pooled Focus clients (call at worker shutdown)."""
    for client in _CLIENTS.pop(asyncio.get_running_loop(), {}).values():
        await client.aclose()


def _date(v: Any) -> date | None:
    try:
        return date.fromisoformat(str(v)[:10]) if v else None
    except ValueError:
        return None


def _topo(part: Any) -> str | None:
    if not isinstance(part, dict) or not part.get("topoValue"):
        return None
    short = part.get("topoShortName")
    return f"{short} {part['topoValue']}" if short else part["topoValue"]


def _address(parsed: dict[str, Any] | None) -> Address | None:
    """``parsedAddressRF`` (KLADR-style toponyms, §6) → one readable line."""
    if not parsed:
        return None
    region = _topo(parsed.get("regionName"))
    city = _topo(parsed.get("city"))
    parts = [parsed.get("zipCode"), region, _topo(parsed.get("district")), city,
             _topo(parsed.get("settlement")), _topo(parsed.get("street")), _topo(parsed.get("house")),
             _topo(parsed.get("bulk")), _topo(parsed.get("flat"))]
    value = ", ".join(p for p in parts if p)
    return Address(value=value, postal_code=parsed.get("zipCode"), region=region, city=city) if value else None


def _status(st: dict[str, Any] | None) -> tuple[PartyStatus, str | None]:
    """Flags first (dissolved > dissolving > bankrupting > reorganizing), then the text «Действующее» (§6)."""
    st = st or {}
    raw = st.get("statusString")
    if st.get("dissolved"):
        return PartyStatus.LIQUIDATED, raw or "dissolved"
    if st.get("dissolving"):
        return PartyStatus.LIQUIDATING, raw or "dissolving"
    if st.get("bankrupting"):
        return PartyStatus.BANKRUPT, raw or "bankrupting"
    if st.get("reorganizing"):
        return PartyStatus.REORGANIZING, raw or "reorganizing"
    if raw and raw.strip().lower().startswith("действующ"):
        return PartyStatus.ACTIVE, raw
    return PartyStatus.UNKNOWN, raw


_OPF_SHORT = {"ИНДИВИДУАЛЬНЫЙ ПРЕДПРИНИМАТЕЛЬ": "ИП"}


def parties_from_req(item: dict[str, Any], *, branches: bool = True) -> list[Party]:
    """One ``req`` array element → the main party (+ its branches from ``UL.branches[]``)."""
    inn, ogrn = str(item.get("inn") or ""), item.get("ogrn") or None
    if isinstance(item.get("IP"), dict):
        ip = item["IP"]
        sf = ip.get("structuredFio") or {}
        person = PersonName(sf["lastName"], sf.get("firstName") or "", sf.get("middleName")) \
            if sf.get("lastName") else None
        fio = ip.get("fio") or (person.full if person else "")
        status, raw = _status(ip.get("status"))
        return [Party(
            inn=inn, kind=PartyKind.INDIVIDUAL, full_name=f"Индивидуальный предприниматель {fio}".strip(),
            short_name=f"ИП {fio}".strip(), ogrn=ogrn, person=person, status=status, status_raw=raw,
            registration_date=_date(ip.get("registrationDate")), liquidation_date=_date(ip.get("dissolutionDate")),
            opf_short="ИП", provider="kontur_focus")]
    ul = item.get("UL") or {}
    names = ul.get("legalName") or {}
    heads = [h for h in (ul.get("heads") or []) if h.get("fio")]
    director = Director(heads[0]["fio"], heads[0].get("position")) if heads else None
    status, raw = _status(ul.get("status"))
    short = names.get("short") or names.get("full") or ""
    main = Party(
        inn=inn, kind=PartyKind.LEGAL, full_name=names.get("full") or short, short_name=short,
        kpp=ul.get("kpp") or None, ogrn=ogrn, branch_type=BranchType.MAIN,
        legal_address=_address((ul.get("legalAddress") or {}).get("parsedAddressRF")), director=director,
        status=status, status_raw=raw, registration_date=_date(ul.get("registrationDate")),
        liquidation_date=_date(ul.get("dissolutionDate")) if status is PartyStatus.LIQUIDATED else None,
        opf_short=(short.split(" ", 1)[0] if short and short.split(" ", 1)[0].isupper() else None),
        provider="kontur_focus", extra={"focusHref": item["focusHref"]} if item.get("focusHref") else {})
    out = [main]
    if branches:
        for b in ul.get("branches") or []:
            out.append(Party(
                inn=inn, kind=PartyKind.LEGAL, full_name=b.get("name") or main.full_name,
                short_name=b.get("name") or main.short_name, kpp=b.get("kpp") or None, ogrn=ogrn,
                branch_type=BranchType.BRANCH, legal_address=_address(b.get("parsedAddressRF")),
                director=director, status=status, status_raw=raw, registration_date=_date(b.get("date")),
                opf_short=main.opf_short, provider="kontur_focus"))
    return out


class FocusLookup:
    """``PartyLookup`` over Kontur.Focus ``req``. Focus does not filter by KPP server-side: with ``kpp`` the main
    office or branch carrying that KPP is returned (branches in ``req`` may lack a KPP — then they cannot match)."""

    name = "kontur_focus"

    def __init__(self, key: str, *, base_url: str = DEFAULT_BASE_URL, timeout: float = 10.0) -> None:
        if not key:
            raise AuthError("Kontur.Focus API key is not set (B24SYNC_FOCUS_KEY)")
        self._key = key
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.timeout = timeout

    async def _req(self, **subject: str) -> list[dict[str, Any]]:
        client = _client(self.base_url, self.timeout)
        try:
            r = await client.get("req", params={"key": self._key, **subject})
        except httpx.TransportError as e:
            raise RetryableError(f"Kontur.Focus is unreachable: {type(e).__name__}") from None
        if r.status_code in (401, 403):
            raise AuthError(f"Kontur.Focus rejected the API key ({r.status_code}) — check B24SYNC_FOCUS_KEY or "
                            "the key's subscription", detail={"provider": "kontur_focus", "status": r.status_code})
        if r.status_code == 429 or r.status_code >= 500:
            ra = r.headers.get("Retry-After")
            raise RetryableError(f"Kontur.Focus answered {r.status_code}; will retry",
                                 retry_after=float(ra) if ra and ra.isdigit() else None,
                                 detail={"provider": "kontur_focus", "status": r.status_code})
        if r.status_code == 404:
            return []
        if r.status_code >= 400:
            raise PermanentError(f"Kontur.Focus refused the request ({r.status_code})",
                                 detail={"provider": "kontur_focus", "status": r.status_code})
        try:
            data = r.json()
        except ValueError:
            raise RetryableError("Kontur.Focus answered a non-JSON body") from None
        if not isinstance(data, list):
            raise PermanentError("Kontur.Focus answered an unexpected shape (expected a JSON array)")
        return [x for x in data if isinstance(x, dict)]

    async def find_by_inn(self, inn: str, kpp: str | None = None, branches: bool = True) -> list[Party]:
        inn = check_inn(inn).require()
        kpp = check_kpp(kpp).require() if kpp else None
        out: list[Party] = []
        for item in await self._req(inn=inn):
            out.extend(parties_from_req(item, branches=branches or bool(kpp)))
        if kpp:
            out = [p for p in out if p.kpp == kpp]
        return out

    async def find_by_ogrn(self, ogrn: str) -> list[Party]:
        raw = str(ogrn).strip()
        value = (check_ogrnip(raw) if len(raw) == 15 else check_ogrn(raw)).require()
        out: list[Party] = []
        for item in await self._req(ogrn=value):
            out.extend(parties_from_req(item, branches=False))
        return out


def from_config(config: dict[str, Any] | None = None, state: SharedState | None = None) -> CachedPartyLookup:
    """Config keys: ``key`` (default env ``B24SYNC_FOCUS_KEY``), ``base_url`` (default the real API or env
    ``B24SYNC_FOCUS_URL``; point it at ``b24sync sandbox focus``), ``ttl`` seconds, ``timeout``."""
    config = config or {}
    key = config.get("key") or os.environ.get("B24SYNC_FOCUS_KEY", "")
    inner = FocusLookup(key, base_url=config.get("base_url") or os.environ.get("B24SYNC_FOCUS_URL")
                        or DEFAULT_BASE_URL, timeout=float(config.get("timeout", 10.0)))
    return CachedPartyLookup(inner, state, ttl=float(config.get("ttl", 24 * 3600)))

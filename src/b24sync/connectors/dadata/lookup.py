"""DaData implementation of PartyLookup (see the package docstring for the cited facts)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import weakref
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import httpx
from dadata.asynchr import SuggestClient

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
from b24sync.engine import metrics
from b24sync.engine.errors import AuthError, DeferError, PermanentError, RetryableError
from b24sync.requisites import check_inn, check_kpp, check_ogrn, check_ogrnip
from b24sync.store.kv import MemoryState, SharedState

DEFAULT_BASE_URL = SuggestClient.BASE_URL
MSK = timezone(timedelta(hours=3))  # DaData's quota day is Moscow time, UTC+3 (erp-side.md §7.3, [DD-SUP])
QUOTA_MARKER = "Feature 'SUGGESTIONS' disabled"  # 403 body message (erp-side.md §7.3)


def next_quota_reset(now: datetime | None = None) -> datetime:
    """Assumption (erp-side.md §7.3: "the day is Moscow time"): the daily quota resets at 00:00 MSK, i.e.
    21:00 UTC. Returned as an aware UTC datetime."""
    now = (now or datetime.now(UTC)).astimezone(MSK)
    tomorrow = (now + timedelta(days=1)).date()
    return datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=MSK).astimezone(UTC)


# ---- one HTTP client per process (and per event loop: an httpx pool belongs to the loop that opened it).
# DaData limits NEW connections to 60/min per IP (§7.3), so keep-alive reuse matters.
_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str, float], SuggestClient]] = (
    weakref.WeakKeyDictionary()
)


def _suggest_client(base_url: str, token: str, timeout: float) -> SuggestClient:
    loop = asyncio.get_running_loop()
    per_loop = _CLIENTS.setdefault(loop, {})
    key = (base_url, token, timeout)
    client = per_loop.get(key)
    if client is None:
        # The official client takes its base URL from the class attribute BASE_URL; a subclass overriding it
        # is the only change needed to point it at a proxy or at the sandbox.
        cls = SuggestClient if base_url == DEFAULT_BASE_URL else type(
            "SuggestClientAt", (SuggestClient,), {"BASE_URL": base_url})
        client = cls(token=token, timeout=timeout)
        per_loop[key] = client
    return client


async def aclose_clients() -> None:
    """Close this event loop's pooled DaData clients (call at worker shutdown)."""
    for client in _CLIENTS.pop(asyncio.get_running_loop(), {}).values():
        await client.close()


def _ms_date(v: Any) -> date | None:
    """Epoch milliseconds (erp-side.md §7.2) → date (UTC)."""
    if v in (None, "", 0):
        return None
    try:
        return datetime.fromtimestamp(int(v) / 1000, tz=UTC).date()
    except (TypeError, ValueError, OverflowError):
        return None


def party_from_suggestion(s: dict[str, Any]) -> Party:
    """One ``suggestions[]`` item → Party. Field names per erp-side.md §7.2 ([DD-CS] Party.cs, [DD-HF])."""
    d = s.get("data") or {}
    name = d.get("name") or {}
    opf = d.get("opf") or {}
    state = d.get("state") or {}
    kind = PartyKind.INDIVIDUAL if str(d.get("type", "")).upper() == "INDIVIDUAL" else PartyKind.LEGAL
    branch = BranchType.BRANCH if str(d.get("branch_type", "")).upper() == "BRANCH" else BranchType.MAIN
    addr = d.get("address") or {}
    ad = addr.get("data") or {}
    address = None
    if addr.get("value") or addr.get("unrestricted_value"):
        address = Address(
            value=addr.get("unrestricted_value") or addr.get("value"),
            postal_code=ad.get("postal_code"),
            region=ad.get("region_with_type") or ad.get("region"),
            city=ad.get("city_with_type") or ad.get("city"),
        )
    mgmt = d.get("management") or {}
    director = Director(mgmt["name"], mgmt.get("post")) if mgmt.get("name") else None
    fio = d.get("fio") or {}
    person = None
    if kind is PartyKind.INDIVIDUAL and fio.get("surname"):
        person = PersonName(fio["surname"], fio.get("name") or "", fio.get("patronymic"))
    raw_status = state.get("status")
    short = name.get("short_with_opf") or s.get("value") or name.get("full_with_opf") or ""
    return Party(
        inn=str(d.get("inn") or ""),
        kind=kind,
        full_name=name.get("full_with_opf") or short,
        short_name=short,
        kpp=d.get("kpp") or None,
        ogrn=d.get("ogrn") or None,
        branch_type=branch,
        legal_address=address,
        director=director,
        person=person,
        status=PartyStatus.parse(raw_status),
        status_raw=raw_status,
        registration_date=_ms_date(state.get("registration_date")),
        liquidation_date=_ms_date(state.get("liquidation_date")),
        opf_short=opf.get("short"),
        provider="dadata",
        extra={"hid": d.get("hid")} if d.get("hid") else {},
    )


class DadataLookup:
    """``PartyLookup`` over DaData. ``state`` (shared by all workers) remembers an exhausted daily quota, so
    every worker parks its jobs until the reset instead of hammering the API with 403s."""

    name = "dadata"

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        state: SharedState | None = None,
        timeout: float = 3.0,  # the official client's default (erp-side.md §7.1)
        count: int = 20,  # SaaS caps suggestion counts at 20 (§7.2)
        daily_quota: int = 10_000,  # the free plan: 10 000 suggestion requests a day, Moscow time (§7.3)
    ) -> None:
        if not token:
            raise AuthError("DaData API key is not set (B24SYNC_DADATA_TOKEN)")
        self._token = token
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.state = state or MemoryState()
        self.timeout = timeout
        self.count = count
        self._quota_key = "dadata:quota:" + hashlib.sha256(token.encode()).hexdigest()[:16]
        self._used_key = "dadata:used:" + hashlib.sha256(token.encode()).hexdigest()[:16]
        self.daily_quota = max(1, int(daily_quota))
        self.system = "dadata"
        metrics.LIMITERS.register(self)

    def used_today(self) -> int:
        """Requests sent today (the Moscow day, as DaData counts it), by every worker sharing the state."""
        v = self.state.get(self._used_key) or {}
        return int(v.get("n", 0)) if v.get("day") == datetime.now(MSK).date().isoformat() else 0

    def _count_request(self) -> None:
        day = datetime.now(MSK).date().isoformat()
        self.state.update(self._used_key, lambda old: (
            {"day": day, "n": (int(old.get("n", 0)) if old and old.get("day") == day else 0) + 1}, None))

    def limiter_usage(self) -> dict[str, float]:
        """The daily quota used (0–1); 1 once DaData said it is spent (403) until the reset."""
        if self.quota_exhausted_until() is not None:
            return {"daily_quota": 1.0}
        return {"daily_quota": min(1.0, self.used_today() / self.daily_quota)}

    # ---- quota bookkeeping in SharedState

    def quota_exhausted_until(self, now: datetime | None = None) -> datetime | None:
        v = self.state.get(self._quota_key)
        if not v or not v.get("until"):
            return None
        until = datetime.fromisoformat(v["until"])
        return until if until > (now or datetime.now(UTC)) else None

    def _remember_exhausted(self, until: datetime, message: str) -> None:
        value = {"until": until.isoformat(), "message": message[:300]}
        self.state.update(self._quota_key, lambda _old: (value, None))

    # ---- HTTP

    async def _find(self, query: str, **params: Any) -> list[dict[str, Any]]:
        until = self.quota_exhausted_until()
        if until is not None:
            raise DeferError(f"DaData daily request quota is used up; lookups resume at {until:%Y-%m-%d %H:%M} UTC",
                             until=until, detail={"provider": "dadata"})
        client = _suggest_client(self.base_url, self._token, self.timeout)
        self._count_request()
        try:
            found = await client.find_by_id("party", query, count=self.count, **params)
        except httpx.HTTPStatusError as e:
            metrics.api_request(self.system, "read", e.response.status_code)
            err = self._map_status(e.response)
            metrics.api_error(self.system, "read", err)
            raise err from None
        except (httpx.TransportError, ValueError) as e:  # ValueError: a non-JSON body (proxy error page)
            metrics.api_request(self.system, "read", "transport" if isinstance(e, httpx.TransportError) else 200)
            metrics.api_error(self.system, "read", "transport" if isinstance(e, httpx.TransportError) else "server")
            raise RetryableError(f"DaData is unreachable or answered garbage: {type(e).__name__}") from None
        metrics.api_request(self.system, "read", 200)
        return found

    def _map_status(self, r: httpx.Response) -> Exception:
        try:
            body = r.json()
        except ValueError:
            body = {}
        message = str(body.get("message") or body.get("detail") or r.text[:200])
        safe = message.replace(self._token, "***")
        if r.status_code == 401:
            return AuthError("DaData rejected the API key (401) — check B24SYNC_DADATA_TOKEN",
                             detail={"provider": "dadata", "message": safe})
        if r.status_code == 403:
            # §7.3: the same 403 means "daily limit reached" or "service not enabled for the key". Treated as the
            # quota (the frequent case); the message is kept so an operator can tell them apart.
            until = next_quota_reset()
            self._remember_exhausted(until, safe)
            return DeferError(f"DaData daily request quota is used up (403: {safe}); lookups resume at "
                              f"{until:%Y-%m-%d %H:%M} UTC (midnight Moscow time)",
                              until=until, detail={"provider": "dadata", "status": 403})
        if r.status_code == 429 or r.status_code >= 500:
            ra = r.headers.get("Retry-After")
            retry_after = float(ra) if ra and ra.replace(".", "", 1).isdigit() else None
            return RetryableError(f"DaData answered {r.status_code}; will retry", retry_after=retry_after,
                                  detail={"provider": "dadata", "status": r.status_code})
        return PermanentError(f"DaData refused the request ({r.status_code}): {safe}",
                              detail={"provider": "dadata", "status": r.status_code})

    # ---- PartyLookup

    async def find_by_inn(self, inn: str, kpp: str | None = None, branches: bool = True) -> list[Party]:
        inn = check_inn(inn).require()  # a malformed INN never spends quota
        params: dict[str, Any] = {}
        if kpp:
            params["kpp"] = check_kpp(kpp).require()
        elif not branches:
            params["branch_type"] = "MAIN"
        parties = [party_from_suggestion(s) for s in await self._find(inn, **params)]
        parties.sort(key=lambda p: (p.branch_type is BranchType.BRANCH, p.kpp or ""))
        return parties

    async def find_by_ogrn(self, ogrn: str) -> list[Party]:
        raw = str(ogrn).strip()
        value = (check_ogrnip(raw) if len(raw) == 15 else check_ogrn(raw)).require()
        parties = [party_from_suggestion(s) for s in await self._find(value, branch_type="MAIN")]
        return [p for p in parties if p.ogrn == value] or parties


def from_config(config: dict[str, Any] | None = None, state: SharedState | None = None) -> CachedPartyLookup:
    """Build the cached DaData lookup. Config keys: ``token`` (default env ``B24SYNC_DADATA_TOKEN``),
    ``base_url`` (default the real API; point it at ``b24sync sandbox dadata``), ``ttl`` seconds, ``timeout``,
    ``daily_quota`` (requests a day the plan allows, default 10 000: the console and ``b24sync_limiter_usage_ratio``
    show the share used)."""
    config = config or {}
    token = config.get("token") or os.environ.get("B24SYNC_DADATA_TOKEN", "")
    inner = DadataLookup(token, base_url=config.get("base_url") or os.environ.get("B24SYNC_DADATA_URL")
                         or DEFAULT_BASE_URL, state=state, timeout=float(config.get("timeout", 3.0)),
                         daily_quota=int(config.get("daily_quota", 10_000)))
    return CachedPartyLookup(inner, state, ttl=float(config.get("ttl", 24 * 3600)))

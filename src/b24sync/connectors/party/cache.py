"""A TTL cache in front of any PartyLookup.

Two levels: an in-process LRU (no I/O for repeated lookups within a worker) and, when given, the installation's
SharedState (``b24sync.store.kv``), so every worker reuses a result instead of spending the provider's daily
quota again (DaData: 10 000 requests/day on the free plan, erp-side.md §7.3). Errors are never cached;
"not found" (an empty list) is cached for ``negative_ttl``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from b24sync.connectors.party.model import Party, PartyLookup
from b24sync.store.kv import SharedState


class CachedPartyLookup:
    def __init__(
        self,
        inner: PartyLookup,
        state: SharedState | None = None,
        *,
        ttl: float = 24 * 3600,
        negative_ttl: float = 3600,
        lru_size: int = 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.state = state
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.lru_size = lru_size
        self.clock = clock
        self._lru: OrderedDict[str, tuple[float, list[Party]]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def _lru_get(self, key: str) -> list[Party] | None:
        item = self._lru.get(key)
        if item is None:
            return None
        if item[0] <= self.clock():
            del self._lru[key]
            return None
        self._lru.move_to_end(key)
        return item[1]

    def _lru_put(self, key: str, expires: float, parties: list[Party]) -> None:
        self._lru[key] = (expires, parties)
        self._lru.move_to_end(key)
        while len(self._lru) > self.lru_size:
            self._lru.popitem(last=False)

    async def _cached(self, key: str, fetch: Callable[[], Any]) -> list[Party]:
        hit = self._lru_get(key)
        if hit is not None:
            self.hits += 1
            return list(hit)
        if self.state is not None:
            stored = self.state.get(key)
            if stored and stored.get("expires", 0) > self.clock():
                parties = [Party.from_json(p) for p in stored.get("parties", [])]
                self._lru_put(key, stored["expires"], parties)
                self.hits += 1
                return list(parties)
        self.misses += 1
        parties = await fetch()
        expires = self.clock() + (self.ttl if parties else self.negative_ttl)
        self._lru_put(key, expires, parties)
        if self.state is not None:
            value = {"expires": expires, "parties": [p.to_json() for p in parties]}
            self.state.update(key, lambda _old: (value, None))
        return list(parties)

    async def find_by_inn(self, inn: str, kpp: str | None = None, branches: bool = True) -> list[Party]:
        key = f"party:{self.name}:inn:{str(inn).strip()}:{(kpp or '').strip()}:{int(bool(branches))}"
        return await self._cached(key, lambda: self.inner.find_by_inn(inn, kpp=kpp, branches=branches))

    async def find_by_ogrn(self, ogrn: str) -> list[Party]:
        key = f"party:{self.name}:ogrn:{str(ogrn).strip()}"
        return await self._cached(key, lambda: self.inner.find_by_ogrn(ogrn))

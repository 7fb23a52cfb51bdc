"""Last-seen row versions per key, for the fallback change detection (keyed scan comparing ``DataVersion``).

1C has no "modified at" on catalogs/documents (erp-side.md §1.13), but ``DataVersion`` grows on every write
(§1.10), so a full keyed scan that compares it against the last synced value finds exactly the changed rows.
The versions live in the shared state (``b24sync.store.kv.SharedState``), sharded into 256 buckets by a hash of
the key so one bucket stays small and two workers rarely touch the same one; or in any object
with the two methods of :class:`VersionStore` (a callback-backed store, a dict in tests).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any, Protocol


class VersionStore(Protocol):
    def get_many(self, keys: Iterable[str]) -> dict[str, str]: ...

    def put_many(self, versions: dict[str, str]) -> None: ...


class MemoryVersionStore:
    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    def get_many(self, keys: Iterable[str]) -> dict[str, str]:
        return {k: self.data[k] for k in keys if k in self.data}

    def put_many(self, versions: dict[str, str]) -> None:
        self.data.update(versions)


class CallbackVersionStore:
    def __init__(self, get_many: Callable[[list[str]], dict[str, str]],
                 put_many: Callable[[dict[str, str]], None]) -> None:
        self._get, self._put = get_many, put_many

    def get_many(self, keys: Iterable[str]) -> dict[str, str]:
        return self._get(list(keys))

    def put_many(self, versions: dict[str, str]) -> None:
        self._put(versions)


class SharedStateVersionStore:
    """Versions in a SharedState under ``<prefix>:<bucket>`` → ``{"v": {key: version}}``."""

    def __init__(self, state: Any, prefix: str) -> None:
        self.state = state
        self.prefix = prefix

    def _bucket(self, key: str) -> str:
        return f"{self.prefix}:{hashlib.sha1(key.encode()).hexdigest()[:2]}"

    def get_many(self, keys: Iterable[str]) -> dict[str, str]:
        by_bucket: dict[str, list[str]] = {}
        for k in keys:
            by_bucket.setdefault(self._bucket(k), []).append(k)
        out: dict[str, str] = {}
        many = getattr(self.state, "get_many", None)  # one store round trip for every bucket of the page
        values = many(list(by_bucket)) if many is not None else {b: self.state.get(b) for b in by_bucket}
        for bucket, ks in by_bucket.items():
            data = (values.get(bucket) or {}).get("v", {})
            out.update({k: data[k] for k in ks if k in data})
        return out

    def put_many(self, versions: dict[str, str]) -> None:
        by_bucket: dict[str, dict[str, str]] = {}
        for k, v in versions.items():
            by_bucket.setdefault(self._bucket(k), {})[k] = v
        for bucket, vs in by_bucket.items():
            def fn(old: dict[str, Any] | None, vs: dict[str, str] = vs) -> tuple[dict[str, Any], None]:
                data = dict((old or {}).get("v", {}))
                data.update(vs)
                return {"v": data}, None

            self.state.update(bucket, fn)

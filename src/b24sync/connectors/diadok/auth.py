"""Authorization for the Diadok API — both styles the vendor has documented.

* **Current** (OpenID Connect): ``Authorization: Bearer <access_token>``; the access token comes from Kontur's OpenID
  provider (refresh-token / authorization-code / device flows, app registered in the integrator cabinet) —
  developer.kontur.ru/doc/diadoc-api/authentication. b24sync does not run the OIDC flow itself: it reads a ready
  token from the environment or asks a provider callable (plug a refresher there).
* **Legacy** (still in older docs, fact sheet /work/shared/research/erp-side.md §8, [DIADOC] ``Authorization.rst``):
  ``Authorization: DiadocAuth ddauth_api_client_id=<developer key>,ddauth_token=<token>``. The token either comes
  ready from the environment or from ``POST /V3/Authenticate?type=password`` (JSON ``{"login","password"}``, header
  ``DiadocAuth ddauth_api_client_id=<key>``) — the method is marked obsolete by the vendor. Tokens live **24 h**;
  we cache them in ``SharedState`` (shared by all workers) and refresh 1 h early or after a 401.

Secrets are read from the environment only and never logged.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from b24sync.connectors.diadok.errors import error_for, transport_error
from b24sync.engine.errors import AuthError
from b24sync.store.kv import MemoryState, SharedState

TOKEN_TTL_SECONDS = 24 * 3600  # [DIADOC] Authorization.rst: the token is valid for 24 hours
TOKEN_REFRESH_MARGIN = 3600

AuthStyle = Literal["bearer", "diadocauth"]


@dataclass
class AuthSettings:
    style: AuthStyle = "bearer"
    # bearer
    access_token_env: str = "DIADOK_ACCESS_TOKEN"
    # legacy DiadocAuth
    client_id_env: str = "DIADOK_CLIENT_ID"  # ddauth_api_client_id (developer key)
    token_env: str = "DIADOK_TOKEN"  # a ready ddauth_token (optional)
    login_env: str = "DIADOK_LOGIN"  # or login + password → /V3/Authenticate?type=password
    password_env: str = "DIADOK_PASSWORD"


def _env(name: str) -> str | None:
    v = os.environ.get(name)
    return v.strip() if v and v.strip() else None


class DiadokAuth:
    """Produces the ``Authorization`` header value; ``invalidate()`` after a 401 lets it fetch a fresh token once."""

    def __init__(
        self,
        settings: AuthSettings,
        *,
        state: SharedState | None = None,
        token_provider: Callable[[], Awaitable[str]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.state = state or MemoryState()
        self.token_provider = token_provider
        self.clock = clock

    @property
    def can_refresh(self) -> bool:
        s = self.settings
        if s.style == "bearer":
            return self.token_provider is not None
        return _env(s.token_env) is None and _env(s.login_env) is not None

    def _cache_key(self) -> str:
        s = self.settings
        ident = f"{_env(s.client_id_env) or ''}|{_env(s.login_env) or ''}"
        return "diadok:auth:" + hashlib.sha256(ident.encode()).hexdigest()[:16]

    async def header(self, http: httpx.AsyncClient) -> str:
        s = self.settings
        if s.style == "bearer":
            token = await self.token_provider() if self.token_provider else _env(s.access_token_env)
            if not token:
                raise AuthError(f"Диадок: не задан токен доступа (переменная окружения {s.access_token_env}).")
            return f"Bearer {token}"
        client_id = _env(s.client_id_env)
        if not client_id:
            raise AuthError(f"Диадок: не задан ключ разработчика (переменная окружения {s.client_id_env}).")
        token = _env(s.token_env) or await self._legacy_token(http, client_id)
        return f"DiadocAuth ddauth_api_client_id={client_id},ddauth_token={token}"

    async def _legacy_token(self, http: httpx.AsyncClient, client_id: str) -> str:
        now = self.clock()
        cached = self.state.get(self._cache_key())
        if cached and cached.get("expires_at", 0) - TOKEN_REFRESH_MARGIN > now:
            return cached["token"]
        s = self.settings
        login, password = _env(s.login_env), _env(s.password_env)
        if not login or not password:
            raise AuthError(f"Диадок: нужен {s.token_env} или пара {s.login_env}/{s.password_env}.")
        try:
            # [DIADOC] http/Authenticate.rst: POST /V3/Authenticate?type=password, JSON body, token in the body
            resp = await http.post(
                "/V3/Authenticate",
                params={"type": "password"},
                json={"login": login, "password": password},
                headers={"Authorization": f"DiadocAuth ddauth_api_client_id={client_id}",
                         "Accept": "application/json"},
            )
        except httpx.TransportError as exc:
            raise transport_error(exc, operation="Authenticate") from exc
        if resp.status_code != 200:
            raise error_for(resp, operation="Authenticate")
        token = resp.text.strip().strip('"')
        expires = now + TOKEN_TTL_SECONDS

        def put(_old: dict[str, Any] | None) -> tuple[dict[str, Any], None]:
            return {"token": token, "expires_at": expires}, None

        self.state.update(self._cache_key(), put)
        return token

    def invalidate(self) -> None:
        self.state.update(self._cache_key(), lambda old: ({"token": "", "expires_at": 0}, None))

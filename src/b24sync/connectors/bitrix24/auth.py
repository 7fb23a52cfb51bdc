"""Authentication: inbound webhook URL or an OAuth 2 application, with secrets kept out of logs.

- Webhook: ``https://{portal}/rest/{USER_ID}/{CODE}/{method}`` (sheet §1.1). The code is the secret.
- OAuth: ``{client_endpoint}{method}?auth={access_token}`` (sheet §1.2); the access token lives 1 h, the refresh token
  180 days and rotates on every refresh (sheet §1.2, §8.17). Refresh *only* on HTTP 401 ``expired_token``
  (auto-renewal.md: refreshing before every call or on a schedule may get the app blocked). The token endpoint is
  ``https://oauth.bitrix.info/oauth/token/`` (EN docs) or ``https://oauth.bitrix24.tech/oauth/token/`` (RU docs, SDK);
  it is configurable (a sandbox serves ``/oauth/token/``). OAuth-server errors: ``invalid_grant``, ``invalid_client``,
  ``wrong_client`` (HTTP 200!), ``PAYMENT_REQUIRED`` (sheet §1.4).
- Tokens are stored in SharedState; one refresh per expiry across coroutines (asyncio lock) and across processes
  (a version number plus a short lease in the shared record), because the rotated refresh token replaces the old one.
- ONAPPINSTALL brings the first tokens and the ``application_token`` (sheet §7.4, safe-event-handlers.md).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from b24sync.connectors.bitrix24.errors import Bitrix24AuthError, Bitrix24TransportError
from b24sync.connectors.bitrix24.limits import run_state
from b24sync.redaction import RedactFilter, add_masker
from b24sync.store.kv import SharedState

log = logging.getLogger("b24sync.bitrix24")

# ---------------------------------------------------------------------------------------------- masking

# Verified secrets only (configured tokens, webhook codes, tokens of an event that passed verification): an
# unverified request must not be able to make an arbitrary string vanish from the logs. Bounded; the oldest go first
# (rotated access tokens are expired by then).
_SECRETS: dict[str, None] = {}
MAX_SECRETS = 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")
_WEBHOOK_RE = re.compile(r"(/rest/\d+/)([^/?#\s]+)")
_PARAM_RE = re.compile(
    r"((?:^|[?&\s\"'{,])(?:auth|access_token|refresh_token|client_secret|application_token|code)"
    r"[\"']?\s*[=:]\s*[\"']?)([^&\s\"',}]+)",
    re.I,
)


def register_secret(value: str | None) -> None:
    if isinstance(value, str) and 6 <= len(value) <= 4096:
        _SECRETS.pop(value, None)
        _SECRETS[value] = None
        while len(_SECRETS) > MAX_SECRETS:
            del _SECRETS[next(iter(_SECRETS))]


def escape_control(value: object) -> object:
    """A string with its control characters written as escapes (``\\n``, ``\\x1b``): a value from outside can
    never start a forged log line. Other types pass through."""
    if not isinstance(value, str) or not _CONTROL.search(value):
        return value
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], value)


def mask_registered(text: str) -> str:
    """Every registered secret out of a string — applied to every log line (``redaction.add_masker``)."""
    for s in sorted(_SECRETS, key=len, reverse=True):
        if s in text:
            text = text.replace(s, "***")
    return text


def mask(text: str) -> str:
    """Hide webhook codes, tokens and every registered secret in a string (URLs, reprs, log messages)."""
    if not text:
        return text
    text = _WEBHOOK_RE.sub(r"\1***", text)
    text = _PARAM_RE.sub(r"\1***", text)
    return mask_registered(text)


add_masker(mask_registered)


class MaskingFilter(RedactFilter):
    """The shared redaction of every log line (``b24sync.redaction``) plus this connector's own patterns (``auth``
    / ``code`` parameters in JSON-ish texts), on the loggers that carry Bitrix24 URLs."""

    def filter(self, record: logging.LogRecord) -> bool:
        super().filter(record)
        try:
            msg = record.getMessage()
        except Exception:  # pragma: no cover - a broken format string is not ours to fix
            return True
        masked = mask(msg)
        if masked != msg:
            record.msg, record.args = masked, None
        return True


_FILTER = MaskingFilter()


def install_log_masking() -> None:
    """httpx logs every request URL at INFO — with the webhook code in it. Mask on those loggers and ours."""
    for name in ("httpx", "httpcore", "b24sync.bitrix24", "uvicorn.access"):
        lg = logging.getLogger(name)
        if _FILTER not in lg.filters:
            lg.addFilter(_FILTER)


install_log_masking()

# ---------------------------------------------------------------------------------------------- auth kinds


@dataclass(frozen=True)
class Target:
    url: str  # the full method URL
    params: dict[str, str]  # query params carrying auth (OAuth)
    version: int  # token version the call was made with (OAuth), 0 for webhooks


class WebhookAuth:
    kind = "webhook"

    def __init__(self, url: str) -> None:
        parts = urlsplit(url.strip())
        m = re.fullmatch(r"/rest/(\d+)/([^/]+)/?", parts.path or "")
        if not parts.scheme or not parts.netloc or not m:
            raise ValueError("webhook URL must look like https://PORTAL/rest/USER_ID/CODE/ (sheet §1.1)")
        self.portal = parts.netloc
        self.user_id = m.group(1)
        self._code = m.group(2)
        register_secret(self._code)
        self.base = f"{parts.scheme}://{parts.netloc}/rest/{self.user_id}/{self._code}/"

    async def target(self, method: str) -> Target:
        return Target(self.base + method, {}, 0)

    def __repr__(self) -> str:
        return f"WebhookAuth({mask(self.base)!r})"


class OAuthAuth:
    """OAuth 2 application tokens in SharedState under ``key`` (one record per portal, keyed by member_id ideally)."""

    kind = "oauth"
    LEASE_SECONDS = 30.0

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        state: SharedState,
        key: str,
        token_endpoint: str = "https://oauth.bitrix.info/oauth/token/",
        client_endpoint: str | None = None,
        http: httpx.AsyncClient | None = None,
        access_token: str | None = None,
        refresh_token: str | None = None,
    ) -> None:
        self.client_id = client_id
        self._client_secret = client_secret
        register_secret(client_secret)
        self.state = state
        self.key = key
        self.token_endpoint = token_endpoint
        self.default_endpoint = client_endpoint
        self._http = http
        self._lock = asyncio.Lock()
        self._owner = uuid.uuid4().hex
        self.refreshes = 0  # HTTP refreshes this process performed
        self._seed = (access_token, refresh_token)
        self.portal = urlsplit(client_endpoint).netloc if client_endpoint else key

    def bind_http(self, http: httpx.AsyncClient) -> None:
        if self._http is None:
            self._http = http

    async def _tokens(self) -> dict[str, Any]:
        st = await run_state(self.state, self.state.get, self.key)
        if not st or not st.get("access_token"):
            a, r = self._seed
            if a:
                await self.store_tokens({"access_token": a, "refresh_token": r,
                                         "client_endpoint": self.default_endpoint})
                st = await run_state(self.state, self.state.get, self.key)
        if not st or not st.get("access_token"):
            raise Bitrix24AuthError("Bitrix24: no OAuth tokens stored yet (install the application first)")
        register_secret(st.get("access_token"))
        register_secret(st.get("refresh_token"))
        return st

    async def target(self, method: str) -> Target:
        st = await self._tokens()
        base = st.get("client_endpoint") or self.default_endpoint
        if not base:
            raise Bitrix24AuthError("Bitrix24: no client_endpoint for the OAuth application")
        if not base.endswith("/"):
            base += "/"
        return Target(base + method, {"auth": st["access_token"]}, int(st.get("version", 0)))

    async def store_tokens(self, data: dict[str, Any]) -> int:
        """Write tokens (from a token response or an ONAPPINSTALL ``auth`` block); returns the new version."""
        for k in ("access_token", "refresh_token", "application_token"):
            register_secret(data.get(k))

        def fn(old: dict[str, Any] | None) -> tuple[dict[str, Any], int]:
            new = dict(old or {})
            for k in ("access_token", "refresh_token", "client_endpoint", "server_endpoint", "member_id",
                      "domain", "scope", "application_token", "user_id", "status"):
                if data.get(k) not in (None, ""):
                    new[k] = data[k]
            exp = data.get("expires") or (time.time() + float(data.get("expires_in") or 3600))
            new["expires"] = float(exp)
            new["version"] = int(new.get("version", 0)) + 1
            new.pop("lease_owner", None)
            new.pop("lease_until", None)
            return new, new["version"]

        return await run_state(self.state, self.state.update, self.key, fn)

    async def refresh(self, seen_version: int) -> None:
        """Make sure the token is newer than ``seen_version``: at most one HTTP refresh across all callers."""
        async with self._lock:
            deadline = time.monotonic() + self.LEASE_SECONDS + 5
            while True:
                now = time.time()

                def claim(old: dict[str, Any] | None) -> tuple[dict[str, Any] | None, str]:
                    old = old or {}
                    if int(old.get("version", 0)) != seen_version:
                        return None, "fresh"
                    if float(old.get("lease_until", 0)) > now and old.get("lease_owner") != self._owner:
                        return None, "wait"
                    new = dict(old)
                    new["lease_owner"], new["lease_until"] = self._owner, now + self.LEASE_SECONDS
                    return new, "mine"

                verdict = await run_state(self.state, self.state.update, self.key, claim)
                if verdict == "fresh":
                    return
                if verdict == "mine":
                    break
                if time.monotonic() > deadline:
                    raise Bitrix24AuthError("Bitrix24: another worker's token refresh did not finish")
                await asyncio.sleep(0.1)
            try:
                data = await self._refresh_http()
            except BaseException:
                def release(old: dict[str, Any] | None) -> tuple[dict[str, Any] | None, None]:
                    if old and old.get("lease_owner") == self._owner:
                        new = dict(old)
                        new.pop("lease_owner", None)
                        new.pop("lease_until", None)
                        return new, None
                    return None, None

                await run_state(self.state, self.state.update, self.key, release)
                raise
            await self.store_tokens(data)

    async def _refresh_http(self) -> dict[str, Any]:
        st = await run_state(self.state, self.state.get, self.key) or {}
        if not st.get("refresh_token"):
            raise Bitrix24AuthError("Bitrix24: the access token expired and no refresh token is stored")
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=30)
        params = {"grant_type": "refresh_token", "client_id": self.client_id,
                  "client_secret": self._client_secret, "refresh_token": st["refresh_token"]}
        self.refreshes += 1
        try:
            resp = await self._http.get(self.token_endpoint, params=params)
        except httpx.HTTPError as e:
            raise Bitrix24TransportError(f"Bitrix24 OAuth server unreachable: {type(e).__name__}") from None
        try:
            data = resp.json()
        except ValueError:
            data = {}
        if resp.status_code != 200 or "error" in data or not data.get("access_token"):
            code = data.get("error") or resp.status_code
            # invalid_grant → re-authorise; wrong_client arrives with HTTP 200 (sheet §1.4)
            raise Bitrix24AuthError(f"Bitrix24 OAuth refresh failed: {code}", detail={"code": str(code)})
        log.info("bitrix24 oauth token refreshed for %s", self.portal)
        return data

    def __repr__(self) -> str:
        return f"OAuthAuth(client_id={self.client_id!r}, key={self.key!r}, token_endpoint={self.token_endpoint!r})"

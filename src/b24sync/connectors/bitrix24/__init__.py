"""Bitrix24 connector: thin async REST client (httpx), limits shared through SharedState, batching, entity
helpers, event intake, the engine adapter and portal preparation. See docs/connector-bitrix24.md."""

from b24sync.connectors.bitrix24.auth import OAuthAuth, WebhookAuth, mask
from b24sync.connectors.bitrix24.client import Bitrix24Client, CallResult, Outcome
from b24sync.connectors.bitrix24.errors import (
    Bitrix24AuthError,
    Bitrix24Error,
    Bitrix24NotFound,
    Bitrix24OperationLimit,
    Bitrix24RateLimited,
    Bitrix24ServerError,
    Bitrix24TransportError,
    Bitrix24ValidationError,
)

__all__ = [
    "Bitrix24Client", "CallResult", "Outcome", "WebhookAuth", "OAuthAuth", "mask", "Bitrix24Error",
    "Bitrix24AuthError", "Bitrix24NotFound", "Bitrix24OperationLimit", "Bitrix24RateLimited", "Bitrix24ServerError",
    "Bitrix24TransportError", "Bitrix24ValidationError",
]

"""Generic declarative HTTP/JSON connector. The spec embeds :class:`HttpJsonConfig` (and :class:`Operation`).
See docs/connector-http-json.md."""

from b24sync.connectors.http_json.adapter import HttpJsonAdapter, from_config, map_http_error
from b24sync.connectors.http_json.models import AuthConfig, HttpJsonConfig, ObjectOperations, Operation, Paging
from b24sync.connectors.http_json.paths import get_path, parse_path, render_text, render_value, set_path

__all__ = [
    "AuthConfig", "HttpJsonAdapter", "HttpJsonConfig", "ObjectOperations", "Operation", "Paging", "from_config",
    "get_path", "map_http_error", "parse_path", "render_text", "render_value", "set_path",
]

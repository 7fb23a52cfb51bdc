"""``type: kontur-buh`` in a spec: Kontur.Buhgalteria as a system the engine syncs records with.

The operations live in a preset (``preset:`` — a shipped name or a YAML path; see presets/sandbox-model.yaml and
docs/kontur-buhgalteria.md): the system is the generic HTTP/JSON adapter configured by the preset's ``http:``
section, with the spec's ``base_url`` and ``token`` (a resolved ``${VAR}``) put in. Objects are the preset's
(``counterparty``, ``invoice``, ``payment``, ``act``); the flows that need the domain operations (invoices with
lines, PDFs, acts) use ``http_binding.from_preset`` over the same preset.
"""

from __future__ import annotations

from typing import Any

from b24sync.connectors.http_json import HttpJsonAdapter, HttpJsonConfig
from b24sync.connectors.kontur_buh.http_binding import load_preset
from b24sync.engine.errors import PermanentError

_TOKEN_ENV = "B24SYNC_KONTUR_BUH_TOKEN"  # where a spec's resolved `token:` is handed to the adapter's auth


def from_config(name: str, config: dict[str, Any]) -> HttpJsonAdapter:
    cfg = dict(config)
    cfg.pop("state", None)
    transport = cfg.pop("transport", None)  # tests
    try:
        data = load_preset(str(cfg.get("preset") or "sandbox-model"))
    except (OSError, ValueError) as e:
        raise PermanentError(f"system {name}: preset {cfg.get('preset')!r} cannot be loaded ({e})") from None
    http = dict(data["http"])
    if cfg.get("base_url"):
        http["base_url"] = str(cfg["base_url"]).rstrip("/")
    environ: dict[str, str] | None = cfg.pop("environ", None)
    token = cfg.get("token")
    if token:
        auth = dict(http.get("auth") or {})
        if auth.get("type") == "bearer":
            auth["token_env"] = _TOKEN_ENV
        elif auth.get("type") == "header":
            auth["value_env"] = _TOKEN_ENV
        else:
            raise PermanentError(f"system {name}: `token:` needs a preset whose auth is bearer or header")
        http["auth"] = auth
        environ = {**(environ or {}), _TOKEN_ENV: str(token)}
    return HttpJsonAdapter(name, HttpJsonConfig.model_validate(http), transport=transport, environ=environ)

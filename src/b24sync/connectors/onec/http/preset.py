"""A preset of HTTP/JSON operations for a 1C HTTP service published at ``/<base>/hs/<root>/…`` (erp-side.md §2).

1C HTTP services have no platform contract — URL templates, methods and bodies are whatever the configuration's
developer wrote (§2). This preset is the contract b24sync proposes to the 1C side (docs/connector-onec.md, "HTTP
service contract"); a site whose service differs overrides single operations or writes its own HttpJsonConfig.
Why a site would choose it over OData (§2): one call creates a document *with* business logic and posting in one
transaction, a versioned contract, a real version check under a 1C object lock, server-side change feeds.

Per object ``<name>`` (e.g. ``orders``, ``counterparties``):

    GET    /hs/<root>/<name>/{id}                      → {"data": {...record...}}
    GET    /hs/<root>/<name>?<field>=<value>…          → {"items": [...]}
    POST   /hs/<root>/<name>           {"data": {...}} → 201 {"data": {"ref": "…", "version": "…"}}
    PATCH  /hs/<root>/<name>/{id}      {"data": {...}}, If-Match: <version> → 200 | 412 when the version moved
    GET    /hs/<root>/changes/<name>?limit=&cursor=    → {"items": [...], "next": "<cursor>" | null}
    POST   /hs/<root>/changes/<name>/ack {"ids": [...]} → 204

Records carry ``ref`` (the Ref_Key), ``version`` (DataVersion), ``modified``, ``deleted``; errors
``{"error": {"code": "…", "message": "…"}}`` with 400/404/409/412/500.
"""

from __future__ import annotations

from typing import Any

from b24sync.connectors.http_json.models import HttpJsonConfig

DEFAULT_OBJECTS = ("orders", "counterparties", "products", "invoices", "payments", "shipments")


def onec_http_objects(root: str, objects: tuple[str, ...] | list[str] = DEFAULT_OBJECTS,
                      *, find_fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    root = root.strip("/")
    out: dict[str, Any] = {}
    rec = {"id": "ref", "version": "version", "modified": "modified", "deleted": "deleted",
           "error_message": "error.message"}
    for name in objects:
        base = f"/hs/{root}/{name}"
        find_q = {f: "{criteria.%s}" % f for f in (find_fields or {}).get(name, [])}
        out[name] = {
            "get": {"method": "GET", "path": base + "/{id}", "record": "data", **rec},
            "find": {"method": "GET", "path": base, "query": find_q, "criteria_query": not find_q,
                     "items": "items", **rec},
            "create": {"method": "POST", "path": base, "body": {"data": "{values}"}, "record": "data", **rec},
            "update": {"method": "PATCH", "path": base + "/{id}", "body": {"data": "{values}"}, "record": "data",
                       "version_guard": "if-match", **rec},
            "changes": {"method": "GET", "path": f"/hs/{root}/changes/{name}",
                        "query": {"limit": "{limit}", "cursor": "{token}"}, "items": "items",
                        "paging": {"type": "cursor", "next": "next"}, **rec},
            "ack": {"method": "POST", "path": f"/hs/{root}/changes/{name}/ack", "body": {"ids": "{ids}"},
                    "error_message": "error.message"},
        }
    return out


def onec_http_config(publication_url: str, *, root: str = "b24sync", username: str | None = None,
                     username_env: str | None = None, password_env: str | None = None,
                     objects: tuple[str, ...] | list[str] = DEFAULT_OBJECTS,
                     find_fields: dict[str, list[str]] | None = None, timeout: float = 60.0,
                     overrides: dict[str, dict[str, Any]] | None = None) -> HttpJsonConfig:
    """An :class:`HttpJsonConfig` for ``<publication_url>/hs/<root>/…`` with Basic auth of a 1C user (§2: same
    authentication as OData; UTF-8 credentials, §1.11). Timeout 60 s: 1C cold start (§1.11)."""
    auth: dict[str, Any] = {"type": "none"}
    if password_env:
        auth = {"type": "basic", "username": username, "username_env": username_env, "password_env": password_env}
    objs = onec_http_objects(root, objects, find_fields=find_fields)
    for name, ops in (overrides or {}).items():
        objs.setdefault(name, {}).update(ops)
    return HttpJsonConfig.model_validate({"base_url": publication_url, "auth": auth, "timeout": timeout,
                                         "objects": objs})


def from_config(name: str, config: dict[str, Any]):  # registered as "1c-http"
    from b24sync.connectors.http_json.adapter import HttpJsonAdapter

    cfg = onec_http_config(
        config["url"], root=config.get("root", "b24sync"), username=config.get("username"),
        username_env=config.get("username_env"), password_env=config.get("password_env"),
        objects=tuple(config.get("objects") or DEFAULT_OBJECTS), find_fields=config.get("find_fields"),
        timeout=float(config.get("timeout") or 60.0), overrides=config.get("overrides"))
    return HttpJsonAdapter(name, cfg, transport=config.get("transport"), environ=config.get("environ"))

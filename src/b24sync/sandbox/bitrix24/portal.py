"""The emulated portal: state + REST methods, independent of HTTP (the ASGI layer lives in app.py).

Method handlers are registered in METHODS by name (lower case) with :func:`method`; each gets the portal, a
:class:`Ctx` describing the caller and the parsed parameters, and returns the ``result`` value (or a :class:`Page`
for list methods, which adds ``total``/``next``), or raises :class:`ApiError`.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from .clock import SystemClock
from .events import EventBus
from .model import EVENTS, LEGACY, atom, load_legacy_fields
from .phpquery import php_list
from .store import Store

METHODS: dict[str, Callable[..., Any]] = {}
SCOPES: dict[str, str] = {}
# Operating-time cost of one call, seconds (see docs/sandbox-bitrix24.md "Cost model").
# Counted list page: 49.9 s per page on 2,387,743 rows vs 0.097 s with start=-1
# [fact sheet §5, EN:settings/performance/huge-data.md] → cost grows linearly with the table size.
PAGE_COST = 0.097
COUNT_COST_PER_ROW = (49.9 - 0.097) / 2_387_743
CALL_COST = 0.02
WRITE_COST = 0.05


class ApiError(Exception):
    def __init__(self, status: int, error: Any, description: str = "") -> None:
        super().__init__(f"{status} {error}: {description}")
        self.status, self.error, self.description = status, error, description

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "error_description": self.description}


def not_found_legacy(text: str = "Not found") -> ApiError:
    # legacy CRM methods answer 400 with an empty error code [fact sheet §2.3, EN:api-reference/crm/companies/crm-company-get.md]
    return ApiError(400, "", text)


@dataclass
class Page:
    result: Any
    total: int | None = None
    next: int | None = None


@dataclass
class Ctx:
    principal: str
    user_id: int
    app_id: str | None = None
    auth_type: str = "webhook"  # webhook | oauth
    connector: str | None = None
    method: str = ""
    cost: float = CALL_COST
    in_batch: bool = False
    scopes: set[str] = field(default_factory=set)


def method(*names: str, scope: str = "crm") -> Callable:
    def deco(fn: Callable) -> Callable:
        for n in names:
            METHODS[n.lower()] = fn
            SCOPES[n.lower()] = scope
        return fn
    return deco


def p(params: dict, name: str, default: Any = None) -> Any:
    """Top-level parameters of legacy methods are matched case-insensitively [fact sheet §2.1]."""
    if name in params:
        return params[name]
    low = name.lower()
    for k, v in params.items():
        if str(k).lower() == low:
            return v
    return default


def as_int(v: Any) -> int | None:
    try:
        return int(float(v))
    except (TypeError, ValueError):
        return None


class Portal:
    def __init__(self, *, clock=None, data: str | None = None, domain: str = "sandbox.bitrix24.ru",
                 webhook_user: int = 1, webhook_code: str | None = None, client_id: str | None = None,
                 client_secret: str | None = None, access_ttl: int = 3600, member_id: str | None = None) -> None:
        self.clock = clock or SystemClock()
        self.store = Store(data)
        self.lock = threading.RLock()
        self.domain = domain
        self.base_url = f"https://{domain}"
        self.legacy_fields = load_legacy_fields()
        meta = self.store.meta
        self.member_id = member_id or meta.get("member_id") or secrets.token_hex(16)
        self.webhooks: dict[tuple[int, str], set[str] | None] = {}
        code = webhook_code or meta.get("webhook_code") or secrets.token_hex(8)
        self.webhook_user, self.webhook_code = webhook_user, code
        self.webhooks[(webhook_user, code)] = None  # None = all scopes
        self.client_id = client_id or meta.get("client_id") or f"local.{secrets.token_hex(7)}.{secrets.randbelow(10**8):08d}"
        self.client_secret = client_secret or meta.get("client_secret") or secrets.token_urlsafe(36)[:50]
        self.application_token = meta.get("application_token") or secrets.token_hex(16)
        self.access_ttl = access_ttl
        self.refresh_ttl = 180 * 86400  # [EN:settings/oauth/auto-renewal.md]
        self.current_user_id = webhook_user
        self.files: dict[int, dict[str, Any]] = {}
        self.notifications: list[dict[str, Any]] = []
        self.outgoing_webhooks: list[dict[str, Any]] = []
        self.events = EventBus(self)
        self.dup_index: dict[tuple[str, str], set[tuple[str, int]]] = {}
        self.method_calls: Counter = Counter()
        if not self.store.loaded_existing:
            from . import bootstrap
            bootstrap.initialise(self)
            for k in ("member_id", "webhook_code", "client_id", "client_secret", "application_token"):
                self.store.set_meta(k, getattr(self, k))
            self.store.set_meta("initialised", True)
        else:
            self.rebuild_indexes()
        self.robot_waits: dict[str, dict[str, Any]] = {}  # event_token → robot call waiting for bizproc.event.send
        self.robot_calls: list[dict[str, Any]] = []  # what fire_robot POSTed and what came back (inspection)
        from . import bizproc, crm_item, crm_legacy, misc  # noqa: F401  (register methods)
        from . import catalog  # noqa: F401  (product sections, VAT table, product properties; after crm_legacy)
        from . import productrow  # noqa: F401  (crm.item.productrow.*, over the legacy rows)

    # ---- helpers used by method modules ---------------------------------------------------------------------
    def t(self, name: str):
        return self.store.table(name)

    def now(self) -> float:
        return self.clock.now()

    def now_atom(self) -> str:
        return atom(self.clock.now())

    def next_mf_id(self) -> int:
        n = int(self.store.meta.get("mf_next", 1))
        self.store.meta["mf_next"] = n + 1
        return n

    def rebuild_indexes(self) -> None:
        self.dup_index.clear()
        for ent in LEGACY:
            for row in self.t(ent).rows.values():
                self.index_multifields(ent, row)

    def index_multifields(self, ent: str, row: dict, remove: bool = False) -> None:
        from .crm_legacy import norm_comm
        for tid in ("PHONE", "EMAIL"):
            for mf in row.get(tid) or []:
                key = (tid, norm_comm(tid, mf.get("VALUE")))
                s = self.dup_index.setdefault(key, set())
                (s.discard if remove else s.add)((ent, row["ID"]))

    # Files in fields and timeline comments (document-flows.md A.6–A.7): a file arrives as [name, base64] (crm.item)
    # or {"fileData": [name, base64]} (legacy crm.deal & co.); {"id": N} keeps the file the field holds; another
    # value replaces it and the replaced file is deleted; '' clears. Cloud limit: one POST ≤ 2 GB (A.7).
    max_upload_bytes = 2 * 1024 ** 3

    def store_file(self, name: str, content_b64: str) -> dict[str, Any]:
        try:
            raw = base64.b64decode(content_b64, validate=False)
        except Exception:
            raise ApiError(400, "ERROR_CORE", "File content is not valid base64")
        if len(raw) > self.max_upload_bytes:
            raise ApiError(400, "ERROR_CORE", "The file is too large")  # wording ours: no documented text
        fid = max(self.files, default=0) + 1
        self.files[fid] = {"id": fid, "name": name, "size": len(raw), "content": raw,
                           "md5": hashlib.md5(raw).hexdigest()}  # noqa: S324 - content fingerprint only
        return self.file_ref(fid)

    def file_ref(self, fid: int) -> dict[str, Any]:
        return {"id": fid, "showUrl": f"/bitrix/components/bitrix/crm.file/show_file.php?fileId={fid}",
                "downloadUrl": f"/bitrix/components/bitrix/crm.file/show_file.php?fileId={fid}&download=Y"}

    def file_value(self, old: Any, new: Any) -> Any:
        """One file field's new stored value from what a write sent; files the field no longer holds are deleted."""
        def fid_of(v: Any) -> int | None:
            return int(v["id"]) if isinstance(v, dict) and str(v.get("id") or "").isdigit() else None

        olds = [f for f in (old if isinstance(old, list) else [old]) if fid_of(f) is not None]
        multiple = isinstance(new, list) and bool(new) and not (len(new) == 2 and isinstance(new[0], str)
                                                               and not isinstance(new[1], (list, dict)))
        items = new if multiple else [new]
        out: list[dict[str, Any]] = []
        for it in items:
            if isinstance(it, dict) and "fileData" in it:
                it = it["fileData"]
            if isinstance(it, dict) and fid_of(it) is not None:
                keep = next((f for f in olds if fid_of(f) == fid_of(it)), None)
                if keep is not None:
                    out.append(keep)  # {"id": N} of a file the field holds: kept
                continue  # another id resets the field (the old file is deleted below)
            if isinstance(it, (list, tuple)) and len(it) >= 2 and isinstance(it[0], str):
                out.append(self.store_file(str(it[0]), str(it[1])))
        kept = {fid_of(f) for f in out}
        for f in olds:
            if fid_of(f) not in kept:
                self.files.pop(fid_of(f), None)
        if multiple:
            return out
        return out[0] if out else None

    def file_out_item(self, v: Any, etid: int, rid: int, field: str) -> Any:
        """crm.item.* read-back of a file value: {id, url, urlMachine} (A.1)."""
        if isinstance(v, list):
            return [self.file_out_item(x, etid, rid, field) for x in v]
        if not (isinstance(v, dict) and "downloadUrl" in v):
            return v
        q = f"entityTypeId={etid}&id={rid}&fieldName={field}&fileId={v['id']}"
        return {"id": v["id"], "url": f"{self.base_url}/bitrix/services/main/ajax.php?action=crm.controller.item."
                                      f"getFile&SITE_ID=s1&{q}",
                "urlMachine": f"{self.base_url}/rest/crm.controller.item.getFile/?{q}"}

    # ---- OAuth -----------------------------------------------------------------------------------------------
    def issue_code(self, user_id: int = 1) -> str:
        code = secrets.token_hex(16)
        self.t("oauth_code").insert({"CODE": code, "USER": user_id, "EXP": self.now() + 30})  # code lives 30 s
        return code

    def _new_tokens(self, user_id: int) -> dict[str, Any]:
        now = self.now()
        access, refresh = secrets.token_hex(16), secrets.token_hex(16)
        self.t("oauth_token").insert({"ACCESS": access, "REFRESH": refresh, "USER": user_id,
                                      "EXP": now + self.access_ttl, "REXP": now + self.refresh_ttl, "REVOKED": 0})
        # token response shape [fact sheet §9.15, EN:settings/oauth/index.md, auto-renewal.md]
        return {"access_token": access, "expires": int(now + self.access_ttl), "expires_in": self.access_ttl,
                "scope": "crm,im,user,basic,placement,event,bizproc", "domain": self.domain,
                "server_endpoint": f"{self.base_url}/rest/", "status": "L",
                "client_endpoint": f"{self.base_url}/rest/", "member_id": self.member_id, "user_id": user_id,
                "refresh_token": refresh}

    def oauth_token(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """``/oauth/token/`` — errors per [fact sheet §1.4, EN:settings/oauth/error-codes.md; PY errors/oauth.py]."""
        grant = params.get("grant_type")
        if params.get("client_id") != self.client_id:
            return 200, {"error": "wrong_client", "error_description": "Wrong client"}
        if params.get("client_secret") != self.client_secret:
            return 400, {"error": "invalid_client", "error_description": "Invalid client credentials"}
        with self.lock:
            if grant == "authorization_code":
                for row in list(self.t("oauth_code").values()):
                    if row["CODE"] == params.get("code"):
                        self.t("oauth_code").delete(row["ID"])
                        if row["EXP"] < self.now():
                            break
                        return 200, self._new_tokens(row["USER"])
                return 400, {"error": "invalid_grant", "error_description": "Invalid authorization code"}
            if grant == "refresh_token":
                for row in self.t("oauth_token").values():
                    if row["REFRESH"] == params.get("refresh_token") and not row["REVOKED"] and row["REXP"] > self.now():
                        row["REVOKED"] = 1  # a refresh token is single-use; the new one replaces it
                        self.t("oauth_token").save(row)
                        return 200, self._new_tokens(row["USER"])
                return 400, {"error": "invalid_grant", "error_description": "Invalid refresh token"}
        return 400, {"error": "invalid_request", "error_description": "Unsupported grant_type"}

    def token_status(self, access: str) -> tuple[str, int | None]:
        for row in self.t("oauth_token").rows.values():
            if row["ACCESS"] == access:
                return ("expired" if row["EXP"] <= self.now() else "ok"), row["USER"]
        return "unknown", None

    def event_auth(self, handler: dict) -> dict[str, str]:
        auth = {"domain": self.domain, "client_endpoint": f"{self.base_url}/rest/",
                "server_endpoint": f"{self.base_url}/rest/", "member_id": self.member_id,
                "application_token": handler.get("APPLICATION_TOKEN") or self.application_token}
        if handler.get("APP"):  # applications also get the OAuth tokens of the user [EN:api-reference/events/index.md]
            tok = self._new_tokens(int(handler.get("AUTH_TYPE") or self.current_user_id or 1))
            auth = {"access_token": tok["access_token"], "expires": str(tok["expires"]),
                    "expires_in": str(self.access_ttl), "scope": tok["scope"], "domain": self.domain,
                    "server_endpoint": auth["server_endpoint"], "status": "L",
                    "client_endpoint": auth["client_endpoint"], "member_id": self.member_id,
                    "refresh_token": tok["refresh_token"], "application_token": auth["application_token"]}
        return auth

    def install_app(self, handler_url: str) -> None:
        """Send ``ONAPPINSTALL`` (with install-user tokens and the application token) [EN:api-reference/events/safe-event-handlers.md]."""
        h = {"ID": 0, "APP": self.client_id, "AUTH_TYPE": 1, "APPLICATION_TOKEN": self.application_token}
        payload = {"event": "ONAPPINSTALL", "event_handler_id": "0",
                   "data": {"VERSION": "1", "ACTIVE": "Y", "INSTALLED": "Y", "LANGUAGE_ID": "ru"},
                   "ts": str(int(self.now())), "auth": self.event_auth(h)}
        self.events.send(handler_url, payload)

    def add_outgoing_webhook(self, event: str, url: str) -> dict:
        """What an admin does in the UI (Developer resources → Outgoing webhook) [EN:local-integrations/local-webhooks.md]."""
        if event.upper() not in EVENTS:
            raise ValueError(f"unknown event {event}")
        token = secrets.token_hex(16)
        row = self.events.bind(None, event, url, 0, False, None, None, token)
        self.outgoing_webhooks.append(row)
        return row

    # ---- dispatch --------------------------------------------------------------------------------------------
    def call(self, ctx: Ctx, name: str, params: dict[str, Any]) -> Any:
        fn = METHODS.get(name)
        if fn is None:
            # [fact sheet §2.3: ERROR_METHOD_NOT_FOUND, 404; text "Method not found!" GH:mesilov/bitrix24-php-sdk#140]
            raise ApiError(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
        if ctx.scopes and SCOPES.get(name, "basic") not in ctx.scopes and SCOPES.get(name) != "basic":
            # [fact sheet §1.3: insufficient_scope, 403 per EN:_includes/system-errors.md]
            raise ApiError(403, "insufficient_scope",
                           "The request requires higher privileges than provided by the webhook token")
        with self.lock:
            self.current_user_id = ctx.user_id
            self.method_calls[name] += 1  # per-method counter (batch commands counted one by one), for tests
            return fn(self, ctx, params)


def fields_param(params: dict, required: bool = True) -> dict:
    f = p(params, "fields")
    if isinstance(f, list):
        f = {str(i): v for i, v in enumerate(f)} if f else None
    if not isinstance(f, dict):
        if required:
            # [fact sheet §9.3, EN:api-reference/crm/companies/crm-company-add.md]
            raise ApiError(400, "", "Parameter 'fields' must be array.")
        return {}
    return f


def list_param(v: Any) -> list:
    return php_list(v)

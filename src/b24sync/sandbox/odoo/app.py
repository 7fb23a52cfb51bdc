"""The Odoo sandbox's HTTP surfaces (fact sheet ../shared/research/other-erps-and-bus.md §1.1–1.4, checklist §1.11):

* JSON-RPC ``POST /jsonrpc`` — ``{"jsonrpc": "2.0", "method": "call", "params": {service, method, args}}`` with the
  ``common`` (``version``, ``login``, ``authenticate``), ``object`` (``execute``, ``execute_kw``) and ``db``
  (``list``, ``server_version``) services; errors are HTTP 200 with ``error: {code: 200, message: "Odoo Server
  Error", data: {name, message, arguments, context, debug}}``;
* the web client's JSON routes OdooRPC and others use: ``/web/webclient/version_info``,
  ``/web/session/authenticate`` (session cookie), ``/web/dataset/call_kw[/<model>/<method>]``;
* XML-RPC ``/xmlrpc/2/common`` and ``/xmlrpc/2/object`` with fault codes 1 (application error, traceback),
  2 (UserError / ValidationError / MissingError), 3 (AccessDenied), 4 (AccessError);
* JSON-2 ``POST /json/2/<model>/<method>`` (19.0+): ``Authorization: bearer <API key>``, optional
  ``X-Odoo-Database``, a JSON object of **named** parameters plus ``ids`` and ``context``; real HTTP statuses
  (401, 403, 404, 422) with ``{name, message, arguments, context, debug}``; ``GET /web/version``.

Which transports answer depends on the emulated ``version``: ≤ 18 RPC only; 19–21 both; 22 JSON-2 only.
Every call is one transaction: its writes carry the call's start time as ``write_date``.
"""

from __future__ import annotations

import json
import random
import secrets
import traceback
import xmlrpc.client
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from b24sync.sandbox.odoo.db import (
    AccessDenied,
    AccessError,
    ArgumentError,
    Database,
    MissingError,
    NotFound,
    OdooError,
    UserError,
    ValidationError,
    fields_of,
)
from b24sync.sandbox.odoo.domain import search

MAX_BODY = 10 * 1024 * 1024


@dataclass
class OdooSandboxConfig:
    version: str = "19.0"
    database: str = "b24sync"
    users: dict[str, str] = field(default_factory=lambda: {"admin": "admin"})  # login -> password
    api_keys: dict[str, str] = field(default_factory=lambda: {"sandbox-odoo-key": "admin"})  # key -> login
    in_payment_state: bool = False
    fail_rate: float = 0.0  # share of calls answered with a transient error before anything is applied
    lost_answer_rate: float = 0.0  # share of write calls applied, then answered 504 by "the proxy" (timeout)
    backdate_seconds: int = 0  # writes stamped this much earlier: a slow transaction committing "in the past"
    seed: int | None = None

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])


_WRITES = {"create", "write", "unlink", "action_confirm", "action_cancel", "action_draft", "action_post",
           "button_draft"}
_SIGNATURES: dict[str, tuple[str, ...]] = {  # positional parameter names of the ORM methods (after ids)
    "search": ("domain", "offset", "limit", "order", "count"), "search_count": ("domain", "limit"),
    "search_read": ("domain", "fields", "offset", "limit", "order", "load"), "read": ("fields", "load"),
    "create": ("vals_list",), "write": ("vals",), "unlink": (), "fields_get": ("allfields", "attributes"),
    "name_search": ("name", "domain", "operator", "limit"), "context_get": (),
    "action_confirm": (), "action_cancel": (), "action_draft": (), "action_post": (), "button_draft": (),
}
_MODEL_METHODS = {"search", "search_count", "search_read", "create", "fields_get", "name_search", "context_get"}


class Server:
    def __init__(self, cfg: OdooSandboxConfig, db: Database) -> None:
        self.cfg, self.db = cfg, db
        self.rng = random.Random(cfg.seed)
        self.sessions: dict[str, int] = {}
        self.calls = 0

    # ---- identity ----------------------------------------------------------------------------------------------
    def uid_of(self, login: str) -> int | None:
        return next((u["id"] for u in self.db.tables["res.users"].values() if u["login"] == login), None)

    def authenticate(self, database: str, login: str, secret: str) -> int:
        if database != self.cfg.database:
            raise AccessDenied(f'database "{database}" does not exist')
        ok = self.cfg.users.get(login) == secret or self.cfg.api_keys.get(secret) == login
        uid = self.uid_of(login) if ok else None
        if uid is None:
            raise AccessDenied("Access Denied")
        return uid

    # ---- the ORM call -----------------------------------------------------------------------------------------
    def execute(self, model: str, method: str, args: list[Any], kwargs: dict[str, Any], uid: int) -> Any:
        """``execute_kw(model, method, args, kwargs)``: ``args[0]`` is the ids for record methods."""
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise ArgumentError("execute_kw expects a list of arguments and a dictionary of keyword arguments")
        fields_of(model) if model in self.db.tables else self.db.table(model)
        if method not in _SIGNATURES:
            raise AttributeError(f"The method '{method}' does not exist on the model '{model}'")
        kwargs = {k: v for k, v in kwargs.items() if k != "context"}
        if method in _MODEL_METHODS:
            ids: list[int] = []
            positional = args
        else:
            if not args:
                raise ArgumentError(f"{model}.{method}() missing 1 required positional argument: 'ids'")
            ids = [args[0]] if isinstance(args[0], int) else list(args[0] or [])
            positional = args[1:]
        names = _SIGNATURES[method]
        if len(positional) > len(names):
            raise ArgumentError(f"{method}() takes {len(names)} positional arguments but {len(positional)} were given")
        params = dict(zip(names, positional))
        dup = set(params) & set(kwargs)
        if dup:
            raise ArgumentError(f"{method}() got multiple values for argument '{sorted(dup)[0]}'")
        params.update(kwargs)
        unknown = set(params) - set(names)
        if unknown:
            raise ArgumentError(f"{method}() got an unexpected keyword argument '{sorted(unknown)[0]}'")
        return self.run(model, method, ids, params, uid)

    def run(self, model: str, method: str, ids: list[int], p: dict[str, Any], uid: int) -> Any:
        db = self.db
        self.calls += 1
        if self.cfg.fail_rate and self.rng.random() < self.cfg.fail_rate:
            raise Transient()
        from datetime import UTC, datetime, timedelta

        now = (db.clock() if db.clock else datetime.now(UTC)) - timedelta(seconds=self.cfg.backdate_seconds)
        stamp = now.strftime("%Y-%m-%d %H:%M:%S")  # the transaction's start, second precision (§1.6)
        with db.lock:
            result = self._run(model, method, ids, p, uid, stamp)
        if method in _WRITES and self.cfg.lost_answer_rate and self.rng.random() < self.cfg.lost_answer_rate:
            raise LostAnswer()  # applied and committed; the answer never reaches the client
        return result

    def _run(self, model: str, method: str, ids: list[int], p: dict[str, Any], uid: int, stamp: str) -> Any:
        db = self.db
        try:
            if method == "search":
                found = search(db, model, p.get("domain") or [], offset=int(p.get("offset") or 0),
                               limit=p.get("limit") or None, order=p.get("order"))
                return len(found) if p.get("count") else found
            if method == "search_count":
                return len(search(db, model, p.get("domain") or [], limit=p.get("limit") or None))
            if method == "search_read":
                found = search(db, model, p.get("domain") or [], offset=int(p.get("offset") or 0),
                               limit=p.get("limit") or None, order=p.get("order"))
                return db.read(model, found, p.get("fields") or None, classic=p.get("load", "_classic_read") ==
                               "_classic_read")
            if method == "read":
                return db.read(model, ids, p.get("fields") or None, classic=p.get("load", "_classic_read") ==
                               "_classic_read")
            if method == "create":
                vals = p.get("vals_list")
                if isinstance(vals, dict):
                    return db.create(model, vals, uid, stamp)
                if not isinstance(vals, list) or not vals:
                    raise ArgumentError("create() expects a dictionary or a non-empty list of dictionaries")
                return [db.create(model, v, uid, stamp) for v in vals]
            if method == "write":
                return db.write(model, ids, p.get("vals") or {}, uid, stamp)
            if method == "unlink":
                return db.unlink(model, ids)
            if method == "fields_get":
                attrs = p.get("attributes") or ["string", "type", "relation", "selection", "readonly", "required"]
                allf = p.get("allfields") or list(fields_of(model))
                out = {}
                for n in allf:
                    f = fields_of(model).get(n)
                    if f is None:
                        continue
                    full = {"string": f.string or n, "type": f.type, "readonly": f.readonly, "required": f.required,
                            "store": True, "searchable": True, "sortable": True}
                    if f.relation:
                        full["relation"] = f.relation
                    if f.selection:
                        full["selection"] = [list(s) for s in f.selection]
                    out[n] = {k: v for k, v in full.items() if k in attrs}
                return out
            if method == "name_search":
                dom = list(p.get("domain") or []) + ([["name", p.get("operator") or "ilike", p["name"]]]
                                                     if p.get("name") else [])
                found = search(db, model, dom, limit=int(p.get("limit") or 100))
                return [[i, db.display_name(model, i)] for i in found]
            return db.call_method(model, method, ids, uid, stamp)
        except ValueError as e:
            raise ValidationError(str(e)) from None


class Transient(Exception):
    pass


class LostAnswer(Exception):
    pass


def _error_data(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, OdooError):
        name, message = exc.name, exc.message
    elif isinstance(exc, AttributeError):
        name, message = "builtins.AttributeError", str(exc)
    else:
        name, message = f"builtins.{type(exc).__name__}", str(exc)
    debug = "Traceback (most recent call last):\n  File \"/opt/odoo/odoo/http.py\", line 2138, in _serve_db\n" \
            f"{name}: {message}"
    return {"name": name, "message": message, "arguments": [message], "context": {}, "debug": debug}


def create_app(cfg: OdooSandboxConfig | None = None, db: Database | None = None) -> FastAPI:
    cfg = cfg or OdooSandboxConfig()
    db = db or Database(name=cfg.database, in_payment_state=cfg.in_payment_state)
    srv = Server(cfg, db)
    app = FastAPI(title="b24sync Odoo sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.server, app.state.db = srv, db
    rpc_on, json2_on = cfg.major <= 21, cfg.major >= 19

    async def body_json(request: Request) -> Any:
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise ArgumentError("request body too large")
        try:
            return json.loads(raw or b"null")
        except ValueError:
            raise ArgumentError("Invalid JSON data") from None

    def rpc_reply(rid: Any, result: Any = None, exc: BaseException | None = None) -> Response:
        if isinstance(exc, LostAnswer):
            return Response("<html><body><h1>504 Gateway Time-out</h1></body></html>", 504, media_type="text/html")
        if isinstance(exc, Transient):
            return Response("<html><body><h1>502 Bad Gateway</h1></body></html>", 502, media_type="text/html")
        if exc is not None:
            return JSONResponse({"jsonrpc": "2.0", "id": rid, "error": {"code": 200, "message": "Odoo Server Error",
                                                                        "data": _error_data(exc)}})
        return JSONResponse({"jsonrpc": "2.0", "id": rid, "result": result})

    def version_info() -> dict[str, Any]:
        parts = [int(x) for x in cfg.version.split(".")[:2]]
        return {"server_version": cfg.version, "server_version_info": [*parts, 0, "final", 0, ""],
                "server_serie": cfg.version, "protocol_version": 1}

    def dispatch(service: str, method: str, args: list[Any]) -> Any:
        if not isinstance(args, list):
            raise ArgumentError("args must be a list")
        if service == "common":
            if method == "version":
                return version_info()
            if method in ("login", "authenticate"):
                if len(args) < 3:
                    raise ArgumentError(f"{method}() missing required arguments: db, login, password")
                try:
                    return srv.authenticate(str(args[0]), str(args[1]), str(args[2]))
                except AccessDenied:
                    return False  # common.login answers False for a wrong login (no error)
            raise NotFound(f"method {method!r} not found in service common")
        if service == "object":
            if method not in ("execute", "execute_kw") or len(args) < 5:
                raise ArgumentError("object.execute_kw(db, uid, password, model, method, args, kwargs)")
            database, uid, secret, model, meth = args[:5]
            login = next((u["login"] for u in db.tables["res.users"].values() if u["id"] == uid), None)
            if login is None or srv.authenticate(str(database), login, str(secret)) != uid:
                raise AccessDenied("Access Denied")
            if method == "execute":
                margs, mkw = list(args[5:]), {}
            else:
                margs = args[5] if len(args) > 5 else []
                mkw = args[6] if len(args) > 6 else {}
            return srv.execute(str(model), str(meth), margs, mkw or {}, uid)
        if service == "db":
            if method == "list":
                return [cfg.database]
            if method == "server_version":
                return cfg.version
            raise AccessDenied("Access Denied")  # dump/restore/create/drop are not for integrations
        raise NotFound(f"service {service!r} not found")

    if rpc_on:
        @app.post("/jsonrpc")
        async def jsonrpc(request: Request) -> Response:
            rid = None
            try:
                body = await body_json(request)
                if not isinstance(body, dict) or not isinstance(body.get("params"), dict):
                    raise ArgumentError("a JSON-RPC 2.0 call with params {service, method, args}")
                rid = body.get("id")
                p = body["params"]
                return rpc_reply(rid, dispatch(str(p.get("service")), str(p.get("method")), p.get("args") or []))
            except Exception as exc:  # noqa: BLE001 - every error is a JSON-RPC error, as Odoo answers
                return rpc_reply(rid, exc=exc)

        @app.post("/web/webclient/version_info")
        async def web_version_info(request: Request) -> Response:
            body = await body_json(request)
            return rpc_reply(body.get("id") if isinstance(body, dict) else None, version_info())

        @app.post("/web/session/authenticate")
        async def web_authenticate(request: Request) -> Response:
            body = await body_json(request)
            rid = body.get("id") if isinstance(body, dict) else None
            p = (body or {}).get("params") or {}
            try:
                uid = srv.authenticate(str(p.get("db")), str(p.get("login")), str(p.get("password")))
            except Exception as exc:  # noqa: BLE001
                return rpc_reply(rid, exc=exc)
            sid = secrets.token_hex(20)
            srv.sessions[sid] = uid
            resp = rpc_reply(rid, {"uid": uid, "db": cfg.database, "user_context": {"lang": "ru_RU", "uid": uid},
                                   "server_version": cfg.version})
            resp.set_cookie("session_id", sid, httponly=True)
            return resp

        @app.post("/web/dataset/call_kw")
        @app.post("/web/dataset/call_kw/{path:path}")
        async def call_kw(request: Request, path: str = "") -> Response:
            rid = None
            try:
                body = await body_json(request)
                rid = body.get("id") if isinstance(body, dict) else None
                uid = srv.sessions.get(request.cookies.get("session_id", ""))
                if uid is None:
                    return JSONResponse({"jsonrpc": "2.0", "id": rid, "error": {
                        "code": 100, "message": "Odoo Session Expired",
                        "data": {"name": "odoo.http.SessionExpiredException", "message": "Session expired",
                                 "arguments": ["Session expired"], "context": {}, "debug": ""}}})
                p = body.get("params") or {}
                return rpc_reply(rid, srv.execute(str(p.get("model")), str(p.get("method")), p.get("args") or [],
                                                  p.get("kwargs") or {}, uid))
            except Exception as exc:  # noqa: BLE001
                return rpc_reply(rid, exc=exc)

        @app.post("/xmlrpc/2/{service}")
        async def xmlrpc(service: str, request: Request) -> Response:
            raw = await request.body()
            try:
                params, method = xmlrpc.client.loads(raw, use_builtin_types=True)
            except Exception:  # noqa: BLE001
                return Response(xmlrpc.client.dumps(xmlrpc.client.Fault(1, "Invalid XML-RPC request"),
                                                    methodresponse=True), media_type="text/xml")
            try:
                result = dispatch(service, str(method), list(params))
                body = xmlrpc.client.dumps((_xml_safe(result),), methodresponse=True, allow_none=False)
            except LostAnswer:
                return Response("<html><body><h1>504 Gateway Time-out</h1></body></html>", 504,
                                media_type="text/html")
            except Transient:
                return Response("<html><body><h1>502 Bad Gateway</h1></body></html>", 502, media_type="text/html")
            except Exception as exc:  # noqa: BLE001 - fault codes per the sheet §1.4
                if isinstance(exc, AccessDenied):
                    code, text = 3, exc.message
                elif isinstance(exc, AccessError):
                    code, text = 4, exc.message
                elif isinstance(exc, (UserError, ValidationError, MissingError)):
                    code, text = 2, exc.message
                else:
                    code, text = 1, traceback.format_exc()
                body = xmlrpc.client.dumps(xmlrpc.client.Fault(code, text), methodresponse=True)
            return Response(body, media_type="text/xml")

    if json2_on:
        def json2_error(exc: BaseException) -> Response:
            if isinstance(exc, LostAnswer):
                return Response("<html><body><h1>504 Gateway Time-out</h1></body></html>", 504, media_type="text/html")
            if isinstance(exc, Transient):
                return Response("<html><body><h1>502 Bad Gateway</h1></body></html>", 502, media_type="text/html")
            status = exc.status if isinstance(exc, OdooError) else (404 if isinstance(exc, AttributeError) else 500)
            return JSONResponse(_error_data(exc), status_code=status)

        @app.post("/json/2/{model}/{method}")
        async def json2(model: str, method: str, request: Request) -> Response:
            try:
                auth = request.headers.get("Authorization", "")
                scheme, _, key = auth.partition(" ")
                login = cfg.api_keys.get(key.strip()) if scheme.lower() == "bearer" else None
                if login is None:
                    raise AccessDenied("Invalid apikey")
                want_db = request.headers.get("X-Odoo-Database")
                if want_db is not None and want_db != cfg.database:
                    raise NotFound(f'database "{want_db}" does not exist')
                uid = srv.uid_of(login) or 0
                body = await body_json(request)
                if not isinstance(body, dict):
                    raise ArgumentError("the body must be a JSON object of named parameters")
                if model not in db.tables:
                    raise NotFound(f"Model {model!r} does not exist")
                if method not in _SIGNATURES:
                    raise NotFound(f"The method {method!r} does not exist on the model {model!r}")
                params = {k: v for k, v in body.items() if k not in ("ids", "context")}
                if method in _MODEL_METHODS:
                    if body.get("ids"):
                        raise ArgumentError(f"cannot call {model}.{method} with ids")
                    ids: list[int] = []
                else:
                    ids = list(body.get("ids") or [])
                unknown = set(params) - set(_SIGNATURES[method])
                if unknown:
                    raise ArgumentError(f"{method}() got an unexpected keyword argument '{sorted(unknown)[0]}'")
                return JSONResponse(srv.run(model, method, ids, params, uid))
            except Exception as exc:  # noqa: BLE001
                return json2_error(exc)

        @app.get("/web/version")
        async def web_version() -> Response:
            return JSONResponse({"version": cfg.version, "version_info": version_info()["server_version_info"]})

    # ---- test control ---------------------------------------------------------------------------------------
    @app.post("/_sandbox/register_payment")
    async def register_payment(request: Request) -> Response:
        """A bank reconciliation: pay an invoice in full (or ``amount``)."""
        body = await body_json(request)
        from datetime import UTC, datetime

        stamp = (db.clock() if db.clock else datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S")
        try:
            with db.lock:
                out = db.register_payment(int(body["move_id"]), body.get("amount"), stamp)
        except OdooError as exc:
            return JSONResponse(_error_data(exc), status_code=exc.status)
        return JSONResponse(out)

    @app.get("/_sandbox/state")
    async def state() -> Response:
        return JSONResponse({m: len(t) for m, t in db.tables.items()} | {"calls": srv.calls})

    return app


def _xml_safe(value: Any) -> Any:
    """XML-RPC has no None (``allow_none=False``, §1.3): Odoo answers False."""
    if value is None:
        return False
    if isinstance(value, dict):
        return {str(k): _xml_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_xml_safe(v) for v in value]
    return value

"""HTTP layer: routing, parameter parsing, authentication, throttles, envelopes, ``batch``, fault injection."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .model import atom
from .phpquery import nest_pairs, parse_query, php_json, php_list
from .portal import ApiError, Ctx, Page, as_int, p

QUERY_LIMIT = {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}  # [§9.14, GH:b24-rest-docs#193]
OPERATION_LIMIT = {"error": "OPERATION_TIME_LIMIT",
                   "error_description": "Method is blocked due to operation time limit."}  # [§9.14, GH:fast_bitrix24#220]
MAX_BATCH = 50  # [§3.4, EN:settings/how-to-call-rest-api/batch.md]
_REF = re.compile(r"\$result\[([^\]]+)\]((?:\[[^\]]*\])*)")


class Http(Exception):
    def __init__(self, status: int, body: Any) -> None:
        self.status, self.body = status, body


def jresp(status: int, body: Any) -> Response:
    return Response(json.dumps(body, ensure_ascii=False, separators=(",", ":")), status_code=status,
                    media_type="application/json; charset=utf-8")


class RestApp:
    def __init__(self, sandbox) -> None:
        self.sb = sandbox
        self.portal = sandbox.portal
        self.app = Starlette(routes=[
            Route("/oauth/token/", self.oauth_token, methods=["GET", "POST"]),
            Route("/oauth/token", self.oauth_token, methods=["GET", "POST"]),
            Route("/rest/{uid:int}/{code}/{method}", self.rest_webhook, methods=["GET", "POST"]),
            Route("/rest/{method}", self.rest_oauth, methods=["GET", "POST"]),
            Route("/_sandbox/robots/{code}/fire", self.fire_robot, methods=["POST"]),
        ])

    async def fire_robot(self, request: Request) -> Response:
        """Test hook (not a Bitrix24 API): run robot ``code`` on ``document`` (``COMPANY_12``) the way a workflow
        does — the sandbox POSTs the call to the robot's handler. Returns the handler's status and the event token."""
        from .bizproc import fire_robot

        params = await self.params(request)
        document = str(params.get("document") or "")
        try:
            status, body = await asyncio.to_thread(fire_robot, self.portal, request.path_params["code"], document)
        except ValueError as e:
            return jresp(400, {"error": "ERROR_ARGUMENT", "error_description": str(e)})
        except Exception as e:  # noqa: BLE001 - the handler is down: say so, like the portal's log would
            return jresp(502, {"error": "HANDLER_UNREACHABLE", "error_description": repr(e)})
        call = self.portal.robot_calls[-1]
        return jresp(200, {"result": {"handler_status": status, "event_token": call["event_token"]}})

    # ---- parsing -------------------------------------------------------------------------------------------------
    async def params(self, request: Request) -> dict[str, Any]:
        pairs = list(parse_qsl(request.url.query, keep_blank_values=True))
        params = nest_pairs(pairs)
        if request.method == "POST":
            ctype = request.headers.get("content-type", "")
            body = await request.body()
            if "json" in ctype or (body[:1] in (b"{", b"[") and "form" not in ctype):
                try:
                    data = json.loads(body or b"{}")
                except ValueError:
                    data = {}
                if isinstance(data, dict):
                    params.update(data)
            elif "multipart" in ctype:
                form = await request.form()
                params.update(nest_pairs([(k, v if isinstance(v, str) else "") for k, v in form.multi_items()]))
            elif body:
                params.update(nest_pairs(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)))
        return params

    # ---- envelope ---------------------------------------------------------------------------------------------------
    def time_block(self, t0: float, perf0: float, operating: float | None = None, reset_at: int | None = None) -> dict:
        # `time` object [§2.2, EN:api-reference/data-types.md §Time Object]
        dur = time.perf_counter() - perf0
        tb = {"start": t0, "finish": t0 + dur, "duration": dur, "processing": dur,
              "date_start": atom(t0), "date_finish": atom(t0 + dur)}
        if operating is not None:
            tb["operating_reset_at"] = reset_at
            tb["operating"] = round(operating, 6)
        return tb

    # ---- auth ------------------------------------------------------------------------------------------------------
    def auth_webhook(self, uid: int, code: str) -> Ctx:
        key = (uid, code)
        if key not in self.portal.webhooks:
            # wrong user id / code in the path → 401 INVALID_CREDENTIALS [§1.3, EN:crm-item-import.md; §9.14]
            raise Http(401, {"error": "INVALID_CREDENTIALS", "error_description": "Invalid request credentials"})
        scopes = self.portal.webhooks[key]
        return Ctx(principal=f"webhook:{uid}", user_id=uid, auth_type="webhook", scopes=set(scopes or ()))

    def auth_token(self, params: dict) -> Ctx:
        token = params.get("auth")
        if not token:
            raise Http(401, {"error": "NO_AUTH_FOUND", "error_description": "Wrong authorization data"})  # [§1.3]
        status, uid = self.portal.token_status(str(token))
        if status == "unknown":
            raise Http(401, {"error": "invalid_token", "error_description": "Unable to get application by token"})
        if status == "expired":
            raise Http(401, {"error": "expired_token", "error_description": "The access token provided has expired."})
        return Ctx(principal=f"app:{self.portal.client_id}", user_id=uid or 1, app_id=self.portal.client_id,
                   auth_type="oauth")

    # ---- routes ----------------------------------------------------------------------------------------------------
    async def oauth_token(self, request: Request) -> Response:
        params = await self.params(request)
        status, body = self.portal.oauth_token({k: str(v) for k, v in params.items() if isinstance(v, str)})
        return jresp(status, body)

    async def rest_webhook(self, request: Request) -> Response:
        return await self.handle(request, request.path_params["method"],
                                 lambda params: self.auth_webhook(request.path_params["uid"], request.path_params["code"]))

    async def rest_oauth(self, request: Request) -> Response:
        return await self.handle(request, request.path_params["method"], self.auth_token)

    async def handle(self, request: Request, raw_method: str, authenticate) -> Response:
        sb = self.sb
        t0, perf0 = self.portal.now(), time.perf_counter()
        name = raw_method.lower()
        if name.endswith(".json"):
            name = name[:-5]
        sb.stats["requests"] += 1
        ip = request.client.host if request.client else "127.0.0.1"
        if not sb.bucket.try_acquire(ip):
            sb.stats["query_limit_exceeded"] += 1
            return jresp(503, QUERY_LIMIT)  # [§3.2, EN:limits.md]
        fault = sb.take_fault(name)
        if sb.latency_ms:
            await asyncio.sleep(sb.latency_ms / 1000.0)
        if fault == "timeout":
            await asyncio.sleep(sb.timeout_seconds)
            return Response("<html><body><h1>504 Gateway Time-out</h1></body></html>", 504, media_type="text/html")
        if fault == "503" or (fault is None and sb.fail_rate and sb.rng.random() < sb.fail_rate / 2):
            sb.stats["injected_faults"] += 1
            # gateway errors come back as HTML, not JSON [§2.3 "Real-world", GH:fast_bitrix24#216]
            return Response("<html><head><title>503 Service Temporarily Unavailable</title></head><body>"
                            "<center><h1>503 Service Temporarily Unavailable</h1></center></body></html>", 503,
                            media_type="text/html")
        if fault == "500" or (fault is None and sb.fail_rate and sb.rng.random() < sb.fail_rate / 2):
            sb.stats["injected_faults"] += 1
            return jresp(500, {"error": "INTERNAL_SERVER_ERROR", "error_description": "Internal server error"})
        try:
            params = await self.params(request)
            ctx = authenticate(params)
            params.pop("auth", None)
            ctx.connector = params.pop("auth_connector", None) if name not in ("event.bind", "event.offline.get") \
                else params.get("auth_connector")
            if name == "crm.controller.item.getfile":
                return self.get_file(params)
            if name == "batch":
                lost: list[str] = []
                body = self.batch(ctx, params, lost)
                body["time"] = self.time_block(t0, perf0)
                if lost:
                    return self.lost_answer()
                return jresp(200, body)
            status, body = self.run_one(ctx, name, params, t0, perf0)
            if fault == "lost":
                return self.lost_answer()
            return jresp(status, body)
        except Http as h:
            return jresp(h.status, h.body)

    def lost_answer(self) -> Response:
        """``force(method, "lost")``: the call was applied and its answer is lost on the way (a gateway page)."""
        self.sb.stats["injected_faults"] += 1
        return Response("<html><body><h1>504 Gateway Time-out</h1></body></html>", 504, media_type="text/html")

    def get_file(self, params: dict) -> Response:
        """The ``urlMachine`` of a crm.item file value: the file's bytes for an authenticated REST caller (the
        method name and its parameters are as the portal puts them into ``urlMachine``; reading it as a REST
        download is our assumption — document-flows.md A.1 names the field, not its use)."""
        f = self.portal.files.get(as_int(params.get("fileId")) or -1)
        if f is None:
            return jresp(404, {"error": "NOT_FOUND", "error_description": "File not found"})
        return Response(f["content"], 200, media_type="application/octet-stream",
                        headers={"Content-Disposition": "attachment"})

    def run_one(self, ctx: Ctx, name: str, params: dict, t0: float, perf0: float) -> tuple[int, dict]:
        ledger = self.sb.ledger
        ctx.method = name
        if name in self.portal_methods() and ledger.blocked(ctx.principal, name):
            self.sb.stats["operation_time_limit"] += 1
            return 429, dict(OPERATION_LIMIT)  # [§3.3, EN:limits.md]
        try:
            result = self.portal.call(ctx, name, params)
        except ApiError as e:
            return e.status, e.body()
        operating, reset_at = ledger.charge(ctx.principal, name, ctx.cost)
        body: dict[str, Any] = {}
        if isinstance(result, Page):
            body["result"] = php_json(result.result) if isinstance(result.result, dict) else result.result
            if result.next is not None:
                body["next"] = result.next
            body["total"] = result.total if result.total is not None else 0
        else:
            body["result"] = php_json(result) if isinstance(result, dict) else result
        body["time"] = self.time_block(t0, perf0, operating, reset_at)
        return 200, body

    def portal_methods(self):
        from .portal import METHODS
        return METHODS

    # ---- batch [§4, EN:settings/how-to-call-rest-api/batch.md] --------------------------------------------------------
    def batch(self, ctx: Ctx, params: dict, lost: list[str] | None = None) -> dict:
        cmd = p(params, "cmd", {})
        halt = str(p(params, "halt", 0)).lower() in ("1", "true", "y")
        if isinstance(cmd, list):
            cmd = {str(i): v for i, v in enumerate(cmd)}
        if not isinstance(cmd, dict):
            cmd = {}
        if len(cmd) > MAX_BATCH:
            raise Http(400, {"error": "ERROR_BATCH_LENGTH_EXCEEDED", "error_description": "Max batch length exceeded"})
        res: dict[str, Any] = {}
        errs: dict[str, Any] = {}
        totals: dict[str, Any] = {}
        nexts: dict[str, Any] = {}
        times: dict[str, Any] = {}
        for key, line in cmd.items():
            key = str(key)
            line = str(line)
            meth, _, qs = line.partition("?")
            meth = meth.strip().lower()
            if meth.endswith(".json"):
                meth = meth[:-5]
            sub = self.substitute(parse_query(qs), res)
            t0, perf0 = self.portal.now(), time.perf_counter()
            inner_fault = self.sb.take_fault(f"batch:{meth}")  # sandbox.force("batch:<method>", "500"): one command fails
            if lost is not None and self.sb.take_lost(meth):
                lost.append(meth)  # sandbox.force(method, "lost") inside a batch: applied, the whole answer lost
            if meth == "batch":
                errs[key] = {"error": "ERROR_BATCH_METHOD_NOT_ALLOWED", "error_description": "Method is not allowed for batch usage"}
            elif inner_fault is not None:
                errs[key] = {"error": "INTERNAL_SERVER_ERROR", "error_description": "Internal server error"}
            else:
                sctx = Ctx(principal=ctx.principal, user_id=ctx.user_id, app_id=ctx.app_id, auth_type=ctx.auth_type,
                           connector=sub.pop("auth_connector", None) or ctx.connector, in_batch=True, scopes=ctx.scopes)
                sub.pop("auth", None)
                status, body = self.run_one(sctx, meth, sub, t0, perf0)
                if status == 200:
                    res[key] = body["result"]
                    if "total" in body and isinstance(body.get("total"), int) and ("next" in body or body["total"]):
                        totals[key] = body["total"]
                    if "next" in body:
                        nexts[key] = body["next"]
                    times[key] = body["time"]
                else:
                    errs[key] = {"error": body.get("error"), "error_description": body.get("error_description", "")}
            if key in errs and halt:
                break
        self.sb.stats["batch_commands"] += len(res) + len(errs)
        return {"result": {"result": php_json(res), "result_error": php_json(errs), "result_total": php_json(totals),
                           "result_next": php_json(nexts), "result_time": php_json(times)}}

    def substitute(self, params: Any, results: dict[str, Any]) -> Any:
        """Resolve ``$result[key][path…]`` references to earlier commands' results."""
        if isinstance(params, dict):
            return {k: self.substitute(v, results) for k, v in params.items()}
        if not isinstance(params, str) or "$result[" not in params:
            return params

        def lookup(m: re.Match) -> Any:
            cur: Any = results.get(m.group(1))
            for part in re.findall(r"\[([^\]]*)\]", m.group(2)):
                if isinstance(cur, list):
                    cur = cur[int(part)] if part.isdigit() and int(part) < len(cur) else None
                elif isinstance(cur, dict):
                    cur = cur.get(part)
                else:
                    cur = None
            return cur

        full = _REF.fullmatch(params)
        if full:
            v = lookup(full)
            if isinstance(v, (list, dict)):
                return {str(i): x for i, x in enumerate(php_list(v))} if isinstance(v, list) else v
            # unresolved references become empty (sandbox choice; not documented, see docs "Known differences")
            return "" if v is None else (str(v) if not isinstance(v, bool) else ("1" if v else ""))
        return _REF.sub(lambda m: "" if lookup(m) is None else str(lookup(m)), params)

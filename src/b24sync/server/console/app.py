"""The operator console at ``/console/`` (docs/operations.md): FastAPI + Jinja2 + vendored htmx, no front-end build,
nothing fetched at run time.

Closed by default: it answers only when ``B24SYNC_CONSOLE_TOKEN`` (operator) and/or ``B24SYNC_CONSOLE_VIEWER_TOKEN``
(viewer) is set; a person logs in with the token and gets a signed, HTTP-only session cookie (SameSite=Strict,
8 hours). Every action is a POST that must carry the session's CSRF token and, when the browser sends one, a
``Sec-Fetch-Site: same-origin`` header; a viewer may look, not act; every operator action is written to the audit
log. Russian by default, English with ``?lang=en``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape

from b24sync.engine.runtime import Runtime
from b24sync.server.console import data
from b24sync.server.console.texts import TEXTS

HERE = Path(__file__).resolve().parent
SESSION = "b24sync_console"
TTL = 8 * 3600


class ConsoleAuth:
    def __init__(self, operator: str | None, viewer: str | None) -> None:
        self.tokens = {r: t for r, t in (("operator", operator), ("viewer", viewer)) if t}
        self.key = secrets.token_bytes(32)  # sessions end with the process: log in again after a restart

    @classmethod
    def from_env(cls) -> ConsoleAuth:
        return cls(os.environ.get("B24SYNC_CONSOLE_TOKEN"), os.environ.get("B24SYNC_CONSOLE_VIEWER_TOKEN"))

    @property
    def enabled(self) -> bool:
        return bool(self.tokens)

    def role_for(self, token: str) -> str | None:
        for role, t in self.tokens.items():
            if hmac.compare_digest(token.encode(), t.encode()):
                return role
        return None

    def _sign(self, body: str) -> str:
        return hmac.new(self.key, body.encode(), hashlib.sha256).hexdigest()

    def cookie(self, role: str) -> str:
        body = f"{role}|{int(time.time()) + TTL}|{secrets.token_hex(8)}"
        return f"{body}|{self._sign(body)}"

    def session(self, value: str | None) -> tuple[str, str] | None:
        """(role, session value) of a valid cookie."""
        if not value or value.count("|") != 3:
            return None
        body, sig = value.rsplit("|", 1)
        if not hmac.compare_digest(sig, self._sign(body)):
            return None
        role, until, _ = body.split("|")
        if int(until) < time.time() or role not in self.tokens:
            return None
        return role, value

    def csrf(self, session_value: str) -> str:
        return self._sign(f"csrf|{session_value}")[:32]


def console_router(rt: Runtime, auth: ConsoleAuth | None = None) -> APIRouter:
    auth = auth or ConsoleAuth.from_env()
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
    env.filters["ago"] = pass_context(lambda ctx, dt: _ago(dt, ctx.get("lang", "ru")))
    env.filters["age"] = pass_context(lambda ctx, seconds: _age(seconds, ctx.get("lang", "ru")))
    router = APIRouter(prefix="/console")

    def lang(request: Request) -> str:
        v = request.query_params.get("lang") or request.cookies.get("b24sync_lang") or "ru"
        return v if v in TEXTS else "ru"

    def page(request: Request, name: str, role: str | None = None, csrf: str = "", **ctx: Any) -> HTMLResponse:
        lg = lang(request)
        html = env.get_template(name).render(t=TEXTS[lg], lang=lg, role=role, csrf=csrf, path=request.url.path,
                                             spec=rt.spec, **ctx)
        resp = HTMLResponse(html)
        resp.headers["Content-Security-Policy"] = ("default-src 'self'; script-src 'self'; style-src 'self'; "
                                                   "img-src 'self' data:; frame-ancestors 'none'")
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "same-origin"
        if request.query_params.get("lang") in TEXTS:
            resp.set_cookie("b24sync_lang", lg, samesite="strict")
        return resp

    def who(request: Request) -> tuple[str, str] | None:
        return auth.session(request.cookies.get(SESSION))

    def closed() -> Response:
        return PlainTextResponse("The console is closed: set B24SYNC_CONSOLE_TOKEN (operator) and/or "
                                 "B24SYNC_CONSOLE_VIEWER_TOKEN (viewer) in the environment of b24sync run.", 404)

    def gate(request: Request) -> tuple[str, str] | Response:
        if not auth.enabled:
            return closed()
        s = who(request)
        if s is None:
            return RedirectResponse(f"/console/login?next={request.url.path}", 303)
        return s

    def view(request: Request, template: str, context: Any) -> Response:
        """A page behind the login: ``context()`` is read only for a valid session."""
        s = gate(request)
        if isinstance(s, Response):
            return s
        return page(request, template, role=s[0], csrf=auth.csrf(s[1]), **context())

    def act(request: Request, csrf: str) -> tuple[str, str] | Response:
        """An action: operator only, same origin, with the session's CSRF token."""
        s = gate(request)
        if isinstance(s, Response):
            return s if not isinstance(s, RedirectResponse) else PlainTextResponse("login required", 401)
        role, value = s
        site = request.headers.get("sec-fetch-site")
        if site not in (None, "same-origin"):
            return PlainTextResponse("cross-site request refused", 403)
        if not hmac.compare_digest(csrf or request.headers.get("x-csrf-token", ""), auth.csrf(value)):
            return PlainTextResponse("CSRF token missing or wrong", 403)
        if role != "operator":
            return PlainTextResponse(TEXTS[lang(request)]["viewer_cannot"], 403)
        return s

    @router.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/console/") -> Response:  # noqa: A002
        if not auth.enabled:
            return closed()
        return page(request, "login.html", next=next if next.startswith("/console") else "/console/")

    @router.post("/login")
    def login(request: Request, token: str = Form(""), next: str = Form("/console/")) -> Response:  # noqa: A002
        if not auth.enabled:
            return closed()
        role = auth.role_for(token)
        if role is None:
            time.sleep(0.5)  # slows guessing; the token itself is long
            return page(request, "login.html", next=next, error=True)
        resp = RedirectResponse(next if next.startswith("/console") else "/console/", 303)
        resp.set_cookie(SESSION, auth.cookie(role), httponly=True, samesite="strict", max_age=TTL,
                        secure=request.url.scheme == "https")
        return resp

    @router.post("/logout")
    def logout(request: Request) -> Response:
        resp = RedirectResponse("/console/login", 303)
        resp.delete_cookie(SESSION)
        return resp

    @router.get("/", response_class=HTMLResponse)
    def overview(request: Request) -> Response:
        return view(request, "overview.html", lambda: dict(o=data.overview(rt)))

    @router.get("/queue", response_class=HTMLResponse)
    def queue(request: Request) -> Response:
        titles = {name: ent.title or name for name, ent in rt.spec.entities.items()}  # the operator's words
        return view(request, "queue.html", lambda: dict(groups=data.parked_groups(rt), live=data.active(rt),
                    titles=titles, notice=request.query_params.get("done")))

    @router.post("/replay")
    def replay(request: Request, csrf: str = Form(""), id: int | None = Form(None),  # noqa: A002
               entity: str | None = Form(None), reason_key: str | None = Form(None),
               all: bool = Form(False)) -> Response:  # noqa: A002
        s = act(request, csrf)
        if isinstance(s, Response):
            return s
        from b24sync.store import queue as jobs

        if id is not None:
            n, target = jobs.replay(rt.db, dead_letter_id=id), f"#{id}"
        elif all:
            n, target = jobs.replay(rt.db), "all"
        elif entity and reason_key:
            n, target = jobs.replay(rt.db, entity=entity, reason_key=reason_key), f"{entity}/{reason_key}"
        else:
            return PlainTextResponse("say what to replay: id, entity + reason_key, or all", 400)
        data.log_action(rt, s[0], "replay", target, n, request.client.host if request.client else "")
        return RedirectResponse(f"/console/queue?done=replayed:{n}", 303)

    @router.post("/discard")
    def discard(request: Request, csrf: str = Form(""), id: int = Form(...), why: str = Form("")) -> Response:  # noqa: A002
        s = act(request, csrf)
        if isinstance(s, Response):
            return s
        if not why.strip():
            return PlainTextResponse(TEXTS[lang(request)]["why_required"], 400)
        from b24sync.store import queue as jobs

        n = int(jobs.discard(rt.db, id, why=why.strip()[:500]))
        data.log_action(rt, s[0], "discard", f"#{id}: {why.strip()[:200]}", n,
                        request.client.host if request.client else "")
        return RedirectResponse(f"/console/queue?done=discarded:{n}", 303)

    @router.post("/resume")
    def resume(request: Request, csrf: str = Form(""), entity: str = Form(...)) -> Response:
        s = act(request, csrf)
        if isinstance(s, Response):
            return s
        from sqlalchemy import update

        from b24sync.store.models import EntityState

        with rt.db.begin() as conn:
            n = conn.execute(update(EntityState).where(EntityState.entity == entity)
                             .values(paused=False)).rowcount
        from b24sync.engine.drift import forget_baseline

        forget_baseline(rt, entity)  # the person approves the system as it is now (new types included)
        data.log_action(rt, s[0], "resume", entity, n, request.client.host if request.client else "")
        return RedirectResponse("/console/review", 303)

    @router.post("/review/decide")
    async def decide(request: Request, csrf: str = Form(""), proposal: str = Form(...),
                     decision: str = Form(...), keep: str | None = Form(None)) -> Response:
        s = act(request, csrf)
        if isinstance(s, Response):
            return s
        from urllib.parse import quote

        from b24sync.engine import review as rv

        try:
            done = await rv.decide(rt, proposal, decision, keep=keep or None, who=s[0])
        except rv.ReviewError as e:
            return RedirectResponse(f"/console/review?error={quote(str(e)[:300])}", 303)
        data.log_action(rt, s[0], f"review:{decision}", f"{proposal}: {done[:200]}", 1,
                        request.client.host if request.client else "")
        return RedirectResponse(f"/console/review?done={quote(done[:300])}", 303)

    @router.get("/history", response_class=HTMLResponse)
    def history(request: Request, q: str = "") -> Response:
        return view(request, "history.html", lambda: dict(q=q, rows=data.history(rt, q)))

    @router.get("/review", response_class=HTMLResponse)
    def review(request: Request) -> Response:
        return view(request, "review.html", lambda: dict(r=data.review(rt), notice=request.query_params.get("done"),
                                                         error=request.query_params.get("error")))

    @router.get("/audit", response_class=HTMLResponse)
    def audit(request: Request) -> Response:
        return view(request, "audit.html", lambda: dict(entries=data.audit(rt)))

    @router.get("/spec", response_class=HTMLResponse)
    def spec(request: Request) -> Response:
        from markdown_it import MarkdownIt

        from b24sync.spec.render import render_markdown

        return view(request, "spec.html", lambda: dict(body=MarkdownIt("commonmark", {"html": False})
                                                       .enable("table").render(render_markdown(rt.spec))))

    return router


def mount_console(app: Any, rt: Runtime, auth: ConsoleAuth | None = None) -> None:
    """Add the console's pages and its static files (htmx, CSS) to ``app``."""
    app.include_router(console_router(rt, auth))
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")


# the page's language for the units too: «8 с», «через 2 мин» on a Russian page, not "8 s", "через 2 min"
_UNITS = {"ru": ("с", "мин", "ч", "дн."), "en": ("s", "min", "h", "d")}


def _ago(dt: Any, lang: str = "ru") -> str:
    if not dt:
        return "—"
    from datetime import UTC, datetime

    return _age((datetime.now(UTC) - dt).total_seconds(), lang)


def _age(seconds: float | None, lang: str = "ru") -> str:
    if seconds is None:
        return "—"
    sec, mins, hours, days = _UNITS.get(lang, _UNITS["en"])
    s = int(seconds)
    if s < 120:
        return f"{s} {sec}"
    if s < 7200:
        return f"{s // 60} {mins}"
    if s < 172800:
        return f"{s // 3600} {hours}"
    return f"{s // 86400} {days}"

"""Kontur.Buhgalteria **model** sandbox — a model of the documented *behaviour*, not of the vendor's wire format.

⚠ Kontur.Buhgalteria has no public API documentation (fact sheet /work/shared/research/erp-side.md §5). This
sandbox therefore serves an API **we designed** (paths, JSON field names, auth header are ours) that behaves the way an
accounting system does in the flow b24sync automates: counterparties found by INN/KPP, invoices with VAT computed per
line and rounded to kopecks (§10.1), a printable PDF per invoice, payments that arrive later when "the bank statement
came in" (test hook or timer), acts, and an optional webhook on payment. The connector reaches it through the
generic HTTP/JSON adapter with the preset ``b24sync/connectors/kontur_buh/presets/sandbox-model.yaml``.

It never imports the connector; VAT arithmetic is written here a second time on purpose (the two sides must agree).

Model API (all JSON; money as decimal strings "1234.50"; auth ``Authorization: Bearer <key>``):

* ``GET  /api/v1/counterparties?inn=&kpp=`` → ``{"items": [...]}``; ``POST /api/v1/counterparties`` (idempotent on
  INN+KPP: returns the existing one with 200, a new one with 201)
* ``POST /api/v1/invoices`` (idempotent on ``external_id``) · ``GET /api/v1/invoices/{id}`` ·
  ``GET /api/v1/invoices/{id}/payments`` · ``GET /api/v1/invoices/{id}/pdf``
* ``POST /api/v1/acts`` (idempotent on ``external_id``) · ``GET /api/v1/acts/{id}`` · ``GET /api/v1/acts/{id}/pdf``
* errors: ``{"error": {"code": "...", "message": "..."}}`` with 400/401/404/409/422/429/500
* test hooks: ``POST /_sandbox/bank-statement`` ``{"invoice_id"|"invoice_number", "amount"?, "date"?}``,
  ``POST /_sandbox/advance`` ``{"seconds"}``, ``GET /_sandbox/state``, ``POST /_sandbox/reset``
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from b24sync.sandbox.diadok.pdf import make_pdf

RATES = {"22": Decimal(22), "20": Decimal(20), "10": Decimal(10), "7": Decimal(7), "5": Decimal(5),
         "0": Decimal(0), "none": None}
CENT = Decimal("0.01")


def _r2(d: Decimal) -> Decimal:
    return d.quantize(CENT, rounding=ROUND_HALF_UP)


def _s(d: Decimal) -> str:
    return f"{_r2(d):.2f}"


@dataclass
class KonturSandboxConfig:
    api_keys: set[str] = field(default_factory=lambda: {"sandbox-kontur-key"})
    pay_after: float = -1.0  # seconds after an invoice is issued until it is paid in full; < 0 → hook only
    webhook_url: str | None = None  # POSTed {"event": "payment.received", ...} when a payment arrives
    fail_rate: float = 0.0
    latency: float = 0.0
    seed: int | None = None
    org_name: str = "ООО «Ромашка» (песочница)"
    org_inn: str = "7736207543"
    clock: Callable[[], float] = time.time
    webhook_transport: httpx.AsyncBaseTransport | None = None  # tests route the webhook in-process


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _dec(v: Any, what: str) -> Decimal:
    try:
        d = Decimal(str(v).strip().replace(",", "."))
    except (InvalidOperation, AttributeError):
        raise ApiError(422, "invalid_number", f"{what}: {v!r} is not a number") from None
    if not d.is_finite():
        raise ApiError(422, "invalid_number", f"{what}: {v!r} is not a number")
    return d


class KonturWorld:
    def __init__(self, cfg: KonturSandboxConfig) -> None:
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.offset = 0.0
        self.reset()

    def reset(self) -> None:
        self.counterparties: dict[str, dict[str, Any]] = {}
        self.invoices: dict[str, dict[str, Any]] = {}
        self.acts: dict[str, dict[str, Any]] = {}
        self.by_external: dict[tuple[str, str], str] = {}
        self.inv_seq = 0
        self.act_seq = 0
        self._last_stamp = 0.0
        self.webhooks: list[dict[str, Any]] = []  # delivery log
        self.tasks: set[asyncio.Task] = set()

    def now(self) -> float:
        return self.cfg.clock() + self.offset

    def stamp(self) -> str:
        """A change time with microseconds, strictly increasing (a poll's cursor relies on it)."""
        t = max(self.now(), self._last_stamp + 1e-6)
        self._last_stamp = t
        return datetime.fromtimestamp(t, tz=timezone.utc).isoformat()

    def today(self) -> str:
        return datetime.fromtimestamp(self.now(), tz=timezone.utc).strftime("%Y-%m-%d")

    # -- invoices --------------------------------------------------------------------------------------------------
    def compute(self, lines_in: list[dict[str, Any]], vat_included: bool) -> tuple[list[dict[str, Any]], dict]:
        if not lines_in:
            raise ApiError(422, "no_lines", "An invoice needs at least one line")
        out, net_sum, vat_sum, total_sum, by_rate = [], Decimal(0), Decimal(0), Decimal(0), {}
        for i, ln in enumerate(lines_in):
            rate_key = str(ln.get("vat_rate", "")).strip().lower()
            if rate_key not in RATES:
                raise ApiError(422, "invalid_vat_rate", f"lines[{i}].vat_rate must be one of {sorted(RATES)}")
            qty, price = _dec(ln.get("quantity"), f"lines[{i}].quantity"), _dec(ln.get("price"), f"lines[{i}].price")
            if qty <= 0 or price < 0:
                raise ApiError(422, "invalid_line", f"lines[{i}]: quantity must be > 0 and price >= 0")
            if not ln.get("name"):
                raise ApiError(422, "invalid_line", f"lines[{i}].name is required")
            gross = _r2(qty * price)
            r = RATES[rate_key]
            if not r:
                net, vat, total = gross, Decimal("0.00"), gross
            elif vat_included:  # VAT inside the price: amount * r / (100 + r), per line (fact sheet §10.1)
                vat = _r2(gross * r / (100 + r))
                net, total = gross - vat, gross
            else:
                vat = _r2(gross * r / 100)
                net, total = gross, gross + vat
            net_sum += net
            vat_sum += vat
            total_sum += total
            by_rate[rate_key] = by_rate.get(rate_key, Decimal(0)) + vat
            out.append({"name": ln["name"], "quantity": str(qty), "unit": str(ln.get("unit") or "796"),
                        "price": str(price), "vat_rate": rate_key, "net": _s(net), "vat": _s(vat),
                        "total": _s(total)})
        totals = {"net": _s(net_sum), "vat": _s(vat_sum), "total": _s(total_sum),
                  "vat_by_rate": {k: _s(v) for k, v in by_rate.items()}}
        return out, totals

    def invoice_json(self, inv: dict[str, Any]) -> dict[str, Any]:
        paid = sum((Decimal(p["amount"]) for p in inv["payments"]), Decimal(0))
        total = Decimal(inv["totals"]["total"])
        status = inv["base_status"]
        if status == "issued" and paid > 0:
            status = "paid" if paid >= total else "partially_paid"
        cp = self.counterparties[inv["counterparty_id"]]
        return {"id": inv["id"], "external_id": inv["external_id"], "number": inv["number"], "date": inv["date"],
                "counterparty": {"id": cp["id"], "inn": cp["inn"], "kpp": cp["kpp"], "name": cp["name"]},
                "vat_included": inv["vat_included"], "lines": inv["lines"], "totals": inv["totals"],
                "status": status, "paid_amount": _s(paid), "comment": inv.get("comment"),
                "updated_at": inv["updated_at"]}

    def add_payment(self, inv: dict[str, Any], amount: Decimal | None, pay_date: str | None) -> dict[str, Any]:
        if amount is None:
            paid = sum((Decimal(p["amount"]) for p in inv["payments"]), Decimal(0))
            amount = Decimal(inv["totals"]["total"]) - paid
        if amount <= 0:
            raise ApiError(409, "nothing_to_pay", "The invoice is already paid")
        cp = self.counterparties[inv["counterparty_id"]]
        pay = {"id": str(uuid.uuid4()), "amount": _s(amount), "date": pay_date or self.today(),
               "payer_inn": cp["inn"], "source": "bank_statement",
               "purpose": f"Оплата по счёту № {inv['number']} от {inv['date']}"}
        inv["payments"].append(pay)
        inv["updated_at"] = self.stamp()
        self.notify(inv, pay)
        return pay

    def notify(self, inv: dict[str, Any], pay: dict[str, Any]) -> None:
        if not self.cfg.webhook_url:
            return
        body = {"event": "payment.received", "invoice_id": inv["id"], "external_id": inv["external_id"],
                "payment": pay}

        async def deliver() -> None:
            entry: dict[str, Any] = {"url": self.cfg.webhook_url, "body": body}
            try:
                async with httpx.AsyncClient(transport=self.cfg.webhook_transport, timeout=10) as c:
                    r = await c.post(self.cfg.webhook_url, json=body)
                entry["status"] = r.status_code
            except httpx.HTTPError as exc:
                entry["error"] = type(exc).__name__
            self.webhooks.append(entry)

        try:
            task = asyncio.get_running_loop().create_task(deliver())
        except RuntimeError:  # pragma: no cover - no loop (never inside the ASGI app)
            return
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def tick(self) -> None:
        if self.cfg.pay_after < 0:
            return
        now = self.now()
        for inv in self.invoices.values():
            if inv["base_status"] == "issued" and not inv["payments"] and now >= inv["created_at"] + self.cfg.pay_after:
                self.add_payment(inv, None, None)


def create_app(cfg: KonturSandboxConfig | None = None) -> FastAPI:
    cfg = cfg or KonturSandboxConfig()
    world = KonturWorld(cfg)
    app = FastAPI(title="b24sync Kontur.Buhgalteria model sandbox", docs_url=None, redoc_url=None)
    app.state.world = world

    def err(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return err(exc.status, exc.code, exc.message)

    @app.middleware("http")
    async def gate(request: Request, call_next):  # type: ignore[no-untyped-def]
        if request.url.path.startswith("/_sandbox"):
            return await call_next(request)
        if cfg.latency > 0:
            await asyncio.sleep(cfg.latency)
        if cfg.fail_rate > 0 and world.rng.random() < cfg.fail_rate:
            if world.rng.random() < 0.5:
                return err(429, "rate_limited", "Too many requests", {"Retry-After": "1"})
            return err(500, "internal", "Injected failure")
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:].strip() not in cfg.api_keys:
            return err(401, "unauthorized", "Missing or invalid API key (Authorization: Bearer <key>)")
        world.tick()
        return await call_next(request)

    async def body_of(request: Request) -> dict[str, Any]:
        try:
            data = await request.json()
        except ValueError:
            raise ApiError(400, "invalid_json", "Body must be a JSON object") from None
        if not isinstance(data, dict):
            raise ApiError(400, "invalid_json", "Body must be a JSON object")
        return data

    # -- counterparties --------------------------------------------------------------------------------------------

    @app.get("/api/v1/counterparties")
    async def list_counterparties(inn: str = "", kpp: str = "") -> Response:
        items = [c for c in world.counterparties.values()
                 if (not inn or c["inn"] == inn) and (not kpp or c["kpp"] == kpp)]
        return JSONResponse({"items": items, "count": len(items)})

    def page_of(items: list[dict[str, Any]], updated_since: str, offset: int, limit: int) -> dict[str, Any]:
        """Changes since a time, oldest first, ``limit`` (≤ 100) from ``offset``: what a poll reads."""
        if limit < 1 or limit > 100:
            raise ApiError(422, "invalid_limit", "limit must be 1..100")
        if offset < 0:
            raise ApiError(422, "invalid_offset", "offset must be ≥ 0")
        if updated_since:
            try:
                since = datetime.fromisoformat(updated_since.replace("Z", "+00:00"))
            except ValueError:
                raise ApiError(422, "invalid_updated_since", "updated_since must be an ISO 8601 time") from None
            if since.tzinfo is None:
                since = since.replace(tzinfo=timezone.utc)
            items = [i for i in items if datetime.fromisoformat(i["updated_at"]) >= since]
        items = sorted(items, key=lambda i: (i["updated_at"], i["id"]))
        return {"items": items[offset:offset + limit], "count": len(items)}

    @app.get("/api/v1/counterparties/changes")
    async def counterparty_changes(updated_since: str = "", offset: int = 0, limit: int = 100) -> Response:
        return JSONResponse(page_of(list(world.counterparties.values()), updated_since, offset, limit))

    @app.get("/api/v1/counterparties/{counterparty_id}")
    async def get_counterparty(counterparty_id: str) -> Response:
        c = world.counterparties.get(counterparty_id)
        if c is None:
            raise ApiError(404, "not_found", f"Counterparty {counterparty_id} not found")
        return JSONResponse(c)

    @app.patch("/api/v1/counterparties/{counterparty_id}")
    async def update_counterparty(counterparty_id: str, request: Request) -> Response:
        c = world.counterparties.get(counterparty_id)
        if c is None:
            raise ApiError(404, "not_found", f"Counterparty {counterparty_id} not found")
        b = await body_of(request)
        unknown = sorted(set(b) - {"name", "kpp", "address"})
        if unknown:  # INN identifies the counterparty: it is never edited, only a new counterparty has another
            raise ApiError(422, "read_only", f"fields cannot be changed: {', '.join(unknown)}")
        if "name" in b and not str(b["name"] or "").strip():
            raise ApiError(422, "name_required", "name is required")
        if "kpp" in b and len(c["inn"]) == 10 and not b["kpp"]:
            raise ApiError(422, "kpp_required", "kpp is required for a legal entity (10-digit INN)")
        changed = {k: (str(v).strip() if k == "name" else v) for k, v in b.items() if c.get(k) != v}
        if changed:
            c.update(changed)
            c["updated_at"] = world.stamp()
        return JSONResponse(c)

    @app.post("/api/v1/counterparties")
    async def create_counterparty(request: Request) -> Response:
        b = await body_of(request)
        inn, kpp, name = str(b.get("inn") or ""), str(b.get("kpp") or ""), str(b.get("name") or "").strip()
        if not inn.isdigit() or len(inn) not in (10, 12):
            raise ApiError(422, "invalid_inn", "inn must have 10 or 12 digits")
        if len(inn) == 10 and not kpp:
            raise ApiError(422, "kpp_required", "kpp is required for a legal entity (10-digit INN)")
        if not name:
            raise ApiError(422, "name_required", "name is required")
        for c in world.counterparties.values():
            if c["inn"] == inn and c["kpp"] == kpp:
                return JSONResponse(c, status_code=200)
        c = {"id": str(uuid.uuid4()), "inn": inn, "kpp": kpp, "name": name,
             "type": "legal" if len(inn) == 10 else "individual", "address": b.get("address"),
             "updated_at": world.stamp()}
        world.counterparties[c["id"]] = c
        return JSONResponse(c, status_code=201)

    # -- invoices --------------------------------------------------------------------------------------------------

    def get_inv(invoice_id: str) -> dict[str, Any]:
        inv = world.invoices.get(invoice_id)
        if inv is None:
            raise ApiError(404, "not_found", f"Invoice {invoice_id} not found")
        return inv

    @app.post("/api/v1/invoices")
    async def create_invoice(request: Request) -> Response:
        b = await body_of(request)
        ext = str(b.get("external_id") or "")
        if ext and ("invoice", ext) in world.by_external:
            return JSONResponse(world.invoice_json(world.invoices[world.by_external[("invoice", ext)]]))
        cp_id = str(b.get("counterparty_id") or "")
        if cp_id not in world.counterparties:
            raise ApiError(422, "unknown_counterparty", "counterparty_id does not exist")
        vat_included = bool(b.get("vat_included", True))
        lines, totals = world.compute(list(b.get("lines") or []), vat_included)
        world.inv_seq += 1
        inv = {"id": str(uuid.uuid4()), "external_id": ext or None,
               "number": str(b.get("number") or f"СЧ-{world.inv_seq:05d}"),
               "date": str(b.get("date") or world.today()), "counterparty_id": cp_id, "vat_included": vat_included,
               "lines": lines, "totals": totals, "payments": [], "base_status": "issued",
               "comment": b.get("comment"), "created_at": world.now(), "updated_at": world.stamp()}
        world.invoices[inv["id"]] = inv
        if ext:
            world.by_external[("invoice", ext)] = inv["id"]
        return JSONResponse(world.invoice_json(inv), status_code=201)

    @app.get("/api/v1/invoices")
    async def list_invoices(number: str = "", external_id: str = "", updated_since: str = "", offset: int = 0,
                            limit: int = 100) -> Response:
        items = [world.invoice_json(i) for i in world.invoices.values()
                 if (not number or i["number"] == number) and (not external_id or i["external_id"] == external_id)]
        return JSONResponse(page_of(items, updated_since, offset, limit))

    @app.get("/api/v1/invoices/{invoice_id}")
    async def get_invoice(invoice_id: str) -> Response:
        return JSONResponse(world.invoice_json(get_inv(invoice_id)))

    @app.get("/api/v1/invoices/{invoice_id}/payments")
    async def invoice_payments(invoice_id: str) -> Response:
        inv = get_inv(invoice_id)
        return JSONResponse({"items": inv["payments"], "count": len(inv["payments"])})

    def render(kind: str, doc: dict[str, Any], inv: dict[str, Any]) -> bytes:
        cp = world.counterparties[inv["counterparty_id"]]
        lines = [f"{kind} No. {doc['number']} dated {doc['date']}", f"Seller: {cfg.org_name} INN {cfg.org_inn}",
                 f"Buyer: {cp['name']} INN {cp['inn']} KPP {cp['kpp'] or '-'}", ""]
        for i, ln in enumerate(inv["lines"], 1):
            lines.append(f"{i}. {ln['name']}  {ln['quantity']} x {ln['price']}  VAT {ln['vat_rate']}  "
                         f"= {ln['total']} (VAT {ln['vat']})")
        t = inv["totals"]
        lines += ["", f"Total: {t['total']}  incl. VAT {t['vat']}  net {t['net']}",
                  "Kontur.Buhgalteria MODEL sandbox - not a real document"]
        return make_pdf(lines, title=f"{kind} {doc['number']}")

    @app.get("/api/v1/invoices/{invoice_id}/pdf")
    async def invoice_pdf(invoice_id: str) -> Response:
        inv = get_inv(invoice_id)
        name = f"invoice-{inv['number']}.pdf"
        disposition = f"attachment; filename=\"invoice-{inv['id'][:8]}.pdf\"; filename*=UTF-8''{quote(name)}"
        return Response(render("Invoice", inv, inv), media_type="application/pdf",
                        headers={"Content-Disposition": disposition})

    # -- acts ------------------------------------------------------------------------------------------------------

    def act_json(act: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in act.items() if not k.startswith("_")}

    @app.post("/api/v1/acts")
    async def create_act(request: Request) -> Response:
        b = await body_of(request)
        ext = str(b.get("external_id") or "")
        if ext and ("act", ext) in world.by_external:
            return JSONResponse(act_json(world.acts[world.by_external[("act", ext)]]))
        inv = get_inv(str(b.get("invoice_id") or ""))
        if any(a["invoice_id"] == inv["id"] for a in world.acts.values()):
            raise ApiError(409, "act_exists", "An act for this invoice already exists")
        world.act_seq += 1
        act = {"id": str(uuid.uuid4()), "external_id": ext or None, "number": f"АКТ-{world.act_seq:05d}",
               "date": str(b.get("date") or world.today()), "invoice_id": inv["id"], "totals": inv["totals"]}
        world.acts[act["id"]] = act
        if ext:
            world.by_external[("act", ext)] = act["id"]
        return JSONResponse(act_json(act), status_code=201)

    @app.get("/api/v1/acts/{act_id}")
    async def get_act(act_id: str) -> Response:
        act = world.acts.get(act_id)
        if act is None:
            raise ApiError(404, "not_found", f"Act {act_id} not found")
        return JSONResponse(act_json(act))

    @app.get("/api/v1/acts/{act_id}/pdf")
    async def act_pdf(act_id: str) -> Response:
        act = world.acts.get(act_id)
        if act is None:
            raise ApiError(404, "not_found", f"Act {act_id} not found")
        return Response(render("Act", act, world.invoices[act["invoice_id"]]), media_type="application/pdf")

    # -- test hooks ------------------------------------------------------------------------------------------------

    @app.post("/_sandbox/bank-statement")
    async def bank_statement(request: Request) -> Response:
        """"The bank statement came in": pay an invoice (in full by default, or ``amount``)."""
        b = await body_of(request)
        inv = None
        if b.get("invoice_id"):
            inv = world.invoices.get(str(b["invoice_id"]))
        elif b.get("invoice_number"):
            inv = next((i for i in world.invoices.values() if i["number"] == str(b["invoice_number"])), None)
        if inv is None:
            raise ApiError(404, "not_found", "invoice not found")
        amount = _dec(b["amount"], "amount") if b.get("amount") is not None else None
        pay = world.add_payment(inv, amount, b.get("date"))
        return JSONResponse({"payment": pay, "invoice": world.invoice_json(inv)})

    @app.post("/_sandbox/advance")
    async def advance(request: Request) -> Response:
        b = await body_of(request)
        world.offset += float(b.get("seconds", 0))
        world.tick()
        return JSONResponse({"offset": world.offset})

    @app.get("/_sandbox/state")
    async def state() -> Response:
        if world.tasks:
            await asyncio.gather(*list(world.tasks), return_exceptions=True)
        return JSONResponse({"counterparties": len(world.counterparties), "invoices": len(world.invoices),
                             "acts": len(world.acts), "webhooks": world.webhooks})

    @app.post("/_sandbox/reset")
    async def reset() -> Response:
        world.reset()
        return JSONResponse({"ok": True})

    return app

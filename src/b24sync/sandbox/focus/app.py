"""Kontur.Focus ``req`` emulator (see the package docstring; facts: erp-side.md §6)."""

from __future__ import annotations

import asyncio
import random
from datetime import date
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from b24sync.sandbox.party_registry import add_control_route, Addr, Entity, build_registry


def _d(v: date | None) -> str | None:
    return v.isoformat() if v else None


def _topo(t: tuple[str, str, str]) -> dict[str, str]:
    return {"topoShortName": t[0], "topoFullName": t[1], "topoValue": t[2]}


def parsed_address(a: Addr) -> dict[str, Any]:
    """``parsedAddressRF`` as in the real response for INN 6663003127 ([FOCUS-CL], §6)."""
    out: dict[str, Any] = {"zipCode": a.zip, "regionCode": a.region_code, "regionName": _topo(a.region)}
    if a.city:
        out["city"] = _topo(a.city)
    out["street"] = _topo(a.street)
    out["house"] = {"topoShortName": "дом", "topoFullName": "дом", "topoValue": a.house}
    return out


_STATUS_TEXT = {"ACTIVE": "Действующее", "LIQUIDATING": "В стадии ликвидации", "LIQUIDATED": "Ликвидировано",
                "BANKRUPT": "В стадии банкротства", "REORGANIZING": "В стадии реорганизации"}


def _status(e: Entity) -> dict[str, Any]:
    """"Active" = statusString with the flags absent (§6); other states set one flag."""
    st: dict[str, Any] = {"statusString": _STATUS_TEXT.get(e.status, "Деятельность приостановлена")}
    flag = {"LIQUIDATING": "dissolving", "LIQUIDATED": "dissolved", "BANKRUPT": "bankrupting",
            "REORGANIZING": "reorganizing"}.get(e.status)
    if flag:
        st[flag] = True
        st["date"] = _d(e.liquidated or e.registered)
    return st


def req_item(e: Entity) -> dict[str, Any]:
    item: dict[str, Any] = {"inn": e.inn, "ogrn": e.ogrn,
                            "focusHref": f"https://focus.kontur.ru/entity?query={e.ogrn}"}
    if e.kind == "INDIVIDUAL":
        fio = " ".join(p for p in (e.fio or ()) if p)
        item["IP"] = {"fio": fio, "structuredFio": {"lastName": e.fio[0], "firstName": e.fio[1],
                                                    "middleName": e.fio[2]} if e.fio else None,
                      "okopf": e.opf[0], "opf": e.opf[1], "registrationDate": _d(e.registered),
                      "dissolutionDate": _d(e.liquidated), "status": _status(e)}
        return item
    ul: dict[str, Any] = {
        "kpp": e.kpp, "okopf": e.opf[0], "opf": e.opf[1],
        "legalName": {"short": e.short_with_opf, "full": e.full_with_opf, "date": _d(e.registered)},
        "legalAddress": {"parsedAddressRF": parsed_address(e.addr), "date": _d(e.registered)},
        "branches": [{"name": b.name, "kpp": b.kpp, "parsedAddressRF": parsed_address(b.addr),
                      "date": _d(b.since)} for b in e.branches],
        "status": _status(e), "registrationDate": _d(e.registered),
        "heads": [{"fio": e.director[0], "position": e.director[1], "date": _d(e.registered),
                   "firstDate": _d(e.registered)}] if e.director else [],
    }
    if e.liquidated:
        ul["dissolutionDate"] = _d(e.liquidated)
    item["UL"] = ul
    item["briefReport"] = {"summary": {"greenStatements": e.status == "ACTIVE",
                                       "redStatements": e.status in ("LIQUIDATED", "LIQUIDATING", "BANKRUPT")}}
    return item


def create_app(
    *,
    key: str = "sandbox-key",
    daily_quota: int = 100_000,
    fail_rate: float = 0.0,
    latency: float = 0.0,
    generated: int = 20,
    seed: int = 24,
) -> FastAPI:
    app = FastAPI(title="Kontur.Focus API — b24sync emulation", docs_url=None, redoc_url=None)
    registry = build_registry(generated)
    rnd = random.Random(seed)
    st: dict[str, Any] = {"used": 0, "daily_quota": daily_quota, "fail_rate": fail_rate, "latency": latency,
                          "requests": 0}
    app.state.sandbox = st

    @app.get("/api3/req")
    async def req(request: Request):
        st["requests"] += 1
        if st["latency"]:
            await asyncio.sleep(st["latency"])
        p = request.query_params
        if not p.get("key"):
            return PlainTextResponse("API key is required (key=...)", status_code=401)
        if p["key"] != key:
            return PlainTextResponse("Invalid API key", status_code=401)
        if st["used"] >= st["daily_quota"]:
            return PlainTextResponse("Request limit for the key is exhausted", status_code=403)
        st["used"] += 1
        if st["fail_rate"] and rnd.random() < st["fail_rate"]:
            status = rnd.choice([429, 500, 503])
            headers = {"Retry-After": "1"} if status == 429 else {}
            return PlainTextResponse("injected fault", status_code=status, headers=headers)
        inns = [x for x in (p.get("inn") or "").split(",") if x]
        ogrns = [x for x in (p.get("ogrn") or "").split(",") if x]
        if not inns and not ogrns:
            return JSONResponse({"message": "inn or ogrn is required"}, status_code=400)
        return [req_item(e) for e in registry if e.inn in inns or e.ogrn in ogrns]

    add_control_route(app, st, "Focus")

    return app

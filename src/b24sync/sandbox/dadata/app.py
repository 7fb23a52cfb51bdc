"""DaData Suggestions API emulator (see the package docstring; facts: erp-side.md §7)."""

from __future__ import annotations

import asyncio
import hashlib
import random
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from b24sync.sandbox.party_registry import add_control_route, Entity, address_line, build_registry

BASE = "/suggestions/api/4_1/rs"
MSK = timezone(timedelta(hours=3))  # quota day in Moscow time (§7.3)
FIND_BY_ID_MAX = 300  # on-prem docs: findById count up to 300 (§7.2)
SUGGEST_MAX = 20  # SaaS caps suggest counts at 20 (§7.2)


def _ms(d: date | None) -> int | None:
    """Dates are Unix epoch milliseconds (§7.2): midnight UTC of the date."""
    if d is None:
        return None
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() * 1000)


def _address(e_addr, *, with_zip: bool = True) -> dict[str, Any]:
    value = address_line(e_addr, with_zip=False)
    full = address_line(e_addr, with_zip=True)
    region = f"{e_addr.region[0]} {e_addr.region[2]}"
    city = f"{e_addr.city[0]} {e_addr.city[2]}" if e_addr.city else (region if e_addr.region[0] == "г" else None)
    return {"value": value, "unrestricted_value": full, "data": {
        "postal_code": e_addr.zip, "country": "Россия", "region_with_type": region,
        "region_type": e_addr.region[0], "region": e_addr.region[2],
        "city_with_type": city, "street_with_type": f"{e_addr.street[0]} {e_addr.street[2]}",
        "house_type": "д", "house": e_addr.house, "region_kladr_id": e_addr.region_code + "00000000000",
        "source": full, "qc": None}}


def _hid(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def suggestion(e: Entity, branch=None) -> dict[str, Any]:
    """One ``suggestions[]`` element with the ``data`` fields listed in §7.2."""
    is_ip = e.kind == "INDIVIDUAL"
    name = {"full_with_opf": e.full_with_opf, "short_with_opf": e.short_with_opf,
            "full": e.full, "short": None if is_ip else e.short, "latin": None}
    addr = branch.addr if branch else e.addr
    data: dict[str, Any] = {
        "kpp": None if is_ip else (branch.kpp if branch else e.kpp),
        "capital": None, "invalid": None,
        "management": None if is_ip or not e.director else {"name": e.director[0], "post": e.director[1],
                                                             "disqualified": None},
        "founders": None, "managers": None, "predecessors": None, "successors": None,
        "branch_type": "BRANCH" if branch else "MAIN",
        "branch_count": 0 if branch else len(e.branches),
        "source": None, "qc": None,
        "hid": _hid(e.inn, branch.kpp if branch else "main"),
        "type": e.kind,
        "state": {"status": e.status, "code": None, "actuality_date": _ms(date(2026, 11, 1)),
                  "registration_date": _ms(branch.since if branch else e.registered),
                  "liquidation_date": _ms(e.liquidated)},
        "opf": {"type": "2014", "code": e.opf[0], "full": e.opf[1], "short": e.opf[2]},
        "name": name,
        "inn": e.inn, "ogrn": e.ogrn, "okpo": None, "okato": None, "oktmo": None, "okogu": None,
        "okfs": None, "okved": None, "okveds": None, "authorities": None, "documents": None, "licenses": None,
        "finance": None, "address": _address(addr), "phones": None, "emails": None,
        "ogrn_date": _ms(e.registered), "okved_type": "2014", "employee_count": None,
    }
    if is_ip and e.fio:
        data["fio"] = {"surname": e.fio[0], "name": e.fio[1], "patronymic": e.fio[2], "gender": None,
                       "source": None, "qc": None}
    value = e.short_with_opf
    return {"value": value, "unrestricted_value": value, "data": data}


def _error(status: int, reason: str, message: str) -> JSONResponse:
    # Suggestions API error shape {family, reason, message} (§7.3, [DD-ERR]).
    return JSONResponse({"family": "CLIENT_ERROR" if status < 500 else "SERVER_ERROR", "reason": reason,
                         "message": message}, status_code=status)


def create_app(
    *,
    token: str = "sandbox-token",
    daily_quota: int = 10_000,  # free plan: 10 000 suggestion requests per day (§7.3)
    fail_rate: float = 0.0,
    latency: float = 0.0,
    generated: int = 20,
    seed: int = 24,
) -> FastAPI:
    app = FastAPI(title="DaData Suggestions API — b24sync emulation", docs_url=None, redoc_url=None)
    registry = build_registry(generated)
    rnd = random.Random(seed)
    st: dict[str, Any] = {"day": None, "used": 0, "daily_quota": daily_quota, "fail_rate": fail_rate,
                          "latency": latency, "requests": 0}
    app.state.sandbox = st

    def units(e: Entity) -> list[tuple[Entity, Any]]:
        return [(e, None)] + [(e, b) for b in e.branches]

    async def gate(request: Request) -> JSONResponse | None:
        st["requests"] += 1
        if st["latency"]:
            await asyncio.sleep(st["latency"])
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Token "):
            return _error(401, "Unauthorized", "You should provide Authorization header with API key "
                                              "in the form 'Token <key>'")
        if auth[6:].strip() != token:
            return _error(401, "Unauthorized", "Invalid API key")
        today = datetime.now(MSK).date()
        if st["day"] != today:
            st["day"], st["used"] = today, 0
        if st["used"] >= st["daily_quota"]:
            return _error(403, "Forbidden", f"Feature 'SUGGESTIONS' disabled for token '{auth[6:].strip()}'")
        st["used"] += 1
        if st["fail_rate"] and rnd.random() < st["fail_rate"]:
            status = rnd.choice([429, 500, 503])
            return _error(status, {429: "Too Many Requests", 500: "Internal Server Error",
                                   503: "Service Unavailable"}[status], "injected fault")
        return None

    async def body(request: Request) -> dict[str, Any] | JSONResponse:
        try:
            data = await request.json()
        except ValueError:
            return _error(400, "Bad Request", "Request body is not valid JSON")
        if not isinstance(data, dict) or not str(data.get("query", "")).strip():
            return _error(400, "Bad Request", "query is required")
        return data

    @app.post(f"{BASE}/findById/party")
    async def find_by_id(request: Request):
        if (err := await gate(request)) is not None:
            return err
        q = await body(request)
        if isinstance(q, JSONResponse):
            return q
        query = str(q["query"]).strip()
        count = max(1, min(int(q.get("count") or 10), FIND_BY_ID_MAX))
        found = []
        for e in registry:
            if query not in (e.inn, e.ogrn):
                continue
            for ent, br in units(e):
                kpp = None if ent.kind == "INDIVIDUAL" else (br.kpp if br else ent.kpp)
                if q.get("kpp") and q["kpp"] != kpp:
                    continue
                if q.get("branch_type") and q["branch_type"] != ("BRANCH" if br else "MAIN"):
                    continue
                if q.get("type") and q["type"] != ent.kind:
                    continue
                if q.get("status") and ent.status not in q["status"]:
                    continue
                found.append(suggestion(ent, br))
        return {"suggestions": found[:count]}

    @app.post(f"{BASE}/suggest/party")
    async def suggest(request: Request):
        if (err := await gate(request)) is not None:
            return err
        q = await body(request)
        if isinstance(q, JSONResponse):
            return q
        text = str(q["query"]).strip().upper()
        count = max(1, min(int(q.get("count") or 10), SUGGEST_MAX))
        found = []
        for e in registry:
            if text in e.full.upper() or text in e.short.upper() or e.inn.startswith(text) or e.ogrn == text:
                if q.get("status") and e.status not in q["status"]:
                    continue
                found.append(suggestion(e))
        return {"suggestions": found[:count]}

    add_control_route(app, st, "DaData")

    return app

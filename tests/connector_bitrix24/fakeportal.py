"""A deliberately small in-test fake of the Bitrix24 REST envelope for unit tests (the real emulator is
``b24sync.sandbox.bitrix24``; integration tests use that). It parses requests on its own (urllib), not with the
connector's encoder, so a misreading in one side shows up in the other."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl

import httpx

TZ = timezone(timedelta(hours=3))


def nest(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for k, v in pairs:
        parts = re.findall(r"^[^\[]+|\[([^\]]*)\]", k)
        head = k.split("[", 1)[0]
        keys = [head] + [p for p in parts[1:]] if "[" in k else [k]
        node = root
        for i, part in enumerate(keys):
            if i == len(keys) - 1:
                node[part] = v
            else:
                node = node.setdefault(part, {})
    return root


class FakePortal:
    def __init__(self, n: int = 0, *, start: datetime | None = None, same_second: int = 1) -> None:
        t0 = start or datetime(2026, 1, 1, 10, 0, 0, tzinfo=TZ)
        self.rows: dict[int, dict[str, Any]] = {}
        for i in range(1, n + 1):
            self.rows[i] = {"ID": str(i), "NAME": f"n{i}",
                            "DATE_MODIFY": (t0 + timedelta(seconds=(i - 1) // same_second)).isoformat()}
        self.requests: list[dict[str, Any]] = []
        self.fail_cmd: set[int] = set()  # batch command indexes answering with an error
        self.next_id = n + 1

    # -- methods
    def _list(self, p: dict[str, Any]) -> tuple[list[dict], int]:
        flt = p.get("filter") or {}
        rows = list(self.rows.values())

        def val(r, f):
            v = r.get(f)
            return int(v) if f == "ID" else datetime.fromisoformat(v)

        for k, v in flt.items():
            if v == "":
                continue  # an unresolved back-reference: the filter silently disappears (worst case)
            m = re.match(r"^(>=|<=|>|<|=)?(.+)$", k)
            op, f = m.group(1) or "=", m.group(2)
            want = int(v) if f == "ID" else datetime.fromisoformat(v)
            ops = {">": lambda a, b: a > b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b,
                   "<=": lambda a, b: a <= b, "=": lambda a, b: a == b}
            rows = [r for r in rows if ops[op](val(r, f), want)]
        order = p.get("order") or {"ID": "ASC"}
        for f, d in reversed(list(order.items())):
            rows.sort(key=lambda r: val(r, f), reverse=str(d).upper() == "DESC")
        total = len(rows)
        start = int(p.get("start", 0))
        off = 0 if start < 0 else start
        return rows[off:off + 50], (0 if start < 0 else total)

    def run(self, method: str, p: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if method == "crm.contact.list":
            rows, total = self._list(p)
            return 200, {"result": rows, "total": total, "time": {"operating": 0.01, "operating_reset_at": 0}}
        if method == "crm.contact.add":
            i = self.next_id
            self.next_id += 1
            f = p.get("fields") or {}
            self.rows[i] = {"ID": str(i), **f, "DATE_MODIFY": datetime(2026, 1, 2, tzinfo=TZ).isoformat()}
            return 200, {"result": i, "time": {"operating": 0.02}}
        if method == "crm.contact.get":
            r = self.rows.get(int(p.get("id", 0)))
            if not r:
                return 400, {"error": "", "error_description": "Not found"}
            return 200, {"result": r, "time": {}}
        return 404, {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}

    def _batch(self, body: dict[str, Any]) -> dict[str, Any]:
        results: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        totals: dict[str, Any] = {}
        times: dict[str, Any] = {}
        for idx, (key, cmd) in enumerate(body["cmd"].items()):
            method, _, qs = cmd.partition("?")

            def sub(m: re.Match) -> str:
                path = re.findall(r"\[([^\]]*)\]", m.group(0))
                node: Any = results
                try:
                    for part in path:
                        node = node[int(part)] if isinstance(node, list) else node[part]
                except (KeyError, IndexError):
                    return ""
                return str(node)

            qs = re.sub(r"\$result(\[[^\]]*\])+", sub, qs)
            params = nest(parse_qsl(qs, keep_blank_values=True))
            if idx in self.fail_cmd:
                errors[key] = {"error": "ERROR_CORE", "error_description": f"bad value in command {idx}"}
                continue
            status, data = self.run(method, params)
            if "error" in data:
                errors[key] = data
            else:
                results[key] = data["result"]
                if "total" in data:
                    totals[key] = data["total"]
                times[key] = data.get("time") or {}
        return {"result": {"result": results or [], "result_error": errors or [], "result_total": totals or [],
                           "result_next": [], "result_time": times or []}, "time": {}}

    def handler(self, request: httpx.Request) -> httpx.Response:
        method = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        body = json.loads(request.content or b"{}")
        self.requests.append({"method": method, "body": body})
        if method == "batch":
            return httpx.Response(200, json=self._batch(body))
        status, data = self.run(method, body)
        return httpx.Response(status, json=data)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

"""A minimal in-test fake of 1C standard.odata behind httpx.MockTransport (unit tests only; the real emulator is
b24sync.sandbox.onec, used by test_sandbox_integration.py). Implements just enough to observe the client."""

from __future__ import annotations

import base64
import json
import uuid
from urllib.parse import parse_qsl, unquote

import httpx


class Fake1C:
    def __init__(self, rows: int = 0, user: str = "Администратор", password: str = "пароль") -> None:
        self.user, self.password = user, password
        self.sets: dict[str, dict[str, dict]] = {"Catalog_Контрагенты": {}, "Document_ЗаказКлиента": {}}
        for i in range(rows):
            self.add("Catalog_Контрагенты", {"Description": f"К{i:05d}", "ИНН": f"{i:010d}"})
        self.requests: list[httpx.Request] = []
        self.raw_queries: list[str] = []
        self.patches: list[dict] = []
        self.posted: list[str] = []

    def add(self, entity_set: str, values: dict) -> dict:
        key = str(uuid.uuid4())
        row = {"Ref_Key": key, "DataVersion": "AAAAAAAAAAA=", "DeletionMark": False, **values}
        self.sets[entity_set][key] = row
        return row

    @staticmethod
    def bump(row: dict) -> None:
        n = int.from_bytes(base64.b64decode(row["DataVersion"]), "big") + 1
        row["DataVersion"] = base64.b64encode(n.to_bytes(8, "big")).decode()

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        raw = request.url.raw_path.decode()
        path, _, qs = raw.partition("?")
        self.raw_queries.append(qs)
        expected = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return httpx.Response(401, text="<html>401</html>")
        if "+" in qs:
            return self.err(400, "14", "Ошибка при разборе опции запроса $filter")
        q = dict(parse_qsl(qs, keep_blank_values=True))
        seg = unquote(path.split("/standard.odata/", 1)[1])
        name, _, rest = seg.partition("(")
        if name not in self.sets:
            return self.err(404, None, name)
        table = self.sets[name]
        if not rest:
            if request.method == "POST":
                row = self.add(name, json.loads(request.content))
                return httpx.Response(201, json=row)
            rows = sorted(table.values(), key=lambda r: r["Ref_Key"])
            f = q.get("$filter")
            if f:
                field, _, lit = f.partition(" eq ")
                lit = lit.strip("'")
                rows = [r for r in rows if str(r.get(field)) == lit]
            skip, top = int(q.get("$skip", 0)), int(q.get("$top", 10**9))
            return httpx.Response(200, json={"odata.metadata": "m", "value": rows[skip:skip + top]})
        key, _, tail = rest.partition(")")
        key = key.removeprefix("guid'").rstrip("'")
        row = table.get(key)
        if row is None:
            return self.err(404, "9", "Экземпляр сущности не найден")
        if request.method == "GET":
            return httpx.Response(200, json=row)
        if request.method == "PATCH":
            self.patches.append(json.loads(request.content))
            row.update(json.loads(request.content))
            self.bump(row)
            return httpx.Response(200, json=row)
        if request.method == "POST" and tail == "/Post":
            row["Posted"] = True
            self.bump(row)
            self.posted.append(key)
            return httpx.Response(200)
        return self.err(400, "6", "Метод не найден")

    @staticmethod
    def err(status, code, text):
        return httpx.Response(status, json={"odata.error": {"code": code, "message": {"lang": "ru", "value": text}}})

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)


class Fake1CExchange(Fake1C):
    """Adds an exchange plan ``ОбменСB24`` with one node; every write of a counterparty registers a change."""

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.node = str(uuid.uuid4())
        self.this_node = str(uuid.uuid4())
        self.received_no = 0
        self.registered: dict[str, int | None] = {}  # Ref_Key -> message number it was sent in (None = not yet)
        self.select_calls: list[dict] = []

    def register(self, key: str) -> None:
        self.registered[key] = None

    def handler(self, request: httpx.Request) -> httpx.Response:
        raw = request.url.raw_path.decode()
        path, _, qs = raw.partition("?")
        tail = unquote(path.split("/standard.odata/", 1)[1])
        if tail.startswith("ExchangePlan_ОбменСB24"):
            self.requests.append(request)
            return httpx.Response(200, json={"value": [
                {"Ref_Key": self.this_node, "ThisNode": True, "ReceivedNo": "0", "SentNo": "0", "Code": "ЦБ"},
                {"Ref_Key": self.node, "ThisNode": False, "ReceivedNo": str(self.received_no),
                 "SentNo": "0", "Code": "B24"}]})
        if tail in ("SelectChanges", "NotifyChangesReceived"):
            self.requests.append(request)
            assert request.method == "POST"
            q = dict(parse_qsl(qs))
            point, n = q["DataExchangePoint"], int(q["MessageNo"])
            assert point == f"'http://127.0.0.1/trade/odata/standard.odata/ExchangePlan_ОбменСB24(guid'{self.node}')'"
            if tail == "NotifyChangesReceived":
                self.received_no = n
                self.registered = {k: m for k, m in self.registered.items() if m is None or m > n}
                return httpx.Response(200)
            self.select_calls.append(q)
            for k, m in self.registered.items():
                if m is None:
                    self.registered[k] = n
            items = [self.sets["Catalog_Контрагенты"][k] for k, m in self.registered.items() if m is not None and m <= n]
            if q.get("$format") != "json":  # Atom unless JSON was asked for, like the platform
                entries = "".join(
                    f'<entry><category term="StandardODATA.Catalog_Контрагенты"/><content><m:properties>'
                    f'<d:Ref_Key>{r["Ref_Key"]}</d:Ref_Key><d:DataVersion>{r["DataVersion"]}</d:DataVersion>'
                    f'<d:DeletionMark m:type="Edm.Boolean">{str(r["DeletionMark"]).lower()}</d:DeletionMark>'
                    f'<d:Description>{r["Description"]}</d:Description></m:properties></content></entry>'
                    for r in items)
                body = ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" '
                        'xmlns:d="http://schemas.microsoft.com/ado/2007/08/dataservices" '
                        'xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata">'
                        + entries + "</feed>").encode()
                return httpx.Response(200, content=body, headers={"Content-Type": "application/atom+xml"})
            return httpx.Response(200, json={"value": [{"odata.type": "StandardODATA.Catalog_Контрагенты", **r}
                                                       for r in items]})
        return super().handler(request)

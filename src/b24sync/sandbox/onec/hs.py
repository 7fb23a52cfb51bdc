"""Published HTTP services (erp-side.md §2) and outgoing event webhooks.

§2: conventions are whatever the 1C developer wrote — here JSON, UTF-8 without BOM, explicit 400/404/409
and an error object; the platform adds nothing (no metadata, no paging).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import Response

from b24sync.sandbox.onec.schema import EMPTY_REF
from b24sync.sandbox.onec.store import ODataFault, Store


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status_code=status,
                    media_type="application/json; charset=utf-8")


def _err(status: int, code: str, message: str) -> Response:
    return _json({"error": {"code": code, "message": message}}, status)


class HttpServices:
    """Root URL ``b24``: GET orders/{number}/status, GET counterparties?inn=…, POST orders, GET ping."""

    def __init__(self, store: Store):
        self.store = store

    async def __call__(self, request: Request, path: str, user) -> Response:
        parts = [p for p in path.split("/") if p]
        if not parts or parts[0] != "b24":
            return _err(404, "not_found", "HTTP-сервис не найден")
        parts = parts[1:]
        method = request.method.upper()
        if parts == ["ping"] and method == "GET":
            return _json({"status": "ok", "time": dt.datetime.now().replace(microsecond=0).isoformat()})
        if len(parts) == 3 and parts[0] == "orders" and parts[2] == "status" and method == "GET":
            return self._order_status(parts[1])
        if parts == ["counterparties"] and method == "GET":
            inn = request.query_params.get("inn", "")
            with self.store.lock:
                rows = [r for r in self.store.objects["Catalog_Контрагенты"].values() if r["ИНН"] == inn]
            return _json({"items": [{"ref": r["Ref_Key"], "name": r["Description"], "inn": r["ИНН"], "kpp": r["КПП"]}
                                    for r in rows]})
        if len(parts) == 2 and parts[0] == "files" and method == "GET":
            return self._file(parts[1])
        if len(parts) == 3 and parts[0] == "print" and method == "GET":
            return self._print_form(parts[1], parts[2])
        if parts == ["orders"] and method == "POST":
            try:
                body = json.loads((await request.body()).decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                return _err(400, "bad_json", "Тело запроса не является JSON")
            return self._create_order(body, user)
        return _err(404, "not_found", "Шаблон URL не найден")

    def _file(self, ref: str) -> Response:
        """An attached file's bytes whatever its storage (what the BSP's РаботаСФайлами.ДвоичныеДанныеФайла gives a
        1C developer — document-flows.md B.9: the reliable path for files kept in volumes on the server disk)."""
        import base64

        with self.store.lock:
            for name, objs in self.store.objects.items():
                if not name.endswith("ПрисоединенныеФайлы") or ref not in objs:
                    continue
                item = objs[ref]
                data = (getattr(self.store, "volume_files", {}) or {}).get(ref)
                if data is None and item.get("ФайлХранилище_Base64Data"):
                    data = base64.b64decode(item["ФайлХранилище_Base64Data"])
                if data is None:
                    for (f, _), rec in self.store.records["InformationRegister_ХранилищеФайлов"].items():
                        if f == ref:
                            blob = self.store.objects["Catalog_ХранилищеДвоичныхДанных"].get(
                                rec["ХранилищеДвоичныхДанных_Key"])
                            data = base64.b64decode(blob["ДвоичныеДанные_Base64Data"]) if blob else None
                if data is None:
                    return _err(404, "file_not_found", f"Двоичные данные файла {ref} не найдены")
                return Response(data, media_type="application/octet-stream")
        return _err(404, "file_not_found", f"Файл {ref} не найден")

    def _print_form(self, entity_set: str, ref: str) -> Response:
        """The printable form of a document as PDF (an HTTP service a 1C developer writes over the print manager)."""
        with self.store.lock:
            doc = self.store.objects.get(entity_set, {}).get(ref)
            if doc is None:
                return _err(404, "not_found", f"{entity_set} {ref} не найден")
            lines = [f"{entity_set.split('_', 1)[-1]} No {doc.get('Number', '')}",
                     f"Date {str(doc.get('Date', ''))[:10]}", f"Sum {doc.get('СуммаДокумента', '')}",
                     "Digest " + hashlib.sha1(json.dumps(doc, ensure_ascii=False, sort_keys=True,  # noqa: S324
                                                         default=str).encode()).hexdigest()]
        return Response(_pdf(lines), media_type="application/pdf")

    def _order_status(self, number: str) -> Response:
        with self.store.lock:
            for r in self.store.objects["Document_ЗаказКлиента"].values():
                if r["Number"] == number:
                    return _json({"ref": r["Ref_Key"], "number": r["Number"], "date": r["Date"], "status": r["Статус"],
                                  "posted": r["Posted"], "deletion_mark": r["DeletionMark"], "sum": r["СуммаДокумента"]})
        return _err(404, "order_not_found", f"Заказ {number} не найден")

    def _create_order(self, body: Any, user) -> Response:
        """One call creates the order with business logic (fill check + posting) — §2 "why HTTP services"."""
        if user.read_only:
            return _err(403, "forbidden", "Недостаточно прав")
        if not isinstance(body, dict) or not body.get("counterparty_inn") or not body.get("items"):
            return _err(400, "validation", "Нужны counterparty_inn и items")
        s = self.store
        with s.lock:
            cps = [r for r in s.objects["Catalog_Контрагенты"].values() if r["ИНН"] == body["counterparty_inn"]]
            if not cps:
                return _err(404, "counterparty_not_found", "Контрагент не найден")
            if body.get("external_id"):
                for r in s.objects["Document_ЗаказКлиента"].values():
                    if r["НомерПоДаннымКлиента"] == body["external_id"]:
                        return _err(409, "duplicate", f"Заказ уже создан: {r['Number']}")
            rows = []
            for n, item in enumerate(body["items"], 1):
                prod = next((p for p in s.objects["Catalog_Номенклатура"].values() if p["Артикул"] == item.get("sku")), None)
                if prod is None:
                    return _err(400, "unknown_sku", f"Номенклатура с артикулом {item.get('sku')} не найдена")
                qty, price = float(item.get("qty", 1)), float(item.get("price", 0))
                total = round(qty * price, 2)
                rows.append({"LineNumber": n, "Номенклатура_Key": prod["Ref_Key"], "Количество": qty,
                             "КоличествоУпаковок": qty, "Цена": price, "Сумма": total, "СтавкаНДС": "НДС22",
                             "СуммаНДС": round(total * 22 / 122, 2), "СуммаСНДС": total})
            cp = cps[0]
            wh = next(iter(s.objects["Catalog_Склады"]), EMPTY_REF)
            order = s.create("Document_ЗаказКлиента", {
                "Контрагент_Key": cp["Ref_Key"], "Партнер_Key": cp["Партнер_Key"], "Склад_Key": wh,
                "Статус": "КОбеспечению", "СуммаДокумента": round(sum(r["Сумма"] for r in rows), 2),
                "ЦенаВключаетНДС": True, "НомерПоДаннымКлиента": body.get("external_id", ""),
                "Комментарий": body.get("comment", ""), "Товары": rows})
            try:
                if body.get("post", True):
                    s.post("Document_ЗаказКлиента", order["Ref_Key"])
            except ODataFault as fault:
                return _err(409, "posting_failed", fault.message)
            return _json({"ref": order["Ref_Key"], "number": order["Number"], "posted": order["Posted"]}, 201)


@dataclass
class Delivery:
    delivery_id: str
    url: str
    kind: str
    status: int | None
    error: str | None = None
    attempts: int = 1


@dataclass
class EventPusher:
    """POSTs events as JSON: ``X-1C-Event``, ``X-1C-Delivery-Id`` and either ``X-1C-Secret`` (shared secret)
    or ``X-1C-Timestamp`` + ``X-1C-Signature: sha256=<hex HMAC-SHA256 of "<delivery id>.<timestamp>." + body>``
    (Standard Webhooks' signed content, research anchors.md §4.3)."""

    base: str
    url: str | None = None
    secret: str | None = None
    mode: str = "hmac"  # or "shared"
    kinds: set[str] | None = None
    retries: int = 2
    deliveries: list[Delivery] = field(default_factory=list)
    _queue: "queue.Queue[tuple[str, str, dict]]" = field(default_factory=queue.Queue)
    _thread: threading.Thread | None = None

    def build(self, kind: str, payload: dict, secret: str | None, mode: str) -> tuple[str, bytes, dict[str, str]]:
        delivery_id = str(uuid.uuid4())
        body = json.dumps({"id": delivery_id, "kind": kind, "base": self.base,
                           "occurred_at": dt.datetime.now().replace(microsecond=0).isoformat(), "data": payload},
                          ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8", "X-1C-Event": kind,
                   "X-1C-Delivery-Id": delivery_id}
        if secret:
            if mode == "shared":
                headers["X-1C-Secret"] = secret
            else:
                ts = str(int(time.time()))
                signed = f"{delivery_id}.{ts}.".encode() + body
                headers["X-1C-Timestamp"] = ts
                headers["X-1C-Signature"] = "sha256=" + hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
        return delivery_id, body, headers

    def push(self, url: str, kind: str, payload: dict, *, secret: str | None = None, mode: str | None = None,
             timeout: float = 10.0) -> Delivery:
        delivery_id, body, headers = self.build(kind, payload, secret if secret is not None else self.secret,
                                                mode or self.mode)
        delivery = Delivery(delivery_id, url, kind, None, attempts=0)
        for _ in range(self.retries + 1):
            delivery.attempts += 1
            try:
                resp = httpx.post(url, content=body, headers=headers, timeout=timeout)
                delivery.status, delivery.error = resp.status_code, None
                if resp.status_code < 500:
                    break
            except httpx.HTTPError as exc:
                delivery.error = type(exc).__name__
        self.deliveries.append(delivery)
        return delivery

    # automatic pushes after relevant writes (store listener) go through a worker thread
    def on_store_event(self, kind: str, payload: dict) -> None:
        if self.url and (self.kinds is None or kind in self.kinds):
            self._ensure_worker()
            self._queue.put((self.url, kind, payload))

    def _ensure_worker(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._work, name="onec-events", daemon=True)
            self._thread.start()

    def _work(self) -> None:
        while True:
            url, kind, payload = self._queue.get()
            try:
                self.push(url, kind, payload)
            finally:
                self._queue.task_done()

    def flush(self, timeout: float = 10.0) -> None:
        import time
        end = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < end:
            time.sleep(0.02)


def _pdf(lines: list[str]) -> bytes:
    """A one-page PDF 1.4 with the lines as text (ASCII), valid xref — written here, not shared with the other
    sandboxes."""
    text = "BT /F1 11 Tf 50 780 Td 14 TL " + " ".join(
        "(" + ln.encode("ascii", "replace").decode().replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        + ") '" for ln in lines) + " ET"
    objs = ["<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
            "/Contents 5 0 R >>", "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            f"<< /Length {len(text)} >>\nstream\n{text}\nendstream"]
    out = b"%PDF-1.4\n"
    offsets = []
    for i, o in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{o}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{off:010d} 00000 n \n".encode() for off in offsets)
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out

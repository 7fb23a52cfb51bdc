"""In-memory state of the emulated infobase: objects, register records, numbering, DataVersion and the
exchange plan's change registration. Thread-safe (one RLock): the ASGI app and test helpers share it.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import re
import sqlite3
import struct
import threading
import uuid
from collections import defaultdict
from typing import Any, Callable, Iterable

from b24sync.sandbox.onec import profiles
from b24sync.sandbox.onec.schema import EMPTY_DATE, EMPTY_REF, ENUMS, EntityDef, Field


class ODataFault(Exception):
    """An error the service reports as ``odata.error`` (erp-side.md §1.12)."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


INTERNAL = "Произошла внутренняя ошибка OData сервиса. Подробности см. в технологическом журнале."


def not_found() -> ODataFault:  # §1.12: 404 code 9
    return ODataFault(404, "9", "Экземпляр сущности не найден")


def bad_literal(value: Any, type_name: str) -> ODataFault:  # §1.12: 400 code 1 (body literal of wrong type)
    return ODataFault(400, "1", f"Не удалось разобрать строку '{value}' как значение типа {type_name}!")


def segment_not_found(name: str) -> ODataFault:  # §1.12: 400 code 6, the name is echoed (§1.12 echo)
    return ODataFault(400, "6", f"Сегмент пути {name} не найден!")


def internal(text: str = INTERNAL) -> ODataFault:  # §1.12: 500 code -1
    return ODataFault(500, "-1", text)


def data_version(counter: int) -> str:
    """§1.10: DataVersion is an 8-byte counter in base64 (AAAAAAAAAAA= → AAAAAAAAAAE= …)."""
    return base64.b64encode(struct.pack(">Q", counter)).decode("ascii")


_DT_RX = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")


def now_1c() -> str:
    """§1.5 / §10.3: zone-less wall clock of the infobase."""
    return dt.datetime.now().replace(microsecond=0).isoformat()


class Store:
    def __init__(self, *, exchange_plan: str = "ОбменСB24", document_prefix: str | None = None,
                 code_prefix: str | None = None, profile: str = "ut11", order_state: str = "composite"):
        self.lock = threading.RLock()
        self.profile = profiles.profile_name(profile)
        self.order_state = order_state  # unf30: УНФ 3.0.8.73's composite СостояниеЗаказа, or "key" (older reading)
        self.defs: dict[str, EntityDef] = {d.name: d for d in profiles.build(
            self.profile, exchange_plan, document_prefix=document_prefix, code_prefix=code_prefix,
            order_state=order_state)}
        self.FILL_CHECKS, self.FULL_FILL_CHECKS = profiles.fill_checks(self.profile, order_state=order_state)
        # documents whose fill checks also run on every write (the other reading of the open item "whether
        # programmatic OData writes run fill checks without posting"; by default only Post checks)
        self.check_on_write: set[str] = set()
        self.exchange_plan = f"ExchangePlan_{exchange_plan}"
        self.objects: dict[str, dict[str, dict]] = {n: {} for n, d in self.defs.items() if d.is_reference}
        # recorder registers: name -> recorder ref -> (recorder type, [records])
        self.sets: dict[str, dict[str, tuple[str, list[dict]]]] = {
            n: {} for n, d in self.defs.items() if d.recorder_types}
        # independent information registers: name -> key tuple -> record
        self.records: dict[str, dict[tuple, dict]] = {
            n: {} for n, d in self.defs.items() if d.kind == "InformationRegister" and not d.recorder_types}
        self.counters: dict[str, int] = defaultdict(int)
        # exchange plan registration (§4.1 + onecdc DESIGN "Как 1С отдаёт изменения"):
        # node ref -> {(entity set, key): message number or None}
        self.registrations: dict[str, dict[tuple[str, str], int | None]] = {}
        self.published: set[str] | None = None  # None = everything published (§1.1 composition)
        self.listeners: list[Callable[[str, dict], None]] = []
        self.posting_failures: dict[str, str] = {}  # entity set -> handler text (§1.9 scripted failures)
        self.write_failures: dict[str, str] = {}
        self.register_changes = True
        self._ensure_this_node()

    # ------------------------------------------------------------------ helpers
    def d(self, name: str) -> EntityDef:
        d = self.defs.get(name)
        if d is None:
            raise ODataFault(404, "9", name)
        return d

    def is_published(self, name: str) -> bool:
        return self.published is None or name in self.published

    def emit(self, kind: str, payload: dict) -> None:
        for listener in list(self.listeners):
            try:
                listener(kind, payload)
            except Exception:  # pragma: no cover - a listener must never break a write
                pass

    def _ensure_this_node(self) -> None:
        plan = self.objects[self.exchange_plan]
        ref = str(uuid.uuid4())
        plan[ref] = self._blank(self.defs[self.exchange_plan]) | {
            "Ref_Key": ref, "Code": "ЦБ", "Description": "Центральная база", "ThisNode": True, "__v": 0}

    def _blank(self, d: EntityDef) -> dict:
        rec: dict[str, Any] = {}
        for f in d.all_fields():
            rec[f.name] = self._default(f)
        for t in d.tabular:
            rec[t.name] = []
        return rec

    @staticmethod
    def _default(f: Field) -> Any:
        if f.default is not None:
            return f.default
        if f.type == "Guid":
            return EMPTY_REF
        if f.type == "DateTime":
            return EMPTY_DATE
        if f.type in ("Double", "Int64", "Int32"):
            return 0
        if f.type == "Boolean":
            return False
        return ""

    # ------------------------------------------------------------------ value coercion (§1.8 lenient writes)
    def coerce(self, f: Field, value: Any, current: Any, strict: bool) -> Any:
        t = f.type
        if t == "String":
            if isinstance(value, (list, dict)):
                raise internal()  # §1.8: array into string -> 500 code -1
            if value is None:
                value = ""
            value = value if isinstance(value, str) else (
                ("true" if value else "false") if isinstance(value, bool) else str(value))
            if f.enum and value and value not in ENUMS.get(f.enum, [value]):
                raise bad_literal(value, f"StandardODATA.{f.enum}")
            if f.max_length:
                value = value[: f.max_length]  # §1.5: over-long strings are silently truncated
            return value
        if t == "Guid":
            if value is None:
                return EMPTY_REF
            if not isinstance(value, str):
                raise bad_literal(value, "Edm.Guid")
            try:
                return str(uuid.UUID(value))  # §1.8: dangling references are stored as is
            except ValueError:
                raise bad_literal(value, "Edm.Guid") from None
        if t == "Boolean":
            if isinstance(value, bool):
                return value
            raise bad_literal(value, "Edm.Boolean")  # §1.8: string into Boolean -> 400 code 1
        if t in ("Double", "Int64", "Int32"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                if isinstance(value, (list, dict)):
                    raise internal()
                if strict:
                    raise bad_literal(value, f"Edm.{t}")
                return current  # §1.8: string into Edm.Int64 -> 200, value unchanged
            return int(value) if t != "Double" else (int(value) if float(value).is_integer() else float(value))
        if t == "DateTime":
            if value is None or value == "":
                return EMPTY_DATE
            if isinstance(value, str):
                v = value[:19]
                if len(v) == 10:
                    v += "T00:00:00"
                if _DT_RX.match(v):
                    return v
            raise bad_literal(value, "Edm.DateTime")
        return value

    def _apply(self, d: EntityDef, rec: dict, data: dict, *, creating: bool, strict: bool) -> None:
        if not isinstance(data, dict):
            raise internal()  # §1.8: wrong JSON shape -> 500 code -1
        for key, value in data.items():
            if key.endswith("@odata.bind") or key.startswith("odata.") or "@" in key:
                continue
            tab = d.tab(key)
            if tab is not None:
                rec[key] = self._rows(tab, value, strict)
                continue
            f = d.field(key)
            if f is None:
                if strict:
                    raise segment_not_found(key)
                continue  # §1.8: unknown property -> ignored, 200
            if key in ("DataVersion", "Posted", "ThisNode", "Predefined", "PredefinedDataName"):
                continue  # §1.10: DataVersion in the body is not a precondition; Posted only via Post
            if key == "Ref_Key" and not creating:
                continue  # §1.8: Ref_Key in a PATCH body is ignored
            rec[key] = self.coerce(f, value, rec.get(key), strict)
        self._composites(d.all_fields(), rec, data)

    @staticmethod
    def _composites(fields: list[Field], rec: dict, data: dict) -> None:
        """A composite attribute (erp-side.md §1.4) is read with its ``_Type``: a type the attribute does not allow
        → 400 code 1; a value written without its type is not stored ([L] sandbox reading — the platform cannot
        tell which table the GUID is of), so a client that writes ``X_Key`` or ``X`` alone leaves it empty and
        1C's fill check names it."""
        for f in fields:
            if not f.composite or (f.name not in data and f"{f.name}_Type" not in data):
                continue
            tname = f"{f.name}_Type"
            value, typ = rec.get(f.name) or "", rec.get(tname) or ""
            if value in ("", EMPTY_REF):
                rec[f.name], rec[tname] = "", typ if f.name not in data else ""
                continue
            allowed = {f"StandardODATA.{t}" for t in f.composite}
            if not typ:
                rec[f.name] = ""
            elif typ not in allowed:
                raise bad_literal(typ, f"составной тип {f.name}")
            else:
                try:
                    rec[f.name] = str(uuid.UUID(str(value)))
                except ValueError:
                    raise bad_literal(value, "Edm.Guid") from None

    def _rows(self, tab, value: Any, strict: bool) -> list[dict]:
        if not isinstance(value, list):
            raise internal()
        rows = []
        for item in value:
            if not isinstance(item, dict):
                raise internal()
            if "LineNumber" not in item:
                raise internal()  # §1.8 / [FORUM-500]: a row without LineNumber -> 500, object not written
            row = {f.name: self._default(f) for f in tab.fields}
            for key, v in item.items():
                f = next((x for x in tab.fields if x.name == key), None)
                if f is None:
                    if strict:
                        raise segment_not_found(key)
                    continue
                if key == "LineNumber":
                    try:
                        row["LineNumber"] = int(v)
                    except (TypeError, ValueError):
                        raise bad_literal(v, "Edm.Int64") from None
                    continue
                row[key] = self.coerce(f, v, row.get(key), strict)
            self._composites(tab.fields, row, item)
            rows.append(row)
        return rows

    # ------------------------------------------------------------------ numbering (§10.3)
    def next_code(self, d: EntityDef) -> str:
        self.counters["code:" + d.name] += 1
        n = self.counters["code:" + d.name]
        width = max(1, d.code_length - len(d.code_prefix))
        return f"{d.code_prefix}{n:0{width}d}"

    def next_number(self, d: EntityDef) -> str:
        self.counters["num:" + d.name] += 1
        n = self.counters["num:" + d.name]
        return f"{d.number_prefix}{n:06d}"

    # ------------------------------------------------------------------ CRUD
    def create(self, name: str, data: dict, *, strict: bool = False, register: bool = True) -> dict:
        with self.lock:
            d = self.d(name)
            if not d.is_reference:
                raise ODataFault(400, "13", "Создание записей напрямую не поддерживается")
            if name in self.write_failures:
                raise internal(f"Ошибка при выполнении обработчика - 'ПередЗаписью'\n{self.write_failures[name]}")
            rec = self._blank(d)
            if d.kind == "Document":
                rec["Date"] = now_1c()
            self._apply(d, rec, data, creating=True, strict=strict)
            self._on_write(d, rec)
            ref = rec.get("Ref_Key")
            if not ref or ref == EMPTY_REF or ref in self.objects[name]:
                ref = str(uuid.uuid4())
            rec["Ref_Key"] = ref
            if d.has_code and not rec.get("Code"):
                rec["Code"] = self.next_code(d)
            self._write_check(name, rec)
            if d.kind == "Document" and not rec.get("Number"):
                rec["Number"] = self.next_number(d)
            if d.kind == "ExchangePlan" and not rec.get("Code"):
                rec["Code"] = self.next_code(d)
            rec["__v"] = 0  # §1.8: a fresh object has DataVersion AAAAAAAAAAA=
            self.objects[name][ref] = rec
            if d.kind == "ExchangePlan":
                self.registrations[ref] = {}
            elif register:
                self.register(name, ref)
            return rec

    @staticmethod
    def _on_write(d: EntityDef, rec: dict) -> None:
        """What 1C's object module does on write. A shipment with a header order fills the rows' empty orders
        from it; one without (several orders) is "по нескольким заказам" (document-flows.md B.6, UT
        РеализацияТоваровУслуг/ObjectModule.bsl ≈ 403–404, 828–834)."""
        if d.name == "Document_РеализацияТоваровУслуг":
            head = rec.get("ЗаказКлиента_Key") or EMPTY_REF
            if head != EMPTY_REF:
                for r in rec.get("Товары") or []:
                    if (r.get("ЗаказКлиента_Key") or EMPTY_REF) == EMPTY_REF:
                        r["ЗаказКлиента_Key"] = head
                rec["РеализацияПоЗаказам"] = False
            else:
                rec["РеализацияПоЗаказам"] = any((r.get("ЗаказКлиента_Key") or EMPTY_REF) != EMPTY_REF
                                                 for r in rec.get("Товары") or [])

    @staticmethod
    def paid_orders(rec: dict) -> list[str]:
        return [r["ОснованиеПлатежа"] for r in rec.get("РасшифровкаПлатежа", [])
                if str(r.get("ОснованиеПлатежа_Type") or "").endswith("Document_ЗаказКлиента")
                and r.get("ОснованиеПлатежа") not in (None, "", EMPTY_REF)]

    def get(self, name: str, ref: str) -> dict:
        with self.lock:
            rec = self.objects.get(name, {}).get(ref)
            if rec is None:
                raise not_found()
            return rec

    def update(self, name: str, ref: str, data: dict, *, strict: bool = False, register: bool = True) -> dict:
        with self.lock:
            d = self.d(name)
            rec = self.get(name, ref)
            if name in self.write_failures:
                raise internal(f"Ошибка при выполнении обработчика - 'ПередЗаписью'\n{self.write_failures[name]}")
            before = copy.deepcopy(rec)
            self._apply(d, rec, data, creating=False, strict=strict)
            self._on_write(d, rec)
            if name in self.check_on_write:
                try:
                    self._write_check(name, rec)
                except ODataFault:
                    rec.clear()
                    rec.update(before)  # the object is not written
                    raise
            if d.kind == "Document" and rec.get("DeletionMark") and rec.get("Posted"):
                # 1C clears posting when a document is marked for deletion
                self._unpost(d, rec)
            self.touch(name, rec, register=register)
            self._after_write(d, before, rec)
            return rec

    def touch(self, name: str, rec: dict, *, register: bool = True) -> None:
        """§1.10: every write bumps DataVersion (even an identical PATCH) and registers the change."""
        rec["__v"] = rec.get("__v", 0) + 1
        if register and self.defs[name].kind != "ExchangePlan":
            self.register(name, rec["Ref_Key"])

    def delete(self, name: str, ref: str) -> None:
        with self.lock:
            d = self.d(name)
            rec = self.get(name, ref)  # §1.8: DELETE is an immediate physical delete
            if d.kind == "Document" and rec.get("Posted"):
                self._unpost(d, rec)
            del self.objects[name][ref]
            if d.kind == "ExchangePlan":
                self.registrations.pop(ref, None)
            else:
                self.register(name, ref)

    def _after_write(self, d: EntityDef, before: dict, rec: dict) -> None:
        if d.name == "Document_ЗаказКлиента" and before.get("Статус") != rec.get("Статус"):
            self.emit("order.status_changed", {
                "ref": rec["Ref_Key"], "number": rec["Number"], "date": rec["Date"],
                "old_status": before.get("Статус"), "status": rec.get("Статус"),
                "counterparty": rec.get("Контрагент_Key"), "sum": rec.get("СуммаДокумента")})

    # Per profile (profiles.py): УТ always checks a client and a catalogue item on every row (B.1 "An order therefore
    # needs ..."); the rest of B.1's ShowError list depends on functional options; ``full_fill_checks`` switches it on.
    full_fill_checks = False

    def _fill_check(self, name: str, rec: dict) -> list[str]:
        table = self.FULL_FILL_CHECKS if self.full_fill_checks else self.FILL_CHECKS
        header, rows, tab, rows_required = table.get(name, ([], [], "Товары", False))
        out = [f.removesuffix("_Key") for f in header if rec.get(f) in (None, "", EMPTY_REF)]
        for r in rec.get(tab) or []:
            out += [f'{f.removesuffix("_Key")} в строке {r.get("LineNumber")} списка "{tab}"' for f in rows
                    if r.get(f) in (None, "", 0, EMPTY_REF)]
        if name in table and rows_required and not rec.get(tab):
            out.append(f'{tab} (табличная часть не заполнена)')
        return out

    def _write_check(self, name: str, rec: dict) -> None:
        if name in self.check_on_write:
            missing = self._fill_check(name, rec)
            if missing:
                raise internal("Ошибка при выполнении обработчика - 'ОбработкаПроверкиЗаполнения'\n"
                               + "\n".join(f'Поле "{m}" не заполнено' for m in missing))

    # ------------------------------------------------------------------ posting (§1.9)
    def post(self, name: str, ref: str, operational: bool = False, *, fill_checks: bool = False) -> dict:
        """Post a document. ``fill_checks``: run the fill checks (the OData ``Post`` action does; the sandbox's own
        scripted documents — site orders, HTTP-service orders — are posted as 1C's own code would, unchecked)."""
        with self.lock:
            d = self.d(name)
            if d.kind != "Document":
                raise segment_not_found("Post")
            rec = self.get(name, ref)
            if not d.postable:
                # [L] a document whose metadata forbids posting (БП СчетНаОплатуПокупателю: no register records)
                raise internal(f"Документ {d.name.removeprefix('Document_')} не может быть проведен: "
                               "проведение запрещено в метаданных")
            if rec.get("DeletionMark"):
                # §1.9 [L]: posting a deletion-marked document fails
                raise internal("Ошибка при выполнении обработчика - 'ОбработкаПроведения'\n"
                               "Помеченный на удаление документ не может быть проведен!")
            missing = self._fill_check(name, rec) if fill_checks else []
            if missing:
                # document-flows.md B.1 "Metadata fill checks (ShowError)": 1C refuses to post, the handler's text
                # names each unfilled field (sandbox wording after the platform's «Поле "…" не заполнено»)
                raise internal("Ошибка при выполнении обработчика - 'ОбработкаПроверкиЗаполнения'\n"
                               + "\n".join(f'Поле "{m}" не заполнено' for m in missing))
            if name in self.posting_failures:
                raise internal(f"Ошибка при выполнении обработчика - 'ОбработкаПроведения'\n"
                               f"{self.posting_failures[name]}")
            self._write_movements(d, rec)
            rec["Posted"] = True
            self.touch(name, rec)
            self._invoice_statuses(rec)
            if name in ("Document_ПоступлениеБезналичныхДенежныхСредств", "Document_ПриходныйКассовыйОрдер"):
                self.emit("payment.posted", {
                    "ref": ref, "number": rec["Number"], "date": rec["Date"], "sum": rec["СуммаДокумента"],
                    "counterparty": rec.get("Контрагент_Key"), "orders": self.paid_orders(rec)})
            elif name == "Document_РеализацияТоваровУслуг":
                self.emit("shipment.posted", {
                    "ref": ref, "number": rec["Number"], "date": rec["Date"], "sum": rec["СуммаДокумента"],
                    "counterparty": rec.get("Контрагент_Key"), "order": rec.get("ЗаказКлиента_Key")})
            return rec

    def unpost(self, name: str, ref: str) -> dict:
        with self.lock:
            d = self.d(name)
            if d.kind != "Document":
                raise segment_not_found("Unpost")
            rec = self.get(name, ref)
            self._unpost(d, rec)
            self.touch(name, rec)
            self._invoice_statuses(rec)
            return rec

    STATUS_REGISTER = "InformationRegister_СтатусыДокументов"
    PAYMENT_STATUS_TYPE = "StandardODATA.Enum_СтатусОплатыСчета"

    def _invoice_statuses(self, receipt: dict) -> None:
        """БП (document-flows.md B.3): after a receipt posts or unposts, the payment status of each customer invoice
        in its rows is recomputed from ОплатаСчетов — paid ≥ the invoice total → Оплачен, some → ОплаченЧастично,
        none → НеОплачен; an invoice the accountant cancelled (Отменен) keeps it [L]."""
        if self.STATUS_REGISTER not in self.records or "AccumulationRegister_ОплатаСчетов" not in self.sets:
            return
        invoices = {r.get("СчетНаОплату_Key") for r in receipt.get("РасшифровкаПлатежа") or []} - {None, "", EMPTY_REF}
        for inv in sorted(invoices):
            doc = self.objects.get("Document_СчетНаОплатуПокупателю", {}).get(inv)
            if doc is None:
                continue
            paid = sum((r.get("Сумма") or 0) * (-1 if r.get("RecordType") == "Expense" else 1)
                       for r in self.register_rows("AccumulationRegister_ОплатаСчетов")
                       if r.get("СчетНаОплату_Key") == inv and r.get("Active", True))
            total = doc.get("СуммаДокумента") or 0
            status = "Оплачен" if paid >= total - 1e-9 and paid > 0 else "ОплаченЧастично" if paid > 1e-9 else "НеОплачен"
            self.set_document_status(doc, status, keep_cancelled=True)

    def set_document_status(self, doc: dict, status: str, *, keep_cancelled: bool = False) -> dict | None:
        """Write the invoice's record of СтатусыДокументов (one per document: the organisation's record replaces
        any other, as БП's УстановитьСтатусыДокументов does)."""
        from b24sync.sandbox.onec.schema import ENUMS

        if status not in ENUMS["СтатусОплатыСчета"]:
            raise ValueError(f"not a member of СтатусОплатыСчета: {status!r}")
        with self.lock:
            recs = self.records[self.STATUS_REGISTER]
            mine = [k for k, r in recs.items() if r.get("Документ") == doc["Ref_Key"]]
            if keep_cancelled and any(recs[k].get("Статус") == "Отменен" for k in mine):
                return None
            if mine and all(recs[k].get("Статус") == status for k in mine):
                return recs[mine[0]]
            for k in mine:
                del recs[k]
            return self.write_info(self.STATUS_REGISTER, {
                "Организация_Key": doc.get("Организация_Key") or EMPTY_REF, "Документ": doc["Ref_Key"],
                "Документ_Type": "StandardODATA.Document_СчетНаОплатуПокупателю", "Статус": status,
                "Статус_Type": self.PAYMENT_STATUS_TYPE})

    BANK_STATE_REGISTER = "InformationRegister_СостоянияБанковскихДокументов"

    def set_bank_document_state(self, doc: dict, state: str, doc_type: str = "Document_ПлатежноеПоручение") -> dict:
        """БП: the state of a payment order (Подготовлено … Оплачено, Отклонено) — one record of
        СостоянияБанковскихДокументов per document, replaced on every change (docs/flow-suppliers.md) [L: who writes
        it — a user, the bank exchange — is not modelled]."""
        from b24sync.sandbox.onec.schema import ENUMS

        if state not in ENUMS["СостоянияБанковскихДокументов"]:
            raise ValueError(f"not a member of СостоянияБанковскихДокументов: {state!r}")
        with self.lock:
            recs = self.records[self.BANK_STATE_REGISTER]
            for k in [k for k, r in recs.items() if r.get("СсылкаНаОбъект") == doc["Ref_Key"]]:
                del recs[k]
            return self.write_info(self.BANK_STATE_REGISTER, {
                "Организация_Key": doc.get("Организация_Key") or EMPTY_REF, "СсылкаНаОбъект": doc["Ref_Key"],
                "СсылкаНаОбъект_Type": f"StandardODATA.{doc_type}", "Состояние": state})

    def _unpost(self, d: EntityDef, rec: dict) -> None:
        rec["Posted"] = False
        for reg in d.posts_to:
            if rec["Ref_Key"] in self.sets[reg]:
                self.sets[reg][rec["Ref_Key"]] = (d.name, [])  # emptied record set (registered as a change)
                self.register(reg, rec["Ref_Key"])

    def _write_movements(self, d: EntityDef, rec: dict) -> None:
        ref, period = rec["Ref_Key"], rec["Date"]
        moves: dict[str, list[dict]] = {reg: [] for reg in d.posts_to}
        rows = rec.get("Товары", [])
        if d.name == "Document_ЗаказКлиента":
            for r in rows:
                sklad = r.get("Склад_Key") if r.get("Склад_Key", EMPTY_REF) != EMPTY_REF else rec["Склад_Key"]
                moves["AccumulationRegister_ТоварыНаСкладах"].append({
                    "RecordType": "Receipt", "Номенклатура_Key": r["Номенклатура_Key"], "Склад_Key": sklad,
                    "ВНаличии": 0, "КОтгрузке": r["Количество"]})
        elif d.name == "Document_ПриобретениеТоваровУслуг":
            for r in rows:
                moves["AccumulationRegister_ТоварыНаСкладах"].append({
                    "RecordType": "Receipt", "Номенклатура_Key": r["Номенклатура_Key"],
                    "Склад_Key": rec["Склад_Key"], "ВНаличии": r["Количество"], "КОтгрузке": 0})
        elif d.name == "Document_РеализацияТоваровУслуг":
            has_order = rec.get("ЗаказКлиента_Key", EMPTY_REF) != EMPTY_REF
            for r in rows:
                moves["AccumulationRegister_ТоварыНаСкладах"].append({
                    "RecordType": "Expense", "Номенклатура_Key": r["Номенклатура_Key"],
                    "Склад_Key": rec["Склад_Key"], "ВНаличии": r["Количество"],
                    "КОтгрузке": r["Количество"] if has_order else 0})
                moves["AccumulationRegister_ВыручкаИСебестоимостьПродаж"].append({
                    "Номенклатура_Key": r["Номенклатура_Key"], "Контрагент_Key": rec["Контрагент_Key"],
                    "Количество": r["Количество"], "Сумма": r.get("СуммаСНДС") or r["Сумма"]})
            key = self.analytics_key(rec, rec.get("Партнер_Key"), rec.get("Договор_Key"))
            moves["AccumulationRegister_РасчетыСКлиентами"].append({
                "RecordType": "Receipt", "АналитикаУчетаПоПартнерам_Key": key,
                "ЗаказКлиента_Key": rec.get("ЗаказКлиента_Key", EMPTY_REF), "Сумма": rec["СуммаДокумента"]})
            if "AccumulationRegister_РасчетыСКлиентамиПоСрокам" in moves:
                moves["AccumulationRegister_РасчетыСКлиентамиПоСрокам"].append({
                    "RecordType": "Receipt", "АналитикаУчетаПоПартнерам_Key": key,
                    "ДатаПлановогоПогашения": self._due_date(rec), "ДатаВозникновения": period,
                    "Долг": rec["СуммаДокумента"], "Предоплата": 0})
        elif d.name in ("Document_ПоступлениеБезналичныхДенежныхСредств", "Document_ПриходныйКассовыйОрдер"):
            parts = rec.get("РасшифровкаПлатежа") or [{"Сумма": rec["СуммаДокумента"]}]
            keys = []
            for r in parts:
                order = r.get("ОснованиеПлатежа") if str(r.get("ОснованиеПлатежа_Type") or "").endswith(
                    "Document_ЗаказКлиента") else EMPTY_REF
                partner = r.get("Партнер_Key") if r.get("Партнер_Key", EMPTY_REF) != EMPTY_REF else rec.get("Партнер_Key")
                keys.append(self.analytics_key(rec, partner, r.get("Договор_Key")))
                moves["AccumulationRegister_РасчетыСКлиентами"].append({
                    "RecordType": "Expense", "АналитикаУчетаПоПартнерам_Key": keys[-1],
                    "ЗаказКлиента_Key": order or EMPTY_REF, "Сумма": r.get("Сумма", 0)})
            if "AccumulationRegister_РасчетыСКлиентамиПоСрокам" in moves:
                moves["AccumulationRegister_РасчетыСКлиентамиПоСрокам"] = self._pay_by_terms(
                    ref, rec["Контрагент_Key"], keys[0], sum(r.get("Сумма", 0) or 0 for r in parts), period)
        elif d.name == "Document_ПоступлениеНаРасчетныйСчет":  # БП: document-flows.md B.3 ОплатаСчетов
            for r in rec.get("РасшифровкаПлатежа") or []:
                if r.get("СчетНаОплату_Key", EMPTY_REF) != EMPTY_REF:
                    moves["AccumulationRegister_ОплатаСчетов"].append({
                        "RecordType": "Receipt", "Организация_Key": rec["Организация_Key"],
                        "СчетНаОплату_Key": r["СчетНаОплату_Key"], "СтавкаНДС": r.get("СтавкаНДС") or "БезНДС",
                        "Сумма": r.get("СуммаПлатежа", 0), "СуммаНДС": r.get("СуммаНДС", 0)})
        for reg, records in moves.items():
            rd = self.defs[reg]
            full = []
            for i, m in enumerate(records, 1):
                row = {f.name: self._default(f) for f in rd.all_fields()}
                row.update(m)
                row.update({"Period": period, "LineNumber": i, "Active": True})
                if len(rd.recorder_types) == 1:
                    row["Recorder_Key"] = ref
                else:
                    row["Recorder"], row["Recorder_Type"] = ref, f"StandardODATA.{d.name}"
                full.append(row)
            self.sets[reg][ref] = (d.name, full)
            self.register(reg, ref)

    def _due_date(self, rec: dict) -> str:
        """A shipment's planned payment date (document-flows.md B.8 ДатаПлановогоПогашения): its date plus the
        contract's СрокОплаты days when the contract sets a term (УстановленСрокОплаты), else its own date."""
        contract = self.objects.get("Catalog_ДоговорыКонтрагентов", {}).get(rec.get("Договор_Key") or EMPTY_REF)
        day = dt.datetime.fromisoformat(str(rec["Date"])[:19])
        if contract and contract.get("УстановленСрокОплаты"):
            day += dt.timedelta(days=int(contract.get("СрокОплаты") or 0))
        return day.strftime("%Y-%m-%dT00:00:00")

    ANALYTICS_KEYS = "Catalog_КлючиАналитикиУчетаПоПартнерам"

    def analytics_key(self, doc: dict, partner: str | None, contract: str | None) -> str:
        """The settlements' analytics key of a document (document-flows.md B.8): the item of
        Catalog_КлючиАналитикиУчетаПоПартнерам for (partner, organisation, counterparty, contract), created the first
        time a document posts settlements for that combination (as УТ's posting does), reused afterwards."""
        part = partner if partner and partner != EMPTY_REF else EMPTY_REF
        deal = contract if contract and contract != EMPTY_REF else ""
        want = {"Партнер_Key": part, "Организация_Key": doc.get("Организация_Key") or EMPTY_REF,
                "Контрагент": doc.get("Контрагент_Key") or EMPTY_REF,
                "Контрагент_Type": "StandardODATA.Catalog_Контрагенты", "Договор": deal,
                "Договор_Type": "StandardODATA.Catalog_ДоговорыКонтрагентов" if deal else ""}
        slot = tuple(want.values())
        with self.lock:
            items = self.objects[self.ANALYTICS_KEYS]
            index: dict[tuple, str] = self.__dict__.setdefault("_analytics_index", {})
            if index.get(slot) not in items:  # first use, or a base loaded from a state file
                index.clear()
                index.update({tuple(item.get(f) for f in want): k for k, item in items.items()})
            if index.get(slot) in items:
                return index[slot]
            index[slot] = self.create(self.ANALYTICS_KEYS, dict(want), register=False)["Ref_Key"]
            return index[slot]

    def _key_counterparty(self, key: str) -> str | None:
        item = self.objects.get(self.ANALYTICS_KEYS, {}).get(key)
        return item.get("Контрагент") if item else None

    def _pay_by_terms(self, ref: str, counterparty: str, own_key: str, amount: float, period: str) -> list[dict]:
        """A payment closes the client's oldest planned debts first (FIFO by plan date over all the counterparty's
        analytics keys, as УТ's offset of advances and debts does — each closed part on the debt's own key); what is
        left over is a prepayment on the payment's key. Sandbox simplification: the split is made when the payment
        posts and is not redone when an earlier document is unposted later."""
        reg = "AccumulationRegister_РасчетыСКлиентамиПоСрокам"
        open_: dict[tuple[str, str], float] = {}
        for recorder, (_t, rows) in self.sets.get(reg, {}).items():
            if recorder == ref:
                continue
            for r in rows:
                key = r.get("АналитикаУчетаПоПартнерам_Key") or EMPTY_REF
                if self._key_counterparty(key) == counterparty and r.get("Active", True):
                    sign = -1 if r.get("RecordType") == "Expense" else 1
                    slot = (r["ДатаПлановогоПогашения"], key)
                    open_[slot] = open_.get(slot, 0) + sign * (r.get("Долг") or 0)
        out: list[dict] = []
        left = float(amount)
        for due, key in sorted(d for d, v in open_.items() if v > 1e-9):
            if left <= 1e-9:
                break
            part = min(left, open_[(due, key)])
            out.append({"RecordType": "Expense", "АналитикаУчетаПоПартнерам_Key": key, "ДатаПлановогоПогашения": due,
                        "ДатаВозникновения": period, "Долг": part, "Предоплата": 0})
            left -= part
        if left > 1e-9:
            out.append({"RecordType": "Expense", "АналитикаУчетаПоПартнерам_Key": own_key,
                        "ДатаПлановогоПогашения": period, "ДатаВозникновения": period, "Долг": left,
                        "Предоплата": 0})
        return out

    # ------------------------------------------------------------------ information register records
    def info_key(self, d: EntityDef, rec: dict) -> tuple:
        return tuple(rec[k] for k in d.key_fields())

    def write_info(self, name: str, data: dict, *, register: bool = True) -> dict:
        with self.lock:
            d = self.d(name)
            rec = {f.name: self._default(f) for f in d.all_fields()}
            self._apply(d, rec, data, creating=True, strict=False)
            key = self.info_key(d, rec)
            self.records[name][key] = rec
            if register:
                self.register(name, json.dumps(list(key), ensure_ascii=False))
            return rec

    # ------------------------------------------------------------------ exchange plan
    def nodes(self) -> list[dict]:
        return list(self.objects[self.exchange_plan].values())

    def register(self, name: str, key: str) -> None:
        """Every write registers the change for every node except ThisNode (brief; §4.1)."""
        if not self.register_changes or not self.defs[name].exchange:
            return
        for node_ref, regs in self.registrations.items():
            # a repeated write resets the message number to NULL (onecdc DESIGN, "Регистрация — множество")
            regs[(name, key)] = None

    def _node(self, ref: str) -> dict:
        node = self.objects[self.exchange_plan].get(ref)
        if node is None or node.get("ThisNode"):
            raise not_found()
        return node

    def select_changes(self, node_ref: str, message_no: int) -> list[tuple[str, str]]:
        """ВыбратьИзменения(узел, N): registrations numbered N or NULL are returned and marked N.
        Repeating N returns "the same plus anything new" (onecdc DESIGN, verified on a live base)."""
        with self.lock:
            node = self._node(node_ref)
            regs = self.registrations.setdefault(node_ref, {})
            out = []
            for key, no in regs.items():
                if no is None or no == message_no:
                    regs[key] = message_no
                    out.append(key)
            node["SentNo"] = max(node.get("SentNo", 0), message_no)
            return out

    def notify_changes_received(self, node_ref: str, message_no: int) -> None:
        """Deletes registrations numbered <= N (NULL ones survive) and sets ReceivedNo = N."""
        with self.lock:
            node = self._node(node_ref)
            regs = self.registrations.setdefault(node_ref, {})
            for key in [k for k, no in regs.items() if no is not None and no <= message_no]:
                del regs[key]
            node["ReceivedNo"] = message_no

    def pending_changes(self, node_ref: str) -> int:
        with self.lock:
            return len(self.registrations.get(node_ref, {}))

    # ------------------------------------------------------------------ virtual tables (§1.7)
    def register_rows(self, name: str) -> Iterable[dict]:
        if name in self.sets:
            for _type, records in self.sets[name].values():
                yield from records
        elif name in self.records:
            yield from self.records[name].values()

    def balance(self, name: str, period: str | None, condition: Callable[[dict], bool] | None,
                dims: list[str] | None) -> list[dict]:
        d = self.defs[name]
        dims = dims or d.dimensions
        acc: dict[tuple, dict[str, float]] = {}
        with self.lock:
            for r in self.register_rows(name):
                if not r.get("Active", True):
                    continue
                # §1.7: a balance "at D" excludes movements at D 00:00:00 or later
                if period and r["Period"] >= period:
                    continue
                if condition and not condition(r):
                    continue
                key = tuple(r[x] for x in dims)
                sign = -1 if r.get("RecordType") == "Expense" else 1
                slot = acc.setdefault(key, {res: 0 for res in d.resources})
                for res in d.resources:
                    slot[res] += sign * (r.get(res) or 0)
        out = []
        for key, sums in acc.items():
            if all(abs(v) < 1e-9 for v in sums.values()):
                continue
            row = dict(zip(dims, key))
            row.update({f"{res}Balance": _num(v) for res, v in sums.items()})
            out.append(row)
        return out

    def turnovers(self, name: str, start: str | None, end: str | None,
                  condition: Callable[[dict], bool] | None, dims: list[str] | None) -> list[dict]:
        d = self.defs[name]
        dims = dims or d.dimensions
        acc: dict[tuple, dict[str, float]] = {}
        with self.lock:
            for r in self.register_rows(name):
                if start and r["Period"] < start or end and r["Period"] > end:
                    continue
                if condition and not condition(r):
                    continue
                key = tuple(r[x] for x in dims)
                slot = acc.setdefault(key, {})
                for res in d.resources:
                    v = r.get(res) or 0
                    if d.balance:
                        kind = "Expense" if r.get("RecordType") == "Expense" else "Receipt"
                        slot[f"{res}{kind}"] = slot.get(f"{res}{kind}", 0) + v
                        slot[f"{res}Turnover"] = slot.get(f"{res}Turnover", 0) + (-v if kind == "Expense" else v)
                    else:
                        slot[f"{res}Turnover"] = slot.get(f"{res}Turnover", 0) + v
        out = []
        for key, sums in acc.items():
            row = dict(zip(dims, key))
            row.update({k: _num(v) for k, v in sums.items()})
            out.append(row)
        return out

    def slice_last(self, name: str, period: str | None, condition: Callable[[dict], bool] | None) -> list[dict]:
        d = self.defs[name]
        best: dict[tuple, dict] = {}
        with self.lock:
            for r in self.register_rows(name):
                if period and r["Period"] > period:
                    continue
                if condition and not condition(r):
                    continue
                key = tuple(r[x] for x in d.dimensions)
                if key not in best or best[key]["Period"] <= r["Period"]:
                    best[key] = r
        return [dict(r) for r in best.values()]

    # ------------------------------------------------------------------ persistence (optional SQLite file)
    def save_sqlite(self, path: str) -> None:
        with self.lock:
            blob = json.dumps({"objects": self.objects, "sets": {k: {r: list(v) for r, v in s.items()}
                                                                   for k, s in self.sets.items()},
                               "records": {k: list(v.values()) for k, v in self.records.items()},
                               "counters": dict(self.counters),
                               "registrations": {n: [[k[0], k[1], no] for k, no in regs.items()]
                                                 for n, regs in self.registrations.items()}},
                              ensure_ascii=False)
        con = sqlite3.connect(path)
        try:
            con.execute("CREATE TABLE IF NOT EXISTS onec_state (id INTEGER PRIMARY KEY, body TEXT)")
            con.execute("INSERT OR REPLACE INTO onec_state (id, body) VALUES (1, ?)", (blob,))
            con.commit()
        finally:
            con.close()

    def load_sqlite(self, path: str) -> bool:
        con = sqlite3.connect(path)
        try:
            con.execute("CREATE TABLE IF NOT EXISTS onec_state (id INTEGER PRIMARY KEY, body TEXT)")
            row = con.execute("SELECT body FROM onec_state WHERE id = 1").fetchone()
        finally:
            con.close()
        if not row:
            return False
        state = json.loads(row[0])
        with self.lock:
            self.objects = state["objects"]
            self.sets = {k: {r: (v[0], v[1]) for r, v in s.items()} for k, s in state["sets"].items()}
            self.records = {k: {} for k in self.records}
            for k, rows in state["records"].items():
                d = self.defs[k]
                for rec in rows:
                    self.records[k][self.info_key(d, rec)] = rec
            self.counters = defaultdict(int, state["counters"])
            self.registrations = {n: {(a, b): no for a, b, no in regs}
                                  for n, regs in state["registrations"].items()}
        return True


def _num(v: float) -> float | int:
    v = round(v, 6)
    return int(v) if float(v).is_integer() else v

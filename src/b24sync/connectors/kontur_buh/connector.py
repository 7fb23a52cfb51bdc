"""``KonturBuhConnector`` — the ``KonturBuhPort`` operations on top of declared HTTP operations.

The connector holds the *domain* logic only: find-or-create by INN/KPP, invoice lines and VAT (``money``), checking
the accounting system's totals against ours to the kopeck, idempotency keys, status normalisation, paid detection.
*How* each operation reaches the system (method, path, auth header, request body, where each answer field sits) is
declared in a preset YAML and executed by the generic HTTP/JSON adapter (``b24sync.connectors.http_json``), reached
through the small ``OperationCaller`` interface below — so a real partner API is configured, not coded.

Canonical names the connector sends and expects back (a preset maps them to the wire):

* ``find_counterparty(inn, kpp)`` → list of ``{id, inn, kpp, name}``
* ``create_counterparty(inn, kpp, name, address)`` → ``{id, inn, kpp, name}``
* ``create_invoice(external_id, counterparty_id, date, number, vat_included, comment, lines[{name, quantity,
  unit, price, vat_rate}])`` → invoice
* ``get_invoice(invoice_id)`` → ``{id, number, status, net, vat, total, paid_amount}``
* ``list_payments(invoice_id)`` → list of ``{id, amount, date, purpose}``
* ``invoice_pdf(invoice_id)`` → bytes
* ``create_act(invoice_id, external_id, date)`` → ``{id, number, invoice_id}``
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from b24sync.connectors.kontur_buh.money import (
    Line,
    Totals,
    VatRate,
    check_rate_for_date,
    invoice_totals,
    money_str,
    to_decimal,
)
from b24sync.connectors.kontur_buh.port import Act, Counterparty, Invoice, InvoiceDraft, Payment
from b24sync.engine.errors import ConflictError, HoldError, PermanentError, ValidationError

OPERATIONS = ("find_counterparty", "create_counterparty", "create_invoice", "get_invoice", "list_payments",
              "invoice_pdf", "create_act")


class OperationCaller(Protocol):
    """Runs one declared operation with canonical parameters; returns the mapped result (dict / list / bytes)."""

    async def call(self, operation: str, params: Mapping[str, Any]) -> Any: ...

    async def aclose(self) -> None: ...


@dataclass
class DomainSettings:
    """Connector-level options a preset may set under ``kontur_buh:``."""

    # our VatRate.value → the system's code for it (e.g. {"22": "НДС22", "none": "БезНДС"}); identity by default
    vat_codes: dict[str, str] = field(default_factory=dict)
    # the system's invoice status → ours (issued | partially_paid | paid | cancelled); identity by default
    status_map: dict[str, str] = field(default_factory=dict)
    # refuse a 22 % line on a 2025 document and a 20 % line on a 2026 one (fact sheet §10.1)
    check_rate_dates: bool = True
    # allowed difference between the system's totals and ours, in kopecks per line (0 = exact)
    total_tolerance_kopecks_per_line: int = 0

    @classmethod
    def from_config(cls, data: Mapping[str, Any] | None) -> DomainSettings:
        data = dict(data or {})
        return cls(
            vat_codes={str(k): str(v) for k, v in (data.get("vat_codes") or {}).items()},
            status_map={str(k): str(v) for k, v in (data.get("status_map") or {}).items()},
            check_rate_dates=bool(data.get("check_rate_dates", True)),
            total_tolerance_kopecks_per_line=int(data.get("total_tolerance_kopecks_per_line", 0)),
        )


def _first(result: Any) -> dict[str, Any] | None:
    if isinstance(result, list):
        return result[0] if result else None
    return result if isinstance(result, dict) else None


def _as_list(result: Any) -> list[dict[str, Any]]:
    if result is None:
        return []
    if isinstance(result, list):
        return [r for r in result if isinstance(r, dict)]
    if isinstance(result, dict):
        return [result]
    raise PermanentError(f"Неожиданный ответ учётной системы: {type(result).__name__}.")


class KonturBuhConnector:
    """Implements ``KonturBuhPort``."""

    name = "kontur_buh"

    def __init__(self, caller: OperationCaller, settings: DomainSettings | None = None) -> None:
        self.caller = caller
        self.settings = settings or DomainSettings()
        self._status_back = self.settings.status_map

    async def aclose(self) -> None:
        await self.caller.aclose()

    # -- counterparties --------------------------------------------------------------------------------------------

    @staticmethod
    def _counterparty(d: Mapping[str, Any]) -> Counterparty:
        kpp = d.get("kpp")
        return Counterparty(id=str(d["id"]), inn=str(d.get("inn") or ""), kpp=str(kpp) if kpp else None,
                            name=str(d.get("name") or ""), raw=dict(d))

    async def find_counterparty(self, inn: str, kpp: str | None = None) -> Counterparty | None:
        if not inn or not inn.isdigit() or len(inn) not in (10, 12):
            raise ValidationError(f"ИНН {inn!r} должен состоять из 10 или 12 цифр.")
        found = [self._counterparty(d) for d in
                 _as_list(await self.caller.call("find_counterparty", {"inn": inn, "kpp": kpp or ""}))]
        # filter again on our side: a system may ignore an unknown filter parameter and return everything
        found = [c for c in found if c.inn == inn and (not kpp or (c.kpp or "") == kpp)]
        if len(found) > 1:
            raise HoldError(f"В учётной системе несколько контрагентов с ИНН {inn}"
                            f"{' КПП ' + kpp if kpp else ''}; объедините их или укажите КПП.",
                            detail={"inn": inn, "kpp": kpp, "ids": [c.id for c in found]})
        return found[0] if found else None

    async def ensure_counterparty(self, inn: str, kpp: str | None, name: str, **extra: Any) -> Counterparty:
        existing = await self.find_counterparty(inn, kpp)
        if existing is not None:
            return existing
        if len(inn) == 10 and not kpp:
            raise HoldError(f"Для организации ИНН {inn} нужен КПП, чтобы завести контрагента.",
                            detail={"inn": inn})
        created = _first(await self.caller.call(
            "create_counterparty", {"inn": inn, "kpp": kpp or "", "name": name, "address": extra.get("address")}))
        if not created or not created.get("id"):
            raise PermanentError("Учётная система не вернула id созданного контрагента.")
        return self._counterparty(created)

    # -- invoices --------------------------------------------------------------------------------------------------

    def _vat_code(self, rate: VatRate) -> str:
        return self.settings.vat_codes.get(rate.value, rate.value)

    def invoice_payload(self, draft: InvoiceDraft) -> dict[str, Any]:
        if not draft.external_id:
            raise ValidationError("Для счёта нужен внешний ключ (external_id), иначе повтор создаст дубль.")
        if not draft.lines:
            raise ValidationError("В счёте нет ни одной строки.")
        doc_date = draft.doc_date or date.today()
        if self.settings.check_rate_dates:
            for ln in draft.lines:
                check_rate_for_date(ln.vat_rate, doc_date)
        return {
            "external_id": draft.external_id,
            "counterparty_id": draft.counterparty_id,
            "date": doc_date.isoformat(),
            "number": draft.number,
            "vat_included": draft.vat_included,
            "comment": draft.comment,
            "lines": [{"name": ln.name, "quantity": str(ln.quantity), "unit": ln.unit, "price": str(ln.price),
                       "vat_rate": self._vat_code(ln.vat_rate)} for ln in draft.lines],
        }

    def _status(self, raw: Any) -> str:
        s = str(raw or "")
        return self._status_back.get(s, s)

    def _invoice(self, d: Mapping[str, Any]) -> Invoice:
        totals = None
        if d.get("total") is not None:
            totals = Totals(net=to_decimal(d.get("net", "0"), "net"), vat=to_decimal(d.get("vat", "0"), "vat"),
                            total=to_decimal(d["total"], "total"))
        paid = to_decimal(d.get("paid_amount") or "0", "paid_amount")
        status = self._status(d.get("status"))
        if totals is not None and status not in ("paid", "cancelled") and paid >= totals.total > 0:
            status = "paid"  # a system without a "paid" status: derive it from the paid amount
        return Invoice(id=str(d["id"]), number=str(d.get("number") or ""), status=status, totals=totals,
                       paid_amount=paid, raw=dict(d))

    async def create_invoice(self, draft: InvoiceDraft) -> Invoice:
        payload = self.invoice_payload(draft)
        result = _first(await self.caller.call("create_invoice", payload))
        if not result or not result.get("id"):
            raise PermanentError("Учётная система не вернула id созданного счёта.")
        inv = self._invoice(result)
        self.check_totals(inv, draft)
        return inv

    def check_totals(self, inv: Invoice, draft: InvoiceDraft) -> Totals:
        """Our per-line totals; ``ConflictError`` if the system computed different ones (beyond the tolerance)."""
        ours = invoice_totals(list(draft.lines), vat_included=draft.vat_included)
        if inv.totals is None:
            return ours
        tol = Decimal(self.settings.total_tolerance_kopecks_per_line) * Decimal("0.01") * len(draft.lines)
        diffs = {k: (getattr(ours, k), getattr(inv.totals, k)) for k in ("total", "vat")
                 if abs(getattr(ours, k) - getattr(inv.totals, k)) > tol}
        if diffs:
            shown = ", ".join(f"{k}: у нас {money_str(a)}, в системе {money_str(b)}" for k, (a, b) in diffs.items())
            raise ConflictError(f"Суммы счёта {inv.number} расходятся с расчётом по строкам ({shown}).",
                                detail={"invoice_id": inv.id, **{k: [money_str(a), money_str(b)]
                                                                 for k, (a, b) in diffs.items()}})
        return ours

    async def get_invoice(self, invoice_id: str) -> Invoice:
        d = _first(await self.caller.call("get_invoice", {"invoice_id": invoice_id}))
        if not d:
            raise PermanentError(f"Счёт {invoice_id} не найден в учётной системе.")
        return self._invoice(d)

    async def list_payments(self, invoice_id: str) -> list[Payment]:
        out = []
        for d in _as_list(await self.caller.call("list_payments", {"invoice_id": invoice_id})):
            out.append(Payment(id=str(d.get("id")), amount=to_decimal(d.get("amount"), "amount"),
                               date=d.get("date"), purpose=d.get("purpose"), raw=dict(d)))
        return out

    async def invoice_pdf(self, invoice_id: str) -> bytes:
        data = await self.caller.call("invoice_pdf", {"invoice_id": invoice_id})
        if isinstance(data, str):
            data = data.encode("latin-1")
        if not isinstance(data, bytes | bytearray) or not bytes(data).startswith(b"%PDF"):
            raise PermanentError("Учётная система вернула не PDF для печатной формы счёта.")
        return bytes(data)

    async def create_act(self, invoice_id: str, *, external_id: str, doc_date: date | None = None) -> Act:
        if not external_id:
            raise ValidationError("Для акта нужен внешний ключ (external_id).")
        d = _first(await self.caller.call("create_act", {"invoice_id": invoice_id, "external_id": external_id,
                                                         "date": (doc_date or date.today()).isoformat()}))
        if not d or not d.get("id"):
            raise PermanentError("Учётная система не вернула id созданного акта.")
        return Act(id=str(d["id"]), number=str(d.get("number") or ""),
                   invoice_id=str(d.get("invoice_id") or invoice_id), raw=dict(d))


def lines_from_bitrix_rows(rows: list[Mapping[str, Any]], *, default_rate: VatRate | None = None) -> list[Line]:
    """Invoice lines from Bitrix24 deal product rows (``crm.deal.productrows.get``: PRODUCT_NAME, QUANTITY, PRICE,
    TAX_RATE, TAX_INCLUDED, MEASURE_CODE). ``TAX_RATE`` empty/None means «без НДС» unless ``default_rate`` is given.
    The caller decides ``vat_included`` from ``TAX_INCLUDED`` (all rows of one invoice must agree)."""
    out = []
    for r in rows:
        rate_raw = r.get("TAX_RATE")
        if rate_raw in (None, "", False):
            rate = default_rate or VatRate.NONE
        else:
            rate = VatRate.parse(rate_raw)
        out.append(Line.of(str(r.get("PRODUCT_NAME") or r.get("name") or ""), r.get("QUANTITY", 1),
                           r.get("PRICE", 0), rate, unit=str(r.get("MEASURE_CODE") or "796")))
    return out

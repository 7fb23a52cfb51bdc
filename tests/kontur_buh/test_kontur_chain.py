"""Kontur.Buhgalteria connector (via the generic HTTP/JSON adapter + preset) against the model sandbox."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import httpx
import pytest

from b24sync.connectors.kontur_buh.connector import DomainSettings, KonturBuhConnector, lines_from_bitrix_rows
from b24sync.connectors.kontur_buh.http_binding import HttpJsonCaller, from_preset, load_preset
from b24sync.connectors.kontur_buh.money import Line, VatRate
from b24sync.connectors.kontur_buh.port import InvoiceDraft, KonturBuhPort
from b24sync.engine.errors import AuthError, ConflictError, HoldError, RetryableError, ValidationError
from b24sync.sandbox.kontur.app import KonturSandboxConfig, create_app

pytestmark = pytest.mark.anyio
D = Decimal
ENV = {"KONTUR_BUH_API_KEY": "sandbox-kontur-key"}
DOC_DATE = date(2026, 3, 2)


class Clock:
    def __init__(self) -> None:
        self.t = 1_772_000_000.0

    def __call__(self) -> float:
        return self.t


def setup(**kw):
    clock = Clock()
    app = create_app(KonturSandboxConfig(clock=clock, **kw))
    conn = from_preset("sandbox-model", base_url="http://kontur.test/api/v1",
                       transport=httpx.ASGITransport(app=app), environ=ENV)
    return conn, app, clock


async def hook(app, path: str, body: dict | None = None) -> dict:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kontur.test") as h:
        r = await (h.get(path) if body is None else h.post(path, json=body))
        r.raise_for_status()
        return r.json()


def mixed_lines() -> tuple[Line, ...]:
    return (
        Line.of("Молоко", 3, "89.90", "10"),
        Line.of("Внедрение CRM", 2, "1499.99", VatRate.VAT22),
        Line.of("Экспортная поставка", 1, 5000, 0),
        Line.of("Книга", 4, "250.25", "без НДС"),
    )


async def test_invoice_pdf_payment_act_chain():
    conn, app, _clock = setup()
    assert isinstance(conn, KonturBuhPort)
    cp = await conn.ensure_counterparty("6663003127", "668501001", "АО «Лютик»")
    again = await conn.ensure_counterparty("6663003127", "668501001", "АО «Лютик»")
    assert cp.id == again.id and (await hook(app, "/_sandbox/state"))["counterparties"] == 1

    draft = InvoiceDraft(external_id="b24:deal:42:invoice", counterparty_id=cp.id, lines=mixed_lines(),
                         vat_included=True, doc_date=DOC_DATE)
    inv = await conn.create_invoice(draft)
    # the sandbox computed per line on its own side; the connector checked it against its own computation
    assert (inv.totals.total, inv.totals.vat, inv.totals.net) == (D("9270.68"), D("565.50"), D("8705.18"))
    assert inv.status == "issued" and inv.paid_amount == 0 and not inv.paid
    assert re.fullmatch(r"СЧ-\d{5}", inv.number)

    retried = await conn.create_invoice(draft)  # same external_id → the same invoice, not a second one
    assert retried.id == inv.id and (await hook(app, "/_sandbox/state"))["invoices"] == 1

    pdf = await conn.invoice_pdf(inv.id)
    assert pdf.startswith(b"%PDF-1.") and pdf.rstrip().endswith(b"%%EOF") and b"9270.68" in pdf

    assert await conn.list_payments(inv.id) == []
    await hook(app, "/_sandbox/bank-statement", {"invoice_id": inv.id, "amount": "5000.00"})
    part = await conn.get_invoice(inv.id)
    assert part.status == "partially_paid" and part.paid_amount == D("5000.00")
    await hook(app, "/_sandbox/bank-statement", {"invoice_number": inv.number})  # the rest
    paid = await conn.get_invoice(inv.id)
    assert paid.paid and paid.paid_amount == D("9270.68")
    pays = await conn.list_payments(inv.id)
    assert [p.amount for p in pays] == [D("5000.00"), D("4270.68")]
    assert inv.number in (pays[0].purpose or "")

    act = await conn.create_act(inv.id, external_id="b24:deal:42:act", doc_date=DOC_DATE)
    assert act.invoice_id == inv.id and act.number.startswith("АКТ-")
    assert (await conn.create_act(inv.id, external_id="b24:deal:42:act")).id == act.id
    with pytest.raises(ConflictError):  # a second act for the same invoice under another key
        await conn.create_act(inv.id, external_id="b24:deal:42:act:other")
    await conn.aclose()


async def test_vat_22_and_totals_exact_to_the_kopeck():
    conn, _app, _clock = setup()
    cp = await conn.ensure_counterparty("773006366201", None, "ИП Двойников")
    cases = [
        ((Line.of("Услуга", 1, 1000, 22),), True, D("1000.00"), D("180.33")),
        ((Line.of("Болт", 7, "33.33", 22),), False, D("284.64"), D("51.33")),
        (tuple(Line.of(f"Мелочь {i}", 1, "0.10", 22) for i in range(3)), True, D("0.30"), D("0.06")),
        ((Line.of("УСН 5", 1, 10000, 5), Line.of("УСН 7", 1, 10000, 7)), False, D("21200.00"), D("1200.00")),
    ]
    for n, (lines, included, total, vat) in enumerate(cases):
        inv = await conn.create_invoice(InvoiceDraft(external_id=f"case:{n}", counterparty_id=cp.id, lines=lines,
                                                     vat_included=included, doc_date=DOC_DATE))
        assert (inv.totals.total, inv.totals.vat) == (total, vat), n
    with pytest.raises(ValidationError):  # 22 % on a 2025 document is refused before any call
        await conn.create_invoice(InvoiceDraft(external_id="old", counterparty_id=cp.id,
                                               lines=(Line.of("x", 1, 1, 22),), doc_date=date(2025, 12, 30)))
    await conn.aclose()


async def test_totals_mismatch_is_a_conflict():
    """If the accounting system rounds differently (VAT on the total instead of per line), we stop, not guess."""

    class OnTotal(HttpJsonCaller):
        async def call(self, operation, params):
            res = await super().call(operation, params)
            if operation == "create_invoice":
                res = {**res, "vat": "0.05"}  # round(0.30 · 22/122) on the total
            return res

    _conn, app, _ = setup()
    base = from_preset("sandbox-model", base_url="http://kontur.test/api/v1",
                       transport=httpx.ASGITransport(app=app), environ=ENV)
    conn = KonturBuhConnector(OnTotal(base.caller.adapter), DomainSettings())
    cp = await conn.ensure_counterparty("1234567894", "123401001", "ООО «Тест»")
    draft = InvoiceDraft(external_id="x", counterparty_id=cp.id, doc_date=DOC_DATE,
                         lines=tuple(Line.of(f"l{i}", 1, "0.10", 22) for i in range(3)))
    with pytest.raises(ConflictError) as ei:
        await conn.create_invoice(draft)
    assert ei.value.detail["vat"] == ["0.06", "0.05"]
    tolerant = KonturBuhConnector(OnTotal(base.caller.adapter), DomainSettings(total_tolerance_kopecks_per_line=1))
    assert (await tolerant.create_invoice(draft)).totals.vat == D("0.05")
    await conn.aclose()


async def test_payment_timer_and_webhook():
    received: list[dict] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        import json

        received.append(json.loads(request.content))
        return httpx.Response(204)

    conn, app, clock = setup(pay_after=3600, webhook_url="http://crm.test/hooks/kontur",
                             webhook_transport=httpx.MockTransport(receiver))
    cp = await conn.ensure_counterparty("6663003127", "668501001", "АО «Лютик»")
    inv = await conn.create_invoice(InvoiceDraft(external_id="t", counterparty_id=cp.id, doc_date=DOC_DATE,
                                                 lines=(Line.of("Услуга", 1, "12200", 22),)))
    assert not (await conn.get_invoice(inv.id)).paid
    clock.t += 3601  # "the bank statement came in" an hour later
    got = await conn.get_invoice(inv.id)
    assert got.paid and got.paid_amount == D("12200.00")
    state = await hook(app, "/_sandbox/state")  # waits for webhook deliveries
    assert state["webhooks"][0]["status"] == 204
    assert received == [{"event": "payment.received", "invoice_id": inv.id, "external_id": "t",
                         "payment": received[0]["payment"]}]
    assert received[0]["payment"]["amount"] == "12200.00"
    await conn.aclose()


async def test_errors_and_lookups():
    conn, _app, _ = setup()
    with pytest.raises(HoldError):  # a legal entity needs a KPP to be created
        await conn.ensure_counterparty("6663003127", None, "АО «Лютик»")
    with pytest.raises(ValidationError):
        await conn.find_counterparty("12")
    assert await conn.find_counterparty("6663003127", "668501001") is None
    with pytest.raises(ValidationError):  # unknown counterparty id → 422 from the system
        await conn.create_invoice(InvoiceDraft(external_id="e", counterparty_id="nope", doc_date=DOC_DATE,
                                               lines=(Line.of("x", 1, 1, 22),)))
    await conn.aclose()

    bad = from_preset("sandbox-model", base_url="http://kontur.test/api/v1",
                      transport=httpx.ASGITransport(app=create_app()), environ={"KONTUR_BUH_API_KEY": "wrong"})
    with pytest.raises(AuthError):
        await bad.find_counterparty("6663003127")
    await bad.aclose()

    flaky = from_preset("sandbox-model", base_url="http://kontur.test/api/v1",
                        transport=httpx.ASGITransport(app=create_app(KonturSandboxConfig(fail_rate=1.0, seed=1))),
                        environ=ENV)
    with pytest.raises(RetryableError):
        await flaky.find_counterparty("6663003127")
    await flaky.aclose()


def test_bitrix_rows_and_preset_shape():
    rows = [{"PRODUCT_NAME": "Товар", "QUANTITY": 2, "PRICE": 122.0, "TAX_RATE": 22, "MEASURE_CODE": 796},
            {"PRODUCT_NAME": "Без налога", "QUANTITY": 1, "PRICE": "10", "TAX_RATE": None}]
    lines = lines_from_bitrix_rows(rows)
    assert [ln.vat_rate for ln in lines] == [VatRate.VAT22, VatRate.NONE]
    assert lines[0].price == D("122.0") and lines[0].unit == "796"
    preset = load_preset("sandbox-model")
    assert set(preset["http"]["objects"]) == {"counterparty", "invoice", "payment", "invoice_pdf", "act"}

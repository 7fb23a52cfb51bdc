"""The deal-to-cash story of ``b24sync demo`` (issues 10 and 16): the demo acts as the manager in Bitrix24 (its REST
API) and as the 1C users (the 1C sandbox's user helpers: set an order status, post a bank receipt, post a
shipment), runs one sync cycle after each action, and prints what b24sync did **as read back from both systems**
(Bitrix24 REST, 1C OData) — never what it assumes happened. Every rule shown is a key of the demo spec
(``spec/starters/demo.yaml``: entities ``order``, ``order_status``, ``invoice``, ``payment``, ``shipment``); this
module only plays the people and reads the results.

Each step also checks what it read against what the rule promises and reports a failed expectation with ``✗``;
the demo then exits 1."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Callable
from urllib.parse import quote

import httpx

from b24sync.engine.aggregate import money
from b24sync.engine.report import actions_text
from b24sync.engine.runtime import Runtime
from b24sync.engine.service import RunOptions, run

ORDERS = "Document_ЗаказКлиента"
INVOICES = "Document_СчетНаОплатуКлиенту"
DRAFT, SENT, PAID = "DT31_2:N", "DT31_2:S", "DT31_2:P"  # the demo portal's invoice pipeline is category 2


@dataclass
class Step:
    title: str
    lines: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def did(self, system: str, text: str) -> None:
        self.lines.append(f"{system}: {text}")

    def saw(self, system: str, text: str) -> None:
        self.lines.append(f"  → {system}: {text}")

    def expect(self, ok: bool, what: str) -> None:
        if not ok:
            self.failed.append(what)


@dataclass
class StoryResult:
    steps: list[Step]
    deal_id: str | None = None
    order_ref: str | None = None
    invoice_id: str | None = None

    @property
    def ok(self) -> bool:
        return all(not s.failed for s in self.steps)


def dec(value: Any) -> Decimal:
    """A Bitrix24 money value ("150000.00|RUB", 150000, "") or a 1C number as a Decimal."""
    if value in (None, ""):
        return Decimal(0)
    return Decimal(str(value).split("|", 1)[0])


class Systems:
    """Both systems through their public APIs: Bitrix24 REST (the runtime's client, so the demo shares b24sync's
    rate budget and never trips the portal's limit) and 1C OData (its own HTTP client, basic auth)."""

    def __init__(self, rt: Runtime, onec_url: str, user: str, password: str) -> None:
        self.b24 = rt.adapters["bitrix24"].client  # type: ignore[attr-defined]
        self.http = httpx.AsyncClient(base_url=onec_url, auth=(user, password), timeout=30)
        self._stages: dict[str, str] = {}

    async def aclose(self) -> None:
        await self.http.aclose()

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        return await self.b24.call(method, params)

    async def odata(self, entity_set: str, flt: str) -> list[dict[str, Any]]:
        r = await self.http.get(f"{quote(entity_set)}?$format=json&$filter={quote(flt)}")
        r.raise_for_status()
        return list(r.json().get("value") or [])

    async def odata_get(self, entity_set: str, ref: str) -> dict[str, Any]:
        r = await self.http.get(f"{quote(entity_set)}(guid'{ref}')?$format=json")
        r.raise_for_status()
        return dict(r.json())

    async def stage(self, stage_id: str) -> str:
        """«Подготовка документов» (PREPARATION): the portal's own name of a stage, from crm.status.list."""
        if not self._stages:
            for entity_id in ("DEAL_STAGE", "SMART_INVOICE_STAGE_2"):
                for r in await self.call("crm.status.list", {"filter": {"ENTITY_ID": entity_id}}) or []:
                    sid = str(r["STATUS_ID"])
                    self._stages[sid if ":" in sid or entity_id == "DEAL_STAGE" else f"DT31_2:{sid}"] = str(r["NAME"])
        return f"«{self._stages.get(stage_id, stage_id)}» ({stage_id})"

    async def deal(self, deal_id: str) -> dict[str, Any]:
        return dict(await self.call("crm.deal.get", {"id": int(deal_id)}))

    async def invoice(self, item_id: str) -> dict[str, Any]:
        return dict((await self.call("crm.item.get", {"entityTypeId": 31, "id": int(item_id)}))["item"])

    async def comments(self, entity_type: str, entity_id: str) -> list[str]:
        rows = await self.call("crm.timeline.comment.list", {
            "filter": {"ENTITY_ID": int(entity_id), "ENTITY_TYPE": entity_type}, "select": ["ID", "COMMENT"]})
        return [str(r.get("COMMENT") or "") for r in sorted(rows or [], key=lambda r: int(r["ID"]))]


def story_entities(rt: Runtime) -> list[str]:
    """The spec's deal-to-cash entities: those over deals and smart invoices (the reference-data part parks records
    of its own on purpose — a company held by a guard is part of that demonstration)."""
    return [n for n, e in rt.spec.entities.items() if e.crm.object in ("crm.deal", "crm.item:31")]


def parked(rt: Runtime, entities: list[str] | None = None) -> list[tuple[str, str, str]]:
    """Open dead letters and held records (kind, entity, reason) — what `b24sync dead` lists — of ``entities``
    (default: the story's)."""
    from sqlalchemy import select

    from b24sync.store.models import DeadLetter

    names = story_entities(rt) if entities is None else entities
    with rt.db.connect() as conn:
        return [(str(k), str(e), str(r)) for k, e, r in conn.execute(
            select(DeadLetter.kind, DeadLetter.entity, DeadLetter.reason).where(
                DeadLetter.resolved_at.is_(None), DeadLetter.entity.in_(names)))]


async def _cycle(rt: Runtime, step: Step) -> None:
    t0 = time.monotonic()
    s = await run(rt, RunOptions(once=True))
    left = parked(rt)
    step.lines.append(f"b24sync: one cycle ({time.monotonic() - t0:.1f} s), {s.done} job(s): {actions_text(s.actions)}; "
                      + (f"{len(left)} deal/invoice record(s) parked" if left else "nothing parked"))
    step.expect(not left, f"parked after the cycle: {left[:3]}")


async def play(rt: Runtime, onec: Any, onec_url: str, *, user: str = "odata", password: str = "secret",
               today: date | None = None, out: Callable[[Step], None] | None = None) -> StoryResult:
    """Play the story on the running sandboxes; ``out`` gets each step as soon as it is done (the CLI prints it)."""
    sys_ = Systems(rt, onec_url, user, password)
    result = StoryResult([])
    day = (today or date.today()).isoformat()

    def done(step: Step) -> Step:
        result.steps.append(step)
        if out is not None:
            out(step)
        return step

    try:
        await _story(rt, onec, sys_, result, day, done)
    finally:
        await sys_.aclose()
    return result


async def _story(rt: Runtime, onec: Any, s: Systems, res: StoryResult, day: str,  # noqa: C901 - one story
                 done: Callable[[Step], Step]) -> None:
    # The 1C base's own orders arrive as deals (order_from_erp), their payment and shipment wait for those deals
    # (held until linked) and deals wait for their companies (retried after a few seconds): let that history settle
    # first, so every step below starts from a clean dead-letter list.
    for _ in range(12):
        if not parked(rt):
            break
        await asyncio.sleep(1.0)
        await run(rt, RunOptions(once=True))
    # --- the cast: a client company that came from 1C, two catalogue products (both already synced) --------------
    step = Step("A new deal in Bitrix24 (not the trigger stage yet)")
    busy = {o.get("Контрагент_Key") for o in onec.find(ORDERS)}
    client = None
    for cp in onec.find("Catalog_Контрагенты"):
        if cp.get("ЮрФизЛицо") != "ЮрЛицо" or cp["Ref_Key"] in busy or not onec.find(
                "Catalog_СоглашенияСКлиентами", Партнер_Key=cp.get("Партнер_Key")):
            continue
        found = await s.call("crm.company.list", {"filter": {"UF_CRM_ERP_ID": cp["Ref_Key"]}, "select": ["ID", "TITLE"]})
        if found:
            client = (cp, found[0])
            break
    products = [p for p in await s.call("crm.product.list", {
        "filter": {"!XML_ID": ""}, "select": ["ID", "NAME", "PRICE", "XML_ID"], "order": {"ID": "ASC"}}) or []
        if dec(p.get("PRICE")) > 0][:2]
    if client is None or len(products) < 2:
        step.expect(False, "no synced client company or catalogue products to sell — did the full sync run?")
        done(step)
        return
    cp, company = client
    rows = [{"PRODUCT_ID": int(products[0]["ID"]), "PRICE": float(dec(products[0]["PRICE"])), "QUANTITY": 10,
             "TAX_RATE": 22, "TAX_INCLUDED": "Y", "MEASURE_CODE": 796},
            {"PRODUCT_ID": int(products[1]["ID"]), "PRICE": float(dec(products[1]["PRICE"])), "QUANTITY": 3,
             "TAX_RATE": 22, "TAX_INCLUDED": "Y", "MEASURE_CODE": 796}]
    deal_id = str(await s.call("crm.deal.add", {"fields": {"TITLE": f"Поставка для {company['TITLE']}",
                                                           "STAGE_ID": "NEW", "COMPANY_ID": int(company["ID"])}}))
    await s.call("crm.deal.productrows.set", {"id": int(deal_id), "rows": rows})
    res.deal_id = deal_id
    deal = await s.deal(deal_id)
    total = dec(deal.get("OPPORTUNITY"))
    step.did("Bitrix24", f"manager creates deal #{deal_id} «{deal['TITLE']}» for company #{company['ID']} at "
                         f"{await s.stage('NEW')}: {len(rows)} rows from the catalogue, {money(total)}")
    await _cycle(rt, step)
    orders = await s.odata(ORDERS, f"НомерПоДаннымКлиента eq '{deal_id}'")
    step.saw("1C", f"{len(orders)} customer order(s) for the deal — a deal outside the trigger stage is not sent")
    step.expect(orders == [], "an order was created before the deal reached the trigger stage")
    done(step)

    # --- 1. the trigger stage → the order with its rows, its number back -------------------------------------------
    step = Step("Deal moved to the trigger stage → customer order in 1C, its number back on the deal")
    await s.call("crm.deal.update", {"id": int(deal_id), "fields": {"STAGE_ID": "PREPARATION"}})
    step.did("Bitrix24", f"manager moves deal #{deal_id} to {await s.stage('PREPARATION')}")
    await _cycle(rt, step)
    orders = await s.odata(ORDERS, f"НомерПоДаннымКлиента eq '{deal_id}'")
    step.expect(len(orders) == 1, f"{len(orders)} orders in 1C for the deal, expected 1")
    if len(orders) != 1:
        done(step)
        return
    order = orders[0]
    res.order_ref = order["Ref_Key"]
    vat = sum((dec(r.get("СуммаНДС")) for r in order.get("Товары") or []), Decimal(0))
    step.saw("1C", f"order {order['Number']} {'posted' if order.get('Posted') else 'NOT posted'}, status "
                   f"{order.get('Статус')}, client «{cp['Description']}», {len(order.get('Товары') or [])} rows, "
                   f"{money(dec(order.get('СуммаДокумента')))} (VAT {money(vat)})")
    names = {p["XML_ID"]: p["NAME"] for p in products}
    for r in order.get("Товары") or []:
        step.saw("1C", f"  row {r.get('LineNumber')}: {names.get(r.get('Номенклатура_Key'), r.get('Номенклатура_Key'))}"
                       f" {dec(r.get('Количество')):f} × {money(dec(r.get('Цена')))} = {money(dec(r.get('Сумма')))}, "
                       f"{r.get('СтавкаНДС')} {money(dec(r.get('СуммаНДС')))}")
    deal = await s.deal(deal_id)
    step.saw("Bitrix24", f"deal #{deal_id} UF_CRM_ERP_ORDER_NUMBER = {deal.get('UF_CRM_ERP_ORDER_NUMBER')}, "
                         f"stage {await s.stage(str(deal.get('STAGE_ID')))}")
    step.expect(bool(order.get("Posted")), "the order is not posted")
    step.expect(dec(order.get("СуммаДокумента")) == total, f"order total {order.get('СуммаДокумента')} ≠ deal {total}")
    step.expect(deal.get("UF_CRM_ERP_ORDER_NUMBER") == order["Number"], "the order number did not come back")
    done(step)

    # --- 2. 1C's order status → the deal stage ------------------------------------------------------------------------
    step = Step("Order status changed in 1C → the deal stage follows")
    onec.set_order_status(order["Ref_Key"], "КОбеспечению")
    step.did("1C", f"manager agrees order {order['Number']}: status НеСогласован → КОбеспечению")
    await _cycle(rt, step)
    deal = await s.deal(deal_id)
    step.saw("Bitrix24", f"deal #{deal_id} stage {await s.stage(str(deal.get('STAGE_ID')))}")
    step.expect(deal.get("STAGE_ID") == "PREPAYMENT_INVOICE", f"deal stage {deal.get('STAGE_ID')}, expected "
                                                              "PREPAYMENT_INVOICE")
    done(step)

    # --- 3. the smart invoice: draft → sent → a 1C invoice, numbered by 1C --------------------------------------------
    step = Step("Smart invoice moved to \"sent\" → invoice in 1C, its 1C number back")
    item = (await s.call("crm.item.add", {"entityTypeId": 31, "fields": {
        "title": f"Счёт по сделке #{deal_id}", "companyId": int(company["ID"]), "parentId2": int(deal_id),
        "opportunity": float(total), "stageId": DRAFT}}))["item"]
    inv_id = str(item["id"])
    res.invoice_id = inv_id
    portal_number = item.get("accountNumber")
    await s.call("crm.item.update", {"entityTypeId": 31, "id": int(inv_id), "fields": {"stageId": SENT}})
    step.did("Bitrix24", f"manager creates smart invoice #{inv_id} on the deal ({money(total)}, portal number "
                         f"{portal_number}) and moves it {await s.stage(DRAFT)} → {await s.stage(SENT)}")
    await _cycle(rt, step)
    invoices = await s.odata(INVOICES, f"ИдентификаторCRM eq '{inv_id}'")
    step.expect(len(invoices) == 1, f"{len(invoices)} invoices in 1C, expected 1")
    if len(invoices) != 1:
        done(step)
        return
    inv1c = invoices[0]
    basis = inv1c.get("ДокументОснование") or inv1c.get("ДокументОснование_Key")
    step.saw("1C", f"invoice {inv1c['Number']} of {money(dec(inv1c.get('СуммаДокумента')))} on order "
                   f"{order['Number'] if basis == order['Ref_Key'] else basis}")
    item = await s.invoice(inv_id)
    step.saw("Bitrix24", f"invoice #{inv_id} ufCrmSmartInvoiceErpNumber = {item.get('ufCrmSmartInvoiceErpNumber')} "
                         f"(accountNumber left as the portal set it: {item.get('accountNumber')}), stage "
                         f"{await s.stage(str(item.get('stageId')))}")
    step.expect(basis == order["Ref_Key"], "the 1C invoice is not based on the deal's order")
    step.expect(item.get("ufCrmSmartInvoiceErpNumber") == inv1c["Number"], "the 1C invoice number did not come back")
    done(step)

    # --- 4. a partial payment -------------------------------------------------------------------------------------------
    first = (total * Decimal("0.4")).quantize(Decimal("1"))
    rest = total - first
    step = Step("A partial payment posted in 1C → paid amount and balance on the deal, one timeline entry")
    r1 = onec.register_payment(inv1c["Ref_Key"], float(first), basis_type=INVOICES, incoming_number="245",
                               incoming_date=f"{day}T00:00:00")
    step.did("1C", f"accountant posts bank receipt {r1['Number']}: payment order № 245 of {day}, "
                   f"{money(first)} against invoice {inv1c['Number']}")
    await _cycle(rt, step)
    deal, item = await s.deal(deal_id), await s.invoice(inv_id)
    notes = await s.comments("deal", deal_id)
    step.saw("Bitrix24", f"deal #{deal_id} paid {money(dec(deal.get('UF_CRM_PAID_AMOUNT')))}, balance "
                         f"{money(dec(deal.get('UF_CRM_BALANCE')))}, last payment "
                         f"{str(deal.get('UF_CRM_LAST_PAYMENT_DATE') or '—')[:10]}, stage "
                         f"{await s.stage(str(deal.get('STAGE_ID')))} (unchanged)")
    for n in notes:
        step.saw("Bitrix24", f"timeline: «{n}»")
    step.saw("Bitrix24", f"invoice #{inv_id} stage {await s.stage(str(item.get('stageId')))}")
    step.expect(dec(deal.get("UF_CRM_PAID_AMOUNT")) == first, f"paid {deal.get('UF_CRM_PAID_AMOUNT')}, expected {first}")
    step.expect(dec(deal.get("UF_CRM_BALANCE")) == rest, f"balance {deal.get('UF_CRM_BALANCE')}, expected {rest}")
    step.expect(deal.get("STAGE_ID") == "PREPAYMENT_INVOICE", "a partial payment moved the deal")
    step.expect(item.get("stageId") == SENT, "a partial payment moved the invoice")
    step.expect(len(notes) == 1 and notes[0].startswith(f"Оплата {money(first)} получена"),
                f"timeline entries {notes}, expected one «Оплата {money(first)} получена …»")
    done(step)

    # --- 5. the rest ------------------------------------------------------------------------------------------------------
    step = Step("The rest paid → the deal and the invoice move to their paid stages")
    r2 = onec.register_payment(inv1c["Ref_Key"], float(rest), basis_type=INVOICES, incoming_number="251",
                               incoming_date=f"{day}T00:00:00")
    step.did("1C", f"accountant posts bank receipt {r2['Number']}: payment order № 251, {money(rest)}")
    await _cycle(rt, step)
    deal, item = await s.deal(deal_id), await s.invoice(inv_id)
    notes = await s.comments("deal", deal_id)
    step.saw("Bitrix24", f"deal #{deal_id} paid {money(dec(deal.get('UF_CRM_PAID_AMOUNT')))}, balance "
                         f"{money(dec(deal.get('UF_CRM_BALANCE')))}, stage {await s.stage(str(deal.get('STAGE_ID')))}")
    step.saw("Bitrix24", f"timeline: «{notes[-1] if notes else '—'}» ({len(notes)} entries in all)")
    step.saw("Bitrix24", f"invoice #{inv_id} stage {await s.stage(str(item.get('stageId')))}")
    step.expect(dec(deal.get("UF_CRM_PAID_AMOUNT")) == total and dec(deal.get("UF_CRM_BALANCE")) == 0,
                f"paid {deal.get('UF_CRM_PAID_AMOUNT')} / balance {deal.get('UF_CRM_BALANCE')}")
    step.expect(deal.get("STAGE_ID") == "EXECUTING", f"deal stage {deal.get('STAGE_ID')}, expected EXECUTING")
    step.expect(item.get("stageId") == PAID, f"invoice stage {item.get('stageId')}, expected {PAID}")
    step.expect(len(notes) == 2, f"{len(notes)} timeline entries, expected 2")
    done(step)

    # --- 6. the shipment --------------------------------------------------------------------------------------------------
    step = Step("A shipment posted in 1C → shipped amount on the deal, \"ready to close\" stage")
    sh = onec.ship_order(order["Ref_Key"])
    step.did("1C", f"warehouse posts shipment {sh['Number']} ({sh.get('Статус')}) of order {order['Number']}, "
                   f"{money(dec(sh.get('СуммаДокумента')))}")
    await _cycle(rt, step)
    deal = await s.deal(deal_id)
    notes = await s.comments("deal", deal_id)
    step.saw("Bitrix24", f"deal #{deal_id} shipped {money(dec(deal.get('UF_CRM_SHIPPED_AMOUNT')))}, stage "
                         f"{await s.stage(str(deal.get('STAGE_ID')))}")
    step.saw("Bitrix24", f"timeline: «{notes[-1] if notes else '—'}»")
    step.expect(dec(deal.get("UF_CRM_SHIPPED_AMOUNT")) == total, f"shipped {deal.get('UF_CRM_SHIPPED_AMOUNT')}")
    step.expect(deal.get("STAGE_ID") == "FINAL_INVOICE", f"deal stage {deal.get('STAGE_ID')}, expected FINAL_INVOICE")
    step.expect(len(notes) == 3, f"{len(notes)} timeline entries, expected 3")
    done(step)

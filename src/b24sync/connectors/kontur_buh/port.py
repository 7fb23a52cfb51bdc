"""What a flow needs from Kontur.Buhgalteria — as a Protocol, independent of how the API is reached.

⚠ Kontur.Buhgalteria has **no public API documentation** (fact sheet /work/shared/research/erp-side.md §5: an API, if
any, is a partner agreement). Nothing here claims to be the vendor's API. The operations below are the ones a
"deal → invoice → payment → act" flow needs; ``HttpJsonKonturBuh`` implements them through the generic declarative
HTTP/JSON adapter, so an integrator who obtains the partner documentation maps each operation to the real endpoint
in YAML (see ``presets/``), without code. The shipped preset targets the sandbox's *model* API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from b24sync.connectors.kontur_buh.money import Line, Totals


@dataclass(frozen=True)
class Counterparty:
    id: str
    inn: str
    kpp: str | None
    name: str
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class InvoiceDraft:
    """An invoice (счёт на оплату) built from a CRM deal. ``external_id`` makes creation idempotent."""

    external_id: str  # e.g. "b24:deal:42:invoice" — the same key never creates a second invoice
    counterparty_id: str
    lines: tuple[Line, ...]
    vat_included: bool = True  # prices include VAT (Bitrix24 product rows usually do)
    doc_date: date | None = None
    number: str | None = None  # leave None to let the accounting system number it
    comment: str | None = None


@dataclass(frozen=True)
class Payment:
    id: str
    amount: Decimal
    date: str | None
    purpose: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Invoice:
    id: str
    number: str
    status: str  # normalised: issued | partially_paid | paid | cancelled (see the preset's status map)
    totals: Totals | None  # as the accounting system computed them
    paid_amount: Decimal
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def paid(self) -> bool:
        return self.status == "paid"


@dataclass(frozen=True)
class Act:
    id: str
    number: str
    invoice_id: str
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@runtime_checkable
class KonturBuhPort(Protocol):
    async def find_counterparty(self, inn: str, kpp: str | None = None) -> Counterparty | None: ...

    async def ensure_counterparty(self, inn: str, kpp: str | None, name: str, **extra: Any) -> Counterparty:
        """Find by INN (+KPP) or create."""
        ...

    async def create_invoice(self, draft: InvoiceDraft) -> Invoice:
        """Create (or return the one already created for ``draft.external_id``)."""
        ...

    async def get_invoice(self, invoice_id: str) -> Invoice: ...

    async def list_payments(self, invoice_id: str) -> list[Payment]: ...

    async def invoice_pdf(self, invoice_id: str) -> bytes: ...

    async def create_act(self, invoice_id: str, *, external_id: str, doc_date: date | None = None) -> Act: ...

    async def aclose(self) -> None: ...

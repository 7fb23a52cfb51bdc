"""Bank statements in the 1C «Клиент банка» exchange format (``1CClientBankExchange`` 1.03, erp-side.md §4.4):
the cheapest "payment received" signal for the CRM when no ERP API exists (§4.4, §5).

* :func:`read_statement` / :func:`parse_bytes` — encoding detected from the header bytes (Windows → cp1251,
  DOS → cp866), account sections and payment documents; a broken file raises :class:`StatementError` naming
  every bad line (the whole file is rejected — see reader.py).
* :class:`StatementImporter` — hands each payment to a callback once (dedup by :meth:`Payment.payment_key` in a
  SharedState or a set); ``filedrop_handler()`` plugs it into ``b24sync.connectors.filedrop.FileDrop``.

Docs: docs/bank-statements.md.
"""

from b24sync.connectors.bank_statement.importer import ImportResult, StatementImporter
from b24sync.connectors.bank_statement.reader import (
    AccountSection,
    Payment,
    Side,
    Statement,
    StatementError,
    detect_encoding,
    parse_bytes,
    parse_text,
    read_statement,
)

__all__ = [
    "AccountSection",
    "ImportResult",
    "Payment",
    "Side",
    "Statement",
    "StatementError",
    "StatementImporter",
    "detect_encoding",
    "parse_bytes",
    "parse_text",
    "read_statement",
]

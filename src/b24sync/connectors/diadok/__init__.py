"""Kontur.Diadok (EDI) connector: send contracts / invoices / UPDs, follow signatures, fetch signed PDFs.

See docs/diadok.md. Public API: ``DiadokClient``, ``DiadokSettings``, ``EventFeed``, ``operation_id_for``.
"""

from b24sync.connectors.diadok.auth import AuthSettings
from b24sync.connectors.diadok.client import (
    DOCUMENT_KINDS,
    Box,
    BoxEvent,
    DiadokClient,
    DiadokSettings,
    DocumentRef,
    DocumentStatus,
    EventFeed,
    EventPage,
    PrintForm,
    SentDocument,
    operation_id_for,
)

__all__ = [
    "DOCUMENT_KINDS", "AuthSettings", "Box", "BoxEvent", "DiadokClient", "DiadokSettings", "DocumentRef",
    "DocumentStatus", "EventFeed", "EventPage", "PrintForm", "SentDocument", "operation_id_for",
]

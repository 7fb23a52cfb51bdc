"""Contracts signed through Kontur.Diadok (issue 16): the card names its Diadok document; the signature status
follows Diadok's event feed onto the card, and once the counterparty signed, the print form with the signature
stamps lands in the card's file field — once. A rejection writes the status and sends no file."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from b24sync.compose import build
from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox
from b24sync.sandbox.diadok.app import SandboxConfig, create_app
from b24sync.sandbox.served import ServedApp
from b24sync.spec.models import Spec
from tests.orders.harness import cycle

SPA = 1040


def _spec(b24_url: str, dd_url: str) -> Spec:
    return Spec.model_validate({
        "version": 1, "name": "diadok contracts",
        "systems": {"bitrix24": {"type": "bitrix24", "role": "crm", "webhook_url": b24_url, "rate": 50, "burst": 400},
                    "edo": {"type": "diadok", "role": "erp", "base_url": dd_url, "auth": {"style": "bearer"}}},
        "defaults": {"workers": 4, "retry": {"max_attempts": 3, "base_seconds": 0.2, "max_seconds": 1}},
        "entities": {"contract_edo": {
            "title": "Договор в Диадоке", "master": "edo", "direction": "erp_to_crm", "create": False,
            "crm": {"object": f"crm.item:{SPA}"}, "erp": {"object": "document", "options": {"direction": "Outbound"}},
            "match": [], "link": {"crm": "ufCrm1DiadokId"},
            "fields": [{"crm": "ufCrm1DiadokStatus", "erp": "recipient_response_status"}],
            "triggers": [{"poll": "1m"}],
            "files": [{"source": {"signed": True}, "when": {"field": "signed", "values": [True]},
                       "to": {"field": "ufCrm1SignedContract"}, "file_name": "{crm:title} (Диадок).pdf"}]}},
    })


def _run(tmp_path: Path, fn: Any) -> None:
    b24 = Bitrix24Sandbox(rate=50, burst=400)
    dd = ServedApp(create_app(SandboxConfig(sign_delay=-1, print_form_polls=1, retry_after=0)))
    try:
        rt = build(_spec(b24.start(), dd.url), database_url=f"sqlite:///{tmp_path / 'state.db'}")

        async def main() -> None:
            try:
                client = rt.adapters["bitrix24"].client  # type: ignore[attr-defined]
                await client.call("crm.type.add", {"fields": {"title": "Договоры", "entityTypeId": SPA}})
                await fn(rt, b24, dd, client)
            finally:
                await rt.aclose()

        asyncio.run(main())
    finally:
        b24.stop()
        dd.stop()


async def _sent(rt, client, inn: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    from b24sync.engine.ports import ObjectRef

    doc = await rt.adapters["edo"].create(ObjectRef("document"), {
        "kind": "contract", "content": b"%PDF-1.4 contract", "document_key": f"b24:contract:{inn}",
        "to_inn": inn, "sign_with_test_signature": True, "file_name": "Договор.pdf",
        "metadata": {"DocumentNumber": "Д-5", "DocumentDate": "02.03.2026"}})
    res = await client.call("crm.item.add", {"entityTypeId": SPA, "fields": {"title": f"Договор {inn}",
                                                                             "ufCrm1DiadokId": doc}})
    return doc, str(res["item"]["id"])


def _respond(dd: ServedApp, doc: str, action: str) -> None:
    import httpx

    mid, eid = doc.split("/")
    httpx.post(f"{dd.url}/_sandbox/respond", json={"message_id": mid, "entity_id": eid, "action": action},
               headers={"Authorization": "Bearer sandbox-access-token"}).raise_for_status()


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIADOK_ACCESS_TOKEN", "sandbox-access-token")


def test_diadok_signature_status_follows_and_the_signed_pdf_lands_once(tmp_path: Path) -> None:
    async def steps(rt, b24, dd, client):  # type: ignore[no-untyped-def]
        doc, item = await _sent(rt, client, "6663003127")
        await cycle(rt)
        card = b24.portal.t(f"item_{SPA}").get(int(item))
        assert card["ufCrm1DiadokStatus"] == "WaitingForRecipientSignature"
        assert not card.get("ufCrm1SignedContract")  # not signed yet: no file
        _respond(dd, doc, "sign")
        await cycle(rt)
        card = b24.portal.t(f"item_{SPA}").get(int(item))
        assert card["ufCrm1DiadokStatus"] == "WithRecipientSignature"
        f = b24.portal.files[card["ufCrm1SignedContract"]["id"]]
        assert f["content"].startswith(b"%PDF-") and f["name"] == "Договор 6663003127 (Диадок).pdf"
        n = len(b24.portal.files)
        await cycle(rt)
        assert len(b24.portal.files) == n

    _run(tmp_path, steps)


def test_diadok_rejection_writes_the_status_and_no_file(tmp_path: Path) -> None:
    async def steps(rt, b24, dd, client):  # type: ignore[no-untyped-def]
        doc, item = await _sent(rt, client, "6663003127")
        await cycle(rt)
        _respond(dd, doc, "reject")
        await cycle(rt)
        card = b24.portal.t(f"item_{SPA}").get(int(item))
        assert card["ufCrm1DiadokStatus"] == "RecipientSignatureRequestRejected"
        assert not card.get("ufCrm1SignedContract") and not b24.portal.files

    _run(tmp_path, steps)

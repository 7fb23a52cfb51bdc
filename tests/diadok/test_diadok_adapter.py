"""``DiadokAdapter`` (SystemAdapter port, spec type ``diadok``) against the sandbox."""

from __future__ import annotations

import httpx
import pytest

from b24sync.connectors.registry import build_adapter
from b24sync.engine.errors import PermanentError, ValidationError
from b24sync.engine.ports import ChangeCursor, ObjectRef, SystemAdapter
from b24sync.sandbox.diadok.app import SandboxConfig, create_app
from b24sync.store.kv import MemoryState

pytestmark = pytest.mark.anyio
DOC = ObjectRef("document", {"direction": "Outbound"})
BOX = ObjectRef("box")


class Clock:
    t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


async def test_adapter_send_follow_and_guard(monkeypatch):
    monkeypatch.setenv("DIADOK_ACCESS_TOKEN", "sandbox-access-token")
    clock = Clock()
    app = create_app(SandboxConfig(clock=clock, sign_delay=10))
    ad = build_adapter("edo", "diadok", {"base_url": "http://diadok.test", "auth": {"style": "bearer"},
                                         "state": MemoryState(), "transport": httpx.ASGITransport(app=app)})
    assert isinstance(ad, SystemAdapter)
    assert await ad.exists(BOX, {"inn": "6663003127", "kpp": "668501001"})
    assert not await ad.exists(BOX, {"inn": "6663003127", "kpp": "000000000"})

    rid = await ad.create(DOC, {"kind": "contract", "content": b"%PDF-1.4 contract", "document_key": "deal:1:c",
                                "to_inn": "6663003127", "to_kpp": "668501001", "sign_with_test_signature": True})
    assert rid == await ad.create(DOC, {"kind": "contract", "content": b"%PDF-1.4 contract",
                                        "document_key": "deal:1:c", "to_inn": "6663003127", "to_kpp": "668501001",
                                        "sign_with_test_signature": True})
    page = await ad.read_changes(DOC, ChangeCursor(), overlap_seconds=0, limit=100)
    assert [r.id for r in page.records] == [rid]
    assert page.records[0].values["recipient_response_status"] == "WaitingForRecipientSignature"
    cursor = page.cursor  # the engine stores this only after committing the page
    assert cursor.token and not page.more
    assert (await ad.read_changes(DOC, cursor, overlap_seconds=0, limit=100)).records == []

    clock.t += 11
    page2 = await ad.read_changes(DOC, cursor, overlap_seconds=0, limit=100)
    assert [(r.id, r.values["signed"]) for r in page2.records] == [(rid, True)]
    assert (await ad.get(DOC, rid)).values["recipient_response_status"] == "WithRecipientSignature"
    assert await ad.get(DOC, rid.split("/")[0] + "/00000000-0000-0000-0000-000000000000") is None
    with pytest.raises(ValidationError):
        await ad.get(DOC, "no-slash")
    with pytest.raises(PermanentError):
        await ad.update(DOC, rid, {})
    await ad.aclose()

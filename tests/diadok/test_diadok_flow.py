"""Diadok connector against the Diadok sandbox (in-process ASGI; the two sides never import each other)."""

from __future__ import annotations

import re

import httpx
import pytest

from b24sync.connectors.diadok import AuthSettings, DiadokClient, DiadokSettings, EventFeed, operation_id_for
from b24sync.engine.errors import (
    AuthError,
    HoldError,
    NotFoundError,
    PermanentError,
    RetryableError,
    ValidationError,
)
from b24sync.sandbox.diadok.app import SandboxConfig, create_app
from b24sync.store.kv import MemoryState

pytestmark = pytest.mark.anyio

OUR_INN = "7736207543"
SIGNER = ("6663003127", "668501001")
REJECTER = ("1234567894", "123401001")
CLOSED = ("7707083893", "773601001")


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


class Sleeps:
    """Records the client's waits instead of sleeping, so Retry-After handling is observable and fast."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def make(monkeypatch: pytest.MonkeyPatch, *, style: str = "bearer", **cfg_kw):
    clock = Clock()
    cfg = SandboxConfig(clock=clock, **cfg_kw)
    app = create_app(cfg)
    sleeps = Sleeps()
    monkeypatch.setenv("DIADOK_ACCESS_TOKEN", "sandbox-access-token")
    monkeypatch.setenv("DIADOK_CLIENT_ID", "sandbox-client-id")
    monkeypatch.setenv("DIADOK_LOGIN", "robot@sandbox.local")
    monkeypatch.setenv("DIADOK_PASSWORD", "sandbox-password")
    monkeypatch.delenv("DIADOK_TOKEN", raising=False)
    settings = DiadokSettings(base_url="http://diadok.test", auth=AuthSettings(style=style))  # type: ignore[arg-type]
    client = DiadokClient(settings, state=MemoryState(), transport=httpx.ASGITransport(app=app), sleep=sleeps)
    return client, app, clock, sleeps


async def hook(app, path: str, body: dict | None = None) -> dict:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://diadok.test") as h:
        r = await (h.post(path, json=body or {}) if body is not None or path != "/_sandbox/state"
                   else h.get(path))
        r.raise_for_status()
        return r.json()


async def our_box(dd: DiadokClient) -> str:
    boxes = await dd.my_boxes()
    assert [b.inn for b in boxes] == [OUR_INN]
    return boxes[0].box_id


def check_pdf(data: bytes) -> None:
    assert data.startswith(b"%PDF-1.")
    assert data.rstrip().endswith(b"%%EOF")
    startxref = int(re.search(rb"startxref\s+(\d+)", data).group(1))
    assert data[startxref:startxref + 4] == b"xref"
    offsets = [int(m) for m in re.findall(rb"(\d{10}) 00000 n", data)]
    assert offsets, "no objects in xref"
    for n, off in enumerate(offsets, start=1):
        assert data[off:].startswith(f"{n} 0 obj".encode()), f"xref offset of object {n} is wrong"


async def test_send_event_signed_pdf_chain(monkeypatch):
    dd, app, clock, sleeps = make(monkeypatch, sign_delay=30, print_form_polls=2, retry_after=2)
    async with dd:
        me = await our_box(dd)
        cp = await dd.find_box(*SIGNER)
        feed = EventFeed(dd, me)
        sent = await dd.send_document(from_box=me, to_box=cp.box_id, kind="contract", content=b"%PDF contract",
                                      document_key="deal:42:contract:v1", sign_with_test_signature=True,
                                      file_name="Договор 42.pdf", metadata={"DocumentNumber": "42"})
        assert sent.type_named_id == "Contract"

        page = await feed.next_page()
        assert page.after_index_key is None and len(page.events) == 1
        ev = page.events[0]
        assert not ev.is_patch and ev.documents[0].entity_id == sent.entity_id
        assert ev.documents[0].custom_document_id == "deal:42:contract:v1"
        assert feed.commit(page)
        assert feed.cursor() == page.next_index_key and any(c in feed.cursor() for c in "+/=")

        st = await dd.get_document(me, sent.message_id, sent.entity_id)
        assert st.recipient_response_status == "WaitingForRecipientSignature" and not st.signed
        status, pdf = await dd.signed_pdf(me, sent.message_id, sent.entity_id)
        assert pdf is None and not status.final

        assert (await feed.next_page()).events == []  # nothing new until the counterparty acts
        clock.t += 31  # the counterparty signs after its delay

        page2 = await feed.next_page()
        assert page2.after_index_key == page.next_index_key
        assert [e.is_patch for e in page2.events] == [True]
        assert page2.events[0].documents[0].entity_id == sent.entity_id
        feed.commit(page2)

        status, pdf = await dd.signed_pdf(me, sent.message_id, sent.entity_id)
        assert status.recipient_response_status == "WithRecipientSignature" and status.signed
        assert sleeps.waits == [2.0, 2.0]  # two 204 + Retry-After: 2 before the PDF was ready
        check_pdf(pdf.content)
        assert b"WithRecipientSignature" in pdf.content
        assert pdf.file_name and pdf.file_name.endswith(".pdf")
        assert pdf.content_type == "application/pdf"


async def test_retried_send_is_not_duplicated(monkeypatch):
    dd, app, _clock, _ = make(monkeypatch)
    async with dd:
        me = await our_box(dd)
        cp = await dd.find_box(*SIGNER)
        kw = dict(from_box=me, to_box=cp.box_id, kind="upd", content=b"<xml/>", function="СЧФДОП",
                  sign_with_test_signature=True)
        a = await dd.send_document(document_key="deal:7:upd", **kw)
        b = await dd.send_document(document_key="deal:7:upd", **kw)
        assert (a.message_id, a.entity_id) == (b.message_id, b.entity_id)
        assert a.operation_id == b.operation_id == operation_id_for("deal:7:upd")
        state = await hook(app, "/_sandbox/state")
        assert state["stats"]["messages_created"] == 1 and state["stats"]["post_message_calls"] == 2

        # operationId is case-insensitive on the server; a raw retry in upper case still hits the first result
        msg = dd.build_message(document_key="deal:7:upd", **kw)
        again = await dd.post_message(msg, operation_id=a.operation_id.upper())
        assert again["MessageId"] == a.message_id

        c = await dd.send_document(document_key="deal:7:upd:v2", **kw)
        assert c.message_id != a.message_id
        assert (await hook(app, "/_sandbox/state"))["stats"]["messages_created"] == 2


async def test_post_message_204_retry_after_honoured(monkeypatch):
    dd, app, _clock, sleeps = make(monkeypatch, post_message_polls=2, retry_after=3)
    async with dd:
        me = await our_box(dd)
        cp = await dd.find_box(*SIGNER)
        sent = await dd.send_document(from_box=me, to_box=cp.box_id, kind="proforma_invoice", content=b"bill",
                                      document_key="deal:9:bill", sign_with_test_signature=True)
        assert sleeps.waits == [3.0, 3.0]
        st = await dd.get_document(me, sent.message_id, sent.entity_id)
        assert st.recipient_response_status == "RecipientResponseStatusNotAcceptable"  # one-sided document
        assert (await hook(app, "/_sandbox/state"))["stats"]["messages_created"] == 1

    dd, app, _clock, sleeps = make(monkeypatch, post_message_polls=5, retry_after=10)
    async with dd:
        me = await our_box(dd)
        cp = await dd.find_box(*SIGNER)
        with pytest.raises(RetryableError) as ei:
            await dd.send_document(from_box=me, to_box=cp.box_id, kind="contract", content=b"c",
                                   document_key="deal:10:contract", sign_with_test_signature=True, max_wait=25)
        assert ei.value.retry_after == 10.0 and sleeps.waits == [10.0, 10.0]


async def test_legacy_diadocauth_with_password_and_token_refresh(monkeypatch):
    dd, app, clock, _ = make(monkeypatch, style="diadocauth")
    seen: list[str] = []
    orig = dd.http.send

    async def spy(request, **kw):
        seen.append(request.headers.get("Authorization", ""))
        return await orig(request, **kw)

    dd.http.send = spy  # type: ignore[method-assign]
    async with dd:
        me = await our_box(dd)
        await dd.my_boxes()
        auth_calls = [h for h in seen if "ddauth_token" not in h]
        assert len(auth_calls) == 1 and auth_calls[0] == "DiadocAuth ddauth_api_client_id=sandbox-client-id"
        assert re.fullmatch(r"DiadocAuth ddauth_api_client_id=sandbox-client-id,ddauth_token=\S+", seen[-1])
        clock.t += 25 * 3600  # the sandbox's 24 h token expired; the client gets 401, re-authenticates once
        assert (await dd.find_box(*SIGNER)).inn == SIGNER[0]
        assert len([h for h in seen if "ddauth_token" not in h]) == 2
        assert me


async def test_both_auth_styles_and_401(monkeypatch):
    dd, _app, _c, _ = make(monkeypatch, style="bearer")
    async with dd:
        assert await our_box(dd)
    dd, _app, _c, _ = make(monkeypatch, style="bearer")
    monkeypatch.setenv("DIADOK_ACCESS_TOKEN", "wrong")
    async with dd:
        with pytest.raises(AuthError) as ei:
            await dd.my_boxes()
        assert ei.value.detail["status"] == 401 and "invalid" in ei.value.detail["body"]

    dd, _app, _c, _ = make(monkeypatch, style="diadocauth")
    monkeypatch.setenv("DIADOK_TOKEN", "not-issued")
    async with dd:
        with pytest.raises(AuthError):
            await dd.my_boxes()
    monkeypatch.delenv("DIADOK_TOKEN")
    monkeypatch.setenv("DIADOK_CLIENT_ID", "unknown-key")
    dd, _app, _c, _ = make(monkeypatch, style="diadocauth")
    monkeypatch.setenv("DIADOK_CLIENT_ID", "unknown-key")
    async with dd:
        with pytest.raises(AuthError):
            await dd.my_boxes()


async def test_counterparty_rejects_and_lookup_errors(monkeypatch):
    dd, app, clock, _ = make(monkeypatch, sign_delay=-1)
    async with dd:
        me = await our_box(dd)
        rej = await dd.find_box(*REJECTER)
        sent = await dd.send_document(from_box=me, to_box=rej.box_id, kind="contract", content=b"c",
                                      document_key="deal:5:contract", sign_with_test_signature=True)
        clock.t += 3600
        assert not (await dd.get_document(me, sent.message_id, sent.entity_id)).final  # hook-only mode
        await hook(app, "/_sandbox/respond", {"message_id": sent.message_id, "entity_id": sent.entity_id,
                                              "action": "reject"})
        status, pdf = await dd.signed_pdf(me, sent.message_id, sent.entity_id)
        assert status.rejected and status.final and pdf is None

        with pytest.raises(NotFoundError):
            await dd.find_box("6663003127", "999999999")
        with pytest.raises(HoldError) as ei:
            await dd.find_box("773006366201")  # two organisations share the INN (roaming representation)
        assert len(ei.value.detail["boxes"]) == 2
        with pytest.raises(ValidationError):
            await dd.find_box("12345")
        closed = await dd.find_box(*CLOSED)
        with pytest.raises(RetryableError) as e409:
            await dd.send_document(from_box=me, to_box=closed.box_id, kind="contract", content=b"c",
                                   document_key="deal:6:contract", sign_with_test_signature=True)
        assert e409.value.detail["status"] == 409
        with pytest.raises(ValidationError):  # no sender signature → 400
            await dd.send_document(from_box=me, to_box=rej.box_id, kind="contract", content=b"c",
                                   document_key="deal:6:contract")
        with pytest.raises(AuthError):  # events of a box this token cannot access → 403
            await dd.get_new_events(rej.box_id)
        with pytest.raises(ValidationError):
            await dd.get_new_events(me, "not-a-cursor")


async def test_event_paging_and_commit_only_after_caller(monkeypatch):
    dd, _app, clock, _ = make(monkeypatch, sign_delay=1)
    async with dd:
        me = await our_box(dd)
        cp = await dd.find_box(*SIGNER)
        for i in range(3):
            await dd.send_document(from_box=me, to_box=cp.box_id, kind="contract", content=b"c",
                                   document_key=f"deal:{i}:contract", sign_with_test_signature=True)
        clock.t += 2  # all three get signed → 3 message events + 3 patch events in our box
        state = MemoryState()
        feed = EventFeed(dd, me, state=state)
        first = await feed.next_page(limit=4)
        assert len(first.events) == 4 and first.more and first.total_count == 6
        again = await feed.next_page(limit=4)  # not committed → the same page again
        assert [e.event_id for e in again.events] == [e.event_id for e in first.events]
        assert feed.commit(first)
        assert not feed.commit(again)  # stale page: the cursor already moved, nothing changes
        rest = await feed.next_page(limit=4)
        assert len(rest.events) == 2 and not rest.more
        assert all(e.is_patch for e in rest.events)
        ids = {e.event_id for e in first.events} | {e.event_id for e in rest.events}
        assert len(ids) == 6


async def test_fault_injection_maps_to_retryable(monkeypatch):
    dd, _app, _c, _ = make(monkeypatch, fail_rate=1.0, seed=3, retry_after=7)
    async with dd:
        seen = set()
        for _ in range(12):
            with pytest.raises(RetryableError) as ei:
                await dd.my_boxes()
            seen.add(ei.value.detail["status"])
            if ei.value.detail["status"] == 429:
                assert ei.value.retry_after == 7.0
        assert seen == {429, 500}


async def test_print_form_409_is_permanent(monkeypatch):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(409, text="Generating print form for this type of document is not supported")

    monkeypatch.setenv("DIADOK_ACCESS_TOKEN", "t")
    dd = DiadokClient(DiadokSettings(base_url="http://x"), transport=httpx.MockTransport(handler))
    async with dd:
        with pytest.raises(PermanentError) as ei:
            await dd.print_form("b", "m", "e")
        assert not isinstance(ei.value, RetryableError)


def test_operation_id_is_deterministic():
    assert operation_id_for("deal:1:contract") == operation_id_for("deal:1:contract")
    assert operation_id_for("deal:1:contract") != operation_id_for("deal:1:contract:v2")
    with pytest.raises(ValueError):
        operation_id_for("")

import json

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from b24sync.connectors.onec.http import inbound_router, signed_headers

SECRET = "s3cr3t-значение"


def app_with(mode="hmac", fail=False, secret=SECRET):
    seen_ids: set[str] = set()
    got = []
    forgotten = []

    def seen(d):
        if d in seen_ids:
            return True
        seen_ids.add(d)
        return False

    async def on_event(ev):
        if fail:
            raise RuntimeError("db down")
        got.append(ev)

    app = FastAPI()
    app.include_router(inbound_router(on_event=on_event, seen=seen, mode=mode, secret=secret,
                                      forget=lambda d: (seen_ids.discard(d), forgotten.append(d))),
                       prefix="/hooks")
    return TestClient(app), got, forgotten


def event(delivery="d-1", ev="payment.posted"):
    return json.dumps({"delivery_id": delivery, "event": ev,
                       "object": {"type": "Document_ПоступлениеБезналичныхДенежныхСредств",
                                  "ref": "8b9660f6-1c2d-11ee-9f6a-0242ac120002"},
                       "occurred_at": "2026-11-23T10:00:00", "data": {"СуммаДокумента": 1500.5}},
                      ensure_ascii=False).encode()


def test_hmac_ok_then_duplicate_not_reprocessed():
    client, got, _ = app_with()
    body = event()
    r = client.post("/hooks/onec/events", content=body, headers=signed_headers(SECRET, body, "d-1"))
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    assert len(got) == 1 and got[0].event == "payment.posted" and got[0].data == {"СуммаДокумента": 1500.5}
    r = client.post("/hooks/onec/events", content=body, headers=signed_headers(SECRET, body, "d-1"))
    assert r.status_code == 200 and r.json()["status"] == "duplicate"
    assert len(got) == 1


def test_hmac_bad_or_tampered():
    client, got, _ = app_with()
    body = event()
    h = signed_headers(SECRET, body, "d-1")
    assert client.post("/hooks/onec/events", content=body, headers=signed_headers("other", body, "d-1")).status_code == 401
    tampered = body.replace(b"1500.5", b"9999.9")
    assert client.post("/hooks/onec/events", content=tampered, headers=h).status_code == 401
    assert client.post("/hooks/onec/events", content=body).status_code == 401
    assert got == []
    # bare hex digest accepted too
    assert client.post("/hooks/onec/events", content=body,
                       headers={**h, "X-1C-Signature": h["X-1C-Signature"].removeprefix("sha256=")}).status_code == 200


def test_shared_secret_mode():
    client, got, _ = app_with(mode="secret", secret="plain-ascii-secret")
    body = event()
    assert client.post("/hooks/onec/events", content=body, headers={"X-1C-Secret": "nope"}).status_code == 401
    assert client.post("/hooks/onec/events", content=body,
                       headers={"X-1C-Secret": "plain-ascii-secret-"}).status_code == 401
    assert got == []
    r = client.post("/hooks/onec/events", content=body, headers={"X-1C-Secret": "plain-ascii-secret"})
    assert r.status_code == 200 and len(got) == 1


@pytest.mark.parametrize("body", [b"not json", b"[1,2]", json.dumps({"event": "x", "object": {"ref": 5}}).encode(),
                                  json.dumps({"delivery_id": "d", "event": "", "object": {}}).encode(),
                                  json.dumps({"delivery_id": "d", "event": "x", "data": [1]}).encode(),
                                  "\xff\xfe".encode("latin-1")])
def test_malformed_is_400(body):
    client, got, _ = app_with()
    r = client.post("/hooks/onec/events", content=body, headers=signed_headers(SECRET, body, "d-1"))
    assert r.status_code == 400 and got == []


def test_delivery_id_from_header_and_handler_failure_allows_retry():
    client, got, forgotten = app_with(fail=True)
    body = json.dumps({"event": "shipment.posted", "object": {"type": "Document_РеализацияТоваровУслуг"}}).encode()
    h = signed_headers(SECRET, body, "hdr-7")
    assert client.post("/hooks/onec/events", content=body, headers=h).status_code == 500
    assert forgotten == ["hdr-7"]
    # the retry is not treated as a duplicate
    assert client.post("/hooks/onec/events", content=body, headers=h).status_code == 500
    assert forgotten == ["hdr-7", "hdr-7"]


def test_needs_secret():
    with pytest.raises(ValueError):
        inbound_router(on_event=lambda e: None, seen=lambda d: False, secret_env="B24SYNC_UNSET_VAR_X")

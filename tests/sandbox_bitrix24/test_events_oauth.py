from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import httpx
import pytest

from b24sync.sandbox.bitrix24 import Bitrix24Sandbox, ManualClock


class Receiver:
    """A local HTTP endpoint recording form POSTs; answers `status`."""

    def __init__(self, status: int = 200) -> None:
        self.hits: list[dict] = []
        rec = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                rec.hits.append({"path": self.path, "ctype": self.headers.get("Content-Type"),
                                 "form": dict(parse_qsl(body, keep_blank_values=True))})
                self.send_response(status)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}/hook"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()


@pytest.fixture
def app_sandbox():
    clock = ManualClock()
    sb = Bitrix24Sandbox(rate=None, clock=clock, access_ttl=3600)
    sb.start()
    code = sb.issue_auth_code()
    tok = httpx.get(sb.oauth_token_url, params={"grant_type": "authorization_code", "client_id": sb.portal.client_id,
                                                "client_secret": sb.portal.client_secret, "code": code}).json()
    yield sb, clock, tok
    sb.close()


def call(sb, method, token, **params):
    return httpx.post(f"{sb.base_url}/rest/{method}", json={"auth": token, **params})


def test_oauth_flow_and_expiry(app_sandbox):
    sb, clock, tok = app_sandbox
    assert {"access_token", "refresh_token", "expires_in", "member_id", "client_endpoint", "server_endpoint",
            "domain", "scope", "status"} <= set(tok)
    assert call(sb, "user.current", tok["access_token"]).status_code == 200
    q = httpx.get(f"{sb.base_url}/rest/profile.json", params={"auth": tok["access_token"]})
    assert q.status_code == 200 and q.json()["result"]["ADMIN"] is True
    clock.advance(3601)
    exp = call(sb, "user.current", tok["access_token"])
    assert (exp.status_code, exp.json()) == (401, {"error": "expired_token",
                                                   "error_description": "The access token provided has expired."})
    ref = httpx.post(sb.oauth_token_url, data={"grant_type": "refresh_token", "client_id": sb.portal.client_id,
                                               "client_secret": sb.portal.client_secret,
                                               "refresh_token": tok["refresh_token"]}).json()
    assert ref["refresh_token"] != tok["refresh_token"]
    assert call(sb, "user.current", ref["access_token"]).status_code == 200
    reuse = httpx.get(sb.oauth_token_url, params={"grant_type": "refresh_token", "client_id": sb.portal.client_id,
                                                  "client_secret": sb.portal.client_secret,
                                                  "refresh_token": tok["refresh_token"]})
    assert (reuse.status_code, reuse.json()["error"]) == (400, "invalid_grant")
    bad = httpx.get(sb.oauth_token_url, params={"grant_type": "refresh_token", "client_id": sb.portal.client_id,
                                                "client_secret": "nope", "refresh_token": ref["refresh_token"]})
    assert (bad.status_code, bad.json()["error"]) == (400, "invalid_client")


def test_online_events_form_post_no_retry(app_sandbox):
    sb, clock, tok = app_sandbox
    ok, failing = Receiver(200), Receiver(500)
    try:
        t = tok["access_token"]
        assert call(sb, "event.bind", t, event="ONCRMCOMPANYADD", handler=ok.url).json()["result"] is True
        assert call(sb, "event.bind", t, event="ONCRMCOMPANYADD", handler=failing.url).json()["result"] is True
        dup = call(sb, "event.bind", t, event="ONCRMCOMPANYADD", handler=ok.url)
        assert (dup.status_code, dup.json()["error"]) == (400, "ERROR_HANDLER_ALREADY_EXIST")
        nf = call(sb, "event.bind", t, event="ONNOSUCHEVENT", handler=ok.url)
        assert (nf.status_code, nf.json()["error"]) == (400, "ERROR_EVENT_NOT_FOUND")
        webhook_bind = httpx.post(sb.webhook_url + "event.bind", json={"event": "ONCRMCOMPANYADD", "handler": ok.url})
        assert webhook_bind.status_code == 403
        assert {e["handler"] for e in call(sb, "event.get", t).json()["result"]} == {ok.url, failing.url}
        cid = httpx.post(sb.webhook_url + "crm.company.add", json={"fields": {"TITLE": "X"}}).json()["result"]
        assert sb.drain_events()
        assert len(ok.hits) == 1 and len(failing.hits) == 1  # delivered once each; the 500 is not retried
        form = ok.hits[0]["form"]
        assert ok.hits[0]["ctype"].startswith("application/x-www-form-urlencoded")
        assert form["event"] == "ONCRMCOMPANYADD" and form["data[FIELDS][ID]"] == str(cid)
        for k in ("event_handler_id", "ts", "auth[domain]", "auth[client_endpoint]", "auth[server_endpoint]",
                  "auth[member_id]", "auth[application_token]", "auth[access_token]"):
            assert k in form
        assert form["auth[application_token]"] == sb.portal.application_token
        assert [d["status"] for d in sb.deliveries] .count(500) == 1
        assert call(sb, "event.unbind", t, event="ONCRMCOMPANYADD", handler=failing.url).json()["result"] == {"count": 1}
    finally:
        ok.close()
        failing.close()


def test_outgoing_webhook_payload_has_no_tokens(sandbox):
    r = Receiver()
    try:
        hook = sandbox.add_outgoing_webhook("ONCRMDEALUPDATE", r.url)
        did = httpx.post(sandbox.webhook_url + "crm.deal.add", json={"fields": {"TITLE": "d"}}).json()["result"]
        httpx.post(sandbox.webhook_url + "crm.deal.update", json={"id": did, "fields": {"TITLE": "e"}})
        assert sandbox.drain_events()
        form = r.hits[0]["form"]
        assert form["auth[application_token]"] == hook["APPLICATION_TOKEN"]
        assert not any(k.startswith("auth[access_token") for k in form)
    finally:
        r.close()


def test_offline_queue(app_sandbox):
    sb, clock, tok = app_sandbox
    t = tok["access_token"]
    for ev in ("ONCRMDEALADD", "ONCRMDEALUPDATE"):
        assert call(sb, "event.bind", t, event=ev, event_type="offline", auth_connector="erp1").json()["result"] is True
    hook = sb.webhook_url
    d1 = httpx.post(hook + "crm.deal.add", json={"fields": {"TITLE": "a"}}).json()["result"]
    for i in range(5):
        clock.advance(1)
        httpx.post(hook + "crm.deal.update", json={"id": d1, "fields": {"TITLE": f"a{i}"}})
    d2 = httpx.post(hook + "crm.deal.add", json={"fields": {"TITLE": "b"}}).json()["result"]
    # our own write (same auth_connector) is not queued
    httpx.post(hook + "crm.deal.add", json={"fields": {"TITLE": "mine"}, "auth_connector": "erp1"})
    lst = call(sb, "event.offline.list", t).json()
    assert lst["total"] == 2  # one record per object, the latest state replaced the earlier ones
    got = call(sb, "event.offline.get", t, clear=0, limit=1).json()["result"]
    pid = got["process_id"]
    assert pid and len(got["events"]) == 1 and got["events"][0]["EVENT_NAME"] == "ONCRMDEALUPDATE"
    assert got["events"][0]["EVENT_DATA"]["FIELDS"]["ID"] == str(d1)
    other = call(sb, "event.offline.get", t, clear=0).json()["result"]  # parallel get: disjoint set
    assert [e["EVENT_DATA"]["FIELDS"]["ID"] for e in other["events"]] == [str(d2)]
    assert call(sb, "event.offline.error", t, process_id=other["process_id"],
                message_id=[other["events"][0]["MESSAGE_ID"]]).json()["result"] is True
    assert call(sb, "event.offline.clear", t, process_id=pid).json()["result"] is True
    left = call(sb, "event.offline.list", t).json()["result"]
    assert len(left) == 1 and left[0]["ERROR"] == "1"
    assert call(sb, "event.offline.get", t).json()["result"]["events"] == []
    assert len(call(sb, "event.offline.get", t, error=1).json()["result"]["events"]) == 1


def test_app_install_event(app_sandbox):
    sb, clock, tok = app_sandbox
    r = Receiver()
    try:
        sb.install_app(r.url)
        assert sb.drain_events()
        form = r.hits[0]["form"]
        assert form["event"] == "ONAPPINSTALL" and form["auth[application_token]"] == sb.portal.application_token
        assert "auth[refresh_token]" in form and "auth[access_token]" in form
    finally:
        r.close()

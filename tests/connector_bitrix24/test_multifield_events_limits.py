"""Multi-field diff (property tests), event POST parsing + token check, the shared leaky bucket."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st

from b24sync.connectors.bitrix24.auth import OAuthAuth
from b24sync.connectors.bitrix24.events import EventVerifier, make_event_router, parse_event
from b24sync.connectors.bitrix24.limits import LeakyBucket, OperatingBudget
from b24sync.connectors.bitrix24.multifield import apply_legacy, diff_multifield, normalize, to_item_fm
from b24sync.store.kv import MemoryState

pytestmark = pytest.mark.anyio

# ------------------------------------------------------------------------------------------------ multi-fields

CUR = [{"ID": "11", "TYPE_ID": "PHONE", "VALUE": "+7 (999) 123-45-67", "VALUE_TYPE": "WORK"},
       {"ID": "12", "TYPE_ID": "PHONE", "VALUE": "+74950000000", "VALUE_TYPE": "MOBILE"}]


def test_resaving_the_same_phones_changes_nothing():
    ops = diff_multifield("PHONE", CUR, [{"VALUE": "+79991234567", "VALUE_TYPE": "WORK"},
                                         {"VALUE": "+7 495 000-00-00", "VALUE_TYPE": "MOBILE"}])
    assert ops == []


def test_add_change_remove():
    assert diff_multifield("PHONE", CUR, [{"VALUE": "+79991234567", "VALUE_TYPE": "WORK"},
                                         {"VALUE": "+79990000001", "VALUE_TYPE": "HOME"},
                                         {"VALUE": "+79990000002", "VALUE_TYPE": "HOME"}]) == [
        {"ID": "12", "VALUE": "+79990000001", "VALUE_TYPE": "HOME"},  # reused in place
        {"VALUE": "+79990000002", "VALUE_TYPE": "HOME"},  # new: no ID
    ]
    assert diff_multifield("PHONE", CUR, ["+79991234567"]) == [{"ID": "12", "VALUE": ""}]  # remove: empty VALUE
    fm = to_item_fm("PHONE", [{"ID": "12", "VALUE": ""}, {"VALUE": "1", "VALUE_TYPE": "WORK"}])
    assert fm == {"12": {"typeId": "PHONE", "value": ""}, "n0": {"typeId": "PHONE", "value": "1", "valueType": "WORK"}}


phone = st.integers(min_value=70000000000, max_value=79999999999).map(lambda n: f"+{n}")
entry = st.fixed_dictionaries({"VALUE": phone, "VALUE_TYPE": st.sampled_from(["WORK", "MOBILE", "HOME"])})


@settings(max_examples=200, deadline=None)
@given(current=st.lists(entry, max_size=5), wanted=st.lists(entry, max_size=5, unique_by=lambda e: e["VALUE"]))
def test_diff_reaches_wanted_and_is_idempotent(current, wanted):
    cur = [{"ID": str(i + 1), "TYPE_ID": "PHONE", **e} for i, e in enumerate(current)]
    after = apply_legacy(cur, diff_multifield("PHONE", cur, wanted), "PHONE")
    assert sorted((normalize("PHONE", r["VALUE"]), r["VALUE_TYPE"]) for r in after) == \
        sorted((normalize("PHONE", w["VALUE"]), w["VALUE_TYPE"]) for w in wanted)
    assert diff_multifield("PHONE", after, wanted) == []  # re-saving never duplicates
    assert all("ID" in o for o in diff_multifield("PHONE", cur, wanted) if o.get("VALUE") == "")


# ------------------------------------------------------------------------------------------------ events

APP_TOKEN = "jvh9y1ulvt2m6k5or90v9mg8nn32ozas"


def form(token: str, event: str = "ONCRMDEALADD", **auth) -> bytes:
    # the wire format of sheet §9.16 (form-encoded, PHP bracket keys)
    pairs = [("event", event), ("event_handler_id", "975"), ("data[FIELDS][ID]", "7405"), ("ts", "1766047124"),
             ("auth[domain]", "some-domain.bitrix24.com"), ("auth[member_id]", "d897063e1ce7c5eb9f04b9751eef5915"),
             ("auth[application_token]", token)] + [(f"auth[{k}]", v) for k, v in auth.items()]
    return urlencode(pairs).encode()


def test_parse_event_form():
    ev = parse_event(form(APP_TOKEN))
    assert ev.name == "ONCRMDEALADD" and ev.object_id == "7405" and ev.ts == 1766047124
    assert ev.member_id == "d897063e1ce7c5eb9f04b9751eef5915"
    assert APP_TOKEN not in repr(ev)


async def _post(app, body):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as h:
        return await h.post("/bitrix24/events", content=body,
                            headers={"content-type": "application/x-www-form-urlencoded"})


async def test_router_accepts_valid_token_rejects_others_without_logging_secrets(caplog):
    caplog.set_level(logging.INFO)
    got = []

    async def cb(ev):
        got.append(ev)

    app = FastAPI()
    app.include_router(make_event_router(EventVerifier([APP_TOKEN]), cb))
    assert (await _post(app, form(APP_TOKEN))).status_code == 200
    bad = "x" * 32
    r = await _post(app, form(bad))
    assert r.status_code == 401
    assert (await _post(app, b"event=ONCRMDEALADD")).status_code == 401
    assert [e.object_id for e in got] == ["7405"]
    assert "rejected" in caplog.text and bad not in caplog.text and APP_TOKEN not in caplog.text


async def test_onappinstall_stores_tokens_then_verifies_later_events():
    state = MemoryState()
    auth = OAuthAuth(client_id="app.1", client_secret="sec-ret-123", state=state, key="b24:oauth:p")
    ver = EventVerifier(oauth=auth, accept_install=True)
    install = parse_event(form("apptoken-123456", "ONAPPINSTALL", access_token="acc-tok-123456",
                               refresh_token="ref-tok-123456", client_endpoint="https://p.bitrix24.ru/rest/"))
    assert await ver.verify(install)
    stored = state.get("b24:oauth:p")
    assert stored["access_token"] == "acc-tok-123456" and stored["application_token"] == "apptoken-123456"
    assert await ver.verify(parse_event(form("apptoken-123456")))
    assert not await ver.verify(parse_event(form("other-token-999")))
    # a second "install" with another token cannot take over
    assert not await ver.verify(parse_event(form("evil-token-9999", "ONAPPINSTALL", access_token="evil-acc-123")))
    assert state.get("b24:oauth:p")["access_token"] == "acc-tok-123456"


# ------------------------------------------------------------------------------------------------ limiter


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def portal_counter_never_exceeds(times: list[float], rate: float, burst: int) -> int:
    """The portal's model (sheet §3.2): +1 per request, −rate once per whole second (stepped), refuse above burst."""
    refused = 0
    level = 0.0
    last_sec = int(times[0])
    for t in sorted(times):
        while last_sec < int(t):
            last_sec += 1
            level = max(0.0, level - rate)
        if level + 1 > burst:
            refused += 1
            continue
        level += 1
    return refused


@pytest.mark.parametrize("rate,burst", [(2.0, 50), (5.0, 250)])
def test_bucket_schedule_never_trips_the_portal_counter(rate, burst):
    clock = Clock()
    state = MemoryState()
    # three workers of one portal share the bucket through the state
    buckets = [LeakyBucket(state, "b24:bucket:p", rate=rate, burst=burst, clock=clock) for _ in range(3)]
    sends = []
    for i in range(burst * 4):
        new, wait = buckets[i % 3]._reserve(state.get("b24:bucket:p"))
        state.update("b24:bucket:p", lambda old, new=new: (new, None))
        sends.append(clock.t + wait)
        clock.t += 0.001  # everyone asks at once
    assert portal_counter_never_exceeds(sends, rate, burst) == 0
    # and it is not needlessly slow: the whole run is within 15 % of the theoretical minimum
    ideal = (len(sends) - burst) / rate
    assert max(sends) - min(sends) <= ideal * 1.15 + 2


async def test_bucket_acquire_waits_when_full():
    state = MemoryState()
    # a clock that stands still: on a loaded machine real time between two acquires drained the bucket
    b = LeakyBucket(state, "k", rate=100.0, burst=10, burst_margin=2, clock=lambda: 1_000_000.0)
    waits = [await b.acquire() for _ in range(12)]
    assert waits[:8] == [0.0] * 8 and all(w > 0 for w in waits[8:])


async def test_budget_slows_then_parks():
    clock = Clock()
    b = OperatingBudget(MemoryState(), "op", limit_seconds=100, clock=clock)
    await b.observe("crm.deal.list", {"operating": 50, "operating_reset_at": clock.t + 60})
    assert (await b.decide("crm.deal.list")).delay == 0
    await b.observe("crm.deal.list", {"operating": 80, "operating_reset_at": clock.t + 60})
    d = await b.decide("crm.deal.list")
    assert 0 < d.delay and d.park_until is None
    await b.observe("crm.deal.list", {"operating": 95, "operating_reset_at": clock.t + 60})
    assert (await b.decide("crm.deal.list")).park_until == clock.t + 60
    assert (await b.decide("crm.contact.list")).park_until is None  # other methods keep working
    clock.t += 61
    assert (await b.decide("crm.deal.list")).park_until is None

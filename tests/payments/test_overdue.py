"""Overdue invoices (issue 16): once a day, a smart invoice past its due date with a balance left (the payment
ledger's counted sum) gets one notification to its responsible manager with the days overdue — over the Bitrix24
and 1C sandboxes, with the clock of engine/overdue.py injected to play several days."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from b24sync.engine import overdue
from b24sync.engine.errors import OutcomeUnknownError
from b24sync.store.models import Effect
from tests.orders.harness import cycle, scenario
from tests.orders.test_invoices import INVOICES, _invoice, _setup, _stage
from tests.payments.harness import parked
from tests.payments.test_invoice_payments import _ents

OVERDUE = {"due": "closedate", "total": "opportunity", "who": "assignedById",
           "number": ["ufCrmErpNumber", "accountNumber"], "skip_stages": ["DT31_2:P", "DT31_2:D"], "at": "09:00"}


def _spec() -> dict[str, Any]:
    e = _ents()
    e["invoice"]["overdue"] = dict(OVERDUE)
    return e


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    now = {"t": datetime(2026, 3, 13, 5, 0, tzinfo=UTC)}  # 08:00 in Moscow

    def set_(iso: str) -> None:
        now["t"] = datetime.fromisoformat(iso)

    monkeypatch.setattr(overdue, "clock", lambda: now["t"])
    return set_


def sent(b24) -> list[dict]:  # type: ignore[no-untyped-def]
    return [n for n in b24.portal.notifications if str(n.get("TAG") or "").startswith("b24sync:overdue:")]


def visible(b24) -> list[str]:  # type: ignore[no-untyped-def]
    return [n["MESSAGE"] for n in sent(b24) if not n.get("REPLACED")]


async def _issued(rt, b24, onec, client) -> tuple[str, str, dict]:  # type: ignore[no-untyped-def]
    """A smart invoice of 366 ₽ due 10.03.2026, sent → its 1C invoice (numbered by 1C), 100 ₽ paid."""
    s, d, _ = await _setup(rt, b24, onec, client)
    inv = await _invoice(client, s["company"], d)
    await client.call("crm.item.update", {"entityTypeId": 31, "id": int(inv), "fields": {"closedate": "2026-03-10"}})
    await _stage(rt, client, inv, "DT31_2:S")
    await cycle(rt)
    (doc,) = onec.find(INVOICES)
    onec.register_payment(doc["Ref_Key"], 100, basis_type=INVOICES, incoming_number="31",
                          incoming_date="2026-03-11T00:00:00")
    await cycle(rt)
    return inv, d, doc


def test_one_notice_a_day_with_the_days_overdue_none_when_paid(tmp_path: Path, clock) -> None:  # type: ignore[no-untyped-def]
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        inv, _, doc = await _issued(rt, b24, onec, client)
        assert sent(b24) == []  # 08:00 in Moscow: the day's sweep is not due yet
        clock("2026-03-13T06:30:00+00:00")  # 09:30 MSK
        await cycle(rt)
        text = f"Счёт № {doc['Number']} просрочен на 3 дн., остаток 266 ₽ (срок оплаты 10.03.2026)."
        assert visible(b24) == [text], (sent(b24), parked(rt))
        (n,) = sent(b24)
        assert n["USER_ID"] == int(b24.portal.t("item_31").get(int(inv))["assignedById"])
        assert n["TYPE"] == "SYSTEM" and n["TAG"] == f"b24sync:overdue:invoice:{inv}"
        # a second sweep the same day (later cycle, a restart) and a replayed job: still one
        clock("2026-03-13T15:00:00+00:00")
        await cycle(rt)
        with rt.db.begin() as conn:
            overdue.cursors.put(conn, overdue.sweep_name("invoice"), {"day": "2026-03-12"})  # the marker lost
        await cycle(rt)
        assert len(sent(b24)) == 1
        # the next day: a second notice with N+1, replacing yesterday's on the manager's list (same TAG)
        clock("2026-03-14T05:59:00+00:00")  # 08:59 MSK
        await cycle(rt)
        assert len(sent(b24)) == 1
        clock("2026-03-14T06:01:00+00:00")
        await cycle(rt)
        assert [n["MESSAGE"] for n in sent(b24)] == [
            text, f"Счёт № {doc['Number']} просрочен на 4 дн., остаток 266 ₽ (срок оплаты 10.03.2026)."]
        assert visible(b24) == [sent(b24)[1]["MESSAGE"]]
        # paid in full → the invoice moves to «Оплачен»: no notice the day after
        onec.register_payment(doc["Ref_Key"], 266, basis_type=INVOICES, incoming_number="32",
                              incoming_date="2026-03-14T00:00:00")
        await cycle(rt)
        assert b24.portal.t("item_31").get(int(inv))["stageId"] == "DT31_2:P"
        clock("2026-03-15T07:00:00+00:00")
        await cycle(rt)
        assert len(sent(b24)) == 2
        with rt.db.connect() as conn:
            keys = sorted(k for (k,) in conn.execute(select(Effect.key).where(Effect.key.like("overdue:%"))))
        assert keys == [f"overdue:invoice:{inv}:2026-03-13", f"overdue:invoice:{inv}:2026-03-14"]
        assert parked(rt) == []

    scenario(steps, tmp_path, _spec())


def test_paid_by_the_ledger_without_the_stage_gets_none(tmp_path: Path, clock) -> None:  # type: ignore[no-untyped-def]
    """The balance comes from the ledger, not from the stage: fully paid but left at «Отправлен» → nothing."""
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        inv, _, doc = await _issued(rt, b24, onec, client)
        onec.register_payment(doc["Ref_Key"], 266, basis_type=INVOICES, incoming_number="32",
                              incoming_date="2026-03-12T00:00:00")
        await cycle(rt)
        await client.call("crm.item.update", {"entityTypeId": 31, "id": int(inv), "fields": {"stageId": "DT31_2:S"}})
        clock("2026-03-13T07:00:00+00:00")
        await cycle(rt)
        assert sent(b24) == []

    scenario(steps, tmp_path, _spec())


def test_lost_answer_on_the_notify_call(tmp_path: Path, clock) -> None:  # type: ignore[no-untyped-def]
    """The notification is made, its answer lost: the retry cannot read it back (no read-back of another user's
    notifications), sends once more with the same TAG — at most one duplicate sent, one on the manager's list."""
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        await _issued(rt, b24, onec, client)
        adapter = rt.adapters["bitrix24"]
        real = adapter.notify
        calls = {"n": 0}

        async def lossy(*a, **kw):  # type: ignore[no-untyped-def]
            calls["n"] += 1
            await real(*a, **kw)
            if calls["n"] == 1:
                raise OutcomeUnknownError("the answer was lost (test)")
            return "ok"

        adapter.notify = lossy  # type: ignore[method-assign]
        clock("2026-03-13T07:00:00+00:00")
        for _ in range(3):
            await cycle(rt)
        assert calls["n"] == 2 and len(sent(b24)) == 2
        assert len(visible(b24)) == 1 and "просрочен на 3 дн." in visible(b24)[0]
        with rt.db.connect() as conn:
            assert [s for (s,) in conn.execute(select(Effect.state).where(Effect.key.like("overdue:%")))] == ["done"]

    scenario(steps, tmp_path, _spec())


def test_validation_with_file_and_line(tmp_path: Path) -> None:
    from b24sync.spec.loader import SpecError, load_spec

    base = Path(__file__).resolve().parents[2] / "examples" / "demo.yaml"
    text = base.read_text(encoding="utf-8")
    assert "\n    overdue:" in text
    bad = text.replace("      ledger: payment                        # overdue", "      ledger: nosuch                         # overdue")
    assert bad != text
    p = tmp_path / "bad.yaml"
    p.write_text(bad, encoding="utf-8")
    with pytest.raises(SpecError) as e:
        load_spec(p)
    line = next(i for i, ln in enumerate(bad.splitlines(), 1) if "ledger: nosuch" in ln)
    assert f"bad.yaml:{line}" in str(e.value) and "nosuch" in str(e.value), str(e.value)
    bad2 = text.replace('      timezone: Europe/Moscow', '      timezone: Europe/Atlantis')
    assert bad2 != text
    p.write_text(bad2, encoding="utf-8")
    with pytest.raises(SpecError) as e:
        load_spec(p)
    line = next(i for i, ln in enumerate(bad2.splitlines(), 1) if "Europe/Atlantis" in ln)
    assert f"bad.yaml:{line}" in str(e.value), str(e.value)


def test_two_workers_sweep_the_same_day(tmp_path: Path, clock) -> None:  # type: ignore[no-untyped-def]
    """Two processes on one store run the day's sweep at the same moment: their jobs share the record's lane and
    the day's effect, so the manager gets one notice."""
    import asyncio

    from b24sync.compose import build

    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        await _issued(rt, b24, onec, client)
        rt2 = build(rt.spec, database_url=str(rt.db.url))
        try:
            clock("2026-03-13T07:00:00+00:00")
            await asyncio.gather(cycle(rt), cycle(rt2))
            await asyncio.gather(cycle(rt), cycle(rt2))
        finally:
            await rt2.aclose()
        assert len(sent(b24)) == 1 and "просрочен на 3 дн." in sent(b24)[0]["MESSAGE"]

    scenario(steps, tmp_path, _spec())

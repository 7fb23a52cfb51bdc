"""Credit limits (issue 16, docs/flow-credit.md) end to end over the Bitrix24 and 1C (УТ) sandboxes: a client's
debt in 1C over its limit (from the УТ contract, or a field of the company) moves its open deals to the waiting
stage with one notice to each deal's manager, a new deal of that client goes there at once, a manual move out is
put back with one timeline note, and when the debt falls to the limit every deal returns to the stage it came from.
Debt and overdue debt reach the company card as money."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from b24sync.server.intake import accept_event
from tests.orders.harness import cycle, scenario
from tests.orders.test_orders import seed
from tests.payments.harness import comments, deal_row, parked

RECEIPTS = "Document_ПоступлениеБезналичныхДенежныхСредств"
SHIPMENTS = "Document_РеализацияТоваровУслуг"
CONTRACTS = "Catalog_ДоговорыКонтрагентов"
HOLD = "UC_CREDIT_HOLD"


def credit_entities(limit: dict[str, Any]) -> dict[str, Any]:
    return {
        "company": {"master": "onec", "direction": "erp_to_crm", "crm": {"object": "crm.company"},
                    "erp": {"object": "Catalog_Контрагенты"}, "match": [{"crm": "UF_CRM_INN", "erp": "ИНН"}],
                    "link": {"crm": "UF_CRM_ERP_ID"}, "fields": [{"crm": "TITLE", "erp": "Description"}]},
        "receivables": {"master": "onec", "direction": "erp_to_crm", "create": False,
                        "crm": {"object": "crm.company"}, "erp": {"object": "counterparty_credit"},
                        "match": [{"crm": "UF_CRM_ERP_ID", "erp": "Ref_Key"}], "link": {"crm": "UF_CRM_ERP_ID"},
                        "fields": [{"crm": "UF_CRM_DEBT", "erp": "Долг", "crm_type": "money"},
                                   {"crm": "UF_CRM_OVERDUE_DEBT", "erp": "ПросроченныйДолг", "crm_type": "money"}],
                        "triggers": [{"poll": "1m"}]},
        "credit": {"master": "onec", "direction": "erp_to_crm", "crm": {"object": "crm.deal"},
                   "erp": {"object": "counterparty_credit"}, "match": [],
                   "credit_control": {"company": "company", "debt": "Долг", "overdue": "ПросроченныйДолг",
                                      "limit": limit, "stage": HOLD},
                   "triggers": [{"poll": "1m"}, {"poll": "1m", "side": "crm"}, {"webhook": "ONCRMDEALADD"},
                                {"webhook": "ONCRMDEALUPDATE"}]},
    }


async def _client(rt, onec, client) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    s = await seed(rt, onec, client)
    await client.call("crm.company.update", {"id": int(s["company"]),
                                             "fields": {"UF_CRM_ERP_ID": s["cp"]["Ref_Key"]}})
    return s


def _ship(onec, s: dict[str, Any], amount: float, *, date: str = "2026-03-01T10:00:00",  # type: ignore[no-untyped-def]
          contract: str | None = None) -> dict:
    extra = {"Договор_Key": contract} if contract else {}
    doc = onec.create(SHIPMENTS, Контрагент_Key=s["cp"]["Ref_Key"], Партнер_Key=s["partner"]["Ref_Key"],
                      СуммаДокумента=amount, Date=date, **extra,
                      Товары=[{"LineNumber": 1, "Номенклатура_Key": s["goods"][0]["Ref_Key"], "Количество": 1,
                               "Цена": amount, "Сумма": amount, "СуммаСНДС": amount}])
    return onec.post(SHIPMENTS, doc["Ref_Key"])


def _pay(onec, s: dict[str, Any], amount: float, number: str) -> dict:  # type: ignore[no-untyped-def]
    doc = onec.create(RECEIPTS, Контрагент_Key=s["cp"]["Ref_Key"], СуммаДокумента=amount,
                      НомерВходящегоДокумента=number, ДатаВходящегоДокумента="2026-03-20T00:00:00",
                      РасшифровкаПлатежа=[{"LineNumber": 1, "Сумма": amount}])
    return onec.post(RECEIPTS, doc["Ref_Key"])


async def _deal(rt, client, s: dict[str, Any], stage: str, title: str) -> str:  # type: ignore[no-untyped-def]
    d = str(await client.call("crm.deal.add", {"fields": {"TITLE": title, "STAGE_ID": stage,
                                                          "COMPANY_ID": s["company"], "ASSIGNED_BY_ID": 1}}))
    accept_event(rt, side="crm", event="ONCRMDEALADD", record_id=d, source="b24", delivery_id=f"add:{d}")
    return d


def _waiting(rt) -> int:  # type: ignore[no-untyped-def]
    """Jobs not done yet (a retry waiting its backoff)."""
    from sqlalchemy import func, select

    from b24sync.store.models import Job

    with rt.db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Job).where(Job.state.in_(("pending", "running")))).scalar() or 0)


def notices(b24) -> list[str]:  # type: ignore[no-untyped-def]
    """Every notice sent (one replaced by a newer one with its TAG included: a duplicate would show here)."""
    return [n["MESSAGE"] for n in b24.portal.notifications]


def test_debt_over_the_contract_limit_suspends_deals_then_releases_them(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s = await _client(rt, onec, client)
        contract = onec.create(CONTRACTS, Description="Основной", Контрагент_Key=s["cp"]["Ref_Key"],
                               Партнер_Key=s["partner"]["Ref_Key"], Статус="Действует",
                               ОграничиватьСуммуЗадолженности=True, ДопустимаяСуммаЗадолженности=100000,
                               УстановленСрокОплаты=True, СрокОплаты=10)
        d1 = await _deal(rt, client, s, "PREPARATION", "Кабель")
        d2 = await _deal(rt, client, s, "EXECUTING", "Автоматы")
        won = await _deal(rt, client, s, "WON", "Старая поставка")
        await cycle(rt)
        assert deal_row(b24, d1)["STAGE_ID"] == "PREPARATION" and notices(b24) == []  # no debt yet

        _ship(onec, s, 150000, contract=contract["Ref_Key"])  # due 11.03.2026: overdue by now
        await cycle(rt)
        assert deal_row(b24, d1)["STAGE_ID"] == HOLD, parked(rt)
        assert deal_row(b24, d2)["STAGE_ID"] == HOLD
        assert deal_row(b24, won)["STAGE_ID"] == "WON"  # a closed deal is left alone
        sent = notices(b24)
        assert len(sent) == 2, sent
        assert sorted(sent)[1] == ("Сделка «Кабель» (№ " + d1 + ") приостановлена: долг клиента ООО Покупатель — 150 000 ₽ "
                           "при кредитном лимите 100 000 ₽, из них просрочено 150 000 ₽. Она вернётся на прежнюю "
                           "стадию сама, когда долг снизится до лимита.")
        card = b24.portal.t("company").get(int(s["company"]))
        assert card["UF_CRM_DEBT"] == "150000.00|RUB" and card["UF_CRM_OVERDUE_DEBT"] == "150000.00|RUB", card

        for _ in range(2):  # polls again and a forced re-run of the client's job: no second notice, no move
            await cycle(rt)
        from b24sync.engine.enqueue import enqueue_sync

        with rt.db.begin() as conn:
            enqueue_sync(conn, "credit", "erp", s["cp"]["Ref_Key"], force=True, scope="credit", reason="replay")
        await cycle(rt)
        assert len(notices(b24)) == 2, notices(b24)

        d3 = await _deal(rt, client, s, "NEW", "Новая заявка")  # Bitrix24 cannot refuse it: moved at once
        await cycle(rt)
        assert deal_row(b24, d3)["STAGE_ID"] == HOLD
        assert len(notices(b24)) == 3

        await client.call("crm.deal.update", {"id": int(d1), "fields": {"STAGE_ID": "FINAL_INVOICE"}})
        accept_event(rt, side="crm", event="ONCRMDEALUPDATE", record_id=d1, source="b24", delivery_id="m1")
        await cycle(rt)
        assert deal_row(b24, d1)["STAGE_ID"] == HOLD  # still over the limit: put back
        notes = comments(b24, d1)
        assert len(notes) == 1 and notes[0].startswith("b24sync: сделка остаётся приостановленной"), notes
        await cycle(rt)
        assert len(comments(b24, d1)) == 1 and len(notices(b24)) == 3

        _pay(onec, s, 50000, "7")  # debt 100 000 = the limit: allowed, so released
        await cycle(rt)
        assert deal_row(b24, d1)["STAGE_ID"] == "FINAL_INVOICE", parked(rt)  # where the manager last put it
        assert deal_row(b24, d2)["STAGE_ID"] == "EXECUTING"
        assert deal_row(b24, d3)["STAGE_ID"] == "NEW"
        assert deal_row(b24, won)["STAGE_ID"] == "WON"
        released = notices(b24)[3:]
        assert len(released) == 3, released
        assert (f"Сделка «Кабель» (№ {d1}) возвращена на стадию «Финальный счёт»: долг клиента ООО Покупатель "
                "— 100 000 ₽, кредитный лимит 100 000 ₽.") in released, released
        assert any(m.startswith(f"Сделка «Автоматы» (№ {d2}) возвращена на стадию «В работе»") for m in released)
        card = b24.portal.t("company").get(int(s["company"]))
        assert card["UF_CRM_DEBT"] == "100000.00|RUB"
        for _ in range(2):
            await cycle(rt)
        assert len(notices(b24)) == 6 and deal_row(b24, d1)["STAGE_ID"] == "FINAL_INVOICE"

        d4 = await _deal(rt, client, s, "NEW", "После оплаты")  # under the limit: stays where it was made
        await cycle(rt)
        assert deal_row(b24, d4)["STAGE_ID"] == "NEW" and parked(rt) == []

        _ship(onec, s, 20000)  # over again: a new suspension, a new notice for each open deal
        await cycle(rt)
        assert {deal_row(b24, d)["STAGE_ID"] for d in (d1, d2, d3, d4)} == {HOLD}
        assert len(notices(b24)) == 10

    scenario(steps, tmp_path, credit_entities({"erp": "Лимит", "crm": "UF_CRM_CREDIT_LIMIT"}))


def test_limit_from_a_company_field_where_1c_has_none(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s = await _client(rt, onec, client)
        await client.call("crm.company.update", {"id": int(s["company"]),
                                                 "fields": {"UF_CRM_CREDIT_LIMIT": "50000|RUB"}})
        d = await _deal(rt, client, s, "PREPARATION", "Кабель")
        _ship(onec, s, 60000, date="2099-01-01T00:00:00")  # not due yet: nothing overdue
        await cycle(rt)
        assert deal_row(b24, d)["STAGE_ID"] == HOLD, parked(rt)
        (msg,) = notices(b24)
        assert "долг клиента ООО Покупатель — 60 000 ₽ при кредитном лимите 50 000 ₽. Она" in msg, msg
        assert b24.portal.t("company").get(int(s["company"]))["UF_CRM_OVERDUE_DEBT"] == "0.00|RUB"
        # the limit raised on the card: seen at the next poll of the debt
        await client.call("crm.company.update", {"id": int(s["company"]),
                                                 "fields": {"UF_CRM_CREDIT_LIMIT": "70000|RUB"}})
        await cycle(rt)
        assert deal_row(b24, d)["STAGE_ID"] == "PREPARATION", parked(rt)
        assert len(notices(b24)) == 2

    scenario(steps, tmp_path, credit_entities({"crm": "UF_CRM_CREDIT_LIMIT"}))


def test_portal_prepare_made_the_stage_and_the_limit_field(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        rows = await client.call("crm.status.list", {"filter": {"ENTITY_ID": "DEAL_STAGE"}})
        (hold,) = [r for r in rows if r["STATUS_ID"] == HOLD]
        assert hold["NAME"] == "Приостановлена: кредитный лимит" and hold["SEMANTICS"] in (None, "")
        won = next(r for r in rows if r["STATUS_ID"] == "WON")
        assert int(hold["SORT"]) < int(won["SORT"])  # a process stage, before the final ones
        ufs = await client.call("crm.company.userfield.list", {"filter": {"FIELD_NAME": "UF_CRM_CREDIT_LIMIT"}})
        assert [u["USER_TYPE_ID"] for u in ufs] == ["money"]
        from b24sync.engine.names import check_names

        rep = await check_names(rt, ["credit"])
        assert rep.problems["credit"] == []

    scenario(steps, tmp_path, credit_entities({"crm": "UF_CRM_CREDIT_LIMIT"}))


def test_lost_answers_of_the_move_and_the_notice_leave_one_notice_on_the_portal(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s = await _client(rt, onec, client)
        await client.call("crm.company.update", {"id": int(s["company"]),
                                                 "fields": {"UF_CRM_CREDIT_LIMIT": "1000|RUB"}})
        d = await _deal(rt, client, s, "PREPARATION", "Кабель")
        await cycle(rt)
        # the move is made and its answer lost, then the notice is made and its answer lost: both retried
        b24.force("crm.deal.update", "lost")
        b24.force("im.notify.system.add", "lost")
        _ship(onec, s, 5000)
        for _ in range(20):  # the retries wait their backoff; a loaded machine may need a few more cycles
            await cycle(rt)
            if len(b24.portal.notifications) >= 2 and not _waiting(rt):
                break
            await asyncio.sleep(0.3)
        assert deal_row(b24, d)["STAGE_ID"] == HOLD, parked(rt)
        shown = [n for n in b24.portal.notifications if not n.get("REPLACED")]
        assert len(shown) == 1 and shown[0]["TAG"] == f"b24sync:credit:{d}", b24.portal.notifications
        # the lost notice was sent again under the same TAG, which replaced the first on the portal (A.10)
        assert len(b24.portal.notifications) == 2
        _pay(onec, s, 4500, "1")
        await cycle(rt)
        assert deal_row(b24, d)["STAGE_ID"] == "PREPARATION" and parked(rt) == []

    scenario(steps, tmp_path, credit_entities({"crm": "UF_CRM_CREDIT_LIMIT"}))


def test_an_unknown_debt_field_and_a_missing_stage_are_named_at_their_spec_paths(tmp_path: Path) -> None:
    ents = credit_entities({"erp": "Лимитт"})
    ents["credit"]["credit_control"]["debt"] = "Долгг"

    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        from b24sync.engine.names import check_names

        statuses = b24.portal.t("status")
        (rid,) = [i for i, r in statuses.rows.items() if r["STATUS_ID"] == HOLD]
        del statuses.rows[rid]  # the stage prepare made is gone again (deleted on the portal)
        statuses.ids.remove(rid)
        rep = await check_names(rt, ["credit"])
        got = {(p.path, p.what) for p in rep.problems["credit"]}
        base = ("entities", "credit", "credit_control")
        assert (base + ("debt",), "onec counterparty_credit has no field `Долгг` (entity credit, debt)") in got, got
        assert (base + ("limit", "erp"),
                "onec counterparty_credit has no field `Лимитт` (entity credit, credit limit)") in got, got
        assert (base + ("stage",), f"the portal has no stage `{HOLD}` for crm.deal (entity credit, credit_control, "
                "pipeline 0)") in got, got
        assert all(p.fatal for p in rep.problems["credit"])

    scenario(steps, tmp_path, ents)


def test_overdue_debt_under_a_contract_that_allows_none_suspends_until_it_is_paid(tmp_path: Path) -> None:
    ents = credit_entities({})
    ents["credit"]["credit_control"]["overdue_forbidden"] = "ПросрочкаЗапрещена"

    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s = await _client(rt, onec, client)
        contract = onec.create(CONTRACTS, Description="Без просрочки", Контрагент_Key=s["cp"]["Ref_Key"],
                               Партнер_Key=s["partner"]["Ref_Key"], Статус="Действует",
                               ЗапрещаетсяПросроченнаяЗадолженность=True, УстановленСрокОплаты=True, СрокОплаты=5)
        d = await _deal(rt, client, s, "EXECUTING", "Кабель")
        _ship(onec, s, 7000, date="2099-01-01T00:00:00", contract=contract["Ref_Key"])  # a debt, not due yet
        await cycle(rt)
        assert deal_row(b24, d)["STAGE_ID"] == "EXECUTING" and notices(b24) == [], parked(rt)
        _ship(onec, s, 3000, date="2026-01-10T00:00:00", contract=contract["Ref_Key"])  # due 15.01.2026: overdue
        await cycle(rt)
        assert deal_row(b24, d)["STAGE_ID"] == HOLD, parked(rt)
        assert notices(b24) == [f"Сделка «Кабель» (№ {d}) приостановлена: у клиента ООО Покупатель просрочен долг "
                                "3 000 ₽ (всего долг 10 000 ₽), а договор просрочку не допускает. Она вернётся на "
                                "прежнюю стадию сама, когда просрочка будет погашена."]
        _pay(onec, s, 3000, "9")  # the oldest planned debt is paid first: nothing overdue any more
        await cycle(rt)
        assert deal_row(b24, d)["STAGE_ID"] == "EXECUTING", parked(rt)
        card = b24.portal.t("company").get(int(s["company"]))
        assert card["UF_CRM_DEBT"] == "7000.00|RUB" and card["UF_CRM_OVERDUE_DEBT"] == "0.00|RUB"

    scenario(steps, tmp_path, ents)



def test_the_order_status_entity_does_not_fight_the_suspension(tmp_path: Path) -> None:
    """A deal with a 1C order whose status drives the stage (order_status, CRM-side edits put back): our move to the
    waiting stage is shared with it, so it is not reverted as a manual edit; a 1C status change while the client is
    over moves the deal, the rule puts it back, and the release returns it to the stage 1C last gave."""
    from tests.payments.harness import placed

    ents = credit_entities({"crm": "UF_CRM_CREDIT_LIMIT"})
    from tests.orders.test_orders import entities as order_entities

    ents.update({k: v for k, v in order_entities().items() if k != "company"})
    ents["order_status"] = {
        "master": "onec", "direction": "erp_to_crm", "create": False, "crm": {"object": "crm.deal"},
        "erp": {"object": "Document_ЗаказКлиента"}, "match": [{"crm": "ID", "erp": "НомерПоДаннымКлиента"}],
        "link": {"crm": "UF_CRM_ERP_ORDER_ID"}, "without_match_key": "skip",
        "fields": [{"crm": "STAGE_ID", "erp": "Статус", "transform": {"table": "order_stage"}}],
        "triggers": [{"poll": "1m"}, {"webhook": "ONCRMDEALUPDATE"}]}
    stages = {"НеСогласован": "PREPARATION", "КОбеспечению": "FINAL_INVOICE", "КОтгрузке": "EXECUTING",
              "Закрыт": "WON"}

    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        s, d, o = await placed(rt, b24, onec, client, price=5000)
        await client.call("crm.company.update", {"id": int(s["company"]),
                                                 "fields": {"UF_CRM_ERP_ID": s["cp"]["Ref_Key"],
                                                            "UF_CRM_CREDIT_LIMIT": "1000|RUB"}})
        await cycle(rt)
        assert deal_row(b24, d)["STAGE_ID"] == "FINAL_INVOICE", parked(rt)
        _ship(onec, s, 5000)
        await cycle(rt)
        assert deal_row(b24, d)["STAGE_ID"] == HOLD, parked(rt)
        for i in range(2):  # the echo events and polls: nothing reverts the suspension, nothing is put back
            accept_event(rt, side="crm", event="ONCRMDEALUPDATE", record_id=d, source="b24", delivery_id=f"e{i}")
            await cycle(rt)
        assert deal_row(b24, d)["STAGE_ID"] == HOLD and comments(b24, d) == [] and parked(rt) == []
        onec.set_order_status(o["Ref_Key"], "КОтгрузке")  # 1C moves the deal to EXECUTING while over
        for i in range(3):
            await cycle(rt)
            accept_event(rt, side="crm", event="ONCRMDEALUPDATE", record_id=d, source="b24", delivery_id=f"s{i}")
        await cycle(rt)
        assert deal_row(b24, d)["STAGE_ID"] == HOLD, parked(rt)
        assert len(comments(b24, d)) == 1, comments(b24, d)  # one put-back, no ping-pong
        _pay(onec, s, 4500, "1")
        await cycle(rt)
        await cycle(rt)
        assert deal_row(b24, d)["STAGE_ID"] == "EXECUTING", parked(rt)  # where 1C last put it
        assert parked(rt) == [] and len(comments(b24, d)) == 1

    scenario(steps, tmp_path, ents, value_maps={"order_stage": stages})

"""A create whose answer was lost is looked up before it is sent again, and a composite card cut mid-way is
completed — in both directions (issue 13 item 1). Every write answer of the first pass is lost by the fault proxy
after the sandbox applied it; the second pass must find what the first one created."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from sqlalchemy import func, select

from b24sync.compose import build
from b24sync.engine.service import RunOptions, run
from b24sync.spec.loader import load_spec
from b24sync.store.models import Job, WriteIntent
from tests.crash.harness import ACCOUNTS, BANKS, CATALOG, Report, World, _inn

TO_ONEC = """
  company_to_erp:
    master: bitrix24
    direction: crm_to_erp
    crm: {{object: crm.company+requisite, options: {{where: {{UF_CRM_ERP_ID: ""}}}}}}
    erp: {{object: counterparty}}
    match:
      - {{crm: RQ_INN, erp: ИНН, normalize: digits}}
    link: {{erp: ИдентификаторCRM}}
    fields:
      - {{crm: TITLE, erp: Description, on: create}}
      - {{crm: RQ_INN, erp: ИНН, on: create}}
      - {{crm: BANK_RQ_BANK_NAME, erp: Банк, on: create}}
      - {{crm: BANK_RQ_BIK, erp: БИК, on: create}}
      - {{crm: BANK_RQ_COR_ACC_NUM, erp: КоррСчет, on: create}}
      - {{crm: BANK_RQ_ACC_NUM, erp: НомерСчета, on: create}}
    triggers:
      - poll: 1s
"""


def _crm_companies(hook: str, n: int) -> None:
    with httpx.Client(timeout=30) as http:
        for i in range(n):
            cmd = {"co": f"crm.company.add?fields[TITLE]=CRM%20{i}",
                   "rq": f"crm.requisite.add?fields[ENTITY_TYPE_ID]=4&fields[ENTITY_ID]=$result[co]&fields[PRESET_ID]=1"
                         f"&fields[NAME]=R&fields[RQ_INN]={_inn(50_000 + i)}",
                   "bd": f"crm.requisite.bankdetail.add?fields[ENTITY_ID]=$result[rq]&fields[NAME]=B"
                         f"&fields[RQ_BIK]=044525225&fields[RQ_BANK_NAME]=Сбербанк"
                         f"&fields[RQ_COR_ACC_NUM]=30101810400000000225&fields[RQ_ACC_NUM]=40702810{i:012d}"}
            http.post(hook + "batch", json={"halt": 1, "cmd": cmd}).raise_for_status()


def test_a_create_whose_answer_was_lost_is_looked_up_before_it_is_sent_again(tmp_path: Path) -> None:
    world = World(tmp_path, counterparties=12, products=8, lose_rate=1.0, seed=3, workers=8)
    with world as w:
        _crm_companies(w.b24.webhook_url, 6)
        w.spec.write_text(w.spec.read_text(encoding="utf-8") + TO_ONEC.format(), encoding="utf-8")
        rt = build(load_spec(w.spec), database_url=f"sqlite:///{tmp_path / 'state.db'}")

        async def main() -> None:
            try:
                await run(rt, RunOptions(once=True))  # every write applied, every answer lost
                assert all(p.stats.lost_total == p.stats.writes > 0 for p in w.proxies)
                for p in w.proxies:
                    p.lose_rate = 0.0
                for _ in range(30):
                    await run(rt, RunOptions(once=True))
                    with rt.db.connect() as c:
                        if c.execute(select(func.count()).select_from(Job)).scalar_one() == 0:
                            break
                    await asyncio.sleep(0.5)
                with rt.db.connect() as c:  # say so when the rounds ran out, before the data check below
                    left = c.execute(select(Job.entity, Job.state, Job.attempts, Job.last_error)).all()
                assert not left, f"jobs left after the rounds: {left[:5]}"
            finally:
                await rt.aclose()

        asyncio.run(main())
        rep = Report()
        w._check_data(rep)
        assert (rep.duplicates, rep.missing, rep.unequal) == (0, 0, 0), rep.problems
        crm_made = [c for c in w.b24.portal.t("company").rows.values() if str(c["TITLE"]).startswith("CRM ")]
        assert len(crm_made) == 6
        for co in crm_made:  # each CRM company once in 1C, with its bank account (create-only fields)
            cps = w.onec.find(CATALOG, ИдентификаторCRM=str(co["ID"]))
            assert len(cps) == 1, cps
            accs = w.onec.find(ACCOUNTS, Owner_Key=cps[0]["Ref_Key"])
            assert len(accs) == 1 and accs[0]["НомерСчета"].startswith("40702810"), accs
        assert len(w.onec.find(BANKS, Code="044525225")) == 1  # the bank added once to the classifier
        with rt.db.connect() as c:
            assert c.execute(select(func.count()).select_from(WriteIntent)
                             .where(WriteIntent.resolved_at.is_(None))).scalar_one() == 0

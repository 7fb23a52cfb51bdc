"""Orders entered in 1C → deals under SIGKILL and lost answers (issue 10): ``b24sync run --once`` runs as a subprocess
behind a fault proxy that lets a share of Bitrix24 writes apply and then loses their answers (``crm.deal.add``,
``crm.deal.productrows.set``), and is SIGKILLed at random moments while 1C orders keep arriving, then restarted
until the queue is empty. From the sandboxes' own data: one deal per order, its rows those of the order (item,
quantity, price, VAT) adding up to 1C's total to the kopeck, nothing parked."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox
from b24sync.sandbox.faultproxy import FaultProxy
from b24sync.sandbox.onec import OneCSandbox
from b24sync.store.db import make_engine
from b24sync.store.models import DeadLetter, Job

ORDERS = "Document_ЗаказКлиента"
SPEC = """
version: 1
name: orders from 1C crash test
systems:
  bitrix24: {{type: bitrix24, role: crm, webhook_url: "{b24}", rate: 1000, burst: 1000}}
  onec: {{type: 1c-odata, role: erp, url: "{onec}", username: odata, password: secret, preset: ut11, timeout: 20}}
defaults:
  workers: 2
  poll_overlap: 2s
  lease: 2s
  retry: {{max_attempts: 40, base_seconds: 0.1, max_seconds: 1}}
entities:
  company:
    master: onec
    direction: erp_to_crm
    create: false
    crm: {{object: crm.company}}
    erp: {{object: Catalog_Контрагенты}}
    match: [{{crm: UF_CRM_ERP_ID, erp: Ref_Key}}]
    link: {{crm: UF_CRM_ERP_ID}}
    fields: [{{crm: TITLE, erp: Description}}]
  product:
    master: onec
    direction: erp_to_crm
    create: false
    crm: {{object: crm.product}}
    erp: {{object: Catalog_Номенклатура}}
    match: [{{crm: XML_ID, erp: Ref_Key}}]
    link: {{crm: XML_ID}}
    fields: [{{crm: NAME, erp: Description}}]
  order_from_erp:
    master: onec
    direction: erp_to_crm
    crm: {{object: crm.deal}}
    erp: {{object: {orders}}}
    match: [{{crm: ID, erp: НомерПоДаннымКлиента}}]
    link: {{crm: UF_CRM_ERP_ORDER_ID}}
    without_match_key: create
    fields:
      - {{crm: COMPANY_ID, erp: Контрагент_Key, transform: {{ref: company}}, on: create}}
    header:
      - {{crm: TITLE, value: "Заказ 1С {{field:Number}}"}}
      - {{crm: STAGE_ID, value: FINAL_INVOICE}}
    rows: {{on: create}}
    triggers:
      - poll: 1s
"""

BATCHES, PER_BATCH = 4, 5  # 20 orders arriving in four batches, one before each run


@pytest.mark.slow(30)
def test_orders_from_1c_survive_kills_and_lost_answers_one_deal_each_with_its_rows(tmp_path: Path) -> None:
    rng = random.Random(10)
    b24, onec = Bitrix24Sandbox(rate=None, operating_limit=None), OneCSandbox(seed=None, random_seed=10)
    hook, onec_url = b24.start(), onec.start()
    proxy = FaultProxy(hook.split("/rest/")[0], lose_rate=0.34, seed=10, even=True)  # a third of the writes
    proxy.start()
    store_url = f"sqlite:///{tmp_path / 'state.db'}"
    try:
        spec = tmp_path / "spec.yaml"
        spec.write_text(SPEC.format(b24=proxy.url_for(hook), onec=onec_url, orders=ORDERS), encoding="utf-8")
        cp, goods = _seed(hook, b24, onec, spec, store_url)
        made: list[dict] = []
        env = {**os.environ, "B24SYNC_DATABASE_URL": store_url}
        cmd = [sys.executable, "-m", "b24sync.cli.main", "run", "--spec", str(spec), "--once", "--no-serve"]
        kills = 0
        for batch in range(BATCHES):
            made += [_order(onec, cp, goods, rng, batch * PER_BATCH + i) for i in range(PER_BATCH)]  # 1C users
            p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            seen, until = proxy.stats.requests, time.monotonic() + 15
            while proxy.stats.requests == seen and p.poll() is None and time.monotonic() < until:
                time.sleep(0.05)  # the process is up and talking to Bitrix24: kill it at a random moment of its work
            time.sleep(rng.uniform(0.0, 1.0))
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                kills += 1
            p.wait()
        for _ in range(15):  # drain
            p = subprocess.run(cmd, env=env, capture_output=True, timeout=120)
            assert p.returncode == 0, p.stderr.decode(errors="replace")[-2000:]
            if _pending(store_url) == 0 and len(_deals(b24)) >= len(made):
                break
        assert _pending(store_url) == 0
        eng = make_engine(store_url)
        with eng.connect() as c:
            open_ = c.execute(select(DeadLetter.reason).where(DeadLetter.resolved_at.is_(None))).scalars().all()
        eng.dispose()
        assert open_ == []
        by_order: dict[str, list[dict]] = {}
        for d in _deals(b24):
            by_order.setdefault(str(d.get("UF_CRM_ERP_ORDER_ID") or ""), []).append(d)
        problems = [f"deals without an order: {[d['ID'] for d in by_order.pop('', [])]}"] if "" in by_order else []
        product_of = {g: p for p, g in goods.items()}
        for o in made:
            ds = by_order.pop(o["Ref_Key"], [])
            if len(ds) != 1:
                problems.append(f"order {o['Number']}: {len(ds)} deals")
                continue
            rows = sorted((r for r in b24.portal.t("productrow").rows.values()
                           if r["OWNER_TYPE"] == "D" and r["OWNER_ID"] == ds[0]["ID"]), key=lambda r: r["SORT"])
            want = [(product_of[r["Номенклатура_Key"]], r["Количество"], r["Цена"], 22) for r in o["Товары"]]
            got = [(r["PRODUCT_ID"], r["QUANTITY"], r["PRICE"], r["TAX_RATE"]) for r in rows]
            if got != want:
                problems.append(f"order {o['Number']}: rows {got}, want {want}")
            total = round(sum(round(r["PRICE"] * r["QUANTITY"], 2) for r in rows), 2)
            if total != o["СуммаДокумента"] or ds[0]["COMPANY_ID"] != int(cp[1]):
                problems.append(f"order {o['Number']}: total {total}, company {ds[0]['COMPANY_ID']}")
        if by_order:
            problems.append(f"deals of unknown orders: {sorted(by_order)}")
        assert kills >= 3 and proxy.stats.lost_total >= 3, (kills, proxy.stats.lost_total)
        assert not problems, problems[:8]
    finally:
        proxy.stop()
        b24.stop()
        onec.stop()


def _seed(hook: str, b24: Bitrix24Sandbox, onec: OneCSandbox, spec: Path, store_url: str
          ) -> tuple[tuple[str, str], dict[int, str]]:
    """1C's counterparty and items linked to a Bitrix24 company and products (as the catalogue flows leave them)."""
    from b24sync.connectors.bitrix24.auth import WebhookAuth
    from b24sync.connectors.bitrix24.client import Bitrix24Client
    from b24sync.connectors.bitrix24.portal import prepare_portal
    from b24sync.connectors.bitrix24.requirements import requirements_from_spec
    from b24sync.engine.service import open_store
    from b24sync.spec.loader import load_spec
    from b24sync.store import identity

    sp = load_spec(spec)

    async def prepare() -> None:
        async with Bitrix24Client(WebhookAuth(hook), rate=1000, burst=1000) as client:
            await prepare_portal(client, requirements_from_spec(sp))

    asyncio.run(prepare())
    cp = onec.create("Catalog_Контрагенты", Description="ООО Покупатель", ИНН="7707083893")
    items = [onec.create("Catalog_Номенклатура", Description=n)["Ref_Key"] for n in ("Кабель", "Автомат", "Щит")]
    with httpx.Client(timeout=60) as http:
        co = http.post(hook + "crm.company.add", json={"fields": {"TITLE": "ООО Покупатель",
                                                                  "UF_CRM_ERP_ID": cp["Ref_Key"]}}).json()["result"]
        prods = [http.post(hook + "crm.product.add", json={"fields": {"NAME": f"Товар {i}", "XML_ID": g}}).json()[
            "result"] for i, g in enumerate(items)]
    db = open_store(store_url)
    with db.begin() as conn:
        identity.bind(conn, "company", crm_id=str(co), erp_id=cp["Ref_Key"], match_key=None)
        for p, g in zip(prods, items):
            identity.bind(conn, "product", crm_id=str(p), erp_id=g, match_key=None)
    db.dispose()
    return (cp["Ref_Key"], str(co)), {int(p): g for p, g in zip(prods, items)}


def _order(onec: OneCSandbox, cp: tuple[str, str], goods: dict[int, str], rng: random.Random, n: int) -> dict:
    lines, total = [], 0.0
    for i, g in enumerate(rng.sample(sorted(goods.values()), rng.randint(1, 3)), 1):
        qty, price = rng.randint(1, 9), rng.randint(100, 99_999) / 100
        amount = round(qty * price, 2)
        lines.append({"LineNumber": i, "Номенклатура_Key": g, "Количество": qty, "КоличествоУпаковок": qty,
                      "Цена": price, "Сумма": amount, "СтавкаНДС": "НДС22",
                      "СуммаНДС": round(amount * 22 / 122, 2), "СуммаСНДС": amount})
        total += amount
    return onec.create(ORDERS, Контрагент_Key=cp[0], Статус="КОбеспечению", ЦенаВключаетНДС=True,
                       Комментарий=f"Заказ по телефону {n}", Товары=lines, СуммаДокумента=round(total, 2))


def _deals(b24: Bitrix24Sandbox) -> list[dict]:
    return list(b24.portal.t("deal").rows.values())


def _pending(store_url: str) -> int:
    eng = make_engine(store_url)
    try:
        with eng.connect() as c:
            return int(c.execute(select(func.count()).select_from(Job)).scalar_one())
    finally:
        eng.dispose()

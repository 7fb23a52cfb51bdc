"""The crash-and-fault harness (issue 13), shared by tests/crash and bench/crash_soak.py.

Both sandboxes run in this process; a fault proxy in front of each loses the answer of a share of writes after
the sandbox applied them (closed, reset, half an answer, HTML 504). ``b24sync run --once`` runs as a subprocess
and is SIGKILLed at random points, then restarted until everything is synced. Two directions at once:

* 1C → Bitrix24: counterparties with bank account and legal address → company + requisite + bank detail +
  address (the ``crm.company+requisite`` card; the demo's counterparty entity);
* Bitrix24 → 1C: products → ``Catalog_Номенклатура`` (link field ``Описание``).

``check()`` counts, from the sandboxes' own data, every duplicate and every missing or unequal record.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox
from b24sync.sandbox.faultproxy import FaultProxy
from b24sync.sandbox.onec import OneCSandbox
from b24sync.store.db import make_engine
from b24sync.store.models import DeadLetter, Job

CATALOG, ACCOUNTS, BANKS, ITEMS = ("Catalog_Контрагенты", "Catalog_БанковскиеСчетаКонтрагентов",
                                   "Catalog_КлассификаторБанков", "Catalog_Номенклатура")

SPEC = """
version: 1
name: crash and fault test
systems:
  bitrix24: {{type: bitrix24, role: crm, webhook_url: "{b24}", rate: 1000, burst: 1000}}
  onec: {{type: 1c-odata, role: erp, url: "{onec}", username: odata, password: secret, preset: ut11, timeout: 20}}
defaults:
  workers: {workers}
  poll_page: 250
  poll_overlap: 2s
  lease: 2s
  retry: {{max_attempts: 40, base_seconds: 0.1, max_seconds: 1}}
entities:
  counterparty:
    master: onec
    direction: erp_to_crm
    crm: {{object: crm.company+requisite}}
    erp: {{object: counterparty}}
    match:
      - keys: [{{crm: RQ_INN, erp: ИНН, normalize: digits}}, {{crm: RQ_KPP, erp: КПП}}]
      - {{crm: RQ_INN, erp: ИНН, normalize: digits}}
    link: {{crm: UF_CRM_ERP_ID}}
    fields:
      - {{crm: TITLE, erp: Description}}
      - {{crm: RQ_COMPANY_NAME, erp: Description}}
      - {{crm: RQ_INN, erp: ИНН}}
      - {{crm: RQ_KPP, erp: КПП}}
      - {{crm: ADDR_ADDRESS_1, erp: ЮрАдрес}}
      - {{crm: ADDR_CITY, erp: ЮрАдресГород}}
      - {{crm: BANK_RQ_BANK_NAME, erp: Банк}}
      - {{crm: BANK_RQ_BIK, erp: БИК}}
      - {{crm: BANK_RQ_ACC_NUM, erp: НомерСчета}}
    triggers:
      - poll: 1s
  product_to_erp:
    master: bitrix24
    direction: crm_to_erp
    crm: {{object: crm.product}}
    erp: {{object: {items}}}
    match:
      - {{crm: ID, erp: Описание}}
    link: {{erp: Описание}}
    fields:
      - {{crm: NAME, erp: Description}}
    triggers:
      - poll: 1s
"""


@dataclass
class Report:
    records: int = 0
    kills: int = 0
    lost_answers: int = 0
    writes: int = 0
    duplicates: int = 0
    missing: int = 0
    unequal: int = 0
    pending: int = 0
    dead: int = 0
    runs: int = 0
    seconds: float = 0.0
    kill_phase_seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    lost_by_kind: dict[str, int] = field(default_factory=dict)
    by_direction: dict[str, tuple[int, int]] = field(default_factory=dict)  # "to_b24"/"to_1c": (lost, writes)


def _inn(i: int) -> str:
    """A valid 10-digit INN (check digit per erp-side.md §9.1), distinct per i."""
    body = f"77{i:07d}"
    w = [2, 4, 10, 3, 5, 9, 4, 6, 8]
    return body + str(sum(int(c) * k for c, k in zip(body, w)) % 11 % 10)


class World:
    def __init__(self, tmp: Path, *, counterparties: int, products: int, lose_rate: float, seed: int,
                 workers: int = 32, even: bool = True) -> None:
        self.tmp = tmp
        self.rng = random.Random(seed)
        self.b24 = Bitrix24Sandbox(rate=None, operating_limit=None)
        self.onec = OneCSandbox(seed=None, random_seed=seed)
        self.n_cp, self.n_products = counterparties, products
        self.lose_rate, self.seed, self.workers = lose_rate, seed, workers
        self.proxies: list[FaultProxy] = []
        self.even = even

    def __enter__(self) -> World:
        hook = self.b24.start()
        onec_url = self.onec.start()
        self._seed_onec()
        self._seed_b24(hook)
        self._prepare_portal(hook)
        b24_origin = hook.split("/rest/")[0]
        onec_origin = onec_url.split("/" + self.onec.base + "/")[0]
        px_b24 = FaultProxy(b24_origin, lose_rate=self.lose_rate, seed=self.seed, even=self.even)
        px_1c = FaultProxy(onec_origin, lose_rate=self.lose_rate, seed=self.seed + 1, even=self.even)
        for p in (px_b24, px_1c):
            p.start()
            self.proxies.append(p)
        self.spec = self.tmp / "spec.yaml"
        self.spec.write_text(SPEC.format(b24=px_b24.url_for(hook), onec=px_1c.url_for(onec_url), items=ITEMS,
                                         workers=self.workers), encoding="utf-8")
        return self

    def __exit__(self, *exc: object) -> None:
        for p in self.proxies:
            p.stop()
        self.b24.stop()
        self.onec.stop()

    # ---- data, as users of both systems would enter it
    def _seed_onec(self) -> None:
        banks = [self.onec.create(BANKS, Code=f"0445252{i:02d}", Description=f"Банк {i}",
                                  КоррСчет=f"301018104000000002{i:02d}") for i in range(6)]
        for i in range(self.n_cp):
            info = []
            if i % 2 == 0:
                info = [{"LineNumber": 1, "Тип": "Адрес", "Вид": "ЮрАдресКонтрагента",
                         "Представление": f"г. Москва, ул. Ленина, д. {i}", "Город": "Москва"}]
            cp = self.onec.create(CATALOG, Description=f"ООО Клиент {i:05d}", ИНН=_inn(i), КПП="770101001",
                                  ЮрФизЛицо="ЮрЛицо", КонтактнаяИнформация=info)
            if i % 3:
                self.onec.create(ACCOUNTS, Owner_Key=cp["Ref_Key"], НомерСчета=f"40702810{i:012d}",
                                 Банк_Key=self.rng.choice(banks)["Ref_Key"], Description="счёт")

    def _seed_b24(self, hook: str) -> None:
        with httpx.Client(timeout=60) as http:
            for start in range(0, self.n_products, 50):
                cmd = {f"p{i}": f"crm.product.add?fields[NAME]=Товар%20{i:05d}&fields[PRICE]={i}"
                       for i in range(start, min(start + 50, self.n_products))}
                r = http.post(hook + "batch", json={"halt": 1, "cmd": cmd})
                r.raise_for_status()

    def _prepare_portal(self, hook: str) -> None:
        import asyncio

        from b24sync.connectors.bitrix24.auth import WebhookAuth
        from b24sync.connectors.bitrix24.client import Bitrix24Client
        from b24sync.connectors.bitrix24.portal import prepare_portal
        from b24sync.connectors.bitrix24.requirements import requirements_from_spec
        from b24sync.spec.loader import load_spec

        p = self.tmp / "direct.yaml"
        p.write_text(SPEC.format(b24=hook, onec="http://unused/", items=ITEMS, workers=1), encoding="utf-8")
        spec = load_spec(p)

        async def go() -> None:
            async with Bitrix24Client(WebhookAuth(hook), rate=1000, burst=1000) as client:
                await prepare_portal(client, requirements_from_spec(spec))

        asyncio.run(go())

    @property
    def records(self) -> int:
        return self.n_cp + self.n_products

    # ---- the run
    def _start(self, store_url: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, "B24SYNC_DATABASE_URL": store_url}
        return subprocess.Popen([sys.executable, "-m", "b24sync.cli.main", "run", "--spec", str(self.spec),
                                 "--once", "--no-serve"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)

    def crash_and_recover(self, store_url: str, *, kills: int, window: tuple[float, float],
                          drain_timeout: float = 120.0) -> Report:
        rep = Report(records=self.records)
        t0 = time.monotonic()
        while rep.kills < kills:
            p = self._start(store_url)
            time.sleep(self.rng.uniform(*window))
            rep.runs += 1
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                rep.kills += 1
            p.wait()
            if p.poll() is not None and rep.kills < kills and self._synced(store_url):
                break  # everything is in before all kills were used: the data set is too small
        rep.kill_phase_seconds = time.monotonic() - t0
        deadline = time.monotonic() + drain_timeout
        while time.monotonic() < deadline:
            p = self._start(store_url)
            try:
                _, err = p.communicate(timeout=max(5.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                _, err = p.communicate()
                rep.problems.append("the last run did not finish in time: " + err.decode(errors="replace")[-800:])
                break
            rep.runs += 1
            if p.returncode != 0:
                rep.problems.append(err.decode(errors="replace")[-1500:])
                break
            if self._synced(store_url):
                break
            time.sleep(0.5)
        rep.seconds = time.monotonic() - t0
        self.check(store_url, rep)
        return rep

    def _synced(self, store_url: str) -> bool:
        eng = make_engine(store_url)
        try:
            with eng.connect() as c:
                pending = c.execute(select(func.count()).select_from(Job)).scalar_one()
        except DBAPIError:
            return False  # killed before the store was migrated
        finally:
            eng.dispose()
        if pending:
            return False
        r = Report()
        self._check_data(r)
        return r.missing == 0 and r.unequal == 0

    # ---- the verdict, from the sandboxes' own data
    def check(self, store_url: str, rep: Report) -> None:
        self._check_data(rep)
        eng = make_engine(store_url)
        try:
            with eng.connect() as c:
                rep.pending = c.execute(select(func.count()).select_from(Job)).scalar_one()
                rep.dead = c.execute(select(func.count()).select_from(DeadLetter)
                                     .where(DeadLetter.resolved_at.is_(None))).scalar_one()
        finally:
            eng.dispose()
        for name, p in zip(("to_b24", "to_1c"), self.proxies):
            rep.by_direction[name] = (p.stats.lost_total, p.stats.writes)
        rep.writes = sum(p.stats.writes for p in self.proxies)
        rep.lost_answers = sum(p.stats.lost_total for p in self.proxies)
        for p in self.proxies:
            for k, v in p.stats.lost.items():
                rep.lost_by_kind[k] = rep.lost_by_kind.get(k, 0) + v

    def _check_data(self, rep: Report) -> None:
        rep.duplicates = rep.missing = rep.unequal = 0
        portal = self.b24.portal
        companies = list(portal.t("company").rows.values())
        requisites = [r for r in portal.t("requisite").rows.values() if int(r["ENTITY_TYPE_ID"]) == 4]
        bankdetails = list(portal.t("bankdetail").rows.values())
        addresses = [a for a in portal.t("address").rows.values() if int(a["TYPE_ID"]) == 6]
        by_link: dict[str, list[dict[str, Any]]] = {}
        for co in companies:
            by_link.setdefault(str(co.get("UF_CRM_ERP_ID") or ""), []).append(co)
        rq_of: dict[str, list[dict[str, Any]]] = {}
        for rq in requisites:
            rq_of.setdefault(str(rq["ENTITY_ID"]), []).append(rq)
        bd_of: dict[str, list[dict[str, Any]]] = {}
        for bd in bankdetails:
            bd_of.setdefault(str(bd["ENTITY_ID"]), []).append(bd)
        ad_of: dict[str, list[dict[str, Any]]] = {}
        for ad in addresses:
            ad_of.setdefault(str(ad["ENTITY_ID"]), []).append(ad)
        with self.onec.store.lock:
            cps = [dict(r) for r in self.onec.store.objects[CATALOG].values()]
            accounts = [dict(r) for r in self.onec.store.objects[ACCOUNTS].values()]
            banks = {r["Ref_Key"]: dict(r) for r in self.onec.store.objects[BANKS].values()}
            items = [dict(r) for r in self.onec.store.objects[ITEMS].values()]
        acc_of = {a["Owner_Key"]: a for a in sorted(accounts, key=lambda a: a["Ref_Key"])[::-1]}
        for cp in cps:
            cos = by_link.get(cp["Ref_Key"], [])
            if not cos:
                rep.missing += 1
                continue
            rep.duplicates += len(cos) - 1
            co = cos[0]
            rqs = rq_of.get(str(co["ID"]), [])
            rep.duplicates += max(0, len(rqs) - 1)
            if not rqs:
                rep.unequal += 1
                continue
            rq = min(rqs, key=lambda r: int(r["ID"]))
            bds = bd_of.get(str(rq["ID"]), [])
            ads = ad_of.get(str(rq["ID"]), [])
            rep.duplicates += max(0, len(bds) - 1) + max(0, len(ads) - 1)
            acc = acc_of.get(cp["Ref_Key"])
            addr = next((r for r in cp.get("КонтактнаяИнформация") or [] if r.get("Вид") == "ЮрАдресКонтрагента"),
                        None)
            checks = {
                "TITLE": co.get("TITLE") == cp["Description"],
                "RQ_INN": rq.get("RQ_INN") == cp["ИНН"],
                "RQ_KPP": (rq.get("RQ_KPP") or "") == (cp.get("КПП") or ""),
                "bank detail": (len(bds) == 1) == (acc is not None) and (acc is None or (
                    bds[0].get("RQ_ACC_NUM") == acc["НомерСчета"]
                    and bds[0].get("RQ_BIK") == banks[acc["Банк_Key"]]["Code"])),
                "address": addr is None or (len(ads) == 1 and ads[0].get("ADDRESS_1") == addr["Представление"]),
            }
            bad = [k for k, good in checks.items() if not good]
            if bad:
                rep.unequal += 1
                if len(rep.problems) < 5:
                    rep.problems.append(f"company {co['ID']} differs from 1C {cp['Ref_Key']} in {', '.join(bad)}")
        linked = {r for r in by_link if r}
        rep.duplicates += sum(1 for co in companies if not str(co.get("UF_CRM_ERP_ID") or ""))  # unlinked extras
        rep.missing += 0 if linked >= {c["Ref_Key"] for c in cps} else 0
        products = {str(p["ID"]): p for p in portal.t("product").rows.values()}
        by_desc: dict[str, list[dict[str, Any]]] = {}
        for it in items:
            by_desc.setdefault(str(it.get("Описание") or ""), []).append(it)
        for pid, prod in products.items():
            got = by_desc.get(pid, [])
            if not got:
                rep.missing += 1
                continue
            rep.duplicates += len(got) - 1
            if got[0].get("Description") != prod.get("NAME"):
                rep.unequal += 1
        rep.duplicates += sum(len(v) for k, v in by_desc.items() if k not in products)  # created without a link


def run_world(tmp: Path, store_url: str, *, counterparties: int, products: int, kills: int, lose_rate: float,
              seed: int, window: tuple[float, float] = (0.6, 2.0), drain_timeout: float = 120.0) -> Report:
    with World(tmp, counterparties=counterparties, products=products, lose_rate=lose_rate, seed=seed) as w:
        return w.crash_and_recover(store_url, kills=kills, window=window, drain_timeout=drain_timeout)

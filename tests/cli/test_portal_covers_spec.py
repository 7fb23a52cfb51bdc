"""`portal check|prepare SPEC` cover everything the spec needs (issue 12.3): user fields with their types
(UF_CRM_DEBT as money), the smart process the guard names (crm.item:1038), the catalogue's VAT rates, measures and
product properties — and every name against the live Bitrix24 and 1C (FILE:LINE, exit 2)."""

from __future__ import annotations

import pytest

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

from b24sync.connectors.bitrix24.auth import WebhookAuth
from b24sync.connectors.bitrix24.client import Bitrix24Client
from b24sync.rehearsal.stand import start_stand
from b24sync.spec.loader import load_spec

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "demo.yaml"


def _portal(cmd: str, spec: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "b24sync.cli.main", "portal", cmd, str(spec)], env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow(45)
def test_check_and_prepare_cover_everything_the_demo_needs(tmp_path: Path) -> None:
    names = set(re.findall(r"\$\{([A-Z0-9_]+)", DEMO.read_text("utf-8")))
    stand = start_stand(load_spec(DEMO, {n: f"x-{n}" for n in names}))
    try:
        cfg = {n: s.config() for n, s in stand.apply(load_spec(DEMO, {n: f"x-{n}" for n in names})).systems.items()}
        env = {**os.environ, "COLUMNS": "220", "B24SYNC_DEMO_B24_WEBHOOK": cfg["bitrix24"]["webhook_url"],
               "B24SYNC_DEMO_ONEC_URL": cfg["onec"]["url"], "B24SYNC_DEMO_ONEC_USER": str(cfg["onec"]["username"]),
               "B24SYNC_DEMO_ONEC_PASSWORD": str(cfg["onec"]["password"]),
               "B24SYNC_DEMO_DADATA_URL": cfg["dadata"]["base_url"], "B24SYNC_DEMO_DADATA_TOKEN": cfg["dadata"]["token"]}
        first = _portal("check", DEMO, env)
        assert first.returncode == 1, first.stdout + first.stderr
        for needed in ("UF_CRM_DEBT", "crm.item:1038", "VAT", "22%", "STOCK", "NONCATALOG", "measure"):
            assert needed in first.stdout, (needed, first.stdout)
        assert re.search(r"UF_CRM_DEBT\s*│\s*missing\s*│\s*money", first.stdout), first.stdout
        made = _portal("prepare", DEMO, env)
        assert made.returncode == 0, made.stdout + made.stderr
        again = _portal("check", DEMO, env)
        assert again.returncode == 0 and "missing" not in again.stdout, again.stdout + again.stderr
        assert "0 unknown name(s)" in again.stdout

        async def portal_state():  # type: ignore[no-untyped-def]
            async with Bitrix24Client(WebhookAuth(cfg["bitrix24"]["webhook_url"])) as c:
                uf = await c.call("crm.company.userfield.list", {"filter": {"FIELD_NAME": "UF_CRM_DEBT"}})
                types = await c.call("crm.type.list", {})
                vat = await c.call("crm.vat.list", {})
                props = await c.call("crm.product.property.list", {})
                return uf, types, vat, props

        uf, types, vat, props = asyncio.run(portal_state())
        assert uf[0]["USER_TYPE_ID"] == "money"
        assert any(int(t["entityTypeId"]) == 1038 for t in types["types"])
        assert any(v.get("RATE") is not None and float(v["RATE"]) == 22 for v in vat)
        assert {"STOCK", "NONCATALOG"} <= {p["CODE"] for p in props}

        typo = tmp_path / "typo.yaml"
        typo.write_text(DEMO.read_text("utf-8").replace("erp: Долг,", "erp: Долгг,")
                        .replace("{crm: RQ_KPP, erp: КПП, title: КПП}", "{crm: RQ_KPPP, erp: КПП, title: КПП}"),
                        encoding="utf-8")
        bad = _portal("check", typo, env)
        assert bad.returncode == 2, bad.stdout + bad.stderr
        assert re.search(rf"{re.escape(str(typo))}:\d+: onec counterparty_debt has no field `Долгг`.*`Долг`", bad.stderr)
        assert re.search(rf"{re.escape(str(typo))}:\d+: bitrix24 crm.company\+requisite has no field `RQ_KPPP`.*"
                         r"`RQ_KPP`", bad.stderr)
    finally:
        stand.stop()


def test_a_user_field_of_the_wrong_type_is_reported(tmp_path: Path) -> None:
    from b24sync.sandbox.bitrix24.sandbox import Bitrix24Sandbox

    sb = Bitrix24Sandbox()
    sb.start()
    try:
        async def add() -> None:
            async with Bitrix24Client(WebhookAuth(sb.webhook_url)) as c:
                await c.call("crm.company.userfield.add", {"fields": {"FIELD_NAME": "DEBT", "USER_TYPE_ID": "string"}},
                             batch=False)

        asyncio.run(add())
        req = tmp_path / "req.yaml"
        req.write_text("user_fields:\n  - {entity: company, field_name: UF_CRM_DEBT, user_type_id: money}\n",
                       encoding="utf-8")
        res = subprocess.run([sys.executable, "-m", "b24sync.cli.main", "portal", "check", str(req), "--webhook-url",
                              sb.webhook_url], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "COLUMNS": "200"})
        assert res.returncode == 1 and "mismatch" in res.stdout and "type string, wanted money" in res.stdout
    finally:
        sb.stop()

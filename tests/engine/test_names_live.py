"""Names checked against the live systems (issue 13.6 / 12.3): a typo in a field or object name is a FILE:LINE
error with the nearest existing names, `portal check` exits 2, `run` does not start that entity (the others run)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from b24sync.compose import build
from b24sync.engine.names import check_names, nearest
from b24sync.rehearsal.stand import start_stand
from b24sync.spec.loader import load_spec

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "demo.yaml"


def _typo_spec(tmp_path: Path) -> Path:
    text = DEMO.read_text(encoding="utf-8")
    text = text.replace("{crm: UF_CRM_DEBT, erp: Долг,", "{crm: UF_CRM_DEBT, erp: Долгг,")
    text = text.replace("      - {crm: RQ_KPP, erp: КПП, title: КПП}", "      - {crm: RQ_KPPP, erp: КПП, title: КПП}")
    text = text.replace("erp: {object: Catalog_Номенклатура}", "erp: {object: Catalog_Номенклатураа}")
    f = tmp_path / "typo.yaml"
    f.write_text(text, encoding="utf-8")
    return f


def _env(path: Path) -> dict[str, str]:
    return {v: f"x-{v}" for v in re.findall(r"\$\{([A-Z0-9_]+)", path.read_text("utf-8"))}


def _line(path: Path, needle: str) -> int:
    return next(i for i, t in enumerate(path.read_text("utf-8").splitlines(), 1) if needle in t)


def test_nearest_names_are_suggested() -> None:
    assert nearest("Долгг", ["Долг", "Ref_Key", "Описание"])[0] == "Долг"
    assert nearest("RQ_KPPP", ["RQ_KPP", "RQ_INN", "RQ_OKPO"])[0] == "RQ_KPP"
    assert nearest("rq_inn", ["RQ_INN", "TITLE"]) == ["RQ_INN"]
    assert nearest("Zzz", ["RQ_INN", "TITLE"]) == []


@pytest.fixture()
def stand_spec(tmp_path: Path):
    f = _typo_spec(tmp_path)
    written = load_spec(f, _env(f))
    stand = start_stand(written)
    try:
        yield f, stand, stand.apply(written)
    finally:
        stand.stop()


def test_unknown_names_are_found_with_their_line_and_nearest_names(stand_spec, tmp_path: Path) -> None:
    from b24sync.cli.common import name_problems
    from b24sync.rehearsal.prepare import prepare

    f, stand, spec = stand_spec
    rt = build(spec, database_url=f"sqlite:///{tmp_path}/s.db")

    async def go():
        try:
            await prepare(rt, spec, stand)
            return await name_problems(f, rt)
        finally:
            await rt.aclose()

    report, problems = asyncio.run(go())
    text = "\n".join(map(str, problems))
    assert f"{f}:{_line(f, 'erp: Долгг')}: onec counterparty_debt has no field `Долгг`" in text and "`Долг`" in text
    assert f"{f}:{_line(f, 'crm: RQ_KPPP')}: bitrix24 crm.company+requisite has no field `RQ_KPPP`" in text
    assert "did you mean `RQ_KPP`" in text
    assert f"{f}:{_line(f, 'Catalog_Номенклатураа')}: onec has no object `Catalog_Номенклатураа`" in text
    assert "`Catalog_Номенклатура`" in text
    assert set(report.broken) == {"receivables", "counterparty", "custom_product"}, report.broken
    # the rest of the demo names what exists
    assert not [p for p in problems if "counterparty_to_erp" in p.what or "(entity contact" in p.what]


def test_run_does_not_start_an_entity_with_unknown_names(stand_spec, tmp_path: Path) -> None:
    """`run --once`: the broken entities are refused (FILE:LINE on stderr, exit 2), the others sync."""
    f, stand, spec = stand_spec
    written = tmp_path / "pointed.yaml"
    text = f.read_text("utf-8")
    env = {**os.environ, "B24SYNC_DATABASE_URL": f"sqlite:///{tmp_path}/run.db"}
    for name, s in spec.systems.items():  # the same spec, its ${VARS} pointing at the stand's sandboxes
        for k, v in s.config().items():
            if isinstance(v, str):
                env.update({var: v for var in re.findall(r"\$\{([A-Z0-9_]+)", text)
                            if f"{k}: ${{{var}" in text and var not in env})
    written.write_text(text, encoding="utf-8")
    cfg = {n: s.config() for n, s in spec.systems.items()}
    env["B24SYNC_DEMO_B24_WEBHOOK"] = cfg["bitrix24"]["webhook_url"]
    env["B24SYNC_DEMO_ONEC_URL"] = cfg["onec"]["url"]
    env["B24SYNC_DEMO_ONEC_USER"] = cfg["onec"].get("username") or "odata"
    env["B24SYNC_DEMO_ONEC_PASSWORD"] = cfg["onec"].get("password") or "secret"
    env["B24SYNC_DEMO_DADATA_URL"] = cfg["dadata"]["base_url"]
    env["B24SYNC_DEMO_DADATA_TOKEN"] = cfg["dadata"]["token"]
    res = subprocess.run([sys.executable, "-m", "b24sync.cli.main", "run", "--spec", str(written), "--once",
                          "--no-serve"], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert res.returncode == 2, res.stdout + res.stderr
    assert f"{written}:{_line(written, 'erp: Долгг')}: onec counterparty_debt has no field `Долгг`" in res.stderr
    for entity in ("receivables", "counterparty", "custom_product"):
        assert f"entity {entity} does not start" in res.stderr
    assert "entity contact does not start" not in res.stderr
    done = re.search(r"done: (\d+) jobs", res.stdout)
    assert done and int(done.group(1)) > 0, res.stdout  # the other entities ran

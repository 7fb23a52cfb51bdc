"""`spec validate` checks structure without credentials (unset ${VARS} are warnings, exit 0); `--env` and `run`
require them (exit 2, FILE:LINE). Webhook triggers without `event_tokens` are a warning (issue 12, items 1 and 4)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from b24sync.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
STARTERS = ["1c-odata", "1c-commerceml", "kontur", "odoo"]
runner = CliRunner()

SPEC = """\
name: t
systems:
  b24:
    type: bitrix24
    role: crm
    webhook_url: ${H_SPEC_UNSET_WEBHOOK}
  onec: {type: 1c-odata, role: erp, url: "${H_SPEC_UNSET_URL}", password: "${H_SPEC_UNSET_PW:-dflt}"}
entities:
  company:
    master: onec
    direction: erp_to_crm
    crm: {object: crm.company}
    erp: {object: Catalog_Контрагенты}
    match: [{crm: TITLE, erp: Description}]
    fields:
      - {crm: TITLE, erp: Description}
    triggers:
      - webhook: ONCRMCOMPANYUPDATE
      - poll: 15m
"""


def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in ("H_SPEC_UNSET_WEBHOOK", "H_SPEC_UNSET_URL", "H_SPEC_UNSET_PW", "B24SYNC_B24_APP_TOKEN"):
        monkeypatch.delenv(k, raising=False)


def test_unset_vars_are_warnings_without_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _clean_env(monkeypatch)
    f = tmp_path / "s.yaml"
    f.write_text(SPEC, encoding="utf-8")
    res = runner.invoke(app, ["spec", "validate", str(f)])
    assert res.exit_code == 0, res.output
    warn = {int(m.group(1)): ln for ln in res.output.splitlines()
            if (m := re.match(rf"{re.escape(str(f))}:(\d+): warning: ", ln))}
    assert "H_SPEC_UNSET_WEBHOOK" in warn[6] and "H_SPEC_UNSET_URL" in warn[7]
    assert not any("H_SPEC_UNSET_PW" in ln for ln in warn.values()), "a default is not a warning"
    assert "ok" in res.output


def test_env_flag_requires_every_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _clean_env(monkeypatch)
    f = tmp_path / "s.yaml"
    f.write_text(SPEC, encoding="utf-8")
    res = runner.invoke(app, ["spec", "validate", "--env", str(f)])
    assert res.exit_code == 2
    errs = [ln for ln in res.output.splitlines() if re.match(rf"{re.escape(str(f))}:\d+: \$\{{", ln)]
    assert {ln.split(":")[1] for ln in errs} == {"6", "7"}, res.output
    monkeypatch.setenv("H_SPEC_UNSET_WEBHOOK", "https://p.example/rest/1/x/")
    monkeypatch.setenv("H_SPEC_UNSET_URL", "http://1c/odata/")
    assert runner.invoke(app, ["spec", "validate", "--env", str(f)]).exit_code == 0


def test_run_requires_every_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _clean_env(monkeypatch)
    f = tmp_path / "s.yaml"
    f.write_text(SPEC, encoding="utf-8")
    res = runner.invoke(app, ["run", "--spec", str(f), "--once"])
    assert res.exit_code == 2
    assert f"{f}:6: ${{H_SPEC_UNSET_WEBHOOK}} is not set" in res.output


def test_structural_errors_still_fail_without_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _clean_env(monkeypatch)
    f = tmp_path / "s.yaml"
    f.write_text(SPEC.replace("direction: erp_to_crm", "direction: sideways"), encoding="utf-8")
    res = runner.invoke(app, ["spec", "validate", str(f)])
    assert res.exit_code == 2 and f"{f}:11: " in res.output


def test_webhook_trigger_without_event_tokens_warns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _clean_env(monkeypatch)
    f = tmp_path / "s.yaml"
    f.write_text(SPEC, encoding="utf-8")
    res = runner.invoke(app, ["spec", "validate", str(f)])
    line = next(ln for ln in res.output.splitlines() if "event_tokens" in ln)
    assert line.startswith(f"{f}:18: warning: ") and "401" in line, line
    f.write_text(SPEC.replace("    webhook_url:", "    event_tokens: [abc]\n    webhook_url:"), encoding="utf-8")
    res = runner.invoke(app, ["spec", "validate", str(f)])
    assert res.exit_code == 0 and "event_tokens" not in res.output
    f.write_text(SPEC.replace("      - webhook: ONCRMCOMPANYUPDATE\n", ""), encoding="utf-8")
    assert "event_tokens" not in runner.invoke(app, ["spec", "validate", str(f)]).output


@pytest.mark.parametrize("kind", STARTERS)
def test_every_starter_validates_without_credentials(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["init", "--erp", kind]).exit_code == 0
    res = runner.invoke(app, ["spec", "validate", "b24sync.yaml"])
    assert res.exit_code == 0, res.output
    assert "event_tokens" not in res.output, "starters with webhook triggers carry event_tokens"
    res = runner.invoke(app, ["spec", "validate", "--env", "b24sync.yaml"])
    assert res.exit_code == 2 and re.search(r"^b24sync\.yaml:\d+: \$\{\w+\} is not set", res.output, re.M), res.output


def test_examples_are_the_starters() -> None:
    for kind in [*STARTERS, "1c-ut-orders", "1c-bp-invoices", "1c-unf-orders", "kontur-invoices", "1c-ut-credit",
                 "1c-ut-contracts", "1c-ut-suppliers", "1c-bp-suppliers"]:
        assert (ROOT / "examples" / f"{kind}.yaml").read_text("utf-8") == \
            (ROOT / "src/b24sync/spec/starters" / f"{kind}.yaml").read_text("utf-8")

"""The spec from the user's side: clear FILE:LINE errors, the examples, rendering, schema and init."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from b24sync.cli.main import app
from b24sync.spec.loader import check_spec

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
runner = CliRunner()

BROKEN = """\
name: broken
systems:
  b24:
    type: bitrix24
    role: crm
    webhook_url: ${B24SYNC_TEST_UNSET_WEBHOOK}
  onec: {type: 1c-odata, role: erp, url: "http://x/odata/"}
entities:
  company:
    master: onec
    direction: erp_to_crm
    crm: {object: crm.company}
    erp: {object: Catalog_Контрагенты}
    fields:
      - {crm: TITLE, erp: Description, owner: finance}
  contact:
    master: onec
    direction: erp_to_crm
    crm: {object: crm.contact}
    erp: {object: Catalog_КонтактныеЛица}
    match: [{crm: PHONE, erp: Телефон}]
    fields:
      - {crm: NAME, erp: Description, owner: crm}
      - {crm: POST, erp: Должность, transform: {table: posts}}
"""


def test_every_problem_is_reported_with_its_line(tmp_path: Path) -> None:
    f = tmp_path / "broken.yaml"
    f.write_text(BROKEN, encoding="utf-8")
    res = runner.invoke(app, ["spec", "validate", str(f)])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    by_line = {int(m.group(1)): ln for ln in lines if (m := re.match(rf"{re.escape(str(f))}:(\d+): ", ln))}
    assert len(by_line) == len(lines), f"every line is FILE:LINE: …\n{res.output}"
    assert "B24SYNC_TEST_UNSET_WEBHOOK" in by_line[6] and "export" in by_line[6]  # undefined ${VAR}
    assert "`match` is missing" in by_line[9] and "duplicates" in by_line[9]  # missing match key
    assert "'finance'" in by_line[15] and "owner: crm" in by_line[15]  # unknown field owner
    assert "owned by crm" in by_line[23] and "erp_to_crm" in by_line[23]  # owner against direction
    assert "`posts` is not defined" in by_line[24] and "value_maps" in by_line[24]
    assert all(" — " in ln for ln in lines), "each problem says how to fix it"


def test_yaml_syntax_error_has_the_line(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("name: x\nsystems:\n  b24: {type: bitrix24\nentities: {}\n", encoding="utf-8")
    _, problems = check_spec(f)
    assert len(problems) == 1 and problems[0].line in (3, 4) and "YAML syntax error" in problems[0].what


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.stem for e in EXAMPLES])
def test_examples_validate(example: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in set(re.findall(r"\$\{([A-Z0-9_]+)\}", example.read_text(encoding="utf-8"))):
        monkeypatch.setenv(name, f"value-of-{name}")
    res = runner.invoke(app, ["spec", "validate", str(example)])
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.stem for e in EXAMPLES])
def test_render_has_tables_and_mermaid(example: Path) -> None:
    res = runner.invoke(app, ["spec", "render", str(example)])
    assert res.exit_code == 0, res.output
    md = res.output
    assert md.startswith("# ")
    assert "| Система | Роль | Коннектор |" in md
    assert "| Сущность | Ведущая система | Направление | Объект CRM | Объект ERP | Запуск |" in md
    assert "| Поле CRM | Поле ERP | Владелец | Преобразование |" in md
    assert "```mermaid\nflowchart LR" in md and ("-->" in md)
    spec, _ = check_spec(example, {k: "x" for k in re.findall(r"\$\{([A-Z0-9_]+)", example.read_text("utf-8"))})
    assert spec is not None
    for e in spec.entities.values():  # one section per entity, every mapped field in its table
        assert f"## {e.title}" in md
        for f in e.fields:
            assert f"`{f.crm}`" in md and f"`{f.erp}`" in md


def test_a_system_type_with_no_connector_does_not_validate(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text((ROOT / "examples" / "odoo.yaml").read_text(encoding="utf-8").replace("type: odoo", "type: sap-rfc"),
                 encoding="utf-8")
    spec, _ = check_spec(f, {k: "x" for k in re.findall(r"\$\{([A-Z0-9_]+)", f.read_text("utf-8"))})
    res = runner.invoke(app, ["spec", "validate", str(f)], env={k: "x" for k in re.findall(
        r"\$\{([A-Z0-9_]+)", f.read_text("utf-8"))})
    assert res.exit_code == 2
    assert "no connector for type 'sap-rfc'" in res.output or "unknown type" in res.output


def test_schema_is_json_schema_of_the_spec() -> None:
    res = runner.invoke(app, ["spec", "schema"])
    schema = json.loads(res.output)
    assert schema["title"] == "b24sync integration spec"
    assert {"systems", "entities", "name"} <= set(schema["properties"])
    assert "Entity" in schema["$defs"] and "master" in schema["$defs"]["Entity"]["properties"]


@pytest.mark.parametrize("kind", ["1c-odata", "1c-commerceml", "kontur", "odoo"])
def test_init_writes_a_valid_commented_starter(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "b24sync.yaml"
    res = runner.invoke(app, ["init", "--erp", kind, "--out", str(out)])
    assert res.exit_code == 0, res.output
    text = out.read_text(encoding="utf-8")
    assert text.lstrip().startswith("#")
    env = {k: "x" for k in re.findall(r"\$\{([A-Z0-9_]+)", text)}
    spec, problems = check_spec(out, env)
    assert spec is not None, problems
    assert runner.invoke(app, ["init", "--erp", kind, "--out", str(out)]).exit_code == 1  # no silent overwrite

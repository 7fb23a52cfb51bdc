"""`${VARS}` are substituted inside the parsed strings, never into the raw text (issue 12, follow-up of item 12):
flow style `{url: ${URL}}` parses like block style, a secret holding YAML syntax cannot change the document, and
the FILE:LINE of an unset variable and of every other problem stays right."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from b24sync.cli.main import app
from b24sync.spec.loader import EnvText, check_spec, load_plain

runner = CliRunner()

FLOW = """\
name: flow style
systems:
  b24: {type: bitrix24, role: crm, webhook_url: ${H_FLOW_HOOK}}
  onec: {type: 1c-odata, role: erp, url: ${H_FLOW_URL}, user: ${H_FLOW_USER:-admin}, password: ${H_FLOW_PW}}
entities:
  company:
    master: onec
    direction: erp_to_crm
    crm: {object: crm.company}
    erp: {object: Catalog_Контрагенты}
    match: [{crm: TITLE, erp: Description}]
    fields: [{crm: TITLE, erp: Description}, {crm: COMMENTS, erp: "${H_FLOW_FIELD:-Комментарий}"}]
    triggers: [{poll: 15m}]
"""


def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in ("H_FLOW_HOOK", "H_FLOW_URL", "H_FLOW_USER", "H_FLOW_PW", "H_FLOW_FIELD"):
        monkeypatch.delenv(k, raising=False)


def _env(**kw: str) -> dict[str, str]:
    base = {"H_FLOW_HOOK": "https://portal.example.ru/rest/1/abcdefgh12345/",
            "H_FLOW_URL": "https://erp.example.ru/ut/odata/standard.odata/", "H_FLOW_PW": "p"}
    return {**base, **kw}


def test_flow_style_with_env_validates_without_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _clean(monkeypatch)
    f = tmp_path / "s.yaml"
    f.write_text(FLOW, encoding="utf-8")
    res = runner.invoke(app, ["spec", "validate", str(f)])
    assert res.exit_code == 0, res.output
    warned = {(int(m.group(1)), m.group(2)) for ln in res.output.splitlines()
              if (m := re.match(rf"{re.escape(str(f))}:(\d+): warning: \$\{{(\w+)\}}", ln))}
    assert warned == {(3, "H_FLOW_HOOK"), (4, "H_FLOW_URL"), (4, "H_FLOW_PW")}, res.output
    assert not any("H_FLOW_USER" in ln or "H_FLOW_FIELD" in ln for ln in res.output.splitlines()), res.output
    res = runner.invoke(app, ["spec", "validate", "--env", str(f)])
    assert res.exit_code == 2
    assert f"{f}:3: ${{H_FLOW_HOOK}} is not set" in res.output
    assert f"{f}:4: ${{H_FLOW_PW}} is not set" in res.output


def test_values_are_substituted_in_flow_style_defaults_included(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text(FLOW, encoding="utf-8")
    spec, problems = check_spec(f, _env())
    assert spec is not None, problems
    cfg = spec.systems["onec"].config()
    assert cfg["url"] == "https://erp.example.ru/ut/odata/standard.odata/"
    assert cfg["user"] == "admin" and cfg["password"] == "p"
    assert [m.erp for m in spec.entities["company"].fields] == ["Description", "Комментарий"]


@pytest.mark.parametrize("secret", ["a}b", "x: y", "p #not-a-comment", "{evil: 1}", "[1, 2]", "'\"", "*alias",
                                    "&anchor v", "!!python/object/apply:os.system ['id']", "line1\nline2: 3",
                                    "${H_FLOW_URL}", "b24syncenv00000000n0z"])
def test_a_secret_with_yaml_syntax_stays_one_string(tmp_path: Path, secret: str) -> None:
    """The environment is never pasted into the text: whatever a password holds, it is that password."""
    f = tmp_path / "s.yaml"
    f.write_text(FLOW, encoding="utf-8")
    spec, problems = check_spec(f, _env(H_FLOW_PW=secret))
    assert spec is not None, problems
    assert spec.systems["onec"].config()["password"] == secret
    assert set(spec.systems) == {"b24", "onec"}


def test_lines_stay_right_after_the_tokens(tmp_path: Path) -> None:
    """A problem below a line full of ${...} is still reported at its own line."""
    text = FLOW.replace("direction: erp_to_crm", "direction: sideways")
    f = tmp_path / "s.yaml"
    f.write_text(text, encoding="utf-8")
    spec, problems = check_spec(f, _env())
    assert spec is None
    assert [p.line for p in problems if "direction" in p.what] == [8], problems


def test_quoted_block_and_comment_forms() -> None:
    text = ('a: "${A}"\nb: \'${B:-x y}\'\nc: |\n  ${C}\n  tail\n# ${D} in a comment\nd: [${E}, ${F:-f}]\n'
            'e: pre-${G}-post\n')
    assert load_plain(text) == {"a": "${A}", "b": "${B:-x y}", "c": "${C}\ntail\n", "d": ["${E}", "${F:-f}"],
                                "e": "pre-${G}-post"}


def test_a_default_never_spans_lines_and_a_bad_name_is_left_alone() -> None:
    et = EnvText("a: ${A:-x\nb: }\nc: ${1BAD}\n")
    assert et.text.count("\n") == 3 and "${A:-x" in et.text and "${1BAD}" in et.text


def test_a_text_already_holding_a_token_shape_is_not_confused() -> None:
    """The token carries a nonce absent from the text, so a literal lookalike survives untouched."""
    text = "a: b24syncenvdeadbeefn0z\nb: ${B}\n"
    assert load_plain(text) == {"a": "b24syncenvdeadbeefn0z", "b": "${B}"}


def test_yaml_error_in_flow_style_keeps_its_line(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text(FLOW.replace("erp: {object: Catalog_Контрагенты}", "erp: {object: Catalog_Контрагенты"),
                 encoding="utf-8")
    spec, problems = check_spec(f, _env())
    assert spec is None and problems and problems[0].line in (10, 11), problems
    assert "YAML syntax error" in problems[0].what


def test_portal_check_reads_a_flow_style_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`portal check` decides "spec or requirements file" from the text: flow style with ${VARS} is a spec (it
    then asks for the variables, one line, exit 2 — no traceback)."""
    _clean(monkeypatch)
    f = tmp_path / "s.yaml"
    f.write_text(FLOW, encoding="utf-8")
    res = runner.invoke(app, ["portal", "check", str(f)])
    assert res.exit_code == 2, res.output
    assert "H_FLOW_HOOK" in res.output and "Traceback" not in res.output

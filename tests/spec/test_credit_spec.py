"""`credit_control` in the spec (docs/flow-credit.md): checked with FILE:LINE, rendered in Russian."""

from __future__ import annotations

from pathlib import Path

from b24sync.spec.loader import check_spec
from b24sync.spec.render import render_markdown

SPEC = """version: 1
name: credit
systems:
  bitrix24: {type: bitrix24, role: crm, webhook_url: "http://x/rest/1/y/"}
  onec: {type: 1c-odata, role: erp, url: "http://a/", preset: ut11}
entities:
  company:
    master: onec
    direction: erp_to_crm
    crm: {object: crm.company}
    erp: {object: Catalog_Контрагенты}
    match: [{crm: UF_CRM_INN, erp: ИНН}]
  product:
    master: onec
    direction: erp_to_crm
    crm: {object: crm.product}
    erp: {object: Catalog_Номенклатура}
    match: [{crm: XML_ID, erp: Ref_Key}]
  credit:
    master: onec
    direction: erp_to_crm
    crm: {object: crm.deal}
    erp: {object: counterparty_credit}
    match: []
    credit_control:
      company: %(company)s
      limit: %(limit)s
      stage: %(stage)s
"""


def _check(tmp_path: Path, **kw: str):  # type: ignore[no-untyped-def]
    f = tmp_path / "s.yaml"
    f.write_text(SPEC % {"company": "company", "limit": "{erp: Лимит, crm: UF_CRM_CREDIT_LIMIT}",
                         "stage": "UC_CREDIT_HOLD", **kw}, encoding="utf-8")
    spec, problems = check_spec(f, {})
    return f, spec, [str(p) for p in problems]


def _line(f: Path, text: str) -> int:
    return next(i for i, ln in enumerate(f.read_text(encoding="utf-8").splitlines(), 1) if text in ln)


def test_a_good_credit_rule_validates_and_renders_in_russian(tmp_path: Path) -> None:
    f, spec, problems = _check(tmp_path)
    assert problems == [] and spec is not None
    doc = render_markdown(spec)
    assert ("Кредитный лимит: долг клиента `Долг` из учётной системы сравнивается с лимитом (поле `Лимит` учётной "
            "системы, а где его нет — поле компании `UF_CRM_CREDIT_LIMIT`)") in doc
    assert "переходят на стадию `UC_CREDIT_HOLD` («Приостановлена: кредитный лимит»)" in doc
    assert "Битрикс24 не позволяет запретить её создание" in doc


def test_a_final_stage_is_refused_at_its_line(tmp_path: Path) -> None:
    f, _, problems = _check(tmp_path, stage="WON")
    assert problems == [f"{f}:{_line(f, 'stage: WON')}: `stage: WON` is a stage of the pipeline itself (final or the "
                        "first), so a suspended deal could not be told from the others — name a stage of its own, e.g. "
                        "UC_CREDIT_HOLD"], problems


def test_a_stage_bitrix24_would_refuse_is_an_error_at_its_line(tmp_path: Path) -> None:
    f, _, problems = _check(tmp_path, stage="'ПРИОСТАНОВЛЕНА'")
    assert len(problems) == 1 and problems[0].startswith(f"{f}:{_line(f, 'stage: ')}:"), problems


def test_a_limit_without_a_field_and_a_wrong_company_entity(tmp_path: Path) -> None:
    f, _, problems = _check(tmp_path, limit="{}", company="product")
    assert f"{f}:{_line(f, 'limit: {}')}: `limit` names no field" in "\n".join(problems), problems
    assert any(p.startswith(f"{f}:{_line(f, 'company: product')}: `company: product` maps `crm.product`")
               for p in problems), problems
    f, _, problems = _check(tmp_path, limit="{crm: CREDIT_LIMIT}")
    assert any(p.startswith(f"{f}:{_line(f, 'limit: {crm: CREDIT_LIMIT}')}: `limit.crm: CREDIT_LIMIT` is not a "
                            "company user field") for p in problems), problems


def test_overdue_forbidden_needs_the_overdue_field(tmp_path: Path) -> None:
    f, _, problems = _check(tmp_path, limit="{}\n      overdue_forbidden: ПросрочкаЗапрещена")
    assert problems == [f"{f}:{_line(f, 'overdue_forbidden:')}: `overdue_forbidden` needs the overdue debt to "
                        "compare — add `overdue: ПросроченныйДолг`"], problems

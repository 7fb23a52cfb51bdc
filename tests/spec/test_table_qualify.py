"""`transform: {table: NAME, qualify: FIELD}` (issue 10, УНФ order state → deal stage): the table is looked up by
`<value>/<qualifier>` first, then by the value; ERP → CRM only (checked with FILE:LINE); a change of the qualifier
alone is a change; rendered in Russian; its field is checked at start (not fatal where a base lacks it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from b24sync.engine.errors import ValidationError
from b24sync.engine.mapper import convert, project
from b24sync.spec.loader import check_spec
from b24sync.spec.names import names_of
from b24sync.spec.render import render_markdown

SPEC = """version: 1
name: state by name
systems:
  bitrix24: {type: bitrix24, role: crm, webhook_url: "http://x/rest/1/y/"}
  onec: {type: 1c-odata, role: erp, url: "http://a/", preset: unf30}
value_maps:
  unf_order_stage: {"В работе": FINAL_INVOICE, "Завершен/Успешно": WON, "Завершен/Отменен": LOSE, "Завершен": WON}
entities:
  order_status:
    master: onec
    direction: %(direction)s
    create: false
    crm: {object: crm.deal}
    erp: {object: Document_ЗаказПокупателя}
    match: [{crm: ID, erp: ИдентификаторCRM}]
    fields:
      - {crm: STAGE_ID, erp: СостояниеЗаказа_Key, %(owner)stransform: {table: unf_order_stage, qualify: ВариантЗавершения}}
"""


def _check(tmp_path: Path, direction: str = "erp_to_crm", owner: str = ""):  # type: ignore[no-untyped-def]
    f = tmp_path / "s.yaml"
    f.write_text(SPEC % {"direction": direction, "owner": owner}, encoding="utf-8")
    return check_spec(f, {})


def test_the_qualified_key_first_then_the_value_alone(tmp_path: Path) -> None:
    spec, problems = _check(tmp_path)
    assert problems == [] and spec is not None
    e = spec.entities["order_status"]
    f = e.fields[0]
    stage = lambda v, outcome=None: convert(spec, f, v, "erp", record={"ВариантЗавершения": outcome})  # noqa: E731
    assert stage("Завершен", "Отменен") == "LOSE"
    assert stage("Завершен", "Успешно") == "WON"
    assert stage("Завершен", "") == "WON" and stage("Завершен") == "WON"  # no outcome: the plain key
    assert stage("В работе", "Отменен") == "FINAL_INVOICE"  # no qualified key for it: the plain key
    with pytest.raises(ValidationError, match="Ждёт оплаты"):
        stage("Ждёт оплаты", "Успешно")
    assert convert(spec, f, "WON", "crm") == "Завершен"  # back to a plain value, never `Завершен/Успешно`
    # the outcome alone changing is a change of the order (its fingerprint covers the qualifier)
    a = project(spec, e, "erp", {"СостояниеЗаказа_Key": "Завершен", "ВариантЗавершения": "Успешно"})
    b = project(spec, e, "erp", {"СостояниеЗаказа_Key": "Завершен", "ВариантЗавершения": "Отменен"})
    assert a != b
    uses = [(u.name, u.what) for u in names_of("order_status", e)]
    assert ("ВариантЗавершения", "table qualifier") in uses
    assert "таблица `unf_order_stage` (с уточнением по полю ВариантЗавершения)" in render_markdown(spec)


def test_a_qualified_table_on_a_field_the_crm_owns_is_refused_at_its_line(tmp_path: Path) -> None:
    _, problems = _check(tmp_path, direction="both", owner="owner: both, ")
    (p,) = [p for p in problems if "qualify" in p.what]
    assert p.line == 17 and "ERP → CRM only" in p.what and "owner: erp" in p.fix, p

"""`erp.route` in the spec: expanded per base, checked with FILE:LINE, rendered once in Russian."""

from __future__ import annotations

from pathlib import Path

from b24sync.spec.loader import check_spec
from b24sync.spec.render import render_markdown

SPEC = """version: 1
name: two legal entities
systems:
  bitrix24: {type: bitrix24, role: crm, webhook_url: "http://x/rest/1/y/"}
  onec_a: {type: 1c-odata, role: erp, url: "http://a/", preset: ut11}
  onec_b: {type: 1c-odata, role: erp, url: "http://b/", preset: %(preset)s}
entities:
  order:
    master: bitrix24
    direction: crm_to_erp
    crm: {object: crm.deal}
    erp:
      object: Document_ЗаказКлиента
      route:
        by: UF_CRM_SELLER
        systems: {"ООО Ромашка": onec_a, "ООО Лютик": %(b)s}
        vars: {onec_a: {org_inn: "7701000001"}, onec_b: {org_inn: "7702000002"}}
    match: [{crm: ID, erp: НомерПоДаннымКлиента}]
    header:
      - {erp: Организация_Key, lookup: {object: Catalog_Организации, where: {ИНН: "{route:org_inn}"}}}
"""


def _check(tmp_path: Path, **kw: str):  # type: ignore[no-untyped-def]
    f = tmp_path / "s.yaml"
    f.write_text(SPEC % {"preset": "ut11", "b": "onec_b", **kw}, encoding="utf-8")
    return check_spec(f, {})


def test_a_routed_entity_becomes_one_copy_per_base_and_renders_once(tmp_path: Path) -> None:
    spec, problems = _check(tmp_path)
    assert problems == [] and spec is not None
    assert list(spec.entities) == ["order@onec_a", "order@onec_b"]
    assert spec.entities["order@onec_b"].header[0].lookup.where == {"ИНН": "7702000002"}  # type: ignore[union-attr]
    assert spec.scope("order@onec_a") != spec.scope("order@onec_b")
    doc = render_markdown(spec)
    assert doc.count("Маршрут по полю `UF_CRM_SELLER`") == 1 and "«ООО Лютик» → `onec_b`" in doc


def test_an_unknown_routed_system_is_reported_at_its_line(tmp_path: Path) -> None:
    _, problems = _check(tmp_path, b="onec_c")
    assert any(p.line == 16 and "sends to system `onec_c`" in p.what for p in problems), problems


def test_bases_of_different_presets_cannot_share_one_routed_entity(tmp_path: Path) -> None:
    _, problems = _check(tmp_path, preset="bp30")
    assert any("different kinds" in p.what for p in problems), problems


def test_two_sellers_into_one_base_with_per_base_vars_are_refused_at_the_second_value(tmp_path: Path) -> None:
    _, problems = _check(tmp_path, b="onec_a")  # both legal entities → base A: one set of vars, one organisation
    hit = [p for p in problems if "to the same base `onec_a`" in p.what]
    assert hit and hit[0].line == 16 and "One base with two organisations" in hit[0].fix, problems


def test_a_route_read_on_the_parent_needs_a_known_parent_object(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    text = (SPEC % {"preset": "ut11", "b": "onec_b"}).replace(
        "        by: UF_CRM_SELLER\n", "        by: UF_CRM_SELLER\n        parent: {field: ufCrmDeal}\n")
    f.write_text(text.replace("crm: {object: crm.deal}", 'crm: {object: "crm.item:31"}'), encoding="utf-8")
    spec, problems = check_spec(f, {})
    assert any(p.line == 16 and "parent's object is not known" in p.what and "object: crm.deal" in p.fix
               for p in problems), problems
    f.write_text(text.replace("parent: {field: ufCrmDeal}", "parent: {field: parentId2}"), encoding="utf-8")
    spec, problems = check_spec(f, {})
    assert problems == [] and spec is not None
    r = spec.entities["order@onec_a"].erp.route
    assert r is not None and r.parent is not None and r.parent.parent_object() == "crm.deal"
    doc = render_markdown(spec)
    assert "читается у родительской записи `crm.deal` через `parentId2`" in doc
    assert "записи из базы получают её значение" not in doc  # a record from a base: its parent carries the seller

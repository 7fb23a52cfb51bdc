"""The spec keys the supplier side added (docs/flow-suppliers.md): ``header[].when``, ``ref.erp_type`` and
``crm.title`` — validated at their FILE:LINE, rendered in Russian, and meaning what they say in the engine."""

from __future__ import annotations

from pathlib import Path

from b24sync.engine.header import applies
from b24sync.engine.mapper import map_record
from b24sync.spec.loader import check_spec, load_spec
from b24sync.spec.models import HeaderValue
from b24sync.spec.render import render_markdown

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "1c-ut-suppliers.yaml"
ENV = {"B24_WEBHOOK_URL": "https://x.bitrix24.ru/rest/1/abc/", "ONEC_ODATA_URL": "http://1c/odata",
       "ONEC_USER": "u", "ONEC_PASSWORD": "p"}


def _problems(tmp_path: Path, old: str, new: str) -> list[str]:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert old in text
    f = tmp_path / "spec.yaml"
    f.write_text(text.replace(old, new, 1), encoding="utf-8")
    _, problems = check_spec(f, env=ENV, unset=[])
    return [str(p) for p in problems]


def _line(needle: str) -> int:
    return next(i for i, line in enumerate(EXAMPLE.read_text(encoding="utf-8").splitlines(), 1) if needle in line)


def test_the_example_validates_clean() -> None:
    _, problems = check_spec(EXAMPLE, env=ENV, unset=[])
    assert problems == []


def test_when_must_list_values_and_the_error_names_its_line(tmp_path: Path) -> None:
    old = "when: {DeletionMark: [true]}, on: always} # marked"
    got = _problems(tmp_path, old, "when: {DeletionMark: true}, on: always} # marked")
    line = _line(old)
    assert any(p.startswith(f"{tmp_path / 'spec.yaml'}:{line}:") and "header.3.when" in p for p in got), got
    got = _problems(tmp_path, old, "when: {DeletionMark: []}, on: always} # marked")
    assert any(p.startswith(f"{tmp_path / 'spec.yaml'}:{line}:") and "`when` lists the values" in p for p in got), got


def test_a_title_on_a_company_or_on_the_erp_side_is_refused(tmp_path: Path) -> None:
    got = _problems(tmp_path, "crm: {object: crm.company}", "crm: {object: crm.company, title: Поставщики}")
    assert any(f":{_line('crm: {object: crm.company}')}:" in p and "not one" in p for p in got), got
    got = _problems(tmp_path, "erp: {object: Document_ЗаказПоставщику}",
                    "erp: {object: Document_ЗаказПоставщику, title: Счета}")
    assert any("belongs under `crm:`" in p for p in got), got


def test_two_titles_for_one_smart_process_are_refused(tmp_path: Path) -> None:
    got = _problems(tmp_path, 'crm: {object: "crm.item:1044", title: Платежи поставщикам}',
                    'crm: {object: "crm.item:1042", title: Платежи поставщикам}')
    assert any("give the smart process one title" in p for p in got), got


def test_when_matches_booleans_as_booleans_and_other_values_as_text() -> None:
    h = HeaderValue(crm="stageId", value="X", when={"DeletionMark": [True], "Статус": ["Закрыт"]})
    assert applies(h, {"DeletionMark": True, "Статус": "Закрыт"})
    assert not applies(h, {"DeletionMark": False, "Статус": "Закрыт"})
    assert not applies(h, {"DeletionMark": "true", "Статус": "Закрыт"})  # a text "true" is not the boolean
    assert not applies(h, {"DeletionMark": True})  # a field the record does not carry does not hold the value
    assert applies(HeaderValue(crm="stageId", value="X"), {})


def test_the_stage_follows_posting_and_deletion_mark_last_value_wins() -> None:
    from b24sync.engine import header

    spec = load_spec(EXAMPLE, ENV)
    ent = spec.entities["supplier_payment"]

    async def stage(**doc: object) -> object:
        values: dict[str, object] = {}

        class _NoLookups:  # header constants only: the adapter is never asked
            pass

        class _Rt:
            def adapter(self, *_: object) -> object:
                return _NoLookups()

        await header.apply(_Rt(), ent, "crm", doc, values, for_create=False)  # type: ignore[arg-type]
        return values["stageId"]

    import asyncio

    assert asyncio.run(stage(Posted=True, DeletionMark=False, ПроведеноБанком=False)) == "DT1044_4:PREPARATION"
    assert asyncio.run(stage(Posted=True, DeletionMark=False, ПроведеноБанком=True)) == "DT1044_4:SUCCESS"
    assert asyncio.run(stage(Posted=False, DeletionMark=False, ПроведеноБанком=True)) == "DT1044_4:NEW"
    assert asyncio.run(stage(Posted=False, DeletionMark=True, ПроведеноБанком=True)) == "DT1044_4:FAIL"


def test_erp_type_translates_only_a_reference_of_that_kind() -> None:
    spec = load_spec(EXAMPLE, ENV)
    ent = spec.entities["supplier_payment"]
    resolve = lambda entity, side, rid: {"inv-1": "77", "cp-1": "5"}.get(rid)  # noqa: E731
    base = {"Контрагент_Key": "cp-1", "Number": "ЦБ00-000001", "ХозяйственнаяОперация": "ОплатаПоставщику"}
    of_invoice = map_record(spec, ent, "erp", {**base, "ДокументОснование": "inv-1",
                                               "ДокументОснование_Type": "StandardODATA.Document_ЗаказПоставщику"},
                            for_create=True, resolve=resolve)
    assert of_invoice["ufCrm2SupplierInvoice"] == "77" and of_invoice["companyId"] == "5"
    of_receipt = map_record(spec, ent, "erp", {**base, "ДокументОснование": "rcpt-1",
                                               "ДокументОснование_Type": "StandardODATA.Document_ПриобретениеТоваровУслуг"},
                            for_create=True, resolve=resolve)
    assert of_receipt["ufCrm2SupplierInvoice"] is None  # another kind of basis: left empty, nothing waited for


def test_render_says_the_condition_and_the_smart_process_title_in_russian() -> None:
    text = render_markdown(load_spec(EXAMPLE, ENV))
    assert "только если `DeletionMark` = да" in text and "только если `ПроведеноБанком` = да" in text
    assert "`crm.item:1042` «Счета поставщиков»" in text


def test_the_fields_when_looks_at_are_checked_against_the_erp_like_every_name() -> None:
    from b24sync.spec.names import names_of

    spec = load_spec(EXAMPLE, ENV)
    uses = {(u.side, u.name, u.what) for u in names_of("supplier_payment", spec.entities["supplier_payment"])}
    assert {("erp", "ПроведеноБанком", "header condition"), ("erp", "Posted", "header condition"),
            ("erp", "DeletionMark", "header condition")} <= uses

"""The reasons a record sync gives (dead letters, the timeline comment a manager reads) are Russian by default and
English with `locale: en` (issue 12, items 5 and d): a required field left empty, a value not in a table, a number
that is not one, a missing match key, duplicates, a link another record holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from b24sync.engine.errors import ValidationError
from b24sync.engine.mapper import convert, map_record
from b24sync.messages import t, use_locale
from b24sync.spec.models import Spec

ROOT = Path(__file__).resolve().parents[2]


def _spec() -> Spec:
    return Spec.model_validate({
        "name": "t", "value_maps": {"status": {"Новый": "NEW"}},
        "systems": {"b": {"type": "bitrix24", "role": "crm", "webhook_url": "https://x/rest/1/a/"},
                    "e": {"type": "sql", "role": "erp", "url": "sqlite://", "tables": {}}},
        "entities": {"c": {"title": "Контрагенты", "master": "e", "direction": "erp_to_crm",
                           "crm": {"object": "crm.company"}, "erp": {"object": "cp"},
                           "match": [{"crm": "TITLE", "erp": "name"}],
                           "fields": [{"crm": "TITLE", "erp": "name", "required": True},
                                      {"crm": "STATUS", "erp": "status", "transform": {"table": "status"}},
                                      {"crm": "WEIGHT", "erp": "kg", "transform": {"scale": 1000}},
                                      {"crm": "SINCE", "erp": "since", "transform": {"type": "date"}}]}}})


def _reason(fn) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as ei:
        fn()
    return str(ei.value)


@pytest.mark.parametrize("loc,words", [
    ("ru", ["не заполнено", "заполните его в учётной системе", "нет в таблице status", "это не число",
            "недопустимое значение"]),
    ("en", ["is empty but required", "fill it in the ERP", "is not in status", "is not a number", "is not a valid date"]),
])
def test_mapper_reasons_follow_the_locale(loc: str, words: list[str]) -> None:
    spec = _spec()
    e = spec.entities["c"]
    with use_locale(loc):
        got = [
            _reason(lambda: map_record(spec, e, "erp", {"name": ""}, for_create=True)),
            _reason(lambda: map_record(spec, e, "erp", {"name": ""}, for_create=True)),
            _reason(lambda: convert(spec, e.fields[1], "Закрыт", "erp")),
            _reason(lambda: convert(spec, e.fields[2], "тяжёлый", "erp")),
            _reason(lambda: convert(spec, e.fields[3], "31.02.2026", "erp")),
        ]
    for w, g in zip(words, got, strict=True):
        assert w in g, (w, g)
    if loc == "ru":
        assert got[0].startswith("Контрагенты: поле «name» не заполнено")


def test_sync_reasons_have_both_languages() -> None:
    kw = {"tgt": "crm", "target_id": "5", "label": t("sync.by_key", key="inn:7707083893"), "src": "erp",
          "linked": "R1", "src_id": "R2"}
    assert "уже связана с записью erp R1" in t("sync.relink", **kw) and "ключу inn:7707083893" in t("sync.relink", **kw)
    with use_locale("en"):
        assert "already linked to erp record R1" in t("sync.relink", **{**kw, "label": t("sync.by_key", key="k")})
    assert t("sync.many_found", n=2, side=t("side.crm"), label="ключу k", ids="1, 2").startswith("в CRM 2 записей")


def test_engine_modules_keep_no_english_reason_text() -> None:
    for rel in ("src/b24sync/engine/sync.py", "src/b24sync/engine/mapper.py", "src/b24sync/engine/binder.py",
                "src/b24sync/engine/guards.py", "src/b24sync/engine/create.py", "src/b24sync/engine/update.py",
                "src/b24sync/engine/related.py"):
        text = (ROOT / rel).read_text(encoding="utf-8")
        for phrase in ("is empty but required", "is not in {name}", "is not a number", "no match key value",
                       "records on the {tgt} side", "looks like a duplicate"):
            assert phrase not in text, (rel, phrase)

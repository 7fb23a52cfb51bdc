"""Issue 12.5: manager- and finance-facing texts are Russian by default, English with ``locale: en``; one catalogue
(b24sync.messages) holds them; the rendered spec shows filters, price types and warehouses."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from b24sync import messages
from b24sync.messages import CATALOGUE, t, use_locale
from b24sync.requisites import check_account, check_inn, check_kpp, check_phone
from b24sync.spec.loader import load_spec
from b24sync.spec.render import render_markdown

ROOT = Path(__file__).resolve().parent.parent


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def test_every_message_has_both_languages_with_the_same_placeholders() -> None:
    for key, entry in CATALOGUE.items():
        assert set(entry) == {"ru", "en"}, key
        assert _fields(entry["ru"]) == _fields(entry["en"]), key
        assert entry["ru"].strip() and entry["en"].strip(), key


def test_russian_is_the_default_for_requisite_messages() -> None:
    assert check_inn("7707083894").message == "ИНН 7707083894: контрольная цифра должна быть 3 — похоже на опечатку"
    assert "КПП" in check_kpp("77070100").message and "9 знаков" in check_kpp("77070100").message
    assert "латинскую" in check_kpp("7707АБ001").message  # Cyrillic look-alikes in KPP positions 5–6
    assert check_phone("+7 916 12-34").message.startswith("Телефон «+7 916 12-34»")
    bad = check_account("40702810900000000001", "044525225")
    assert "не сходится с БИК 044525225" in bad.message and bad.message.startswith("Расчётный счёт")


def test_english_when_selected() -> None:
    with use_locale("en"):
        assert check_inn("7707083894").message == "INN 7707083894: check digit should be 3 — looks like a typo"


def test_the_spec_locale_selects_the_language_of_the_runtime(tmp_path: Path) -> None:
    from b24sync.compose import build
    from tests.flows.pair import write_spec

    spec_file = write_spec(tmp_path)
    spec_file.write_text("locale: en\n" + spec_file.read_text(encoding="utf-8"), encoding="utf-8")
    spec = load_spec(spec_file)
    assert spec.locale == "en"
    try:
        build(spec, database_url=f"sqlite:///{tmp_path}/s.db")
        assert check_inn("7707083894").message.startswith("INN 7707083894: check digit")
        (tmp_path / "ru").mkdir()
        spec_ru = load_spec(write_spec(tmp_path / "ru"))
        assert spec_ru.locale == "ru"  # not said: Russian
        build(spec_ru, database_url=f"sqlite:///{tmp_path}/s2.db")
        assert check_inn("7707083894").message.startswith("ИНН")
    finally:
        messages.set_locale("ru")


def test_hold_reasons_and_notifications_come_from_the_catalogue() -> None:
    from b24sync.flows.notify import field_words

    assert field_words(["BANK_RQ_ACC_NUM", "RQ_KPP", "UF_CRM_X"]) == "расчётный счёт, КПП, UF_CRM_X"
    assert t("notify.timeline.held", title="Контрагенты", target="ERP", reason="…").startswith("b24sync: запись ожидает")
    with use_locale("en"):
        assert field_words(["BANK_RQ_ACC_NUM"]) == "settlement account"


def test_no_manager_text_is_left_in_english_in_the_modules_that_speak_to_managers() -> None:
    """The phrases the issue quoted are gone from the code; they live only in the catalogue's English column."""
    for rel in ("src/b24sync/flows/notify.py", "src/b24sync/requisites/checks.py", "src/b24sync/flows/autofill.py",
                "src/b24sync/connectors/party/autofill.py", "src/b24sync/spec/render.py"):
        text = (ROOT / rel).read_text(encoding="utf-8")
        for phrase in ("is waiting", "looks like a typo", "check digit should", "could not be synced",
                       "was reverted", "Nothing was filled", "according to the state register", "| System |"):
            assert phrase not in text, (rel, phrase)


def test_rendered_document_is_russian_and_shows_filters_price_types_and_warehouses(tmp_path: Path) -> None:
    spec = load_spec(ROOT / "examples" / "demo.yaml", _env(ROOT / "examples" / "demo.yaml"))
    md = render_markdown(spec)
    assert "## Системы" in md and "Ведущая система" in md and "**Правила**" in md
    assert "Виды цен: «Розничная»" in md and "Склады: «Основной склад»" in md
    assert "Отбор в" in md or "Все записи объектов, без отбора" in md
    en = render_markdown(spec, locale="en")
    assert "## Systems" in en and "Price types: «Розничная»" in en and "Warehouses: «Основной склад»" in en
    # poll intervals in words (demo.yaml: `poll: 30s`, `{poll: 30s, side: crm}`), not the spec's "30s" / "(crm)"
    assert "опрос раз в 30 с" in md and "опрос раз в 30 с (в CRM)" in md, md
    assert "каждые" not in md and not re.search(r"\d+(s|m|h)\b", md.split("## Потоки")[0]), md
    assert "every 30 s" in en and "every 30 s (crm)" in en


def test_rendered_document_shows_a_filter(tmp_path: Path) -> None:
    from tests.flows.pair import write_spec

    f = write_spec(tmp_path)
    f.write_text(f.read_text(encoding="utf-8").replace(
        "erp: {object: counterparty}", "erp: {object: counterparty, options: {filter: \"ЭтоГруппа eq false\"}}"),
        encoding="utf-8")
    md = render_markdown(load_spec(f))
    assert "Отбор в ERP (`counterparty`): `ЭтоГруппа eq false`" in md


def _env(path: Path) -> dict[str, str]:
    import os
    import re

    return {**os.environ, **{v: f"x-{v}" for v in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", path.read_text("utf-8"))}}


@pytest.fixture(autouse=True)
def _reset_locale():  # type: ignore[no-untyped-def]
    yield
    messages.set_locale("ru")

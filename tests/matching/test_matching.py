"""Rules of the duplicate matcher (b24sync.matching), one test per rule, and the generated card sets."""

from __future__ import annotations

import pytest

from b24sync.matching import Policy, cluster, cluster_pairs, compare, make_card
from b24sync.matching.cards import inn_near, inn_status, normalize_address, normalize_phone
from b24sync.matching.names import similarity
from tests.matching.cardgen import generate, truth_pairs
from tests.matching.evaluate import evaluate

SUGGEST = Policy().suggest


def card(ref: str, name: str, **kw: object):  # type: ignore[no-untyped-def]
    return make_card(ref, name=name, **kw)


# ---- names -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("a", "b"), [
    ("ООО «Ромашка»", "Общество с ограниченной ответственностью \"Ромашка\""),
    ("ОАО «Ромашка»", "Открытое акционерное общество Ромашка"),
    ("ЗАО Ромашка", "Закрытое акционерное общество «Ромашка»"),
    ("ПАО «Ромашка»", "Публичное акционерное общество 'Ромашка'"),
    ("ИП Сидоров С.С.", "Индивидуальный предприниматель Сидоров Семён Семёнович"),
    ("АО Ромашка", "Акционерное общество «Ромашка»"),
])
def test_legal_form_short_and_long_are_one(a: str, b: str) -> None:
    assert similarity(a, b).score == 1.0


@pytest.mark.parametrize("b", ["000 «Ромашка»", "OOO Ромашка", "0OO Ромашка", "Poмашка", "POMAШKA", "ООО „Ромашка“",
                               "ООО 'Ромашка'.", "ООО «\"Ромашка\"»", "  ооо   ромашка ;", "Ромашка, ООО"])
def test_zeros_latin_letters_quotes_and_stray_punctuation_are_ignored(b: str) -> None:
    assert similarity("ООО «Ромашка»", b).score == 1.0


def test_yo_and_ye_are_one_letter() -> None:
    assert similarity("Ёлочка", "Елочка").score == 1.0


@pytest.mark.parametrize("b", ["Zolotaya Rybka", "Zolotaja Rybka", "Zolotaya Ry'bka", "Zolotaâ Rybka"])
def test_transliteration_schemes_are_one(b: str) -> None:
    assert similarity("Золотая рыбка", b).score == 1.0


def test_word_order_costs_nothing() -> None:
    assert similarity("Северный Порт", "Порт Северный").score == 1.0


@pytest.mark.parametrize(("a", "b"), [
    ("ТД Ромашка", "Торговый дом «Ромашка»"), ("СК Монолит", "Строительная компания Монолит"),
    ("ТК Вектор", "Транспортная компания «Вектор»"), ("НПО Энергия", "Научно-производственное объединение Энергия"),
    ("ПКФ Исток", "Производственно-коммерческая фирма Исток"),
])
def test_abbreviation_and_spelled_out_form_are_one(a: str, b: str) -> None:
    assert similarity(a, b).score == 1.0


@pytest.mark.parametrize("b", ["Рамашка", "Ромшка", "Ромаашка", "Рмоашка", "Ромашкв"])
def test_one_letter_typo_is_proposed(b: str) -> None:  # neighbouring key, dropped, doubled, swapped
    assert similarity("Ромашка", b).score >= SUGGEST


@pytest.mark.parametrize("b", ["Ромашка Казань", "Ромашка (филиал в г. Самара)", "Ромашка, г. Тула", "Ромашка СПб",
                               "Ромашка - филиал Коломна"])
def test_city_or_branch_word_appended_costs_nothing(b: str) -> None:
    assert similarity("ООО Ромашка", b).score == 1.0


@pytest.mark.parametrize("b", ["Сидоров С.С.", "С. С. Сидоров", "ИП Сидоров Семён Семёнович", "Семён Семёнович Сидоров",
                               "ИП Сидоров СС", "ИП С.С. Сидоров", "Индивидуальный предприниматель Сидоров С. С."])
def test_sole_trader_initials_and_full_name_are_one(b: str) -> None:
    assert similarity("ИП Сидоров Семён Семёнович", b).score >= SUGGEST


@pytest.mark.parametrize(("a", "b"), [
    ("ИП Сидоров С.С.", "ИП Сидоров А.С."), ("ИП Сидоров Семён Семёнович", "ИП Сидоров Сергей Сергеевич"),
    ("ИП Сидоров С.С.", "ИП Петров С.С."),
])
def test_sole_traders_with_other_initials_are_apart(a: str, b: str) -> None:
    assert similarity(a, b).score < SUGGEST


@pytest.mark.parametrize(("a", "b"), [
    ("Ромашка", "Ромашка Плюс"), ("Ромашка", "Ромашка-Сервис"), ("Альфа", "Альфа-Банк"), ("Север", "Северсталь"),
    ("Верный Город", "Северный Город"), ("Авангард", "Авангард-М"), ("Орион-2", "Орион-3"), ("Орион", "Орион 2"),
    ("Альфа Строй", "Альфа Трейд"), ("Ромашка Москва", "Ромашка Казань"), ("ГК Ромашка", "Ромашка"),
    ("ООО Ромашка", "ИП Ромашка"), ("Северный Порт", "Южный Порт"), ("Нева", "Нива"),
])
def test_hard_negatives_stay_apart(a: str, b: str) -> None:
    assert similarity(a, b).score < SUGGEST


# ---- INN, KPP and other evidence -------------------------------------------------------------------------------

INN_A, INN_B = "7707083893", "7736050003"  # valid check digits


def test_exact_inn_and_kpp_is_the_only_automatic_link() -> None:
    v = compare(card("a", "Ромашка", inn=INN_A, kpp="770701001"), card("b", "Совсем другое", inn=INN_A, kpp="770701001"))
    assert v.decision == "same"
    assert compare(card("a", "Ромашка"), card("b", "Ромашка")).decision == "suggest"  # identical names: a person decides


def test_same_inn_different_kpp_is_a_branch_not_a_duplicate() -> None:
    v = compare(card("a", "Ромашка", inn=INN_A, kpp="770701001"), card("b", "Ромашка", inn=INN_A, kpp="166001001"))
    assert v.decision == "branch"


def test_different_valid_inns_are_two_legal_entities_whatever_the_names() -> None:
    assert compare(card("a", "ООО Ромашка", inn=INN_A), card("b", "ООО Ромашка", inn=INN_B)).decision == "different"


def test_sole_trader_inn_has_12_digits() -> None:
    assert inn_status("500100732259")[0] == "valid" and inn_status("500100732258")[0] == "invalid"


def test_inn_typo_is_caught_by_the_check_digit_and_points_to_the_near_inn() -> None:
    typo = INN_A[:3] + str((int(INN_A[3]) + 1) % 10) + INN_A[4:]
    assert inn_status(typo)[0] == "invalid" and inn_near(INN_A, typo)
    swapped = INN_A[:4] + INN_A[5] + INN_A[4] + INN_A[6:]
    assert inn_near(INN_A, swapped)
    v = compare(card("a", "Ромашка Трейд", inn=INN_A), card("b", "Ромашка Трэйд", inn=typo))
    assert v.decision == "suggest" and any("одной цифрой" in e for e in v.evidence)


@pytest.mark.parametrize("inn", ["1234567890", "0000000000", "1111111111", "123456789012"])
def test_placeholder_inn_is_not_called_a_typo(inn: str) -> None:
    status, reason = inn_status(inn)
    assert status == "placeholder" and "заглушка" in reason and "контрольн" in reason


@pytest.mark.parametrize("raw", ["8 (495) 123-45-67", "+7 495 123 45 67", "84951234567", "7 (495) 1234567 доб. 123"])
def test_phones_compare_as_e164(raw: str) -> None:
    assert normalize_phone(raw) == "+74951234567"


def test_phone_email_domain_and_address_raise_a_weak_name_match() -> None:
    a = card("a", "Ромашка Трейд", phones="+7 495 123-45-67", emails="info@romashka.ru",
             address="г. Москва, ул. Ленина, д. 5")
    b = card("b", "Ромашка", phones="84951234567", emails="buh@romashka.ru", address="Москва, улица Ленина, дом 5, офис 3")
    assert similarity(a.name, b.name).score < SUGGEST
    v = compare(a, b)
    assert v.decision == "suggest" and any("телефон" in e for e in v.evidence) and any("адрес" in e for e in v.evidence)


def test_public_mail_domains_are_not_evidence() -> None:
    assert card("a", "X", emails="ivan@mail.ru").domains == frozenset()


def test_address_spellings_are_one() -> None:
    keys = {normalize_address(x).key for x in  # type: ignore[union-attr]
            ["г. Москва, ул. Ленина, д. 5", "123456, Москва, улица Ленина, дом 5, офис 12", "Ленина ул, 5"]}
    assert len(keys) == 1


def test_shared_phone_does_not_join_unrelated_names() -> None:
    v = compare(card("a", "Ромашка", phones="+74951234567"), card("b", "Гранит", phones="+74951234567"))
    assert v.decision == "new"


# ---- clusters --------------------------------------------------------------------------------------------------

def test_keyless_card_is_not_joined_to_two_legal_entities_and_a_warning_says_so() -> None:
    cards = [card("crm:1", "ООО Ромашка"), card("erp:1", "ООО «Ромашка»", inn=INN_A),
             card("erp:2", "Ромашка ООО", inn=INN_B)]
    res = cluster(cards)
    (c,) = res.clusters
    assert len(c.refs) == 2 and "crm:1" in c.refs
    assert c.warnings and "two legal entities" in c.warnings[0]


def test_branches_are_never_clustered_together() -> None:
    cards = [card("erp:1", "Ромашка (филиал Казань)", inn=INN_A, kpp="165501001"),
             card("erp:2", "Ромашка (филиал Самара)", inn=INN_A, kpp="631601001"), card("crm:1", "Ромашка")]
    pairs = cluster_pairs(cluster(cards).clusters)
    assert ("erp:1", "erp:2") not in pairs


def test_clusters_are_the_same_whatever_the_input_order() -> None:
    cards = generate("tuning", scale=0.1)
    from tests.matching.evaluate import to_cards

    mc = to_cards(cards)
    a = cluster_pairs(cluster(mc).clusters)
    b = cluster_pairs(cluster(list(reversed(mc))).clusters)
    assert a == b


# ---- the generated sets ----------------------------------------------------------------------------------------

def test_generator_is_deterministic_and_large_enough() -> None:
    a, b = generate("tuning"), generate("tuning")
    assert [x.name for x in a] == [x.name for x in b]
    assert len(a) >= 1000 and len(truth_pairs(a)) >= 500
    held = generate("heldout")
    assert len(held) >= 2000
    words = lambda cs: {w for c in cs if c.pattern == "base" for w in c.name.split()}  # noqa: E731
    assert {"ИП", "ООО"} <= words(a) & words(held)


@pytest.fixture(scope="module")
def tuning() -> dict:
    return evaluate(generate("tuning"))


def test_tuning_set_reaches_the_targets(tuning: dict) -> None:
    print(f"\ntuning: {tuning['cards']} cards, {tuning['true_pairs']} duplicate pairs; precision "
          f"{tuning['precision']:.3f}, recall {tuning['recall']:.3f}, automatic {tuning['auto_precision']:.3f}")
    assert tuning["recall"] >= 0.95 and tuning["precision"] >= 0.97
    assert tuning["auto_precision"] == 1.0 and tuning["branches_merged"] == 0


def test_every_pattern_is_covered_and_found(tuning: dict) -> None:
    per = tuning["per_pattern_recall"]
    for pattern in ("sole-trader", "city", "abbr-long", "nested", "zeros", "latin-form", "lookalike", "translit",
                    "typo", "order", "yo", "quotes", "punct", "form-long", "inn-typo", "conflict-keyless"):
        assert tuning["per_pattern_pairs"].get(pattern, 0) >= 3, pattern
        assert per[pattern] >= 0.9, (pattern, per[pattern])

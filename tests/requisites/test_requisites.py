"""Requisite validation: every published vector of erp-side.md §9.2, single-digit-typo properties, messages."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b24sync.engine.errors import ValidationError
from b24sync.requisites import (
    account_control_key,
    check_account,
    check_bic,
    check_email,
    check_inn,
    check_kpp,
    check_ogrn,
    check_ogrnip,
    check_phone,
    check_requisite_fields,
    inn_check_digits,
    ogrn_check_digit,
    ogrnip_check_digit,
    require_valid_account,
    require_valid_inn,
    require_valid_kpp,
    require_valid_phone,
)

# ---- erp-side.md §9.2, row by row

INN_VECTORS = [
    ("7707083893", True),  # Sberbank
    ("7736207543", True),  # Yandex
    ("6663003127", True),  # SKB Kontur
    ("1234567894", True),
    ("1234567895", False),
    ("123456789047", True),
    ("123456789037", False),
    ("773006366201", True),
    ("744800102483", True),
    ("500110126803", True),
    ("181310839110", False),  # Kazakh BIN
]
OGRN_VECTORS = [("1027700132195", True), ("1026605606620", True), ("1022200525819", True), ("1022500001328", False)]
OGRNIP_VECTORS = [("385768585948949", True), ("304500000000010", True)]
ACCOUNT_VECTORS = [
    ("40702810423000009235", "045004774", True),
    ("40702810423000009236", "045004774", False),
    ("30101810700000000187", "044525187", True),  # VTB correspondent account: prefix "0" + BIC[4:6]
    ("40102810445370000059", "017003983", True),  # single treasury account (ЕКС), non-04 BIC
    ("30101810400000000225", "044525225", True),  # §9.1 example
]


@pytest.fixture(autouse=True)
def _english_texts():  # type: ignore[no-untyped-def]
    """These tests pin the English catalogue (``locale: en``); the Russian default is proven in tests/test_messages.py."""
    from b24sync.messages import use_locale

    with use_locale("en"):
        yield


@pytest.mark.parametrize("value,valid", INN_VECTORS)
def test_inn_vectors(value, valid):
    assert check_inn(value).ok is valid


@pytest.mark.parametrize("value,valid", OGRN_VECTORS)
def test_ogrn_vectors(value, valid):
    assert check_ogrn(value).ok is valid


@pytest.mark.parametrize("value,valid", OGRNIP_VECTORS)
def test_ogrnip_vectors(value, valid):
    assert check_ogrnip(value).ok is valid


def test_ogrnip_where_stdnum_is_wrong():
    # §9.1 ⚠: remainder 10 → check digit 0; stdnum compares the bare remainder and rejects it.
    from stdnum.ru import ogrn as std

    assert int("30450000000001") % 13 == 10
    assert not std.is_valid("304500000000010")
    assert check_ogrnip("304500000000010").ok


@pytest.mark.parametrize("account,bic,valid", ACCOUNT_VECTORS)
def test_account_vectors(account, bic, valid):
    assert check_account(account, bic).ok is valid


def test_treasury_account_is_accepted_without_the_key():
    # §9.2: a real treasury account fails the key arithmetic — accepted, with a note.
    acc, bic = "03100643000000018500", "017003983"
    assert account_control_key(acc, bic) != acc[8]
    r = check_account(acc, bic)
    assert r.ok and "treasury" in r.message


def test_correspondent_account_uses_the_cash_centre_prefix():
    # With the client-account prefix (BIC digits 7–9) the VTB correspondent account would fail.
    acc, bic = "30101810700000000187", "044525187"
    digits = bic[6:9] + acc
    assert sum(int(d) * (7, 1, 3)[i % 3] for i, d in enumerate(digits)) % 10 != 0
    assert check_account(acc, bic).ok


def test_bic_without_04_prefix_is_accepted():
    for bic in ("004525988", "017003983", "024501901", "044525225"):
        assert check_bic(bic).ok, bic
    assert not check_bic("04452522").ok
    assert not check_bic("000000000").ok


def test_all_zero_inn_rejected():
    assert not check_inn("0000000000").ok  # passes the arithmetic, §9.1
    assert "all zeros" in check_inn("0000000000").message


# ---- messages a manager understands


def test_inn_typo_message_names_the_right_digit():
    r = check_inn("7707083894")
    assert not r.ok
    assert r.message == "INN 7707083894: check digit should be 3 — looks like a typo"
    r12 = check_inn("123456789037")
    assert "should be 47" in r12.message


def test_kpp_messages():
    assert check_kpp("77070101").message == "KPP 77070101: must be 9 characters, got 8"
    assert check_kpp("773601001").ok
    assert check_kpp("7707AB001").ok and check_kpp("7707ab001").value == "7707AB001"
    r = check_kpp("7707АВ001")  # Cyrillic А, В
    assert not r.ok and "Cyrillic" in r.message and "Latin" in r.message
    assert not check_kpp("77070100A").ok
    assert "first 4" in check_kpp("77A701001").message


def test_length_and_kind_messages():
    assert check_inn("77070838").message == "INN 77070838: must be 10 or 12 digits, got 8"
    assert "sole trader" in check_inn("773006366201", kind="legal").message
    assert "company" in check_inn("7707083893", kind="individual").message
    assert "digits only" in check_inn("77O7083893").message
    zero_led = "050010073" + inn_check_digits("050010073")
    assert check_inn(zero_led).ok and "leading zero" in check_inn(zero_led[1:]).message  # typed into Excel
    assert "OGRNIP" in check_ogrn("385768585948949").message
    assert "must start with 3" in check_ogrnip("485768585948949").message


def test_account_message_suggests_the_key():
    r = check_account("40702810423000009236", "045004774")
    expected = account_control_key("40702810423000009236", "045004774")
    assert f"should be {expected}" in r.message and "BIC 045004774" in r.message
    fixed = "40702810423000009236"[:8] + expected + "40702810423000009236"[9:]
    assert check_account(fixed, "045004774").ok
    assert "cannot be checked" in check_account("40702810423000009235", "12345").message


def test_require_raises_validation_error_with_reason():
    with pytest.raises(ValidationError) as e:
        require_valid_inn("7707083894")
    assert e.value.reason.startswith("INN 7707083894")
    assert e.value.detail["field"] == "INN"
    assert require_valid_inn(" 7707 083893 ") == "7707083893"
    assert require_valid_kpp("773601001") == "773601001"
    with pytest.raises(ValidationError):
        require_valid_account("40702810423000009236", "045004774")


def test_phones():
    assert check_phone("8 (495) 123-45-67").value == "+74951234567"
    assert check_phone("+7 916 123 45 67").value == "+79161234567"
    assert check_phone("9161234567").value == "+79161234567"
    assert check_phone("+49 30 1234567").value == "+49301234567"
    assert "10 digits" in check_phone("+7 916 123").message
    assert not check_phone("hello").ok
    with pytest.raises(ValidationError):
        require_valid_phone("")


def test_emails():
    assert check_email(" Ivan.Petrov@Example.RU ").value == "Ivan.Petrov@example.ru"
    assert check_email("info@почта.рф").ok
    for bad in ("ivan", "ivan@", "@example.ru", "ivan@@example.ru", "iv an@example.ru", "ivan@example",
                "ivan..p@example.ru", "ivan@-example.ru"):
        assert not check_email(bad).ok, bad


def test_requisite_fields_reports_only_failures():
    bad = check_requisite_fields({"RQ_INN": "7707083894", "RQ_KPP": "773601001", "RQ_BIK": "045004774",
                                  "RQ_ACC_NUM": "40702810423000009236", "RQ_OGRN": ""})
    assert [r.field for r in bad] == ["INN", "Account"]
    assert check_requisite_fields({"RQ_INN": "7707083893", "RQ_OGRN": "1027700132195"}) == []


# ---- properties: single-digit typos
#
# Accounts: weights 7,1,3 are coprime to 10, so EVERY single-digit change is caught (also in the BIC digits
# that form the prefix). INN/OGRN/OGRNIP reduce "mod 11 (13) then mod 10", so a change that moves the
# remainder between 0 and 10 (or 10–12 ↔ 0–2 for OGRNIP) keeps the same check digit: that blind spot is a
# property of the official algorithms. The tests below assert detection outside that blind spot and
# assert that, whenever a change passes, it is exactly such a collision.

digit = st.integers(0, 9)


def _mutations(value: str, pos: int, new: int) -> str | None:
    if int(value[pos]) == new:
        return None
    return value[:pos] + str(new) + value[pos + 1:]


@st.composite
def valid_inn10(draw):
    body = "".join(str(draw(digit)) for _ in range(9))
    return body + inn_check_digits(body)


@st.composite
def valid_inn12(draw):
    body = "".join(str(draw(digit)) for _ in range(10))
    return body + inn_check_digits(body)


def _inn10_remainder(v: str) -> int:
    return sum(int(d) * w for d, w in zip(v[:9], (2, 4, 10, 3, 5, 9, 4, 6, 8))) % 11


@settings(max_examples=300, deadline=None)
@given(valid_inn10(), st.integers(0, 9), digit)
def test_inn10_single_digit_change(inn, pos, new):
    mutated = _mutations(inn, pos, new)
    if mutated is None or set(mutated) == {"0"}:
        return
    assert check_inn(inn).ok
    if check_inn(mutated).ok:
        assert pos < 9 and {_inn10_remainder(inn), _inn10_remainder(mutated)} == {0, 10}


def _inn12_remainders(v: str) -> tuple[int, int]:
    r1 = sum(int(d) * w for d, w in zip(v[:10], (7, 2, 4, 10, 3, 5, 9, 4, 6, 8))) % 11
    r2 = sum(int(d) * w for d, w in zip(v[:11], (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8))) % 11
    return r1, r2


@settings(max_examples=300, deadline=None)
@given(valid_inn12(), st.integers(0, 11), digit)
def test_inn12_single_digit_change(inn, pos, new):
    mutated = _mutations(inn, pos, new)
    if mutated is None or set(mutated) == {"0"}:
        return
    assert check_inn(inn).ok
    if check_inn(mutated).ok:
        a, b = _inn12_remainders(inn), _inn12_remainders(mutated)
        assert pos < 11 and any({x, y} == {0, 10} for x, y in zip(a, b))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from("15"), st.lists(digit, min_size=11, max_size=11), st.integers(0, 12), digit)
def test_ogrn_single_digit_change(first, rest, pos, new):
    body = first + "".join(map(str, rest))
    ogrn = body + ogrn_check_digit(body)
    mutated = _mutations(ogrn, pos, new)
    if mutated is None or mutated[0] == "0":
        return
    assert check_ogrn(ogrn).ok
    if check_ogrn(mutated).ok:
        assert pos < 12 and {int(ogrn[:12]) % 11, int(mutated[:12]) % 11} == {0, 10}


@settings(max_examples=300, deadline=None)
@given(st.lists(digit, min_size=13, max_size=13), st.integers(1, 14), digit)
def test_ogrnip_single_digit_change(rest, pos, new):
    body = "3" + "".join(map(str, rest))
    ogrnip = body + ogrnip_check_digit(body)
    mutated = _mutations(ogrnip, pos, new)
    if mutated is None:
        return
    assert check_ogrnip(ogrnip).ok
    if check_ogrnip(mutated).ok:
        r1, r2 = int(ogrnip[:14]) % 13, int(mutated[:14]) % 13
        assert pos < 14 and r1 != r2 and r1 % 10 == r2 % 10


def test_the_blind_spot_is_real():
    # So the properties above are not vacuous: a concrete INN-10 typo the official algorithm cannot see.
    found = None
    for n in range(10_000, 200_000):
        body = f"{n:09d}"
        inn = body + inn_check_digits(body)
        if _inn10_remainder(inn) != 0:
            continue
        for pos in range(9):
            for d in "0123456789":
                m = inn[:pos] + d + inn[pos + 1:]
                if m != inn and _inn10_remainder(m) == 10:
                    found = (inn, m)
                    break
            if found:
                break
        if found:
            break
    assert found and check_inn(found[0]).ok and check_inn(found[1]).ok


@st.composite
def valid_account(draw):
    bic = draw(st.sampled_from(["045004774", "044525187", "044525225", "017003983", "004525988"]))
    bal = draw(st.sampled_from(["40702", "40802", "30101", "40102", "42301"]))
    rest = "".join(str(draw(digit)) for _ in range(11))
    acc = bal + "810" + "0" + rest
    key = account_control_key(acc, bic)
    return acc[:8] + key + acc[9:], bic


@settings(max_examples=400, deadline=None)
@given(valid_account(), st.integers(0, 19), digit)
def test_account_every_single_digit_change_fails(pair, pos, new):
    acc, bic = pair
    assert check_account(acc, bic).ok
    mutated = _mutations(acc, pos, new)
    if mutated is None or mutated.startswith("03"):
        return  # unchanged, or turned into a treasury account (no key by rule)
    cbr = ("30101", "30125", "40102")
    if (acc[:5] in cbr) != (mutated[:5] in cbr):
        return  # the typo moved the account into/out of the cash-centre group: a different prefix rule applies
    assert not check_account(mutated, bic).ok


@settings(max_examples=200, deadline=None)
@given(valid_account(), st.integers(0, 8), digit)
def test_account_with_a_typo_in_the_bic_prefix_fails(pair, pos, new):
    acc, bic = pair
    uses = range(4, 6) if acc[:5] in ("30101", "30125", "40102") else range(6, 9)
    if pos not in uses:
        return
    mutated_bic = _mutations(bic, pos, new)
    if mutated_bic is None:
        return
    assert not check_account(acc, mutated_bic).ok

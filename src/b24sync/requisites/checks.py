"""Checks for Russian requisites and contacts, with messages written for a sales manager (Russian by default,
English with the spec's ``locale: en``; the texts live in b24sync.messages).

Source of every rule: the ERP fact sheet, /work/shared/research/erp-side.md §9.1 (algorithms) and §9.2 (vectors).

* INN-10 / INN-12 and OGRN-13 check digits: python-stdnum's ``stdnum.ru.inn`` / ``stdnum.ru.ogrn`` ([STDNUM], §9.1).
* OGRNIP-15: written here, because stdnum compares ``mod 13`` without the final ``mod 10`` and so rejects valid
  numbers whose remainder is 10–12 (§9.1 ⚠, vector ``304500000000010``).
* KPP: ``^\\d{4}[0-9A-Z]{2}\\d{3}$`` — positions 5–6 may be capital Latin letters; no checksum (§9.1).
* BIC: 9 digits, no checksum, and the ``04`` prefix is NOT required (cash centres / treasury BICs such as
  ``017003983``; §9.1).
* Account control key: Bank of Russia letter 08.09.1997 No. 515 as summarised in §9.1 — 3-digit prefix + 20
  account digits, weights 7,1,3 repeated, sum ≡ 0 (mod 10). Prefix = BIC digits 7–9 for client accounts in a
  credit institution; ``"0" + BIC digits 5–6`` for accounts kept on the Bank of Russia's books (correspondent
  accounts 30101/30125 and single treasury accounts 40102); treasury accounts ``03…`` do not obey the key and are
  accepted without it (§9.1, §9.2 vector ``03100643000000018500``).
* Reject all-zero values (``0000000000`` passes the INN-10 arithmetic; §9.1 "Additional rules").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from stdnum.ru import inn as _std_inn
from stdnum.ru import ogrn as _std_ogrn

from b24sync.engine.errors import ValidationError
from b24sync.messages import either, label, t


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one check. ``value`` is the normalized value when ok (and the cleaned input otherwise)."""

    ok: bool
    value: str | None
    message: str = ""
    field: str = ""

    def __bool__(self) -> bool:
        return self.ok

    def require(self) -> str:
        if not self.ok:
            raise ValidationError(self.message, detail={"field": self.field, "value": self.value})
        return self.value or ""


def _ok(field: str, value: str, message: str = "") -> CheckResult:
    return CheckResult(True, value, message, field)


def _bad(field: str, value: str | None, message: str) -> CheckResult:
    return CheckResult(False, value, message, field)


_SPACES = re.compile(r"[\s\u00a0\-]+")


def _clean_digits(value: object) -> str:
    """Strip spaces, non-breaking spaces and dashes people paste from documents (``112-233 …``)."""
    if value is None:
        return ""
    return _SPACES.sub("", str(value))


def _format_problem(field: str, raw: str, expected_len: tuple[int, ...]) -> str | None:
    """A message for empty, non-digit, wrong-length and all-zero input, or None if the shape is fine."""
    lens = either(*(str(n) for n in expected_len))
    name = label(field)
    if not raw:
        return t("rq.empty_digits", field=name, lens=lens)
    bad = sorted({c for c in raw if not c.isdigit() or not c.isascii()})
    if bad:
        shown = ", ".join(repr(c) for c in bad[:3])
        return t("rq.not_digits", field=name, raw=raw, shown=shown)
    if len(raw) not in expected_len:
        hint = t("rq.lost_zero") if len(raw) + 1 in expected_len else ""
        return t("rq.wrong_length", field=name, raw=raw, lens=lens, n=len(raw), hint=hint)
    if set(raw) == {"0"}:
        return t("rq.all_zeros", field=name, raw=raw)
    return None


def _typo(field: str, raw: str, expected: str) -> str:
    return t("rq.typo_digit" if len(expected) == 1 else "rq.typo_digits", field=label(field), raw=raw, expected=expected)


# ---------------------------------------------------------------- INN


def inn_check_digits(first_digits: str) -> str:
    """Check digit(s) for the first 9 (INN-10) or first 10 (INN-12) digits (§9.1, via stdnum)."""
    if len(first_digits) == 9:
        return _std_inn.calc_company_check_digit(first_digits)
    if len(first_digits) == 10:
        return _std_inn.calc_personal_check_digits(first_digits)
    raise ValueError("INN check digits need the first 9 or 10 digits")


def check_inn(value: object, *, kind: str | None = None) -> CheckResult:
    """INN of a company (10 digits) or of a person / sole trader (12 digits).

    ``kind="legal"`` requires 10 digits, ``kind="individual"`` 12; None accepts both. Validate only Russian
    counterparties: foreign numbers (a Kazakh BIN) fail the INN-12 rule (§9.1).
    """
    raw = _clean_digits(value)
    lengths = {"legal": (10,), "individual": (12,)}.get(kind or "", (10, 12))
    problem = _format_problem("INN", raw, lengths)
    if problem:
        if kind == "legal" and len(raw) == 12 and raw.isdigit():
            problem += t("rq.inn12_is_person")
        elif kind == "individual" and len(raw) == 10 and raw.isdigit():
            problem += t("rq.inn10_is_company")
        return _bad("INN", raw, problem)
    if len(raw) == 10:
        expected = inn_check_digits(raw[:9])
        if raw[9] != expected:
            return _bad("INN", raw, _typo("INN", raw, expected))
    else:
        expected = inn_check_digits(raw[:10])
        if raw[10:] != expected:
            return _bad("INN", raw, _typo("INN", raw, expected))
    return _ok("INN", raw)


# ---------------------------------------------------------------- OGRN / OGRNIP


def ogrn_check_digit(first12: str) -> str:
    """OGRN: (first 12 digits as a number) mod 11 mod 10 (§9.1, via stdnum)."""
    return _std_ogrn.calc_check_digit(first12 + "0")


def ogrnip_check_digit(first14: str) -> str:
    """OGRNIP: last digit of ((first 14 digits as a number) mod 13) — written here, stdnum omits the final
    mod 10 (§9.1 ⚠; rule from ru.wikipedia as cited by stdnum, not re-verified against the FNS order)."""
    return str(int(first14) % 13 % 10)


def check_ogrn(value: object) -> CheckResult:
    """OGRN of a legal entity: 13 digits, first digit not 0 (1 or 5 in practice), check digit (§9.1)."""
    raw = _clean_digits(value)
    problem = _format_problem("OGRN", raw, (13,))
    if problem:
        if len(raw) == 15 and raw.isdigit():
            problem += t("rq.ogrn15_is_ogrnip")
        return _bad("OGRN", raw, problem)
    if raw[0] == "0":
        return _bad("OGRN", raw, t("rq.ogrn_starts_0", field=label("OGRN"), raw=raw))
    expected = ogrn_check_digit(raw[:12])
    if raw[12] != expected:
        return _bad("OGRN", raw, _typo("OGRN", raw, expected))
    return _ok("OGRN", raw)


def check_ogrnip(value: object) -> CheckResult:
    """OGRNIP of a sole trader: 15 digits starting with 3, check digit = last digit of (first 14 mod 13)."""
    raw = _clean_digits(value)
    problem = _format_problem("OGRNIP", raw, (15,))
    if problem:
        if len(raw) == 13 and raw.isdigit():
            problem += t("rq.ogrnip13_is_ogrn")
        return _bad("OGRNIP", raw, problem)
    if raw[0] != "3":
        # §9.1: first digit 3 for an OGRNIP (4 marks a registration record number, not the OGRNIP itself).
        return _bad("OGRNIP", raw, t("rq.ogrnip_starts_3", field=label("OGRNIP"), raw=raw, first=raw[0]))
    expected = ogrnip_check_digit(raw[:14])
    if raw[14] != expected:
        return _bad("OGRNIP", raw, _typo("OGRNIP", raw, expected))
    return _ok("OGRNIP", raw)


# ---------------------------------------------------------------- KPP

_KPP = re.compile(r"^\d{4}[0-9A-Z]{2}\d{3}$")
_CYR_LOOKALIKE = "АВЕКМНОРСТХ"


def check_kpp(value: object) -> CheckResult:
    """KPP: 9 characters ``NNNN PP XXX``; positions 5–6 digits or capital Latin letters (§9.1). No checksum.
    Sole traders have no KPP — do not call this for them (§9.1)."""
    raw = _clean_digits(value)
    name = label("KPP")
    if not raw:
        return _bad("KPP", raw, t("rq.kpp_empty", field=name))
    if len(raw) != 9:
        return _bad("KPP", raw, t("rq.kpp_length", field=name, raw=raw, n=len(raw)))
    up = raw[:4] + raw[4:6].upper() + raw[6:]
    if _KPP.match(up):
        if up == "000000000":
            return _bad("KPP", raw, t("rq.kpp_zeros", field=name, raw=raw))
        return _ok("KPP", up)
    if not (raw[:4].isdigit() and raw[:4].isascii()):
        return _bad("KPP", raw, t("rq.kpp_office", field=name, raw=raw))
    if not (raw[6:].isdigit() and raw[6:].isascii()):
        return _bad("KPP", raw, t("rq.kpp_tail", field=name, raw=raw))
    cyr = [c for c in raw[4:6] if c.upper() in _CYR_LOOKALIKE]
    hint = t("rq.kpp_cyrillic", char=cyr[0]) if cyr else ""
    return _bad("KPP", raw, t("rq.kpp_middle", field=name, raw=raw, hint=hint))


# ---------------------------------------------------------------- BIC and accounts


def check_bic(value: object) -> CheckResult:
    """BIC of a Russian bank: 9 digits, no checksum; any prefix (not only 04) is accepted (§9.1)."""
    raw = _clean_digits(value)
    problem = _format_problem("BIC", raw, (9,))
    if problem:
        return _bad("BIC", raw, problem)
    return _ok("BIC", raw)


_WEIGHTS = (7, 1, 3)
# Balance accounts that are positions on the Bank of Russia's books: prefix "0" + BIC digits 5–6 (§9.1).
_CBR_BOOK_PREFIXES = ("30101", "30125", "40102")
_TREASURY_PREFIX = "03"  # treasury accounts 03xxx do not obey the key (§9.1, 10/10 real pairs failed)


def _key_prefix(account: str, bic: str) -> str:
    if account.startswith(_CBR_BOOK_PREFIXES):
        return "0" + bic[4:6]
    return bic[6:9]


def _key_sum(digits23: str) -> int:
    return sum(int(d) * _WEIGHTS[i % 3] for i, d in enumerate(digits23))


def account_control_key(account: str, bic: str) -> str:
    """The control key (9th digit) the account should have with this BIC (§9.1, Bank of Russia No. 515)."""
    prefix = _key_prefix(account, bic)
    for k in "0123456789":
        if _key_sum(prefix + account[:8] + k + account[9:]) % 10 == 0:
            return k
    raise AssertionError("unreachable: weight 3 at the key position is coprime to 10")


def check_account(account: object, bic: object, *, field: str = "Account") -> CheckResult:
    """A 20-digit settlement or correspondent account checked with its bank's BIC (§9.1).

    Treasury accounts (``03…``) are accepted without the key check, because real ones do not obey it (§9.2).
    """
    raw = _clean_digits(account)
    problem = _format_problem(field, raw, (20,))
    if problem:
        return _bad(field, raw, problem)
    b = check_bic(bic)
    if not b.ok:
        return _bad(field, raw, t("rq.account_unchecked", field=label(field), raw=raw, why=b.message))
    if raw.startswith(_TREASURY_PREFIX):
        return _ok(field, raw, t("rq.account_treasury", field=label(field), raw=raw))
    if _key_sum(_key_prefix(raw, b.value or "") + raw) % 10 != 0:
        expected = account_control_key(raw, b.value or "")
        return _bad(
            field,
            raw,
            t("rq.account_key", field=label(field), raw=raw, bic=b.value, expected=expected),
        )
    return _ok(field, raw)


# ---------------------------------------------------------------- contacts


def check_phone(value: object, *, region: str = "RU") -> CheckResult:
    """A phone number normalized to E.164 (``+74951234567``); numbers without a country code are read as
    Russian (``8 495 …`` and ``495 …`` both work)."""
    raw = str(value or "").strip()
    if not raw:
        return _bad("Phone", raw, t("rq.phone_empty"))
    try:
        num = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return _bad("Phone", raw, t("rq.phone_unparsable", raw=raw))
    if not phonenumbers.is_valid_number(num):
        digits = len(phonenumbers.national_significant_number(num))
        hint = ""
        if num.country_code == 7 and digits != 10:
            hint = t("rq.phone_ru_digits", n=digits)
        return _bad("Phone", raw, t("rq.phone_invalid", raw=raw, hint=hint))
    return _ok("Phone", phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164))


# RFC 5321/5322 "dot-atom" syntax only (no quoted local parts, no IP-literal domains): what CRM users type.
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def check_email(value: object) -> CheckResult:
    """E-mail syntax (no DNS lookup). The domain is lower-cased; Cyrillic domains (``почта.рф``) are allowed."""
    raw = str(value or "").strip()
    if not raw:
        return _bad("E-mail", raw, t("rq.email_empty"))
    if raw.count("@") != 1:
        return _bad("E-mail", raw, t("rq.email_one_at", raw=raw))
    if any(c.isspace() for c in raw):
        return _bad("E-mail", raw, t("rq.email_spaces", raw=raw))
    local, domain = raw.split("@")
    if not local or len(local) > 64 or not _LOCAL.match(local):
        return _bad("E-mail", raw, t("rq.email_local", raw=raw))
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return _bad("E-mail", raw, t("rq.email_domain", raw=raw))
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(lbl) for lbl in labels) or labels[-1].isdigit():
        return _bad("E-mail", raw, t("rq.email_domain_example", raw=raw))
    if len(local) + 1 + len(ascii_domain) > 254:
        return _bad("E-mail", raw, t("rq.email_too_long", raw=raw))
    return _ok("E-mail", f"{local}@{domain.lower()}")


# ---------------------------------------------------------------- require_* and a whole requisite


def require_valid_inn(value: object, *, kind: str | None = None) -> str:
    return check_inn(value, kind=kind).require()


def require_valid_ogrn(value: object) -> str:
    return check_ogrn(value).require()


def require_valid_ogrnip(value: object) -> str:
    return check_ogrnip(value).require()


def require_valid_kpp(value: object) -> str:
    return check_kpp(value).require()


def require_valid_bic(value: object) -> str:
    return check_bic(value).require()


def require_valid_account(account: object, bic: object) -> str:
    return check_account(account, bic).require()


def require_valid_phone(value: object, *, region: str = "RU") -> str:
    return check_phone(value, region=region).require()


def require_valid_email(value: object) -> str:
    return check_email(value).require()


def check_requisite_fields(fields: dict) -> list[CheckResult]:
    """Check the Russian identifiers present in a Bitrix24 requisite / bank-detail dict (``RQ_INN``, ``RQ_KPP``,
    ``RQ_OGRN``, ``RQ_OGRNIP``, ``RQ_BIK``, ``RQ_ACC_NUM``, ``RQ_COR_ACC_NUM``; field names per
    /work/shared/research/bitrix24-rest.md, requisites). Empty fields are skipped; returns only failures."""
    out: list[CheckResult] = []

    def has(k: str) -> bool:
        return bool(str(fields.get(k) or "").strip())

    if has("RQ_INN"):
        out.append(check_inn(fields["RQ_INN"]))
    if has("RQ_KPP"):
        out.append(check_kpp(fields["RQ_KPP"]))
    if has("RQ_OGRN"):
        out.append(check_ogrn(fields["RQ_OGRN"]))
    if has("RQ_OGRNIP"):
        out.append(check_ogrnip(fields["RQ_OGRNIP"]))
    if has("RQ_BIK"):
        out.append(check_bic(fields["RQ_BIK"]))
        if has("RQ_ACC_NUM"):
            out.append(check_account(fields["RQ_ACC_NUM"], fields["RQ_BIK"], field="Account"))
        if has("RQ_COR_ACC_NUM"):
            out.append(check_account(fields["RQ_COR_ACC_NUM"], fields["RQ_BIK"], field="Correspondent account"))
    return [r for r in out if not r.ok]

"""The one place where b24sync checks Russian requisites (INN, KPP, OGRN, OGRNIP, BIC, accounts) and contacts
(phones, e-mail). Every other module imports from here; nobody re-implements a check digit.

Each ``check_*`` returns a :class:`CheckResult` (ok, normalized value, a message a manager understands);
each ``require_valid_*`` returns the normalized value or raises ``b24sync.engine.errors.ValidationError``.

Algorithms and test vectors: /work/shared/research/erp-side.md §9.1 and §9.2. See docs/requisites.md.
"""

from b24sync.requisites.checks import (
    CheckResult,
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
    require_valid_bic,
    require_valid_email,
    require_valid_inn,
    require_valid_kpp,
    require_valid_ogrn,
    require_valid_ogrnip,
    require_valid_phone,
)

__all__ = [
    "CheckResult",
    "account_control_key",
    "check_account",
    "check_bic",
    "check_email",
    "check_inn",
    "check_kpp",
    "check_ogrn",
    "check_ogrnip",
    "check_phone",
    "check_requisite_fields",
    "inn_check_digits",
    "ogrn_check_digit",
    "ogrnip_check_digit",
    "require_valid_account",
    "require_valid_bic",
    "require_valid_email",
    "require_valid_inn",
    "require_valid_kpp",
    "require_valid_ogrn",
    "require_valid_ogrnip",
    "require_valid_phone",
]

"""Canonical forms used for match keys and comparisons. Invalid identifiers are rejected with a message a
manager understands, so a record with a typo is held with its reason instead of creating a duplicate."""

from __future__ import annotations

import re
from typing import Any

from b24sync.engine.errors import ValidationError

_NON_DIGIT = re.compile(r"\D+")
_SPACES = re.compile(r"\s+")
_LEGAL_FORMS = re.compile(r"\b(ООО|ОАО|ЗАО|ПАО|АО|ИП|LLC|LTD|JSC|OOO|INC)\b\.?", re.IGNORECASE)
_QUOTES = re.compile(r"[\"'«»“”„]")


def normalize(kind: str | None, value: Any, *, field: str = "") -> Any:
    """The canonical form of one value; a list (a contact's phones, e-mails) gives the sorted distinct canonical
    forms of its non-empty items, so two lists holding the same values in any order or spelling compare equal."""
    if isinstance(value, (list, tuple, set)):
        return sorted({normalize(kind, v, field=field) for v in value if v is not None and str(v).strip()})
    s = str(value).strip()
    if kind is None or kind == "strip":
        return s
    if kind == "upper":
        return s.upper()
    if kind == "lower":
        return s.lower()
    if kind == "digits":
        return _NON_DIGIT.sub("", s)
    if kind == "inn":
        from b24sync.requisites import require_valid_inn

        return require_valid_inn(s)
    if kind == "phone":
        from b24sync.requisites import require_valid_phone

        return require_valid_phone(s)
    if kind == "email":
        from b24sync.requisites import require_valid_email

        return require_valid_email(s)
    if kind == "name":
        s = _QUOTES.sub(" ", s)
        s = _LEGAL_FORMS.sub(" ", s)
        return _SPACES.sub(" ", s).strip().casefold()
    raise ValidationError(f"unknown normalisation {kind!r} for `{field}`")


def checked_inn(value: Any, *, field: str = "") -> str:
    """An INN key: digits only, check digit(s) valid — whatever ``normalize`` the spec gives the field (``digits``
    or none), so an invalid INN never becomes a key, a lookup or a create. The reason never invites a fake fix."""
    from b24sync.matching.cards import inn_status

    digits = _NON_DIGIT.sub("", str(value))
    status, _ = inn_status(digits)
    if status != "valid":
        raise ValidationError(inn_reason(digits, status), detail={"field": field, "value": digits})
    return digits


def inn_reason(digits: str, status: str) -> str:
    """Never a fake fix: a placeholder is not "a typo", and a wrong check digit is not fixed by changing it."""
    from b24sync.messages import t

    if status == "placeholder":
        return t("il.inn_placeholder", inn=digits)
    if status in ("malformed", "absent"):
        return t("il.inn_malformed", inn=digits, n=len(digits))
    return t("il.inn_mistyped", inn=digits)

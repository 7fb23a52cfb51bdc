"""A company card as evidence: name, INN/KPP with their status, phones (E.164), e-mails and domains, address.

Everything is normalised once, when the card is built; comparisons (:mod:`b24sync.matching.score`) only compare.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import phonenumbers

from b24sync.matching.names import Name, analyse, fold, skeleton
from b24sync.requisites.checks import inn_check_digits

InnStatus = Literal["valid", "invalid", "placeholder", "malformed", "absent"]

# Free mail services: a shared domain there says nothing about the company (a corporate domain does).
PUBLIC_MAIL_DOMAINS = frozenset({
    "mail.ru", "bk.ru", "inbox.ru", "list.ru", "internet.ru", "yandex.ru", "ya.ru", "yandex.com", "yandex.by",
    "yandex.kz", "narod.ru", "rambler.ru", "lenta.ru", "autorambler.ru", "gmail.com", "googlemail.com",
    "outlook.com", "hotmail.com", "live.com", "icloud.com", "me.com", "yahoo.com", "mail.com", "proton.me",
    "protonmail.com", "aol.com", "qip.ru", "ngs.ru", "e1.ru", "pochta.ru", "km.ru",
})

_DIGITS = re.compile(r"\D+")


def inn_status(digits: str) -> tuple[InnStatus, str]:
    """The INN's status and a reason a person can act on (never a fake fix for a placeholder)."""
    if not digits:
        return "absent", ""
    if len(digits) not in (10, 12):
        return "malformed", f"ИНН {digits}: {len(digits)} цифр — у организации 10, у ИП и физлица 12"
    if len(set(digits)) == 1 or digits in ("1234567890", "0123456789", "123456789012", "9876543210") \
            or digits.startswith("00") or digits[:10] in ("1234567890",):
        return "placeholder", (f"ИНН {digits} — заглушка, а не номер: укажите настоящий ИНН контрагента "
                               "(его нельзя «исправить» по контрольной цифре)")
    if len(digits) == 10:
        ok = digits[9] == inn_check_digits(digits[:9])
    else:
        ok = digits[10:] == inn_check_digits(digits[:10])
    if ok:
        return "valid", ""
    return "invalid", f"ИНН {digits}: не сходится контрольная цифра — ИНН введён с ошибкой"


def inn_near(a: str, b: str) -> bool:
    """One digit wrong or two neighbouring digits swapped: the typos people make."""
    if len(a) != len(b) or a == b:
        return False
    diff = [i for i in range(len(a)) if a[i] != b[i]]
    if len(diff) == 1:
        return True
    return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]


def normalize_phone(raw: Any) -> str | None:
    s = str(raw or "").strip()
    if not s:
        return None
    s = re.sub(r"(доб|ext|вн)\.?\s*\d+\s*$", "", s, flags=re.IGNORECASE).strip()
    try:
        num = phonenumbers.parse(s, "RU")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(num):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: Any) -> str | None:
    s = str(raw or "").strip().lower()
    if s.startswith("mailto:"):
        s = s[7:]
    if s.count("@") != 1:
        return None
    local, domain = s.split("@")
    domain = domain.strip(". ")
    if not local or "." not in domain:
        return None
    return f"{local}@{domain}"


# ---- addresses ---------------------------------------------------------------------------------------------
_ADDR_TYPES = {
    "ул": "", "улица": "", "пр": "", "пр-т": "", "просп": "", "проспект": "", "пер": "", "переулок": "",
    "ш": "", "шоссе": "", "наб": "", "набережная": "", "пл": "", "площадь": "", "б-р": "", "бульвар": "",
    "бул": "", "проезд": "", "пр-д": "", "туп": "", "тупик": "", "мкр": "", "микрорайон": "", "аллея": "",
    "street": "", "st": "", "avenue": "", "ave": "", "prospekt": "", "ulitsa": "", "ul": "",
}
_ADDR_DROP = {"г", "город", "гор", "обл", "область", "край", "респ", "республика", "россия", "рф", "д", "дом",
              "стр", "строение", "корп", "корпус", "к", "оф", "офис", "кв", "пом", "помещение", "эт", "этаж", "литера",
              "лит", "р", "н", "район", "р-н", "россииская", "федерация", "российская"}
_HOUSE = re.compile(r"^\d+[а-яa-z]?$")


@dataclass(frozen=True)
class Address:
    street: str  # the street name's skeleton words, sorted
    house: str  # the first number after the street (the house)
    raw: str

    @property
    def key(self) -> str | None:
        return f"{self.street}|{self.house}" if self.street and self.house else None


def normalize_address(raw: Any) -> Address | None:
    """Street + house, spelled-out or abbreviated, with or without postcode, city, office: "г. Москва, ул. Ленина,
    д. 5, оф. 12" = "Ленина улица 5 Москва 123456"."""
    s = str(raw or "").strip()
    if not s:
        return None
    f = fold(s.replace("№", " "))
    words = [w for w in f.split() if not (w.isdigit() and len(w) == 6)]  # postcode
    street: list[str] = []
    house = ""
    from b24sync.matching.names import _CITIES  # the gazetteer of city names

    cities = {c for c in _CITIES if " " not in c}
    for w in words:
        if w in _ADDR_TYPES or w in _ADDR_DROP or w in cities:
            if house:
                break  # the street is behind us: "д 5 оф 12" — the office number is not the house
            continue
        if _HOUSE.match(w) and street:
            if not house:
                house = w
                continue
            break
        if house:
            break
        if not w.isdigit():
            street.append(skeleton(w)[0])
    if not street:
        return None
    return Address(" ".join(sorted(street)), house, s)


@dataclass
class Card:
    """One company record, normalised for matching. ``ref`` is unique across sides (``crm:12``, ``erp:…``)."""

    ref: str
    name: Name
    inn: str = ""
    inn_status: InnStatus = "absent"
    inn_problem: str = ""
    kpp: str = ""
    phones: frozenset[str] = frozenset()
    emails: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()  # corporate domains only
    address: Address | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def valid_inn(self) -> str | None:
        return self.inn if self.inn_status == "valid" else None

    @property
    def inn_key(self) -> str | None:
        """INN + KPP for branches (a company with a KPP), INN alone otherwise."""
        if self.valid_inn is None:
            return None
        return f"{self.inn}/{self.kpp}" if self.kpp else self.inn


def _many(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple, set, frozenset)):
        out: list[Any] = []
        for v in value:
            out += _many(v.get("VALUE") if isinstance(v, dict) else v)
        return out
    return [p for p in re.split(r"[;,]\s*|\s{2,}", str(value)) if p.strip()]


def make_card(ref: str, *, name: Any, inn: Any = None, kpp: Any = None, phones: Any = None, emails: Any = None,
              address: Any = None, **extra: Any) -> Card:
    digits = _DIGITS.sub("", str(inn or ""))
    status, problem = inn_status(digits)
    ph = frozenset(p for p in (normalize_phone(x) for x in _many(phones)) if p)
    em = frozenset(e for e in (normalize_email(x) for x in _many(emails)) if e)
    dom = frozenset(e.split("@")[1] for e in em) - PUBLIC_MAIL_DOMAINS
    kpp_s = re.sub(r"\s+", "", str(kpp or "")).upper()
    return Card(ref, analyse(str(name or "")), digits, status, problem, kpp_s if status == "valid" else kpp_s, ph, em,
                dom, normalize_address(address), dict(extra))

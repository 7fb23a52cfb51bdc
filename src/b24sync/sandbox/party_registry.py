"""A small fake state register (ЕГРЮЛ/ЕГРИП) shared by the DaData and Kontur.Focus sandboxes.

Only the two emulators import this; the connectors never do (docs/CONTRIBUTING.md). Check digits of the
generated numbers are computed here independently of ``b24sync.requisites`` (so the tests cross-check both).

Records:
* ``REAL`` — large Russian companies whose INN and OGRN are public (checksums verified by
  tests/party/test_sandbox_seed.py with the product validator). Names are their registered names; KPP, addresses,
  directors and branches are simplified for the emulation (KPP/addresses known for Sberbank, Yandex and SKB
  Kontur from erp-side.md §6/§9.2 sources; others are placeholders of the right shape) — do not treat them as
  reference data.
* synthetic records (names «ООО "Тест-…"») for the edge cases: liquidated, liquidating, bankrupt, reorganizing,
  an unknown status value, sole traders, a company with several branches (same INN, different KPP).
* ``generated(n)`` deterministic extra companies.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from starlette.requests import Request

# ---------------------------------------------------------------- independent check digit arithmetic


def _inn10(body9: str) -> str:
    w = (2, 4, 10, 3, 5, 9, 4, 6, 8)
    return body9 + str(sum(int(d) * k for d, k in zip(body9, w)) % 11 % 10)


def _inn12(body10: str) -> str:
    w1 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
    c1 = str(sum(int(d) * k for d, k in zip(body10, w1)) % 11 % 10)
    w2 = (3,) + w1
    c2 = str(sum(int(d) * k for d, k in zip(body10 + c1, w2)) % 11 % 10)
    return body10 + c1 + c2


def _ogrn(body12: str) -> str:
    return body12 + str(int(body12) % 11 % 10)


def _ogrnip(body14: str) -> str:
    return body14 + str(int(body14) % 13 % 10)


# ---------------------------------------------------------------- model


@dataclass
class Addr:
    zip: str
    region_code: str
    region: tuple[str, str, str]  # (short type, full type, name): ("г", "город", "Москва")
    street: tuple[str, str, str]
    house: str
    city: tuple[str, str, str] | None = None  # None for federal cities (Moscow, St Petersburg)


@dataclass
class Branch:
    kpp: str
    name: str
    addr: Addr
    since: date


@dataclass
class Entity:
    inn: str
    ogrn: str
    kind: str  # LEGAL | INDIVIDUAL
    full: str  # name without the legal form
    short: str
    opf: tuple[str, str, str]  # (code, full, short)
    kpp: str | None
    addr: Addr
    director: tuple[str, str] | None
    status: str  # DaData-style: ACTIVE, LIQUIDATING, LIQUIDATED, BANKRUPT, REORGANIZING, or anything
    registered: date
    liquidated: date | None = None
    fio: tuple[str, str, str] | None = None  # sole traders
    branches: list[Branch] = field(default_factory=list)
    real: bool = False
    quote_short: bool = True  # DaData writes ООО "ЯНДЕКС" but ПАО СБЕРБАНК (registered short names differ)

    @property
    def full_with_opf(self) -> str:
        if self.kind == "INDIVIDUAL":
            return f"{self.opf[1]} {self.full}"
        return f'{self.opf[1].upper()} "{self.full}"'

    @property
    def short_with_opf(self) -> str:
        if self.kind == "INDIVIDUAL":
            return f"{self.opf[2]} {self.full}"
        if self.quote_short and '"' not in self.short:
            return f'{self.opf[2]} "{self.short}"'
        return f"{self.opf[2]} {self.short}"


MSK = ("г", "город", "Москва")
SPB = ("г", "город", "Санкт-Петербург")
OOO = ("12300", "Общество с ограниченной ответственностью", "ООО")
PAO = ("12247", "Публичное акционерное общество", "ПАО")
AO = ("12267", "Непубличное акционерное общество", "АО")
IP = ("50102", "Индивидуальный предприниматель", "ИП")


def _a(zip_: str, street: tuple[str, str, str], house: str, region=MSK, code="77", city=None) -> Addr:
    return Addr(zip_, code, region, street, house, city)


def _ul(name: str) -> tuple[str, str, str]:
    return ("ул", "улица", name)


# (inn, ogrn, full name, short name, opf, kpp, address, director, registered)
_REAL_ROWS = [
    ("7707083893", "1027700132195", "СБЕРБАНК РОССИИ", "СБЕРБАНК", PAO, "773601001",
     _a("117312", _ul("Вавилова"), "19"), ("Греф Герман Оскарович", "ПРЕЗИДЕНТ, ПРЕДСЕДАТЕЛЬ ПРАВЛЕНИЯ"),
     date(1991, 6, 20)),
    ("7736050003", "1027700070518", "ГАЗПРОМ", "ГАЗПРОМ", PAO, "773601001",
     _a("197229", ("пр-кт", "проспект", "Лахтинский"), "2", SPB, "78"), None, date(1993, 2, 17)),
    ("7736207543", "1027700229193", "ЯНДЕКС", "ЯНДЕКС", OOO, "770401001",
     _a("119021", _ul("Льва Толстого"), "16"), None, date(2000, 9, 21)),
    ("6663003127", "1026605606620", 'ПРОИЗВОДСТВЕННАЯ ФИРМА "СКБ КОНТУР"', 'ПФ "СКБ КОНТУР"', AO, "668601001",
     _a("620017", ("пр-кт", "проспект", "Космонавтов"), "56", ("обл", "область", "Свердловская"), "66",
        ("г", "город", "Екатеринбург")), ("Мраморов Дмитрий Михайлович", "ГЕНЕРАЛЬНЫЙ ДИРЕКТОР"),
     date(1992, 3, 26)),
    ("7708004767", "1027700035769", "НЕФТЯНАЯ КОМПАНИЯ \"ЛУКОЙЛ\"", "ЛУКОЙЛ", PAO, None, None, None, date(1993, 4, 22)),
    ("7706107510", "1027700043502", "НЕФТЯНАЯ КОМПАНИЯ \"РОСНЕФТЬ\"", "НК \"РОСНЕФТЬ\"", PAO, None, None, None,
     date(1993, 12, 7)),
    ("7712040126", "1027700092661", "АЭРОФЛОТ - РОССИЙСКИЕ АВИАЛИНИИ", "АЭРОФЛОТ", PAO, None, None, None,
     date(1994, 6, 21)),
    ("7740000076", "1027700149124", "МОБИЛЬНЫЕ ТЕЛЕСИСТЕМЫ", "МТС", PAO, None, None, None, date(1993, 10, 28)),
    ("2309085638", "1032304945947", "МАГНИТ", "МАГНИТ", PAO, None, None, None, date(2003, 11, 12)),
    ("7702070139", "1027739609391", "БАНК ВТБ", "БАНК ВТБ", PAO, None, None, None, date(1990, 10, 17)),
    ("7708503727", "1037739877295", "РОССИЙСКИЕ ЖЕЛЕЗНЫЕ ДОРОГИ", "РЖД", AO, None, None, None, date(2003, 9, 23)),
    ("7707049388", "1027700198767", "РОСТЕЛЕКОМ", "РОСТЕЛЕКОМ", PAO, None, None, None, date(1993, 9, 23)),
    ("7710140679", "1027739642281", "ТБАНК", "ТБАНК", AO, None, None, None, date(1994, 1, 28)),
    ("7728168971", "1027700067328", "АЛЬФА-БАНК", "АЛЬФА-БАНК", AO, None, None, None, date(1991, 1, 3)),
    ("5504036333", "1025501701686", "ГАЗПРОМ НЕФТЬ", "ГАЗПРОМ НЕФТЬ", PAO, None, None, None, date(1995, 10, 6)),
    ("8401005730", "1028400000298", "ГОРНО-МЕТАЛЛУРГИЧЕСКАЯ КОМПАНИЯ \"НОРИЛЬСКИЙ НИКЕЛЬ\"",
     "ГМК \"НОРИЛЬСКИЙ НИКЕЛЬ\"", PAO, None, None, None, date(1997, 7, 4)),
    ("7812014560", "1027809169585", "МЕГАФОН", "МЕГАФОН", PAO, None, None, None, date(1993, 7, 15)),
    ("7713076301", "1027700166636", "ВЫМПЕЛ-КОММУНИКАЦИИ", "ВЫМПЕЛКОМ", PAO, None, None, None, date(1992, 9, 15)),
    ("7704217370", "1027739244741", "ИНТЕРНЕТ РЕШЕНИЯ", "ИНТЕРНЕТ РЕШЕНИЯ", OOO, None, None, None,
     date(1999, 12, 24)),
    ("7721546864", "1067746062449", "ВАЙЛДБЕРРИЗ", "ВАЙЛДБЕРРИЗ", OOO, None, None, None, date(2006, 1, 10)),
    ("7724490000", "1197746000000", "ПОЧТА РОССИИ", "ПОЧТА РОССИИ", AO, None, None, None, date(2019, 10, 1)),
]

_STREETS = ["Тверская", "Ленина", "Мира", "Садовая", "Лесная", "Заводская", "Новая", "Школьная", "Гагарина"]


def _placeholder_addr(inn: str) -> Addr:
    rnd = random.Random(inn)
    return _a(f"1{rnd.randint(0, 29999):05d}", _ul(rnd.choice(_STREETS)), str(rnd.randint(1, 99)))


def _real() -> list[Entity]:
    out = []
    for inn, ogrn, full, short, opf, kpp, addr, director, reg in _REAL_ROWS:
        out.append(Entity(inn, ogrn, "LEGAL", full, short, opf, kpp or inn[:4] + "01001",
                          addr or _placeholder_addr(inn), director, "ACTIVE", reg, real=True))
    sber = out[0]
    sber.quote_short = False
    # Branches share the INN and differ by KPP (erp-side.md §7.2, §11 item 1). KPPs here are placeholders.
    sber.branches = [
        Branch("773643001", "СРЕДНЕРУССКИЙ БАНК ПАО СБЕРБАНК", _a("109544", _ul("Большая Андроньевская"), "8"),
               date(2002, 11, 1)),
        Branch("784243001", "СЕВЕРО-ЗАПАДНЫЙ БАНК ПАО СБЕРБАНК", _a("191124", _ul("Красного Текстильщика"), "2",
                                                                      SPB, "78"), date(2002, 11, 1)),
        Branch("667143001", "УРАЛЬСКИЙ БАНК ПАО СБЕРБАНК", _a("620014", _ul("Куйбышева"), "67",
                                                                 ("обл", "область", "Свердловская"), "66",
                                                                 ("г", "город", "Екатеринбург")),
               date(2002, 11, 1)),
    ]
    return out


def _synthetic(n: int) -> tuple[str, str]:
    body = f"77{n:07d}"
    return _inn10(body), _ogrn(f"11777{n:07d}")


def _edge_cases() -> list[Entity]:
    e: list[Entity] = []
    inn, ogrn = _synthetic(1001)
    e.append(Entity(inn, ogrn, "LEGAL", "ТЕСТ-ЛИКВИДИРОВАНА", "ТЕСТ-ЛИКВИДИРОВАНА", OOO, inn[:4] + "01001",
                    _a("101000", _ul("Мясницкая"), "1"), ("Иванов Иван Иванович", "ЛИКВИДАТОР"), "LIQUIDATED",
                    date(2015, 3, 1), liquidated=date(2021, 6, 30)))
    inn, ogrn = _synthetic(1002)
    e.append(Entity(inn, ogrn, "LEGAL", "ТЕСТ-ЛИКВИДАЦИЯ", "ТЕСТ-ЛИКВИДАЦИЯ", OOO, inn[:4] + "01001",
                    _a("101000", _ul("Мясницкая"), "2"), ("Петров Пётр Петрович", "ЛИКВИДАТОР"), "LIQUIDATING",
                    date(2016, 4, 1)))
    inn, ogrn = _synthetic(1003)
    e.append(Entity(inn, ogrn, "LEGAL", "ТЕСТ-БАНКРОТ", "ТЕСТ-БАНКРОТ", OOO, inn[:4] + "01001",
                    _a("101000", _ul("Мясницкая"), "3"), None, "BANKRUPT", date(2012, 1, 10)))
    inn, ogrn = _synthetic(1004)
    e.append(Entity(inn, ogrn, "LEGAL", "ТЕСТ-РЕОРГАНИЗАЦИЯ", "ТЕСТ-РЕОРГАНИЗАЦИЯ", AO, inn[:4] + "01001",
                    _a("101000", _ul("Мясницкая"), "4"), None, "REORGANIZING", date(2010, 5, 5)))
    inn, ogrn = _synthetic(1005)
    e.append(Entity(inn, ogrn, "LEGAL", "ТЕСТ-ПРИОСТАНОВЛЕНА", "ТЕСТ-ПРИОСТАНОВЛЕНА", OOO, inn[:4] + "01001",
                    _a("101000", _ul("Мясницкая"), "5"), None, "SUSPENDED", date(2018, 2, 2)))
    inn, ogrn = _synthetic(1006)
    main = Entity(inn, ogrn, "LEGAL", "ТЕСТ-ФИЛИАЛЫ", "ТЕСТ-ФИЛИАЛЫ", OOO, inn[:4] + "01001",
                  _a("101000", _ul("Мясницкая"), "6"), ("Сидорова Анна Сергеевна", "ГЕНЕРАЛЬНЫЙ ДИРЕКТОР"),
                  "ACTIVE", date(2011, 7, 7))
    main.branches = [Branch(f"{r}{k}", f"ФИЛИАЛ ООО \"ТЕСТ-ФИЛИАЛЫ\" № {i}", _placeholder_addr(f"{inn}{i}"),
                            date(2013, 1, i)) for i, (r, k) in
                     enumerate([("7801", "02001"), ("6601", "02001"), ("5401", "02001")], start=1)]
    e.append(main)
    for i, (fio, status, liq) in enumerate([
        (("Кузнецов", "Алексей", "Владимирович"), "ACTIVE", None),
        (("Смирнова", "Ольга", None), "ACTIVE", None),
        (("Попов", "Сергей", "Николаевич"), "LIQUIDATED", date(2022, 9, 1)),
    ], start=1):
        inn12 = _inn12(f"77{i:08d}")
        ogrnip = _ogrnip(f"3187746{i:07d}")
        name = " ".join(p for p in fio if p)
        e.append(Entity(inn12, ogrnip, "INDIVIDUAL", name, name, IP, None,
                        _a("101000", _ul("Покровка"), str(i)), None, status, date(2018, 1, 15), liq, fio=fio))
    return e


def generated(n: int, seed: int = 24) -> list[Entity]:
    rnd = random.Random(seed)
    words = ["Альфа", "Вектор", "Гранит", "Дельта", "Заря", "Импульс", "Квант", "Луч", "Меридиан", "Орбита",
             "Прогресс", "Ресурс", "Сигма", "Темп", "Факел", "Эталон"]
    out = []
    for i in range(n):
        inn, ogrn = _synthetic(2000 + i)
        name = f"{rnd.choice(words)}-{rnd.choice(['Трейд', 'Строй', 'Сервис', 'Логистик', 'Снаб'])}"
        out.append(Entity(inn, ogrn, "LEGAL", name.upper(), name.upper(), OOO, inn[:4] + "01001",
                          _placeholder_addr(inn), (f"{rnd.choice(['Орлов', 'Волков', 'Зайцев'])} "
                                                   f"{rnd.choice(['Олег', 'Максим', 'Игорь'])} Андреевич",
                                                   "ГЕНЕРАЛЬНЫЙ ДИРЕКТОР"),
                          "ACTIVE", date(2005 + i % 18, 1 + i % 12, 1 + i % 28)))
    return out


def build_registry(n_generated: int = 20) -> list[Entity]:
    return _real() + _edge_cases() + generated(n_generated)


def address_line(a: Addr, with_zip: bool = True) -> str:
    parts = [a.zip] if with_zip else []
    parts.append(f"{a.region[0]} {a.region[2]}")
    if a.city:
        parts.append(f"{a.city[0]} {a.city[2]}")
    parts += [f"{a.street[0]} {a.street[2]}", f"д {a.house}"]
    return ", ".join(parts)


CONTROL_KEYS = ("daily_quota", "fail_rate", "latency", "used")


def add_control_route(app: Any, st: dict[str, Any], provider: str) -> None:
    """``POST /__sandbox/config`` (test control, not part of the provider's API): change quota and fault settings,
    reset the day's counter. Shared by the DaData and Focus emulators."""

    @app.post("/__sandbox/config")
    async def configure(request: Request) -> dict[str, Any]:
        data = await request.json()
        for k in CONTROL_KEYS:
            if k in data:
                st[k] = data[k]
        return {k: st[k] for k in (*CONTROL_KEYS, "requests")}

    configure.__doc__ = f"Test control (not part of {provider}): quota, faults, the day's counter."

"""Generator of company cards with a known answer, for measuring the duplicate matcher.

    generate("tuning")    # the set the matcher's rules and weights were tuned on
    generate("heldout")   # never looked at while tuning: other seed, other vocabulary, more variant operators

The answer comes from how each card was *built* (its ``entity``), never from b24sync's matcher, and the variant
operators below are written independently of ``b24sync.matching`` (their own transliteration tables, city list,
abbreviation list). The held-out split draws its company words, surnames, streets and domains from separate
lists, and adds operators the tuning split never uses (marked HELD-OUT ONLY), and stacks two or three variants on
one card more often — so a rule fitted to the tuning cards does not carry over for free.

Each card: ``ref``, ``name``, ``inn``, ``kpp``, ``phone``, ``email``, ``address``, ``entity`` (cards of one
entity are duplicates of each other), ``pattern`` (which variant made this card), ``group`` (hard-negative
family, if any).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

# ---- vocabularies, split so that held-out words are never seen while tuning -------------------------------------
_ROOTS = [
    "Ромашка", "Альфа", "Химпром", "Щукинский", "Яблоко", "Юпитер", "Ёлочка", "Жемчуг", "Цементник", "Эльбрус",
    "Хлебозавод", "Изюминка", "Медведь", "Пятёрочка", "Чайка", "Журавль", "Объединение", "Вьюга", "Зенит",
    "Кристалл", "Заря", "Восход", "Гефест", "Полюс", "Янтарь", "Юнона", "Ключевой", "Шоколадница", "Берёзка",
    "Рассвет", "Айсберг", "Целлюлоза", "Щит", "Хрусталь", "Ярославна", "Майский", "Тайфун", "Электрон",
    "Экспресс", "Фаворит", "Гармония", "Союз", "Дружба", "Родник", "Бриз", "Уралхим", "Сокол", "Каскад", "Мечта",
    "Радуга", "Лотос", "Вымпел", "Факел", "Импульс", "Интеграл", "Квант", "Магистраль", "Нептун", "Олимп",
    "Пегас", "Русич", "Спектр", "Стрела", "Титан", "Фортуна", "Эталон", "Агат", "Бастион", "Вертикаль",
    "Гранит", "Домострой", "Ермак", "Жарптица", "Звезда", "Исток", "Калина", "Лидер", "Меркурий", "Новатор",
    "Орбита", "Прогресс", "Рубин", "Сапфир", "Триумф", "Уют", "Феникс", "Хронос", "Цитадель", "Чемпион",
    "Шанс", "Эдельвейс", "Юность", "Якорь", "Аврора", "Берег", "Витязь", "Гелиос", "Держава", "Европа",
    "Жемчужина", "Зодиак", "Изумруд", "Кедр", "Ладога", "Малахит", "Надежда", "Оникс", "Пальмира", "Ресурс",
    "Северянка", "Талисман", "Урожай", "Флагман", "Хозяюшка", "Цветмет", "Черёмуха", "Штурвал", "Щедрость",
    "Этажерка", "Юрмала", "Ястреб", "Атлант", "Бизон", "Вектор", "Горизонт", "Дельта", "Енот", "Жасмин",
    "Зубр", "Иволга", "Кварц", "Лазурит", "Монолит", "Нарцисс", "Омега", "Парус", "Рябина", "Селена",
    "Тополь", "Ульяна", "Фиалка", "Хвоя", "Цапля", "Чибис", "Шмель", "Эврика", "Юла", "Ясень", "Арсенал",
    "Бенефит", "Вираж", "Гиперион", "Дюна", "Ельник", "Жёлудь", "Зарница", "Иртыш", "Коралл", "Лагуна",
]
_SECOND = ["Строй", "Трейд", "Сервис", "Логистик", "Агро", "Инвест", "Маркет", "Технологии", "Групп", "Плюс",
           "Снаб", "Пром", "Энерго", "Мебель", "Авто", "Медиа", "Софт", "Текстиль", "Фарм", "Транс", "Металл",
           "Оптторг", "Капитал", "Девелопмент", "Консалт", "Продукт", "Электро", "Нефть", "Газ", "Лес"]
_ADJ = [("Северный", "Южный"), ("Новый", "Старый"), ("Белый", "Чёрный"), ("Красный", "Зелёный"),
        ("Большой", "Малый"), ("Первый", "Второй"), ("Верхний", "Нижний"), ("Западный", "Восточный")]
_NOUN = ["Город", "Берег", "Мост", "Путь", "Век", "Дом", "Двор", "Ветер", "Лес", "Порт", "Край", "Стан"]
_SURNAMES = [
    "Сидоров", "Иванов", "Петров", "Смирнов", "Кузнецов", "Попов", "Васильев", "Соколов", "Михайлов", "Новиков",
    "Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов", "Егоров", "Павлов", "Козлов", "Степанов",
    "Николаев", "Орлов", "Андреев", "Макаров", "Никитин", "Захаров", "Зайцев", "Соловьёв", "Борисов", "Яковлев",
    "Григорьев", "Романов", "Воробьёв", "Сергеев", "Кузьмин", "Фролов", "Александров", "Дмитриев", "Королёв",
    "Гусев", "Киселёв", "Ильин", "Максимов", "Поляков", "Сорокин", "Виноградов", "Ковалёв", "Белов", "Медведев",
    "Антонов", "Тарасов", "Жуков", "Баранов", "Филиппов", "Комаров", "Давыдов", "Беляев", "Герасимов",
    "Богданов", "Осипов", "Сидоренко", "Матвеев", "Титов", "Марков", "Миронов", "Крылов", "Куликов", "Карпов",
    "Власов", "Мельников", "Денисов", "Гаврилов", "Тихонов", "Казаков", "Афанасьев", "Данилов", "Савельев",
    "Тимофеев", "Фомин", "Чернов", "Абрамов", "Мартынов", "Ефимов", "Федотов", "Щербаков", "Назаров", "Калинин",
    "Исаев", "Чернышёв", "Быков", "Маслов", "Родионов", "Коновалов", "Лазарев", "Воронин", "Климов", "Филатов",
]
_FIRST = [("Семён", "Семёнович"), ("Иван", "Иванович"), ("Пётр", "Петрович"), ("Сергей", "Сергеевич"),
          ("Андрей", "Андреевич"), ("Алексей", "Алексеевич"), ("Дмитрий", "Дмитриевич"), ("Михаил", "Михайлович"),
          ("Николай", "Николаевич"), ("Юрий", "Юрьевич"), ("Олег", "Олегович"), ("Виктор", "Викторович"),
          ("Геннадий", "Геннадьевич"), ("Борис", "Борисович"), ("Фёдор", "Фёдорович"), ("Егор", "Егорович"),
          ("Артём", "Артёмович"), ("Кирилл", "Кириллович"), ("Роман", "Романович"), ("Яков", "Яковлевич")]
_CITIES = ["Москва", "Казань", "Самара", "Новосибирск", "Екатеринбург", "Пермь", "Уфа", "Тюмень", "Омск",
           "Краснодар", "Воронеж", "Саратов", "Тула", "Рязань", "Ярославль", "Иркутск", "Томск", "Сочи",
           "Обнинск", "Коломна", "Серпухов", "Дубна", "Сызрань", "Миасс"]
_STREETS = ["Ленина", "Мира", "Гагарина", "Советская", "Пушкина", "Лесная", "Садовая", "Заводская", "Победы",
            "Кирова", "Строителей", "Молодёжная", "Центральная", "Школьная", "Набережная", "Чехова", "Горького",
            "Мичурина", "Комсомольская", "Октябрьская", "Первомайская", "Калинина", "Маяковского", "Луговая"]
_DOMAINS = ["ru", "com", "net", "рф", "su", "org"]
_PUBLIC = ["mail.ru", "yandex.ru", "gmail.com", "bk.ru", "list.ru", "inbox.ru", "rambler.ru"]
_ABBR = [("ТД", "Торговый дом"), ("СК", "Строительная компания"), ("ТК", "Транспортная компания"),
         ("НПО", "Научно-производственное объединение"), ("ПКФ", "Производственно-коммерческая фирма"),
         ("НПП", "Научно-производственное предприятие"), ("ГК", "Группа компаний"), ("ТПК",
         "Торгово-производственная компания")]
_FORMS = [("ООО", "Общество с ограниченной ответственностью", "LLC"), ("АО", "Акционерное общество", "JSC"),
          ("ЗАО", "Закрытое акционерное общество", "CJSC"), ("ОАО", "Открытое акционерное общество", "OJSC"),
          ("ПАО", "Публичное акционерное общество", "PJSC")]


def _split(items: list, split: str) -> list:
    """Every other item for tuning, the rest held out: the two splits share no word."""
    return items[0::2] if split == "tuning" else items[1::2]


# ---- INN -------------------------------------------------------------------------------------------------------
def _inn10(rng: random.Random) -> str:
    while True:
        d = f"{rng.randint(10, 99)}{rng.randint(0, 9_999_999):07d}"
        c = sum(int(x) * w for x, w in zip(d, (2, 4, 10, 3, 5, 9, 4, 6, 8), strict=True)) % 11 % 10
        inn = d + str(c)
        if len(set(inn)) > 2:
            return inn


def _inn12(rng: random.Random) -> str:
    d = f"{rng.randint(10, 99)}{rng.randint(0, 99_999_999):08d}"
    c1 = sum(int(x) * w for x, w in zip(d, (7, 2, 4, 10, 3, 5, 9, 4, 6, 8), strict=True)) % 11 % 10
    d += str(c1)
    c2 = sum(int(x) * w for x, w in zip(d, (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8), strict=True)) % 11 % 10
    return d + str(c2)


def _kpp(inn: str, rng: random.Random) -> str:
    return f"{inn[:4]}01{rng.randint(1, 999):03d}"


def _mistype_inn(inn: str, rng: random.Random) -> str:
    """One digit changed (so the check digit fails) or two neighbouring digits swapped."""
    from b24sync.requisites.checks import check_inn  # only to make sure the typo *is* detectable

    for _ in range(50):
        s = list(inn)
        if rng.random() < 0.7:
            i = rng.randrange(len(s) - 1)
            s[i] = str((int(s[i]) + rng.randint(1, 9)) % 10)
        else:
            i = rng.randrange(len(s) - 2)
            if s[i] == s[i + 1]:
                continue
            s[i], s[i + 1] = s[i + 1], s[i]
        t = "".join(s)
        if not check_inn(t):
            return t
    return inn[:-1] + str((int(inn[-1]) + 1) % 10)


# ---- transliteration schemes (the generator's own tables) ---------------------------------------------------
_T_COMMON = dict(zip("абвгдезиклмнопрстуф", "abvgdeziklmnoprstuf", strict=True))
_SCHEMES = {
    "passport": {**_T_COMMON, "ё": "e", "ж": "zh", "й": "i", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh",
                 "щ": "shch", "ъ": "ie", "ы": "y", "ь": "", "э": "e", "ю": "iu", "я": "ia"},
    "bgn": {**_T_COMMON, "ё": "yo", "ж": "zh", "й": "y", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh",
            "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya"},
    "gost-b": {**_T_COMMON, "ё": "yo", "ж": "zh", "й": "j", "х": "x", "ц": "cz", "ч": "ch", "ш": "sh",
               "щ": "shh", "ъ": "``", "ы": "y'", "ь": "`", "э": "e`", "ю": "yu", "я": "ya"},
    "adhoc": {**_T_COMMON, "ё": "e", "ж": "zh", "й": "y", "х": "h", "ц": "c", "ч": "ch", "ш": "sh", "щ": "sch",
              "ъ": "", "ы": "i", "ь": "", "э": "e", "ю": "ju", "я": "ja"},
    # HELD-OUT ONLY: ISO 9 with diacritics, and the "Telegram" style people type
    "iso9": {**_T_COMMON, "ё": "ë", "ж": "ž", "й": "j", "х": "h", "ц": "c", "ч": "č", "ш": "š", "щ": "ŝ",
             "ъ": "ʺ", "ы": "y", "ь": "ʹ", "э": "è", "ю": "û", "я": "â"},
    "chat": {**_T_COMMON, "ё": "yo", "ж": "j", "й": "i", "х": "h", "ц": "tc", "ч": "ch", "ш": "sh", "щ": "sh",
             "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya"},
}


def _translit(s: str, scheme: str) -> str:
    t = _SCHEMES[scheme]
    out = []
    for ch in s:
        low = ch.lower()
        if low in t:
            r = t[low]
            out.append(r.capitalize() if ch.isupper() and r else r)
        else:
            out.append(ch)
    return "".join(out)


_NEIGHBOURS = {}
for _row in ("йцукенгшщзхъ", "фывапролджэ", "ячсмитьбю"):
    for _i, _c in enumerate(_row):
        _NEIGHBOURS[_c] = (_row[_i - 1] if _i else "") + (_row[_i + 1] if _i + 1 < len(_row) else "")
_LOOK = {"а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "х": "x", "у": "y", "к": "k", "м": "m", "т": "t",
         "А": "A", "Е": "E", "О": "O", "Р": "P", "С": "C", "Х": "X", "К": "K", "М": "M", "Т": "T", "В": "B", "Н": "H"}


def _typo(word: str, rng: random.Random, kind: str, *, first: bool = False) -> str:
    """One typo in a word of 5+ letters, away from the first letter (HELD-OUT ONLY: ``first=True`` allows it)."""
    if len(word) < 5:
        return word
    lo = 0 if first else 1
    i = rng.randrange(lo, len(word) - 1)
    c = word[i]
    if kind == "neighbour":
        nb = _NEIGHBOURS.get(c.lower(), "")
        if not nb:
            return word[:i] + word[i + 1:]
        r = rng.choice(nb)
        return word[:i] + (r.upper() if c.isupper() else r) + word[i + 1:]
    if kind == "dropped":
        return word[:i] + word[i + 1:]
    if kind == "doubled":
        return word[:i] + c + word[i:]
    if kind == "swapped":
        if word[i] == word[i + 1]:
            return word[:i] + word[i + 1:]
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    raise ValueError(kind)


@dataclass
class Card:
    ref: str
    name: str
    inn: str
    kpp: str
    phone: str
    email: str
    address: str
    entity: str
    pattern: str
    group: str = ""


@dataclass
class _Company:
    core: str  # the name without form or quotes
    form: tuple[str, str, str] | None  # (short, long, english) or None for a sole trader
    person: tuple[str, str, str] | None  # surname, first, patronymic (sole traders)
    abbr: tuple[str, str] | None
    inn: str
    kpp: str
    phone: str
    email: str
    address: tuple[str, str, str]  # city, street, house


class _Gen:
    def __init__(self, split: str, seed: int) -> None:
        self.split = split
        self.held = split == "heldout"
        self.rng = random.Random(seed)
        self.roots = _split(_ROOTS, split)
        self.surnames = _split(_SURNAMES, split)
        self.streets = _split(_STREETS, split)
        self.cards: list[Card] = []
        self.n = 0
        self.used_names: set[str] = set()

    # -- building blocks
    def ref(self) -> str:
        self.n += 1
        return f"{'crm' if self.rng.random() < 0.6 else 'erp'}:{self.n}"

    def phone(self) -> str:
        return f"+7{self.rng.choice(['495', '499', '812', '843', '846', '383', '343', '912', '926', '903'])}" \
               f"{self.rng.randint(1_000_000, 9_999_999)}"

    def phone_variant(self, p: str) -> str:
        n = p[2:]
        r = self.rng.random()
        if r < 0.3:
            return f"8 ({n[:3]}) {n[3:6]}-{n[6:8]}-{n[8:]}"
        if r < 0.55:
            return f"+7 {n[:3]} {n[3:6]} {n[6:8]} {n[8:]}"
        if r < 0.75:
            return f"8{n}"
        if self.held:  # HELD-OUT ONLY: an extension, or 7 without +
            return f"7 ({n[:3]}) {n[3:]} доб. {self.rng.randint(100, 999)}" if r < 0.9 else f"7{n}"
        return p

    def address(self) -> tuple[str, str, str]:
        return (self.rng.choice(_CITIES), self.rng.choice(self.streets), str(self.rng.randint(1, 180)))

    def address_text(self, a: tuple[str, str, str], *, variant: bool) -> str:
        city, street, house = a
        if not variant:
            return f"г. {city}, ул. {street}, д. {house}"
        r = self.rng.random()
        if r < 0.3:
            return f"{self.rng.randint(100000, 699999)}, {city}, улица {street}, дом {house}, офис {self.rng.randint(1, 400)}"
        if r < 0.6:
            return f"{city} г, {street} ул, {house}"
        if r < 0.8 or not self.held:
            return f"Россия, {city}, ул {street} д{house}"
        return f"{street} ул., д. {house}, стр. 2, г. {city}"  # HELD-OUT ONLY: building number after the house

    def email(self, core: str) -> str:
        local = self.rng.choice(["info", "office", "buh", "sales", "zakaz", "mail", "director"])
        if self.rng.random() < 0.4:
            return f"{core.lower()}{self.rng.randint(1, 99)}@{self.rng.choice(_PUBLIC)}"
        dom = _translit(core, "bgn").lower().replace("'", "").replace(" ", "-")
        return f"{local}@{dom}.{self.rng.choice(_DOMAINS[:3])}"

    @staticmethod
    def _norm(core: str) -> str:
        return core.lower().replace(" ", "").replace("-", "").replace("ё", "е")

    def fresh(self, core: str) -> bool:
        """Claim a name for one company (hard negatives must not reuse a duplicate's name by accident; "Факел
        Медиа" and "Факел-Медиа" are one name)."""
        if self._norm(core) in self.used_names:
            return False
        self.used_names.add(self._norm(core))
        return True

    def new_core(self) -> str:
        for _ in range(1000):
            r = self.rng.random()
            if r < 0.5:
                core = self.rng.choice(self.roots)
            elif r < 0.8:
                core = f"{self.rng.choice(self.roots)}{self.rng.choice(['', ' ', '-'])}{self.rng.choice(_SECOND)}"
            elif r < 0.9:
                a, _ = self.rng.choice(_ADJ)
                core = f"{a} {self.rng.choice(_NOUN)}"
            else:
                core = f"{self.rng.choice(self.roots)} {self.rng.choice(self.roots)}"
            if self.fresh(core):
                return core
        raise RuntimeError("vocabulary exhausted")

    def company(self, *, ip: bool = False, core: str | None = None) -> _Company:
        if ip:
            first, patr = self.rng.choice(_FIRST)
            sur = self.rng.choice(self.surnames)
            for _ in range(200):
                if self.fresh(f"ip:{sur}"):
                    break
                sur, (first, patr) = self.rng.choice(self.surnames), self.rng.choice(_FIRST)
            else:  # surnames exhausted: a double-barrelled one
                sur = f"{sur}-{self.rng.choice(self.surnames)}"
                self.fresh(f"ip:{sur}")
            return _Company("", None, (sur, first, patr), None, _inn12(self.rng), "", self.phone(), "",
                            self.address())
        core = core or self.new_core()
        form = self.rng.choices(_FORMS, weights=[70, 12, 6, 6, 6])[0]
        abbr = self.rng.choice(_ABBR) if self.rng.random() < 0.15 else None
        inn = _inn10(self.rng)
        return _Company(core, form, None, abbr, inn, _kpp(inn, self.rng), self.phone(), self.email(core),
                        self.address())

    # -- how names are written
    def title(self, c: _Company, ops: list[str]) -> str:
        if c.person is not None:
            return self.ip_title(c, ops)
        core = c.core
        if "yo" in ops:
            core = core.replace("ё", "е").replace("Ё", "Е") if "ё" in core.lower() else core
        if "order" in ops and " " in core:
            w = core.split()
            core = " ".join(w[1:] + w[:1])
        if "typo" in ops or "typo-first" in ops or "typo2" in ops:
            words = core.split()
            idx = max(range(len(words)), key=lambda i: len(words[i]))
            kind = self.rng.choice(["neighbour", "dropped", "doubled", "swapped"])
            words[idx] = _typo(words[idx], self.rng, kind, first="typo-first" in ops)
            if "typo2" in ops and len(words[idx]) >= 10:
                words[idx] = _typo(words[idx], self.rng, self.rng.choice(["neighbour", "dropped"]))
            core = " ".join(words)
        if "lookalike" in ops:
            core = "".join(_LOOK[ch] if ch in _LOOK and self.rng.random() < 0.35 else ch for ch in core)
        if "join" in ops and " " in core:
            core = core.replace(" ", "")
        if "hyphen" in ops and " " in core:
            core = core.replace(" ", "-")
        translit = next((o.split(":")[1] for o in ops if o.startswith("translit:")), None)
        if translit:
            core = _translit(core, translit)
        if c.abbr:
            short, long = c.abbr
            core = f"{long} {core}" if "abbr-long" in ops else core if "abbr-drop" in ops else f"{short} {core}"
        # quotes
        q = "«»"
        if "quotes" in ops:
            q = self.rng.choice(['""', "''", "“”", "„“" if self.held else '""', "  "])
        quoted = f"{q[0]}{core}{q[1]}".strip() if q.strip() else core
        if "nested" in ops:
            quoted = f"«{c.abbr[0] if c.abbr else 'ТД'} \"{core}\"»" if c.abbr else f"«\"{core}\"»"
        form_s, form_l, form_e = c.form  # type: ignore[misc]
        if "form-long" in ops:
            form = form_l
        elif "form-en" in ops or translit:
            form = form_e if self.rng.random() < 0.7 else {"ООО": "OOO", "АО": "AO", "ЗАО": "ZAO", "ОАО": "OAO",
                                                            "ПАО": "PAO"}[form_s]
        elif "zeros" in ops:
            form = form_s.replace("О", "0") if "О" in form_s else form_s
        elif "latin-form" in ops:
            form = "".join(_LOOK.get(ch, ch) for ch in form_s)
        else:
            form = form_s
        if "no-form" in ops:
            name = quoted
        elif "form-after" in ops or (translit and self.rng.random() < 0.5):
            name = f"{quoted}, {form}" if self.rng.random() < 0.5 else f"{quoted} {form}"
        else:
            name = f"{form} {quoted}"
        if "city" in ops:
            city = c.address[0]
            style = self.rng.random()
            if self.held and style < 0.2:
                name = f"{name} (филиал в г.{city})"  # HELD-OUT ONLY: no space after "г."
            elif style < 0.4:
                name = f"{name} {city}"
            elif style < 0.6:
                name = f"{name} - {city}"
            elif style < 0.8:
                name = f"{name} (филиал {city})"
            else:
                name = f"{name}, г. {city}"
        if "case" in ops:
            name = self.rng.choice([name.upper(), name.lower()])
        if "punct" in ops:
            name = self.rng.choice([f"{name}.", f" {name} ", name.replace(" ", "  "), f"{name};", f"{name} ,"])
        return name

    def ip_title(self, c: _Company, ops: list[str]) -> str:
        sur, first, patr = c.person  # type: ignore[misc]
        if "typo" in ops:
            sur = _typo(sur, self.rng, self.rng.choice(["neighbour", "dropped", "doubled", "swapped"]))
        if "yo" in ops:
            sur, first, patr = (x.replace("ё", "е") for x in (sur, first, patr))
        styles = ["full", "initials", "initials-first", "initials-spaced", "name-first"]
        if self.held:
            styles += ["long-form", "no-patronymic", "initials-nospace"]  # HELD-OUT ONLY
        style = next((o.split(":")[1] for o in ops if o.startswith("ip:")), "full")
        ip = "" if "no-form" in ops else "ИП "
        i1, i2 = first[0], patr[0]
        body = {
            "full": f"{sur} {first} {patr}",
            "initials": f"{sur} {i1}.{i2}.",
            "initials-first": f"{i1}.{i2}. {sur}",
            "initials-spaced": f"{i1}. {i2}. {sur}",
            "name-first": f"{first} {patr} {sur}",
            "long-form": f"{sur} {i1}. {i2}.",
            "no-patronymic": f"{sur} {first}",
            "initials-nospace": f"{sur} {i1}{i2}",
        }[style if style in styles else "full"]
        if style == "long-form" and ip:
            ip = "Индивидуальный предприниматель "
        name = f"{ip}{body}"
        if "translit:passport" in ops:
            name = _translit(name, "passport").replace("ИП", "IP")
        if "case" in ops:
            name = name.upper()
        return name

    def add(self, c: _Company, entity: str, pattern: str, ops: list[str], *, with_inn: bool, group: str = "",
            share: float = 0.4, inn: str | None = None, kpp: str | None = None) -> Card:
        r = self.rng
        card = Card(self.ref(), self.title(c, ops),
                    inn if inn is not None else (c.inn if with_inn else ""),
                    kpp if kpp is not None else (c.kpp if with_inn and c.kpp and r.random() < 0.8 else ""),
                    self.phone_variant(c.phone) if r.random() < share else "",
                    c.email if c.email and r.random() < share * 0.8 else "",
                    self.address_text(c.address, variant=r.random() < 0.6) if r.random() < share else "",
                    entity, pattern, group)
        self.cards.append(card)
        return card

    # -- the patterns
    def duplicates(self, n_companies: int) -> None:
        single_ops = ["quotes", "case", "form-long", "form-after", "no-form", "yo", "zeros", "latin-form",
                      "lookalike", "order", "typo", "city", "punct", "nested", "abbr-long", "form-en",
                      "translit:passport", "translit:bgn", "translit:gost-b", "translit:adhoc", "join", "hyphen"]
        if self.held:  # HELD-OUT ONLY operators
            single_ops += ["translit:iso9", "translit:chat", "typo-first", "typo2", "abbr-drop"]
        ip_styles = ["initials", "initials-first", "initials-spaced", "name-first", "full"]
        if self.held:
            ip_styles += ["long-form", "no-patronymic", "initials-nospace"]
        for k in range(n_companies):
            ent = f"e{k}"
            ip = self.rng.random() < 0.18
            c = self.company(ip=ip)
            base_inn = self.rng.random() < 0.5
            self.add(c, ent, "base", ["ip:full"] if ip else [], with_inn=base_inn, share=0.9)
            n_dup = self.rng.choices([0, 1, 2, 3], weights=[25, 50, 18, 7])[0]
            for _ in range(n_dup):
                if ip:
                    ops = [f"ip:{self.rng.choice(ip_styles)}"]
                    if self.rng.random() < 0.3:
                        ops.append(self.rng.choice(["no-form", "typo", "yo", "case"]))
                    pattern = "sole-trader"
                else:
                    stack = self.rng.choices([1, 2, 3], weights=[55, 35, 10] if self.held else [70, 25, 5])[0]
                    ops = self.rng.sample(single_ops, stack)
                    if any(o in ops for o in ("join", "hyphen")) and " " not in c.core:
                        ops = [o for o in ops if o not in ("join", "hyphen")] or ["quotes"]
                    if "lookalike" in ops and any(o.startswith("translit:") for o in ops):
                        ops.remove("lookalike")  # Latin look-alikes in a word then transliterated: nobody types that
                        ops = ops or ["quotes"]
                    if sum(o.startswith("translit:") for o in ops) > 1:
                        ops = [o for o in ops if not o.startswith("translit:")] + [ops[0]] \
                            if ops[0].startswith("translit:") else [o for o in ops if not o.startswith("translit:")]
                        ops = ops or ["case"]
                    pattern = "+".join(sorted(o.split(":")[0] for o in ops))
                with_inn = self.rng.random() < 0.2  # most duplicates carry no INN
                if with_inn and not base_inn:
                    with_inn = False
                if self.rng.random() < 0.08 and base_inn:  # the INN typed wrong on the duplicate
                    self.add(c, ent, "inn-typo", ops, with_inn=False, inn=_mistype_inn(c.inn, self.rng), kpp="")
                    continue
                self.add(c, ent, pattern if not with_inn else "inn", ops, with_inn=with_inn, share=0.45)

    def hard_negatives(self, n: int) -> None:
        for k in range(n):
            kind = self.rng.choice(["added-word", "number", "one-word", "other-city", "other-form", "same-name-inn",
                                    "holding", "branches", "ip-initials", "adjective"])
            g = f"{kind}:{k}"
            if kind == "added-word":
                c = self.company()
                extra = self.rng.choice(["Плюс", "Сервис", "Трейд", "Групп", "Холдинг", "М", "Про", "Эксперт",
                                         "Строй", "Юг", "Регион", "Лайн"])
                d = self.company(core=f"{c.core}{self.rng.choice([' ', '-'])}{extra}")
                self.add(c, f"n{k}a", "neg", [], with_inn=self.rng.random() < 0.5, group=g)
                self.add(d, f"n{k}b", "neg", [], with_inn=self.rng.random() < 0.5, group=g)
            elif kind == "number":
                core = self.new_core()
                a, b = self.rng.sample(range(1, 12), 2)
                for x, num in (("a", a), ("b", b)):
                    c = self.company(core=f"{core}-{num}" if self.rng.random() < 0.5 else f"{core} {num}")
                    self.add(c, f"n{k}{x}", "neg", [], with_inn=self.rng.random() < 0.4, group=g)
            elif kind == "one-word":
                root = self.rng.choice(self.roots)
                s1, s2 = self.rng.sample(_SECOND, 2)
                if not (self.fresh(f"{root} {s1}") and self.fresh(f"{root} {s2}")):
                    continue
                for x, s in (("a", s1), ("b", s2)):
                    core = f"{root} {s}"
                    self.add(self.company(core=core), f"n{k}{x}", "neg", [], with_inn=self.rng.random() < 0.4,
                             group=g)
            elif kind == "other-city":
                core = self.new_core()
                c1, c2 = self.rng.sample(_CITIES, 2)
                for x, city in (("a", c1), ("b", c2)):
                    c = self.company(core=core)
                    c.address = (city, c.address[1], c.address[2])
                    self.add(c, f"n{k}{x}", "neg", ["city"], with_inn=self.rng.random() < 0.6, group=g)
            elif kind == "other-form":
                core = self.new_core()
                a = self.company(core=core)
                b = self.company(core=core)
                while b.form == a.form:
                    b.form = self.rng.choice(_FORMS)
                self.add(a, f"n{k}a", "neg", [], with_inn=True, group=g)
                self.add(b, f"n{k}b", "neg", [], with_inn=True, group=g)
            elif kind == "same-name-inn":
                core = self.new_core()
                self.add(self.company(core=core), f"n{k}a", "neg", [], with_inn=True, group=g)
                self.add(self.company(core=core), f"n{k}b", "neg", ["quotes"], with_inn=True, group=g)
            elif kind == "holding":
                root = self.rng.choice(self.roots)
                parts = self.rng.sample(_SECOND, 3)
                if not all(self.fresh(f"{root} {p}") for p in parts) or not self.fresh(root):
                    continue
                dom = f"{_translit(root, 'bgn').lower()}-group.ru"
                for x, p in zip("abc", parts, strict=True):
                    core = f"{root} {p}"
                    c = self.company(core=core)
                    c.email = f"{self.rng.choice(['info', 'buh', 'office'])}.{p.lower()[:4]}@{dom}"
                    self.add(c, f"n{k}{x}", "neg", [], with_inn=True, group=g, share=0.8)
                hc = self.company(core=root)
                hc.abbr = ("ГК", "Группа компаний")
                self.add(hc, f"n{k}h", "neg", [], with_inn=True, group=g)
            elif kind == "branches":
                c = self.company()
                cities = self.rng.sample(_CITIES, 2)
                for x, city in zip("ab", cities, strict=True):
                    c.address = (city, c.address[1], c.address[2])
                    self.add(c, f"n{k}{x}", "branch", ["city"], with_inn=True, kpp=_kpp(c.inn, self.rng),
                             group=g)
            elif kind == "ip-initials":
                sur = self.rng.choice(self.surnames)
                (f1, p1), (f2, p2) = self.rng.sample(_FIRST, 2)
                if f1[0] == f2[0] or not self.fresh(f"ip:{sur}"):
                    continue
                for x, (f, p) in (("a", (f1, p1)), ("b", (f2, p2))):
                    c = _Company("", None, (sur, f, p), None, _inn12(self.rng), "", self.phone(), "", self.address())
                    style = self.rng.choice(["initials", "full", "initials-first"])
                    self.add(c, f"n{k}{x}", "neg", [f"ip:{style}"], with_inn=self.rng.random() < 0.5, group=g)
            else:  # adjective: Северный Город vs Южный Город
                a, b = self.rng.choice(_ADJ)
                noun = self.rng.choice(_NOUN)
                if not (self.fresh(f"{a} {noun}") and self.fresh(f"{b} {noun}")):
                    continue
                for x, adj in (("a", a), ("b", b)):
                    core = f"{adj} {noun}"
                    self.add(self.company(core=core), f"n{k}{x}", "neg", [], with_inn=self.rng.random() < 0.4,
                             group=g)

    def conflicts_and_bad(self, n: int) -> None:
        for k in range(n):
            c = self.company()
            ent = f"c{k}"
            kind = self.rng.choice(["conflict", "placeholder", "keyless-twin"])
            if kind == "conflict":  # one INN twice (same KPP): exact duplicates, plus a keyless third card
                self.add(c, ent, "base", [], with_inn=True, kpp=c.kpp)
                self.add(c, ent, "inn", ["quotes"], with_inn=True, kpp=c.kpp)
                self.add(c, ent, "conflict-keyless", ["case"], with_inn=False)
            elif kind == "placeholder":
                self.add(c, ent, "base", [], with_inn=True)
                self.add(c, ent, "placeholder", ["form-long"], with_inn=False,
                         inn=self.rng.choice(["1234567890", "0000000000", "1111111111", "123456789012"]), kpp="")
            else:
                self.add(c, ent, "base", [], with_inn=True)
                self.add(c, ent, "quotes", ["quotes", "punct"], with_inn=False)


SEEDS = {"tuning": 20261202, "heldout": 90210417}
SIZES = {"tuning": (520, 160, 40), "heldout": (1100, 330, 80)}


def generate(split: str = "tuning", *, seed: int | None = None, scale: float = 1.0) -> list[Card]:
    g = _Gen(split, SEEDS[split] if seed is None else seed)
    dup, neg, other = (max(1, int(x * scale)) for x in SIZES[split])
    g.duplicates(dup)
    g.hard_negatives(neg)
    g.conflicts_and_bad(other)
    g.rng.shuffle(g.cards)
    return g.cards


def as_dicts(cards: list[Card]) -> list[dict]:
    return [asdict(c) for c in cards]


def truth_pairs(cards: list[Card]) -> dict[tuple[str, str], str]:
    """Every pair of cards of one entity → the pattern of the pair (the non-base card's, or ``dup-dup``)."""
    by: dict[str, list[Card]] = {}
    for c in cards:
        by.setdefault(c.entity, []).append(c)
    out: dict[tuple[str, str], str] = {}
    for members in by.values():
        for i in range(len(members)):
            for j in range(i + 1, len(members)):
                a, b = sorted((members[i], members[j]), key=lambda c: c.ref)
                pats = [m.pattern for m in (a, b) if m.pattern != "base"]
                out[(a.ref, b.ref)] = pats[0] if len(pats) == 1 else "dup-dup" if pats else "base"
    return out

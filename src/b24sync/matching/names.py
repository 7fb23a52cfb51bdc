"""Company names taken apart for duplicate matching.

``ООО «Ромашка»``, ``000 "Ромашка"``, ``OOO Poмашка`` (Latin letters), ``Romashka LLC``, ``Ромашка, ООО``,
``Общество с ограниченной ответственностью "Ромашка" (филиал Казань)`` all reduce to the same *core* words; what
was removed on the way is kept apart, because it is evidence too:

- ``forms``: legal forms (ООО, ОАО, ЗАО, ПАО, АО, ИП, … and their long forms, English forms, ``000``/``OOO``);
- ``descriptors``: generic business words people abbreviate or drop (``ТД`` = ``Торговый дом``, ``СК``, ``ТК``,
  ``НПО``, ``ПКФ``, ``ГК`` …) — the long form is rewritten to the abbreviation, and the word weighs little;
- ``places``: a city or branch word appended to the title (``Ромашка Казань``, ``Ромашка (филиал в г. Самара)``);
  two names with *different* places are two companies (or two branches), a place on one side only costs nothing;
- ``numbers``: digits in the name (``Орион-2``) — a different number is a different company;
- ``person``: for a sole trader, the surname and initials (``ИП Сидоров Семён Семёнович`` = ``Сидоров С.С.`` =
  ``С. С. Сидоров``).

Every core word is compared in one Latin *skeleton* script that erases the differences between transliteration
systems (GOST 7.79-B, BGN/PCGN, passport practice, ISO 9 diacritics, ad-hoc spellings) and Latin look-alike
letters typed inside Cyrillic words. Word similarity (:func:`word_similarity`) uses RapidFuzz's Damerau–Levenshtein
distance, so a neighbouring-key, dropped, doubled or swapped letter is one edit.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from rapidfuzz.distance import DamerauLevenshtein

# ---- legal forms -------------------------------------------------------------------------------------------
# Long forms are matched as word sequences after folding; the value is the canonical code shown in reasons.
_LONG_FORMS: list[tuple[str, str]] = [
    ("общество с ограниченной ответственностью", "ООО"),
    ("общество с дополнительной ответственностью", "ОДО"),
    ("публичное акционерное общество", "ПАО"),
    ("непубличное акционерное общество", "АО"),
    ("открытое акционерное общество", "ОАО"),
    ("закрытое акционерное общество", "ЗАО"),
    ("акционерное общество", "АО"),
    ("индивидуальный предприниматель", "ИП"),
    ("автономная некоммерческая организация", "АНО"),
    ("некоммерческая организация", "НКО"),
    ("некоммерческое партнерство", "НП"),
    ("федеральное государственное унитарное предприятие", "ФГУП"),
    ("государственное унитарное предприятие", "ГУП"),
    ("муниципальное унитарное предприятие", "МУП"),
    ("производственный кооператив", "ПК"),
    ("крестьянское фермерское хозяйство", "КФХ"),
    ("крестьянское хозяйство", "КФХ"),
    ("товарищество собственников жилья", "ТСЖ"),
    ("limited liability company", "ООО"),
    ("limited liability partnership", "LLP"),
    ("public joint stock company", "ПАО"),
    ("open joint stock company", "ОАО"),
    ("closed joint stock company", "ЗАО"),
    ("joint stock company", "АО"),
    ("private limited company", "ООО"),
    ("public limited company", "PLC"),
    ("sole proprietor", "ИП"),
    ("individual entrepreneur", "ИП"),
]
_SHORT_FORMS: dict[str, str] = {
    "ооо": "ООО", "ooo": "ООО", "llc": "ООО", "ltd": "ООО", "limited": "ООО", "одо": "ОДО",
    "оао": "ОАО", "oao": "ОАО", "ojsc": "ОАО",
    "зао": "ЗАО", "zao": "ЗАО", "cjsc": "ЗАО",
    "пао": "ПАО", "pao": "ПАО", "pjsc": "ПАО",
    "ао": "АО", "ao": "АО", "jsc": "АО", "нао": "АО",
    "ип": "ИП", "ip": "ИП", "пбоюл": "ИП", "чп": "ИП",
    "нко": "НКО", "nko": "НКО", "ано": "АНО", "нп": "НП",
    "фгуп": "ФГУП", "fgup": "ФГУП", "гуп": "ГУП", "gup": "ГУП", "муп": "МУП", "mup": "МУП",
    "кфх": "КФХ", "тсж": "ТСЖ", "снт": "СНТ", "тоо": "ТОО", "too": "ТОО",
    "inc": "INC", "incorporated": "INC", "corp": "CORP", "corporation": "CORP", "co": "CO",
    "gmbh": "GMBH", "ag": "AG", "plc": "PLC", "llp": "LLP", "bv": "BV", "sa": "SA", "srl": "SRL", "oy": "OY",
    "ab": "AB", "kg": "KG",
}
# Forms of one family: written differently they are still one kind of legal entity (ОАО became ПАО/АО in 2014).
_FORM_FAMILY = {"ООО": "ООО", "ОДО": "ООО", "INC": "ООО", "CORP": "ООО", "CO": "ООО", "GMBH": "ООО", "LLP": "ООО",
                "BV": "ООО", "SRL": "ООО", "OY": "ООО", "AB": "ООО", "KG": "ООО",
                "ОАО": "АО", "ЗАО": "АО", "ПАО": "АО", "АО": "АО", "AG": "АО", "PLC": "АО", "SA": "АО",
                "ИП": "ИП", "КФХ": "ИП"}

# ---- descriptors: generic words, abbreviated or spelled out -------------------------------------------------
# The long form (after folding, hyphens are spaces) → the abbreviation it is written as.
_DESCRIPTOR_LONG: list[tuple[str, str]] = [
    ("научно производственное объединение", "нпо"),
    ("научно производственное предприятие", "нпп"),
    ("научно производственная фирма", "нпф"),
    ("научно производственная компания", "нпк"),
    ("производственно коммерческая фирма", "пкф"),
    ("производственно коммерческая компания", "пкк"),
    ("торгово производственная компания", "тпк"),
    ("торгово производственная фирма", "тпф"),
    ("торгово строительная компания", "тск"),
    ("производственно строительная компания", "пск"),
    ("строительно монтажное управление", "сму"),
    ("производственное объединение", "по"),
    ("производственная фирма", "пф"),
    ("производственная компания", "пк"),
    ("торговый дом", "тд"),
    ("торговая компания", "тк"),
    ("транспортная компания", "тк"),
    ("строительная компания", "ск"),
    ("страховая компания", "ск"),
    ("группа компаний", "гк"),  # a holding: kept as a full word (see _HOLDING)
    ("управляющая компания", "ук"),
    ("частное охранное предприятие", "чоп"),
    ("охранное предприятие", "оп"),
    ("trading house", "тд"),
    ("group of companies", "гк"),
]
_DESCRIPTORS = {code for _, code in _DESCRIPTOR_LONG} | {"компания", "фирма", "group", "company", "firm",
                                                         "предприятие", "td", "gk", "npo", "tk", "sk", "pkf"}
_HOLDING = {"гк", "холдинг"}  # "ГК Ромашка" is the holding, another legal entity than "Ромашка": a full word
_DESCRIPTOR_LATIN = {"td": "тд", "gk": "гк", "npo": "нпо", "tk": "тк", "sk": "ск", "pkf": "пкф", "npp": "нпп",
                     "company": "компания", "firm": "фирма", "group": "гк"}

# ---- places: a city or branch word appended to a title ------------------------------------------------------
_BRANCH_WORDS = {"филиал", "представительство", "отделение", "подразделение", "обособленное", "branch", "office"}
# A branch segment written in the raw title: "(филиал в г. Самара)", "- филиал Казань", "ОП Тула", ", г. Омск".
_RAW_BRANCH = re.compile(r"[\s,(\-–—]*\(?\s*\b(?:филиал|представительство|отделение|обособленное\s+подразделение|branch)\b"
                         r"([^()]*)\)?\s*[.;,]*\s*$", re.IGNORECASE)
_RAW_CITY_MARK = re.compile(r"(?:^|[\s,(])(?:г|гор|город)\.?\s+([А-ЯЁA-Z][а-яёa-z]+(?:[\s-][А-ЯЁA-Z][а-яёa-z]+)*)\)?\s*[.;,]*\s*$"
                            r"|(?:^|[\s,(])г\.([А-ЯЁ][а-яё]+(?:-[А-ЯЁа-яё][а-яё]+)*)\)?\s*[.;,]*\s*$")
_PLACE_STOP = {"в", "во", "г", "гор", "город", "по", "на", "city", "in"}
_CITY_ALIASES = {"мск": "москва", "msk": "москва", "спб": "санкт петербург", "spb": "санкт петербург",
                 "питер": "санкт петербург", "екб": "екатеринбург", "ekb": "екатеринбург", "нск": "новосибирск",
                 "нн": "нижний новгород", "нновгород": "нижний новгород", "moscow": "москва",
                 "petersburg": "санкт петербург"}
_CITIES = [
    "москва", "санкт петербург", "петербург", "новосибирск", "екатеринбург", "казань", "нижний новгород", "челябинск",
    "самара", "омск", "ростов на дону", "ростов", "уфа", "красноярск", "воронеж", "пермь", "волгоград", "краснодар",
    "саратов", "тюмень", "тольятти", "ижевск", "барнаул", "ульяновск", "иркутск", "хабаровск", "ярославль",
    "владивосток", "махачкала", "томск", "оренбург", "кемерово", "новокузнецк", "рязань", "астрахань",
    "набережные челны", "пенза", "киров", "липецк", "чебоксары", "калининград", "тула", "курск", "ставрополь",
    "сочи", "тверь", "магнитогорск", "иваново", "брянск", "белгород", "сургут", "владимир", "архангельск",
    "чита", "калуга", "смоленск", "волжский", "курган", "орел", "череповец", "вологда", "владикавказ", "саранск",
    "мурманск", "якутск", "тамбов", "грозный", "стерлитамак", "кострома", "петрозаводск", "нижневартовск",
    "новороссийск", "йошкар ола", "таганрог", "сыктывкар", "нальчик", "шахты", "дзержинск", "орск", "братск",
    "ангарск", "энгельс", "благовещенск", "великий новгород", "псков", "норильск", "подольск", "химки",
    "балашиха", "мытищи", "королев", "люберцы", "новгород", "зеленоград", "севастополь", "симферополь",
    "обнинск", "коломна", "серпухов", "дубна", "сызрань", "миасс", "электросталь", "одинцово", "красногорск",
    "домодедово", "щелково", "пушкино", "раменское", "жуковский", "сергиев посад", "ногинск", "клин", "чехов",
    "наро фоминск", "егорьевск", "воскресенск", "орехово зуево", "реутов", "долгопрудный", "лобня", "видное",
    "новомосковск", "алексин", "муром", "ковров", "арзамас", "бор", "выкса", "кстово", "саров", "рыбинск",
    "ухта", "воркута", "северодвинск", "котлас", "великие луки", "старый оскол", "губкин", "елец", "мичуринск",
    "батайск", "новочеркасск", "волгодонск", "каменск уральский", "нижний тагил", "первоуральск", "серов",
    "златоуст", "копейск", "новотроицк", "октябрьский", "салават", "нефтекамск", "альметьевск", "нижнекамск",
    "елабуга", "зеленодольск", "димитровград", "новокуйбышевск", "балаково", "камышин", "армавир", "анапа",
    "геленджик", "ейск", "туапсе", "майкоп", "пятигорск", "кисловодск", "ессентуки", "невинномысск", "черкесск",
    "элиста", "дербент", "каспийск", "хасавюрт", "назрань", "абакан", "кызыл", "улан удэ", "бийск", "рубцовск",
    "прокопьевск", "междуреченск", "ленинск кузнецкий", "березники", "соликамск", "глазов", "сарапул",
    "тобольск", "ишим", "ханты мансийск", "нефтеюганск", "когалым", "новый уренгой", "ноябрьск", "салехард",
    "надым", "ачинск", "канск", "минусинск", "усть илимск", "южно сахалинск", "петропавловск камчатский",
    "магадан", "комсомольск на амуре", "находка", "уссурийск", "артем", "биробиджан", "нерюнгри", "евпатория",
    "керчь", "ялта", "феодосия", "тольятти", "сергиев", "гатчина", "выборг", "всеволожск", "колпино", "пушкин",
    "сосновый бор", "кингисепп", "тихвин", "кириши", "новодвинск", "обь", "бердск", "искитим", "железногорск",
]
_CITY_SEQS = sorted((tuple(c.split()) for c in _CITIES), key=len, reverse=True)

_QUOTES = "\"'«»“”„‟‘’‚‛`´〝〞＂❝❞‹›"
_PUNCT = re.compile(r"[^\w\s]|_", re.UNICODE)
_SPACES = re.compile(r"\s+")
_INTRA_APOSTROPHE = re.compile(r"(?<=\w)[`'’ʼ]+(?=\w)")
_DIGITS_IN_FORM = re.compile(r"^[0оoаaзиipпn]{2,4}$")
_LETTER_DIGIT = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")

# ---- transliteration: Cyrillic → Latin ---------------------------------------------------------------------
# The output only has to be *consistent* with the skeleton rules below, so ambiguous letters go to the form every
# system reduces to: х → h (kh, x), ц → c (ts, tc, cz), щ → sch (shch, shh), й/ы → i (j, y), я → ia, ю → iu.
_CYR2LAT = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z", "и": "i",
    "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t",
    "у": "u", "ф": "f", "х": "h", "ц": "c", "ч": "ch", "ш": "sh", "щ": "sch", "ъ": "", "ы": "i", "ь": "",
    "э": "e", "ю": "iu", "я": "ia",
    "і": "i", "ї": "i", "є": "e", "ґ": "g", "ў": "u",
}
# ISO 9 / scholarly letters with diacritics, before accents are stripped.
_LAT_DIACRITIC = {"š": "sh", "č": "ch", "ž": "zh", "ŝ": "sch", "ǔ": "u", "û": "iu", "â": "ia", "ê": "e",
                  "è": "e", "ë": "e", "ý": "i", "ʹ": "", "ʺ": ""}
_LOOKALIKE_TO_CYR = str.maketrans({"a": "а", "c": "с", "e": "е", "o": "о", "p": "р", "x": "х", "y": "у", "k": "к",
                                   "m": "м", "t": "т", "b": "в", "h": "н", "3": "з", "0": "о"})
_LOOKALIKE_LETTERS = set("acekmhopxtyb")
_SKELETON_RULES: list[tuple[re.Pattern[str], str]] = [(re.compile(p), r) for p, r in [
    (r"shch|shh|sch", "sch"),
    (r"kh", "h"),
    (r"cz|tc|ts", "c"),
    (r"yo|jo|yë|ë", "e"),
    (r"ye|je", "e"),
    (r"ya|ja|ia", "ia"),
    (r"yu|ju|iu", "iu"),
    (r"ph", "f"),
    (r"ck", "k"),
    (r"q", "k"),
    (r"w", "v"),
    (r"[yj]", "i"),
]]
_DOUBLE = re.compile(r"([a-z])\1+")
_CYR_DOUBLE = re.compile(r"([а-я])\1+")
_PATRONYMIC = re.compile(r"(вич|вна|ична|инична|ьич|ич|оглы|кызы)$")


def fold(s: str) -> str:
    """Case, ё, quotes of every kind and punctuation: the first step for every comparison."""
    s = unicodedata.normalize("NFKC", s).casefold().replace("ё", "е")
    s = _INTRA_APOSTROPHE.sub("", s)  # GOST 7.79-B writes ь as ` and ъ as ``; O'Neil: inside a word, not a quote
    for q in _QUOTES:
        s = s.replace(q, " ")
    s = _PUNCT.sub(" ", s)
    return _SPACES.sub(" ", s).strip()


def _is_cyr(ch: str) -> bool:
    return "\u0400" <= ch <= "\u04ff"


def _fix_mixed(token: str) -> str:
    """A word mixing scripts ("Poмашка", "Pомaшкa") is Cyrillic typed with Latin look-alikes: make it Cyrillic."""
    if any(_is_cyr(c) for c in token) and any("a" <= c <= "z" or c in "03" for c in token):
        return token.translate(_LOOKALIKE_TO_CYR)
    return token


def transliterate(token: str) -> str:
    return "".join(_CYR2LAT.get(c, c) for c in token)


def _skeleton_latin(t: str) -> str:
    t = "".join(_LAT_DIACRITIC.get(c, c) for c in t)
    t = "".join(c for c in unicodedata.normalize("NFKD", t) if not unicodedata.combining(c))
    for pat, rep in _SKELETON_RULES:
        t = pat.sub(rep, t)
    return t


@lru_cache(maxsize=131072)
def skeleton(token: str) -> tuple[str, ...]:
    """The token's spelling-independent forms: one usually; more when a Latin word could be a Cyrillic word typed
    in look-alike letters (``CEBEP`` = ``СЕВЕР``) or an ``x`` could be ``ks`` or GOST-B ``х``."""
    fixed = _CYR_DOUBLE.sub(r"\1", _fix_mixed(token))
    out: list[str] = []
    bases = [transliterate(fixed)]
    if fixed.isascii() and fixed.isalpha() and set(fixed) <= _LOOKALIKE_LETTERS and len(fixed) >= 3:
        bases.append(transliterate(fixed.translate(_LOOKALIKE_TO_CYR)))
    for b in bases:
        t = _skeleton_latin(b)
        for v in ((t.replace("x", "ks"), t.replace("x", "h")) if "x" in t else (t,)):
            v = _DOUBLE.sub(r"\1", v)
            if v not in out:
                out.append(v)
    if any(_is_cyr(c) for c in fixed) and fixed not in out:
        out.append(fixed)  # the Cyrillic word itself, last: a swapped "ч" is one edit here, two in Latin ("ch")
    return tuple(out)


@dataclass(frozen=True)
class Reading:
    """One way to read a person's name: the surname's skeletons and what is known of the given names."""

    surname: tuple[str, ...]
    first: str | None = None  # first initial (a skeleton letter)
    middle: str | None = None  # patronymic initial
    first_full: tuple[str, ...] | None = None  # the first name's skeletons when written in full


@dataclass(frozen=True)
class Person:
    """A sole trader's name, with every plausible reading ("Семён Сидоров" could be surname-first or not)."""

    readings: tuple[Reading, ...]


@dataclass(frozen=True)
class Name:
    raw: str
    folded: str
    forms: tuple[str, ...]
    words: tuple[str, ...]  # core words (original script, folded)
    tokens: tuple[tuple[str, ...], ...] = field(repr=False)  # skeleton variants per core word
    descriptors: tuple[str, ...] = ()
    places: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()
    person: Person | None = None

    @property
    def key(self) -> str:
        return " ".join(sorted(t[0] for t in self.tokens))

    @property
    def empty(self) -> bool:
        return not self.tokens and self.person is None

    @property
    def form_family(self) -> set[str]:
        return {_FORM_FAMILY.get(f, f) for f in self.forms}


def _replace_seq(words: list[str], seq: tuple[str, ...], code: str | None) -> tuple[list[str], int]:
    n, out, i, hits = len(seq), [], 0, 0
    while i < len(words):
        if tuple(words[i:i + n]) == seq:
            if code is not None:
                out.append(code)
            i += n
            hits += 1
        else:
            out.append(words[i])
            i += 1
    return out, hits


def _split_forms(words: list[str]) -> tuple[list[str], list[str]]:
    forms: list[str] = []
    for long, code in _LONG_FORMS:
        words, hits = _replace_seq(words, tuple(long.split()), None)
        forms += [code] * hits
    rest = []
    for w in words:
        code = _SHORT_FORMS.get(w)
        if code is None and "0" in w and _DIGITS_IN_FORM.match(w):  # "000", "0OO", "ЗА0": zeros typed for О
            code = _SHORT_FORMS.get(w.replace("0", "о")) or _SHORT_FORMS.get(w.replace("0", "o"))
        if code is None and len(w) <= 4 and any("a" <= c <= "z" for c in w) and any(_is_cyr(c) for c in w):
            code = _SHORT_FORMS.get(w.translate(_LOOKALIKE_TO_CYR))
        if code is not None:
            forms.append(code)
        else:
            rest.append(w)
    return rest, forms


def _raw_places(raw: str) -> tuple[str, list[str]]:
    """Branch and city segments at the end of the raw title (where the punctuation still says what they are)."""
    places: list[str] = []
    for _ in range(2):
        m = _RAW_BRANCH.search(raw)
        if m and m.start() > 0:
            words = [w for w in fold(m.group(1)).split() if w not in _PLACE_STOP]
            places.append(" ".join(words) or "филиал")
            raw = raw[:m.start()]
            continue
        m = _RAW_CITY_MARK.search(raw)
        if m and m.start() > 0 and raw[:m.start()].strip(" ,(-"):
            places.append(fold(m.group(1) or m.group(2)))
            raw = raw[:m.start()]
            continue
        break
    return raw, places


def _split_places(words: list[str]) -> tuple[list[str], list[str]]:
    """Trailing city names of the gazetteer ("… Казань", "… СПб"), never the whole name."""
    words = " ".join(_CITY_ALIASES.get(w, w) for w in words).split()
    places: list[str] = []
    end = len(words)
    changed = True
    while changed and end > 1:
        changed = False
        if words[end - 1] in _BRANCH_WORDS:
            end -= 1
            changed = True
            continue
        for seq in _CITY_SEQS:
            n = len(seq)
            if end - n >= 1 and tuple(words[end - n:end]) == seq:
                places.append(" ".join(seq))
                end -= n
                changed = True
                break
    return words[:end], places


def same_place(a: str, b: str) -> bool:
    """"новосибирск" = "новосибирске" (a case ending), "спб" = "санкт петербург" (aliases applied before)."""
    if a == b:
        return True
    n = min(len(a), len(b), 6)
    return n >= 4 and a[:n] == b[:n]


def _split_descriptors(words: list[str]) -> tuple[list[str], list[str]]:
    for long, code in _DESCRIPTOR_LONG:
        words, _ = _replace_seq(words, tuple(long.split()), code)
    core, desc = [], []
    for w in words:
        w2 = _DESCRIPTOR_LATIN.get(w, w)
        (desc if w2 in _DESCRIPTORS and w2 not in _HOLDING else core).append(w2)
    if not core:  # "Торговый дом" alone: keep it as the name
        return desc, []
    return core, desc


def _initial(w: str) -> str:
    return skeleton(w)[0][:1]


def _person(words: list[str], forms: list[str]) -> Person | None:
    """Surname and given names when the name looks like a person: ИП, initials, or a patronymic.

    Initials are single letters ("С. С.", "С.С.") or two glued letters in a sole trader's name ("Сидоров СС"); a
    double-barrelled surname ("Комаров-Волков") is one surname; surname-first and name-first orders are both read.
    """
    is_ip = "ИП" in forms
    letters = [w for w in words if len(w) == 1 and w.isalpha()]
    if is_ip or letters:
        glued = [w for w in words if len(w) == 2 and w.isalpha() and not any(c.isdigit() for c in w)]
        if len(glued) == 1 and not letters and len(words) >= 2:
            letters = list(glued[0])
            words = [w for w in words if w != glued[0]]
    full = [w for w in words if len(w) > 1]
    if letters:
        if not 1 <= len(full) <= 2 or len(letters) > 2 or (len(letters) < 2 and not is_ip):
            return None  # "Меридиан-М" is a company; "Сидоров С.С." or "ИП Сидоров С." a person
        return Person((Reading(skeleton("".join(full)), _initial(letters[0]),
                               _initial(letters[1]) if len(letters) > 1 else None),))
    pat = [i for i, w in enumerate(full) if _PATRONYMIC.search(w) and len(w) > 5]
    if not full or len(full) > 4 or (not is_ip and not pat):
        return None
    readings: list[Reading] = []
    n = len(full)
    for k in range(1, n + 1):  # surname = the first k words, or the last k words
        for sur, given in ((full[:k], full[k:]), (full[n - k:], full[:n - k])):
            if len(given) > 2 or (len(given) == 2 and not _PATRONYMIC.search(given[1])):
                continue
            if any(_PATRONYMIC.search(w) and len(w) > 5 for w in sur):
                continue
            if given and _PATRONYMIC.search(given[0]) and len(given[0]) > 5:
                continue
            r = Reading(skeleton("".join(sur)), _initial(given[0]) if given else None,
                        _initial(given[1]) if len(given) > 1 else None, skeleton(given[0]) if given else None)
            if r not in readings:
                readings.append(r)
    return Person(tuple(readings)) if readings else None


@lru_cache(maxsize=131072)
def analyse(raw: str | None) -> Name:
    text, raw_places = _raw_places(raw or "")
    folded = fold(text)
    words = folded.split()
    # "о о о" / "l l c" (from О.О.О. / L.L.C.) → one form word
    joined: list[str] = []
    i = 0
    while i < len(words):
        for n in (3, 2):
            seq = words[i:i + n]
            if len(seq) == n and all(len(w) == 1 for w in seq) and "".join(seq) in _SHORT_FORMS:
                joined.append("".join(seq))
                i += n
                break
        else:
            joined.append(words[i])
            i += 1
    rest, forms = _split_forms(joined)
    rest = _LETTER_DIGIT.sub(" ", " ".join(rest)).split()  # "Орион2" = "Орион-2" = "Орион 2"
    if not rest:
        return Name(raw or "", folded, (), tuple(joined), tuple(skeleton(w) for w in joined))
    if "ИП" in forms or any(len(w) == 1 for w in rest):
        places = raw_places  # a sole trader: "Королёв", "Пушкин" are surnames here, not cities
    else:
        rest, places = _split_places(rest)
        places = raw_places + places
    rest, desc = _split_descriptors(rest)
    numbers = tuple(sorted(w for w in rest if w.isdigit()))
    core = [w for w in rest if not w.isdigit()] or rest
    person = _person(core, forms)
    return Name(raw or "", folded, tuple(forms), tuple(core), tuple(skeleton(w) for w in core), tuple(desc),
                tuple(places), numbers if core is not rest else (), person)


# ---- similarity ------------------------------------------------------------------------------------------------

TOKEN_MIN = 0.8  # two words closer than this are "the same word spelled differently"
MIN_WEIGHT = 4  # a short word ("М", "Юг") still weighs this much: "Меридиан-М" is another company
DESCRIPTOR_WEIGHT = 1.5  # "ТД", "СК": present on one side only, they cost little


@lru_cache(maxsize=524288)
def word_similarity(x: str, y: str) -> float:
    """1.0 equal; a single typo (neighbouring key, dropped, doubled or swapped letter) in a word of 5+ letters
    scores 0.9, two in 10+ letters 0.85; otherwise 1 − Damerau–Levenshtein distance / longer length."""
    if x == y:
        return 1.0
    longer = max(len(x), len(y))
    d = DamerauLevenshtein.distance(x, y)
    sim = 1 - d / longer
    if d == 1 and min(len(x), len(y)) >= 4 and longer >= 5:
        return max(sim, 0.9)
    if d == 2 and min(len(x), len(y)) >= 9:
        return max(sim, 0.85)
    return sim


def _token_sim(a: tuple[str, ...], b: tuple[str, ...]) -> float:
    return max(word_similarity(x, y) for x in a for y in b)


def _coverage(ta: tuple[tuple[str, ...], ...], tb: tuple[tuple[str, ...], ...],
              wa: list[float], wb: list[float]) -> float:
    pairs = []
    for i, x in enumerate(ta):
        for j, y in enumerate(tb):
            s = _token_sim(x, y)
            if s >= TOKEN_MIN:
                pairs.append((s, i, j))
    pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
    used_a: set[int] = set()
    used_b: set[int] = set()
    cov_a = cov_b = 0.0
    for s, i, j in pairs:
        if i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        cov_a += s * wa[i]
        cov_b += s * wb[j]
    return min(cov_a / sum(wa), cov_b / sum(wb))


def _joined(n: Name) -> str:
    return "".join(t[0] for t in n.tokens)


@dataclass(frozen=True)
class Similarity:
    score: float
    reason: str
    notes: tuple[str, ...] = ()


def _reading_similarity(ra: Reading, rb: Reading) -> float:
    sur = _token_sim(ra.surname, rb.surname)
    if sur < TOKEN_MIN:
        return 0.0
    if ra.first and rb.first and ra.first != rb.first:
        return 0.0
    if ra.middle and rb.middle and ra.middle != rb.middle:
        return 0.0
    if ra.first_full and rb.first_full and _token_sim(ra.first_full, rb.first_full) < TOKEN_MIN:
        return 0.0
    # a surname alone ("ИП Сидоров") agrees with every Сидоров: weaker than a surname with an initial confirmed
    return sur * (1.0 if (ra.first and rb.first) else 0.9)


def person_similarity(pa: Person, pb: Person) -> float:
    return max((_reading_similarity(x, y) for x in pa.readings for y in pb.readings), default=0.0)


def similarity(a: Name | str, b: Name | str) -> Similarity:
    """Name similarity in [0, 1] with what was ignored or held against the pair."""
    na = a if isinstance(a, Name) else analyse(a)
    nb = b if isinstance(b, Name) else analyse(b)
    if na.empty or nb.empty:
        return Similarity(0.0, "a name is empty")
    notes: list[str] = []
    pa, pb = na.person, nb.person
    if (pa is None) != (pb is None) and (na.form_family | nb.form_family) <= {"ИП"} and \
            ("ИП" in (na.form_family | nb.form_family) or any(r.first for r in (pa or pb).readings)):  # type: ignore[union-attr]
        # one side reads as a person ("ИП Сидоров С.С."), the other may too without the cue ("Семён Сидоров")
        pa = pa or _person(list(na.words), ["ИП"])
        pb = pb or _person(list(nb.words), ["ИП"])
    if pa is not None and pb is not None:
        score = person_similarity(pa, pb)
        notes.append("sole trader: surname and initials compared")
    else:
        wa = [max(MIN_WEIGHT, len(t[0])) for t in na.tokens]
        wb = [max(MIN_WEIGHT, len(t[0])) for t in nb.tokens]
        if _joined(na) == _joined(nb):  # also "Альфабанк" vs "Альфа Банк"
            core = 1.0
        else:
            core = _coverage(na.tokens, nb.tokens, wa, wb)
            if len(na.tokens) != len(nb.tokens):  # "Альфа банк" vs "Альфабанк" with one typo, nothing more
                ja, jb = _joined(na), _joined(nb)
                # an edit at either end is a whole added word ("Авангард-М"), not a typo
                if min(len(ja), len(jb)) >= 6 and ja[0] == jb[0] and ja[-1] == jb[-1] and \
                        DamerauLevenshtein.distance(ja, jb) <= 1:
                    core = max(core, 0.9)
        # a descriptor (ТД, СК, ГК …) on one side only costs its small weight on that side
        da, db = set(na.descriptors), set(nb.descriptors)
        both = len(da & db) * DESCRIPTOR_WEIGHT
        side_a = (core * sum(wa) + both) / (sum(wa) + len(da) * DESCRIPTOR_WEIGHT)
        side_b = (core * sum(wb) + both) / (sum(wb) + len(db) * DESCRIPTOR_WEIGHT)
        score = min(side_a, side_b)
    cap = 1.0
    if na.numbers != nb.numbers:
        cap = min(cap, 0.6)
        notes.append(f"different numbers ({' '.join(na.numbers) or '—'} vs {' '.join(nb.numbers) or '—'})")
    if na.places and nb.places and not any(same_place(x, y) for x in na.places for y in nb.places):
        cap = min(cap, 0.6)
        notes.append(f"different cities ({', '.join(na.places)} vs {', '.join(nb.places)})")
    elif set(na.places) != set(nb.places):
        notes.append(f"city/branch word on one side ({', '.join(na.places or nb.places)})")
    fa, fb = na.form_family, nb.form_family
    if fa and fb and fa == fb and set(na.forms) != set(nb.forms):
        cap = min(cap, 0.97)  # ЗАО vs ПАО: one family, yet "ЗАО" = "CJSC" must win over it
    if fa and fb and fa != fb:
        if "ИП" in fa or "ИП" in fb:
            cap = min(cap, 0.6)
        else:
            cap = min(cap, 0.9)
        notes.append(f"different legal forms ({'/'.join(na.forms)} vs {'/'.join(nb.forms)})")
    score = round(min(score, cap), 4)
    return Similarity(score, _explain(na, nb, score, notes), tuple(notes))


def _explain(na: Name, nb: Name, score: float, notes: list[str]) -> str:
    if na.raw == nb.raw:
        return "identical names"
    out = list(notes)
    if na.forms != nb.forms and set(na.form_family) == set(nb.form_family) and na.forms and nb.forms:
        out.append(f"legal form written differently ({'/'.join(na.forms)} vs {'/'.join(nb.forms)})")
    elif bool(na.forms) != bool(nb.forms):
        out.append("legal form only on one side")
    scripts_a = {_is_cyr(c) for c in "".join(na.words) if c.isalpha()}
    scripts_b = {_is_cyr(c) for c in "".join(nb.words) if c.isalpha()}
    if scripts_a != scripts_b:
        out.append("transliterated or look-alike Latin letters")
    if set(na.descriptors) != set(nb.descriptors):
        out.append(f"descriptor word differs ({' '.join(na.descriptors) or '—'} vs {' '.join(nb.descriptors) or '—'})")
    if [t[0] for t in na.tokens] != [t[0] for t in nb.tokens] and \
            sorted(t[0] for t in na.tokens) == sorted(t[0] for t in nb.tokens):
        out.append("same words in another order")
    if score < 1.0:
        out.append(f"similar spelling (name score {score:.2f})")
    return "; ".join(out) or "same name up to case, quotes, punctuation and legal form"


# ---- candidate blocking ------------------------------------------------------------------------------------------


def block_keys(name: Name) -> set[str]:
    """Keys two similar names almost surely share — a 3-letter prefix or suffix of a core word (a typo rarely hits
    both ends), the joined name's ends, a sole trader's surname ends — so not every pair has to be scored."""
    keys: set[str] = set()
    for variants in name.tokens:
        for v in variants:
            if len(v) >= 3:
                keys.add("p:" + v[:3])
                keys.add("s:" + v[-3:])
            else:
                keys.add("w:" + v)
        v = variants[0]
        if 4 <= len(v) <= 14:  # one letter deleted anywhere: every single typo shares one of these with the original
            keys |= {"d:" + v[:i] + v[i + 1:] for i in range(len(v))} | {"d:" + v}
    if name.tokens:
        j = _joined(name)
        keys.add("jp:" + j[:4])
        keys.add("js:" + j[-4:])
    if name.person is not None:
        for r in name.person.readings:
            for v in r.surname:
                keys.add("p:" + v[:3])
                keys.add("s:" + v[-3:])
    return keys

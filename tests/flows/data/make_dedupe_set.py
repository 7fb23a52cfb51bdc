"""Generate the deduplication test set (``dedupe_set.json``) with its expected answer. Deterministic (seeded).

    .venv/bin/python tests/flows/data/make_dedupe_set.py        # rewrites dedupe_set.json beside this file

The expected answer comes from how each record was *built* here, never from b24sync's own matcher, and the
transliterations below are written independently of ``b24sync.flows.names`` (four systems: passport/ICAO-like,
BGN/PCGN-like, GOST 7.79-B, and the ad-hoc "h/c/sch/ja" spelling people type), so the test measures the matcher
against an outside answer.

Categories (the record's ``note`` says which):
- link      CRM and ERP share an INN (name written differently): an automatic link;
- branch    branches share an INN with different KPPs, on both sides: linked by INN + KPP each;
- head      a CRM record without KPP for an INN with two ERP branches: a conflict;
- dup       CRM record without INN, ERP record with INN, same company written differently: a proposal crm-erp;
- twin      a CRM record with INN (linked to the ERP) and a CRM twin without INN: a proposal crm-crm;
- similar   CRM record without INN whose name only *resembles* an ERP company ("Ромашка-Сервис" vs "Ромашка"):
            no proposal;
- conflict  two CRM records with one INN (same KPP or no KPP): a conflict;
- bad       ERP record whose INN fails the checksum: rejected;
- erp-only / crm-only   unique companies on one side: created on the other.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

SEED = 20240607
OUT = Path(__file__).with_name("dedupe_set.json")

SINGLE = [
    "Ромашка", "Альфа", "Север", "Химпром", "Щукинский", "Яблоко", "Юпитер", "Ёлочка", "Жемчуг", "Цементник",
    "Лукойл-Сибирь", "Эльбрус", "Хлебозавод", "Изюминка", "Медведь", "Сибирь", "Пятёрочка", "Чайка", "Журавль",
    "Объединение", "Вьюга", "Зенит", "Кристалл", "Заря", "Восход", "Гефест", "Полюс", "Янтарь", "Юнона",
    "Ключевой", "Шоколадница", "Берёзка", "Рассвет", "Айсберг", "Целлюлоза", "Щит", "Хрусталь", "Ярославна",
    "Йошкар", "Майский", "Тайфун", "Электрон", "Экспресс", "Фаворит", "Гармония", "Союз", "Дружба", "Родник",
    "Бриз", "Уралхим", "Сокол", "Байкал", "Ангара", "Енисей", "Каскад", "Мечта", "Радуга", "Лотос", "Вымпел",
    "Факел", "Импульс", "Интеграл", "Квант", "Магистраль", "Нептун", "Олимп", "Пегас", "Русич", "Спектр",
]
ADJ = ["Северный", "Южный", "Золотой", "Серебряный", "Новый", "Старый", "Быстрый", "Тихий", "Красный", "Зелёный",
       "Синий", "Белый", "Великий", "Малый", "Главный", "Первый", "Верный", "Светлый", "Дальний", "Ближний"]
NOUN = ["Ветер", "Мост", "Сад", "Берег", "Путь", "Дом", "Город", "Лес", "Порт", "Свет", "Век", "Край", "Парус",
        "Мир", "Ключ"]
# (base, a different company whose name contains or extends it) — must never be proposed as duplicates
CONFUSABLE = [
    ("Ромашка", "Ромашка-Сервис"), ("Василёк", "Василёк Плюс"), ("Альфа", "Альфа-Банк"), ("Север", "Северсталь"),
    ("Вектор", "Вектор-М"), ("Гранит", "Гранит Строй"), ("Сигма", "Сигма Групп"), ("Меркурий", "Меркурий-Авто"),
    ("Орион", "Орион 2"), ("Атлант", "Атлантида"), ("Восток", "Восток-Запад"), ("Нева", "Невада"),
    ("Энергия", "Энергия Плюс"), ("Меридиан", "Меридиан Трейд"), ("Техно", "Технополис"), ("Мега", "Мегаполис"),
    ("Лидер", "Лидер-Юг"), ("Прогресс", "Прогресс-Агро"), ("Форт", "Форт Росс"), ("Кедр", "Кедр-2"),
    ("Авангард", "Авангард-М"), ("Сибирь", "Сибирь Холдинг"), ("Заря", "Заря Востока"), ("Гарант", "Гарант-Сервис"),
]

# ---- four transliteration systems, written for this generator ----------------------------------------------
_BASE = {"а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ж": "zh", "з": "z", "и": "i", "к": "k",
         "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f",
         "ч": "ch", "ш": "sh", "ъ": "", "ь": "", "э": "e"}
PASSPORT = {**_BASE, "ё": "e", "й": "i", "х": "kh", "ц": "ts", "щ": "shch", "ы": "y", "ю": "iu", "я": "ia"}
BGN = {**_BASE, "ё": "yo", "й": "y", "х": "kh", "ц": "ts", "щ": "shch", "ы": "y", "ю": "yu", "я": "ya"}
GOST_B = {**_BASE, "ё": "yo", "й": "j", "х": "x", "ц": "cz", "щ": "shh", "ы": "y'", "ю": "yu", "я": "ya",
          "ь": "`", "ъ": "``", "э": "e'"}
SIMPLE = {**_BASE, "ё": "e", "й": "j", "х": "h", "ц": "c", "щ": "sch", "ы": "i", "ю": "ju", "я": "ja"}
SYSTEMS = {"passport": PASSPORT, "bgn": BGN, "gost-b": GOST_B, "simple": SIMPLE}


def translit(text: str, system: str) -> str:
    table = SYSTEMS[system]
    out = []
    low = text.lower()
    for i, ch in enumerate(low):
        if ch not in table:
            out.append(ch)
            continue
        prev = low[i - 1] if i else " "
        nxt = low[i + 1] if i + 1 < len(low) else " "
        if system == "bgn" and ch == "е" and (prev in " -аеёиоуыэюяйъь"):
            lat = "ye"  # BGN/PCGN: е is ye at the start of a word and after vowels and signs
        elif system == "gost-b" and ch == "ц":
            lat = "c" if nxt in "еиыйeiyj" else "cz"  # GOST 7.79-B: c before e, i, y, j; cz elsewhere
        else:
            lat = table[ch]
        out.append(lat.upper() if text[i].isupper() and lat else lat)
        if text[i].isupper() and len(lat) > 1:
            out[-1] = lat[0].upper() + lat[1:]
    return "".join(out)


RU_FORMS = ["ООО", "АО", "ЗАО", "ПАО", "ОАО", "ИП", "НКО", "ФГУП"]
LONG = {"ООО": "Общество с ограниченной ответственностью", "АО": "Акционерное общество",
        "ЗАО": "Закрытое акционерное общество", "ПАО": "Публичное акционерное общество",
        "ОАО": "Открытое акционерное общество", "ИП": "Индивидуальный предприниматель",
        "НКО": "Некоммерческая организация", "ФГУП": "Федеральное государственное унитарное предприятие"}
EN = {"ООО": ["LLC", "Ltd", "OOO"], "АО": ["JSC", "AO"], "ЗАО": ["CJSC", "ZAO"], "ПАО": ["PJSC", "PAO"],
      "ОАО": ["OJSC", "OAO"], "ИП": ["IP"], "НКО": ["NKO"], "ФГУП": ["FGUP"]}
QUOTES = [("«", "»"), ("\"", "\""), ("“", "”"), ("„", "“"), ("'", "'")]


def canonical(stem: str, form: str) -> str:
    return f"{form} «{stem}»"


KINDS = ["quotes", "case", "long", "order", "translit", "translit-order", "translit-form-first", "no-form", "mixed"]
_turn = [0]


def variant(rng: random.Random, stem: str, form: str) -> tuple[str, str]:
    """Another way to write the same company, and which kind of variation it is (kinds take turns)."""
    kind = KINDS[_turn[0] % len(KINDS)]
    _turn[0] += 1
    q1, q2 = rng.choice(QUOTES)
    words = stem.split()
    if kind == "quotes":
        return f"{form} {q1}{stem}{q2}", kind
    if kind == "case":
        return rng.choice([f"{form} {stem}".upper(), f"{form.lower()} {stem.lower()}"]), kind
    if kind == "long":
        return f"{LONG[form]} {q1}{stem}{q2}", kind
    if kind == "order":
        if len(words) > 1 and rng.random() < 0.5:
            return f"{' '.join(reversed(words))}, {form}", kind + "+words"
        return rng.choice([f"{stem}, {form}", f"{q1}{stem}{q2} {form}"]), kind
    system = rng.choice(sorted(SYSTEMS))
    lat = translit(stem, system)
    en = rng.choice(EN[form])
    if kind == "translit":
        return f"{lat} {en}", f"{kind}:{system}"
    if kind == "translit-order":
        lat_words = lat.split()
        if len(lat_words) > 1:
            lat = " ".join(reversed(lat_words))
        return f"{lat}, {en}", f"{kind}:{system}"
    if kind == "translit-form-first":
        return f"{en} \"{lat}\"", f"{kind}:{system}"
    if kind == "no-form":
        return rng.choice([stem, f"{q1}{stem}{q2}"]), kind
    # mixed: upper-case translit with a long English form
    long_en = {"ООО": "Limited Liability Company", "АО": "Joint Stock Company", "ЗАО": "Closed Joint Stock Company",
               "ПАО": "Public Joint Stock Company", "ОАО": "Open Joint Stock Company"}.get(form, en)
    return f"{lat.upper()} {long_en}", f"{kind}:{system}"


def inn10(n: int, region: int) -> str:
    base = f"{region:02d}{n:07d}"
    w = [2, 4, 10, 3, 5, 9, 4, 6, 8]
    return base + str(sum(int(d) * k for d, k in zip(base, w, strict=True)) % 11 % 10)


def broken(inn: str) -> str:
    return inn[:-1] + str((int(inn[-1]) + 3) % 10)


def kpp(region: int, k: int) -> str:
    return f"{region:02d}{k:02d}01001"


def generate() -> dict:
    rng = random.Random(SEED)
    _turn[0] = 0
    combos = [f"{a} {n}" for a in ADJ for n in NOUN]
    rng.shuffle(combos)
    confusable_words = {w for pair in CONFUSABLE for x in pair for w in x.replace("-", " ").split()}
    singles = [s for s in SINGLE if s not in confusable_words]
    pool = singles + combos[:220]
    rng.shuffle(pool)
    stems = iter(pool)
    crm: list[dict] = []
    erp: list[dict] = []
    exp: dict = {"links": [], "proposals": [], "conflicts": [], "rejected": [], "creates": []}
    counter = iter(range(1, 10_000))

    def inn() -> str:
        return inn10(next(counter), rng.choice([77, 50, 78, 16, 66, 54]))

    def add(side: str, name: str, inn_: str | None, kpp_: str | None, note: str) -> str:
        rows = crm if side == "crm" else erp
        rid = str(len(rows) + 1 + (0 if side == "crm" else 5000))
        rows.append({"id": rid, "name": name, "inn": inn_, "kpp": kpp_, "note": note})
        return rid

    def form() -> str:
        return rng.choice(RU_FORMS[:5] * 3 + RU_FORMS[5:])

    for _ in range(70):  # link
        stem, f, i = next(stems), form(), inn()
        e = add("erp", canonical(stem, f), i, None, "link")
        c = add("crm", variant(rng, stem, f)[0], i, None, "link")
        exp["links"].append([c, e])
    for _ in range(8):  # branch: 2 or 3 branches on both sides
        stem, f, i = next(stems), rng.choice(["АО", "ПАО", "ООО"]), inn()
        region = int(i[:2])
        for k in range(rng.choice([2, 3])):
            kp = kpp(region, k + 1)
            e = add("erp", f"{canonical(stem, f)} филиал {k + 1}", i, kp, "branch")
            c = add("crm", f"{variant(rng, stem, f)[0]} (филиал {k + 1})", i, kp, "branch")
            exp["links"].append([c, e])
    for _ in range(3):  # head: CRM without KPP, two ERP branches
        stem, i = next(stems), inn()
        region = int(i[:2])
        es = [add("erp", f"ПАО «{stem}» филиал {k}", i, kpp(region, k), "head") for k in (1, 2)]
        c = add("crm", f"{stem} ПАО", i, None, "head")
        exp["conflicts"].append({"crm": [c], "erp": es})
    kinds: dict[str, int] = {}
    for _ in range(90):  # dup
        stem, f, i = next(stems), form(), inn()
        e = add("erp", canonical(stem, f), i, None, "dup")
        name, kind = variant(rng, stem, f)
        kinds[kind.split(":")[0]] = kinds.get(kind.split(":")[0], 0) + 1
        c = add("crm", name, None, None, f"dup:{kind}")
        exp["proposals"].append(["crm-erp", c, e])
    for _ in range(20):  # twin
        stem, f, i = next(stems), form(), inn()
        e = add("erp", canonical(stem, f), i, None, "twin")
        c1 = add("crm", canonical(stem, f), i, None, "twin")
        name, kind = variant(rng, stem, f)
        c2 = add("crm", name, None, None, f"twin:{kind}")
        exp["links"].append([c1, e])
        exp["proposals"].append(["crm-crm", c1, c2])
    crm_bases: set[str] = set()
    for base, ext in CONFUSABLE:  # similar: never proposed, both ways round
        f = form()
        if rng.random() < 0.5 or base in crm_bases:  # (two CRM "Ромашка" without INN *would* be duplicates)
            e = add("erp", canonical(base, f), inn(), None, "similar")
            exp["creates"].append(["erp", e])
            add("crm", variant(rng, ext, f)[0] if rng.random() < 0.5 else f"{f} {ext}", None, None, "similar")
        else:
            e = add("erp", canonical(ext, f), inn(), None, "similar")
            exp["creates"].append(["erp", e])
            add("crm", f"{f} «{base}»", None, None, "similar")
            crm_bases.add(base)
    for _ in range(6):  # conflict: two CRM records, one INN, same KPP or none
        stem, f, i = next(stems), form(), inn()
        kp = kpp(int(i[:2]), 1) if rng.random() < 0.5 else None
        c1 = add("crm", canonical(stem, f), i, kp, "conflict")
        c2 = add("crm", variant(rng, stem, f)[0], i, kp, "conflict")
        es = []
        if rng.random() < 0.5:
            es.append(add("erp", canonical(stem, f), i, kp, "conflict"))
        exp["conflicts"].append({"crm": [c1, c2], "erp": es})
    for _ in range(8):  # bad
        stem, f = next(stems), form()
        e = add("erp", canonical(stem, f), broken(inn()), None, "bad")
        exp["rejected"].append(["erp", e])
    for _ in range(30):  # erp-only
        e = add("erp", canonical(next(stems), form()), inn(), None, "erp-only")
        exp["creates"].append(["erp", e])
    for _ in range(10):  # crm-only
        c = add("crm", canonical(next(stems), form()), inn(), None, "crm-only")
        exp["creates"].append(["crm", c])
    companies = len({r["inn"] for r in crm + erp if r["inn"]}) + sum(1 for r in crm if not r["inn"])
    return {"seed": SEED, "companies": companies, "variant_kinds": dict(sorted(kinds.items())),
            "crm": crm, "erp": erp, "expected": exp}


if __name__ == "__main__":
    data = generate()
    OUT.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{OUT}: {len(data['crm'])} CRM + {len(data['erp'])} ERP records, {data['companies']} companies")

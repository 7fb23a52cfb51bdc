"""Company names for deduplication: normalisation and a token-set similarity written for Russian counterparties.

``ООО «Ромашка»``, ``Romashka LLC``, ``LLC Romashka``, ``Ромашка, ООО`` and
``Общество с ограниченной ответственностью "Ромашка"`` all normalise to the same tokens; ``Ромашка`` and
``Ромашка-Сервис`` (or ``Альфа`` / ``Альфа-Банк``, ``Север`` / ``Северсталь``) do not, and score below any sane
threshold because an extra distinctive word lowers the score of the side that has it.

Pipeline (:func:`analyse`):

1. case fold, ``ё`` → ``е``, quotes of every kind and punctuation become spaces;
2. legal forms are removed, long Russian and English forms first (``общество с ограниченной ответственностью``,
   ``limited liability company``), then abbreviations (ООО, ОАО, ЗАО, ПАО, АО, ИП, НКО, ФГУП, LLC, Ltd, JSC,
   OOO, Inc, GmbH, …); the canonical code of the form is kept for the explanation (ООО ≈ LLC ≈ OOO);
3. Cyrillic is transliterated to Latin with the table below, then every token is reduced to a *skeleton* that
   erases the differences between transliteration systems (GOST 7.79-B, BGN/PCGN-like "passport" practice,
   ad-hoc spellings): kh/h/x, shch/shh/sch, ts/tc/cz/c, ya/ja/ia, yu/ju/iu, ye/je/e, yo/jo/ё/е, й/y/j/i, ы/y,
   soft and hard signs, doubled letters. Both scripts are compared in that one Latin skeleton script.

Similarity (:func:`similarity`) pairs tokens greedily by spelling similarity (the lower of
:class:`difflib.SequenceMatcher`'s ratio and 1 − edit distance / length; pairs under ``TOKEN_MIN`` do not count), and the score is the *lower* of the two sides' coverages (matched characters /
all characters of that side). A token present on one side only therefore costs its whole length, which is why
``Ромашка`` vs ``Ромашка Плюс`` stays at about 0.6 (a token weighs at least ``MIN_WEIGHT``), while word order costs nothing.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache

TOKEN_MIN = 0.8  # two tokens closer than this are "the same word spelled differently"
MIN_WEIGHT = 4  # a short token ("М", "2", "Юг") still weighs this much: "Меридиан-М" is another company

# ---- legal forms -------------------------------------------------------------------------------------------
# Long forms are matched as word sequences after step 1; the value is the canonical code shown in reasons.
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
    "ип": "ИП", "ip": "ИП", "пбоюл": "ИП",
    "нко": "НКО", "nko": "НКО", "ано": "АНО", "нп": "НП",
    "фгуп": "ФГУП", "fgup": "ФГУП", "гуп": "ГУП", "gup": "ГУП", "муп": "МУП", "mup": "МУП",
    "кфх": "КФХ", "тсж": "ТСЖ", "снт": "СНТ", "тоо": "ТОО", "too": "ТОО", "чп": "ЧП",
    "inc": "INC", "incorporated": "INC", "corp": "CORP", "corporation": "CORP", "co": "CO",
    "gmbh": "GMBH", "ag": "AG", "plc": "PLC", "llp": "LLP", "bv": "BV", "sa": "SA", "srl": "SRL", "oy": "OY",
    "ab": "AB", "kg": "KG",
}
# Dotted abbreviations people type: "О.О.О.", "L.L.C.", "Co." (dots are removed in step 1, so the letters join).
_SPACED_ABBR = re.compile(r"\b((?:[a-zа-я]\s){1,4}[a-zа-я])\b")

_QUOTES = "\"'«»“”„‟‘’‚‛`´〝〞＂❝❞‹›"
_PUNCT = re.compile(r"[^\w\s]|_", re.UNICODE)
_SPACES = re.compile(r"\s+")

# ---- transliteration: Cyrillic → Latin (GOST 7.79-B letters, with the digraphs of common practice) ---------------
# The output only has to be *consistent* with the Latin skeleton below, so ambiguous letters go to the form every
# system reduces to: х → h (kh, x), ц → c (ts, tc, cz), щ → sch (shch, shh), й/ы → i (j, y), я → ia, ю → iu.
_CYR2LAT = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z", "и": "i",
    "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t",
    "у": "u", "ф": "f", "х": "h", "ц": "c", "ч": "ch", "ш": "sh", "щ": "sch", "ъ": "", "ы": "i", "ь": "",
    "э": "e", "ю": "iu", "я": "ia",
    # Ukrainian / Belarusian letters seen in counterparty names
    "і": "i", "ї": "i", "є": "e", "ґ": "g", "ў": "u",
}
# Latin look-alikes typed inside Cyrillic words ("OOO" with Latin O's is handled as a form, this is for "Poмашка").
_LOOKALIKE_TO_CYR = str.maketrans({"a": "а", "c": "с", "e": "е", "o": "о", "p": "р", "x": "х", "y": "у", "k": "к",
                                   "m": "м", "t": "т", "b": "в", "h": "н"})

# Latin spelling variants → one skeleton. Order matters: longer digraphs first.
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


_INTRA_APOSTROPHE = re.compile(r"(?<=\w)[`'’ʼ]+(?=\w)")


def _fold(s: str) -> str:
    s = unicodedata.normalize("NFKC", s).casefold().replace("ё", "е")
    s = _INTRA_APOSTROPHE.sub("", s)  # GOST 7.79-B writes ь as ` and ъ as ``; O'Neil: inside a word, not a quote
    for q in _QUOTES:
        s = s.replace(q, " ")
    s = _PUNCT.sub(" ", s)
    return _SPACES.sub(" ", s).strip()


def _is_cyr(ch: str) -> bool:
    return "\u0400" <= ch <= "\u04ff"


def _fix_mixed(token: str) -> str:
    """A word mixing scripts ("Poмашка") is typed Cyrillic with Latin look-alikes: make it all Cyrillic."""
    if any(_is_cyr(c) for c in token) and any("a" <= c <= "z" for c in token):
        return token.translate(_LOOKALIKE_TO_CYR)
    return token


def transliterate(token: str) -> str:
    """Cyrillic → Latin letters (other characters unchanged)."""
    return "".join(_CYR2LAT.get(c, c) for c in token)


@lru_cache(maxsize=65536)
def skeleton(token: str) -> tuple[str, ...]:
    """The token's spelling-independent forms (usually one; two when an ``x`` may be ``ks`` or GOST-B ``х``)."""
    t = transliterate(_fix_mixed(token))
    t = "".join(c for c in unicodedata.normalize("NFKD", t) if not unicodedata.combining(c))
    for pat, rep in _SKELETON_RULES:
        t = pat.sub(rep, t)
    if "x" in t:
        variants = (t.replace("x", "ks"), t.replace("x", "h"))
    else:
        variants = (t,)
    return tuple(_DOUBLE.sub(r"\1", v) for v in variants)


@dataclass(frozen=True)
class Name:
    """A company name taken apart for comparison."""

    raw: str
    folded: str  # step 1: case, quotes, punctuation
    forms: tuple[str, ...]  # canonical legal forms found (ООО, АО, ИП, ...)
    words: tuple[str, ...]  # the words left after removing legal forms (in the original script)
    tokens: tuple[tuple[str, ...], ...] = field(repr=False)  # skeleton variants per word

    @property
    def key(self) -> str:
        """One string for exact grouping: sorted first skeletons."""
        return " ".join(sorted(t[0] for t in self.tokens))

    @property
    def empty(self) -> bool:
        return not self.tokens


def _strip_forms(folded: str) -> tuple[str, list[str]]:
    forms: list[str] = []
    s = f" {folded} "
    for long, code in _LONG_FORMS:
        needle = f" {long} "
        while needle in s:
            s = s.replace(needle, " ", 1)
            forms.append(code)
    words = []
    for w in s.split():
        code = _SHORT_FORMS.get(w)
        if code is not None:
            forms.append(code)
        else:
            words.append(w)
    return " ".join(words), forms


@lru_cache(maxsize=65536)
def analyse(raw: str | None) -> Name:
    folded = _fold(raw or "")
    # "о.о.о." / "l.l.c." → "ооо" / "llc" when the joined letters are a known form
    folded = _SPACED_ABBR.sub(lambda m: m.group(1).replace(" ", "") if m.group(1).replace(" ", "") in _SHORT_FORMS
                              else m.group(1), folded)
    rest, forms = _strip_forms(folded)
    words = tuple(rest.split())
    if not words and forms:  # the name *is* a form word ("АО" alone): keep it rather than compare nothing
        words = tuple(folded.split())
        forms = []
    return Name(raw or "", folded, tuple(forms), words, tuple(skeleton(w) for w in words))


def _edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insert, delete, substitute), two-row dynamic programming."""
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


@lru_cache(maxsize=262144)
def _pair_sim(x: str, y: str) -> float:
    # The stricter of two views: difflib's ratio (shared blocks) and edit distance over the longer word. Edit
    # distance keeps "верный" and "северный" apart (2 edits in 8 letters), which the ratio alone (0.92) would not.
    if x == y:
        return 1.0
    ratio = SequenceMatcher(None, x, y, autojunk=False).ratio()
    return min(ratio, 1 - _edit_distance(x, y) / max(len(x), len(y)))


def _token_sim(a: tuple[str, ...], b: tuple[str, ...]) -> float:
    return max(_pair_sim(x, y) for x in a for y in b)


@dataclass(frozen=True)
class Similarity:
    score: float
    reason: str


def similarity(a: Name | str, b: Name | str) -> Similarity:
    """Token-set similarity in [0, 1] with a short explanation of what was ignored to get there."""
    na = a if isinstance(a, Name) else analyse(a)
    nb = b if isinstance(b, Name) else analyse(b)
    if na.empty or nb.empty:
        return Similarity(0.0, "a name is empty")
    la = [max(MIN_WEIGHT, len(t[0])) for t in na.tokens]
    lb = [max(MIN_WEIGHT, len(t[0])) for t in nb.tokens]
    joined_a = "".join(t[0] for t in na.tokens)
    joined_b = "".join(t[0] for t in nb.tokens)
    if joined_a == joined_b:  # also "Альфабанк" vs "Альфа Банк"
        score = 1.0
    else:
        pairs = []
        for i, ta in enumerate(na.tokens):
            for j, tb in enumerate(nb.tokens):
                s = _token_sim(ta, tb)
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
            cov_a += s * la[i]
            cov_b += s * lb[j]
        score = min(cov_a / sum(la), cov_b / sum(lb))
    return Similarity(round(score, 4), _explain(na, nb, score))


def _explain(na: Name, nb: Name, score: float) -> str:
    if na.raw == nb.raw:
        return "identical names"
    notes = []
    if na.folded == nb.folded:
        return "same name up to case, quotes and punctuation"
    if na.forms != nb.forms:
        fa, fb = "/".join(na.forms) or "none", "/".join(nb.forms) or "none"
        if set(na.forms) == set(nb.forms):
            notes.append(f"legal form written differently ({fa})")
        elif na.forms and nb.forms:
            notes.append(f"different legal forms ({fa} vs {fb}) — check it is the same legal entity")
        else:
            notes.append(f"legal form only on one side ({fa} vs {fb})")
    elif na.forms and _fold(na.raw).split() != _fold(nb.raw).split():
        notes.append(f"legal form written differently ({'/'.join(na.forms)})")
    scripts_a = {_is_cyr(c) for c in "".join(na.words) if c.isalpha()}
    scripts_b = {_is_cyr(c) for c in "".join(nb.words) if c.isalpha()}
    if scripts_a != scripts_b:
        notes.append("transliterated (Cyrillic vs Latin)")
    elif [transliterate(w) for w in na.words] != [transliterate(w) for w in nb.words] and \
            sorted(na.words) != sorted(nb.words) and [t[0] for t in na.tokens] == [t[0] for t in nb.tokens]:
        notes.append("spelling variant of a transliteration")
    if [t[0] for t in na.tokens] != [t[0] for t in nb.tokens] and sorted(t[0] for t in na.tokens) == \
            sorted(t[0] for t in nb.tokens):
        notes.append("same words in another order")
    if score < 1.0:
        notes.append(f"similar spelling (score {score:.2f})")
    return "; ".join(notes) or "same name after removing quotes, case and punctuation"


# ---- candidate blocking ------------------------------------------------------------------------------------------


def block_keys(name: Name, prefix: int = 4) -> set[str]:
    """Keys two similar names almost surely share (a token prefix), so not every pair has to be scored."""
    keys = set()
    for variants in name.tokens:
        for v in variants:
            keys.add(v[:prefix])
    if name.tokens:
        keys.add("#" + "".join(t[0] for t in name.tokens)[:prefix])
    return keys

"""Reader for ``1CClientBankExchange`` 1.03 bank statements («Обмен с системами Клиент банка»).

Format facts: /work/shared/research/erp-side.md §4.4 ([EDI-BANK], http://v8.1c.ru/edi/edi_stnd/100/101.htm):
plain ``key=value`` lines; header ``1CClientBankExchange``, ``ВерсияФормата=1.03``, ``Кодировка=Windows|DOS``,
``Отправитель``, ``Получатель``, ``ДатаСоздания`` (``дд.мм.гггг``), ``ДатаНачала``/``ДатаКонца``, ``РасчСчет``;
sections ``СекцияРасчСчет … КонецРасчСчет`` and ``СекцияДокумент=<вид> … КонецДокумента``; ``КонецФайла``.
Dates ``дд.мм.гггг`` (§10.3). Document field names (``Номер``, ``Дата``, ``Сумма``, ``ПлательщикСчет``,
``ПлательщикИНН``, ``ПлательщикКПП``, ``ПлательщикБанк1``, ``ПлательщикБИК``, ``ДатаСписано``,
``ДатаПоступило``, ``НазначениеПлатежа`` …) as in the same standard.

Policy on broken input: **the whole file is rejected** with every problem listed by line number
(:class:`StatementError`, a ``ValidationError``). A half-imported statement would silently lose payments; a
rejected one is visible (the file drop moves it to ``rejected/`` with the reason) and, after a fix, can be dropped
again — already imported payments are skipped by their key, so a re-import is harmless.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from b24sync.engine.errors import ValidationError

HEADER = "1CClientBankExchange"
ENCODINGS = {"windows": "cp1251", "dos": "cp866"}  # Кодировка=Windows|DOS (§4.4)
_MARKER = "Кодировка="
MAX_LISTED_ERRORS = 20


class StatementError(ValidationError):
    """A statement file that cannot be imported. ``problems`` lists (line number, message)."""

    def __init__(self, source: str, problems: list[tuple[int, str]]) -> None:
        shown = "; ".join(f"line {n}: {m}" if n else m for n, m in problems[:MAX_LISTED_ERRORS])
        more = f" (and {len(problems) - MAX_LISTED_ERRORS} more)" if len(problems) > MAX_LISTED_ERRORS else ""
        super().__init__(f"Bank statement {source} was not imported — {shown}{more}",
                         detail={"source": source, "problems": [{"line": n, "message": m} for n, m in problems]})
        self.problems = problems


@dataclass(frozen=True)
class Side:
    """Payer or recipient of a payment document."""

    name: str = ""
    inn: str = ""
    kpp: str = ""
    account: str = ""
    bank: str = ""
    bic: str = ""
    corr_account: str = ""


@dataclass(frozen=True)
class Payment:
    kind: str  # «Платежное поручение», «Банковский ордер», …
    number: str
    date: date
    amount: Decimal
    payer: Side
    recipient: Side
    purpose: str
    debited: date | None = None  # ДатаСписано
    received: date | None = None  # ДатаПоступило
    line: int = 0  # line number of «СекцияДокумент=…»
    fields: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def payment_key(self) -> str:
        """Identity of a payment across statement files: number + date + payer INN + payer account.
        Leading zeros of the number are dropped (banks pad differently)."""
        number = self.number.strip().lstrip("0") or "0"
        return f"{number}|{self.date.isoformat()}|{self.payer.inn}|{self.payer.account}"

    def is_incoming(self, account: str) -> bool:
        return self.recipient.account == account


@dataclass(frozen=True)
class AccountSection:
    account: str
    start: date | None = None
    end: date | None = None
    opening_balance: Decimal | None = None
    total_received: Decimal | None = None
    total_debited: Decimal | None = None
    closing_balance: Decimal | None = None
    line: int = 0


@dataclass
class Statement:
    source: str
    encoding: str
    header: dict[str, str]
    accounts: list[AccountSection]
    payments: list[Payment]
    warnings: list[str] = field(default_factory=list)

    @property
    def version(self) -> str:
        return self.header.get("ВерсияФормата", "")


# ---------------------------------------------------------------- encoding


def detect_encoding(raw: bytes) -> str:
    """Find ``Кодировка=…`` in the raw bytes *before* decoding (§4.4: Windows → cp1251, DOS → cp866).

    The marker is looked for in each candidate encoding; the value itself is ASCII. A UTF-8 BOM means UTF-8
    (some bank exports ignore their own header). A file without the marker is assumed Windows (cp1251).
    """
    if raw.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    for enc in ("cp1251", "cp866", "utf-8"):
        marker = _MARKER.encode(enc)
        pos = raw.find(marker)
        if pos < 0:
            continue
        # The marker's own bytes prove the real encoding; a contradicting declaration (Кодировка=DOS written in
        # cp1251) is reported as a warning by the parser, and the bytes win.
        return enc
    return "cp1251"


# ---------------------------------------------------------------- parsing

_DATE = re.compile(r"^\d{2}\.\d{2}\.\d{4}$")
_AMOUNT = re.compile(r"^-?\d{1,15}([.,]\d{1,2})?$")  # the format's Сумма: at most 15 integer digits, 2 decimals
_KEYWORDS = {HEADER, "СекцияРасчСчет", "КонецРасчСчет", "КонецДокумента", "КонецФайла"}


def _date(value: str, key: str, n: int, problems: list[tuple[int, str]], *, required: bool) -> date | None:
    v = value.strip()
    if not v:
        if required:
            problems.append((n, f"{key} is empty, a date дд.мм.гггг is required"))
        return None
    if not _DATE.match(v):
        problems.append((n, f"{key}={v!r} is not a date дд.мм.гггг"))
        return None
    try:
        return datetime.strptime(v, "%d.%m.%Y").date()
    except ValueError:
        problems.append((n, f"{key}={v!r} is not a real date"))
        return None


def _amount(value: str, key: str, n: int, problems: list[tuple[int, str]], *, required: bool) -> Decimal | None:
    v = value.strip().replace(" ", "")
    if not v:
        if required:
            problems.append((n, f"{key} is empty, an amount is required"))
        return None
    if not _AMOUNT.match(v):
        problems.append((n, f"{key}={value.strip()!r} is not an amount (expected e.g. 1500.00)"))
        return None
    try:
        return Decimal(v.replace(",", "."))
    except InvalidOperation:  # pragma: no cover - the regex already guards
        problems.append((n, f"{key}={value.strip()!r} is not an amount"))
        return None


def _side(f: dict[str, str], who: str) -> Side:
    name = f.get(who + "1") or f.get(who, "")
    # «Плательщик» may carry "ИНН 7707083893 ООО …" when Плательщик1 is absent; keep it as the name.
    return Side(
        name=name.strip(),
        inn=f.get(who + "ИНН", "").strip(),
        kpp=f.get(who + "КПП", "").strip(),
        account=(f.get(who + "Счет") or f.get(who + "РасчСчет") or "").strip(),
        bank=" ".join(x for x in (f.get(who + "Банк1", "").strip(), f.get(who + "Банк2", "").strip()) if x),
        bic=f.get(who + "БИК", "").strip(),
        corr_account=f.get(who + "Корсчет", "").strip(),
    )


def _purpose(f: dict[str, str]) -> str:
    if f.get("НазначениеПлатежа", "").strip():
        return f["НазначениеПлатежа"].strip()
    parts = [f.get(f"НазначениеПлатежа{i}", "").strip() for i in range(1, 7)]
    return " ".join(p for p in parts if p)


def parse_text(text: str, *, source: str = "statement", encoding: str = "") -> Statement:
    """Parse decoded text. Raises :class:`StatementError` listing every broken line."""
    problems: list[tuple[int, str]] = []
    warnings: list[str] = []
    lines = text.splitlines()
    header: dict[str, str] = {}
    accounts: list[AccountSection] = []
    payments: list[Payment] = []
    if not lines or lines[0].strip().lstrip("\ufeff") != HEADER:
        raise StatementError(source, [(1, f"the file must start with {HEADER} — this is not a 1C bank statement")])
    section: str | None = None  # None (header), "account", "document"
    sec_start = 0
    cur: dict[str, tuple[int, str]] = {}
    kind = ""
    ended = False
    for n, line in enumerate(lines[1:], start=2):
        s = line.strip()
        if not s:
            continue
        if ended:
            problems.append((n, f"text after КонецФайла: {s[:40]!r}"))
            break
        key, eq, value = s.partition("=")
        key = key.strip()
        if not eq and key not in _KEYWORDS:
            problems.append((n, f"broken line {s[:60]!r}: expected key=value"))
            continue
        if key == "КонецФайла":
            if section is not None:
                problems.append((n, f"КонецФайла inside an unfinished section started at line {sec_start}"))
            ended = True
            continue
        if section is None:
            if key == "СекцияРасчСчет":
                section, sec_start, cur = "account", n, {}
            elif key == "СекцияДокумент":
                section, sec_start, cur, kind = "document", n, {}, value.strip()
            elif key in ("КонецРасчСчет", "КонецДокумента"):
                problems.append((n, f"{key} without a matching section start"))
            else:
                header.setdefault(key, value)  # «РасчСчет» and «Документ» may repeat in the header
            continue
        if key in ("СекцияРасчСчет", "СекцияДокумент"):
            problems.append((n, f"{key} starts before the section at line {sec_start} was closed"))
            section, sec_start, cur, kind = ("account" if key == "СекцияРасчСчет" else "document"), n, {}, value
            continue
        if section == "account" and key == "КонецРасчСчет":
            accounts.append(_account_section(cur, sec_start, problems))
            section = None
            continue
        if section == "document" and key == "КонецДокумента":
            p = _payment(kind, cur, sec_start, problems)
            if p is not None:
                payments.append(p)
            section = None
            continue
        if key in ("КонецРасчСчет", "КонецДокумента"):
            problems.append((n, f"{key} closes a section of another kind (started at line {sec_start})"))
            section = None
            continue
        cur[key] = (n, value)
    if section is not None:
        problems.append((sec_start, "section is not closed (file truncated?)"))
    if not ended and not problems:
        problems.append((len(lines), "КонецФайла is missing — the file looks truncated"))
    version = header.get("ВерсияФормата", "").strip()
    if version and version != "1.03":
        warnings.append(f"ВерсияФормата={version}; the reader implements 1.03")
    declared = ENCODINGS.get(header.get("Кодировка", "").strip().lower())
    if encoding and declared and encoding.replace("-sig", "") not in (declared, "utf-8"):
        warnings.append(f"the file declares Кодировка={header.get('Кодировка')} but is written in {encoding}")
    first: dict[str, Payment] = {}
    for p in payments:  # the same document twice: identical is a repeat, a different amount is a conflict
        seen = first.setdefault(p.payment_key(), p)
        if seen is not p and seen.amount != p.amount:
            problems.append((p.line, f"document №{p.number} of {p.date:%d.%m.%Y} from INN {p.payer.inn or '-'} "
                                     f"appears again with Сумма {p.amount} (line {seen.line} has {seen.amount})"))
    if problems:
        raise StatementError(source, sorted(problems))
    return Statement(source, encoding, header, accounts, payments, warnings)


def _account_section(cur: dict[str, tuple[int, str]], start: int, problems: list[tuple[int, str]]) -> AccountSection:
    def get(k: str) -> tuple[int, str]:
        return cur.get(k, (start, ""))

    def amt(k: str) -> Decimal | None:
        n, v = get(k)
        return _amount(v, k, n, problems, required=False)

    def dt(k: str) -> date | None:
        n, v = get(k)
        return _date(v, k, n, problems, required=False)

    return AccountSection(account=get("РасчСчет")[1].strip(), start=dt("ДатаНачала"), end=dt("ДатаКонца"),
                          opening_balance=amt("НачальныйОстаток"), total_received=amt("ВсегоПоступило"),
                          total_debited=amt("ВсегоСписано"), closing_balance=amt("КонечныйОстаток"), line=start)


def _payment(kind: str, cur: dict[str, tuple[int, str]], start: int,
             problems: list[tuple[int, str]]) -> Payment | None:
    before = len(problems)
    f = {k: v for k, (_, v) in cur.items()}
    n_num, number = cur.get("Номер", (start, ""))
    if not number.strip():
        problems.append((n_num, "Номер (document number) is missing"))
    n_d, d = cur.get("Дата", (start, ""))
    doc_date = _date(d, "Дата", n_d, problems, required=True)
    n_s, s = cur.get("Сумма", (start, ""))
    amount = _amount(s, "Сумма", n_s, problems, required=True)
    if amount is not None and amount <= 0:
        problems.append((n_s, f"Сумма={s.strip()!r}: a payment amount must be positive"))
    n_db, db = cur.get("ДатаСписано", (start, ""))
    debited = _date(db, "ДатаСписано", n_db, problems, required=False)
    n_rc, rc = cur.get("ДатаПоступило", (start, ""))
    received = _date(rc, "ДатаПоступило", n_rc, problems, required=False)
    if len(problems) > before or doc_date is None or amount is None:
        return None
    return Payment(kind=kind or "Платежное поручение", number=number.strip(), date=doc_date, amount=amount,
                   payer=_side(f, "Плательщик"), recipient=_side(f, "Получатель"), purpose=_purpose(f),
                   debited=debited, received=received, line=start, fields=f)


def parse_bytes(raw: bytes, *, source: str = "statement") -> Statement:
    """Detect the encoding from the header bytes, decode, parse."""
    enc = detect_encoding(raw)
    try:
        text = raw.decode(enc)
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise StatementError(source, [(line, f"bytes that are not valid {enc}")]) from None
    return parse_text(text, source=source, encoding=enc)


def read_statement(path, *, source: str | None = None) -> Statement:
    from pathlib import Path

    p = Path(path)
    return parse_bytes(p.read_bytes(), source=source or p.name)

"""A small parser/evaluator for the OData v3 ``$filter`` subset 1C accepts (erp-side.md §1.6).

Operators ``eq ne gt ge lt le and or not``, arithmetic ``add sub mul div``, parentheses; literals ``'text'``
(``''`` escapes a quote), ``guid'…'``, ``datetime'…'``, numbers, ``true/false/null``; functions
``substringof``, ``startswith``, ``endswith``, ``like``, ``tolower``, ``toupper``, ``length``,
``year/month/day``; navigation paths ``Контрагент/ИНН``. A syntax error raises :class:`FilterSyntaxError`
(the service maps it to 400 code 14, §1.12); an unknown property raises :class:`UnknownField`
(400 code 6 echoing the name, §1.12 echo behaviour).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any, Callable


class FilterSyntaxError(ValueError):
    pass


class UnknownField(ValueError):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


@dataclass
class Tok:
    kind: str  # str, guid, datetime, num, name, op, lp, rp, comma, slash
    value: Any


_TOKEN = re.compile(r"""
    (?P<ws>[ ]+)
  | (?P<guid>guid'(?P<g>[^']*)')
  | (?P<datetime>datetime'(?P<d>[^']*)')
  | (?P<str>'(?P<s>(?:[^']|'')*)')
  | (?P<num>-?\d+(?:\.\d+)?(?:[mMdDfFlL])?)
  | (?P<name>[^\W\d][\w]*)
  | (?P<lp>\()
  | (?P<rp>\))
  | (?P<comma>,)
  | (?P<slash>/)
""", re.VERBOSE | re.UNICODE)

_DT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$")


def tokenize(text: str) -> list[Tok]:
    pos = 0
    out: list[Tok] = []
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            # '+' instead of %20 lands here: the real platform refuses form-encoded spaces (§1.2)
            raise FilterSyntaxError(f"unexpected character at {pos}")
        pos = m.end()
        kind = m.lastgroup
        if kind == "ws":
            continue
        if m.group("guid"):
            try:
                out.append(Tok("guid", str(uuid.UUID(m.group("g")))))
            except ValueError as exc:
                raise FilterSyntaxError("bad guid literal") from exc
        elif m.group("datetime"):
            value = m.group("d")
            if not _DT.match(value):
                # 4-digit years only: onecdc notes datetime'1-01-01…' → 400 on the real platform
                raise FilterSyntaxError("bad datetime literal")
            out.append(Tok("datetime", value if len(value) == 19 else value + ":00"))
        elif m.group("str") is not None:
            out.append(Tok("str", m.group("s").replace("''", "'")))
        elif m.group("num"):
            raw = m.group("num").rstrip("mMdDfFlL")
            out.append(Tok("num", float(raw) if "." in raw else int(raw)))
        elif m.group("name"):
            out.append(Tok("name", m.group("name")))
        elif m.group("lp"):
            out.append(Tok("lp", "("))
        elif m.group("rp"):
            out.append(Tok("rp", ")"))
        elif m.group("comma"):
            out.append(Tok("comma", ","))
        elif m.group("slash"):
            out.append(Tok("slash", "/"))
    return out


_CMP = {"eq", "ne", "gt", "ge", "lt", "le"}
_FUNCS = {"substringof", "startswith", "endswith", "like", "tolower", "toupper", "length", "year",
          "month", "day", "hour", "minute", "second", "trim", "concat", "indexof", "isof", "cast"}

Resolver = Callable[[list[str], dict], Any]
Expr = Callable[[dict], Any]


class _Parser:
    def __init__(self, tokens: list[Tok], resolve: Resolver, check: Callable[[list[str]], None]):
        self.t = tokens
        self.i = 0
        self.resolve = resolve
        self.check = check

    def peek(self) -> Tok | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self) -> Tok:
        tok = self.peek()
        if tok is None:
            raise FilterSyntaxError("unexpected end")
        self.i += 1
        return tok

    def is_word(self, word: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "name" and tok.value == word

    def parse(self) -> Expr:
        expr = self.or_()
        if self.peek() is not None:
            raise FilterSyntaxError("trailing tokens")
        return expr

    def or_(self) -> Expr:
        left = self.and_()
        while self.is_word("or"):
            self.take()
            right = self.and_()
            left = (lambda a, b: lambda r: bool(a(r)) or bool(b(r)))(left, right)
        return left

    def and_(self) -> Expr:
        left = self.not_()
        while self.is_word("and"):
            self.take()
            right = self.not_()
            left = (lambda a, b: lambda r: bool(a(r)) and bool(b(r)))(left, right)
        return left

    def not_(self) -> Expr:
        if self.is_word("not"):
            self.take()
            inner = self.not_()
            return lambda r: not inner(r)
        return self.cmp()

    def cmp(self) -> Expr:
        left = self.add()
        tok = self.peek()
        if tok is not None and tok.kind == "name" and tok.value in _CMP:
            op = self.take().value
            right = self.add()
            return (lambda a, b, o: lambda r: _compare(o, a(r), b(r)))(left, right, op)
        return left

    def add(self) -> Expr:
        left = self.mul()
        while self.is_word("add") or self.is_word("sub"):
            op = self.take().value
            right = self.mul()
            left = (lambda a, b, o: lambda r: _arith(o, a(r), b(r)))(left, right, op)
        return left

    def mul(self) -> Expr:
        left = self.primary()
        while self.is_word("mul") or self.is_word("div") or self.is_word("mod"):
            op = self.take().value
            right = self.primary()
            left = (lambda a, b, o: lambda r: _arith(o, a(r), b(r)))(left, right, op)
        return left

    def primary(self) -> Expr:
        tok = self.take()
        if tok.kind == "lp":
            inner = self.or_()
            if self.take().kind != "rp":
                raise FilterSyntaxError("missing )")
            return inner
        if tok.kind in ("str", "guid", "datetime", "num"):
            value = tok.value
            return lambda r: value
        if tok.kind == "name":
            if tok.value in ("true", "false"):
                value = tok.value == "true"
                return lambda r: value
            if tok.value == "null":
                return lambda r: None
            nxt = self.peek()
            if tok.value in _FUNCS and nxt is not None and nxt.kind == "lp":
                return self.func(tok.value)
            path = [tok.value]
            while self.peek() is not None and self.peek().kind == "slash":
                self.take()
                seg = self.take()
                if seg.kind != "name":
                    raise FilterSyntaxError("bad path")
                path.append(seg.value)
            self.check(path)
            resolve = self.resolve
            return lambda r: resolve(path, r)
        raise FilterSyntaxError(f"unexpected token {tok.kind}")

    def func(self, name: str) -> Expr:
        self.take()  # (
        args: list[Expr] = []
        if self.peek() is not None and self.peek().kind == "rp":
            self.take()
        else:
            while True:
                args.append(self.or_())
                tok = self.take()
                if tok.kind == "rp":
                    break
                if tok.kind != "comma":
                    raise FilterSyntaxError("expected , or )")
        return _function(name, args)


def _norm(v: Any) -> Any:
    return v


def _compare(op: str, a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str) and _looks_guid(a) and _looks_guid(b):
        a, b = a.lower(), b.lower()
    if op == "eq":
        return a == b
    if op == "ne":
        return a != b
    if a is None or b is None:
        return False
    try:
        if op == "gt":
            return a > b
        if op == "ge":
            return a >= b
        if op == "lt":
            return a < b
        return a <= b
    except TypeError:
        return False


def _looks_guid(s: str) -> bool:
    return len(s) == 36 and s.count("-") == 4


def _arith(op: str, a: Any, b: Any) -> Any:
    try:
        if op == "add":
            return a + b
        if op == "sub":
            return a - b
        if op == "mul":
            return a * b
        if op == "div":
            return a / b
        return a % b
    except (TypeError, ZeroDivisionError):
        return None


def _like(value: str, pattern: str) -> bool:
    # 1C-style LIKE: % any string, _ one character
    rx = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value or "", re.S | re.I) is not None


def _function(name: str, args: list[Expr]) -> Expr:
    def s(v: Any) -> str:
        return "" if v is None else str(v)

    arity = {"substringof": 2, "startswith": 2, "endswith": 2, "like": 2, "tolower": 1, "toupper": 1,
             "length": 1, "year": 1, "month": 1, "day": 1, "hour": 1, "minute": 1, "second": 1, "trim": 1,
             "concat": 2, "indexof": 2, "isof": 2, "cast": 2}
    if len(args) != arity[name]:
        raise FilterSyntaxError(f"{name}: wrong number of arguments")
    a = args
    if name == "substringof":  # OData v3: substringof(needle, haystack); 1C compares case-insensitively
        return lambda r: s(a[0](r)).lower() in s(a[1](r)).lower()
    if name == "startswith":
        return lambda r: s(a[0](r)).lower().startswith(s(a[1](r)).lower())
    if name == "endswith":
        return lambda r: s(a[0](r)).lower().endswith(s(a[1](r)).lower())
    if name == "like":
        return lambda r: _like(s(a[0](r)), s(a[1](r)))
    if name == "tolower":
        return lambda r: s(a[0](r)).lower()
    if name == "toupper":
        return lambda r: s(a[0](r)).upper()
    if name == "trim":
        return lambda r: s(a[0](r)).strip()
    if name == "length":
        return lambda r: len(s(a[0](r)))
    if name == "concat":
        return lambda r: s(a[0](r)) + s(a[1](r))
    if name == "indexof":
        return lambda r: s(a[0](r)).find(s(a[1](r)))
    if name in ("isof", "cast"):
        return lambda r: a[0](r)
    idx = {"year": (0, 4), "month": (5, 7), "day": (8, 10), "hour": (11, 13), "minute": (14, 16),
           "second": (17, 19)}[name]
    return lambda r: int(s(a[0](r))[idx[0]:idx[1]] or 0)


def compile_filter(text: str, resolve: Resolver, check: Callable[[list[str]], None]) -> Expr:
    tokens = tokenize(text)
    if not tokens:
        raise FilterSyntaxError("empty filter")
    return _Parser(tokens, resolve, check).parse()

"""A small typed ``$filter`` builder.

Literals per OData v2/v3 as 1C accepts them (erp-side.md §1.6): ``'text'`` with ``'`` doubled, ``guid'…'``,
``datetime'YYYY-MM-DDThh:mm:ss'`` (no offset: 1C dates are wall-clock, §1.5; a four-digit year always),
``true``/``false``, numbers without exponent. OData v4 (Dataverse, Business Central) writes GUIDs and dates bare;
the dialect decides (other-erps-and-bus.md §2.4 "Keys in URL", "Dates in payload").

    F.eq("ИНН", "7707083893") & (F.eq("DeletionMark", False) | F.gt("Date", datetime(2026, 1, 1)))
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

_OPS = ("eq", "ne", "gt", "ge", "lt", "le")


@dataclass(frozen=True)
class Guid:
    """Marks a string as a GUID literal (``guid'…'``) when it is not already a ``uuid.UUID``."""

    value: str

    def __post_init__(self) -> None:
        uuid.UUID(str(self.value))  # raises ValueError on a malformed GUID: never send it to the server


@dataclass(frozen=True)
class Raw:
    """An already-formatted expression (escape hatch for functions like ``cast(…)``). The caller owns escaping."""

    text: str


def literal(value: Any, *, version: int = 3) -> str:
    """Format a Python value as an OData literal (v2/v3 by default, v4 with ``version=4``)."""
    if isinstance(value, Raw):
        return value.text
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (uuid.UUID, Guid)):
        g = str(value.value if isinstance(value, Guid) else value).lower()
        return g if version >= 4 else f"guid'{g}'"
    if isinstance(value, datetime):
        if version >= 4:
            return value.isoformat()
        # §1.5: 1C keeps no zone; drop tzinfo (caller converts to the base's wall-clock time first).
        v = value.replace(tzinfo=None, microsecond=0)
        return f"datetime'{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}'"
    if isinstance(value, date):
        return literal(datetime(value.year, value.month, value.day), version=version)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (float, Decimal)):
        # No exponent form: '1e-07' is not a valid literal for 1C.
        return format(Decimal(str(value)), "f")
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"no OData literal for {type(value).__name__}")


class Expr:
    """A filter expression; combine with ``&`` (and), ``|`` (or), ``~`` (not)."""

    def render(self, version: int = 3) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def __and__(self, other: Expr) -> Expr:
        return _Bool("and", (self, other))

    def __or__(self, other: Expr) -> Expr:
        return _Bool("or", (self, other))

    def __invert__(self) -> Expr:
        return _Not(self)

    def __str__(self) -> str:
        return self.render()


@dataclass(frozen=True)
class _Cmp(Expr):
    field: str
    op: str
    value: Any

    def render(self, version: int = 3) -> str:
        return f"{_field(self.field)} {self.op} {literal(self.value, version=version)}"


@dataclass(frozen=True)
class _Bool(Expr):
    op: str
    parts: tuple[Expr, ...]

    def render(self, version: int = 3) -> str:
        return f" {self.op} ".join(f"({p.render(version)})" if isinstance(p, _Bool) and p.op != self.op
                                   else p.render(version) for p in self.parts)


@dataclass(frozen=True)
class _Not(Expr):
    inner: Expr

    def render(self, version: int = 3) -> str:
        return f"not ({self.inner.render(version)})"


@dataclass(frozen=True)
class _Func(Expr):
    name: str
    field: str
    value: Any
    value_first: bool

    def render(self, version: int = 3) -> str:
        f, v = _field(self.field), literal(self.value, version=version)
        return f"{self.name}({v}, {f})" if self.value_first else f"{self.name}({f}, {v})"


def _field(name: str) -> str:
    # Field names are identifiers or navigation paths (``Контрагент/ИНН``, §1.6); never quoted. Refuse anything
    # that could smuggle an operator or a quote into the expression.
    if not name or any(c in name for c in " '\"()&,;=?#"):
        raise ValueError(f"invalid field name in filter: {name!r}")
    return name


class F:
    """Constructors: ``F.eq(field, value)`` … ``F.le``, ``F.contains``, ``F.startswith``, ``F.all_``/``F.any_``."""

    @staticmethod
    def eq(field: str, value: Any) -> Expr:
        return _Cmp(field, "eq", value)

    @staticmethod
    def ne(field: str, value: Any) -> Expr:
        return _Cmp(field, "ne", value)

    @staticmethod
    def gt(field: str, value: Any) -> Expr:
        return _Cmp(field, "gt", value)

    @staticmethod
    def ge(field: str, value: Any) -> Expr:
        return _Cmp(field, "ge", value)

    @staticmethod
    def lt(field: str, value: Any) -> Expr:
        return _Cmp(field, "lt", value)

    @staticmethod
    def le(field: str, value: Any) -> Expr:
        return _Cmp(field, "le", value)

    @staticmethod
    def contains(field: str, value: str) -> Expr:
        # 1C (v3) verified ``substringof(value, field)`` live (§1.6); v4 spells it ``contains(field, value)``.
        return _Contains(field, value)

    @staticmethod
    def startswith(field: str, value: str) -> Expr:
        return _Func("startswith", field, value, value_first=False)

    @staticmethod
    def all_(*parts: Expr) -> Expr:
        ps = tuple(p for p in parts if p is not None)
        if not ps:
            raise ValueError("all_() needs at least one expression")
        return ps[0] if len(ps) == 1 else _Bool("and", ps)

    @staticmethod
    def any_(*parts: Expr) -> Expr:
        ps = tuple(p for p in parts if p is not None)
        if not ps:
            raise ValueError("any_() needs at least one expression")
        return ps[0] if len(ps) == 1 else _Bool("or", ps)

    @staticmethod
    def raw(text: str) -> Raw:
        return Raw(text)

    @staticmethod
    def match(criteria: dict[str, Any]) -> Expr:
        """``field eq value`` for every item, joined by ``and`` (a natural-key lookup)."""
        return F.all_(*(F.eq(k, v) for k, v in criteria.items()))


@dataclass(frozen=True)
class _Contains(Expr):
    field: str
    value: str

    def render(self, version: int = 3) -> str:
        v = literal(self.value, version=version)
        if version >= 4:
            return f"contains({_field(self.field)}, {v})"
        return f"substringof({v}, {_field(self.field)})"


def render(expr: Expr | str | None, version: int = 3) -> str | None:
    if expr is None:
        return None
    return expr if isinstance(expr, str) else expr.render(version)

"""Nested paths into a record: ``РасшифровкаПлатежа.ОснованиеПлатежа`` names a field of each row of a tabular
section (an array of objects), ``Контрагент.ИНН`` a field of a nested object. A path is read either from the
document (header fields) or, when it starts with the tabular section being walked, from the current row.

Empty values are the ERP's empty ones too: ``None``, ``""``, the empty reference ``00000000-…`` and the empty date
``0001-01-01T00:00:00`` (erp-side.md §1.4) — a row whose order is the empty reference names no order."""

from __future__ import annotations

from typing import Any

EMPTY_REF = "00000000-0000-0000-0000-000000000000"
EMPTY_DATE = "0001-01-01T00:00:00"


def empty(v: Any) -> bool:
    return v is None or v == "" or v == EMPTY_REF or v == EMPTY_DATE or v == []


def get(values: dict[str, Any], path: str, *, row: dict[str, Any] | None = None, rows: str | None = None) -> Any:
    """The value at ``path``: from ``row`` when the path starts with ``rows.``, else from ``values``."""
    if rows and row is not None and path.startswith(rows + "."):
        return _walk(row, path[len(rows) + 1:])
    return _walk(values, path)


def first(values: dict[str, Any], paths: list[str], *, row: dict[str, Any] | None = None,
          rows: str | None = None) -> tuple[str | None, Any]:
    """The first path with a non-empty value, and the value (``(None, None)`` when all are empty)."""
    for p in paths:
        v = get(values, p, row=row, rows=rows)
        if not empty(v):
            return p, v
    return None, None


def sibling(path: str, suffix: str) -> str:
    """``РасшифровкаПлатежа.ОснованиеПлатежа`` + ``_Type`` → ``РасшифровкаПлатежа.ОснованиеПлатежа_Type``; a
    ``_Key`` reference has no ``_Type`` sibling of its own (``ОснованиеПлатежа_Key`` → ``ОснованиеПлатежа_Type``)."""
    return path.removesuffix("_Key") + suffix


def _walk(obj: Any, path: str) -> Any:
    if isinstance(obj, dict) and path in obj:  # a flat name with a dot in it wins over walking
        return obj[path]
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur

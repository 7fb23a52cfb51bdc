"""JSON bodies that connectors send: Decimals as JSON numbers (exact digits kept; 1C reads Edm.Double and Edm.Decimal
from numbers, erp-side.md §1.5), dates and times as ISO 8601."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any


def json_default(v: Any) -> Any:
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if hasattr(v, "isoformat"):
        return v.isoformat()
    raise TypeError(f"cannot serialise {type(v).__name__}")


def dumps(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, default=json_default).encode("utf-8")


def depth_ok(text: str, limit: int) -> bool:
    """Bracket nesting of a JSON text stays within ``limit`` (strings skipped) — checked before ``json.loads``, so a
    hostile 100k-deep document is refused without recursing into it."""
    depth, in_str, esc = 0, False, False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return False
        elif ch in "]}":
            depth -= 1
    return True

"""PHP-style request parameters, as the portal (a PHP application) reads them.

Bitrix24 accepts GET query strings, ``application/x-www-form-urlencoded`` and ``multipart/form-data`` bodies with
PHP bracket notation (``fields[PHONE][0][VALUE]=…``, ``select[]=ID``, ``filter[>ID]=5``) as well as JSON bodies
[fact sheet §2.1, EN:settings/how-to-call-rest-api/data-encoding.md]. This module turns the flat key/value pairs into
the nested structure PHP's ``$_REQUEST`` would hold, and serialises nested data back into bracket pairs (used for
the event POSTs the portal sends to handlers, §7.2).
"""

from __future__ import annotations

import re
from typing import Any, Iterable
from urllib.parse import parse_qsl, urlencode

_KEY_RE = re.compile(r"^([^\[]*)((?:\[[^\]]*\])*)(.*)$")


def _split_key(key: str) -> list[str | None]:
    m = _KEY_RE.match(key)
    if not m or not m.group(1):
        return [key]
    head, brackets, tail = m.group(1), m.group(2), m.group(3)
    if tail:  # PHP keeps a malformed remainder as part of the name; good enough to treat the whole key as flat
        return [key]
    parts: list[str | None] = [head]
    for part in re.findall(r"\[([^\]]*)\]", brackets):
        parts.append(part if part != "" else None)  # None = append ("a[]")
    return parts


def nest_pairs(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Build nested dicts from bracketed keys. Arrays stay dicts with string keys (PHP arrays are ordered maps);
    use :func:`php_list` where a list is expected."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = _split_key(key)
        cur: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part is None:  # append: next integer key
                ints = [int(k) for k in cur if isinstance(k, str) and k.lstrip("-").isdigit()]
                part = str(max(ints) + 1 if ints else 0)
            if last:
                cur[part] = value
            else:
                nxt = cur.get(part)
                if not isinstance(nxt, dict):
                    nxt = {}
                    cur[part] = nxt
                cur = nxt
    return root


def parse_query(qs: str) -> dict[str, Any]:
    return nest_pairs(parse_qsl(qs, keep_blank_values=True))


def php_list(value: Any) -> list[Any]:
    """A PHP array used as a list: dict values in key order, list as is, scalar → [scalar]; '' / None → []."""
    if value is None or value == "":
        return []
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def flatten(data: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Nested data → bracket pairs, the way PHP ``http_build_query`` would (booleans as 1/0, None as '')."""
    out: list[tuple[str, str]] = []
    if isinstance(data, dict):
        items = data.items()
    elif isinstance(data, (list, tuple)):
        items = ((str(i), v) for i, v in enumerate(data))
    else:
        return [(prefix, _scalar(data))]
    for k, v in items:
        key = f"{prefix}[{k}]" if prefix else str(k)
        if isinstance(v, (dict, list, tuple)):
            if not v:
                continue
            out.extend(flatten(v, key))
        else:
            out.append((key, _scalar(v)))
    return out


def _scalar(v: Any) -> str:
    if v is True:
        return "1"
    if v is False or v is None:
        return ""
    return str(v)


def build_query(data: dict[str, Any]) -> str:
    return urlencode(flatten(data))


def php_json(value: Any) -> Any:
    """Mimic PHP ``json_encode`` of arrays: an array whose keys are exactly 0..n-1 in order becomes a JSON list,
    any other array an object; an empty array is ``[]`` (fact sheet §2.2 "PHP-origin quirk", §4 numeric keys)."""
    if isinstance(value, dict):
        if not value:
            return []
        keys = list(value.keys())
        if all(_is_int_key(k) for k in keys) and [int(k) for k in keys] == list(range(len(keys))):
            return [php_json(v) for v in value.values()]
        return {str(k): php_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [php_json(v) for v in value]
    return value


def _is_int_key(k: Any) -> bool:
    if isinstance(k, int):
        return True
    return isinstance(k, str) and (k == "0" or (k[:1] != "0" and k.lstrip("-").isdigit()))

"""Dotted field paths with list indexes (``data.items[0].id``, also ``items.0.id``) and value templates.

Templates:
- in a URL path, query value or header: ``{id}``, ``{values.inn}``, ``{cursor.token}`` — rendered as text
  (URL paths percent-encode each substituted value);
- in a JSON body: a string that is exactly ``"{values.qty}"`` is replaced by the value with its JSON type kept
  (a number stays a number, ``"{values}"`` inserts the whole dict); a string with text around placeholders is
  rendered as text. ``{{`` and ``}}`` write literal braces.
A placeholder whose value is missing renders as ``None`` / is dropped from a query (see ``render_query``).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

_TOKEN = re.compile(r"([^.\[\]]+)|\[(-?\d+)\]")  # a negative index counts from the end (reads only)
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]+)\}")
_MISSING = object()


def parse_path(path: str) -> list[str | int]:
    """``a.b[0].c`` → ``["a", "b", 0, "c"]``; bare digits between dots are indexes too (``a.0``)."""
    if not path:
        return []
    out: list[str | int] = []
    for part in path.split("."):
        if part == "":
            raise ValueError(f"empty segment in field path {path!r}")
        matched = 0
        for m in _TOKEN.finditer(part):
            if m.start() != matched:
                raise ValueError(f"bad field path {path!r}")
            matched = m.end()
            if m.group(1) is not None:
                name = m.group(1)
                out.append(int(name) if name.isdigit() else name)
            else:
                out.append(int(m.group(2)))
        if matched != len(part):
            raise ValueError(f"bad field path {path!r}")
    return out


def get_path(data: Any, path: str | list[str | int], default: Any = None) -> Any:
    keys = parse_path(path) if isinstance(path, str) else path
    cur = data
    for k in keys:
        if isinstance(k, int):
            if isinstance(cur, list) and -len(cur) <= k < len(cur):
                cur = cur[k]
                continue
            if isinstance(cur, dict) and str(k) in cur:
                cur = cur[str(k)]
                continue
            return default
        if isinstance(cur, dict) and k in cur:
            cur = cur[k]
        else:
            return default
    return cur


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Create intermediate dicts/lists as needed: ``set_path(d, "lines[1].qty", 2)``."""
    keys = parse_path(path)
    if not keys or isinstance(keys[0], int):
        raise ValueError(f"a body path must start with a field name: {path!r}")
    cur: Any = data
    for i, k in enumerate(keys):
        last = i == len(keys) - 1
        nxt: Any = None if last else ([] if isinstance(keys[i + 1], int) else {})
        if isinstance(k, int):
            if k < 0:
                raise ValueError(f"negative index in a body path: {path!r}")
            while len(cur) <= k:
                cur.append(None)
            if last:
                cur[k] = value
            else:
                if cur[k] is None:
                    cur[k] = nxt
                cur = cur[k]
        else:
            if last:
                cur[k] = value
            else:
                if k not in cur or cur[k] is None:
                    cur[k] = nxt
                cur = cur[k]


def _lookup(ctx: dict[str, Any], expr: str) -> Any:
    return get_path(ctx, expr.strip(), _MISSING)


def render_text(template: str, ctx: dict[str, Any], *, url: bool = False) -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "{{":
            return "{"
        if m.group(0) == "}}":
            return "}"
        v = _lookup(ctx, m.group(1))
        s = "" if v is _MISSING or v is None else _text(v)
        return quote(s, safe="") if url else s

    return _PLACEHOLDER.sub(sub, template)


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return str(v)


def render_value(template: Any, ctx: dict[str, Any]) -> Any:
    """Render a JSON body template recursively (see module docstring)."""
    if isinstance(template, str):
        m = _PLACEHOLDER.fullmatch(template)
        if m and m.group(1) is not None:
            v = _lookup(ctx, m.group(1))
            return None if v is _MISSING else v
        return render_text(template, ctx)
    if isinstance(template, list):
        return [render_value(t, ctx) for t in template]
    if isinstance(template, dict):
        return {k: render_value(v, ctx) for k, v in template.items()}
    return template


def placeholders(template: str) -> list[str]:
    return [m.group(1).strip() for m in _PLACEHOLDER.finditer(template) if m.group(1)]

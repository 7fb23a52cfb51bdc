"""PHP-style (bracket) query strings, both ways.

- Outbound: commands inside ``batch`` are query strings ``method?key=value`` (sheet §4 "cmd"), nested values in PHP
  bracket notation ``fields[PHONE][0][VALUE]=…`` (sheet §2.1, data-encoding.md). A query string cannot carry ``None``
  (it became the string "None" in another client, sheet §4 gotcha / §8.7), an empty list or dict (PHP drops the key),
  nor a boolean without changing its type; such calls go as single JSON requests instead.
- Inbound: event POSTs are ``application/x-www-form-urlencoded`` with bracket keys ``data[FIELDS][ID]``,
  ``auth[application_token]`` (sheet §7.2, §9.16 wire format).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, quote


class Ref(str):
    """A batch back-reference such as ``$result[c0][49][ID]`` (sheet §4 "References"); written verbatim."""


def query_safe(value: Any) -> bool:
    """True when ``value`` survives PHP-style encoding unchanged (no None / bool / empty containers)."""
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, (str, int, float)):
        return True
    if isinstance(value, dict):
        return bool(value) and all(isinstance(k, (str, int)) and query_safe(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return bool(value) and all(query_safe(v) for v in value)
    return False


def _scalar(v: Any) -> str:
    if isinstance(v, Ref):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    return quote(str(v), safe="")


def _walk(prefix: str, value: Any, out: list[str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _walk(f"{prefix}[{quote(str(k), safe='')}]", v, out)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _walk(f"{prefix}[{i}]", v, out)
    else:
        out.append(f"{prefix}={_scalar(value)}")


def build_query(params: dict[str, Any]) -> str:
    """``{"filter": {">ID": 5}, "select": ["ID"]}`` → ``filter[%3EID]=5&select[0]=ID`` (brackets kept literal)."""
    out: list[str] = []
    for k, v in params.items():
        _walk(quote(str(k), safe=""), v, out)
    return "&".join(out)


def parse_php_form(body: str | bytes, *, max_fields: int | None = None, max_depth: int | None = None) -> dict[str, Any]:
    """Parse ``a[b][c]=1&a[b][d]=2&x[]=1`` into nested dicts/lists, the way PHP fills ``$_POST``.

    ``max_fields``/``max_depth`` bound what a sender can make us build (PHP's ``max_input_vars`` 1000 and
    ``max_input_nesting_level`` 64 play that role on a PHP receiver); past them ``ValueError``."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    root: dict[str, Any] = {}
    for raw_key, value in parse_qsl(body, keep_blank_values=True, max_num_fields=max_fields):
        if "[" in raw_key and raw_key.endswith("]"):
            head, _, rest = raw_key.partition("[")
            if max_depth is not None and rest.count("[") >= max_depth:
                raise ValueError(f"form key nested deeper than {max_depth}")
            parts = [head] + rest[:-1].split("][")
        else:
            parts = [raw_key]
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):  # "x[]" appends
                if last:
                    node.append(value)
                else:
                    node.append({})
                    node = node[-1]
                continue
            if last:
                node[part] = value
            else:
                nxt = parts[i + 1]
                if part not in node or not isinstance(node[part], (dict, list)):
                    node[part] = [] if nxt == "" else {}
                node = node[part]
    return root

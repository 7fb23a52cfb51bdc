"""Bounds on a spec file before it is composed into objects (issue 11: hostile specs must give FILE:LINE, not hang).

One linear pass over the raw text and the YAML event stream (the parser is a state machine, no recursion), so
nothing is built before the file is known to be small, shallow, plain YAML:

- size ≤ ``MAX_BYTES``; no control characters except tab/newline/CR (NUL, ESC … with their line);
- nesting ≤ ``MAX_DEPTH``; the document with every alias expanded ≤ ``MAX_NODES`` nodes (a "billion laughs" file
  has few aliases but expands to 10⁹ nodes);
- only the core tags (str, int, float, bool, null, map, seq): ``!!python/object/apply``, ``!!omap``, ``!!set``,
  ``!foo/new``… are refused with their line — nothing is ever constructed from a tag;
- no merge keys ``<<`` (they hide where a value comes from; write the keys out);
- a plain scalar of digits longer than ``MAX_DIGITS`` (Python refuses int strings over 4,300 digits).
"""

from __future__ import annotations

import re

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (AliasEvent, CollectionEndEvent, CollectionStartEvent, MappingStartEvent, NodeEvent,
                                ScalarEvent)

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 200_000
MAX_DIGITS = 100
CORE_TAGS = {None, "!", "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
             "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x80-\x9f]")
_DIGITS = re.compile(r"[-+]?[0-9_]+")


class GuardProblem(Exception):
    def __init__(self, line: int, message: str, hint: str) -> None:
        super().__init__(message)
        self.line, self.message, self.hint = line, message, hint


def check_text(text: str) -> None:
    """Raise ``GuardProblem`` (with a 1-based line) for the first bound the text passes."""
    if len(text.encode("utf-8", errors="replace")) > MAX_BYTES:
        raise GuardProblem(1, f"the file is larger than {MAX_BYTES // 1024} KiB", "a spec is a short YAML file; "
                           "split long value maps into the systems' own reference data")
    m = _CONTROL.search(text)
    if m:
        line = text.count("\n", 0, m.start()) + 1
        raise GuardProblem(line, f"control character {m.group()!r} in the file", "remove it (save the file as plain "
                           "UTF-8 text)")
    # frames: [is_mapping, expect_key, node count, anchor]
    stack: list[list] = []
    sizes: dict[str, int] = {}
    total = 0
    try:
        for ev in YAML(typ="rt").parse(text):
            line = ev.start_mark.line + 1 if ev.start_mark else 1
            if isinstance(ev, NodeEvent) and not isinstance(ev, AliasEvent):
                tag = getattr(ev, "tag", None)
                if tag not in CORE_TAGS:
                    raise GuardProblem(line, f"YAML tag {tag} is not allowed", "remove the tag: a spec holds plain "
                                       "mappings, lists, strings and numbers")
            is_key = bool(stack) and stack[-1][0] and stack[-1][1]
            if stack and stack[-1][0]:
                stack[-1][1] = not stack[-1][1]
            if isinstance(ev, AliasEvent):
                if is_key:
                    raise GuardProblem(line, "an alias used as a key", "write the key out")
                n = sizes.get(ev.anchor or "", 1)
                total += n
                if stack:
                    stack[-1][2] += n
            elif isinstance(ev, ScalarEvent):
                if is_key and ev.value == "<<" and not ev.style:
                    raise GuardProblem(line, "YAML merge keys (<<) are not supported",
                                       "write the keys out where they are used")
                if not ev.style and _DIGITS.fullmatch(ev.value or "") and len(ev.value) > MAX_DIGITS:
                    raise GuardProblem(line, f"a number of {len(ev.value)} digits", "quote it if it is a code, "
                                       "or fix the value")
                total += 1
                if stack:
                    stack[-1][2] += 1
                if ev.anchor:
                    sizes[ev.anchor] = 1
            elif isinstance(ev, CollectionStartEvent):
                if len(stack) >= MAX_DEPTH:
                    raise GuardProblem(line, f"nested deeper than {MAX_DEPTH} levels", "a spec is a few levels deep; "
                                       "check the indentation")
                stack.append([isinstance(ev, MappingStartEvent), True, 1, ev.anchor])
            elif isinstance(ev, CollectionEndEvent):
                _, _, n, anchor = stack.pop()
                total += 1
                if anchor:
                    sizes[anchor] = n
                if stack:
                    stack[-1][2] += n
            if total > MAX_NODES:
                raise GuardProblem(line, f"the document expands to more than {MAX_NODES} values (aliases)",
                                   "remove the repeated aliases (&anchor / *alias)")
    except GuardProblem:
        raise
    except MarkedYAMLError:
        return  # the loader reports syntax errors with their line
    except YAMLError as e:
        raise GuardProblem(1, f"YAML error: {e}", "fix the file") from None

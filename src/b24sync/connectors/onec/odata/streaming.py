"""Streaming readers for large OData bodies (the exchange-plan change package above all).

1C builds the whole ``SelectChanges`` package in memory and ignores ``$top``/``$filter`` there, so the client cannot
make it smaller; the only defence is to read it as a stream and refuse a body over a configured size (facts learned
from the ``onecdc`` package's change reader, which POSTs ``SelectChanges`` with ``stream=True`` and a byte ceiling).
Two formats are handled, chosen by ``Content-Type``:

- JSON: the elements of the top-level ``value`` array (v3/v4) or ``d.results`` (v2), parsed one by one by
  :class:`JsonArrayStream` — a small hand-written incremental scanner (no ``ijson`` in the pinned set).
- Atom/XML (1C's default, and what ``onecdc`` reads for ``SelectChanges``): ``<entry>`` elements parsed with lxml's
  pull parser, entity resolution and network access off, each entry freed once converted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from lxml import etree

from b24sync.connectors.onec.odata.errors import ODataFormatError, ResponseTooLargeError

_STRUCT = re.compile(rb'["\\\[\]{},]')


class JsonArrayStream:
    """Feed bytes; get back the complete elements of the target array(s) seen so far.

    Only the current element is buffered, so memory is bounded by the largest single element, not the body.
    ``paths`` are the key paths of the arrays to extract (``("value",)`` and ``("d", "results")`` by default).
    """

    def __init__(self, paths: tuple[tuple[str, ...], ...] = (("value",), ("d", "results")),
                 max_element_bytes: int | None = None) -> None:
        self.paths = set(paths)
        self.max_element_bytes = max_element_bytes
        self._stack: list[str] = []  # "{" or "["
        self._paths: list[tuple[str, ...]] = []  # key path of each open container
        self._keys: list[str | None] = []  # current key per open container (objects only)
        self._expect_key: list[bool] = []
        self._in_string = False
        self._skip_next = False  # a backslash ended the previous chunk
        self._key_buf: bytearray | None = None
        self._target_depth: int | None = None  # len(stack) inside the target array
        self._elem: bytearray | None = None
        self._elem_depth = 0
        self.seen_target = False
        self.elements = 0
        self.started = False
        self.finished = False

    def feed(self, chunk: bytes) -> list[Any]:
        out: list[Any] = []
        if not chunk:
            return out
        if not self.started:
            stripped = chunk.lstrip()
            if stripped.startswith(b"\xef\xbb\xbf"):
                stripped = stripped[3:].lstrip()
            if stripped:
                if stripped[:1] != b"{":
                    raise ODataFormatError("streamed body is not a JSON object", detail={"start": stripped[:40].decode("utf-8", "replace")})
                self.started = True
        cap_from = 0 if self._elem is not None else None
        key_from = 0 if self._key_buf is not None else None
        skip_pos = 0 if self._skip_next else -1
        self._skip_next = False
        for m in _STRUCT.finditer(chunk):
            i = m.start()
            if i == skip_pos:
                continue
            c = chunk[i:i + 1]
            if self._in_string:
                if c == b"\\":
                    skip_pos = i + 1
                    if skip_pos == len(chunk):
                        self._skip_next = True
                elif c == b'"':
                    self._in_string = False
                    if self._key_buf is not None:
                        self._key_buf += chunk[key_from:i]
                        key = json.loads(b'"' + bytes(self._key_buf) + b'"')
                        self._keys[-1] = key
                        self._key_buf = None
                        key_from = None
                continue
            if c == b'"':
                self._in_string = True
                if self._elem is None and self._stack and self._stack[-1] == "{" and self._expect_key[-1]:
                    self._expect_key[-1] = False
                    self._key_buf = bytearray()
                    key_from = i + 1
                continue
            if c == b"," :
                if self._stack and self._stack[-1] == "{":
                    self._expect_key[-1] = True
                continue
            if c in (b"{", b"["):
                parent_path = self._paths[-1] if self._paths else ()
                if not self._stack:
                    path = ()  # the root container
                elif self._stack[-1] == "{":
                    path = parent_path + ((self._keys[-1] or ""),)
                else:
                    path = parent_path + ("[]",)
                if self._elem is None and self._target_depth is not None and len(self._stack) == self._target_depth:
                    self._elem = bytearray()
                    self._elem_depth = len(self._stack)
                    cap_from = i
                self._stack.append(c.decode())
                self._paths.append(path)
                self._keys.append(None)
                self._expect_key.append(c == b"{")
                if c == b"[" and self._elem is None and self._target_depth is None and path in self.paths:
                    self._target_depth = len(self._stack)
                    self.seen_target = True
                continue
            # closing bracket
            if not self._stack:
                raise ODataFormatError("unbalanced JSON in streamed body")
            self._stack.pop()
            self._paths.pop()
            self._keys.pop()
            self._expect_key.pop()
            if self._elem is not None and len(self._stack) == self._elem_depth:
                self._elem += chunk[cap_from:i + 1]
                out.append(self._finish_element())
                cap_from = None
            elif self._target_depth is not None and len(self._stack) == self._target_depth - 1:
                self._target_depth = None  # the target array closed
            if not self._stack:
                self.finished = True
        if self._elem is not None and cap_from is not None:
            self._elem += chunk[cap_from:]
            if self.max_element_bytes is not None and len(self._elem) > self.max_element_bytes:
                raise ResponseTooLargeError(f"one element of the streamed array exceeds {self.max_element_bytes} bytes")
        if self._key_buf is not None and key_from is not None:
            self._key_buf += chunk[key_from:]
        return out

    def _finish_element(self) -> Any:
        raw = bytes(self._elem or b"")
        self._elem = None
        self.elements += 1
        try:
            return json.loads(raw, parse_float=Decimal)  # money as Decimal, never binary float (§1.5)
        except ValueError as exc:
            raise ODataFormatError(f"malformed element #{self.elements} in streamed JSON array") from exc

    def close(self) -> None:
        if not self.finished:
            raise ODataFormatError("streamed JSON body ended early (truncated response)")


# ---- Atom -------------------------------------------------------------------------------------------------------
ATOM = "http://www.w3.org/2005/Atom"
NS_D = "http://schemas.microsoft.com/ado/2007/08/dataservices"
NS_M = "http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"


def safe_pull_parser(tag: str | None = None) -> etree.XMLPullParser:
    """lxml pull parser with the defusedxml policy: no entity expansion, no DTD loading, no network."""
    return etree.XMLPullParser(events=("end",), tag=tag, resolve_entities=False, no_network=True,
                               load_dtd=False, huge_tree=False, remove_blank_text=True)


def _convert(el: etree._Element) -> Any:
    if el.get(f"{{{NS_M}}}null") == "true":
        return None
    typ = el.get(f"{{{NS_M}}}type", "Edm.String")
    children = [c for c in el if isinstance(c.tag, str)]
    if typ.startswith("Collection(") or (children and all(etree.QName(c).localname == "element" for c in children)):
        return [_props(c) if len(c) else _convert(c) for c in children]
    if children:
        return _props(el)
    text = el.text or ""
    if typ == "Edm.Boolean":
        return text.strip().lower() == "true"
    if typ in ("Edm.Double", "Edm.Decimal", "Edm.Single"):
        return Decimal(text) if text else None
    if typ in ("Edm.Int16", "Edm.Int32", "Edm.Byte"):
        return int(text) if text else None
    # Edm.Int64 stays a string, like 1C's JSON (§1.5); GUIDs, dates and strings as text.
    return text


def _props(el: etree._Element) -> dict[str, Any]:
    return {etree.QName(c).localname: _convert(c) for c in el if isinstance(c.tag, str)}


def atom_entry_to_dict(entry: etree._Element) -> dict[str, Any]:
    """``{"odata.type": <category term>, <property>: <value>, …}`` from an Atom ``<entry>``."""
    out: dict[str, Any] = {}
    cat = entry.find(f"{{{ATOM}}}category")
    if cat is not None and cat.get("term"):
        out["odata.type"] = cat.get("term")
    props = entry.find(f"{{{ATOM}}}content/{{{NS_M}}}properties")
    if props is None:
        props = entry.find(f"{{{NS_M}}}properties")
    if props is not None:
        out.update(_props(props))
    return out


class AtomEntryStream:
    def __init__(self) -> None:
        self._parser = safe_pull_parser(tag=f"{{{ATOM}}}entry")
        self.elements = 0

    def feed(self, chunk: bytes) -> list[dict[str, Any]]:
        if b"<!ENTITY" in chunk:  # defusedxml's forbid_entities policy
            raise ODataFormatError("XML body declares entities; refused")
        try:
            self._parser.feed(chunk)
            out = []
            for _, el in self._parser.read_events():
                out.append(atom_entry_to_dict(el))
                self.elements += 1
                parent = el.getparent()
                el.clear()
                if parent is not None:  # drop already-converted siblings so memory stays flat
                    while el.getprevious() is not None:
                        del parent[0]
            return out
        except etree.XMLSyntaxError as exc:
            raise ODataFormatError(f"malformed XML in streamed body: {exc}") from exc

    def close(self) -> None:
        try:
            self._parser.close()
        except etree.XMLSyntaxError as exc:
            raise ODataFormatError(f"streamed XML body ended early: {exc}") from exc


def stream_for(content_type: str) -> JsonArrayStream | AtomEntryStream:
    ct = content_type.lower()
    if "xml" in ct:
        return AtomEntryStream()
    return JsonArrayStream()


def iter_bounded(chunks: Iterator[bytes], parser: JsonArrayStream | AtomEntryStream, max_bytes: int | None,
                 *, context: str) -> Iterator[Any]:
    """Synchronous helper (tests, tools): feed chunks, enforce the byte bound, yield elements."""
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if max_bytes is not None and total > max_bytes:
            raise ResponseTooLargeError(too_large_message(context, max_bytes, total))
        yield from parser.feed(chunk)
    parser.close()


def too_large_message(context: str, limit: int, got: int, declared: bool = False) -> str:
    what = f"declared {got} bytes" if declared else f"sent at least {got} bytes"
    return (f"{context}: the server {what}, over the {limit}-byte limit (max_package_bytes); the connection was "
            "dropped. 1C builds the whole exchange package at once and ignores $top — raise the limit, or make "
            "the exchange plan register fewer objects per node, then read again (nothing was acknowledged)")

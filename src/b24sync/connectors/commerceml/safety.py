"""Untrusted XML: the prolog check that runs before lxml sees a byte, and the lxml parser options.

CommerceML files arrive from 1C over HTTP, from drop folders and from zip packages (§3.4, §4.1); none of them
legitimately needs a DTD. The rules follow defusedxml's policy (forbid entity declarations and external
references) without relying on it, because lxml's streaming ``iterparse`` is not covered by defusedxml:

* a ``<!DOCTYPE`` that declares entities (``<!ENTITY``; billion laughs, XXE), names an external subset
  (``SYSTEM``/``PUBLIC``) or has any internal subset is rejected with :class:`UnsafeXMLError` before anything is
  parsed or yielded (only the inert ``<!DOCTYPE name>`` passes);
* lxml runs with ``resolve_entities=False, no_network=True, load_dtd=False`` as a second line of defence;
* the prolog (everything before the root element) is capped, so a giant internal subset cannot be used to
  exhaust memory while we look for the root.

The check also reads the XML declaration: encoding (UTF-8 with or without BOM, windows-1251 — §3.1) is honoured by
libxml2 itself; we only record it for ``inspect`` and refuse encodings that are not ASCII-compatible (UTF-16/32),
because the byte-level DOCTYPE check would be blind to them and 1C never writes them.
"""

from __future__ import annotations

import re
from typing import BinaryIO

from b24sync.engine.errors import ValidationError

MAX_PROLOG_BYTES = 1 << 20  # 1 MiB before the root start tag is far more than any real file needs
_CHUNK = 64 * 1024
_BOM = b"\xef\xbb\xbf"

_DECL_RE = re.compile(rb"^<\?xml\s[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']", re.S)
_ENTITY_RE = re.compile(rb"<!ENTITY", re.I)
_EXTERNAL_RE = re.compile(rb"<!DOCTYPE\s+[^\s\[>]+\s+(SYSTEM|PUBLIC)\b", re.I)


class CommerceMLError(ValidationError):
    """The file is not usable CommerceML (syntax error, unsupported encoding, missing required element)."""


class UnsafeXMLError(CommerceMLError):
    """The file tries to use DTD features (entities, external subsets) that untrusted XML must not use."""


_SIMPLE_DOCTYPE_RE = re.compile(rb"<!DOCTYPE\s+[^\s\[\]>\"']+\s*>")


def _doctype_refusal(buf: bytes) -> str:
    if _ENTITY_RE.search(buf):
        return "DOCTYPE with entity declarations refused (entity expansion / XXE)"
    if _EXTERNAL_RE.search(buf):
        return "DOCTYPE with an external DTD refused (external entity / network)"
    return "DOCTYPE with an internal subset refused (CommerceML never needs a DTD)"


def _root_start(buf: bytes) -> int:
    """Offset of the root element's ``<`` in ``buf`` (skipping declaration, comments and PIs), or -1 when more
    bytes are needed. The scan is sequential and exact for comments (``-->``) and PIs (``?>``), so a DOCTYPE is
    always met before the root. Only the bare form ``<!DOCTYPE name>`` is let through; anything more (internal
    subset, SYSTEM/PUBLIC id) raises :class:`UnsafeXMLError` — quoting tricks inside a subset cannot hide a
    declaration because the subset itself is refused."""
    i = 0
    n = len(buf)
    while True:
        j = buf.find(b"<", i)
        if j < 0 or j + 1 >= n:
            return -1
        nxt = buf[j + 1:j + 2]
        if nxt == b"?":
            k = buf.find(b"?>", j)
            if k < 0:
                return -1
            i = k + 2
        elif buf.startswith(b"<!--", j):
            k = buf.find(b"-->", j)
            if k < 0:
                return -1
            i = k + 3
        elif nxt == b"!":
            end = buf.find(b">", j)
            if end < 0:
                return -1
            if not _SIMPLE_DOCTYPE_RE.fullmatch(buf, j, end + 1):
                raise UnsafeXMLError(_doctype_refusal(buf[j:]))
            i = end + 1
        else:
            return j


class GuardedStream:
    """A read-only byte stream that has already passed the prolog check. Feed it to ``lxml.etree.iterparse``."""

    def __init__(self, raw: BinaryIO, *, name: str = "<stream>") -> None:
        self._raw = raw
        self.name = name
        head = b""
        while True:
            chunk = raw.read(_CHUNK)
            head += chunk
            stripped = head[3:] if head.startswith(_BOM) else head
            try:
                found = _root_start(stripped)
            except UnsafeXMLError as exc:
                raise UnsafeXMLError(f"{name}: {exc.reason}") from None
            if found >= 0 or not chunk:
                break
            if len(head) > MAX_PROLOG_BYTES:
                raise UnsafeXMLError(f"{name}: no root element within the first {MAX_PROLOG_BYTES} bytes "
                                     "(oversized prolog/DTD refused)")
        self.bom = head.startswith(_BOM)
        body = head[3:] if self.bom else head
        if body[:2] in (b"\xff\xfe", b"\xfe\xff") or body[:4] in (b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00") \
                or body[:2] in (b"<\x00", b"\x00<"):
            raise CommerceMLError(f"{name}: UTF-16/UTF-32 XML is not supported (1C writes UTF-8 or windows-1251)")
        m = _DECL_RE.match(body.lstrip(b" \t\r\n"))
        self.encoding = m.group(1).decode("ascii").upper() if m else "UTF-8"
        if self.encoding.replace("-", "").replace("_", "") in {"UTF16", "UTF32", "UCS2", "UCS4", "UTF16LE",
                                                                 "UTF16BE"}:
            raise CommerceMLError(f"{name}: encoding {self.encoding} is not supported")
        self._head = head
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        if self._pos < len(self._head):
            if size is None or size < 0:
                out = self._head[self._pos:] + self._raw.read()
                self._pos = len(self._head)
                return out
            out = self._head[self._pos:self._pos + size]
            self._pos += len(out)
            return out
        return self._raw.read(size if size is not None else -1)

    def close(self) -> None:
        self._raw.close()


# Passed to lxml.etree.iterparse. DTDs are never loaded, entities never resolved, the network never used.
PARSER_OPTIONS = dict(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    attribute_defaults=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
)

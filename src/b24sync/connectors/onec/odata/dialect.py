"""What differs between the OData services one client serves (other-erps-and-bus.md §2.4 table and "Minimum
generic client"). Nothing 1C-specific lives outside this module and the presets.

- ``1c``        1C ``standard.odata``: v3, ``$format=json`` mandatory (erp-side.md §1.2), ``value`` envelope,
                ``odata.count`` as a string, ``guid'…'`` keys, no ETag/If-Match (§1.10) → compare-and-write guard
                on ``DataVersion``, Basic auth with UTF-8 credentials (§1.11).
- ``sap``       SAP S/4HANA v2: ``{"d": {"results": [...], "__count", "__next"}}``, CSRF token for writes,
                ETag required (428 without If-Match, 412 stale) (other-erps §2.1).
- ``dataverse`` v4: ``value`` + ``@odata.nextLink`` (no ``$skip``), ``@odata.count``, ``@odata.etag`` optional
                If-Match, bare GUID keys (other-erps §2.2).
- ``bc``        Business Central v4: like dataverse but If-Match required (other-erps §2.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote


@dataclass(frozen=True)
class Dialect:
    name: str
    version: int  # OData protocol version: 2, 3 or 4
    format_param: str | None  # query parameter forcing JSON, if the service defaults to Atom/XML
    count_param: tuple[str, str]  # how to ask for an inline total
    supports_skip: bool  # Dataverse rejects $skip: paging only via next links
    version_field: str | None  # a body field carrying the row version (1C DataVersion)
    etag_mode: str  # "compare" (1C: read-compare-write), "require" (SAP/BC), "optional" (Dataverse)
    csrf: bool  # SAP: fetch X-CSRF-Token before writes
    patch_method: str = "PATCH"
    number_rows: bool = False  # 1C: every tabular-section row must carry LineNumber (erp-side.md §1.8)

    def key_segment(self, key: Any) -> str:
        """The ``(…)`` key predicate. Strings that look like GUIDs become ``guid'…'`` (v2/v3) or bare (v4);
        dicts become composite keys ``(Ref_Key=guid'…',LineNumber=1)`` (erp-side.md §1.4)."""
        from b24sync.connectors.onec.odata.filters import Guid, literal

        def lit(v: Any) -> str:
            if isinstance(v, str) and _looks_like_guid(v) and self.guid_keys:
                v = Guid(v)
            return literal(v, version=self.version)

        if isinstance(key, dict):
            inner = ",".join(f"{k}={lit(v)}" for k, v in key.items())
        else:
            inner = lit(key)
        return "(" + quote(inner, safe="'=,:-") + ")"

    @property
    def guid_keys(self) -> bool:
        return self.name != "sap"  # SAP keys are strings ('0000001000'), other-erps §2.4 "Keys in URL"

    # ---- envelopes -------------------------------------------------------------------------------------------
    def rows(self, body: Any) -> list[dict[str, Any]]:
        if isinstance(body, dict):
            if isinstance(body.get("value"), list):  # v3 and v4
                return body["value"]
            d = body.get("d")
            if isinstance(d, dict):
                if isinstance(d.get("results"), list):
                    return d["results"]
                return [d]
            if isinstance(d, list):  # some v1/v2 services
                return d
        raise ValueError("not an OData collection response")

    def entity(self, body: Any) -> dict[str, Any]:
        if isinstance(body, dict) and isinstance(body.get("d"), dict) and "results" not in body["d"]:
            return body["d"]
        if isinstance(body, dict):
            return body
        raise ValueError("not an OData entity response")

    @staticmethod
    def next_link(body: Any) -> str | None:
        if not isinstance(body, dict):
            return None
        d = body.get("d") if isinstance(body.get("d"), dict) else {}
        return body.get("@odata.nextLink") or body.get("odata.nextLink") or d.get("__next") or body.get("__next")

    @staticmethod
    def count(body: Any) -> int | None:
        if not isinstance(body, dict):
            return None
        d = body.get("d") if isinstance(body.get("d"), dict) else {}
        raw = body.get("odata.count", body.get("@odata.count", d.get("__count")))
        return int(raw) if raw is not None else None  # 1C and SAP send it as a string (§1.6)

    def etag_of(self, row: dict[str, Any], headers: Any = None) -> str | None:
        if self.version_field and row.get(self.version_field) is not None:
            return str(row[self.version_field])
        meta = row.get("__metadata") if isinstance(row.get("__metadata"), dict) else {}
        tag = row.get("@odata.etag") or meta.get("etag")
        if tag is None and headers is not None:
            tag = headers.get("ETag")
        return tag


def _looks_like_guid(v: str) -> bool:
    import uuid

    if len(v) != 36:
        return False
    try:
        uuid.UUID(v)
    except ValueError:
        return False
    return True


ONEC = Dialect("1c", 3, "$format=json", ("$inlinecount", "allpages"), True, "DataVersion", "compare", False,
              number_rows=True)
SAP = Dialect("sap", 2, "$format=json", ("$inlinecount", "allpages"), True, None, "require", True)
DATAVERSE = Dialect("dataverse", 4, None, ("$count", "true"), False, None, "optional", False)
BUSINESS_CENTRAL = Dialect("bc", 4, None, ("$count", "true"), True, None, "require", False)

DIALECTS = {d.name: d for d in (ONEC, SAP, DATAVERSE, BUSINESS_CENTRAL)}

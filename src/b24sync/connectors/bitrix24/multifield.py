"""Minimal multi-field (PHONE / EMAIL / WEB / IM / LINK) changes, so that re-saving never duplicates a value.

Legacy ``crm.contact.update`` / ``crm.company.update`` semantics (sheet §6.3, crm-contact-update.md §Working with
Multiple Fields; companies by inference per the sheet's review note): an element *without* ``ID`` adds a value, an
element *with* ``ID`` and a new ``VALUE``/``VALUE_TYPE`` overwrites that entry, ``ID`` with an empty ``VALUE`` deletes
it, entries not mentioned stay as they are. ``crm.item.*`` uses ``fm`` keyed by entry id / ``n0``… with a mandatory
``typeId`` (sheet §6.3, how-to-change-email-or-phone.md).
"""

from __future__ import annotations

import re
from typing import Any

MULTI_FIELDS = ("PHONE", "EMAIL", "WEB", "IM", "LINK")


def normalize(type_id: str, value: str) -> str:
    """Comparison key: phones by digits (``+7 (999) 123-45-67`` == ``+79991234567``), e-mails case-insensitively."""
    v = (value or "").strip()
    if type_id == "PHONE":
        digits = re.sub(r"\D", "", v)
        if len(digits) == 11 and digits[0] == "8":  # Russian trunk prefix 8 ≡ +7
            digits = "7" + digits[1:]
        return digits
    if type_id == "EMAIL":
        return v.lower()
    return v


def _want_list(wanted: Any) -> list[dict[str, str]]:
    out = []
    for w in wanted or []:
        if isinstance(w, str):
            out.append({"VALUE": w, "VALUE_TYPE": "WORK"})
        else:
            out.append({"VALUE": str(w.get("VALUE") or w.get("value") or ""),
                        "VALUE_TYPE": str(w.get("VALUE_TYPE") or w.get("valueType") or "WORK")})
    return [w for w in out if w["VALUE"].strip()]


def diff_multifield(
    type_id: str, current: list[dict[str, Any]] | None, wanted: list[Any] | None, *, remove_missing: bool = True
) -> list[dict[str, Any]]:
    """Legacy-method elements that turn ``current`` (portal rows with ``ID``) into ``wanted``; ``[]`` = no change.

    Values are matched by normalised value first (a pure re-save changes nothing), then unmatched existing entries
    are reused in place for unmatched wanted values (an edit keeps the entry id), extra wanted values are added
    without ``ID`` and — when ``remove_missing`` — leftover entries are deleted with an empty ``VALUE``.
    """
    cur = [c for c in (current or []) if str(c.get("TYPE_ID", type_id)) == type_id]
    want = _want_list(wanted)
    ops: list[dict[str, Any]] = []
    unmatched_cur = list(cur)
    unmatched_want: list[dict[str, str]] = []
    for w in want:
        nv = normalize(type_id, w["VALUE"])
        hit = next((c for c in unmatched_cur if normalize(type_id, str(c.get("VALUE", ""))) == nv), None)
        if hit is None:
            unmatched_want.append(w)
            continue
        unmatched_cur.remove(hit)
        if w["VALUE_TYPE"] and str(hit.get("VALUE_TYPE") or "") != w["VALUE_TYPE"]:
            ops.append({"ID": str(hit["ID"]), "VALUE": str(hit.get("VALUE")), "VALUE_TYPE": w["VALUE_TYPE"]})
    for w in unmatched_want:
        if unmatched_cur and remove_missing:
            c = unmatched_cur.pop(0)
            ops.append({"ID": str(c["ID"]), "VALUE": w["VALUE"], "VALUE_TYPE": w["VALUE_TYPE"]})
        else:
            ops.append({"VALUE": w["VALUE"], "VALUE_TYPE": w["VALUE_TYPE"]})
    if remove_missing:
        for c in unmatched_cur:
            ops.append({"ID": str(c["ID"]), "VALUE": ""})
    return ops


def apply_legacy(current: list[dict[str, Any]] | None, ops: list[dict[str, Any]], type_id: str) -> list[dict[str, Any]]:
    """What the portal holds after ``ops`` (used by tests and dry runs): the documented semantics, nothing more."""
    rows = [dict(c) for c in (current or [])]
    next_id = max([int(c["ID"]) for c in rows] + [0]) + 1
    for op in ops:
        if "ID" in op:
            row = next((r for r in rows if str(r["ID"]) == str(op["ID"])), None)
            if row is None:
                continue
            if op.get("VALUE", None) == "" or op.get("DELETE") == "Y":
                rows.remove(row)
            else:
                row.update({k: v for k, v in op.items() if k in ("VALUE", "VALUE_TYPE")})
        else:
            rows.append({"ID": str(next_id), "TYPE_ID": type_id, "VALUE": op["VALUE"],
                         "VALUE_TYPE": op.get("VALUE_TYPE", "WORK")})
            next_id += 1
    return rows


def to_item_fm(type_id: str, ops: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The same ops in ``crm.item.update`` ``fm`` form: keyed by entry id, new entries ``n0``, ``n1``…"""
    fm: dict[str, dict[str, Any]] = {}
    n = 0
    for op in ops:
        entry = {"typeId": type_id, "value": op.get("VALUE", "")}
        if op.get("VALUE_TYPE"):
            entry["valueType"] = op["VALUE_TYPE"]
        if "ID" in op:
            fm[str(op["ID"])] = entry
        else:
            fm[f"n{n}"] = entry
            n += 1
    return fm

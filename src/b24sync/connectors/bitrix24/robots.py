"""Bitrix24 automation robots of an application (b24restdocs api-reference/bizproc/bizproc-robot/*):

- ``bizproc.robot.add {CODE, HANDLER, AUTH_USER_ID, NAME, DESCRIPTION, USE_SUBSCRIPTION, RETURN_PROPERTIES,
  DOCUMENT_TYPE, FILTER}`` — administrator, **application context only** (``ACCESS_DENIED`` "Application context
  required" otherwise); a CODE already there → ``ERROR_ACTIVITY_ALREADY_INSTALLED``;
  ``bizproc.robot.update {CODE, FIELDS}``, ``bizproc.robot.delete {CODE}``, ``bizproc.robot.list`` (the codes this
  application registered — a list of strings).
- When a workflow reaches the robot, the portal POSTs (form-encoded, PHP bracket keys) to HANDLER: ``workflow_id``,
  ``code``, ``document_id[0..2]`` (``crm``, ``CCrmDocumentCompany``, ``COMPANY_12``), ``document_type[0..2]``,
  ``event_token``, ``properties[...]``, ``use_subscription``, ``timeout_duration``, ``ts`` and ``auth[...]``
  (``access_token`` of AUTH_USER_ID, ``application_token``, ``domain``, ``member_id``, ``user_id``) — the shape of a
  handler payload logged by the bitrix24-php-sdk authors; the doc pages do not list it.
- With ``USE_SUBSCRIPTION: Y`` the robot waits until the application answers ``bizproc.event.send {EVENT_TOKEN,
  RETURN_VALUES, LOG_MESSAGE}`` (RETURN_VALUES keys = RETURN_PROPERTIES).

Robots b24sync registers carry the handler of our intake (``/bitrix24/<system>/robots``) and are reconciled with the
spec on each ``portal prepare``: a missing one is added, one whose name / handler / document type changed is
updated, one of ours (same handler) the spec no longer has is deleted.
"""

from __future__ import annotations

import re
from typing import Any

# Bizproc document types of CRM objects (bizproc-robot-add.md DOCUMENT_TYPE; company/contact as in the SDK sample)
_DOC = {
    "company": ("CCrmDocumentCompany", "COMPANY"),
    "contact": ("CCrmDocumentContact", "CONTACT"),
    "deal": ("CCrmDocumentDeal", "DEAL"),
    "lead": ("CCrmDocumentLead", "LEAD"),
}
DYNAMIC = "Bitrix\\Crm\\Integration\\BizProc\\Document\\Dynamic"
_OBJECT = re.compile(r"^crm\.(company|contact|deal|lead|item:(\d+))(\+.*)?$")
_DOC_ID = re.compile(r"^(COMPANY|CONTACT|DEAL|LEAD|DYNAMIC_(\d+))_([1-9][0-9]{0,18})$")

RETURN_PROPERTIES = {
    "result": {"Name": {"ru": "Результат", "en": "Result"}, "Type": "select",
               "Options": {"ok": "ok", "failed": "failed", "held": "held", "skipped": "skipped"}},
    "message": {"Name": {"ru": "Сообщение", "en": "Message"}, "Type": "text"},
    "target_id": {"Name": {"ru": "ID в учётной системе", "en": "ERP id"}, "Type": "string"},
}


def document_type(crm_object: str) -> list[str] | None:
    """``crm.company`` → ``["crm", "CCrmDocumentCompany", "COMPANY"]``; ``crm.item:1032`` → the Dynamic type."""
    m = _OBJECT.match(crm_object)
    if not m:
        return None
    if m.group(2):
        return ["crm", DYNAMIC, f"DYNAMIC_{m.group(2)}"]
    cls, kind = _DOC[m.group(1)]
    return ["crm", cls, kind]


def record_of(document_id: Any) -> tuple[str, str] | None:
    """``["crm", "CCrmDocumentCompany", "COMPANY_12"]`` (or a dict with keys 0..2) → (``COMPANY``, ``12``);
    ``DYNAMIC_1032_7`` → (``DYNAMIC_1032``, ``7``). None when it is not a CRM document id."""
    if isinstance(document_id, dict):
        document_id = [document_id.get(k, document_id.get(str(k))) for k in range(3)]
    if not isinstance(document_id, list) or len(document_id) != 3 or document_id[0] != "crm":
        return None
    m = _DOC_ID.match(str(document_id[2] or ""))
    if not m:
        return None
    kind = m.group(1)
    return kind, m.group(3)


def robot_fields(code: str, name: str, description: str | None, handler: str, doc_type: list[str],
                 auth_user_id: int) -> dict[str, Any]:
    """What ``bizproc.robot.add`` gets for one robot of the spec (waits for our answer)."""
    f: dict[str, Any] = {"CODE": code, "HANDLER": handler, "AUTH_USER_ID": auth_user_id, "NAME": name,
                         "USE_SUBSCRIPTION": "Y", "RETURN_PROPERTIES": RETURN_PROPERTIES,
                         "DOCUMENT_TYPE": doc_type, "FILTER": {"INCLUDE": [doc_type[:2]]}}
    if description:
        f["DESCRIPTION"] = description
    return f

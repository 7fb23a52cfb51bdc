"""Automation robots of an application [b24restdocs api-reference/bizproc/bizproc-robot/*]:
``bizproc.robot.add|update|delete|list`` (administrator, application context only: ``ACCESS_DENIED`` "Application
context required" through a webhook) and ``bizproc.event.send`` (the application's answer to a waiting robot).

``fire_robot`` is the test hook that plays the portal's side: a workflow reaching the robot on a document POSTs
form-encoded PHP-bracket fields to the robot's HANDLER — ``workflow_id``, ``code``, ``document_id[0..2]``,
``document_type[0..2]``, ``event_token``, ``properties``, ``use_subscription``, ``timeout_duration``, ``ts`` and
``auth[...]`` with the AUTH_USER_ID's OAuth tokens and the ``application_token`` (the shape the bitrix24-php-sdk
authors logged from a real portal). The answer (RETURN_VALUES, LOG_MESSAGE) is kept per event token for inspection;
a token answered once cannot be answered again (the workflow has moved on)."""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

import httpx

from .phpquery import flatten
from .portal import ApiError, method, p

_CODE = re.compile(r"^[A-Za-z0-9._-]+$")
_PROP = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_DOC = {"COMPANY": "CCrmDocumentCompany", "CONTACT": "CCrmDocumentContact", "DEAL": "CCrmDocumentDeal",
        "LEAD": "CCrmDocumentLead"}
DYNAMIC = "Bitrix\\Crm\\Integration\\BizProc\\Document\\Dynamic"


def _app_admin(ctx) -> str:
    if ctx.auth_type != "oauth" or not ctx.app_id:
        raise ApiError(400, "ACCESS_DENIED", "Application context required")  # bizproc-robot-add.md errors
    if ctx.user_id != 1:
        raise ApiError(400, "ACCESS_DENIED", "Access denied!")  # user 1 is the portal's administrator here
    return ctx.app_id


def _robots(portal):  # type: ignore[no-untyped-def]
    return portal.store.table("bizproc_robot")


def _find(portal, app: str, code: str) -> dict | None:  # type: ignore[no-untyped-def]
    return next((r for r in _robots(portal).values() if r["APP"] == app and r["CODE"] == code), None)


def _validate(fields: dict, *, partial: bool = False) -> dict:
    out: dict[str, Any] = {}
    if not partial or "HANDLER" in fields:
        h = str(fields.get("HANDLER") or "")
        if not h:
            raise ApiError(400, "ERROR_WRONG_HANDLER_URL", "Wrong handler URL")
        if not h.startswith(("http://", "https://")):
            raise ApiError(400, "ERROR_UNSUPPORTED_PROTOCOL", "Unsupported handler protocol")
        out["HANDLER"] = h
    if not partial or "NAME" in fields:
        n = fields.get("NAME")
        if not n:
            raise ApiError(400, "ERROR_ACTIVITY_VALIDATION_FAILURE", "Empty activity NAME!")
        out["NAME"] = n
    for key in ("PROPERTIES", "RETURN_PROPERTIES"):
        props = fields.get(key)
        if props is None:
            continue
        if not isinstance(props, dict):
            raise ApiError(400, "ERROR_ACTIVITY_VALIDATION_FAILURE", "Wrong properties array!")
        for k, v in props.items():
            if not _PROP.match(str(k)):
                raise ApiError(400, "ERROR_ACTIVITY_VALIDATION_FAILURE", f"Wrong property key {k}!")
            if not isinstance(v, dict) or not v.get("Name"):
                raise ApiError(400, "ERROR_ACTIVITY_VALIDATION_FAILURE", f"Empty property NAME {k}!")
        out[key] = props
    dt = fields.get("DOCUMENT_TYPE")
    if dt is not None:
        if not (isinstance(dt, list) and len(dt) == 3 and all(isinstance(x, str) and x for x in dt)):
            raise ApiError(400, "ERROR_ACTIVITY_VALIDATION_FAILURE", "Wrong activity DOCUMENT_TYPE!")
        out["DOCUMENT_TYPE"] = dt
    flt = fields.get("FILTER")
    if flt is not None:
        if not isinstance(flt, dict) or not set(flt) <= {"INCLUDE", "EXCLUDE"}:
            raise ApiError(400, "ERROR_ACTIVITY_VALIDATION_FAILURE", "Wrong activity FILTER!")
        out["FILTER"] = flt
    for key in ("AUTH_USER_ID", "USE_SUBSCRIPTION", "DESCRIPTION", "USE_PLACEMENT"):
        if key in fields:
            out[key] = fields[key]
    return out


@method("bizproc.robot.add", scope="bizproc")
def robot_add(portal, ctx, params):
    app = _app_admin(ctx)
    code = str(p(params, "CODE", "") or "")
    if not code:
        raise ApiError(400, "ERROR_ACTIVITY_VALIDATION_FAILURE", "Empty activity code!")
    if not _CODE.match(code):
        raise ApiError(400, "ERROR_ACTIVITY_VALIDATION_FAILURE", "Wrong activity code!")
    if _find(portal, app, code):
        raise ApiError(400, "ERROR_ACTIVITY_ALREADY_INSTALLED", "Activity or Automation rule already installed!")
    row = {"APP": app, "CODE": code, **_validate({str(k).upper(): v for k, v in params.items()})}
    row.setdefault("AUTH_USER_ID", 1)
    row.setdefault("USE_SUBSCRIPTION", "")
    _robots(portal).insert(row)
    return True


@method("bizproc.robot.update", scope="bizproc")
def robot_update(portal, ctx, params):
    app = _app_admin(ctx)
    code = str(p(params, "CODE", "") or "")
    row = _find(portal, app, code)
    if row is None:
        raise ApiError(400, "ERROR_ACTIVITY_NOT_FOUND", "Activity or Automation rule not found!")
    fields = p(params, "FIELDS")
    if not isinstance(fields, dict) or not fields:
        raise ApiError(400, "ERROR_ACTIVITY_VALIDATION_FAILURE", "No fields to update!")
    row.update(_validate({str(k).upper(): v for k, v in fields.items()}, partial=True))
    _robots(portal).save(row)
    return True


@method("bizproc.robot.delete", scope="bizproc")
def robot_delete(portal, ctx, params):
    app = _app_admin(ctx)
    row = _find(portal, app, str(p(params, "CODE", "") or ""))
    if row is None:
        raise ApiError(400, "ERROR_ACTIVITY_NOT_FOUND", "Activity or Automation rule not found!")
    _robots(portal).delete(row["ID"])
    return True


@method("bizproc.robot.list", scope="bizproc")
def robot_list(portal, ctx, params):
    app = _app_admin(ctx)
    return [r["CODE"] for r in _robots(portal).values() if r["APP"] == app]  # codes (bizproc-robot-list.md)


@method("bizproc.event.send", scope="bizproc")
def event_send(portal, ctx, params):
    token = str(p(params, "EVENT_TOKEN", "") or "")
    call = portal.robot_waits.get(token)
    if call is None:
        # what the portal answers for an unknown or finished workflow (dev.1c-bitrix.ru forum: 404 "Бизнес-процесс
        # не найден" when the robot does not wait)
        raise ApiError(400, "ERROR_EVENT_TOKEN", "Бизнес-процесс не найден")
    if call.get("answer") is not None:
        raise ApiError(400, "ERROR_EVENT_TOKEN", "Бизнес-процесс не найден")
    values = p(params, "RETURN_VALUES") or {}
    if not isinstance(values, dict):
        raise ApiError(400, "ERROR_ARGUMENT", "RETURN_VALUES must be an object")
    allowed = set((call.get("return_properties") or {}).keys())
    call["answer"] = {"values": {k: v for k, v in values.items() if k in allowed},
                      "log_message": p(params, "LOG_MESSAGE"), "at": time.time()}
    return True


def fire_robot(portal, code: str, document: str, *, app: str | None = None, properties: dict | None = None,
               timeout: float = 10.0) -> tuple[int, str]:
    """Run robot ``code`` on ``document`` (``COMPANY_12``, ``DEAL_5``, ``DYNAMIC_1032_7``) as a workflow would:
    POST to its HANDLER; returns (HTTP status, body) of our handler. The event token waits for bizproc.event.send
    when the robot subscribes."""
    rows = [r for r in _robots(portal).values() if r["CODE"] == code and (app is None or r["APP"] == app)]
    if not rows:
        raise ValueError(f"no robot {code!r} registered")
    robot = rows[0]
    kind = document.rsplit("_", 1)[0]
    cls = _DOC.get(kind) or (DYNAMIC if kind.startswith("DYNAMIC_") else None)
    if cls is None:
        raise ValueError(f"not a CRM document id: {document}")
    workflow = f"{secrets.token_hex(7)}.{secrets.randbelow(10**8):08d}"
    token = f"{workflow}|A{secrets.randbelow(10**5)}_{secrets.randbelow(10**5)}|{secrets.token_urlsafe(24)}"
    h = {"ID": 0, "APP": robot["APP"], "AUTH_TYPE": int(robot.get("AUTH_USER_ID") or 1),
         "APPLICATION_TOKEN": portal.application_token}
    auth = portal.event_auth(h)
    auth["user_id"] = str(h["AUTH_TYPE"])
    payload = {"workflow_id": workflow, "code": code, "document_id": ["crm", cls, document],
               "document_type": ["crm", cls, kind], "event_token": token, "properties": properties or {},
               "use_subscription": str(robot.get("USE_SUBSCRIPTION") or "N"), "timeout_duration": "660",
               "ts": str(int(portal.now())), "auth": auth}
    if payload["use_subscription"] == "Y":
        portal.robot_waits[token] = {"code": code, "document": document, "answer": None,
                                     "return_properties": robot.get("RETURN_PROPERTIES") or {}}
    pairs = flatten(payload)
    resp = httpx.post(robot["HANDLER"], data=dict(pairs), timeout=timeout, verify=portal.events.verify,
                      headers={"User-Agent": "Bitrix24 Webhook Engine"})
    portal.robot_calls.append({"code": code, "document": document, "event_token": token, "status": resp.status_code})
    return resp.status_code, resp.text

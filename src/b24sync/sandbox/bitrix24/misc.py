"""Non-CRM methods: users, app/scope/methods, departments, notifications, events and the offline queue."""

from __future__ import annotations

import re

from .model import EVENTS
from .portal import METHODS, SCOPES, ApiError, Page, as_int, list_param, method, p


def _user_out(r: dict) -> dict:
    return {"ID": str(r["ID"]), "ACTIVE": r["ACTIVE"], "NAME": r["NAME"], "LAST_NAME": r["LAST_NAME"],
            "SECOND_NAME": r["SECOND_NAME"], "EMAIL": r["EMAIL"], "LAST_LOGIN": "2026-01-12T10:15:00+03:00",
            "DATE_REGISTER": "2024-11-25T03:00:00+03:00", "IS_ONLINE": r["IS_ONLINE"], "TIME_ZONE": r["TIME_ZONE"],
            "TIMESTAMP_X": "25.11.2024 09:00:00", "LAST_ACTIVITY_DATE": "2026-01-12 10:15:00",
            "PERSONAL_GENDER": r["PERSONAL_GENDER"], "PERSONAL_BIRTHDAY": "", "WORK_POSITION": r["WORK_POSITION"],
            "UF_EMPLOYMENT_DATE": "", "UF_DEPARTMENT": r["UF_DEPARTMENT"], "USER_TYPE": r["USER_TYPE"]}


@method("user.current", scope="basic")
def user_current(portal, ctx, params):
    # [§9.1, EN:settings/how-to-call-rest-api/index.md]
    return _user_out(portal.t("user").get(ctx.user_id) or portal.t("user").get(1))


@method("user.get", scope="user")
def user_get(portal, ctx, params):
    flt = {str(k).upper(): v for k, v in (p(params, "filter", {}) or {}).items()}
    if p(params, "ID") is not None:
        flt["ID"] = p(params, "ID")
    rows = [_user_out(r) for r in portal.t("user").rows.values()
            if all(str(r.get(k) if k != "ID" else r["ID"]) == str(v) for k, v in flt.items() if not isinstance(v, dict))]
    return Page(rows, len(rows))


@method("profile", scope="basic")
def profile(portal, ctx, params):
    r = portal.t("user").get(ctx.user_id) or portal.t("user").get(1)
    return {"ID": str(r["ID"]), "ADMIN": bool(r["ADMIN"]), "NAME": r["NAME"], "LAST_NAME": r["LAST_NAME"],
            "PERSONAL_GENDER": r["PERSONAL_GENDER"], "TIME_ZONE": r["TIME_ZONE"], "TIME_ZONE_OFFSET": 10800}


@method("app.info", scope="basic")
def app_info(portal, ctx, params):
    if ctx.auth_type == "webhook":
        return {"SCOPE": sorted(set(SCOPES.values())), "LICENSE": "ru_project", "LICENSE_PREVIOUS": "ru_project",
                "LICENSE_TYPE": "project", "LICENSE_FAMILY": "project"}
    return {"ID": 1, "CODE": portal.client_id, "VERSION": 1, "STATUS": "L", "INSTALLED": True,
            "PAYMENT_EXPIRED": "N", "DAYS": None, "LANGUAGE_ID": "ru", "LICENSE": "ru_project",
            "LICENSE_PREVIOUS": "ru_project", "LICENSE_TYPE": "project", "LICENSE_FAMILY": "project"}


@method("scope", scope="basic")
def scope(portal, ctx, params):
    return sorted(ctx.scopes) if ctx.scopes else sorted(set(SCOPES.values()))


@method("methods", "methods.get", scope="basic")
def methods(portal, ctx, params):
    return sorted(set(METHODS) | {"batch"})


@method("method.get", scope="basic")
def method_get(portal, ctx, params):
    name = str(p(params, "name", "")).lower()
    return {"isExisting": name in METHODS or name == "batch", "isAvailable": name in METHODS or name == "batch"}


@method("department.get", scope="department")
def department_get(portal, ctx, params):
    want = p(params, "ID")
    rows = [{"ID": str(r["ID"]), "NAME": r["NAME"], "SORT": r["SORT"], **({"PARENT": r["PARENT"]} if r["PARENT"] else {}),
             "UF_HEAD": r["UF_HEAD"]} for r in portal.t("department").rows.values()
            if want in (None, "") or str(r["ID"]) == str(want)]
    return Page(rows, len(rows))


def _notify(portal, ctx, params, kind: str):
    # [§6.10, EN:api-reference/chats/notifications/im-notify-system-add.md]
    uid = as_int(p(params, "USER_ID"))
    if not uid:
        raise ApiError(400, "USER_ID_EMPTY", "Recipient ID can't be empty")
    msg = str(p(params, "MESSAGE", "") or "")
    if not msg.strip():
        raise ApiError(400, "MESSAGE_EMPTY", "Message can't be empty")
    attach = p(params, "ATTACH")
    if attach is not None and len(str(attach)) > 60000:
        raise ApiError(400, "ATTACH_OVERSIZE", "You have exceeded the maximum allowable size of attachments")
    tag = p(params, "TAG")
    if tag:
        # A.10: a new notification with an existing TAG removes the older ones — kept here, marked, so a test can
        # still count every notice that was sent
        for old in portal.notifications:
            if old.get("TAG") == tag and old.get("USER_ID") == uid:
                old["REPLACED"] = True
    portal.notifications.append({"ID": len(portal.notifications) + 1, "TYPE": kind, "USER_ID": uid, "MESSAGE": msg,
                                 "MESSAGE_OUT": p(params, "MESSAGE_OUT"), "TAG": p(params, "TAG"),
                                 "SUB_TAG": p(params, "SUB_TAG"), "CLIENT_ID": p(params, "CLIENT_ID"),
                                 "FROM_USER_ID": ctx.user_id})
    return len(portal.notifications)


@method("im.notify.system.add", scope="im")
def notify_system(portal, ctx, params):
    return _notify(portal, ctx, params, "SYSTEM")


@method("im.notify.personal.add", scope="im")
def notify_personal(portal, ctx, params):
    return _notify(portal, ctx, params, "USER")


@method("im.notify", scope="im")
def notify(portal, ctx, params):
    return _notify(portal, ctx, params, str(p(params, "TYPE", "USER")).upper())


# ---- events [fact sheet §7.1, §7.6] ------------------------------------------------------------------------------
def _app_only(ctx) -> str:
    if ctx.auth_type != "oauth" or not ctx.app_id:
        # event.* work only with application auth [EN:api-reference/events/event-bind.md];
        # WRONG_AUTH_TYPE as observed for placement.bind via webhook [PY tests test_error_bitrix_api_wrong_auth_type]
        raise ApiError(403, "WRONG_AUTH_TYPE", "Current authorization type is denied for this method")
    return ctx.app_id


def known_event(name: str) -> bool:
    return name in EVENTS or bool(re.match(r"^ONCRMDYNAMICITEM(ADD|UPDATE|DELETE)_\d+$", name))


@method("events", scope="basic")
def events(portal, ctx, params):
    return sorted(EVENTS)


@method("event.bind", scope="basic")
def event_bind(portal, ctx, params):
    app = _app_only(ctx)
    ev = str(p(params, "event", "") or "").upper()
    if not known_event(ev):
        raise ApiError(400, "ERROR_EVENT_NOT_FOUND", "Event not found")  # [§9.14, EN:event-bind.md]
    offline = str(p(params, "event_type", "online")).lower() == "offline"
    handler = "" if offline else str(p(params, "handler", "") or "")
    if not offline and not handler:
        raise ApiError(400, "ERROR_REQUIRED_PARAMETERS_MISSING", "Required parameter 'handler' is missing")
    if portal.events.find(app, ev, handler, offline):
        raise ApiError(400, "ERROR_HANDLER_ALREADY_EXIST", "Handler already exists!")  # [§9.14, EN:error-codes.md]
    portal.events.bind(app, ev, handler, as_int(p(params, "auth_type")) or 0, offline,
                       p(params, "auth_connector"), p(params, "options") or {}, portal.application_token)
    return True


@method("event.unbind", scope="basic")
def event_unbind(portal, ctx, params):
    app = _app_only(ctx)
    ev = str(p(params, "event", "") or "").upper()
    offline = str(p(params, "event_type", "online")).lower() == "offline"
    handler = p(params, "handler")
    n = 0
    for h in list(portal.events.handlers.values()):
        if h["APP"] == app and h["EVENT"] == ev and bool(h["OFFLINE"]) == offline and \
                (handler in (None, "") or h["HANDLER"] == handler):
            portal.events.handlers.delete(h["ID"])
            n += 1
    return {"count": n}


@method("event.get", scope="basic")
def event_get(portal, ctx, params):
    app = _app_only(ctx)
    return [{"event": h["EVENT"], "handler": h["HANDLER"], "auth_type": str(h["AUTH_TYPE"]), "offline": h["OFFLINE"]}
            for h in portal.events.handlers.values() if h["APP"] == app]


def _offline_select(params):
    flt = {str(k).upper(): v for k, v in (p(params, "filter", {}) or {}).items()}

    def sel(r):
        for k, v in flt.items():
            key = k.lstrip("=")
            if key in ("EVENT_NAME",) and str(r["EVENT_NAME"]).upper() != str(v).upper():
                return False
            if key == "ID" and str(r["ID"]) != str(v):
                return False
            if key == "MESSAGE_ID" and r["MESSAGE_ID"] not in [str(x) for x in list_param(v)]:
                return False
        return True
    return sel


@method("event.offline.get", scope="basic")
def offline_get(portal, ctx, params):
    # [§7.6, EN:api-reference/events/event-offline-get.md]
    app = _app_only(ctx)
    limit = as_int(p(params, "limit")) or 50
    clear = str(p(params, "clear", 1)) not in ("0", "N", "false", "False")
    want_error = str(p(params, "error", 0)) in ("1", "Y", "true")
    pid, events = portal.events.take(app, limit, clear, p(params, "process_id"), want_error, _offline_select(params))
    return {"process_id": pid, "events": events}


@method("event.offline.clear", scope="basic")
def offline_clear(portal, ctx, params):
    app = _app_only(ctx)
    pid = p(params, "process_id")
    if not pid:
        raise ApiError(400, "PROCESS_ID_EMPTY", "Process ID is empty")
    ids = {str(x) for x in list_param(p(params, "id"))} or None
    mids = {str(x) for x in list_param(p(params, "message_id"))} or None
    portal.events.clear(app, str(pid), ids, mids)
    return True


@method("event.offline.error", scope="basic")
def offline_error(portal, ctx, params):
    app = _app_only(ctx)
    pid = p(params, "process_id")
    if not pid:
        raise ApiError(400, "PROCESS_ID_EMPTY", "Process ID is empty")
    portal.events.mark_error(app, str(pid), {str(x) for x in list_param(p(params, "message_id"))})
    return True


@method("event.offline.list", scope="basic")
def offline_list(portal, ctx, params):
    app = _app_only(ctx)
    sel = _offline_select(params)
    recs = sorted((r for r in portal.events.offline_records(app) if sel(r)), key=lambda r: r["ID"], reverse=True)
    start = max(0, as_int(p(params, "start")) or 0)
    out = [portal.events.public(r, with_state=True) for r in recs[start:start + 50]]
    return Page(out, len(recs), start + 50 if start + 50 < len(recs) else None)

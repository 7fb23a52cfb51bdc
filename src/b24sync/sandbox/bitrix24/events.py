"""Outgoing events: online handlers (form-encoded POST, asynchronous, never retried) and the offline queue.

* Delivery format [fact sheet §7.2, EN:api-reference/events/index.md §What Comes to the Handler]: POST
  ``application/x-www-form-urlencoded`` with PHP bracket keys ``event``, ``event_handler_id``, ``data[FIELDS][ID]``,
  ``ts``, ``auth[domain]``, ``auth[client_endpoint]``, ``auth[server_endpoint]``, ``auth[member_id]``,
  ``auth[application_token]`` (+ OAuth tokens for applications, none for outgoing webhooks). All values are strings.
* No retries [§7.3, EN:api-reference/events/index.md §Event Limitations; GH:bitrix-tools/b24-rest-docs#178].
* Offline queue [§7.6, EN:api-reference/events/offline-events.md, event-offline-get.md]: one record per object
  (latest state replaces the pending record), ``clear=0`` reserves under ``process_id``, ``auth_connector``
  suppresses a writer's own changes.
"""

from __future__ import annotations

import queue
import secrets
import threading
import time
from typing import Any, Callable

import httpx

from .model import atom
from .phpquery import flatten


class EventBus:
    def __init__(self, portal) -> None:
        self.portal = portal
        self.handlers = portal.store.table("event_handler")
        self.offline = portal.store.table("event_offline")
        self.deliveries: list[dict[str, Any]] = []  # what was POSTed and what came back (inspection)
        self._q: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._last_offline_ping: dict[str, float] = {}
        self._pending: dict[tuple, int] = {r["APP"] and (r["APP"], r["ENTITY"], r["OBJECT"]) or ("", r["ENTITY"], r["OBJECT"]): r["ID"]
                                              for r in self.offline.values()}
        self.timeout = 5.0
        self.verify: Any = False

    # ---- subscription -------------------------------------------------------------------------------------
    def bind(self, app_id: str | None, event: str, handler: str, auth_type: int, offline: bool,
             connector: str | None, options: dict | None, application_token: str) -> dict:
        row = {"EVENT": event.upper(), "HANDLER": handler, "AUTH_TYPE": auth_type, "OFFLINE": 1 if offline else 0,
               "CONNECTOR": connector or "", "APP": app_id or "", "APPLICATION_TOKEN": application_token,
               "OPTIONS": options or {}}
        self.handlers.insert(row)
        return row

    def find(self, app_id: str | None, event: str, handler: str, offline: bool) -> list[dict]:
        return [h for h in self.handlers.values() if h["APP"] == (app_id or "") and h["EVENT"] == event.upper()
                and h["HANDLER"] == handler and bool(h["OFFLINE"]) == offline]

    # ---- emission -----------------------------------------------------------------------------------------
    def emit(self, event: str, fields: dict[str, Any], connector: str | None = None) -> None:
        event = event.upper()
        now = self.portal.clock.now()
        for h in self.handlers.values():
            if h["EVENT"] != event:
                continue
            if h["OFFLINE"]:
                if connector and h["CONNECTOR"] and connector == h["CONNECTOR"]:
                    continue  # own change, suppressed [EN:api-reference/events/offline-events.md §How to Avoid Cycles]
                self._queue_offline(h, event, fields, now)
            else:
                self._enqueue(h, event, {"FIELDS": fields}, now)

    def _queue_offline(self, h: dict, event: str, fields: dict, now: float) -> None:
        obj = str(fields.get("ID", ""))
        ent = event[:-6] if event.endswith(("UPDATE", "DELETE")) else event[:-3]
        app = h["APP"]
        key = (app, ent, obj)
        with self._lock:
            rec = self.offline.get(self._pending.get(key))
            if rec is not None and not rec["PROCESS_ID"] and rec["ERROR"] == "0":
                # one record per object, latest state wins [EN:api-reference/events/offline-events.md]
                rec.update(EVENT_NAME=event, TIMESTAMP_X=atom(now), EVENT_DATA={"FIELDS": fields}, TS=now)
                self.offline.save(rec)
                return
            self._pending[key] = self.offline.insert(
                {"APP": app, "OBJECT": obj, "ENTITY": ent, "EVENT_NAME": event, "TIMESTAMP_X": atom(now), "TS": now,
                 "EVENT_DATA": {"FIELDS": fields}, "EVENT_ADDITIONAL": {"user_id": str(self.portal.current_user_id)},
                 "MESSAGE_ID": secrets.token_hex(16), "PROCESS_ID": "", "ERROR": "0"})
        self._ping_offline(app, now)

    def _ping_offline(self, app: str, now: float) -> None:
        """``ONOFFLINEEVENT`` push when new records appear, at most once per ``minTimeout`` s
        [EN:api-reference/events/on-offline-event.md]."""
        for h in self.handlers.values():
            if h["APP"] == app and h["EVENT"] == "ONOFFLINEEVENT" and not h["OFFLINE"]:
                min_timeout = float((h.get("OPTIONS") or {}).get("minTimeout", 1))
                if now - self._last_offline_ping.get(app, -1e18) >= min_timeout:
                    self._last_offline_ping[app] = now
                    self._enqueue(h, "ONOFFLINEEVENT", [], now)

    def _enqueue(self, h: dict, event: str, data: Any, now: float) -> None:
        payload = {"event": event, "event_handler_id": str(h["ID"]), "data": data, "ts": str(int(now)),
                   "auth": self.portal.event_auth(h)}
        self.send(h["HANDLER"], payload)

    def send(self, url: str, payload: dict) -> None:
        self._ensure_thread()
        self._q.put((url, flatten(payload), payload))

    # ---- delivery -----------------------------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="b24-sandbox-events", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout, verify=self.verify) as client:
            while True:
                item = self._q.get()
                if item is None:
                    self._q.task_done()
                    return
                url, pairs, payload = item
                rec: dict[str, Any] = {"url": url, "event": payload["event"], "payload": payload, "at": time.time()}
                try:
                    resp = client.post(url, data=dict(pairs) if len(dict(pairs)) == len(pairs) else pairs,
                                       headers={"User-Agent": "Bitrix24 Webhook Engine"})
                    rec["status"] = resp.status_code
                except Exception as exc:  # the portal logs the failure and moves on — no retry
                    rec["status"] = None
                    rec["error"] = repr(exc)
                self.deliveries.append(rec)
                self._q.task_done()

    def drain(self, timeout: float = 5.0) -> bool:
        """Wait until every queued event was attempted (tests)."""
        end = time.time() + timeout
        while time.time() < end:
            if self._q.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    def stop(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._q.put(None)
            self._thread.join(timeout=2)
        self._thread = None

    # ---- offline queue API --------------------------------------------------------------------------------
    def offline_records(self, app: str) -> list[dict]:
        return [r for r in self.offline.values() if r["APP"] == app]

    @staticmethod
    def public(rec: dict, with_state: bool = False) -> dict:
        out = {"ID": str(rec["ID"]), "TIMESTAMP_X": rec["TIMESTAMP_X"], "EVENT_NAME": rec["EVENT_NAME"],
               "EVENT_DATA": rec["EVENT_DATA"], "EVENT_ADDITIONAL": rec["EVENT_ADDITIONAL"],
               "MESSAGE_ID": rec["MESSAGE_ID"]}
        if with_state:
            out["PROCESS_ID"] = rec["PROCESS_ID"]
            out["ERROR"] = rec["ERROR"]
        return out

    def take(self, app: str, limit: int, clear: bool, process_id: str | None, want_error: bool,
             select: Callable[[dict], bool]) -> tuple[str | None, list[dict]]:
        with self._lock:
            recs = [r for r in self.offline_records(app)
                    if not r["PROCESS_ID"] and (r["ERROR"] == "1") == want_error and select(r)]
            recs.sort(key=lambda r: (r["TS"], r["ID"]))  # default order TIMESTAMP_X ASC
            recs = recs[:limit]
            out = [self.public(r) for r in recs]
            if clear:
                for r in recs:
                    self.offline.delete(r["ID"])
                return None, out
            pid = process_id or secrets.token_hex(16)
            for r in recs:
                r["PROCESS_ID"] = pid
                self.offline.save(r)
            return pid, out

    def clear(self, app: str, process_id: str, ids: set[str] | None, message_ids: set[str] | None) -> None:
        with self._lock:
            for r in self.offline_records(app):
                if r["PROCESS_ID"] != process_id:
                    continue
                if ids and str(r["ID"]) not in ids:
                    continue
                if message_ids and r["MESSAGE_ID"] not in message_ids:
                    continue
                self.offline.delete(r["ID"])

    def mark_error(self, app: str, process_id: str, message_ids: set[str]) -> None:
        with self._lock:
            for r in self.offline_records(app):
                if r["PROCESS_ID"] == process_id and (not message_ids or r["MESSAGE_ID"] in message_ids):
                    r["ERROR"] = "1"
                    r["PROCESS_ID"] = ""
                    self.offline.save(r)

"""Alerts on what needs a person (fact sheet ../shared/research/operations.md; docs/operations.md).

Conditions, evaluated every ``alerts.check_every``:

* ``auth:<entity>:<side>`` — a system refuses our credentials (token rotated, password changed);
* ``poll:<entity>:<side>`` — no successful poll for ``MISSED_INTERVALS`` × its interval;
* ``dead:<entity>`` — open dead letters over ``alerts.dead_letters_over``;
* ``paused:<entity>`` — the engine paused the entity (a mapped name disappeared: schema drift);
* ``stuck:<entity>`` — the oldest pending job is older than ``alerts.stuck_minutes`` and no job finished since.

An incident is opened once (one message per channel), stays quiet while it lasts, and sends one recovery message
when it ends; its state is in the shared store, so several processes do not repeat each other. Channels are
independent: e-mail (SMTP) still goes out when Bitrix24 itself is what failed, and a failed channel is retried at
the next check without re-sending on the others. Texts are Russian by default (``alerts.locale: en``).
"""

from __future__ import annotations

import asyncio
import os
import smtplib
import ssl
import time
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import structlog
from sqlalchemy import func, select

from b24sync.engine.health import readiness
from b24sync.engine.runtime import Runtime
from b24sync.spec.models import Alerts, parse_duration
from b24sync.store.db import utcnow
from b24sync.store.kv import SqlState
from b24sync.store.models import DeadLetter, Job

log = structlog.get_logger("b24sync.alerts")

_TEXT = {
    "ru": {"open": "b24sync — проблема: {title}", "close": "b24sync — восстановлено: {title}",
           "body_open": "{detail}\n\nЧто сделать: {fix}\n\nИнтеграция: {spec}",
           "body_close": "Проблема «{title}» больше не наблюдается (длилась {minutes} мин).\n\nИнтеграция: {spec}",
           "auth": "{system} не принимает учётные данные ({entity})", "auth_fix":
               "проверьте токен или пароль в переменных окружения и перезапустите b24sync; записи ждут и будут "
               "переданы после исправления",
           "poll": "нет успешного опроса: {entity} ({side})", "poll_fix":
               "проверьте доступность системы и журнал b24sync; изменения будут прочитаны, когда опрос пройдёт",
           "dead": "{entity}: {n} записей в очереди ошибок", "dead_fix":
               "откройте консоль (раздел «Очередь»), исправьте причину и повторите записи",
           "paused": "{entity} приостановлена: {reason}", "paused_fix":
               "поле или объект исчез в системе — исправьте спецификацию или систему и возобновите сущность",
           "stuck": "{entity}: очередь стоит {minutes} мин", "stuck_fix":
               "проверьте, запущены ли воркеры b24sync и не заблокированы ли лимиты"},
    "en": {"open": "b24sync — problem: {title}", "close": "b24sync — resolved: {title}",
           "body_open": "{detail}\n\nWhat to do: {fix}\n\nIntegration: {spec}",
           "body_close": "«{title}» is no longer observed (it lasted {minutes} min).\n\nIntegration: {spec}",
           "auth": "{system} refuses our credentials ({entity})", "auth_fix":
               "check the token or password in the environment and restart b24sync; records wait meanwhile",
           "poll": "no successful poll: {entity} ({side})", "poll_fix":
               "check that the system is reachable and the b24sync log; changes are read once a poll succeeds",
           "dead": "{entity}: {n} records in the dead-letter queue", "dead_fix":
               "open the console (Queue), fix the cause and replay the records",
           "paused": "{entity} is paused: {reason}", "paused_fix":
               "a field or object disappeared — fix the spec or the system and resume the entity",
           "stuck": "{entity}: the queue has not moved for {minutes} min", "stuck_fix":
               "check that the b24sync workers run and no limit blocks them"},
}


@dataclass(frozen=True)
class Incident:
    key: str
    title: str
    detail: str
    fix: str


def current_incidents(rt: Runtime, cfg: Alerts) -> list[Incident]:
    t = _TEXT[cfg.locale]
    out: list[Incident] = []
    r = readiness(rt)
    for key, e in r.entities.items():
        entity, side = key.split(":", 1)
        system = rt.spec.system_for(rt.spec.entities[entity], side)  # type: ignore[arg-type]
        if e["verdict"] == "auth":
            title = t["auth"].format(system=system, entity=entity)
            out.append(Incident(f"auth:{key}", title, str(e.get("error") or title), t["auth_fix"]))
        elif e["verdict"] == "late":
            title = t["poll"].format(entity=entity, side=side)
            out.append(Incident(f"poll:{key}", title, str(e.get("error") or title), t["poll_fix"]))
    now = utcnow()
    with rt.db.connect() as conn:
        for entity, n in conn.execute(select(DeadLetter.entity, func.count()).where(
                DeadLetter.resolved_at.is_(None), DeadLetter.kind == "dead").group_by(DeadLetter.entity)):
            if n > cfg.dead_letters_over:
                title = t["dead"].format(entity=entity, n=n)
                out.append(Incident(f"dead:{entity}", title, title, t["dead_fix"]))
        for entity, first in conn.execute(select(Job.entity, func.min(Job.created_at)).where(
                Job.state == "pending").group_by(Job.entity)):
            f = first if first.tzinfo else first.replace(tzinfo=now.tzinfo)
            if now - f > timedelta(minutes=cfg.stuck_minutes) and not _moved_since(conn, entity, f):
                minutes = int((now - f).total_seconds() // 60)
                title = t["stuck"].format(entity=entity, minutes=minutes)
                out.append(Incident(f"stuck:{entity}", title, title, t["stuck_fix"]))
        try:
            from b24sync.store.models import EntityState

            for row in conn.execute(select(EntityState.entity, EntityState.reason).where(EntityState.paused)):
                title = t["paused"].format(entity=row.entity, reason=row.reason or "")
                out.append(Incident(f"paused:{row.entity}", title, title, t["paused_fix"]))
        except Exception:  # noqa: BLE001 - an older store without the table
            pass
    return out


def _moved_since(conn: Any, entity: str, since: Any) -> bool:
    from b24sync.store.models import HistoryEntry

    return conn.execute(select(HistoryEntry.id).where(HistoryEntry.entity == entity, HistoryEntry.at > since,
                                                      HistoryEntry.outcome == "ok").limit(1)).first() is not None


class Notifier:
    """Sends one incident message on each configured channel; returns the channels that failed."""

    def __init__(self, rt: Runtime, cfg: Alerts) -> None:
        self.rt, self.cfg = rt, cfg

    async def send(self, incident: Incident, *, opened: bool, minutes: int = 0, channels: set[str] | None = None
                   ) -> set[str]:
        t = _TEXT[self.cfg.locale]
        subject = t["open" if opened else "close"].format(title=incident.title)
        body = (t["body_open"].format(detail=incident.detail, fix=incident.fix, spec=self.rt.spec.name) if opened
                else t["body_close"].format(title=incident.title, minutes=minutes, spec=self.rt.spec.name))
        failed: set[str] = set()
        want = channels if channels is not None else self.channels()
        if "email" in want:
            try:
                await asyncio.to_thread(self._email, subject, body)
            except Exception as e:  # noqa: BLE001
                log.warning("alert e-mail failed", error=f"{type(e).__name__}: {e}", incident=incident.key)
                failed.add("email")
        if "bitrix24" in want:
            try:
                await self._bitrix24(incident, subject, body)
            except Exception as e:  # noqa: BLE001
                log.warning("alert to Bitrix24 failed", error=f"{type(e).__name__}: {e}", incident=incident.key)
                failed.add("bitrix24")
        return failed

    def channels(self) -> set[str]:
        return {c for c, v in (("email", self.cfg.email), ("bitrix24", self.cfg.bitrix24)) if v is not None}

    def _email(self, subject: str, body: str) -> None:
        e = self.cfg.email
        assert e is not None
        msg = EmailMessage()
        msg["Subject"], msg["From"], msg["To"] = subject, e.sender, ", ".join(e.to)
        msg.set_content(body)
        ctx = ssl.create_default_context()
        cls = smtplib.SMTP_SSL if e.security == "tls" else smtplib.SMTP
        kw: dict[str, Any] = {"context": ctx} if e.security == "tls" else {}
        with cls(e.smtp_host, e.smtp_port, timeout=20, **kw) as s:
            if e.security == "starttls":
                s.starttls(context=ctx)
            user = os.environ.get(e.username_env) if e.username_env else None
            if user:
                s.login(user, os.environ.get(e.password_env or "", ""))
            s.send_message(msg)

    async def _bitrix24(self, incident: Incident, subject: str, body: str) -> None:
        b = self.cfg.bitrix24
        assert b is not None
        name = b.system or next(n for n, s in self.rt.spec.systems.items() if s.type == "bitrix24")
        adapter = self.rt.adapters[name]
        client = adapter.client  # type: ignore[attr-defined]
        text = f"[b]{subject}[/b]\n{body}"
        for uid in b.notify_user_ids:
            # the adapter's notify verb: TAG (repeats replace) with the CLIENT_ID a webhook caller must send beside it
            await adapter.notify(str(uid), text, tag=f"b24sync|{incident.key}")  # type: ignore[attr-defined]
        if b.chat_id:
            await client.call("im.message.add", {"DIALOG_ID": f"chat{b.chat_id}", "MESSAGE": text})


async def check_once(rt: Runtime, cfg: Alerts, notifier: Notifier | None = None) -> dict[str, str]:
    """Open, keep or close incidents; returns {incident key: "opened" | "closed"} for what was sent now."""
    notifier = notifier or Notifier(rt, cfg)
    state = SqlState(rt.db)
    now = time.time()
    current = {i.key: i for i in await asyncio.to_thread(current_incidents, rt, cfg)}
    index = state.get("alerts:open") or {}
    sent: dict[str, str] = {}
    for key, inc in current.items():
        entry = index.get(key)
        pending = set(entry.get("pending", [])) if entry else notifier.channels()
        if entry is None or pending:
            failed = await notifier.send(inc, opened=True, channels=pending)
            index[key] = {"since": entry["since"] if entry else now, "title": inc.title, "detail": inc.detail,
                          "fix": inc.fix, "pending": sorted(failed)}
            if entry is None:
                sent[key] = "opened"
    for key in [k for k in index if k not in current]:
        entry = index[key]
        inc = Incident(key, entry["title"], entry.get("detail", ""), entry.get("fix", ""))
        failed = await notifier.send(inc, opened=False, minutes=int((now - entry["since"]) // 60))
        if failed and failed == notifier.channels():
            continue  # nothing went out: try the recovery message again next time
        del index[key]
        sent[key] = "closed"
    state.update("alerts:open", lambda _old: (index, None))
    return sent


async def run_alerts(rt: Runtime, *, stop: asyncio.Event | None = None) -> None:
    cfg = rt.spec.alerts
    if cfg is None:
        return
    stop = stop or asyncio.Event()
    every = parse_duration(cfg.check_every)
    notifier = Notifier(rt, cfg)
    while not stop.is_set():
        try:
            sent = await check_once(rt, cfg, notifier)
            for k, v in sent.items():
                log.info("alert", incident=k, state=v)
        except Exception as e:  # noqa: BLE001 - alerting never stops the service
            log.warning("alert check failed", error=f"{type(e).__name__}: {e}")
        try:
            await asyncio.wait_for(stop.wait(), timeout=every)
        except TimeoutError:
            pass

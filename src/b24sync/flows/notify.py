"""Telling managers in Bitrix24 why a record did not sync, or why their edit was put back.

* ``on_parked``: a held / dead / conflicting record gets a timeline comment on its CRM record and, for a CRM-side
  record, an ``im.notify.system.add`` to the record's ``ASSIGNED_BY_ID`` (sheet §6.10, §9.13). An ERP-side record is
  commented on its linked CRM record, if there is one. The same reason is told once per record (a re-poll of a
  still-held record does not spam the manager); a different reason is told again.
* ``on_revert``: a manual edit of ERP-owned fields that the engine reverts gets a timeline comment naming the fields.

Both hooks chain onto a hook another flow installed before (``rt.hooks`` holds one function per name).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from b24sync.engine.runtime import Runtime
from b24sync.messages import t, word
from b24sync.spec.models import Entity

log = logging.getLogger(__name__)

_TIMELINE_TYPE = {"crm.company": "company", "crm.contact": "contact", "crm.deal": "deal", "crm.lead": "lead"}


def timeline_type(obj: str) -> str | None:
    """``crm.company+requisite`` → company; ``crm.item:1038`` → dynamic_1038 (sheet §6.10)."""
    base = obj.split("+", 1)[0]
    if base in _TIMELINE_TYPE:
        return _TIMELINE_TYPE[base]
    if base.startswith("crm.item:"):
        et = int(base.split(":", 1)[1])
        return {1: "lead", 2: "deal", 3: "contact", 4: "company"}.get(et, f"dynamic_{et}")
    return None


def _crm_client(rt: Runtime, entity: Entity) -> Any | None:
    adapter = rt.adapters.get(rt.spec.system_for(entity, "crm"))
    return getattr(adapter, "client", None)


def _state(rt: Runtime) -> Any:
    from b24sync.store.kv import SqlState

    st = getattr(rt, "_notify_state", None)
    if st is None:
        st = SqlState(rt.db)
        rt._notify_state = st  # type: ignore[attr-defined]
    return st


def _target_word(rt: Runtime, entity: Entity, side: str) -> str:
    """The system a parked record was going to, as a manager reads it: the spec's title of that system («1C:УТ 11»),
    else a word in the spec's language («учётная система»), never a bare "ERP" in a Russian text."""
    system = rt.spec.systems.get(rt.spec.system_for(entity, side))  # type: ignore[arg-type]
    if system is not None and system.title:
        return system.title
    return t(f"notify.target.{side}")


def field_words(names: list[str]) -> str:
    """What a manager calls these fields (b24sync.messages ``field.*``; an unknown field by its code)."""
    return ", ".join(word(f"field.{n}", n) for n in names)


async def on_parked(rt: Runtime, *, job: Any, kind: str, reason: str, detail: dict[str, Any]) -> None:
    try:
        entity = rt.spec.entities[job.entity]
    except KeyError:
        return
    side = job.payload.get("side")
    rid = str(job.payload.get("id"))
    ttype = timeline_type(entity.crm.object)
    client = _crm_client(rt, entity)
    if client is None or ttype is None:
        return
    crm_id: str | None = rid if side == "crm" else None
    if side == "erp":
        from b24sync.store import identity

        with rt.db.connect() as conn:
            b = identity.find(conn, rt.spec.scope(job.entity), "erp", rid)
        crm_id = b.id_on("crm") if b else None
    if crm_id is None:
        return
    # one message per (record, reason): a re-polled, still-held record does not notify again
    digest = hashlib.sha256(f"{kind}|{reason}".encode()).hexdigest()[:16]
    key = f"notify:parked:{job.entity}:{side}:{rid}"
    told = await _told_before(rt, key, digest)
    if told:
        return
    key = kind if kind in ("held", "dead", "conflict") else "dead"
    title = entity.title or job.entity
    text = t(f"notify.timeline.{key}", title=title, target=_target_word(rt, entity, "erp" if side == "crm" else "crm"),
             reason=reason)
    from b24sync.connectors.bitrix24.entities import Entities

    ents = Entities(client)
    await ents.timeline_comment(ttype, int(crm_id), text)
    if side == "crm":
        values = (job.payload.get("snapshot") or {}).get("values") or {}
        user = values.get("ASSIGNED_BY_ID") or values.get("assignedById")
        if user in (None, "", 0, "0"):
            rec = await rt.adapter(entity, "crm").get(rt.objref(entity, "crm"), crm_id)
            user = rec.values.get("ASSIGNED_BY_ID") or rec.values.get("assignedById") if rec else None
        if user not in (None, "", 0, "0"):
            name = values.get("TITLE") or values.get("title") or f"#{crm_id}"
            await ents.notify(int(user), t(f"notify.im.{key}", name=name, reason=reason),
                              tag=f"b24sync|{job.entity}|{crm_id}")


async def _told_before(rt: Runtime, key: str, digest: str) -> bool:
    """Record ``digest`` under ``key`` atomically; True if it was already there (told before)."""
    import asyncio

    def put(old: dict[str, Any] | None) -> tuple[dict[str, Any] | None, bool]:
        same = bool(old) and old.get("digest") == digest  # type: ignore[union-attr]
        return (None if same else {"digest": digest}), same

    return await asyncio.to_thread(_state(rt).update, key, put)


async def on_revert(rt: Runtime, *, entity: Entity, side: str, record_id: str, fields: list[str]) -> None:
    if side != "crm":
        return
    ttype = timeline_type(entity.crm.object)
    client = _crm_client(rt, entity)
    if client is None or ttype is None:
        return
    from b24sync.connectors.bitrix24.entities import Entities

    erp = rt.spec.system_for(entity, "erp")
    erp_title = getattr(rt.spec.systems.get(erp), "title", None) or erp
    text = t("notify.reverted", fields=field_words(fields), erp=erp_title)
    await Entities(client).timeline_comment(ttype, int(record_id), text)


def _chain(rt: Runtime, name: str, fn: Any) -> None:
    prev = rt.hooks.get(name)
    if prev is None or getattr(prev, "_b24sync_notify", False):
        wrapped = fn
    else:
        async def wrapped(rt_: Runtime, **kw: Any) -> None:  # type: ignore[misc]
            try:
                await prev(rt_, **kw)
            finally:
                await fn(rt_, **kw)
    wrapped._b24sync_notify = True  # type: ignore[attr-defined]
    rt.hooks[name] = wrapped


def install(rt: Runtime) -> None:
    """Install both hooks when the spec has a Bitrix24 CRM (chaining any hook installed before)."""
    if not any(s.role == "crm" and s.type == "bitrix24" for s in rt.spec.systems.values()):
        return
    _chain(rt, "on_parked", on_parked)
    _chain(rt, "on_revert", on_revert)


def install_for_files(rt: Runtime) -> None:
    """A spec that transfers files (``Entity.files``) tells managers why a file was held (empty, not a PDF, too
    large, unreadable in the ERP) on the card's timeline."""
    if any(e.files for e in rt.spec.entities.values()):
        install(rt)

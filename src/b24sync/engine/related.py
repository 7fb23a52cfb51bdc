"""A related record the target needs (the deal's company) that is not linked yet: pushed first through the entity
that syncs it from this side, and waited for; held with that entity's reason when its guards hold it; held with
the spec's message when no entity may push it."""

from __future__ import annotations

from sqlalchemy import select

from b24sync.engine.enqueue import enqueue_sync
from b24sync.engine.errors import HoldError, RetryableError
from b24sync.engine.mapper import UnresolvedRef, flows_from
from b24sync.engine.runtime import Runtime
from b24sync.store import queue as jobs
from b24sync.store.models import DeadLetter


def push_or_hold(rt: Runtime, name: str, e: UnresolvedRef) -> None:
    """A referenced record (the deal's company) is not linked: push it first through an entity that syncs it from
    this side, when there is one, and wait; if that entity holds it (its guards), hold this record with its reason;
    with no such entity, hold with the spec's message. Always raises."""
    ref_scope = rt.spec.scope(e.ref)
    pushers = [n for n, en in rt.spec.entities.items() if rt.spec.scope(n) == ref_scope and flows_from(rt.spec, en, e.side)]
    what = f"{e.ref} {e.value}"
    if not pushers:
        raise HoldError(e.hold or f"Компания (ID {e.value}) не связана с контрагентом 1С, а передавать компании из "
                        "Bitrix24 в 1С спецификация не разрешает — свяжите её с контрагентом 1С (заполните ИНН, "
                        "чтобы она нашлась при загрузке из 1С), затем повторите.",
                        detail={"ref": e.ref, "id": e.value, "field": e.field,
                                "waits_for": [jobs.wait_key(ref_scope, e.side, e.value)]})
    with rt.db.begin() as conn:
        held = conn.execute(select(DeadLetter.reason).where(
            DeadLetter.entity.in_(pushers), DeadLetter.resolved_at.is_(None),
            DeadLetter.record_key.in_([jobs.record_key(p, "", {"side": e.side, "id": e.value}) for p in pushers]))
        ).scalars().first()
        if held is None:
            enqueue_sync(conn, pushers[0], e.side, e.value, scope=ref_scope, reason=f"needed by {name}")
    if held is not None:
        whom = (f"Компания (ID {e.value}) не передана в 1С" if e.side == "crm"
                else f"Контрагент 1С ({e.value}) не загружен в Bitrix24")
        raise HoldError(f"{e.hold + ' ' if e.hold else ''}{whom}: {held}",
                        detail={"ref": e.ref, "id": e.value, "field": e.field, "held": held,
                                "waits_for": [jobs.wait_key(ref_scope, e.side, e.value)]})
    raise RetryableError(f"{e.field} refers to {what}, not linked yet — pushed it first through {pushers[0]}; "
                         "waiting for it", retry_after=5.0)

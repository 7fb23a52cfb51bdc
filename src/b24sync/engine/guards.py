"""The spec's ``guards`` on a record's source side: ``skip_if`` / ``only_if`` skip it (remembered, so polls do not
bring it back until it changes), ``require_fields``, ``require_related``, ``require_valid`` and
``require_active_party`` hold it with the manager's message (``HoldError``: parked, replayable after a fix)."""

from __future__ import annotations

from typing import Any

from b24sync.engine.errors import HoldError, PermanentError
from b24sync.engine.mapper import other, project
from b24sync.engine.ports import ObjectRef, Record
from b24sync.engine.record_job import RecordJob
from b24sync.engine.runtime import Outcome, Runtime
from b24sync.messages import label as message_label
from b24sync.messages import t
from b24sync.spec.models import Entity, Side
from b24sync.store.fingerprints import canonical, fingerprint


def skipped_by_flag(rj: RecordJob, record: Record) -> Outcome | None:
    """A do-not-sync flag set (``skip_if``) or a routing field pointing elsewhere (``only_if``): the skip, else None."""
    src = rj.src
    for g in rj.entity.guards:
        if g.skip_if and g.skip_if.side == src and _flag_set(record.values.get(g.skip_if.field), g.skip_if.values):
            # Remember what we saw, so polls do not bring the flagged record back until it changes (the flag
            # field is part of the fingerprint, so clearing the flag syncs it).
            h = fingerprint(project(rj.rt.spec, rj.entity, src, record.values))
            return Outcome("skipped", detail={"why": f"do-not-sync flag {g.skip_if.field} is set"},
                           effects=rj.remember_read(record, h))
        if g.only_if and g.only_if.side == src and not _flag_set(record.values.get(g.only_if.field), g.only_if.values):
            h = fingerprint(project(rj.rt.spec, rj.entity, src, record.values))
            return Outcome("skipped", detail={"why": f"routed elsewhere: {g.only_if.field} = "
                                                     f"{record.values.get(g.only_if.field)!r}"},
                           effects=rj.remember_read(record, h))
    return None


def has_require_valid(entity: Entity, src: Side) -> bool:
    return any(g.require_valid and g.require_valid.side == src for g in entity.guards)


async def check_holds(rt: Runtime, entity: Entity, src: Side, src_id: str, record: Record, *, creating: bool) -> None:
    for g in entity.guards:
        if g.require_fields and g.require_fields.side == src:
            # Bitrix24 answers an empty link as 0 (crm.item companyId: 0 — document-flows.md checklist): not filled
            missing = [f for f in g.require_fields.fields if record.values.get(f) in (None, "", [], 0, "0")]
            if missing:
                raise HoldError(g.require_fields.message or t("hold.fill_in", fields=", ".join(missing)),
                                detail={"missing": missing})
        rr = g.require_related
        if rr and (creating or rr.on == "always") and rr.side == src:
            adapter = rt.adapter(entity, src)
            for rel in rr.any:
                where = {k: _subst(v, src_id, record.values) for k, v in rel.where.items()}
                if await adapter.exists(ObjectRef(rel.object), where):
                    break
            else:
                raise HoldError(rr.message, detail={"guard": "require_related"})
        rv = g.require_valid
        if rv and (creating or rv.on == "always") and rv.side == src:
            _check_valid(rv, record.values)
        ap = g.require_active_party
        if ap and (creating or ap.on == "always") and ap.side == src:
            await _check_active_party(rt, entity, ap, record.values)


async def _check_active_party(rt: Runtime, entity: Entity, ap: Any, values: dict[str, Any]) -> None:
    """``require_active_party``: ask the state register (through the ``party_status`` hook a flow installs — the
    engine knows no connector) whether the company may be sent. The hook raises ``HoldError`` with the provider's
    reason (liquidated, liquidating, unknown INN), ``DeferError`` when the provider's quota is used up, or returns."""
    inn = values.get(ap.inn)
    if inn in (None, ""):
        return  # an empty INN is require_valid's / require_fields' business
    hook = rt.hooks.get("party_status")
    if hook is None:
        raise PermanentError(f"the guard require_active_party asks `{ap.provider}`, but no party lookup is installed "
                             "(the auto-fill flow installs it for dadata / kontur-focus service systems)")
    kpp = values.get(ap.kpp) if ap.kpp else None
    await hook(rt, provider=ap.provider, inn=str(inn), kpp=str(kpp) if kpp not in (None, "") else None,
               target=rt.spec.system_for(entity, other(ap.side)), not_found=ap.not_found)


def _check_valid(rv: Any, values: dict[str, Any]) -> None:
    """``require_valid``: every check through b24sync.requisites; one HoldError listing all problems."""
    from b24sync import requisites as rq

    problems: list[str] = []
    for c in rv.checks:
        v = values.get(c.field)
        label = c.label or c.field
        if v in (None, "", []):
            if c.required:
                problems.append(t("valid.fill", label=label))
            continue
        if c.check == "account":
            bic = values.get(c.bic) if c.bic else None
            if bic in (None, ""):
                problems.append(t("valid.fill_bic", label=label))
                continue
            r = rq.check_account(v, bic, field=label)
        elif c.check == "ogrn_or_ogrnip":
            digits = "".join(ch for ch in str(v) if ch.isdigit())
            r = rq.check_ogrnip(v) if len(digits) == 15 else rq.check_ogrn(v)
        else:
            r = getattr(rq, f"check_{c.check}")(v)
        if not r.ok:
            shown = message_label(label)
            problems.append(t("valid.fix", label=label, message=r.message) if shown not in (r.message or "")
                            else t("valid.fix_bare", message=r.message))
    if problems:
        head = rv.message or t("valid.head")
        raise HoldError(f"{head}: " + "; ".join(problems) + ".", detail={"guard": "require_valid",
                                                                        "problems": problems})


def _subst(value: Any, record_id: str, values: dict[str, Any]) -> Any:
    if not isinstance(value, str):
        return value
    if value == "{id}":
        return record_id
    if value.startswith("{field:") and value.endswith("}"):
        return values.get(value[7:-1])
    return value.replace("{id}", record_id)


def _flag_set(value: Any, flags: list[Any]) -> bool:
    return value is not None and any(canonical(value) == canonical(f) for f in flags)

"""Requisite auto-fill by INN (issue 6) and the "never push a dead company" guard's lookup.

A manager types an INN into a Bitrix24 company card; b24sync looks the company up in the state register (DaData or
Kontur.Focus — a ``role: service`` system of the spec) and fills the requisite's empty fields (names, KPP, OGRN,
director, registration date, legal address), then says on the card's timeline what it filled and from where. A value
the manager entered is never overwritten (a different register value is mentioned in the comment instead).

Spec (see src/b24sync/flows/demo/autofill.yaml, docs/party-lookup.md "Auto-fill in Bitrix24"):

* an entity with ``flow: autofill`` over ``crm.company+requisite`` whose other side is the provider
  (``erp: {object: party, system: dadata}``), ``direction: crm_to_erp`` (changes in the CRM trigger it), triggers
  ``webhook: ONCRMCOMPANYADD`` / ``ONCRMCOMPANYUPDATE`` and a poll. Its match keys name the INN / KPP fields
  (``erp: inn`` / ``erp: kpp``); its ``fields`` (if any) restrict what is filled (CRM names; ``ADDR_*`` = the legal
  address as a whole). The installer wraps the ``sync`` job handler for these entities only.
* the guard ``require_active_party`` on any entity (e.g. ``counterparty_to_erp``): the engine calls the hook
  ``rt.hooks["party_status"]`` installed here (the engine knows no connector), which raises ``HoldError`` with the
  provider's reason for a liquidated / liquidating company (or an INN the register does not know).

Providers are built by the runtime from the spec's service systems (``b24sync.connectors.party.adapter``) with the
installation's shared state, so every worker shares one cache and one quota marker; a DaData quota 403 raises
``DeferError`` and the job waits until the reset without spending an attempt.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from b24sync.engine.errors import ConflictError, HoldError, PermanentError, RetryableError, ValidationError
from b24sync.engine.mapper import project
from b24sync.engine.runtime import Handler, Outcome, Runtime
from b24sync.messages import t, word
from b24sync.spec.models import Entity
from b24sync.store import fingerprints
from b24sync.store.fingerprints import canonical, fingerprint
from b24sync.store.queue import ClaimedJob

FLOW = "autofill"
PROVIDER_TYPES = {"dadata": "DaData", "kontur-focus": "Kontur.Focus"}
TARGET_WORDS = {"1c-odata": "1C", "1c-http": "1C", "commerceml": "1C", "kontur-buh": "Kontur.Buhgalteria",
                "odoo": "Odoo"}
ADDR = "ADDR_"
DEMO_YAML = Path(__file__).resolve().parent / "demo" / "autofill.yaml"



def _word(name: str) -> str:
    """What a manager calls a field we fill (b24sync.messages ``field.*``)."""
    return word(f"field.{ADDR}" if name.startswith(ADDR) else f"field.{name}", name)


def provider_title(rt: Runtime, name: str) -> str:
    s = rt.spec.systems.get(name)
    return (s.title if s and s.title else PROVIDER_TYPES.get(s.type if s else "", name)) or name


def target_title(rt: Runtime, name: str) -> str:
    s = rt.spec.systems.get(name)
    if s is None:
        return name or word("word.the_erp")
    if s.title or s.type in TARGET_WORDS:
        return s.title or TARGET_WORDS[s.type]
    return word("word.the_erp") if s.type in ("odata", "http-json", "sql") else name


def _words(names: list[str]) -> str:
    out: list[str] = []
    for n in names:
        w = _word(n)
        if w not in out:
            out.append(w)
    return ", ".join(out)


def _empty(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


# ---- the providers -------------------------------------------------------------------------------------------------


def _lookups(rt: Runtime) -> dict[str, Any]:
    """Service systems of type dadata / kontur-focus → their cached PartyLookup. The runtime built an adapter for a
    provider an entity names (``erp: {system: dadata}``); one only a guard names is built here, the same way."""
    from b24sync.engine.service import shared_state

    out: dict[str, Any] = {}
    state = None
    for name, system in rt.spec.systems.items():
        if system.type not in PROVIDER_TYPES:
            continue
        adapter = rt.adapters.get(name)
        if adapter is not None and hasattr(adapter, "lookup"):
            out[name] = adapter.lookup
            continue
        from b24sync.connectors import dadata, kontur_focus

        state = state or shared_state(rt.db)
        factory = dadata.from_config if system.type == "dadata" else kontur_focus.from_config
        out[name] = factory(system.config(), state)
    return out


def _lookup_for(lookups: dict[str, Any], rt: Runtime, name: str) -> Any:
    lk = lookups.get(name)
    if lk is None:
        raise PermanentError(f"`{name}` is not a DaData / Kontur.Focus service system of this spec "
                             f"(defined: {', '.join(lookups) or 'none'}) — fix the spec")
    return lk


async def _find(lookup: Any, inn: str, kpp: str | None) -> tuple[list[Any], bool]:
    """The unit with this KPP (head office or branch); without a KPP, the head office. Returns (parties, kpp_missed):
    kpp_missed is True when the INN is known but no unit carries the KPP (the head office is returned then)."""
    if kpp:
        parties = await lookup.find_by_inn(inn, kpp=kpp, branches=True)
        if parties:
            return parties, False
        head = await lookup.find_by_inn(inn, branches=False)
        return head, bool(head)
    return await lookup.find_by_inn(inn, branches=False), False


# ---- the guard's lookup (rt.hooks["party_status"]) ---------------------------------------------------------------


def make_party_status(lookups: dict[str, Any]) -> Any:
    async def party_status(rt: Runtime, *, provider: str, inn: str, kpp: str | None, target: str,
                           not_found: str = "hold") -> None:
        from b24sync.connectors.party import check_can_push
        from b24sync.connectors.party.autofill import party_who
        from b24sync.requisites import check_inn

        title, where = provider_title(rt, provider), target_title(rt, target)
        lookup = _lookup_for(lookups, rt, provider)
        r = check_inn(inn)
        if not r.ok:
            raise HoldError(t("party.bad_inn", message=r.message, title=title, where=where),
                            detail={"guard": "require_active_party", "inn": inn})
        parties, _ = await _find(lookup, r.value, kpp)
        if not parties:
            if not_found == "allow":
                return
            raise HoldError(t("party.not_found", inn=r.value, title=title, where=where),
                            detail={"guard": "require_active_party", "inn": r.value, "provider": provider})
        party = parties[0]
        try:
            check_can_push(party)
        except HoldError as e:
            who = party_who(party)
            if party.status.value == "liquidated":
                since = t("party.since_from", date=party.liquidation_date) if party.liquidation_date else ""
                reason = t("party.hold_liquidated", who=who, since=since, title=title, where=where)
            else:
                reason = t("party.hold_liquidating", who=who, title=title, where=where)
            raise HoldError(reason, detail={**e.detail, "guard": "require_active_party"}) from None

    return party_status


# ---- the auto-fill job -----------------------------------------------------------------------------------------------


def _key_fields(entity: Entity) -> tuple[str, str]:
    inn, kpp = "RQ_INN", "RQ_KPP"
    for rule in entity.match:
        for k in rule.keys:
            if k.erp == "inn":
                inn = k.crm
            elif k.erp == "kpp":
                kpp = k.crm
    return inn, kpp


def _wanted(entity: Entity, fill: dict[str, Any]) -> dict[str, Any]:
    """Restrict to the entity's declared ``fields`` and match keys (CRM names; any ADDR_* field means the whole
    address)."""
    if not entity.fields:
        return fill
    allowed = {f.crm for f in entity.fields} | {k.crm for r in entity.match for k in r.keys}  # KPP is a key
    whole_address = any(a.startswith(ADDR) for a in allowed)
    return {k: v for k, v in fill.items() if k in allowed or (whole_address and k.startswith(ADDR))}


async def autofill_record(rt: Runtime, job: ClaimedJob, lookups: dict[str, Any]) -> Outcome:
    from b24sync.connectors.party import PartyStatus, legal_address_fields, requisite_fields
    from b24sync.requisites import check_inn, check_kpp

    entity = rt.entity(job.entity)
    p = job.payload
    if p.get("side") != "crm":
        return Outcome("skipped", detail={"why": "auto-fill reacts to changes of the CRM card only"})
    rid = str(p["id"])
    provider = rt.spec.system_for(entity, "erp")
    lookup = _lookup_for(lookups, rt, provider)
    title = provider_title(rt, provider)
    card, obj = rt.adapter(entity, "crm"), rt.objref(entity, "crm")
    rec = await card.get(obj, rid)  # always the card as it is now: we are about to write to it
    if rec is None or rec.deleted:
        return Outcome("skipped", detail={"why": f"company {rid} no longer exists"})
    values = rec.values
    h = fingerprint(project(rt.spec, entity, "crm", values))
    with rt.db.connect() as conn:
        seen = fingerprints.get(conn, job.entity, "crm", rid)
    if not p.get("force") and seen is not None and h in (seen.read_hash, seen.written_hash):
        return Outcome("unchanged")

    def mark(hash_: str) -> Any:
        return lambda c: fingerprints.mark_read(c, job.entity, "crm", rid, hash_, rec.version)

    inn_field, kpp_field = _key_fields(entity)
    if _empty(values.get(inn_field)):
        return Outcome("skipped", detail={"why": "no INN in the requisite"}, effects=mark(h))
    r = check_inn(values[inn_field])
    if not r.ok:
        raise ValidationError(t("autofill.inn_invalid", title=title, message=r.message), detail={"field": inn_field, "inn": r.value})
    inn = r.value
    kpp = None if _empty(values.get(kpp_field)) else str(values[kpp_field]).strip()
    if kpp is not None:
        rk = check_kpp(kpp)
        if not rk.ok:
            raise ValidationError(t("autofill.kpp_invalid", title=title, message=rk.message),
                                  detail={"field": kpp_field, "kpp": kpp})
        kpp = rk.value
    sole_trader = len(inn) == 12
    key = ["RQ_COMPANY_NAME", "RQ_OGRNIP" if sole_trader else "RQ_OGRN", ADDR + "ADDRESS_1"]
    if not sole_trader:
        key.append(kpp_field)
    if not any(_empty(values.get(k)) for k in key):
        return Outcome("skipped", detail={"why": "the requisites are filled already"}, effects=mark(h))

    parties, kpp_missed = await _find(lookup, inn, kpp)
    client = _crm_client(rt, entity)
    if not parties or kpp_missed:
        if kpp_missed:
            text = t("autofill.kpp_missed", title=title, inn=inn, name=parties[0].short_name, kpp=kpp)
        else:
            text = t("autofill.not_found", title=title, inn=inn)
        await _comment(client, entity, rid, text)
        return Outcome("not_found", detail={"inn": inn, "kpp": kpp, "provider": provider}, effects=mark(h))

    party = parties[0]
    fill = dict(requisite_fields(party))
    addr = legal_address_fields(party)
    manual_address = any(k.startswith(ADDR) and not _empty(v) for k, v in values.items())
    if addr and not manual_address:  # the legal address is filled as a whole, never mixed with a typed one
        fill.update({ADDR + k: v for k, v in addr.items() if k != "TYPE_ID"})
    fill = _wanted(entity, fill)
    write = {k: v for k, v in fill.items() if _empty(values.get(k))}
    kept = {k: (values[k], v) for k, v in fill.items()
            if not _empty(values.get(k)) and not k.startswith(ADDR) and k != inn_field
            and canonical(str(values[k]).strip()) != canonical(str(v))}
    if write:
        try:
            await card.update(obj, rid, write, expected_version=rec.version)
        except ConflictError as e:
            raise RetryableError(f"{e.reason} — will re-read and fill again", retry_after=1.0) from e

    unit = t("autofill.head_office") if not party.is_branch else t("autofill.branch", kpp=party.kpp)
    parts = []
    if write:
        parts.append(t("autofill.filled", title=title, inn=inn, name=party.short_name, unit=unit,
                       fields=_words(sorted(write, key=list(fill).index))))
    if kept:
        parts.append(("b24sync: " if not write else "") + t("autofill.kept", items="; ".join(
            t("autofill.kept_item", field=_word(k), mine=mine, title=title, theirs=theirs)
            for k, (mine, theirs) in kept.items())))
    if party.status in (PartyStatus.LIQUIDATED, PartyStatus.LIQUIDATING):
        since = t("party.since_from", date=party.liquidation_date) if party.liquidation_date else ""
        state = (t("autofill.liquidated", since=since) if party.status is PartyStatus.LIQUIDATED
                 else t("autofill.liquidating"))
        parts.append(t("autofill.attention", title=title, state=state))
    if parts:
        await _comment(client, entity, rid, " ".join(parts))
    after = {**values, **write}
    return Outcome("filled" if write else "checked", target="crm", target_id=rid,
                   detail={"fields": sorted(write), "kept": sorted(kept), "provider": provider,
                           "status": party.status.value},
                   effects=mark(fingerprint(project(rt.spec, entity, "crm", after))))


def _crm_client(rt: Runtime, entity: Entity) -> Any:
    adapter = rt.adapters.get(rt.spec.system_for(entity, "crm"))
    return getattr(adapter, "client", None)


async def _comment(client: Any, entity: Entity, rid: str, text: str) -> None:
    from b24sync.connectors.bitrix24.entities import Entities
    from b24sync.flows.notify import timeline_type

    ttype = timeline_type(entity.crm.object)
    if client is None or ttype is None:
        return
    await Entities(client).timeline_comment(ttype, int(rid), text)  # crm.timeline.comment.add (sheet §9.13)


# ---- installer -------------------------------------------------------------------------------------------------------


def install(rt: Runtime) -> None:
    """Register the party lookups of the spec's service systems: the ``party_status`` hook (for the
    ``require_active_party`` guard) and, for entities with ``flow: autofill``, the auto-fill in place of the sync."""
    uses_guard = any(g.require_active_party for e in rt.spec.entities.values() for g in e.guards)
    flows = [n for n, e in rt.spec.entities.items() if e.flow == FLOW]
    if not uses_guard and not flows:
        return
    lookups = _lookups(rt)
    rt.hooks["party_status"] = make_party_status(lookups)
    if not flows:
        return
    import b24sync.connectors.bitrix24.company_card  # noqa: F401  (registers crm.company+requisite)
    from b24sync.flows import notify

    notify.install(rt)  # invalid INNs are told to the manager (idempotent if another flow installed it)
    prev: Handler | None = rt.handlers.get("sync")

    async def sync_or_autofill(rt_: Runtime, job: ClaimedJob) -> Outcome:
        e = rt_.spec.entities.get(job.entity)
        if e is not None and e.flow == FLOW:
            return await autofill_record(rt_, job, lookups)
        if prev is None:
            raise PermanentError("no sync handler")
        return await prev(rt_, job)

    rt.handlers["sync"] = sync_or_autofill


# ---- demo ------------------------------------------------------------------------------------------------------------


async def demo_step(rt: Runtime, b24: Any, onec: Any, dadata: Any = None) -> list[str]:
    """For ``b24sync demo``: a manager types only an INN into two new Bitrix24 companies — Yandex's (filled from
    DaData) and a liquidated test company's (filled, then held from 1C with the reason on its card)."""
    from b24sync.engine.service import RunOptions, run

    lines: list[str] = []
    name = next((n for n, e in rt.spec.entities.items() if e.flow == FLOW), None)
    if name is None:
        return ["autofill: no entity with `flow: autofill` in the spec"]
    client = rt.adapters[rt.spec.system_for(rt.spec.entities[name], "crm")].client  # type: ignore[attr-defined]
    made = {}
    for title, inn in (("Яндекс (по ИНН)", "7736207543"), ("Новый клиент (по ИНН)", "7700010014")):
        cid = await client.call("crm.company.add", {"fields": {"TITLE": title, "ASSIGNED_BY_ID": 1}})
        await client.call("crm.requisite.add", {"fields": {"ENTITY_TYPE_ID": 4, "ENTITY_ID": cid, "PRESET_ID": 1,
                                                            "NAME": title, "RQ_INN": inn}})
        made[inn] = int(cid)
        lines.append(f"Bitrix24: company #{cid} «{title}» with only INN {inn} in its requisite")
    try:  # the liquidated one is qualified for 1C (a contract, smart process 1038 as in the counterparties flow)
        await client.call("crm.item.add", {"entityTypeId": 1038, "fields": {"title": "Договор поставки",
                                                                             "companyId": made["7700010014"]}})
        lines.append(f"Bitrix24: a contract for #{made['7700010014']}, so it would go to 1C")
    except Exception as e:  # noqa: BLE001 - the portal has no contracts smart process: the hold is then the other one
        lines.append(f"Bitrix24: no contract smart process ({type(e).__name__}) — the 1C guard is not reached")
    await asyncio.sleep(1.1)  # DATE_MODIFY has one-second resolution
    stats = await run(rt, RunOptions(once=True))
    from b24sync.engine.report import actions_text

    lines.append(f"sync: {stats.done} job(s): {actions_text(stats.actions)}; {stats.held} held, {stats.dead} dead")
    for inn, cid in made.items():
        rq = await client.call("crm.requisite.list", {"filter": {"ENTITY_TYPE_ID": 4, "ENTITY_ID": cid}})
        rq0 = (rq or [{}])[0]
        lines.append(f"Bitrix24: #{cid} requisite now {rq0.get('RQ_COMPANY_NAME')!r}, KPP {rq0.get('RQ_KPP')}, "
                     f"OGRN {rq0.get('RQ_OGRN')}")
        if hasattr(b24, "portal"):  # the sandbox's own view (the sandbox has no crm.timeline.comment.list)
            for n in b24.portal.t("timeline_comment").rows.values():
                if str(n.get("ENTITY_ID")) == str(cid) and str(n.get("ENTITY_TYPE", "")).lower() == "company":
                    lines.append(f"  timeline: {str(n.get('COMMENT'))[:260]}")
    if dadata is not None:
        st = getattr(getattr(dadata, "state", None), "sandbox", None)
        if isinstance(st, dict):
            lines.append(f"DaData sandbox: {st.get('requests')} request(s) in total (repeats come from the cache)")
    return lines


__all__ = ["FLOW", "DEMO_YAML", "autofill_record", "demo_step", "install", "make_party_status"]

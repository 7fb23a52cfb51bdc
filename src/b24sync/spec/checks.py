"""Checks that span several parts of a spec (the models check each part on its own)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from b24sync.spec.loader import LineMap
from b24sync.spec.models import Entity, RefTransform, Spec, TableTransform

_ROBOT_OBJECT = re.compile(r"^crm\.(company|contact|deal|lead|item:\d+)(\+.*)?$")

# Connector types a spec may name. `b24sync run` additionally needs a connector registered for the type.
KNOWN_SYSTEM_TYPES = {
    "bitrix24": "Bitrix24 REST (inbound webhook or OAuth app)",
    "1c-odata": "1C standard OData interface",
    "odata": "any OData service (SAP S/4HANA, MS Dynamics 365)",
    "1c-http": "1C published HTTP services (declared operations)",
    "commerceml": "CommerceML 2.x exchange / file drop",
    "http-json": "generic HTTP/JSON API with declared operations (Kontur.Buhgalteria preset)",
    "kontur-buh": "Kontur.Buhgalteria (declared operations preset)",
    "diadok": "Kontur.Diadok EDI",
    "dadata": "DaData party lookup",
    "kontur-focus": "Kontur.Focus party lookup",
    "bank-statement": "1CClientBankExchange statement files",
    "odoo": "Odoo (JSON-RPC)",
    "sql": "an exchange table in an intermediate SQL database",
}


def check_semantics(spec: Spec, file: str, lines: LineMap) -> list:
    from b24sync.spec.loader import SpecProblem

    problems: list[SpecProblem] = []

    def add(path: tuple, what: str, fix: str) -> None:
        problems.append(SpecProblem(file, lines.line_for(path), what, fix))

    for name, system in spec.systems.items():
        if system.type not in KNOWN_SYSTEM_TYPES:
            add(("systems", name, "type"), f"system `{name}` has unknown type `{system.type}`",
                f"use one of {', '.join(sorted(KNOWN_SYSTEM_TYPES))}")
    for role in ("crm",):
        if not any(s.role == role for s in spec.systems.values()):
            add(("systems",), "no system has `role: crm`", "add the Bitrix24 portal with `role: crm`")

    _check_routes(spec, add)
    _check_titles(spec, add)
    robot_codes: dict[tuple[str, str], tuple[str, str]] = {}
    for ename, entity in spec.entities.items():
        base = ("entities", ename)
        _check_sides(spec, ename, entity, add)
        names_ok = {spec.system_for(entity, "crm"), spec.system_for(entity, "erp"), "crm", "erp"}
        if entity.master not in names_ok:
            add(base + ("master",), f"entity `{ename}` names master `{entity.master}`, which is not one of its systems",
                f"use one of {', '.join(sorted(n for n in names_ok if n))}")
        if entity.aggregate is not None:
            _check_aggregate(spec, ename, entity, add)
        if entity.credit_control is not None:
            _check_credit(spec, ename, entity, add)
        if entity.overdue is not None:
            _check_overdue(spec, ename, entity, add)
        if not entity.match and not entity.apart:
            add(base + ("match",), f"entity `{ename}` has no match keys",
                "add `match: [{crm: RQ_INN, erp: ИНН}]` so records are found before anything is created")
        seen_crm: dict[str, int] = {}
        for i, f in enumerate(entity.fields):
            fpath = base + ("fields", i)
            owner = spec.owner_of(entity, f)
            if f.crm in seen_crm:
                add(fpath + ("crm",), f"CRM field `{f.crm}` is mapped twice in `{ename}`",
                    f"keep one mapping (the other is field #{seen_crm[f.crm] + 1})")
            seen_crm[f.crm] = i
            if entity.direction == "erp_to_crm" and owner != "erp":
                add(fpath + ("owner",), f"field `{f.crm}` is owned by {owner}, but `{ename}` flows erp_to_crm only",
                    "set `owner: erp`, or `direction: both` if the CRM may change it")
            if entity.direction == "crm_to_erp" and owner != "crm":
                add(fpath + ("owner",), f"field `{f.crm}` is owned by {owner}, but `{ename}` flows crm_to_erp only",
                    "set `owner: crm`, or `direction: both` if the ERP may change it")
            for j, t in enumerate(f.transform):
                if isinstance(t, RefTransform) and t.ref not in spec.entities:
                    add(fpath + ("transform", j), f"`ref: {t.ref}` names no entity",
                        f"use one of {', '.join(spec.entities)}")
                if isinstance(t, TableTransform) and t.table not in spec.value_maps:
                    add(fpath + ("transform", j), f"transform table `{t.table}` is not defined",
                        f"add it under `value_maps:` (defined: {', '.join(spec.value_maps) or 'none'})")
                if isinstance(t, TableTransform) and t.qualify and owner != "erp":
                    add(fpath + ("transform", j, "qualify"),
                        f"`qualify: {t.qualify}` reads the table ERP → CRM only, but `{f.crm}` is owned by {owner}",
                        "set `owner: erp` on this field, or drop `qualify` (the CRM value cannot say which "
                        f"`{t.qualify}` to write)")
        for i, g in enumerate(entity.guards):
            ap = g.require_active_party
            if ap is not None:
                provider = spec.systems.get(ap.provider)
                if provider is None or provider.type not in ("dadata", "kontur-focus"):
                    add(base + ("guards", i, "require_active_party", "provider"),
                        f"`require_active_party` asks `{ap.provider}`, which is not a dadata / kontur-focus system",
                        "define it under `systems:` as `{type: dadata, role: service, token: ${DADATA_TOKEN}}`")
        for i, t in enumerate(entity.triggers):
            if t.kind == "webhook" and (t.side or "crm") != "crm":
                add(base + ("triggers", i), "a webhook trigger watches Bitrix24 events, so its side is crm",
                    "remove `side:` or use `event:` for an ERP push")
            if t.kind == "event" and (t.side or "erp") != "erp":
                add(base + ("triggers", i), "an event trigger is pushed by the ERP, so its side is erp",
                    "remove `side:` or use `webhook:` for Bitrix24 events")
            if t.robot is not None:
                crm_sys = spec.systems.get(spec.system_for(entity, "crm") or "")
                if crm_sys is None or crm_sys.type != "bitrix24":
                    add(base + ("triggers", i, "robot"), "a robot trigger needs the entity's CRM to be Bitrix24",
                        "use it on an entity whose crm system is of type bitrix24")
                elif not _ROBOT_OBJECT.match(entity.crm.object):
                    add(base + ("triggers", i, "robot"),
                        f"Bitrix24 robots run on leads, deals, contacts, companies and smart processes, not on "
                        f"`{entity.crm.object}`", "put the robot on an entity over crm.company / crm.contact / "
                        "crm.deal / crm.lead / crm.item:N")
                key = (spec.system_for(entity, "crm") or "", t.robot.code)
                if key in robot_codes and robot_codes[key] != (ename, t.robot.side):
                    add(base + ("triggers", i, "robot", "code"),
                        f"robot code `{t.robot.code}` is used twice ({robot_codes[key][0]} and {ename})",
                        "give each robot its own code (one robot = one action); entities over the same card may "
                        "share a code when they pull or send the same side")
                robot_codes.setdefault(key, (ename, t.robot.side))
    return problems


def _check_aggregate(spec: Spec, ename: str, entity: Entity, add) -> None:  # type: ignore[no-untyped-def]
    agg = entity.aggregate
    assert agg is not None
    base = ("entities", ename, "aggregate")
    if entity.direction != "erp_to_crm":
        add(("entities", ename, "direction"), f"`{ename}` sums ERP documents onto CRM records, so it flows erp_to_crm",
            "set `direction: erp_to_crm`")
    vias = set()
    for i, r in enumerate(agg.targets):
        vias.add(r.via)
        if r.via not in spec.entities:
            add(base + ("targets", i, "via"), f"`via: {r.via}` names no entity",
                f"use the entity whose links translate the ERP id: one of {', '.join(spec.entities)}")
        if r.follow and not r.type:
            add(base + ("targets", i, "follow"), "`follow` reads the referenced document, so its object is needed",
                "add `type:` (e.g. Document_СчетНаОплатуКлиенту)")
        needs_total = r.reach or any(x.value == "balance" for x in r.set)
        if needs_total and not r.total:
            add(base + ("targets", i), "`reach` and a `balance` compare the sum with the target's amount due",
                "add `total: OPPORTUNITY` (deal) or `total: opportunity` (smart invoice)")
        if agg.rows:
            for j, path in enumerate(r.ref):
                if "." not in path:
                    continue
                if path.split(".", 1)[0] != agg.rows and not path.startswith(agg.rows + "."):
                    add(base + ("targets", i, "ref", j), f"`{path}` walks another tabular section than `rows: "
                        f"{agg.rows}`", f"write `{agg.rows}.<field>` or a header field")
    if agg.purpose is not None and agg.purpose.via not in vias:
        add(base + ("purpose", "via"), f"`purpose.via: {agg.purpose.via}` is none of the target rules",
            f"use one of {', '.join(sorted(vias))}")


def _check_credit(spec: Spec, ename: str, entity: Entity, add) -> None:  # type: ignore[no-untyped-def]
    """``credit_control`` (docs/flow-credit.md): the ERP's debt onto Bitrix24 deals, through a company entity."""
    cc = entity.credit_control
    assert cc is not None
    base = ("entities", ename, "credit_control")
    if entity.aggregate is not None:
        add(base, f"`{ename}` has both `aggregate` and `credit_control`", "give the credit limit an entity of its own")
    if entity.direction != "erp_to_crm":
        add(("entities", ename, "direction"), f"`{ename}` reads the debt from the ERP and moves CRM deals, so it "
            "flows erp_to_crm", "set `direction: erp_to_crm`")
    if entity.crm.object != "crm.deal":
        add(("entities", ename, "crm", "object"), f"`credit_control` moves deals, not `{entity.crm.object}`",
            "set `crm: {object: crm.deal}`")
    via = spec.entities.get(cc.company)
    if via is None:
        add(base + ("company",), f"`company: {cc.company}` names no entity",
            f"use the entity that links 1C counterparties to companies: one of {', '.join(spec.entities)}")
    elif via.crm.object.split("+", 1)[0] != "crm.company":
        add(base + ("company",), f"`company: {cc.company}` maps `{via.crm.object}`, not Bitrix24 companies",
            "name the entity over crm.company (or crm.company+requisite) whose links reach the ERP counterparty")
    if not cc.limit.erp and not cc.limit.crm and not cc.overdue_forbidden:
        add(base + ("limit",), "`limit` names no field: the rule would never find a limit",
            "add `erp: Лимит` (the УТ contract's allowed debt) and/or `crm: UF_CRM_CREDIT_LIMIT` (a company field)")
    if cc.overdue_forbidden and not cc.overdue:
        add(base + ("overdue_forbidden",), "`overdue_forbidden` needs the overdue debt to compare",
            "add `overdue: ПросроченныйДолг`")
    if cc.limit.crm and not cc.limit.crm.upper().startswith("UF_CRM_"):
        add(base + ("limit", "crm"), f"`limit.crm: {cc.limit.crm}` is not a company user field",
            "use a UF_CRM_… field (portal prepare creates it as money), e.g. UF_CRM_CREDIT_LIMIT")
    if cc.stage.upper().split(":")[-1] in ("WON", "LOSE", "APOLOGY", "NEW"):
        add(base + ("stage",), f"`stage: {cc.stage}` is a stage of the pipeline itself (final or the first), so a "
            "suspended deal could not be told from the others", "name a stage of its own, e.g. UC_CREDIT_HOLD")
    if cc.stage in cc.leave:
        add(base + ("leave",), f"`leave` names the waiting stage `{cc.stage}`", "remove it from `leave`")
    if not cc.pipelines:
        add(base + ("pipelines",), "`pipelines` is empty: no deal would ever be suspended", "use `[0]` (the main one)")
    for i, cat in enumerate(cc.pipelines):
        if cat and len(cc.stage) > 20 - len(str(cat)):
            add(base + ("stage",), f"`stage: {cc.stage}` is too long for pipeline {cat}: Bitrix24 allows "
                f"{20 - len(str(cat))} characters there (crm.status.add)", "shorten it")
        if cat < 0:
            add(base + ("pipelines", i), f"pipeline {cat} is not a CATEGORY_ID", "use 0 or a pipeline's id")


_SMART_OBJECT = re.compile(r"^crm\.item:(\d+)$")


def _check_titles(spec: Spec, add) -> None:  # type: ignore[no-untyped-def]
    """``crm.title`` names a smart process ``portal prepare`` creates: only on crm.item:N (N ≥ 1030), one name per
    type."""
    named: dict[str, tuple[str, str]] = {}
    for ename, entity in spec.entities.items():
        if entity.erp.title is not None:
            add(("entities", ename, "erp", "title"), "`title` names a smart process, so it belongs under `crm:`",
                "move it under `crm:` of an entity over crm.item:N, or remove it")
        title = entity.crm.title
        if title is None:
            continue
        m = _SMART_OBJECT.match(entity.crm.object)
        if m is None or int(m.group(1)) < 1030:
            add(("entities", ename, "crm", "title"), f"`title` names a smart process b24sync creates, and "
                f"`{entity.crm.object}` is not one", "remove it, or use it on an entity over crm.item:N (N ≥ 1030)")
        elif entity.crm.object in named and named[entity.crm.object][1] != title:
            add(("entities", ename, "crm", "title"), f"`{entity.crm.object}` is titled «{named[entity.crm.object][1]}» "
                f"in `{named[entity.crm.object][0]}` and «{title}» here", "give the smart process one title")
        else:
            named.setdefault(entity.crm.object, (ename, title))


def overdue_ledgers(spec: Spec, ename: str) -> list[str]:
    """The ledgers whose documents pay records of ``ename``: ``overdue.ledger``, else every aggregate entity's
    ledger with a target ``via: ename``."""
    entity = spec.entities[ename]
    if entity.overdue is not None and entity.overdue.ledger:
        return [entity.overdue.ledger]
    out: list[str] = []
    for n, e in spec.entities.items():
        if e.aggregate is not None and any(r.via == ename for r in e.aggregate.targets):
            led = (e.aggregate.ledger or n)[:64]
            if led not in out:
                out.append(led)
    return out


def _check_overdue(spec: Spec, ename: str, entity: Entity, add) -> None:  # type: ignore[no-untyped-def]
    od = entity.overdue
    assert od is not None
    base = ("entities", ename, "overdue")
    crm = spec.systems.get(spec.system_for(entity, "crm") or "")
    if crm is None or crm.type != "bitrix24":
        add(base, "overdue notices go to Bitrix24 users, so the entity's CRM must be Bitrix24",
            "put `overdue:` on an entity whose crm system is of type bitrix24")
    if entity.aggregate is not None:
        add(base, f"`{ename}` is a sum over documents; overdue notices belong on the entity of the paid records",
            "move `overdue:` to the entity the aggregate's target names in `via` (e.g. the smart invoice entity)")
    if od.paid is None:
        known = {(e.aggregate.ledger or n)[:64] for n, e in spec.entities.items() if e.aggregate is not None}
        if od.ledger is not None and od.ledger not in known:
            add(base + ("ledger",), f"`ledger: {od.ledger}` is no aggregate's ledger",
                f"use one of {', '.join(sorted(known)) or '(none: add an aggregate entity)'} or `paid: <CRM field>`")
        elif od.ledger is None and not overdue_ledgers(spec, ename):
            add(base, f"no aggregate counts payments for `{ename}` (no target with `via: {ename}`), so the balance "
                "is unknown", f"add a target `via: {ename}` to the payment entity, or name `ledger:` or `paid:`")
    elif od.ledger is not None:
        add(base + ("paid",), "`paid` and `ledger` both say what was paid", "keep one of them")


def _check_sides(spec: Spec, ename: str, entity: Entity, add) -> None:  # type: ignore[no-untyped-def]
    for side in ("crm", "erp"):
        obj = entity.crm if side == "crm" else entity.erp
        path = ("entities", ename, side)
        if obj.system:
            system = spec.systems.get(obj.system)
            if system is None:
                add(path + ("system",), f"entity `{ename}` uses system `{obj.system}`, which is not defined",
                    f"define it under `systems:` or use one of {', '.join(spec.systems)}")
            else:
                _check_filter(system.type, obj.options, path, add)
            continue
        candidates = [n for n, s in spec.systems.items() if s.role == side]
        if len(candidates) != 1:
            add(path, f"entity `{ename}` does not say which {side} system holds it "
                f"({len(candidates)} systems have role {side})",
                f"add `system: <name>` under `{side}:`" if candidates else f"define a system with `role: {side}`")
        else:
            _check_filter(spec.systems[candidates[0]].type, obj.options, path, add)


def _check_filter(kind: str, options: dict, path: tuple, add) -> None:  # type: ignore[no-untyped-def]
    """``options.filter`` is read by the connector when it polls: an OData ``$filter`` text for 1C / OData, a
    ``crm.*.list`` filter object for Bitrix24; any other shape would only fail at the first poll."""
    if "filter" not in (options or {}):
        return
    value = options["filter"]
    if kind in ("1c-odata", "odata") and not (isinstance(value, str) and value.strip()):
        add(path + ("options", "filter"), "an OData `filter` must be the text of a $filter expression",
            'write it as text, e.g. `filter: "IsFolder eq false"`')
    elif kind == "bitrix24" and not isinstance(value, dict):
        add(path + ("options", "filter"), "a Bitrix24 `filter` must be a crm.*.list filter object",
            "write it as a mapping, e.g. `filter: {\"=TYPE_ID\": CUSTOMER}`")


def _check_routes(spec: Spec, add) -> None:  # type: ignore[no-untyped-def]
    """``erp.route`` (docs/several-systems.md "Routing"): every routed system exists, is an ERP of one type and
    preset (one entity's field names must mean the same in every base), the value table fits ``by``, ``default``
    is hold / skip / a routed system, and every reference and ``{route:NAME}`` resolves in every base."""
    import json

    done: set[str] = set()
    for ename, entity in spec.entities.items():
        if entity.crm.route is not None:
            add(("entities", ename, "crm", "route"), "`route` chooses among ERP bases, so it belongs under `erp:`",
                "move it to `erp: {object: …, route: …}`")
        r = entity.erp.route
        if r is None:
            continue
        routed = spec.routed(ename)
        if routed is None:
            if "@" in ename:
                add(("entities", ename), f"entity name `{ename}` has `@`, which names the bases' copies of a routed "
                    "entity", "rename it without `@`")
            else:
                add(("entities", ename, "erp", "system"), f"entity `{ename}` names both `system` and `route`",
                    "keep `route:` (it names the systems) and remove `system:`")
            continue
        base, system, _ = routed
        bpath = ("entities", ename, "erp", "route")
        if base not in done:
            done.add(base)
            kinds = set()
            for value, sname in (r.systems.items() if isinstance(r.systems, dict) else
                                 ((i, n) for i, n in enumerate(r.systems))):
                sys_ = spec.systems.get(sname)
                where = bpath + ("systems", value)
                if sys_ is None:
                    add(where, f"route of `{base}` sends to system `{sname}`, which is not defined",
                        f"define it under `systems:` or use one of {', '.join(n for n, s in spec.systems.items() if s.role == 'erp')}")
                elif sys_.role != "erp":
                    add(where, f"route of `{base}` sends to `{sname}`, which has role {sys_.role}",
                        "route only to ERP systems (`role: erp`)")
                else:
                    kinds.add((sys_.type, str(sys_.config().get("preset") or "")))
            if len(kinds) > 1:
                shown = ", ".join(f"{t}" + (f" ({p})" if p else "") for t, p in sorted(kinds))
                add(bpath + ("systems",), f"route of `{base}` mixes systems of different kinds: {shown}",
                    "route one entity only to bases of one type and preset (the same field names); write one "
                    "entity per kind of base")
            if r.by is None and isinstance(r.systems, dict):
                add(bpath + ("systems",), f"route of `{base}` maps values to systems but has no `by`",
                    "add `by: UF_CRM_…` (the CRM field with the value), or list the systems: `systems: [onec_a, onec_b]`")
            if r.by is not None and not isinstance(r.systems, dict):
                add(bpath + ("systems",), f"route of `{base}` is `by: {r.by}` but lists no values",
                    "write `systems: {\"ООО Ромашка\": onec_a, \"ООО Лютик\": onec_b}` (value → system)")
            if r.parent is not None and r.by is None:
                add(bpath + ("parent",), f"route of `{base}` reads its field on the parent but has no `by`",
                    "add `by: UF_CRM_…` (the parent's field with the value, e.g. the deal's seller)")
            if r.parent is not None and r.parent.parent_object() is None:
                add(bpath + ("parent", "field"), f"route of `{base}`: the parent's object is not known from "
                    f"`{r.parent.field}`", "add `object: crm.deal` (or the parent's object) under `parent:`")
            if r.default not in ("hold", "skip") and r.default not in r.targets():
                add(bpath + ("default",), f"route default `{r.default}` is not hold, skip or one of its systems",
                    f"use hold, skip or one of {', '.join(r.targets())}")
            if isinstance(r.systems, dict) and r.vars:
                shared: dict[str, list[str]] = {}
                for value, sname in r.systems.items():
                    shared.setdefault(sname, []).append(value)
                for sname, values in shared.items():
                    if len(values) > 1:
                        # one base's copy has one set of vars: the second value would get the first one's
                        # Организация — docs/several-systems.md "One base with two organisations"
                        add(bpath + ("systems", values[1]), f"route of `{base}` sends {', '.join(repr(v) for v in values)} "
                            f"to the same base `{sname}`, but `vars` are per base: both would get the same "
                            "organisation", "a route chooses a base, not an organisation inside one; for one base with "
                            "two organisations see docs/several-systems.md \"One base with two organisations\"")
            for sname in r.vars:
                if sname not in r.targets():
                    add(bpath + ("vars", sname), f"route vars name `{sname}`, which the route does not send to",
                        f"use one of {', '.join(r.targets())}")
        # what this base's copy still cannot resolve
        text = json.dumps(entity.model_dump(exclude={"erp": {"route"}}), ensure_ascii=False)
        for m in sorted(set(re.findall(r"\{route:([A-Za-z_][A-Za-z0-9_]*)\}", text))):
            add(bpath + ("vars",), f"`{{route:{m}}}` in `{base}` has no value for system `{system}`",
                f"add `vars: {{{system}: {{{m}: …}}}}` under the route")
    for ename, entity in spec.entities.items():
        mine = spec.routed(ename)
        refs = [(("fields", i, "transform", j), t.ref) for i, f in enumerate(entity.fields)
                for j, t in enumerate(f.transform) if isinstance(t, RefTransform)]
        if entity.rows is not None and entity.rows.product_entity:
            refs.append((("rows", "product_entity"), entity.rows.product_entity))
        for i, tg in enumerate(entity.aggregate.targets if entity.aggregate is not None else []):
            refs.append((("aggregate", "targets", i, "via"), tg.via))
        for path, ref in refs:
            if ref in spec.entities:
                continue
            copies = [n for n in spec.entities if n.startswith(f"{ref}@") and spec.routed(n)]
            if not copies:
                continue
            base = (mine[0] if mine else ename)
            if mine is None:
                add(("entities", ename) + path, f"`{base}` refers to `{ref}`, which is routed to several bases",
                    f"route `{base}` the same way (`erp: {{route: …}}`), so each base's copy uses its own `{ref}`")
            else:
                add(("entities", ename) + path, f"`{base}` in base `{mine[1]}` refers to `{ref}`, which is not "
                    f"routed to `{mine[1]}`", f"add `{mine[1]}` to the route of `{ref}`")

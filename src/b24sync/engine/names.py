"""Names checked against the live systems: every object and field an entity names must exist where it says.

Each adapter (or a flow's object adapter) that can tell offers ``describe(obj) -> ObjectSchema`` (Bitrix24:
``crm.*.fields`` / ``crm.item.fields`` with the user fields; 1C: ``$metadata``). An unknown name is a problem at its
spec line with the nearest existing names (difflib), so a typo such as ``erp: Долгг`` or ``crm: RQ_KPPP`` is caught
before anything is written. ``portal check`` prints them (exit 2); ``run`` does not start an entity that has any
(the other entities run). Adapters without ``describe`` are not checked (reported as such)."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

from b24sync.engine.ports import ObjectRef, ObjectSchema
from b24sync.engine.runtime import Runtime
from b24sync.spec.names import names_of

# Names the engine itself supplies on every record (not looked up in the system).
_ENGINE_NAMES = {"ID", "id", "Ref_Key"}


@dataclass(frozen=True)
class NameProblem:
    entity: str
    side: str
    path: tuple[str | int, ...]
    what: str
    fix: str
    fatal: bool = True  # False: the check could not run (a system down) — reported, the entity still starts


@dataclass
class NameReport:
    problems: dict[str, list[NameProblem]] = field(default_factory=dict)  # entity -> problems
    unchecked: list[tuple[str, str, str]] = field(default_factory=list)  # (entity, side, why)
    checked: int = 0
    schemas: dict[tuple[str, str], ObjectSchema] = field(default_factory=dict)  # (entity, side) -> what was read
    unreadable: dict[str, BaseException] = field(default_factory=dict)  # system -> why its names could not be read

    @property
    def broken(self) -> dict[str, str]:
        """Entities with an unknown name -> the first such problem (why they do not start)."""
        out: dict[str, str] = {}
        for e, ps in self.problems.items():
            fatal = [p for p in ps if p.fatal]
            if fatal:
                out[e] = f"{fatal[0].what} — {fatal[0].fix}"
        return out


def nearest(name: str, known: list[str] | set[str], n: int = 3) -> list[str]:
    known = list(known)
    hits = difflib.get_close_matches(name, known, n=n, cutoff=0.6)
    if not hits:  # case slips (Inn vs ИНН stay unmatched, but rq_inn vs RQ_INN should not)
        low = {k.lower(): k for k in known}
        hits = [low[h] for h in difflib.get_close_matches(name.lower(), list(low), n=n, cutoff=0.6)]
    return hits


def _fix(name: str, known: list[str] | set[str], where: str) -> str:
    hits = nearest(name, known)
    if hits:
        return "did you mean " + ", ".join(f"`{h}`" for h in hits) + "?"
    return f"check the spelling against {where}"


async def check_names(rt: Runtime, entities: list[str] | None = None) -> NameReport:
    rep = NameReport()
    cache: dict[tuple[str, str], ObjectSchema | BaseException | None] = {}
    for ename in entities or list(rt.spec.entities):
        entity = rt.spec.entities[ename]
        probs: list[NameProblem] = []
        uses = names_of(ename, entity)
        for side in ("crm", "erp"):
            system = rt.spec.system_for(entity, side)  # type: ignore[arg-type]
            if system not in rt.adapters:
                continue
            obj = rt.objref(entity, side)  # type: ignore[arg-type]
            key = (system, obj.object)
            if key not in cache:
                adapter: Any = rt.adapter(entity, side)  # type: ignore[arg-type]
                describe = getattr(adapter, "describe", None)
                try:
                    cache[key] = await describe(obj) if describe is not None else None
                except Exception as exc:  # noqa: BLE001 - reported, the other entities are still checked
                    cache[key] = exc
            schema = cache[key]
            where = f"{system} {obj.object}"
            if schema is None:
                rep.unchecked.append((ename, side, f"{where}: the connector cannot list its fields"))
                continue
            if isinstance(schema, BaseException):
                rep.unreadable.setdefault(system, schema)
                probs.append(NameProblem(ename, side, ("entities", ename, side, "object"),
                                         f"cannot read the fields of {where}: {schema}",
                                         "check the system's URL and credentials, then run the check again",
                                         fatal=False))
                continue
            if not schema.exists:
                probs.append(NameProblem(
                    ename, side, ("entities", ename, side, "object"), f"{system} has no object `{obj.object}`",
                    _fix(obj.object, schema.alternatives, f"the objects {system} publishes")))
                continue
            rep.checked += 1
            rep.schemas[(ename, side)] = schema
            if schema.open:
                continue
            known = set(schema.fields) | _ENGINE_NAMES
            rows_described = any("/" in f for f in schema.fields)  # `<section>/<field>`: the adapter lists rows
            seen: set[str] = set()
            for use in uses:
                if use.side != side or use.name in known or use.name in seen:
                    continue
                if use.what == "row field" and not rows_described:
                    continue
                seen.add(use.name)
                fix = (schema.detail.get("hints") or {}).get(use.name) or _fix(
                    use.name, schema.fields, f"`{obj.object}` in {system}")
                if use.name.upper().startswith("UF_CRM_"):
                    fix = f"create it with `b24sync portal prepare SPEC`, or {fix}"
                elif (pm := re.fullmatch(r"parentId(\d+)", use.name)) is not None:
                    # a smart process shows parentIdN only when linked to type N (crm.type `relations`,
                    # document-flows.md A.4)
                    fix = (f"link the smart process to entity type {pm.group(1)} in its settings (\"Связь с "
                           f"другими сущностями\"; crm.type relations: parent entityTypeId {pm.group(1)})")
                if use.what == "table qualifier":  # an older base without it: the table's plain keys still work
                    probs.append(NameProblem(
                        ename, side, use.path, f"{where} has no field `{use.name}` (entity {ename}, {use.what}): "
                        f"the table is looked up by the value alone", fix, fatal=False))
                    continue
                probs.append(NameProblem(
                    ename, side, use.path, f"{where} has no field `{use.name}` (entity {ename}, {use.what})", fix))
        probs += await _check_route_values(rt, ename, entity, rep.schemas.get((ename, "crm")))
        probs += await _check_stages(rt, ename, entity)
        probs += await _check_reach_stages(rt, ename, entity)
        probs += await _check_credit_stage(rt, ename, entity)
        rep.problems[ename] = probs
    return rep


async def _check_stages(rt: Runtime, ename: str, entity: Any) -> list[NameProblem]:
    """Stages the spec names (``stage_change`` to/from, ``rows.frozen_at``, a ``header`` stage constant, the CRM side of a value table mapped
    onto the stage field) must exist in the portal's stage catalogue (document-flows.md E.6): a stage of another
    pipeline or a typo never fires and never matches."""
    from b24sync.spec.models import TableTransform

    named: list[tuple[tuple[str | int, ...], str]] = []
    base: tuple[str | int, ...] = ("entities", ename)
    for i, tr in enumerate(entity.triggers):
        sc = tr.stage_change
        if sc is not None and (tr.side or "crm") == "crm":
            named += [(base + ("triggers", i, "stage_change", "to", j), s) for j, s in enumerate(sc.to)]
            named += [(base + ("triggers", i, "stage_change", "from", j), s) for j, s in enumerate(sc.from_)]
    if entity.rows is not None:
        named += [(base + ("rows", "frozen_at", j), s) for j, s in enumerate(entity.rows.frozen_at)]
    for i, h in enumerate(entity.header):  # the stage a record is created at (orders entered in 1C → deals)
        if h.crm in ("STAGE_ID", "stageId") and h.value is not None:
            named.append((base + ("header", i, "value"), str(h.value)))
    for i, f in enumerate(entity.fields):
        if f.crm in ("STAGE_ID", "stageId"):
            for t in f.transform:
                if isinstance(t, TableTransform):
                    named += [(("value_maps", t.table, k), str(v)) for k, v in rt.spec.value_maps.get(t.table, {}).items()]
    if not named:
        return []
    adapter: Any = rt.adapter(entity, "crm")
    lister = getattr(adapter, "stage_ids", None)
    if lister is None:
        return []
    try:
        known = await lister(rt.objref(entity, "crm"))
    except Exception as exc:  # noqa: BLE001 - reported, not fatal
        return [NameProblem(ename, "crm", base + ("crm", "object"), f"cannot read the stages: {exc}",
                            "check the portal's URL and credentials", fatal=False)]
    if known is None:
        return []
    return [NameProblem(ename, "crm", path, f"the portal has no stage `{stage}` for {entity.crm.object} "
                        f"(entity {ename})", _fix(stage, known, "crm.status.list"))
            for path, stage in named if stage not in known]


async def _check_reach_stages(rt: Runtime, ename: str, entity: Any) -> list[NameProblem]:
    """The stages a sum's threshold rule writes (``aggregate.targets[].reach``, docs/flow-payments.md), against the
    stage catalogue of the target's own CRM object (a smart invoice's rule names DT31_… stages)."""
    probs: list[NameProblem] = []
    for i, r in enumerate(entity.aggregate.targets if entity.aggregate is not None else []):
        via = rt.spec.entities.get(r.via)
        named = [(("entities", ename, "aggregate", "targets", i, "reach", j, "value"), x.value)
                 for j, x in enumerate(r.reach) if x.crm in ("STAGE_ID", "stageId")]
        if via is None or not named:
            continue
        lister = getattr(rt.adapter(via, "crm"), "stage_ids", None)
        if lister is None:
            continue
        try:
            known = await lister(rt.objref(via, "crm"))
        except Exception as exc:  # noqa: BLE001 - reported, not fatal
            probs.append(NameProblem(ename, "crm", ("entities", ename, "aggregate"), f"cannot read the stages: {exc}",
                                     "check the portal's URL and credentials", fatal=False))
            continue
        if known is None:
            continue
        probs += [NameProblem(ename, "crm", path, f"the portal has no stage `{stage}` for {via.crm.object} (entity "
                              f"{ename}, the target rule via {r.via})", _fix(stage, known, "crm.status.list"))
                  for path, stage in named if stage not in known]
    return probs


async def _check_credit_stage(rt: Runtime, ename: str, entity: Any) -> list[NameProblem]:
    """The waiting stage of ``credit_control`` in each watched pipeline (docs/flow-credit.md)."""
    cc = entity.credit_control
    if cc is None:
        return []
    lister = getattr(rt.adapter(entity, "crm"), "stage_ids", None)
    if lister is None:
        return []
    try:
        known = await lister(rt.objref(entity, "crm"))
    except Exception as exc:  # noqa: BLE001 - reported, not fatal
        return [NameProblem(ename, "crm", ("entities", ename, "credit_control"), f"cannot read the stages: {exc}",
                            "check the portal's URL and credentials", fatal=False)]
    if known is None:
        return []
    from b24sync.engine.credit import hold_stage

    out = []
    for cat in cc.pipelines:
        stage = hold_stage(cc, cat)
        if stage not in known:
            out.append(NameProblem(ename, "crm", ("entities", ename, "credit_control", "stage"),
                                   f"the portal has no stage `{stage}` for crm.deal (entity {ename}, credit_control, "
                                   f"pipeline {cat})", "create it with `b24sync portal prepare SPEC`, or "
                                   + _fix(stage, known, "crm.status.list")))
    return out


async def _check_route_values(rt: Runtime, ename: str, entity: Any, schema: ObjectSchema | None
                              ) -> list[NameProblem]:
    """A route's values (``erp.route.systems``) against the items of its list field (on the parent when the route
    reads it there): a value the list does not have never routes anything (docs/several-systems.md "Routing")."""
    from b24sync.engine.route import by_object, resolve

    r = entity.erp.route
    if r is None or not r.by or not isinstance(r.systems, dict):
        return []
    if r.parent is not None:
        obj = by_object(entity, r)
        describe = getattr(rt.adapter(entity, "crm"), "describe", None)
        try:
            parent = await describe(ObjectRef(obj)) if describe is not None else None
        except Exception:  # noqa: BLE001 — the parent's object unreadable: the object check reports the system
            return []
        if parent is None or not parent.exists or parent.open:
            return []
        if r.by not in parent.fields:
            return [NameProblem(ename, "crm", ("entities", ename, "erp", "route", "by"),
                                f"`{obj}` has no field `{r.by}` (entity {ename}, route through `{r.parent.field}`)",
                                f"create it with `b24sync portal prepare SPEC`, or "
                                f"{_fix(r.by, parent.fields, f'`{obj}`')}")]
        items = (parent.detail.get("enums") or {}).get(r.by)
    elif schema is None:
        return []
    else:
        items = (schema.detail.get("enums") or {}).get(r.by)
    if items is None:
        return []
    known = [str(i.get("VALUE")) for i in items]
    _, missing = resolve(r, items)
    return [NameProblem(ename, "crm", ("entities", ename, "erp", "route", "systems", v),
                        f"the list field `{r.by}` has no item `{v}` (entity {ename}, route)",
                        _fix(v, known, f"the items of `{r.by}`: {', '.join(known) or 'none'}"))
            for v in missing]

"""Render a spec as a Markdown document a person can hand to finance and sales: the systems, what flows where,
what is selected (filters, price types, warehouses), who owns each field, the rules, and a mermaid diagram of the
data flows. Russian by default, English with the spec's ``locale: en`` (texts in b24sync.messages)."""

from __future__ import annotations

import json
from typing import Any

from b24sync.messages import t, use_locale
from b24sync.spec.models import (
    _DURATION,
    Entity,
    Route,
    FieldMapping,
    MapTransform,
    NormalizeTransform,
    ObjectSide,
    ScaleTransform,
    Spec,
    TableTransform,
    Transform,
    Trigger,
    TypeTransform,
)


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _list(v: Any) -> list[str]:
    return [str(x) for x in (v if isinstance(v, (list, tuple)) else [v])]


def _every(value: str) -> str:
    """A poll interval in the document's words: ``30s`` → «30 с», ``15m`` → «15 мин» (en: 30 s, 15 min)."""
    m = _DURATION.match(str(value))
    if not m:
        return str(value)
    return f"{m.group(1)} {t('doc.unit.' + (m.group(2) or 's'))}"


def _trigger(tr: Trigger) -> str:
    if tr.poll:
        return t("doc.trigger.poll", every=_every(tr.poll)) + (t(f"doc.trigger.side.{tr.side}") if tr.side else "")
    if tr.webhook:
        return t("doc.trigger.webhook", event=tr.webhook)
    if tr.event:
        return t("doc.trigger.event", event=tr.event)
    if tr.robot:
        return t("doc.trigger.robot_" + tr.robot.side, name=tr.robot.name, code=tr.robot.code)
    sc = tr.stage_change
    assert sc is not None
    parts = []
    if sc.from_:
        parts.append(t("doc.trigger.stage_from", stages=", ".join(_list(sc.from_))))
    if sc.to or not parts:
        parts.append(t("doc.trigger.stage", stages=", ".join(_list(sc.to))))
    return "; ".join(parts)


def _transform(tr: Transform, spec: Spec) -> str:
    if isinstance(tr, MapTransform):
        return t("doc.tr.values", pairs=", ".join(f"{k} → {v}" for k, v in tr.map.items()))
    if isinstance(tr, TableTransform):
        if tr.qualify:
            return t("doc.tr.table_qualified", table=tr.table, field=tr.qualify)
        return t("doc.tr.table", table=tr.table)
    if isinstance(tr, ScaleTransform):
        return t("doc.tr.scale", scale=f"{tr.scale:g}")
    if isinstance(tr, NormalizeTransform):
        return t(f"doc.tr.{tr.normalize}") if tr.normalize in ("phone", "inn", "email") else tr.normalize
    if isinstance(tr, TypeTransform):
        return t("doc.tr.type", type=tr.type)
    return str(tr)


def _owner(spec: Spec, e: Entity, f: FieldMapping) -> str:
    return t(f"doc.owner.{spec.owner_of(e, f)}") + (t("doc.owner.on_create") if f.on == "create" else "")


def _node(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)


_PRICE_KEYS = ("price_type", "price_types")
_STOCK_KEYS = ("warehouse", "warehouses")


def _selection(side_name: str, side: ObjectSide) -> list[str]:
    """What the entity reads from one side: its filter, price types, warehouses and any other option, verbatim."""
    out: list[str] = []
    opts = dict(side.options or {})
    flt = opts.pop("filter", None)
    if flt not in (None, "", {}, []):
        shown = flt if isinstance(flt, str) else json.dumps(flt, ensure_ascii=False)
        out.append(t("doc.sel.filter", side=side_name, object=side.object, filter=_cell(shown)))
    prices = [p for k in _PRICE_KEYS if k in opts for p in _list(opts.pop(k))]
    if prices:
        out.append(t("doc.sel.price_types", names=", ".join(f"«{p}»" for p in prices)))
    if any(k in opts for k in _STOCK_KEYS):
        stores = [w for k in _STOCK_KEYS if k in opts for w in _list(opts.pop(k))]
        out.append(t("doc.sel.warehouses", names=", ".join(f"«{w}»" for w in stores)) if stores
                   else t("doc.sel.all_warehouses"))
    for k, v in opts.items():
        shown = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
        out.append(t("doc.sel.option", side=side_name, name=k, value=_cell(shown)))
    return out


def _aggregate_lines(name: str, e: Entity) -> list[str]:
    """A sum over related documents (docs/flow-payments.md), in the finance reader's words."""
    a = e.aggregate
    assert a is not None
    counts = ", ".join(f"`{k}` ∈ {', '.join(f'`{v}`' for v in vs)}" for k, vs in a.counts_if.items()) or "все"
    # without `ledger` the sum is the entity's own (engine/aggregate.py ledger_of)
    out = [t("doc.agg.sum", ledger=a.ledger or name, amount=a.amount, rows=a.rows or "—", counts=counts)]
    if a.key:
        out.append(t("doc.agg.key", key=" + ".join(f"`{k}`" for k in a.key)))
    for r in a.targets:
        figures = ", ".join(f"`{x.crm}` = {x.value}" for x in r.set) or "—"
        out.append(t("doc.agg.target", via=r.via, ref=", ".join(f"`{x}`" for x in r.ref) or "—", figures=figures,
                     kind=t("doc.agg.type", type=r.type) if r.type else "",
                     follow=t("doc.agg.follow", field=r.follow) if r.follow else "",
                     note=t("doc.agg.note.on" if r.note else "doc.agg.note.off")))
        for x in r.reach:
            unless = t("doc.agg.unless", values=", ".join(f"`{v}`" for v in x.unless)) if x.unless else ""
            out.append(t("doc.agg.reach", total=r.total or "—", field=x.crm, value=x.value, unless=unless))
        if r.lock:
            out.append(t("doc.agg.lock", fields=", ".join(f"`{f}`" for f in r.lock)))
    if a.purpose is not None:
        out.append(t("doc.agg.purpose", field=a.purpose.field, number=a.purpose.number))
    return out


def _credit_lines(e: Entity) -> list[str]:
    """A credit limit (docs/flow-credit.md), in the manager's words."""
    cc = e.credit_control
    assert cc is not None
    lim = cc.limit
    if lim.erp and lim.crm:
        limit = t("doc.credit.limit.both", erp=lim.erp, crm=lim.crm)
    elif lim.erp or lim.crm:
        limit = t("doc.credit.limit.erp", field=lim.erp) if lim.erp else t("doc.credit.limit.crm", field=lim.crm)
    else:
        limit = t("doc.credit.limit.none")
    leave = t("doc.credit.leave", stages=", ".join(f"`{x}`" for x in cc.leave)) if cc.leave else ""
    out = [t("doc.credit.rule", debt=cc.debt, limit=limit, company=cc.company,
             pipelines=", ".join(str(p) for p in cc.pipelines), stage=cc.stage, stage_name=cc.stage_name,
             leave=leave), t("doc.credit.new")]
    if cc.overdue_forbidden:
        out.insert(1, t("doc.credit.no_overdue", overdue=cc.overdue, field=cc.overdue_forbidden))
    if cc.notify:
        out.append(t("doc.credit.notify"))
    return out


def _overdue_line(spec: Spec, name: str, e: Entity) -> str:
    """Overdue notices (engine/overdue.py), in the manager's words."""
    from b24sync.spec.checks import overdue_ledgers

    od = e.overdue
    assert od is not None
    paid = (t("doc.overdue.field", field=od.paid) if od.paid else
            t("doc.overdue.ledger", ledger=", ".join(overdue_ledgers(spec, name)) or "—"))
    skip = t("doc.overdue.skip", stages=", ".join(f"`{x}`" for x in od.skip_stages)) if od.skip_stages else ""
    return t("doc.overdue", at=od.at, tz=od.timezone, who=od.who, due=od.due, total=od.total, paid=paid, skip=skip)


def _written(spec: Spec) -> dict[str, Entity]:
    """The entities as the spec writes them: a routed entity once (its first base's copy, under its own name)."""
    out: dict[str, Entity] = {}
    for name, e in spec.entities.items():
        r = spec.routed(name)
        if r is None:
            out[name] = e
        elif r[0] not in out:
            out[r[0]] = e
    return out


def _bases(e: Entity) -> str:
    return f" ({', '.join(e.erp.route.targets())})" if e.erp.route is not None else ""


def _route_line(r: Route) -> str:
    if not r.by or not isinstance(r.systems, dict):
        return t("doc.route.follow", systems=", ".join(f"`{s}`" for s in r.targets()))
    pairs = "; ".join(f"«{v}» → `{s}`" for v, s in r.systems.items())
    default = (t("doc.route.hold") if r.default == "hold" else t("doc.route.skip") if r.default == "skip"
               else t("doc.route.to", system=r.default))
    line = t("doc.route", field=r.by, pairs=pairs, default=default)
    if r.parent is not None:
        line += t("doc.route.parent", field=r.parent.field, object=r.parent.parent_object() or "?")
    else:
        line += t("doc.route.carry", field=r.by)
    return line


def render_markdown(spec: Spec, *, locale: str | None = None) -> str:
    with use_locale(locale or spec.locale):
        return _render(spec)


def _render(spec: Spec) -> str:
    out: list[str] = [f"# {spec.name}", ""]
    if spec.description:
        out += [spec.description.strip(), ""]

    out += [f"## {t('doc.systems')}", "", t("doc.systems_head"), "|---|---|---|"]
    for name, s in spec.systems.items():
        out.append(f"| {_cell(s.title or name)} | {t('doc.role.' + s.role)} | {s.type} |")

    out += ["", f"## {t('doc.entities')}", "", t("doc.entities_head"), "|---|---|---|---|---|---|"]
    for name, e in _written(spec).items():
        trig = "; ".join(_trigger(x) for x in e.triggers) or t("doc.trigger.manual")
        out.append(f"| {_cell(e.title or name)} | {_cell(e.master)} | {t('doc.dir.' + e.direction)} | `{e.crm.object}`"
                   f"{' «' + _cell(e.crm.title) + '»' if e.crm.title else ''} | "
                   f"`{e.erp.object}`{_bases(e)} | {_cell(trig)} |")

    out += ["", f"## {t('doc.flows')}", "", "```mermaid", "flowchart LR"]
    crm = [n for n, s in spec.systems.items() if s.role == "crm"]
    erp = [n for n, s in spec.systems.items() if s.role != "crm"]
    for n in crm + erp:
        out.append(f'    {_node(n)}["{spec.systems[n].title or n} ({spec.systems[n].type})"]')
    for name, e in spec.entities.items():
        c, r = _node(spec.system_for(e, "crm")), _node(spec.system_for(e, "erp"))
        lbl = (e.title or name).replace('"', "'")
        if e.direction == "erp_to_crm":
            out.append(f'    {r} -- "{lbl}" --> {c}')
        elif e.direction == "crm_to_erp":
            out.append(f'    {c} -- "{lbl}" --> {r}')
        else:
            out.append(f'    {c} <-- "{lbl}" --> {r}')
    out += ["```", ""]

    for name, e in _written(spec).items():
        out += [f"## {e.title or name}", "",
                t("doc.entity_line", master=e.master, direction=t("doc.dir." + e.direction), crm=e.crm.object,
                  erp=e.erp.object + _bases(e)), ""]
        out += [t("doc.selection"), ""]
        sel = _selection("CRM", e.crm) + _selection("ERP", e.erp)
        out += sel or [t("doc.sel.everything")]
        out.append("")
        if e.fields:
            out += [t("doc.fields_head"), "|---|---|---|---|"]
            for f in e.fields:
                tr = "; ".join(_transform(x, spec) for x in f.transform) or "—"
                crm_f = f"`{f.crm}`" + (f" ({_cell(f.title)})" if f.title else "")
                out.append(f"| {crm_f} | `{f.erp}` | {_owner(spec, e, f)} | {_cell(tr)} |")
            out.append("")
        out += [t("doc.rules"), ""]
        for rule in e.match:
            parts = " + ".join(f"`{k.crm}` = `{k.erp}`" + (f" ({k.normalize})" if k.normalize else "") for k in rule.keys)
            out.append(t("doc.match", parts=parts))
        if e.link.crm or e.link.erp:
            links = []
            if e.link.crm:
                links.append(t("doc.link.crm", field=e.link.crm))
            if e.link.erp:
                links.append(t("doc.link.erp", field=e.link.erp))
            out.append(t("doc.link", links="; ".join(links)))
        for hv in e.header:  # document rules (docs/flow-orders.md); Russian, as the rendered spec is
            hname = hv.erp or hv.crm  # not `name`: the entity's name is used below (aggregate, overdue)
            src = (f"`{hv.value}`" if hv.lookup is None else
                   f"`{hv.lookup.take}` записи `{hv.lookup.object}`, где "
                   + ", ".join(f"{k} = {v}" for k, v in hv.lookup.where.items()))
            cond = ("; только если " + " и ".join(
                f"`{k}` = " + " или ".join(_when_value(x) for x in vs) for k, vs in hv.when.items())
                if hv.when else "")
            out.append(f"- Реквизит `{hname}` ({'при создании' if hv.on == 'create' else 'всегда'}{cond}): {src}")
        if e.rows is not None:
            r = e.rows
            free = "запись задерживается" if r.free_text == "hold" else "передаются услугой"
            frozen = f"; со стадии {', '.join(r.frozen_at)} строки не передаются" if r.frozen_at else ""
            goods = (f"товар по связям `{r.product_entity}`" if r.product_entity else
                     "без каталога: строка по наименованию")
            out.append(f"- Строки: `{r.crm}` → `{r.erp}` построчно ({goods}, НДС по "
                       f"строке, цены в учётной системе {'с' if r.money.erp_prices_include_vat else 'без'} НДС, "
                       f"итог в `{r.document_total}`), при изменении передаются целиком{frozen}; строки без товара "
                       f"из каталога: {free}")
            if r.money.discount is not None:
                dc = r.money.discount
                out.append(f"- Скидка строки: `{r.money.price.erp}` — цена до скидки, скидка в `{dc.percent}` / "
                           f"`{dc.sum}` (из `{dc.crm_type}`, `{dc.crm_rate}`, `{dc.crm_sum}`); сумма строки = цена × "
                           "количество − скидка, до копейки")
            if r.unit is not None:
                how = (f"по справочнику `{r.unit.lookup.object}` (код ОКЕИ в `{r.unit.lookup.code}`)"
                       if r.unit.lookup is not None else "по таблице спецификации")
                out.append(f"- Единицы измерения: `{r.unit.crm}` (код ОКЕИ) ⇄ `{r.unit.erp}` {how}; не найдена — "
                           + ("запись задерживается" if r.unit.unknown == "hold" else "не передаётся"))
            if r.on == "create" and e.direction == "erp_to_crm":
                out.append("- Строки переносятся в CRM только при создании записи")
        for wb in e.write_back:
            out.append(f"- Возвращается в CRM: `{wb.erp}` → `{wb.crm}`")
        if e.aggregate is not None:
            out += _aggregate_lines(name, e)
        if e.credit_control is not None:
            out += _credit_lines(e)


        if e.overdue is not None:
            out.append(_overdue_line(spec, name, e))
        if e.erp.route is not None:
            out.append(_route_line(e.erp.route))
        for g in e.guards:
            if g.skip_if:
                out.append(t("doc.skip_if", field=g.skip_if.field, side=g.skip_if.side))
            if g.only_if:
                out.append(t("doc.only_if", field=g.only_if.field, side=g.only_if.side,
                             values=", ".join(f"`{v}`" for v in g.only_if.values)))
            if g.require_fields:
                rf = g.require_fields
                out.append(t("doc.require_fields", fields=", ".join(f"`{x}`" for x in rf.fields), side=rf.side)
                           + (f": “{rf.message}”" if rf.message else ""))
            if g.require_related:
                objs = f" {t('word.or')} ".join(f"`{r.object}`" for r in g.require_related.any)
                out.append(t("doc.require_related", on=g.require_related.on, objects=objs,
                             message=g.require_related.message))
            rv = getattr(g, "require_valid", None)
            if rv:
                checks = ", ".join(f"`{c.field}` ({c.check})" for c in rv.checks)
                out.append(t("doc.require_valid", on=rv.on, side=rv.side, checks=checks)
                           + (f": “{rv.message}”" if rv.message else ""))
            if g.require_active_party:
                ap = g.require_active_party
                out.append(t("doc.require_active_party", on=ap.on, provider=ap.provider, inn=ap.inn, side=ap.side,
                             unknown=t("doc.require_active_party.unknown") if ap.not_found == "hold" else ""))
        if e.direction == "both":
            out.append(t("doc.both_conflict"))
        else:
            out.append(t("doc.read_only", owner="ERP" if e.direction == "erp_to_crm" else "CRM"))
        out.append("")

    if spec.value_maps:
        out += [f"## {t('doc.value_tables')}", ""]
        for name, table in spec.value_maps.items():
            out += [f"### {name}", "", t("doc.value_head"), "|---|---|"]
            out += [f"| {_cell(k)} | {_cell(v)} |" for k, v in table.items()]
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def _when_value(v: object) -> str:
    """A `when` value as finance reads it: booleans in Russian (`DeletionMark` = да)."""
    return {True: "да", False: "нет"}.get(v, f"`{v}`") if isinstance(v, bool) else f"`{v}`"

"""Render a spec as a Markdown document a person can hand to finance and sales: the systems, what flows where,
who owns each field, the rules, and a mermaid diagram of the data flows."""

from __future__ import annotations

from b24sync.spec.models import (
    Entity,
    FieldMapping,
    MapTransform,
    NormalizeTransform,
    ScaleTransform,
    Spec,
    TableTransform,
    Transform,
    Trigger,
    TypeTransform,
)

_DIRECTION = {"erp_to_crm": "ERP → CRM", "crm_to_erp": "CRM → ERP", "both": "both ways"}
_ROLE = {"crm": "CRM", "erp": "ERP / accounting", "service": "service"}


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _trigger(t: Trigger) -> str:
    if t.poll:
        return f"every {t.poll}" + (f" ({t.side})" if t.side else "")
    if t.webhook:
        return f"Bitrix24 event {t.webhook}"
    if t.event:
        return f"ERP event {t.event}"
    sc = t.stage_change
    assert sc is not None
    frm = f" from {', '.join(sc.from_)}" if sc.from_ else ""
    return f"stage change{frm} to {', '.join(sc.to)}"


def _transform(t: Transform, spec: Spec) -> str:
    if isinstance(t, MapTransform):
        return "values: " + ", ".join(f"{k} → {v}" for k, v in t.map.items())
    if isinstance(t, TableTransform):
        return f"table `{t.table}`"
    if isinstance(t, ScaleTransform):
        return f"× {t.scale:g} to CRM"
    if isinstance(t, NormalizeTransform):
        return {"phone": "phone to E.164", "inn": "INN (checked)", "email": "e-mail (checked)"}.get(t.normalize, t.normalize)
    if isinstance(t, TypeTransform):
        return f"as {t.type}"
    return str(t)


def _owner(spec: Spec, e: Entity, f: FieldMapping) -> str:
    o = spec.owner_of(e, f)
    return {"crm": "CRM", "erp": "ERP", "both": "both (master wins)"}[o] + (" (on create)" if f.on == "create" else "")


def _node(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)


def render_markdown(spec: Spec) -> str:
    out: list[str] = [f"# {spec.name}", ""]
    if spec.description:
        out += [spec.description.strip(), ""]

    out += ["## Systems", "", "| System | Role | Connector |", "|---|---|---|"]
    for name, s in spec.systems.items():
        out.append(f"| {_cell(s.title or name)} | {_ROLE[s.role]} | {s.type} |")

    out += ["", "## Entities", "", "| Entity | Master | Direction | CRM object | ERP object | Trigger |",
            "|---|---|---|---|---|---|"]
    for name, e in spec.entities.items():
        trig = "; ".join(_trigger(t) for t in e.triggers) or "manual"
        out.append(f"| {_cell(e.title or name)} | {_cell(e.master)} | {_DIRECTION[e.direction]} | `{e.crm.object}` | "
                   f"`{e.erp.object}` | {_cell(trig)} |")

    out += ["", "## Data flows", "", "```mermaid", "flowchart LR"]
    crm = [n for n, s in spec.systems.items() if s.role == "crm"]
    erp = [n for n, s in spec.systems.items() if s.role != "crm"]
    for n in crm + erp:
        out.append(f'    {_node(n)}["{spec.systems[n].title or n} ({spec.systems[n].type})"]')
    for name, e in spec.entities.items():
        c, r = _node(spec.system_for(e, "crm")), _node(spec.system_for(e, "erp"))
        label = (e.title or name).replace('"', "'")
        if e.direction == "erp_to_crm":
            out.append(f'    {r} -- "{label}" --> {c}')
        elif e.direction == "crm_to_erp":
            out.append(f'    {c} -- "{label}" --> {r}')
        else:
            out.append(f'    {c} <-- "{label}" --> {r}')
    out += ["```", ""]

    for name, e in spec.entities.items():
        out += [f"## {e.title or name}", "",
                f"Master: **{e.master}**. Direction: **{_DIRECTION[e.direction]}**. "
                f"CRM `{e.crm.object}` ⇄ ERP `{e.erp.object}`.", ""]
        if e.fields:
            out += ["| CRM field | ERP field | Owner | Transform |", "|---|---|---|---|"]
            for f in e.fields:
                tr = "; ".join(_transform(t, spec) for t in f.transform) or "—"
                crm_f = f"`{f.crm}`" + (f" ({_cell(f.title)})" if f.title else "")
                out.append(f"| {crm_f} | `{f.erp}` | {_owner(spec, e, f)} | {_cell(tr)} |")
            out.append("")
        out += ["**Rules**", ""]
        for rule in e.match:
            parts = " + ".join(f"`{k.crm}` = `{k.erp}`" + (f" ({k.normalize})" if k.normalize else "") for k in rule.keys)
            out.append(f"- Match: {parts}")
        if e.link.crm or e.link.erp:
            links = []
            if e.link.crm:
                links.append(f"ERP id stored in CRM field `{e.link.crm}`")
            if e.link.erp:
                links.append(f"CRM id stored in ERP field `{e.link.erp}`")
            out.append("- Link: " + "; ".join(links))
        for g in e.guards:
            if g.skip_if:
                out.append(f"- Not synced while `{g.skip_if.field}` ({g.skip_if.side}) is set")
            if g.require_fields:
                out.append(f"- Held until {', '.join(f'`{x}`' for x in g.require_fields.fields)} ({g.require_fields.side}) "
                           f"are filled" + (f": “{g.require_fields.message}”" if g.require_fields.message else ""))
            if g.require_related:
                objs = " or ".join(f"`{r.object}`" for r in g.require_related.any)
                out.append(f"- Held ({g.require_related.on}) until a related {objs} exists: “{g.require_related.message}”")
            if g.require_active_party:
                ap = g.require_active_party
                out.append(f"- Held ({ap.on}) while `{ap.provider}` says the company with INN `{ap.inn}` ({ap.side}) is "
                           "liquidated or being liquidated" + (" or does not know the INN" if ap.not_found == "hold" else ""))
        if e.direction == "both":
            out.append("- Both sides changed one field: the master's value wins and the conflict is recorded")
        else:
            owner = "ERP" if e.direction == "erp_to_crm" else "CRM"
            out.append(f"- Fields are read-only on the other side: a manual edit there is reverted to the {owner} value")
        out.append("")

    if spec.value_maps:
        out += ["## Value tables", ""]
        for name, table in spec.value_maps.items():
            out += [f"### {name}", "", "| ERP value | CRM value |", "|---|---|"]
            out += [f"| {_cell(k)} | {_cell(v)} |" for k, v in table.items()]
            out.append("")
    return "\n".join(out).rstrip() + "\n"

"""Wire formats of the 1C OData service: JSON (verbose-ish 1C flavour), Atom/XML and the EDMX $metadata.

Shapes per erp-side.md §1.2 (EDMX v3, namespace StandardODATA, container EnterpriseV8), §1.4 (`…_Key` +
navigation links), §1.5 (Int64 as strings, zone-less dates, tabular sections embedded as arrays) and
§1.12 (error bodies).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from b24sync.sandbox.onec.schema import ENUMS, EntityDef, Field
from b24sync.sandbox.onec.store import data_version

ATOM = "http://www.w3.org/2005/Atom"
D = "http://schemas.microsoft.com/ado/2007/08/dataservices"
M = "http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"
SCHEME = "http://schemas.microsoft.com/ado/2007/08/dataservices/scheme"

JSON_CT = "application/json;charset=utf-8"
ATOM_FEED_CT = "application/atom+xml;type=feed;charset=utf-8"
ATOM_ENTRY_CT = "application/atom+xml;type=entry;charset=utf-8"
XML_CT = "application/xml;charset=utf-8"


def guid_key(ref: str) -> str:
    return f"guid'{ref}'"


def entity_url(d: EntityDef, rec: dict) -> str:
    if d.is_reference:
        return f"{d.name}({guid_key(rec['Ref_Key'])})"
    parts = []
    for k in d.key_fields():
        v = rec.get(k)
        f = d.field(k)
        if f is not None and f.type == "Guid":
            parts.append(f"{k}={guid_key(v)}")
        elif f is not None and f.type == "DateTime":
            parts.append(f"{k}=datetime'{v}'")
        elif f is not None and f.type in ("Int64", "Int32"):
            parts.append(f"{k}={v}")
        else:
            parts.append(f"{k}='{v}'")
    return f"{d.name}({','.join(parts)})"


def json_value(f: Field | None, value: Any) -> Any:
    if f is None:
        return value
    if f.type == "Int64":
        return str(value)  # §1.5: Int64 serialises as a string ("LineNumber": "1")
    return value


def record_json(d: EntityDef, rec: dict, *, select: list[str] | None = None, links: bool = True,
                expanded: dict[str, Any] | None = None) -> dict:
    out: dict[str, Any] = {}
    url = entity_url(d, rec) if d.is_reference else None
    for f in d.all_fields():
        if select is not None and f.name not in select:
            continue
        if f.name == "DataVersion":
            out[f.name] = data_version(rec.get("__v", 0))
            continue
        out[f.name] = json_value(f, rec.get(f.name))
    for t in d.tabular:
        if select is not None and t.name not in select:
            continue
        out[t.name] = [{tf.name: json_value(tf, row.get(tf.name)) for tf in t.fields} for row in rec.get(t.name, [])]
    if links and url:
        for f in d.all_fields():
            if f.nav_name and (select is None or f.name in select or f.nav_name in select):
                out[f"{f.nav_name}@navigationLinkUrl"] = f"{url}/{f.nav_name}"
    for nav, value in (expanded or {}).items():
        out[nav] = value
    return out


def register_set_json(d: EntityDef, recorder: str, recorder_type: str, records: list[dict]) -> dict:
    head: dict[str, Any] = {}
    if len(d.recorder_types) == 1:
        head["Recorder_Key"] = recorder
    else:
        head["Recorder"] = recorder
        head["Recorder_Type"] = f"StandardODATA.{recorder_type}"
    fields = d.all_fields()
    head["RecordSet"] = [{f.name: json_value(f, r.get(f.name)) for f in fields if f.name not in head}
                         for r in records]
    return head


# ---------------------------------------------------------------- Atom
def _xml_value(f: Field | None, name: str, value: Any) -> str:
    if value is None:
        return f'<d:{name} m:null="true"/>'
    if isinstance(value, bool):
        return f'<d:{name} m:type="Edm.Boolean">{"true" if value else "false"}</d:{name}>'
    t = f.type if f is not None else None
    if t in ("Double", "Int64", "Int32") or isinstance(value, (int, float)):
        edm = f"Edm.{t}" if t in ("Double", "Int64", "Int32") else "Edm.Double"
        return f'<d:{name} m:type="{edm}">{value}</d:{name}>'
    if t == "Guid":
        return f'<d:{name} m:type="Edm.Guid">{value}</d:{name}>'
    if t == "DateTime":
        return f'<d:{name} m:type="Edm.DateTime">{value}</d:{name}>'
    text = str(value)
    if text == "":
        return f"<d:{name}/>"
    return f"<d:{name}>{escape(text)}</d:{name}>"


def properties_xml(d: EntityDef, rec: dict, select: list[str] | None = None) -> str:
    parts = []
    for f in d.all_fields():
        if select is not None and f.name not in select:
            continue
        value = data_version(rec.get("__v", 0)) if f.name == "DataVersion" else rec.get(f.name)
        parts.append(_xml_value(f, f.name, value))
    for t in d.tabular:
        if select is not None and t.name not in select:
            continue
        row_type = f"StandardODATA.{d.name}_{t.name}_RowType"
        rows = "".join(
            f'<d:element m:type="{row_type}">' + "".join(_xml_value(tf, tf.name, row.get(tf.name)) for tf in t.fields)
            + "</d:element>" for row in rec.get(t.name, []))
        parts.append(f'<d:{t.name} m:type="Collection({row_type})">{rows}</d:{t.name}>' if rows
                     else f'<d:{t.name} m:type="Collection({row_type})"/>')
    return "".join(parts)


def register_set_properties_xml(d: EntityDef, recorder: str, recorder_type: str, records: list[dict]) -> str:
    head = register_set_json(d, recorder, recorder_type, [])
    parts = [_xml_value(d.field(k), k, v) for k, v in head.items() if k != "RecordSet"]
    row_type = f"StandardODATA.{d.name}_RowType"
    rows = "".join(
        f'<d:element m:type="{row_type}">' + "".join(
            _xml_value(f, f.name, r.get(f.name)) for f in d.all_fields() if f.name not in head) + "</d:element>"
        for r in records)
    parts.append(f'<d:RecordSet m:type="Collection({row_type})">{rows}</d:RecordSet>' if rows
                 else f'<d:RecordSet m:type="Collection({row_type})"/>')
    return "".join(parts)


def _updated() -> str:
    return dt.datetime.now().replace(microsecond=0).isoformat()


def atom_entry(root: str, term: str, edit_url: str | None, props: str, *, standalone: bool = False,
               nav: list[str] | None = None) -> str:
    ns = f' xmlns="{ATOM}" xmlns:d="{D}" xmlns:m="{M}" xml:base={quoteattr(root)}' if standalone else ""
    links = ""
    if edit_url:
        links = f'<link rel="edit" href={quoteattr(edit_url)} title="{term}"/>' + "".join(
            f'<link rel="{D}/related/{n}" type="application/atom+xml;type=entry" title="{n}" '
            f'href={quoteattr(edit_url + "/" + n)}/>' for n in (nav or []))
    ident = escape(root + (edit_url or term))
    head = '<?xml version="1.0" encoding="UTF-8"?>' if standalone else ""
    return (f"{head}<entry{ns}><id>{ident}</id><category term=\"StandardODATA.{term}\" scheme=\"{SCHEME}\"/>"
            f"<title type=\"text\"/><updated>{_updated()}</updated><author/><summary/>{links}"
            f"<content type=\"application/xml\"><m:properties>{props}</m:properties></content></entry>")


def atom_feed(root: str, title: str, entries: list[str], count: int | None = None) -> str:
    cnt = f"<m:count>{count}</m:count>" if count is not None else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?><feed xmlns="{ATOM}" xmlns:d="{D}" xmlns:m="{M}" '
            f"xml:base={quoteattr(root)}><id>{escape(root + title)}</id><title type=\"text\">{escape(title)}"
            f"</title><updated>{_updated()}</updated>{cnt}{''.join(entries)}</feed>")


def plain_row_props(row: dict, types: dict[str, Field]) -> str:
    return "".join(_xml_value(types.get(k), k, v) for k, v in row.items())


# ---------------------------------------------------------------- errors (§1.12)
def error_json(code: str, message: str) -> dict:
    return {"odata.error": {"code": code, "message": {"lang": "ru", "value": message}}}


def error_xml(code: str, message: str) -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?><m:error xmlns:m="{M}"><m:code>{escape(code)}</m:code>'
            f'<m:message xml:lang="ru">{escape(message)}</m:message></m:error>')


# ---------------------------------------------------------------- $metadata (§1.2, §12.1)
def _edm(f: Field) -> str:
    return f"Edm.{f.type}"


def _prop(f: Field) -> str:
    ml = f' MaxLength="{f.max_length}"' if f.type == "String" and f.max_length else ""
    nullable = "false" if f.name in ("Ref_Key", "LineNumber") else "true"
    return f'<Property Name="{f.name}" Type="{_edm(f)}" Nullable="{nullable}"{ml}/>'


def _key(names: list[str]) -> str:
    return "<Key>" + "".join(f'<PropertyRef Name="{n}"/>' for n in names) + "</Key>"


def metadata_xml(defs: list[EntityDef]) -> str:
    types: list[str] = []
    sets: list[str] = []
    assocs: list[str] = []
    assoc_sets: list[str] = []
    funcs: list[str] = []
    for name, members in ENUMS.items():
        types.append(f'<EnumType Name="{name}" UnderlyingType="Edm.Int32">' + "".join(
            f'<Member Name="{m}" Value="{i}"/>' for i, m in enumerate(members)) + "</EnumType>")

    def navs(d_name: str, fields: list[Field]) -> str:
        out = []
        for f in fields:
            if f.nav_name:
                rel = f"{d_name}_{f.nav_name}"
                assocs.append(f'<Association Name="{rel}"><End Role="{rel}_Begin" Type="StandardODATA.{d_name}" '
                              f'Multiplicity="*"/><End Role="{rel}_End" Type="StandardODATA.{f.ref}" '
                              f'Multiplicity="0..1"/></Association>')
                assoc_sets.append(f'<AssociationSet Name="{rel}" Association="StandardODATA.{rel}">'
                                  f'<End Role="{rel}_Begin" EntitySet="{d_name}"/>'
                                  f'<End Role="{rel}_End" EntitySet="{f.ref}"/></AssociationSet>')
                out.append(f'<NavigationProperty Name="{f.nav_name}" Relationship="StandardODATA.{rel}" '
                           f'FromRole="{rel}_Begin" ToRole="{rel}_End"/>')
        return "".join(out)

    for d in defs:
        fields = d.all_fields()
        if d.is_reference:
            body = "".join(_prop(f) for f in fields) + "".join(
                f'<Property Name="{t.name}" Type="Collection(StandardODATA.{d.name}_{t.name}_RowType)" '
                f'Nullable="true"/>' for t in d.tabular)
            types.append(f'<EntityType Name="{d.name}">{_key(d.key_fields())}{body}{navs(d.name, fields)}</EntityType>')
            sets.append(f'<EntitySet Name="{d.name}" EntityType="StandardODATA.{d.name}"/>')
            for t in d.tabular:
                tname = f"{d.name}_{t.name}"
                row_fields = [Field("Ref_Key", "Guid", ref=d.name)] + t.fields
                types.append(f'<EntityType Name="{tname}">{_key(["Ref_Key", "LineNumber"])}'
                             + "".join(_prop(f) for f in row_fields) + navs(tname, t.fields) + "</EntityType>")
                types.append(f'<ComplexType Name="{tname}_RowType">' + "".join(_prop(f) for f in t.fields)
                             + "</ComplexType>")
                sets.append(f'<EntitySet Name="{tname}" EntityType="StandardODATA.{tname}"/>')
            if d.kind == "Document":
                funcs.append(f'<FunctionImport Name="Post" IsBindable="true" IsSideEffecting="true">'
                             f'<Parameter Name="bindingParameter" Type="StandardODATA.{d.name}"/>'
                             f'<Parameter Name="PostingModeOperational" Type="Edm.Boolean"/></FunctionImport>')
                funcs.append(f'<FunctionImport Name="Unpost" IsBindable="true" IsSideEffecting="true">'
                             f'<Parameter Name="bindingParameter" Type="StandardODATA.{d.name}"/></FunctionImport>')
        elif d.recorder_types:
            set_keys = d.set_key_fields()
            rec_fields = fields
            types.append(f'<EntityType Name="{d.name}_RecordType">{_key(d.key_fields())}'
                         + "".join(_prop(f) for f in rec_fields) + navs(f"{d.name}_RecordType", rec_fields)
                         + "</EntityType>")
            types.append(f'<ComplexType Name="{d.name}_RowType">' + "".join(
                _prop(f) for f in rec_fields) + "</ComplexType>")
            head = [f for f in rec_fields if f.name in set_keys]
            types.append(f'<EntityType Name="{d.name}">{_key(set_keys)}' + "".join(_prop(f) for f in head)
                         + f'<Property Name="RecordSet" Type="Collection(StandardODATA.{d.name}_RowType)" '
                           f'Nullable="true"/></EntityType>')
            sets.append(f'<EntitySet Name="{d.name}" EntityType="StandardODATA.{d.name}"/>')
            sets.append(f'<EntitySet Name="{d.name}_RecordType" EntityType="StandardODATA.{d.name}_RecordType"/>')
            dim_fields = [d.field(x) for x in d.dimensions]
            if d.balance:
                types.append(f'<ComplexType Name="{d.name}_Balance">' + "".join(_prop(f) for f in dim_fields)
                             + "".join(f'<Property Name="{r}Balance" Type="Edm.Double" Nullable="true"/>'
                                       for r in d.resources) + "</ComplexType>")
                funcs.append(_vt_func("Balance", d, ["Period:Edm.DateTime", "Condition:Edm.String",
                                                     "Dimensions:Edm.String"]))
            turn = "".join(f'<Property Name="{r}{s}" Type="Edm.Double" Nullable="true"/>' for r in d.resources
                           for s in (("Receipt", "Expense", "Turnover") if d.balance else ("Turnover",)))
            types.append(f'<ComplexType Name="{d.name}_Turnover">' + "".join(_prop(f) for f in dim_fields)
                         + turn + "</ComplexType>")
            funcs.append(_vt_func("Turnovers", d, ["StartPeriod:Edm.DateTime", "EndPeriod:Edm.DateTime",
                                                   "Condition:Edm.String", "Dimensions:Edm.String"]))
        else:  # independent information register
            types.append(f'<EntityType Name="{d.name}">{_key(d.key_fields())}' + "".join(_prop(f) for f in fields)
                         + navs(d.name, fields) + "</EntityType>")
            types.append(f'<ComplexType Name="{d.name}_SliceLast">' + "".join(_prop(f) for f in fields)
                         + "</ComplexType>")
            sets.append(f'<EntitySet Name="{d.name}" EntityType="StandardODATA.{d.name}"/>')
            for fn in ("SliceLast", "SliceFirst"):
                funcs.append(f'<FunctionImport Name="{fn}" ReturnType="Collection(StandardODATA.{d.name}_SliceLast)" '
                             f'IsBindable="true"><Parameter Name="bindingParameter" '
                             f'Type="Collection(StandardODATA.{d.name})"/><Parameter Name="Period" '
                             f'Type="Edm.DateTime"/><Parameter Name="Condition" Type="Edm.String"/></FunctionImport>')
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            '<edmx:Edmx xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx" Version="1.0">'
            f'<edmx:DataServices xmlns:m="{M}" m:DataServiceVersion="3.0" m:MaxDataServiceVersion="3.0">'
            '<Schema xmlns="http://schemas.microsoft.com/ado/2009/11/edm" Namespace="StandardODATA">'
            + "".join(types) + "".join(assocs)
            + '<EntityContainer Name="EnterpriseV8" m:IsDefaultEntityContainer="true">'
            + "".join(sets) + "".join(assoc_sets) + "".join(funcs)
            + "</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>")


def _vt_func(name: str, d: EntityDef, params: list[str]) -> str:
    ret = f"{d.name}_Balance" if name == "Balance" else f"{d.name}_Turnover"
    ps = "".join(f'<Parameter Name="{p.split(":")[0]}" Type="{p.split(":")[1]}"/>' for p in params)
    return (f'<FunctionImport Name="{name}" ReturnType="Collection(StandardODATA.{ret})" IsBindable="true">'
            f'<Parameter Name="bindingParameter" Type="Collection(StandardODATA.{d.name}_RecordType)"/>{ps}'
            "</FunctionImport>")


def service_document(root: str, names: list[str]) -> str:
    cols = "".join(f'<collection href="{escape(n)}"><atom:title>{escape(n)}</atom:title></collection>'
                   for n in names)
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            f'<service xmlns="http://www.w3.org/2007/app" xmlns:atom="{ATOM}" xml:base={quoteattr(root)}>'
            f"<workspace><atom:title>Default</atom:title>{cols}</workspace></service>")

"""``$metadata`` (EDMX/CSDL) → entity sets, their fields and types, and function imports.

1C publishes EDMX v3 (namespace ``StandardODATA``, container ``EnterpriseV8``); a real УТ 11 publication was 16.8 MB
with 2584 ``FunctionImport``s (erp-side.md §1.2), so parse once and cache. The same parser reads SAP v2 and v4
CSDL by matching local element names, not namespaces. Parsing follows the defusedxml policy with lxml: no entity
expansion, no DTD loading, no network; a document declaring entities is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from b24sync.connectors.onec.odata.errors import ODataFormatError


@dataclass
class Property:
    name: str
    type: str
    nullable: bool = True
    max_length: int | None = None


@dataclass
class EntityType:
    name: str
    keys: list[str] = field(default_factory=list)
    properties: list[Property] = field(default_factory=list)
    navigation: list[str] = field(default_factory=list)


@dataclass
class Metadata:
    namespace: str | None
    entity_sets: dict[str, str]  # set name -> qualified entity type name
    entity_types: dict[str, EntityType]  # qualified name -> type
    functions: list[dict[str, Any]]

    def type_of(self, entity_set: str) -> EntityType | None:
        tname = self.entity_sets.get(entity_set)
        if tname is None:
            return None
        return self.entity_types.get(tname) or self.entity_types.get(tname.rsplit(".", 1)[-1])

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in sorted(self.entity_sets):
            t = self.type_of(name)
            out[name] = {
                "keys": t.keys if t else [],
                "fields": [{"name": p.name, "type": p.type, "nullable": p.nullable, "max_length": p.max_length}
                           for p in (t.properties if t else [])],
                "navigation": t.navigation if t else [],
            }
        return out


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def safe_parse(xml: bytes) -> etree._Element:
    if b"<!ENTITY" in xml[:65536] or b"<!ENTITY" in xml:
        raise ODataFormatError("$metadata declares XML entities; refused (defusedxml policy)")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True,
                             remove_comments=True)
    try:
        return etree.fromstring(xml, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise ODataFormatError(f"$metadata is not well-formed XML: {exc}") from exc


def parse_metadata(xml: bytes) -> Metadata:
    root = safe_parse(xml)
    if _local(root) != "Edmx":
        raise ODataFormatError("not an EDMX document (no <edmx:Edmx> root)")
    types: dict[str, EntityType] = {}
    sets: dict[str, str] = {}
    functions: list[dict[str, Any]] = []
    namespace = None
    for schema in root.iter():
        if _local(schema) != "Schema":
            continue
        ns = schema.get("Namespace") or ""
        namespace = namespace or ns
        for el in schema:
            kind = _local(el)
            if kind == "EntityType":
                et = EntityType(name=el.get("Name", ""))
                for child in el:
                    ck = _local(child)
                    if ck == "Key":
                        et.keys = [k.get("Name", "") for k in child if _local(k) == "PropertyRef"]
                    elif ck == "Property":
                        ml = child.get("MaxLength")
                        et.properties.append(Property(child.get("Name", ""), child.get("Type", ""),
                                                      child.get("Nullable", "true") != "false",
                                                      int(ml) if ml and ml.isdigit() else None))
                    elif ck == "NavigationProperty":
                        et.navigation.append(child.get("Name", ""))
                types[f"{ns}.{et.name}"] = et
            elif kind == "EntityContainer":
                for child in el:
                    ck = _local(child)
                    if ck == "EntitySet":
                        sets[child.get("Name", "")] = child.get("EntityType", "")
                    elif ck in ("FunctionImport", "ActionImport"):
                        functions.append({
                            "name": child.get("Name"),
                            "bindable": child.get("IsBindable") == "true",
                            "parameters": [(p.get("Name"), p.get("Type")) for p in child if _local(p) == "Parameter"],
                        })
    return Metadata(namespace, sets, types, functions)

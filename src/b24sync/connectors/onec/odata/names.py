"""Spec names → the properties a 1C base actually publishes, resolved from its ``$metadata`` (document-flows.md E.20).

The same attribute has different OData shapes between configurations and releases (erp-side.md §1.3–1.4):
a single reference ``X`` is published as ``X_Key``; a **composite** one as ``X`` (the value) + ``X_Type``
(``StandardODATA.Catalog_…``) and no ``X_Key`` — БП 3.0.198 ``СчетНаОплатуПокупателю.Товары.Номенклатура``,
БП ``ПоступлениеНаРасчетныйСчет.Контрагент``, УНФ ``СчетНаОплату.ДокументОснование``, УТ 11.5
``СчетНаОплатуКлиенту.ДокументОснование`` (B.3–B.6). A spec may therefore name a field by its logical name
(``Номенклатура``) or by either wire form (``Номенклатура_Key``); the resolver picks what the base has:

* the name exists → used as is (a composite value ``X`` also gets its ``X_Type``);
* ``X_Key`` asked, the base has ``X`` + ``X_Type`` → written as ``X`` with ``X_Type`` (the default type below, unless
  the record already carries ``X_Type``), read back as both ``X`` and ``X_Key``;
* ``X`` asked, the base has ``X_Key`` → ``X_Key`` (read back under both names);
* anything else is unknown: ``b24sync portal check`` / ``run`` report it at its spec line with the nearest names,
  and with the rename the research knows where there is one (``NOTES``: УТ 11.5 ``Заказ`` → ``УдалитьЗаказ``,
  ``СтавкаНДС`` enum vs ``СтавкаНДС_Key`` catalog, БП ``УдалитьСтатусОплаты``).

What a composite value's type is cannot be read from ``$metadata`` (both properties are ``Edm.String``): it comes
from the record (``X_Type`` written by the spec, e.g. a header constant), else from the preset's ``composite``
table (``preset_overrides: {Document_X: {composite: {ДокументОснование: Document_ЗаказПокупателя}}}``), else from
``COMPOSITE_DEFAULTS`` by attribute name. A composite with no known type is refused before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from b24sync.connectors.onec.odata.metadata import Metadata

# attribute name -> the entity set its value usually is of (per configuration the preset may override)
COMPOSITE_DEFAULTS: dict[str, str] = {
    "Номенклатура": "Catalog_Номенклатура",  # БП rows: ОсновныеСредства | Номенклатура (B.3)
    "Контрагент": "Catalog_Контрагенты",  # БП bank/cash receipts: Контрагенты | ФизическиеЛица (B.4, B.5)
    "Договор": "Catalog_ДоговорыКонтрагентов",
    "ЗаказКлиента": "Document_ЗаказКлиента",  # УТ 11.5 shipment rows (B.6)
}

# Names that are never auto-mapped onto ``X_Key``: the value's kind differs, not only the wire form.
NOT_REFERENCES = {"СтавкаНДС"}


def notes(name: str, props: set[str], where: str) -> str | None:
    """The fix for an unknown name the research knows a reason for (renames between releases)."""
    base = name.removesuffix("_Key")
    if base == "СтавкаНДС" and name == "СтавкаНДС" and "СтавкаНДС_Key" in props:
        return ("here the VAT rate is the reference `СтавкаНДС_Key` (Catalog_СтавкиНДС, УТ 11.5.18 / УНФ — "
                "document-flows.md B.1 ⚠): name the field `СтавкаНДС_Key` and map `vat_rates` to the catalog "
                "items' Ref_Key")
    if name == "СтавкаНДС_Key" and "СтавкаНДС" in props:
        return ("here the VAT rate is the enumeration `СтавкаНДС` (БП: НДС22, БезНДС, …): name the field "
                "`СтавкаНДС` and map `vat_rates` to the enum values")
    if base == "Заказ" and "УдалитьЗаказ" in props:
        return ("УТ 11.5 renamed «Заказ» to `УдалитьЗаказ` («(не используется)», document-flows.md B.4): the order "
                "is reached through `ОбъектРасчетов_Key` (Catalog_ОбъектыРасчетов) now")
    for old in (f"Удалить{base}", f"Удалить{base}_Key"):
        if old in props:
            return (f"{where} renamed «{base}» to `{old}` (no longer used by the configuration, document-flows.md "
                    "E.20): use the attribute that replaced it")
    return None


@dataclass(frozen=True)
class Wire:
    name: str  # the property written and read
    type_field: str | None = None  # composite: X_Type
    default_type: str | None = None  # composite: StandardODATA.<set> when the record does not say


@dataclass
class Shape:
    """One entity type's (or tabular row type's) properties and how spec names map onto them."""

    props: set[str]
    composite_types: dict[str, str] = field(default_factory=dict)  # X -> entity set default
    # aliases() is asked for every record read (adapter._aliased, header and each tabular section): computed once
    # per shape — a shape is built from $metadata and never changes afterwards
    _aliases: dict[str, str] | None = field(default=None, init=False, repr=False, compare=False)

    def composites(self) -> list[str]:
        return [p for p in self.props if p.endswith("_Type") and p[:-5] in self.props]

    def resolve(self, name: str) -> Wire | None:
        p = self.props
        if name in p:
            if f"{name}_Type" in p and not name.endswith("_Type"):
                return Wire(name, f"{name}_Type", self._type(name))
            return Wire(name)
        if name.endswith("_Key"):
            base = name[:-4]
            if base in p and f"{base}_Type" in p:
                return Wire(base, f"{base}_Type", self._type(base))
            return None
        if name not in NOT_REFERENCES and f"{name}_Key" in p:
            return Wire(f"{name}_Key")
        return None

    def _type(self, base: str) -> str | None:
        t = self.composite_types.get(base) or COMPOSITE_DEFAULTS.get(base)
        return None if t is None else (t if t.startswith("StandardODATA.") else f"StandardODATA.{t}")

    def aliases(self) -> dict[str, str]:
        """Extra names a record of this shape answers to -> the property holding the value (cached: treat the
        returned mapping as read-only)."""
        if self._aliases is None:
            self._aliases = self._compute_aliases()
        return self._aliases

    def _compute_aliases(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for t in self.composites():
            base = t[:-5]
            if f"{base}_Key" not in self.props:
                out[f"{base}_Key"] = base
        for n in self.props:
            if n.endswith("_Key") and n[:-4] not in self.props and n[:-4] not in NOT_REFERENCES and len(n) > 4:
                out[n[:-4]] = n
        return out


@dataclass
class EntityShapes:
    header: Shape
    tabular: dict[str, Shape]  # tabular section name -> row shape


def shapes(md: Metadata, entity_set: str, composite: dict[str, str] | None = None) -> EntityShapes | None:
    t = md.type_of(entity_set)
    if t is None:
        return None
    composite = composite or {}
    props = {p.name for p in t.properties}
    tabs: dict[str, Shape] = {}
    for p in t.properties:
        if p.type.startswith("Collection("):
            rt = md.type_of(f"{entity_set}_{p.name}")
            row_props = {q.name for q in rt.properties} - {"Ref_Key"} if rt is not None else set()
            row_comp = {k.split("/", 1)[1]: v for k, v in composite.items() if k.startswith(f"{p.name}/")}
            tabs[p.name] = Shape(row_props, row_comp)
    head_comp = {k: v for k, v in composite.items() if "/" not in k}
    return EntityShapes(Shape(props - set(tabs), head_comp), tabs)

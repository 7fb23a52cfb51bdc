"""The integration spec as typed models (pydantic v2).

A spec is the executable form of an integration project's technical specification: which systems take part,
and per entity which system is master, which way records flow, how records are matched, which fields flow
which way (with their owner and transforms), what triggers a sync and what guards hold a record back.
The YAML keys are the field names below; ``b24sync spec schema`` publishes them as JSON Schema.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

Side = Literal["crm", "erp"]
Direction = Literal["erp_to_crm", "crm_to_erp", "both"]
Owner = Literal["crm", "erp", "both"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: str | int | float) -> float:
    """``15m`` -> 900.0; ``30s``, ``2h``, ``1d``; a bare number is seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"{value!r} is not a duration — write it like 30s, 15m, 2h or 1d")
    return float(m.group(1)) * _UNITS[m.group(2)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SystemSpec(BaseModel):
    """One external system. ``type`` picks the connector; every other key is that connector's configuration.

    Credentials are written as ``${ENV_VAR}`` and filled from the environment when the spec is loaded.
    """

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="Connector type: bitrix24, 1c-odata, odata, commerceml, http-json, sql, ...")
    role: Literal["crm", "erp", "service"] = Field(description="crm (Bitrix24), erp (the books), or service (lookups)")
    title: str | None = None

    def config(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if k not in {"type", "role", "title"}}


_PARENT_OBJECTS = {1: "crm.lead", 2: "crm.deal", 3: "crm.contact", 4: "crm.company"}


class RouteParent(Strict):
    """Where a routed record's ``by`` field is read when it is not on the record itself: on its parent (a smart
    invoice's or a contract card's deal, ``parentId2``) — one seller chosen on the deal routes the deal's order,
    invoices and contracts alike (docs/several-systems.md "Invoices, contracts, payments")."""

    field: str = Field(description="The record's field holding the parent's id, e.g. parentId2 (the deal)")
    object: str | None = Field(None, description="The parent's CRM object (default from parentIdN: 2 → crm.deal, "
                                                 "1 → crm.lead, 3 → crm.contact, 4 → crm.company, N → crm.item:N)")

    def parent_object(self) -> str | None:
        if self.object:
            return self.object
        m = re.fullmatch(r"parentId(\d+)", self.field)
        if m is None:
            return None
        n = int(m.group(1))
        return _PARENT_OBJECTS.get(n, f"crm.item:{n}")


class Route(Strict):
    """Several ERP bases behind one entity (docs/several-systems.md "Routing"): the entity runs once per base, each
    run with its own identity map, cursors, fingerprints and poll leases (named ``ENTITY@SYSTEM``). With ``by``, a
    CRM record goes to the base its field names (``systems``: value → system; the deal's "Seller legal entity"),
    and a record a base sends to the CRM gets that base's value in the field; without ``by`` (``systems`` a list),
    a record goes to a base only when a routed document there needs it (the order's client) or is linked there."""

    by: str | None = Field(None, description="The CRM field that names the base, e.g. UF_CRM_SELLER (a list field: "
                                             "the values are its items' names)")
    systems: dict[str, str] | list[str] = Field(description="With `by`: value → system, e.g. {\"ООО Ромашка\": "
                                                "onec_a}; without: the systems, e.g. [onec_a, onec_b]")
    default: str = Field("hold", description="An empty or unknown value: hold (the record waits with a message "
                                             "saying what to fill), skip, or the name of a system to send it to")
    message: str | None = Field(None, description="The hold text for an empty or unknown value (default: a Russian "
                                                  "sentence naming the field and the values)")
    vars: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Per system: values the entity uses "
                                            "as {route:NAME} (the organisation's INN in a header lookup)")
    parent: RouteParent | None = Field(None, description="Read `by` on the record's parent (a smart invoice's "
                                       "or contract's deal: {field: parentId2}) instead of on the record")

    def targets(self) -> list[str]:
        """The routed systems, each once, in the order written."""
        names = list(self.systems.values()) if isinstance(self.systems, dict) else list(self.systems)
        return list(dict.fromkeys(names))

    def value_for(self, system: str) -> str | None:
        """The value a record of ``system`` carries in ``by`` (the first one written for it)."""
        if not isinstance(self.systems, dict):
            return None
        return next((v for v, s in self.systems.items() if s == system), None)


class ObjectSide(Strict):
    """Where an entity lives in one system."""

    object: str = Field(description="The system's object: crm.company, crm.item:1038, Catalog_Контрагенты, ...")
    system: str | None = Field(None, description="Which system (by name); defaults to the only one with this role")
    options: dict[str, Any] = Field(default_factory=dict)
    route: Route | None = Field(None, description="ERP side: several bases behind this one entity (instead of "
                                                  "`system`), docs/several-systems.md")
    title: str | None = Field(None, min_length=1, max_length=100, description="CRM side, a smart process "
                              "(`crm.item:N`): the name `portal prepare` creates the type with («Счета поставщиков»); "
                              "default «Смарт-процесс N»")


# ---- transforms ---------------------------------------------------------------------------------------------


class MapTransform(Strict):
    """A value table, keys are ERP values and values are CRM values (used the other way for CRM -> ERP)."""

    map: dict[str, str]
    default: str | None = Field(None, description="Value for anything not in the table; without it, an unknown value is an error")


class TableTransform(Strict):
    """A named table from ``value_maps`` (e.g. order status <-> deal stage), ERP value -> CRM value."""

    table: str
    qualify: str | None = Field(
        None, description="ERP field whose value refines the key, ERP -> CRM only: the table is looked up by "
        "`<value>/<that field's value>` first, then by the value alone (УНФ: the state «Завершен» with "
        "ВариантЗавершения Успешно → won, Отменен → lost: keys `Завершен/Успешно`, `Завершен/Отменен`)")


class ScaleTransform(Strict):
    """Unit conversion: CRM value = ERP value × scale (e.g. kg -> g is 1000)."""

    scale: float
    digits: int | None = Field(None, description="Round the result to this many decimals")

    @field_validator("scale")
    @classmethod
    def _nonzero(cls, v: float) -> float:
        if v == 0:
            raise ValueError("scale must not be 0 — it could not be reversed")
        return v


class NormalizeTransform(Strict):
    """Canonical form applied on both sides before comparing or writing."""

    normalize: Literal["phone", "inn", "email", "upper", "lower", "strip", "digits"]


class TypeTransform(Strict):
    type: Literal["str", "int", "decimal", "bool", "date", "datetime"]
    true: str | None = Field(None, description="How a true value is written on the CRM side (Bitrix24 uses Y)")
    false: str | None = Field(None, description="How a false value is written on the CRM side (Bitrix24 uses N)")


class RefTransform(Strict):
    """The value is the id of a record of another entity (a deal's company, a contact's company): it is translated
    through that entity's identity map to the id on the other side. Unsynced references wait and retry."""

    ref: str = Field(description="The entity whose links translate the id, e.g. company")
    message: str | None = Field(None, description="Hold text when the referenced record is not linked and no entity "
                                                  "can push it first (default: a Russian sentence naming it)")
    erp_type: str | None = Field(
        None, description="ERP → CRM through a composite 1C reference (`ДокументОснование` + `ДокументОснование_Type`): "
        "only a value of this entity set (`Document_ЗаказПоставщику`) is translated; a value of another type leaves "
        "the CRM field empty instead of waiting for a record the entity never syncs (docs/flow-suppliers.md)")


_TRANSFORM_KEYS = {"map": "map", "table": "table", "scale": "scale", "normalize": "normalize", "type": "type",
                   "ref": "ref"}


def _transform_kind(v: Any) -> str | None:
    if isinstance(v, dict):
        return next((k for k in _TRANSFORM_KEYS if k in v), None)
    return next((k for k in _TRANSFORM_KEYS if getattr(v, k, None) is not None), None)


Transform = Annotated[
    Annotated[MapTransform, Tag("map")]
    | Annotated[TableTransform, Tag("table")]
    | Annotated[ScaleTransform, Tag("scale")]
    | Annotated[NormalizeTransform, Tag("normalize")]
    | Annotated[TypeTransform, Tag("type")]
    | Annotated[RefTransform, Tag("ref")],
    Discriminator(_transform_kind, custom_error_type="unknown_transform",
                  custom_error_message="a transform is one of map, table, scale, normalize, type or ref"),
]


class FieldMapping(Strict):
    """One field pair. ``owner`` is the system whose value wins; it flows from there to the other side."""

    crm: str = Field(description="CRM field (TITLE, UF_CRM_ERP_ID, RQ_INN, ...)")
    erp: str = Field(description="ERP field (Наименование, ИНН, Description, ...)")
    owner: Owner | None = Field(None, description="crm, erp or both; defaults to the entity's master")
    transform: list[Transform] = Field(default_factory=list, description="Applied ERP -> CRM in order; reversed for CRM -> ERP")
    on: Literal["always", "create"] = Field("always", description="create: written only when the record is created")
    required: bool = Field(False, description="A record without a value here is held with a message, not sent")
    title: str | None = Field(None, description="What the field means, for the rendered document")
    crm_type: Literal["string", "integer", "double", "money", "boolean", "date", "datetime", "enumeration", "url",
                      "address", "file", "employee", "crm"] | None = Field(
        None, description="Bitrix24 user-field type of a UF_CRM_ field: `portal prepare` creates it with this type "
        "and `portal check` reports another type (default: from the transform's `type:` — decimal → double, "
        "int → integer, bool → boolean, date, datetime — else string)")
    currency: str | None = Field(
        None, pattern=r"^[A-Z]{3}$", description="With `crm_type: money`: the ISO 4217 code written with the amount "
        "(Bitrix24 keeps a money field as `amount|CUR`, e.g. `1500.00|RUB`); default RUB")
    currency_field: str | None = Field(
        None, description="With `crm_type: money`: the ERP field holding the currency code of the amount (e.g. an "
        "Odoo `currency_code`); its value wins over `currency:`")

    @model_validator(mode="after")
    def _money_keys(self) -> "FieldMapping":
        if (self.currency or self.currency_field) and self.crm_type != "money":
            raise ValueError("`currency` / `currency_field` belong to a money field: add `crm_type: money` (Bitrix24 "
                             "writes it as `amount|CUR`) or remove them")
        return self

    @field_validator("transform", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        if v is None:
            return []
        return v if isinstance(v, list) else [v]


class KeyPart(Strict):
    crm: str
    erp: str
    normalize: Literal["phone", "inn", "email", "upper", "lower", "strip", "digits", "name"] | None = None


class MatchRule(Strict):
    """Records match when all parts are equal after normalisation (e.g. INN + KPP). Rules are tried in order."""

    keys: list[KeyPart] = Field(min_length=1)
    title: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        # `- {crm: RQ_INN, erp: ИНН}` is a one-part rule
        if isinstance(v, dict) and "keys" not in v and ("crm" in v or "erp" in v):
            return {"keys": [v]}
        return v


class LinkFields(Strict):
    """Where each side stores the other side's id (an UF field in Bitrix24, a requisite in 1C).

    The target's link field is also the natural key looked up before a create, so a create whose response was
    lost is found instead of repeated.
    """

    crm: str | None = Field(None, description="CRM field holding the ERP id, e.g. UF_CRM_ERP_ID or ORIGIN_ID")
    erp: str | None = Field(None, description="ERP field holding the CRM id, if the ERP has one")


class StageChange(Strict):
    """A stage transition that lets a record be created on the other side (a deal moving into "Invoice" creates the
    customer order). It fires on an old → new pair, never on "is in stage X": the old stage is the one b24sync
    stored when it last looked at the record (table ``observed``) or, between two looks, each stage the portal's
    stage history (``crm.stagehistory.list``) shows. Stages b24sync itself writes never fire it. A record already
    linked is updated as its fields say, whatever its stage."""

    to: list[str] = Field(min_length=1, description="Stages (STAGE_ID) whose entry fires the trigger")
    from_: list[str] = Field(default_factory=list, alias="from",
                             description="Only moves from these stages fire; empty = from any stage (or created there)")
    field: str | None = Field(None, description="The record's stage field (default STAGE_ID; stageId for crm.item)")
    category: int | None = Field(None, description="Only records of this pipeline (CATEGORY_ID / categoryId)")

    def field_for(self, obj: str) -> str:
        return self.field or ("stageId" if obj.startswith("crm.item") else "STAGE_ID")

    @field_validator("to", "from_", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        items = [v] if isinstance(v, (str, int)) else v
        return [str(x) for x in items] if isinstance(items, list) else items


class RobotTrigger(Strict):
    """A Bitrix24 automation robot (``bizproc.robot.add``) people put on a CRM stage or run from a card: "send to 1C
    now" (``side: crm`` — read the card and send it) or "pull from 1C now" (``side: erp`` — re-read the linked ERP
    record and bring it over). Registered by ``portal prepare --handler-url`` (application auth), answered with
    ``bizproc.event.send`` when the sync ends. See docs/spec.md "Automation robots"."""

    code: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$", description="The robot's CODE (unique in the application)")
    name: str = Field(min_length=1, max_length=200, description="Its name in the automation designer")
    description: str | None = Field(None, description="Its description in the designer")
    side: Side = Field("crm", description="crm: send the card to the ERP now; erp: pull the linked ERP record now")


class Trigger(Strict):
    poll: str | None = Field(None, description="Poll interval (15m, 1h); reads changes since the stored cursor")
    webhook: str | None = Field(None, description="Bitrix24 event name, e.g. ONCRMCOMPANYUPDATE")
    event: str | None = Field(None, description="An ERP push event name, e.g. order.status_changed")
    stage_change: StageChange | None = Field(None, description="{to: [STAGE_ID, ...], from: [...], category: N}")
    robot: RobotTrigger | None = Field(None, description="A Bitrix24 automation robot: {code, name, side}")
    side: Side | None = Field(None, description="Which side the trigger watches; defaults to the flowing source side")

    @model_validator(mode="after")
    def _exactly_one(self) -> Trigger:
        kinds = [k for k in _TRIGGER_KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a trigger is exactly one of poll, webhook, event, stage_change or robot")
        if self.poll is not None:
            parse_duration(self.poll)
        return self

    @property
    def kind(self) -> str:
        return next(k for k in _TRIGGER_KINDS if getattr(self, k) is not None)


_TRIGGER_KINDS = ("poll", "webhook", "event", "stage_change", "robot")


# ---- documents: header values, rows, write-back -----------------------------------------------------------------


class Lookup(Strict):
    """Find one record on the target side and take a field of it: ``{object: Catalog_Организации, where: {ИНН:
    "7701234567"}, take: Ref_Key}``. ``where`` values may name values already mapped for the target record
    (``"{target:Контрагент_Key}"``) or fields of the source record (``"{field:COMPANY_ID}"``)."""

    object: str
    where: dict[str, Any] = Field(min_length=1)
    take: str = "Ref_Key"


class HeaderValue(Strict):
    """A value the target record gets that no source field carries: a constant (``value``) or a lookup. Resolved in
    the order written, so a later lookup can use an earlier value (Партнёр from the counterparty)."""

    crm: str | None = None
    erp: str | None = None
    value: Any = None
    lookup: Lookup | None = None
    on: Literal["always", "create"] = "create"
    message: str | None = Field(None, description="Hold text when the lookup finds nothing")
    when: dict[str, list[Any]] = Field(
        default_factory=dict, description="Applied only while each source field holds one of the values "
        "(`{DeletionMark: [true]}`, `{Posted: [false]}`); values for the same target field are resolved in order, "
        "so the last one that applies wins — the stage an ERP document's state names (docs/flow-suppliers.md)")

    @model_validator(mode="after")
    def _one(self) -> HeaderValue:
        if (self.crm is None) == (self.erp is None):
            raise ValueError("a header value names exactly one target field: crm or erp")
        if (self.value is None) == (self.lookup is None):
            raise ValueError("a header value is either a constant (value) or a lookup")
        if any(not isinstance(v, list) or not v for v in self.when.values()):
            raise ValueError("`when` lists the values each source field may hold: `{DeletionMark: [true]}`")
        return self


class RowField(Strict):
    crm: str
    erp: str


class ServiceItem(Strict):
    """Free-text rows (no catalogue product) become this ERP item, with the row's name as its text."""

    erp_id: str | None = Field(None, description="The ERP item's id")
    lookup: Lookup | None = None
    text: str | None = Field("Содержание", description="ERP row field that gets the row's name")


class RowDiscount(Strict):
    """The row's manual discount on the ERP side (УТ ``ПроцентРучнойСкидки`` / ``СуммаРучнойСкидки``). Declared, the
    ERP's ``Цена`` is the price before the discount and the discount goes into these columns (``Сумма`` = ``Цена`` ×
    quantity − discount sum, row-exact); not declared, the net price after the discount is sent (document-flows.md
    E.11). CRM side: Bitrix24 ``DISCOUNT_TYPE_ID`` (1 absolute, 2 percent), ``DISCOUNT_RATE``, ``DISCOUNT_SUM`` (per
    unit, before tax)."""

    percent: str | None = Field("ПроцентРучнойСкидки", description="ERP row field: the discount in percent")
    sum: str | None = Field("СуммаРучнойСкидки", description="ERP row field: the row's discount amount")
    crm_type: str = "DISCOUNT_TYPE_ID"
    crm_rate: str = "DISCOUNT_RATE"
    crm_sum: str = "DISCOUNT_SUM"


class UnitLookup(Strict):
    """The ERP catalogue of units whose ``code`` field holds the OKEI code (``Catalog_КлассификаторЕдиницИзмерения``
    ``Code`` = "796"); ``via`` optionally names a second catalogue whose field points to that entry (УТ's
    ``Catalog_УпаковкиЕдиницыИзмерения`` ``ЕдиницаПоКлассификатору_Key``): the row then gets that record's id."""

    object: str = "Catalog_КлассификаторЕдиницИзмерения"
    code: str = "Code"
    name: str | None = Field("Description", description="ERP field with the short name (→ MEASURE_NAME)")
    via: Lookup | None = Field(None, description="{object: Catalog_УпаковкиЕдиницыИзмерения, "
                                                 "where: {ЕдиницаПоКлассификатору_Key: \"{unit}\"}}")


class UnitFactor(Strict):
    """How many base units (the ERP's ``Количество``) one unit of the row is — a package of 10: 10. Two readings
    of where 1C keeps it, both handled: a column of the row (``row``, БП-style ``Коэффициент``) — read from the row
    when it has a value, written with the row — or the packaging record the row's unit points to
    (``numerator`` / ``denominator`` of the ``via`` catalogue, УТ 11.5 ``Catalog_УпаковкиЕдиницыИзмерения``
    ``Числитель`` / ``Знаменатель``)."""

    row: str | None = Field(None, description="ERP row field with the coefficient (БП `Коэффициент`)")
    numerator: str | None = Field("Числитель", description="Field of the `via` packaging record")
    denominator: str | None = Field("Знаменатель", description="Field of the `via` packaging record (0 or empty: 1)")


class RowUnit(Strict):
    """Units of measure per row: the CRM's OKEI code (Bitrix24 ``MEASURE_CODE``, 796 = шт) ⇄ the ERP's unit reference,
    through a table the spec declares (OKEI code → ERP id) or a lookup in the ERP's unit catalogue. A unit found in
    neither holds the record naming the row (``unknown: hold``) or leaves the column out (``omit``: 1C takes the
    item's own unit)."""

    crm: str = "MEASURE_CODE"
    crm_name: str | None = "MEASURE_NAME"
    erp: str = "ЕдиницаИзмерения_Key"
    table: dict[str, str] = Field(default_factory=dict, description="OKEI code -> ERP unit id")
    names: dict[str, str] = Field(default_factory=dict, description="OKEI code -> CRM unit name (ERP → CRM)")
    lookup: UnitLookup | None = None
    unknown: Literal["hold", "omit"] = "hold"
    packages: str | None = Field(None, description="ERP row field that gets the quantity in these units too "
                                                   "(УТ ``КоличествоУпаковок``)")
    factor: UnitFactor | None = Field(
        None, description="A unit of another size than the base unit (a package of 10): the CRM quantity is in the "
        "row's unit, the ERP's quantity column in base units (× the factor; ÷ back) — `{row: Коэффициент}` or the "
        "packaging record's `{numerator, denominator}` (needs `lookup.via`)")

    @model_validator(mode="after")
    def _source(self) -> RowUnit:
        if not self.table and self.lookup is None:
            raise ValueError("rows.unit needs a table (OKEI code -> ERP id) or a lookup")
        f = self.factor
        if f is not None and f.row is None and (self.lookup is None or self.lookup.via is None):
            raise ValueError("rows.unit.factor without `row` reads the packaging record: add `lookup.via` (the "
                             "packaging catalogue) or name the row's coefficient column (`factor: {row: Коэффициент}`)")
        return self


class RowMoney(Strict):
    """Money of one row, computed in Decimal and rounded to kopecks per row (VAT per line). CRM rows state a unit
    price and whether it includes VAT per row (Bitrix24 ``PRICE``, ``TAX_RATE``, ``TAX_INCLUDED``); the ERP states
    whether its prices include VAT once per document."""

    quantity: RowField = Field(default_factory=lambda: RowField(crm="QUANTITY", erp="Количество"))
    price: RowField = Field(default_factory=lambda: RowField(crm="PRICE", erp="Цена"))
    vat_rate: RowField = Field(default_factory=lambda: RowField(crm="TAX_RATE", erp="СтавкаНДС"))
    vat_included: str = Field("TAX_INCLUDED", description="CRM row field: Y = the price includes VAT")
    vat_rates: dict[str, str] = Field(default_factory=lambda: {"22": "НДС22", "20": "НДС20", "10": "НДС10",
                                                               "0": "НДС0", "": "БезНДС"},
                                      description="CRM rate (percent; empty = no VAT) -> ERP rate value")
    sum: str | None = Field("Сумма", description="ERP row field: the row amount")
    vat_sum: str | None = Field("СуммаНДС", description="ERP row field: the row's VAT")
    total: str | None = Field("СуммаСНДС", description="ERP row field: the row amount with VAT")
    erp_prices_include_vat: bool = Field(True, description="ERP row prices and Сумма include VAT")
    discount: RowDiscount | None = Field(None, description="The row discount into the ERP's manual-discount columns")
    header_flag: str | None = Field("ЦенаВключаетНДС", description="ERP header field stating erp_prices_include_vat")


class Rows(Strict):
    """Line items mapped row by row, replace-all on both sides: the target's rows are always the whole, freshly
    mapped set (never patched one by one)."""

    crm: str = Field("productRows", description="Where the CRM record's rows are (Bitrix24 product rows)")
    erp: str = Field("Товары", description="The ERP document's tabular section")
    product: RowField = Field(default_factory=lambda: RowField(crm="PRODUCT_ID", erp="Номенклатура_Key"))
    product_entity: str | None = Field("product", description="The entity whose links translate product ids; null: "
                                                             "the ERP keeps no catalogue (Kontur.Buhgalteria) — "
                                                             "every row goes by its name (rows.fields), no product")
    fields: list[RowField] = Field(default_factory=list, description="Further row fields copied as they are")
    money: RowMoney = Field(default_factory=RowMoney)
    free_text: Literal["hold"] | ServiceItem = Field(
        "hold", description="Rows without a catalogue product (productId 0): hold the record with a message, or "
                            "send them as a service item")
    line_number: str | None = Field("LineNumber", description="ERP row number field (1C needs LineNumber)")
    document_total: str | None = Field("СуммаДокумента", description="ERP header field: the document total")
    frozen_at: list[str] = Field(default_factory=list, description="CRM stages from which row edits are no longer "
                                                                   "sent (the ERP document is being fulfilled)")
    stage_field: str = "STAGE_ID"
    required: bool = Field(True, description="A record without rows is held")
    unit: RowUnit | None = Field(None, description="Units of measure: OKEI code ⇄ the ERP's unit reference")
    on: Literal["always", "create"] = Field(
        "always", description="ERP → CRM: create writes the rows only when the record is created (later ERP edits "
                              "leave the deal's rows alone); always rewrites them (replace-all) when they differ")


class WriteBack(Strict):
    """After the target record is written, copy its field back to the source (the ERP's number and id)."""

    crm: str
    erp: str


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$", re.IGNORECASE)


def parse_size(value: str | int) -> int:
    """``10MB`` -> 10485760; ``500KB``; a bare number is bytes."""
    if isinstance(value, int):
        return value
    m = _SIZE.match(str(value))
    if not m:
        raise ValueError(f"{value!r} is not a size — write it like 500KB, 10MB or 1GB")
    mult = {"b": 1, "kb": 1024, "mb": 1024 ** 2, "gb": 1024 ** 3, None: 1}[(m.group(2) or "").lower() or None]
    return int(float(m.group(1)) * mult)


class FileWhen(Strict):
    """Only while the ERP record's field holds one of the values (a contract in force, a signed document)."""

    field: str
    values: list[Any] = Field(min_length=1)


class FileTo(Strict):
    """Where the file lands on the CRM record: a file field (replaced in place) or a timeline note with the file."""

    field: str | None = Field(None, description="CRM file field (ufCrm…, UF_CRM_…): one file, replaced when the "
                                                "ERP's file changes")
    timeline: str | None = Field(None, description="Text of a timeline note that carries the file; {erp:FIELD} / "
                                                   "{crm:FIELD} / {name} are filled in")

    @model_validator(mode="after")
    def _one(self) -> FileTo:
        if (self.field is None) == (self.timeline is None):
            raise ValueError("`to` is exactly one of field (a CRM file field) or timeline (a note text)")
        return self


class FileTransfer(Strict):
    """A file the ERP holds for a record (its printable PDF, the signed contract) put on the linked CRM record —
    once: it is sent again only when the ERP's file changes (``on_change: replace``), and a retry after a lost answer
    finds what the lost call did. Runs after every committed sync of a linked pair (engine/files.py, docs/flow-contracts.md "File transfer").
    ``source`` is read by the ERP's connector: 1C ``{attached: Catalog_…ПрисоединенныеФайлы, where: {…}}`` or
    ``{http: "b24/print/{id}"}``; Kontur ``{operation: invoice_pdf}``; Diadok ``{signed: true}``."""

    name: str | None = Field(None, description="Names this transfer in the store (default: the target field or "
                                               "file<N>); keep it stable")
    source: dict[str, Any] = Field(min_length=1, description="Where the ERP's connector finds the file")
    to: FileTo
    when: FileWhen | None = Field(None, description="Only while the ERP record's field holds one of the values")
    file_name: str = Field("{name}", description="File name on the CRM side: {name} = the ERP's file name, "
                                                 "{erp:FIELD} / {crm:FIELD} fields of the records")
    accept: Literal["pdf", "any"] = Field("pdf", description="pdf: a file that is not a PDF is held with a message")
    max_size: str | int = Field("20MB", description="Bigger files are held with a message (Bitrix24 takes a "
                                                    "request of at most 60 s, base64 adds a third: research A.7)")
    on_change: Literal["replace", "keep"] = Field("replace", description="replace: a changed ERP file replaces the "
                                                  "one sent (a new note for timeline); keep: sent once, never again")

    @field_validator("max_size")
    @classmethod
    def _size(cls, v: str | int) -> str | int:
        if parse_size(v) <= 0:
            raise ValueError("max_size must be more than 0")
        return v

    def key(self, index: int) -> str:
        return self.name or self.to.field or f"file{index + 1}"


class SkipIf(Strict):
    """Do-not-sync flag: a record whose field holds one of the values is skipped (and the skip is logged)."""

    side: Side
    field: str
    values: list[Any] = Field(default_factory=lambda: ["Y", "1", 1, True])


class RelatedObject(Strict):
    object: str
    where: dict[str, Any] = Field(description="Filter; {id} is the record's id, {field:NAME} one of its fields")


class RequireRelated(Strict):
    """Hold a record until a related record exists (e.g. push a company to the ERP only once a contract exists)."""

    side: Side
    any: list[RelatedObject] = Field(min_length=1)
    on: Literal["create", "always"] = "create"
    message: str


class RequireFields(Strict):
    side: Side
    fields: list[str] = Field(min_length=1)
    message: str | None = None


class ValidCheck(Strict):
    field: str = Field(description="The field to check, e.g. RQ_INN")
    check: Literal["inn", "kpp", "ogrn", "ogrnip", "ogrn_or_ogrnip", "bic", "account", "phone", "email"]
    bic: str | None = Field(None, description="check: account — the field holding the bank's BIC")
    label: str | None = Field(None, description="How a manager calls the field (shown in the hold message)")
    required: bool = Field(False, description="An empty value is a problem too (else empty values are skipped)")


class RequireValid(Strict):
    """Hold a record until its requisites are valid (b24sync.requisites: check digits, account key with the BIC);
    the message lists, in a manager's words, what to fill in or fix."""

    side: Side
    checks: list[ValidCheck] = Field(min_length=1)
    on: Literal["create", "always"] = "create"
    message: str | None = Field(None, description="First sentence of the hold message")


class RequireActiveParty(Strict):
    """Hold a record while the state register (a ``role: service`` system of type dadata / kontur-focus) says its
    company is liquidated or being liquidated, or does not know the INN at all. The lookup itself is supplied by
    the auto-fill flow (``b24sync.flows.autofill``) as the runtime hook ``party_status``."""

    side: Side
    inn: str = Field(description="The field holding the INN, e.g. RQ_INN")
    kpp: str | None = Field(None, description="The field holding the KPP (a branch is looked up by it), e.g. RQ_KPP")
    provider: str = Field(description="The service system (by name) that answers, e.g. dadata")
    on: Literal["create", "always"] = "create"
    not_found: Literal["hold", "allow"] = Field(
        "hold", description="An INN the register does not know: hold (default — usually a typo) or let it through")


class OnlyIf(Strict):
    """Routing: the entity handles a record only while its field holds one of the values (e.g. the legal entity a
    deal belongs to picks the ERP base: one entity per base, each with its ``only_if``). Other records are skipped
    as "routed elsewhere" — whatever trigger brought them."""

    side: Side
    field: str
    values: list[Any] = Field(min_length=1)


class Guard(Strict):
    skip_if: SkipIf | None = None
    only_if: OnlyIf | None = None
    require_related: RequireRelated | None = None
    require_fields: RequireFields | None = None
    require_valid: RequireValid | None = None
    require_active_party: RequireActiveParty | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Guard:
        if sum(x is not None for x in (self.skip_if, self.only_if, self.require_related, self.require_fields,
                                       self.require_valid, self.require_active_party)) != 1:
            raise ValueError("a guard is exactly one of skip_if, only_if, require_related, require_fields, "
                             "require_valid or require_active_party")
        return self


class FieldPair(Strict):
    crm: str
    erp: str


class Dedupe(Strict):
    """How suspected duplicates are found (docs/matching.md). Automatic links are only ever exact INN (+ KPP)
    from `match`; everything else is *proposed* to a person from `suggest` up, or treated as a new company below."""

    suggest: float = Field(0.85, ge=0.5, le=1.0, description="Score from which two records are proposed as one "
                                                             "company for a person to decide (never merged alone)")
    phones: FieldPair | None = Field(None, description="Phone field on each side (evidence; compared as E.164)")
    emails: FieldPair | None = Field(None, description="E-mail field on each side (evidence: e-mail, corporate domain)")
    address: FieldPair | None = Field(None, description="Address field on each side (evidence: street + house)")
    before_create: Literal["hold", "off"] = Field(
        "off", description="hold: before the engine creates a record on the other side, it looks for a likely "
                           "duplicate there (same phone, e-mail or INN with another KPP, similar name) and holds "
                           "the record with the candidates instead of creating a duplicate")
    confirm_field: FieldPair | None = Field(
        None, description="A flag field a manager sets (Y/1/true) to say \"not a duplicate, create it\"")


# ---- sums over related documents (payments, shipments): engine/aggregate.py ---------------------------------------


class AggregateSet(Strict):
    """A CRM field of the target record that shows a figure of the sum: ``sum`` (Σ of the counted documents' parts),
    ``balance`` (the target's total − sum, never below 0), ``last_date`` (the latest counted document's date),
    ``count`` (how many counted documents)."""

    crm: str
    value: Literal["sum", "balance", "last_date", "count"]
    currency: str | None = Field(None, description="Write a Bitrix24 money value \"amount|RUB\" (A.11); without "
                                                   "it the bare number (or the date as YYYY-MM-DD)")


class AggregateReach(Strict):
    """The threshold rule: once the sum reaches the target's total (``at: full``), the CRM field (the stage) is
    set — once, when the sum crosses the total; partial sums never move it, and a later edit by a person is left
    alone. A reversal below the total arms it again."""

    at: Literal["full"] = "full"
    crm: str = Field(description="The CRM field to set, e.g. STAGE_ID (deal) or stageId (smart invoice)")
    value: str = Field(description="The value, e.g. WON or a stage id such as C1:UC_READY")
    unless: list[str] = Field(default_factory=list, description="Values of that field that are left as they are "
                                                                "(final stages: a lost deal is not reopened)")


class AggregateTarget(Strict):
    """How a part of a source document (a payment row) reaches the CRM record it counts for: the ERP id at ``ref``
    (paths tried in order, the first non-empty wins) is translated through the identity links of the entity
    ``via`` (order: 1C order → deal). With ``type``, only a reference whose ``<ref>_Type`` names that ERP object (a
    composite reference such as ``ОснованиеПлатежа``) — a plain ``_Key`` reference has no type and always passes.
    With ``follow``, the referenced ERP document is read first and its field followed (1C invoice →
    ``ДокументОснование_Key`` → its order). Every target rule that resolves counts (a row may pay the invoice and
    its deal)."""

    via: str = Field(description="The entity whose links translate the ERP id (order, invoice)")
    ref: list[str] = Field(default_factory=list, description="Paths of the reference, e.g. "
                           "РасшифровкаПлатежа.ОснованиеПлатежа (none: the record is only found by `purpose`)")
    type: str | None = Field(None, description="Only references of this ERP object (composite reference _Type)")
    follow: str | None = Field(None, description="Read the referenced document (object `type`) and follow this field")
    total: str | None = Field(None, description="CRM field of the target's amount due (OPPORTUNITY, opportunity); "
                                                "needed by balance and reach")
    set: list[AggregateSet] = Field(default_factory=list)
    reach: list[AggregateReach] = Field(default_factory=list)
    note: bool = Field(True, description="One timeline entry per counted document on this target")
    lock: list[str] = Field(default_factory=list, description="CRM fields that become ERP-owned once something "
                            "counted: a later edit in Bitrix24 is put back with a timeline note (A.9: no REST lock)")

    @field_validator("ref", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class AggregatePurpose(Strict):
    """When no target rule resolves (a bank statement has no document links): find the document number in the
    payment purpose («Оплата по счету № 00УТ-000012 от 10.03.2026») and look it up in a CRM field of the entity
    ``via``'s CRM object. Exactly one record found → it counts there; none or several → the document is held for a
    person with the candidates (never guessed)."""

    field: str = Field("НазначениеПлатежа", description="Path of the purpose text")
    via: str = Field(description="The target rule (by its via) the found record counts under")
    number: str = Field(description="CRM field holding the ERP document number (UF_CRM_ERP_ORDER_NUMBER)")


class Aggregate(Strict):
    """A sum over related documents: each source document (a payment, a shipment) is split into parts (its rows at
    ``rows``, or the whole document), each part reaches its CRM target records (``targets``), and each target gets
    the sum of the parts of the documents that count now — never overwritten by the last document. Documents that
    stop counting (unposted, marked for deletion, deleted, a storno or correction) take their parts back."""

    ledger: str | None = Field(None, description="Name of the sum; entities naming the same ledger (bank and cash "
                                                 "receipts) add into one sum and one dedupe (default: the entity)")
    rows: str | None = Field(None, description="Tabular section whose rows are the parts (РасшифровкаПлатежа, Товары)")
    amount: str = Field(description="Path of a part's amount (РасшифровкаПлатежа.Сумма, Товары.СуммаСНДС, Сумма)")
    date: str = Field("Date", description="Path of the document's date (ДатаВходящегоДокумента)")
    number: str = Field("Number", description="Path of the document's number (for the timeline entry)")
    key: list[str] = Field(default_factory=list, description="Dedupe key paths (НомерВходящегоДокумента, "
                           "ДатаВходящегоДокумента, Контрагент_Key): a second counted document with the same key is "
                           "a duplicate; with another amount it is a conflict held for a person")
    counts_if: dict[str, list[Any]] = Field(
        default_factory=lambda: {"Posted": [True], "DeletionMark": [False]},
        description="The document counts only while each field holds one of the values (Статус: [Отгружено])")
    storno: str | None = Field("СторнируемыйДокумент_Key", description="Field naming the document a storno reverses")
    corrects: str | None = Field("ИсправляемыйДокумент_Key", description="Field naming the document a correction "
                                                                         "replaces")
    targets: list[AggregateTarget] = Field(min_length=1)
    purpose: AggregatePurpose | None = None
    note: str = Field("payment", description="Timeline text: payment («Оплата 150 000 ₽ получена 12.03.2026»), "
                      "shipment («Отгрузка … от …»), or your own with {amount}, {date}, {number}")


# ---- credit limit: deals of a client over its limit wait in a stage (engine/credit.py) -----------------------------


class CreditLimit(Strict):
    """Where a client's credit limit comes from: a field of the ERP record (the УТ contracts' allowed debt,
    document-flows.md B.8) and/or a field of the Bitrix24 company. Both given: the ERP's where it has one."""

    erp: str | None = Field(None, description="Field of the ERP record holding the limit (`Лимит` of "
                            "counterparty_credit: Σ ДопустимаяСуммаЗадолженности of the client's limited contracts)")
    crm: str | None = Field(None, description="Company field holding the limit (UF_CRM_CREDIT_LIMIT, a money "
                            "field) — used where the ERP has none")


class CreditControl(Strict):
    """A client whose debt is over its credit limit: its open deals move to the waiting stage (each remembering the
    stage it came from), the deal's manager is told once per suspension, a new deal of that client is moved there at
    once (Bitrix24 cannot refuse a deal's creation, document-flows.md E.25), and they all return to where they were
    when the debt is at or below the limit again (docs/flow-credit.md)."""

    company: str = Field(description="The entity whose links translate the ERP counterparty into the Bitrix24 "
                                     "company (counterparty, company)")
    debt: str = Field("Долг", description="Field of the ERP record holding the client's debt")
    overdue: str | None = Field(None, description="Field of the ERP record holding the overdue part (named in the "
                                "notice)")
    limit: CreditLimit
    overdue_forbidden: str | None = Field(None, description="Boolean field of the ERP record: the client's contract "
                                          "allows no overdue debt (`ПросрочкаЗапрещена` of counterparty_credit, from "
                                          "ЗапрещаетсяПросроченнаяЗадолженность) — then any overdue debt is over too")
    stage: str = Field(pattern=r"^[A-Za-z0-9_-]{1,22}$", description="The waiting stage's id without the pipeline "
                       "prefix (UC_CREDIT_HOLD; pipeline N gets CN:UC_CREDIT_HOLD); portal prepare creates it")
    stage_name: str = Field("Приостановлена: кредитный лимит", description="Its name, for portal prepare")
    pipelines: list[int] = Field(default_factory=lambda: [0], description="Deal pipelines (CATEGORY_ID) watched")
    leave: list[str] = Field(default_factory=list, description="Open stages whose deals are never suspended")
    notify: bool = Field(True, description="Tell the deal's manager (ASSIGNED_BY_ID) once per suspension and release")


class Overdue(Strict):
    """Overdue notices (docs/flow-payments.md "Overdue invoices"): once a day, a CRM record past its due date with
    something left to pay gets one notification to its responsible person, «Счёт № … просрочен на N дн., остаток
    … ₽» — at most once a day per record (effects ledger, keyed by record and day), however many workers,
    restarts and replays."""

    due: str = Field(description="CRM field with the date payment is due: the smart invoice's closedate, or a UF the "
                                 "ERP's due date (СрокОплаты, ЭтапыГрафикаОплаты.ДатаПлатежа) is written into")
    total: str = Field("opportunity", description="CRM field with the amount due")
    ledger: str | None = Field(None, description="The aggregate ledger whose counted documents pay this record "
                               "(default: the ledger of the aggregate entity with a target `via` this entity)")
    paid: str | None = Field(None, description="Instead of a ledger: a CRM field holding the paid amount")
    who: str = Field("assignedById", description="CRM field with the user id the notice goes to")
    number: list[str] = Field(default_factory=lambda: ["accountNumber"], description="CRM fields tried in order for "
                              "the number the notice names (ufCrmSmartInvoiceErpNumber, accountNumber); else the id")
    stage: str = Field("stageId", description="CRM field with the stage")
    skip_stages: list[str] = Field(default_factory=list, description="Stages that get no notice: the final ones "
                                   "(paid DT31_2:P, cancelled DT31_2:D)")
    at: str = Field("09:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="Local time of the daily sweep, HH:MM")
    timezone: str = Field("Europe/Moscow", description="The time zone of `at` and of the day a notice belongs to")
    personal: bool = Field(False, description="im.notify.personal.add instead of im.notify.system.add")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (use an IANA name such as Europe/Moscow)") from None
        return v


class Entity(Strict):
    title: str | None = None
    master: str = Field(description="The authoritative system (a name from `systems`, or crm / erp)")
    direction: Direction
    crm: ObjectSide
    erp: ObjectSide
    match: list[MatchRule] = Field(description="How a record is found on the other side before anything is created")
    link: LinkFields = Field(default_factory=LinkFields)
    fields: list[FieldMapping] = Field(default_factory=list)
    triggers: list[Trigger] = Field(default_factory=list)
    guards: list[Guard] = Field(default_factory=list)
    header: list[HeaderValue] = Field(default_factory=list, description="Constants and lookups the target gets")
    rows: Rows | None = Field(None, description="Line items (deal product rows ⇄ the order's Товары)")
    write_back: list[WriteBack] = Field(default_factory=list, description="Target fields copied back to the source "
                                                                          "after each write (the ERP number and id)")
    aggregate: Aggregate | None = Field(None, description="A sum over related documents (payments, shipments) "
                                        "onto CRM records instead of a record-to-record sync (docs/flow-payments.md)")
    credit_control: CreditControl | None = Field(None, description="Deals of a client over its credit limit wait "
                                                 "in a stage until the debt falls (docs/flow-credit.md)")


    overdue: Overdue | None = Field(None, description="Overdue notices: once a day, a record past its due date "
                                    "with a balance gets one notification to its manager (docs/flow-payments.md)")
    files: list[FileTransfer] = Field(default_factory=list, description="Files the ERP holds for a record (print "
                                      "form, signed contract) put on the linked CRM record, once per version")
    flow: str | None = Field(None, description="A named business flow that handles this entity instead of the generic sync")
    create: bool = Field(True, description="false: only update records that already exist on the target (found by link "
                                           "or match keys), e.g. receivables written into existing companies")
    dedupe: Dedupe | None = Field(None, description="Suspected-duplicate matching: threshold and evidence fields")
    without_match_key: Literal["park", "create", "skip"] = Field(
        "park", description="A source record with no value for any match rule: park (default — a dead letter with "
        "the reason, replayable once the key is filled in), create (create it on the other side; its link then "
        "finds it again — e.g. a 1C contact person without phone or e-mail, created under its company), or skip "
        "(logged with the reason, synced once the record changes)")
    conflict: Literal["master_wins"] = "master_wins"
    delete: Literal["ignore", "mark"] = Field("ignore", description="What a deletion on the source does to the target")

    @property
    def apart(self) -> bool:
        """Its jobs are handled by an engine module of their own, not the record sync: a sum over documents
        (engine/aggregate.py) or a credit limit (engine/credit.py). Every CRM-side change of such an entity is
        looked at (there is no field mapping to compare)."""
        return self.aggregate is not None or self.credit_control is not None


class RetryPolicy(Strict):
    max_attempts: int = Field(8, ge=1)
    base_seconds: float = Field(2.0, gt=0)
    max_seconds: float = Field(900.0, gt=0)


class Defaults(Strict):
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    poll_overlap: str = Field("120s", description="Each poll re-reads this window before the cursor (late commits, clock skew)")
    poll_page: int = Field(500, ge=1, le=10000)
    workers: int = Field(200, ge=1, le=1000, description="Concurrent jobs per process (async coroutines, not threads): many in flight let the Bitrix24 client coalesce lookups and fill batches of 50 commands (a company card is 4); fewer than ~50 leave batches part-empty at 2 requests/s")
    lease: str = Field("60s", description="How long a claimed job is reserved before another worker may take it")


class BusConsume(Strict):
    """A queue of change events (CloudEvents 1.0) another system publishes: each event is a trigger — its ``type``
    is matched against the entities' ``event:`` triggers of ``side``, its ``subject`` (or ``data.id``) is the record
    id. Acknowledged only after the store committed the job (at-least-once; duplicates dropped by event id)."""

    queue: str = Field(description="RabbitMQ: the queue to consume (declared durable quorum queue if absent); "
                                   "NATS: the durable pull consumer's name on `stream` (created if absent)")
    side: Side = Field("erp", description="Which side's records the events name")
    system: str | None = Field(None, description="The spec system the events come from (several ERPs)")
    prefetch: int = Field(50, ge=1, le=1000, description="Unacknowledged deliveries in flight")
    stream: str | None = Field(None, description="NATS: the JetStream stream the events are in (needed for NATS)")
    subject: str | None = Field(None, description="NATS: the consumer's filter subject, e.g. erp.changes.> (when "
                                                  "the consumer or the stream has to be created)")
    ack_wait: str = Field("30s", description="NATS: an unacknowledged delivery is redelivered after this long")
    max_deliver: int = Field(20, ge=1, description="NATS: deliveries of one message before the server gives up "
                                                   "(RabbitMQ quorum queues: the queue's delivery-limit)")

    @field_validator("ack_wait")
    @classmethod
    def _ack_wait(cls, v: str) -> str:
        if parse_duration(v) < 1:
            raise ValueError("ack_wait must be at least 1s")
        return v


class Bus(Strict):
    """The message bus: every committed change published as a CloudEvents 1.0 message through a transactional
    outbox (RabbitMQ or NATS JetStream), and change events consumed as triggers. See docs/bus.md."""

    kind: Literal["rabbitmq", "nats"] = Field("rabbitmq", description="The broker: RabbitMQ (AMQP 0-9-1) or NATS "
                                                                      "JetStream")
    url: str = Field(description="amqp://user:password@host:5672/vhost or nats://user:password@host:4222 — from "
                                 "the environment")
    publish: bool = Field(True, description="Publish every committed change")
    exchange: str = Field("b24sync.changes", description="RabbitMQ: the topic exchange the relay publishes to "
                                                         "(routing key = subject); NATS: the subject prefix "
                                                         "(<exchange>.<entity>.<side>.<id>)")
    stream: str = Field("B24SYNC_CHANGES", description="NATS: the JetStream stream our events are stored in "
                                                       "(created if absent, capturing <exchange>.>)")
    duplicate_window: str = Field("2m", description="NATS: the stream's Nats-Msg-Id dedupe window when we create it")
    source: str = Field("b24sync://b24sync", description="CloudEvents `source` of our events (one per install)")
    consume: list[BusConsume] = Field(default_factory=list)

    @model_validator(mode="after")
    def _nats_needs_streams(self) -> Bus:
        if self.kind == "nats":
            for c in self.consume:
                if not c.stream:
                    raise ValueError(f"bus.consume {c.queue!r}: a NATS consumer needs `stream:` (the JetStream "
                                     "stream the events are in)")
        parse_duration(self.duplicate_window)
        return self


class EmailAlerts(Strict):
    smtp_host: str = Field(description="SMTP server")
    smtp_port: int = Field(587, description="587 (STARTTLS), 465 (TLS) or 25")
    security: Literal["starttls", "tls", "none"] = "starttls"
    username_env: str | None = Field(None, description="Environment variable with the SMTP login")
    password_env: str | None = Field(None, description="Environment variable with the SMTP password")
    sender: str = Field(description="From: address")
    to: list[str] = Field(min_length=1, description="Recipients")


class Bitrix24Alerts(Strict):
    system: str | None = Field(None, description="The Bitrix24 system of the spec (default: the only one)")
    notify_user_ids: list[int] = Field(default_factory=list, description="Admins notified by im.notify.system.add "
                                       "(a TAG per incident: a repeat replaces the notification)")
    chat_id: int | None = Field(None, description="A chat for im.message.add (e.g. the integration's admin chat)")


class Alerts(Strict):
    """Alerts on what needs a person: credentials refused, an entity not polled for N intervals, dead letters over a
    threshold, a paused entity (schema drift), a stuck queue. One message when an incident opens, one when it ends.
    See docs/operations.md."""

    email: EmailAlerts | None = None
    bitrix24: Bitrix24Alerts | None = None
    check_every: str = Field("60s", description="How often the conditions are evaluated")
    dead_letters_over: int = Field(20, ge=1, description="Open dead letters per entity that make an incident")
    stuck_minutes: int = Field(30, ge=1, description="Oldest pending job older than this, with no job done since")
    locale: Literal["ru", "en"] = "ru"

    @model_validator(mode="after")
    def _one_channel(self) -> Alerts:
        if self.email is None and self.bitrix24 is None:
            raise ValueError("alerts need a channel: email and/or bitrix24")
        parse_duration(self.check_every)
        return self


class Retention(Strict):
    """How long personal data stays in the store: message history and parked records' details older than this are
    purged (a purge log without personal data records each run)."""

    days: int = Field(90, ge=1, le=3650)


class Spec(Strict):
    version: Literal[1] = 1
    name: str
    description: str | None = None
    locale: Literal["ru", "en"] = Field("ru", description="Language of every text managers and finance read: timeline "
                                        "comments, notifications, hold reasons, requisite messages, `spec render`")
    systems: dict[str, SystemSpec]
    defaults: Defaults = Field(default_factory=Defaults)
    value_maps: dict[str, dict[str, str]] = Field(default_factory=dict, description="Named ERP -> CRM value tables")
    entities: dict[str, Entity]
    bus: Bus | None = Field(None, description="Message bus: publish committed changes, consume change events")
    alerts: Alerts | None = Field(None, description="Who is told when something needs a person")
    retention: Retention = Field(default_factory=Retention)

    @model_validator(mode="before")
    @classmethod
    def _expand_routes(cls, data: Any) -> Any:
        """An entity with ``erp.route`` becomes one entity per routed base, ``NAME@SYSTEM`` (docs/several-systems.md
        "Routing"): identity, cursors, fingerprints, leases and history are per (system, id) because every part of
        the engine keys them by entity name and system. References between routed entities (``ref:``, ``via:``,
        ``product_entity:``) point at the same base's copy; ``{route:NAME}`` takes the base's ``vars``."""
        if not isinstance(data, dict) or not isinstance(data.get("entities"), dict):
            return data
        routed = route_expansions(data["entities"])
        if not routed:
            return data
        out: dict[str, Any] = {}
        for name, e in data["entities"].items():
            if name not in routed:
                out[name] = e
                continue
            for system in routed[name]:
                out[f"{name}@{system}"] = _specialise(e, system, routed)
        return {**data, "entities": out}

    def routed(self, name: str) -> tuple[str, str, Route] | None:
        """(the entity as written, its system, the route) for an entity a route made, else None."""
        e = self.entities.get(name)
        if e is None or e.erp.route is None or "@" not in name or e.erp.system is None:
            return None
        base, system = name.rsplit("@", 1)
        return (base, system, e.erp.route) if system == e.erp.system else None

    def route_siblings(self, name: str) -> list[str]:
        """The other bases' copies of a routed entity (in the route's order), this one included."""
        r = self.routed(name)
        if r is None:
            return [name]
        return [f"{r[0]}@{s}" for s in r[2].targets() if f"{r[0]}@{s}" in self.entities]

    def system_for(self, entity: Entity, side: Side) -> str:
        explicit = (entity.crm if side == "crm" else entity.erp).system
        if explicit:
            return explicit
        names = [n for n, s in self.systems.items() if s.role == side]
        return names[0] if len(names) == 1 else ""

    def scope(self, entity_name: str) -> str:
        """The identity scope of an entity: entities that map the same pair of objects (``counterparty`` 1C → CRM
        and ``counterparty_to_erp`` CRM → 1C over the same companies and counterparties) share one identity map
        and one lane per record — so one never creates a second record for what the other has linked already.
        The scope is named after the first such entity in the spec."""
        entity = self.entities.get(entity_name)
        if entity is None:
            return entity_name
        pair = self._pair(entity)
        return next((n for n, e in self.entities.items() if self._pair(e) == pair), entity_name)

    def _pair(self, entity: Entity) -> tuple[str, str, str, str]:
        # a composite CRM object (crm.company+requisite) has the ids of its base object (crm.company)
        return (self.system_for(entity, "crm"), entity.crm.object.split("+", 1)[0],
                self.system_for(entity, "erp"), entity.erp.object)

    def master_side(self, entity: Entity) -> Side:
        if entity.master in ("crm", "erp"):
            return entity.master  # type: ignore[return-value]
        return "crm" if self.system_for(entity, "crm") == entity.master else "erp"

    def owner_of(self, entity: Entity, f: FieldMapping) -> Owner:
        return f.owner or self.master_side(entity)


_REF_KEYS = ("ref", "via", "product_entity")
_ROUTE_VAR = re.compile(r"\{route:([A-Za-z_][A-Za-z0-9_]*)\}")


def route_expansions(entities: dict[str, Any]) -> dict[str, list[str]]:
    """Entities (as written, raw YAML data) with a well-formed ``erp.route`` and no ``erp.system`` → their systems.
    A malformed route is left alone, for the models and checks to report at its line."""
    out: dict[str, list[str]] = {}
    for name, e in entities.items():
        if "@" in str(name) or not isinstance(e, dict) or not isinstance(e.get("erp"), dict):
            continue
        r = e["erp"].get("route")
        if not isinstance(r, dict) or e["erp"].get("system"):
            continue
        systems = r.get("systems")
        names = list(systems.values()) if isinstance(systems, dict) else systems if isinstance(systems, list) else []
        names = [n for n in names if isinstance(n, str) and n and "@" not in n]
        if names:
            out[str(name)] = list(dict.fromkeys(names))
    return out


def _specialise(entity: Any, system: str, routed: dict[str, list[str]]) -> Any:
    """One base's copy of a routed entity (raw data): its system set, its references to other routed entities
    pointed at the same base, ``{route:NAME}`` filled from the base's ``vars``."""
    route = entity["erp"]["route"]
    svars = {"system": system}
    if isinstance(route.get("systems"), dict):
        value = next((v for v, s in route["systems"].items() if s == system), None)
        if value is not None:
            svars["value"] = str(value)
    own = (route.get("vars") or {}).get(system) if isinstance(route.get("vars"), dict) else None
    if isinstance(own, dict):
        svars.update({str(k): v for k, v in own.items()})

    def walk(node: Any, key: str | None = None) -> Any:
        if isinstance(node, dict):
            return {k: (node[k] if k == "route" and key == "erp" else walk(v, k)) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(x, key) for x in node]
        if isinstance(node, str):
            if key in _REF_KEYS and node in routed and system in routed[node]:
                return f"{node}@{system}"
            whole = _ROUTE_VAR.fullmatch(node)
            if whole and whole.group(1) in svars:
                return svars[whole.group(1)]  # a whole value keeps its type (a number stays a number)
            return _ROUTE_VAR.sub(lambda m: str(svars[m.group(1)]) if m.group(1) in svars else m.group(0), node)
        return node

    out = walk(entity)
    out["erp"] = {**out["erp"], "system": system}
    rows = out.get("rows")
    if isinstance(rows, dict) and "product_entity" not in rows and system in routed.get("product", []):
        rows["product_entity"] = f"product@{system}"  # the default `product`, routed: this base's products
    return out

"""Entity-set and field names per 1C configuration: the only place 1C object names live.

A preset maps *logical* objects (``counterparties``, ``customer_orders``, …) to the entity set and the fields of
one configuration. The adapter accepts either the logical name or the entity set itself in a spec's ``object:``.
Names come from erp-side.md §1.14 (confidence marks kept: H = seen on a live base, M = public clients,
L = not in the sheet — *verify with* ``b24sync onec discover`` before relying on it; publications are often
selective, §1.1). Every field map is ``logical name -> 1C property``; properties not in the map pass through.

A preset is plain data, so a site can override or extend one in YAML (``preset_overrides:`` in the system config)
without code: ``{"counterparties": {"fields": {"inn": "ИНН"}}}``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class EntityPreset:
    entity_set: str
    fields: dict[str, str] = field(default_factory=dict)
    key: str = "Ref_Key"
    version_field: str | None = "DataVersion"  # §1.4/§1.10
    deleted_field: str | None = "DeletionMark"  # §1.4
    kind: str = "catalog"  # catalog | document | register | virtual
    virtual: dict[str, Any] | None = None  # for registers read through a virtual table (§1.7)
    confidence: str = "M"
    # composite attributes (names.py): attribute (or `<tabular>/<attribute>`) -> the entity set of its value
    composite: dict[str, str] = field(default_factory=dict)
    # references a spec may give by name (`<tabular>/<field>` or a header field -> {object, field}): the VAT-rate
    # catalog of УНФ / УТ 11.5 (Catalog_СтавкиНДС) named "22%" instead of a base-specific GUID
    by_name: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def postable(self) -> bool:
        return self.kind == "document"


def _e(entity_set: str, kind: str = "catalog", conf: str = "M", **fields: str) -> dict[str, Any]:
    return {"entity_set": entity_set, "kind": kind, "confidence": conf, "fields": fields}


# 1C:Управление торговлей 11 / 1C:ERP 2 / КА 2 share the sales/CRM object model (§1.14 legend, [M]).
UT11: dict[str, dict[str, Any]] = {
    "counterparties": _e("Catalog_Контрагенты", conf="H", name="Description", full_name="НаименованиеПолное",
                         inn="ИНН", kpp="КПП", okpo="КодПоОКПО", legal_form="ЮрФизЛицо", partner="Партнер_Key",
                         contacts="КонтактнаяИнформация"),  # §1.14 УТ row; no Code on the live УТ (§1.4)
    "partners": _e("Catalog_Партнеры", name="Description", full_name="НаименованиеПолное"),  # §1.14 [M]
    "products": _e("Catalog_Номенклатура", conf="H", code="Code", name="Description",
                   full_name="НаименованиеПолное", sku="Артикул", unit="ЕдиницаИзмерения_Key",
                   product_type="ТипНоменклатуры", kind="ВидНоменклатуры_Key", parent="Parent_Key",
                   is_folder="IsFolder", vat_rate="СтавкаНДС"),  # §1.14 Номенклатура УТ
    # УТ 11 keeps units (and packings) in УпаковкиЕдиницыИзмерения; not in the sheet [L]
    "units": _e("Catalog_УпаковкиЕдиницыИзмерения", conf="L", code="Code", name="Description",
                full_name="НаименованиеПолное"),
    "okei_units": _e("Catalog_КлассификаторЕдиницИзмерения", code="Code", name="Description",
                     full_name="НаименованиеПолное"),  # §1.14: Code = OKEI code
    "price_types": _e("Catalog_ВидыЦен", conf="L", name="Description"),
    "prices": {"entity_set": "InformationRegister_ЦеныНоменклатуры", "kind": "virtual", "confidence": "L",
               "key": None, "version_field": None, "deleted_field": None,
               "virtual": {"function": "SliceLast", "product": "Номенклатура_Key", "price_type": "ВидЦены_Key",
                           "value": "Цена"},
               "fields": {"product": "Номенклатура_Key", "price_type": "ВидЦены_Key", "price": "Цена",
                          "period": "Period"}},
    "warehouses": _e("Catalog_Склады", conf="L", name="Description"),
    "stock": {"entity_set": "AccumulationRegister_ТоварыНаСкладах", "kind": "virtual", "confidence": "H",
              "key": None, "version_field": None, "deleted_field": None,
              "virtual": {"function": "Balance", "product": "Номенклатура_Key", "warehouse": "Склад_Key",
                          "value": "ВНаличииBalance"},  # §1.14 Stock row, [GATE:recipes/ut.yaml]
              "fields": {"product": "Номенклатура_Key", "warehouse": "Склад_Key", "on_hand": "ВНаличииBalance",
                         "to_ship": "КОтгрузкеBalance"}},
    "contracts": _e("Catalog_ДоговорыКонтрагентов", conf="L", name="Description", number="Номер", date="Дата",
                    counterparty="Контрагент_Key", partner="Партнер_Key", contract_kind="ВидДоговора"),
    "contact_persons": _e("Catalog_КонтактныеЛицаПартнеров", conf="L", name="Description", owner="Owner_Key",
                          position="Должность", contacts="КонтактнаяИнформация"),
    "customer_orders": _e("Document_ЗаказКлиента", "document", "M", number="Number", date="Date",
                          posted="Posted", partner="Партнер_Key", counterparty="Контрагент_Key",
                          agreement="Соглашение_Key", contract="Договор_Key", warehouse="Склад_Key",
                          status="Статус", operation="ХозяйственнаяОперация", total="СуммаДокумента",
                          items="Товары"),  # §1.14 ЗаказКлиента; Договор_Key [L]
    "shipments": _e("Document_РеализацияТоваровУслуг", "document", "H", number="Number", date="Date",
                    posted="Posted", counterparty="Контрагент_Key", partner="Партнер_Key",
                    operation="ХозяйственнаяОперация", total="СуммаДокумента", items="Товары"),
    "invoices": {**_e("Document_СчетНаОплатуКлиенту", "document", "H", number="Number", date="Date",
                      posted="Posted", counterparty="Контрагент_Key", partner="Партнер_Key", total="СуммаДокумента",
                      basis="ДокументОснование"),  # document-flows.md B.3: composite basis, no goods rows
                 "composite": {"ДокументОснование": "Document_ЗаказКлиента"}},
    "payments": _e("Document_ПоступлениеБезналичныхДенежныхСредств", "document", "L", number="Number",
                   date="Date", posted="Posted", counterparty="Контрагент_Key", total="СуммаДокумента",
                   purpose="НазначениеПлатежа"),
    "receivables": {"entity_set": "AccumulationRegister_РасчетыСКлиентами", "kind": "virtual", "confidence": "H",
                    "key": None, "version_field": None, "deleted_field": None,
                    "virtual": {"function": "Balance"}, "fields": {}},  # §1.14 Receivables УТ/ERP
}

# 1C:Управление нашей фирмой (УНФ). Not covered by the fact sheet's §1.14 table: every name here is [L] and must
# be checked with `b24sync onec discover` against the customer's publication (field names differ between
# УНФ 1.6 and 3.0; override in preset_overrides).
_VAT_BY_NAME = {"object": "Catalog_СтавкиНДС", "field": "Description"}  # "22%", "10%", "0%", "Без НДС" [L]
_STATE_BY_NAME = {"object": "Catalog_СостоянияЗаказовПокупателей", "field": "Description"}  # «В работе», «Завершен»
UNF: dict[str, dict[str, Any]] = {
    "counterparties": _e("Catalog_Контрагенты", conf="L", name="Description", full_name="НаименованиеПолное",
                         inn="ИНН", kpp="КПП", legal_form="ЮрФизЛицо", contacts="КонтактнаяИнформация"),
    "products": _e("Catalog_Номенклатура", conf="L", code="Code", name="Description",
                   full_name="НаименованиеПолное", sku="Артикул", unit="ЕдиницаИзмерения_Key",
                   product_type="ТипНоменклатуры", parent="Parent_Key", is_folder="IsFolder",
                   vat_rate="СтавкаНДС_Key"),
    "units": _e("Catalog_КлассификаторЕдиницИзмерения", conf="M", code="Code", name="Description",
                full_name="НаименованиеПолное"),  # §1.14: "all" configurations, Code = OKEI
    "okei_units": _e("Catalog_КлассификаторЕдиницИзмерения", conf="M", code="Code", name="Description"),
    "price_types": _e("Catalog_ВидыЦен", conf="L", name="Description"),
    "prices": {"entity_set": "InformationRegister_ЦеныНоменклатуры", "kind": "virtual", "confidence": "L",
               "key": None, "version_field": None, "deleted_field": None,
               "virtual": {"function": "SliceLast", "product": "Номенклатура_Key", "price_type": "ВидЦен_Key",
                           "value": "Цена"},
               "fields": {"product": "Номенклатура_Key", "price_type": "ВидЦен_Key", "price": "Цена"}},
    "warehouses": _e("Catalog_СтруктурныеЕдиницы", conf="L", name="Description"),
    "stock": {"entity_set": "AccumulationRegister_ЗапасыНаСкладах", "kind": "virtual", "confidence": "L",
              "key": None, "version_field": None, "deleted_field": None,
              "virtual": {"function": "Balance", "product": "Номенклатура_Key", "warehouse": "СтруктурнаяЕдиница_Key",
                          "value": "КоличествоBalance"},
              "fields": {"product": "Номенклатура_Key", "warehouse": "СтруктурнаяЕдиница_Key",
                         "on_hand": "КоличествоBalance"}},
    "contracts": _e("Catalog_ДоговорыКонтрагентов", conf="L", name="Description", owner="Owner_Key",
                    number="НомерДоговора", date="ДатаДоговора"),
    "contact_persons": _e("Catalog_КонтактныеЛица", conf="L", name="Description", owner="Owner_Key",
                          contacts="КонтактнаяИнформация"),
    # the state: УНФ 3.0.8.73 declares a composite СостояниеЗаказа (+ _Type: СостоянияЗаказовПокупателей |
    # СостоянияЗаказНарядов), the outcome the enum ВариантЗавершения (docs/flow-orders.md "Limits"); an older
    # reading has СостояниеЗаказа_Key — both given and read back by the item's name, so a value table keyed by
    # state names («В работе», the predefined «Завершен») works on any base, whatever its GUIDs
    "customer_orders": {**_e("Document_ЗаказПокупателя", "document", "L", number="Number", date="Date",
                             posted="Posted", counterparty="Контрагент_Key", contract="Договор_Key",
                             status="СостояниеЗаказа_Key", outcome="ВариантЗавершения", total="СуммаДокумента",
                             items="Запасы"),
                        "composite": {"СостояниеЗаказа": "Catalog_СостоянияЗаказовПокупателей"},
                        "by_name": {"Запасы/СтавкаНДС_Key": _VAT_BY_NAME, "СостояниеЗаказа": _STATE_BY_NAME,
                                    "СостояниеЗаказа_Key": _STATE_BY_NAME}},
    "shipments": _e("Document_РасходнаяНакладная", "document", "L", number="Number", date="Date",
                    posted="Posted", counterparty="Контрагент_Key", total="СуммаДокумента", items="Запасы"),
    "invoices": {**_e("Document_СчетНаОплату", "document", "M", number="Number", date="Date", posted="Posted",
                      counterparty="Контрагент_Key", contract="Договор_Key", total="СуммаДокумента",
                      basis="ДокументОснование", bank_account="БанковскийСчет_Key", items="Запасы"),
                 "composite": {"ДокументОснование": "Document_ЗаказПокупателя"},  # document-flows.md B.3 УНФ
                 "by_name": {"Запасы/СтавкаНДС_Key": _VAT_BY_NAME}},
    "payments": _e("Document_ПоступлениеНаСчет", "document", "L", number="Number", date="Date", posted="Posted",
                   counterparty="Контрагент_Key", total="СуммаДокумента"),
}

# 1C:Бухгалтерия предприятия 3.0: erp-side.md §1.14 БП rows and document-flows.md B.3–B.7 (БП 3.0.198.19). There is
# no customer-order document: a sale starts at the invoice. Composite attributes (names.py) get their default type
# here: the invoice rows' Номенклатура (ОсновныеСредства | Номенклатура), the bank receipt's Контрагент.
BP30: dict[str, dict[str, Any]] = {
    "counterparties": _e("Catalog_Контрагенты", conf="H", code="Code", name="Description",
                         full_name="НаименованиеПолное", inn="ИНН", kpp="КПП", okpo="КодПоОКПО",
                         legal_form="ЮридическоеФизическоеЛицо", parent="Parent_Key", is_folder="IsFolder"),
    "products": _e("Catalog_Номенклатура", conf="M", code="Code", name="Description",
                   full_name="НаименованиеПолное", sku="Артикул", unit="БазоваяЕдиницаИзмерения_Key",
                   is_service="Услуга", parent="Parent_Key", is_folder="IsFolder", vat_rate="СтавкаНДС"),
    "okei_units": _e("Catalog_КлассификаторЕдиницИзмерения", code="Code", name="Description",
                     full_name="НаименованиеПолное"),
    "units": _e("Catalog_КлассификаторЕдиницИзмерения", code="Code", name="Description",
                full_name="НаименованиеПолное"),
    "contracts": _e("Catalog_ДоговорыКонтрагентов", conf="M", name="Description", owner="Owner_Key", number="Номер",
                    date="Дата", contract_kind="ВидДоговора"),
    "bank_accounts": _e("Catalog_БанковскиеСчета", conf="L", name="Description", owner="Owner_Key",
                        number="НомерСчета", bank="Банк_Key"),
    "warehouses": _e("Catalog_Склады", conf="L", name="Description"),
    "invoices": {**_e("Document_СчетНаОплатуПокупателю", "document", "H", number="Number", date="Date",
                      counterparty="Контрагент_Key", contract="ДоговорКонтрагента_Key", total="СуммаДокумента",
                      bank_account="СтруктурнаяЕдиница_Key", items="Товары"),
                 "composite": {"Товары/Номенклатура": "Catalog_Номенклатура"}},
    "shipments": _e("Document_РеализацияТоваровУслуг", "document", "H", number="Number", date="Date",
                    posted="Posted", counterparty="Контрагент_Key", contract="ДоговорКонтрагента_Key",
                    invoice="СчетНаОплатуПокупателю_Key", total="СуммаДокумента", items="Товары"),
    "payments": {**_e("Document_ПоступлениеНаРасчетныйСчет", "document", "H", number="Number", date="Date",
                      posted="Posted", counterparty="Контрагент", total="СуммаДокумента",
                      purpose="НазначениеПлатежа"),
                 "composite": {"Контрагент": "Catalog_Контрагенты"}},
    # document-flows.md B.3 [H]: the invoice's payment status is not an attribute but a record of this independent
    # register (dims Организация, composite Документ; resource Статус, a composite enum: Enum.СтатусОплатыСчета
    # Оплачен | ОплаченЧастично | НеОплачен | Отменен). No Ref_Key, no DataVersion: read by the document, one record
    # per document (per organisation); ⚠ the JSON of a composite enum value is not seen live (sheet "Open items"):
    # the code assumes the member name in `Статус` and `StandardODATA.Enum_СтатусОплатыСчета` in `Статус_Type`
    "invoice_statuses": {"entity_set": "InformationRegister_СтатусыДокументов", "kind": "register",
                         "confidence": "M", "key": "Документ", "version_field": None, "deleted_field": None,
                         "fields": {"document": "Документ", "organisation": "Организация_Key", "status": "Статус"}},
    # docs/flow-suppliers.md (БП 3.0.198.19 InformationRegisters/СостоянияБанковскихДокументов [H]): a payment order's
    # state (Подготовлено, НаПодписи, Согласовано, Отправлено, Оплачено, Отклонено) is not an attribute of the
    # document but a record of this independent register — dims Организация, composite СсылкаНаОбъект
    # (ПлатежноеПоручение | ПлатежноеТребование); resources Состояние, Ответственный, Согласовано. Read by the document.
    "bank_document_states": {"entity_set": "InformationRegister_СостоянияБанковскихДокументов", "kind": "register",
                             "confidence": "H", "key": "СсылкаНаОбъект", "version_field": None, "deleted_field": None,
                             "fields": {"document": "СсылкаНаОбъект", "organisation": "Организация_Key",
                                        "state": "Состояние"}},
}

PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "ut11": UT11,
    "erp2": UT11,  # ERP 2 / КА 2 share the УТ 11 sales model (§1.14 legend)
    "bp30": BP30,
    "unf": UNF,
    "unf30": UNF,
    "none": {},  # SAP / Dynamics / any OData service: the spec names entity sets and fields directly
}


class Preset:
    """A resolved preset: logical name or entity set → :class:`EntityPreset`."""

    def __init__(self, name: str = "none", overrides: dict[str, dict[str, Any]] | None = None, *,
                 default_key: str | None = "Ref_Key", default_version_field: str | None = "DataVersion",
                 default_deleted_field: str | None = "DeletionMark") -> None:
        if name not in PRESETS:
            raise KeyError(f"unknown OData preset {name!r}; known: {', '.join(sorted(PRESETS))}")
        data = copy.deepcopy(PRESETS[name])
        for logical, ov in (overrides or {}).items():
            base = data.setdefault(logical, {"fields": {}})
            for k, v in ov.items():
                if k in ("fields", "composite", "by_name"):
                    base.setdefault(k, {}).update(v)
                else:
                    base[k] = v
        self.name = name
        self.defaults = {"key": default_key, "version_field": default_version_field,
                         "deleted_field": default_deleted_field}
        self.entities: dict[str, EntityPreset] = {}
        for logical, d in data.items():
            if "entity_set" not in d:
                raise ValueError(f"preset override {logical!r} needs entity_set")
            self.entities[logical] = self._make(d)
        self._by_set = {e.entity_set: e for e in self.entities.values()}

    def _make(self, d: dict[str, Any]) -> EntityPreset:
        return EntityPreset(
            entity_set=d["entity_set"],
            fields=dict(d.get("fields") or {}),
            key=d.get("key", self.defaults["key"]),
            version_field=d.get("version_field", self.defaults["version_field"]),
            deleted_field=d.get("deleted_field", self.defaults["deleted_field"]),
            kind=d.get("kind", "catalog"),
            virtual=d.get("virtual"),
            confidence=d.get("confidence", "M"),
            composite=dict(d.get("composite") or {}),
            by_name=dict(d.get("by_name") or {}),
        )

    def resolve(self, obj: str) -> EntityPreset:
        """``counterparties`` or ``Catalog_Контрагенты`` (or any entity set not in the preset) → EntityPreset."""
        if obj in self.entities:
            return self.entities[obj]
        if obj in self._by_set:
            return self._by_set[obj]
        kind = "document" if obj.startswith("Document_") else "catalog"
        return self._make({"entity_set": obj, "kind": kind})

"""The emulated configuration: metadata objects, their fields and how they are published.

Naming follows erp-side.md §1.3 (``<Prefix>_<MetadataName>[_<TabularSection>|_RecordType]``, Cyrillic
names kept as is) and the УТ 11 / ERP 2 object model of §1.14. Standard attributes per kind follow §1.4.
"""

from __future__ import annotations

from dataclasses import dataclass, field

EMPTY_REF = "00000000-0000-0000-0000-000000000000"  # §1.4 empty reference
EMPTY_DATE = "0001-01-01T00:00:00"  # §1.4 empty date
ANALYTICS_KEYS = "Catalog_КлючиАналитикиУчетаПоПартнерам"  # document-flows.md B.8

# Enumerations are plain Edm.String holding the member name (§1.4); the members here are the ones the
# seed data and the validators use. Published as EnumType in $metadata (not as sets, §1.1).
ENUMS: dict[str, list[str]] = {
    "ЮрФизЛицо": ["ЮрЛицо", "ФизЛицо", "ИндивидуальныйПредприниматель", "ЮрЛицоНеРезидент"],
    "СтавкиНДС": ["БезНДС", "НДС0", "НДС5", "НДС7", "НДС10", "НДС20", "НДС22", "НДС10_110",
                  "НДС20_120", "НДС22_122"],  # §1.14 / §10.1
    "СтатусыЗаказовКлиентов": ["НеСогласован", "КОбеспечению", "КОтгрузке", "Закрыт"],
    "ТипыНоменклатуры": ["Товар", "Услуга", "Работа", "Тара"],
    "ВидыДоговоровСКлиентами": ["СПокупателем", "СПоставщиком", "Прочее"],
    "ТипыКонтактнойИнформации": ["Адрес", "Телефон", "АдресЭлектроннойПочты", "ВебСтраница"],
    "ВидыДвиженийНакопления": ["Receipt", "Expense"],
    "СтатусыРеализацийТоваровУслуг": ["КПредоплате", "ВПути", "Отгружено"],  # document-flows.md B.6
    # БП 3.0 / УНФ 3.0 profiles (profiles.py; erp-side.md §1.14 БП rows, document-flows.md B.3)
    "ЮридическоеФизическоеЛицо": ["ЮридическоеЛицо", "ФизическоеЛицо"],
    "ВидыДоговоровКонтрагентов": ["СПокупателем", "СПоставщиком", "СКомитентом", "СКомиссионером", "Прочее"],
    "СтатусыДоговоровКонтрагентов": ["НеСогласован", "Действует", "Закрыт"],  # document-flows.md B.7
    "ТипыХраненияФайлов": ["ВИнформационнойБазе", "ВТомахНаДиске"],  # B.7 / B.9
    # the supplier side (document-flows.md B.10; members read in УТ 11.5.18 Enums/СтатусыЗаказовПоставщикам and БП
    # 3.0.198 Enums/СостоянияБанковскихДокументов, Enums/СтатусОплатыСчета — docs/flow-suppliers.md)
    "СтатусыЗаказовПоставщикам": ["НеСогласован", "Согласован", "Подтвержден", "Закрыт"],
    "ТипыПлатежныхДокументов": ["ПлатежноеПоручение", "ПлатежноеТребование", "ИнкассовоеПоручение"],
    "СостоянияБанковскихДокументов": ["Подготовлено", "НаПодписи", "Отправлено", "Оплачено", "Отклонено",
                                      "Согласовано"],
    "СтатусОплатыСчета": ["Оплачен", "ОплаченЧастично", "НеОплачен", "Отменен"],
    "ВариантыЗавершенияЗаказа": ["Успешно", "Отменен"],  # УНФ 3.0.8.73 (docs/flow-orders.md "Limits")
}


@dataclass
class Field:
    name: str
    type: str  # String, Guid, Boolean, Double, Int64, Int32, DateTime
    max_length: int | None = None
    ref: str | None = None  # entity set a *_Key field points to (navigation property = name without _Key)
    enum: str | None = None
    default: object = None
    # a composite-typed attribute (erp-side.md §1.4): this field holds the value, ``<name>_Type`` the type, and
    # ``composite`` lists the entity sets the value may be of (document-flows.md B.3: БП rows' Номенклатура)
    composite: tuple[str, ...] | None = None

    @property
    def nav_name(self) -> str | None:
        return self.name[:-4] if self.ref and self.name.endswith("_Key") else None


@dataclass
class TabularSection:
    name: str
    fields: list[Field]


@dataclass
class EntityDef:
    name: str  # full entity-set name, e.g. Catalog_Контрагенты
    kind: str  # Catalog, Document, ExchangePlan, InformationRegister, AccumulationRegister
    fields: list[Field] = field(default_factory=list)
    tabular: list[TabularSection] = field(default_factory=list)
    has_code: bool = False  # §1.4: Code only where numbering is enabled
    code_length: int = 9
    code_prefix: str = ""
    number_prefix: str = ""  # documents: §10.3 numbers are strings with prefixes
    hierarchical: bool = False
    # registers
    dimensions: list[str] = field(default_factory=list)
    resources: list[str] = field(default_factory=list)
    periodic: bool = False
    recorder_types: list[str] = field(default_factory=list)  # empty = independent register
    balance: bool = False  # accumulation register of kind "balances" (Balance available, §1.7)
    exchange: bool = True  # member of the exchange plan content
    # posting: document -> list of movement builders names (see store.py)
    posts_to: list[str] = field(default_factory=list)
    postable: bool = True  # documents: False = written only, never posted (БП СчетНаОплатуПокупателю)

    @property
    def prefix(self) -> str:
        return self.kind

    @property
    def is_reference(self) -> bool:
        return self.kind in ("Catalog", "Document", "ExchangePlan")

    def field(self, name: str) -> Field | None:
        for f in self.all_fields():
            if f.name == name:
                return f
        return None

    def tab(self, name: str) -> TabularSection | None:
        for t in self.tabular:
            if t.name == name:
                return t
        return None

    def all_fields(self) -> list[Field]:
        """Standard attributes (§1.4) followed by the configuration's own attributes."""
        std: list[Field] = []
        if self.kind == "Catalog":
            std = [Field("Ref_Key", "Guid"), Field("DataVersion", "String"),
                   Field("DeletionMark", "Boolean", default=False)]
            if self.hierarchical:
                std += [Field("Parent_Key", "Guid", ref=self.name), Field("IsFolder", "Boolean", default=False)]
            if self.has_code:
                std.append(Field("Code", "String", max_length=self.code_length))
            std += [Field("Description", "String", max_length=150),
                    Field("Predefined", "Boolean", default=False),
                    Field("PredefinedDataName", "String", default="")]
        elif self.kind == "Document":
            std = [Field("Ref_Key", "Guid"), Field("DataVersion", "String"),
                   Field("DeletionMark", "Boolean", default=False),
                   Field("Number", "String", max_length=11), Field("Date", "DateTime"),
                   Field("Posted", "Boolean", default=False)]
        elif self.kind == "ExchangePlan":
            std = [Field("Ref_Key", "Guid"), Field("DataVersion", "String"),
                   Field("DeletionMark", "Boolean", default=False),
                   Field("Code", "String", max_length=9), Field("Description", "String", max_length=100),
                   # onecdc's metadata reader cites Appendix 12: SentNo/ReceivedNo are Int32
                   Field("SentNo", "Int32", default=0), Field("ReceivedNo", "Int32", default=0),
                   Field("ThisNode", "Boolean", default=False)]
        elif self.kind == "InformationRegister" and not self.recorder_types:
            std = [Field("Period", "DateTime")] if self.periodic else []
        elif self.kind in ("InformationRegister", "AccumulationRegister"):
            # one recorder type -> Recorder_Key (Guid); several -> Recorder + Recorder_Type
            # (erp-side.md §1.4; the same distinction is documented in onecdc's data_reader)
            std = self.recorder_fields() + [
                   Field("Period", "DateTime"), Field("LineNumber", "Int64"),
                   Field("Active", "Boolean", default=True)]
            if self.kind == "AccumulationRegister" and self.balance:
                std.append(Field("RecordType", "String", enum="ВидыДвиженийНакопления"))
        return std + self.fields

    def recorder_fields(self) -> list[Field]:
        if len(self.recorder_types) == 1:
            return [Field("Recorder_Key", "Guid", ref=self.recorder_types[0])]
        return [Field("Recorder", "String"), Field("Recorder_Type", "String")]

    def set_key_fields(self) -> list[str]:
        return [f.name for f in self.recorder_fields()]

    def key_fields(self) -> list[str]:
        if self.is_reference:
            return ["Ref_Key"]
        if self.kind == "InformationRegister" and not self.recorder_types:
            return (["Period"] if self.periodic else []) + list(self.dimensions)
        return self.set_key_fields() + ["LineNumber"]


def _ref(name: str, target: str) -> Field:
    return Field(name, "Guid", ref=target)


def _s(name: str, n: int | None = None, enum: str | None = None, default: object = "") -> Field:
    return Field(name, "String", max_length=n, enum=enum, default=default)


def _d(name: str) -> Field:
    return Field(name, "Double", default=0)


def _b(name: str) -> Field:
    return Field(name, "Boolean", default=False)


def _dt(name: str) -> Field:
    return Field(name, "DateTime", default=EMPTY_DATE)


def _composite(name: str, *types: str) -> list[Field]:
    """A composite attribute as OData publishes it (erp-side.md §1.4): ``X`` (the value) + ``X_Type`` (the type,
    ``StandardODATA.<set>``); no navigation property, no ``X_Key``."""
    return [Field(name, "String", default="", composite=tuple(types)), Field(f"{name}_Type", "String", default="")]


CONTACT_INFO = TabularSection("КонтактнаяИнформация", [
    Field("LineNumber", "Int64"), _s("Тип", enum="ТипыКонтактнойИнформации"), _s("Вид", 100),
    _s("Представление", 500), _s("ЗначенияПолей", 1000), _s("Страна", 100), _s("Регион", 100),
    _s("Город", 100), _s("АдресЭП", 100), _s("НомерТелефона", 20),
])


def _payment_rows(extra: list[Field] | None = None) -> TabularSection:
    """``РасшифровкаПлатежа`` of УТ 11.5 receipts (document-flows.md B.4)."""
    return TabularSection("РасшифровкаПлатежа", [
        Field("LineNumber", "Int64"), _ref("Партнер_Key", "Catalog_Партнеры"),
        _s("ОснованиеПлатежа", 36, default=EMPTY_REF), _s("ОснованиеПлатежа_Type", 100),
        _ref("ОбъектРасчетов_Key", "Catalog_ОбъектыРасчетов"), _ref("Договор_Key", "Catalog_ДоговорыКонтрагентов"),
        _d("Сумма"), _ref("ВалютаВзаиморасчетов_Key", "Catalog_Валюты"), _d("СуммаВзаиморасчетов"),
        _s("СтавкаНДС", enum="СтавкиНДС", default="НДС22"), _d("СуммаНДС"), _dt("ДатаПогашения"),
        _s("ИдентификаторСтроки", 36), *(extra or [])])


def _goods_rows(extra: list[Field] | None = None) -> TabularSection:
    return TabularSection("Товары", [
        Field("LineNumber", "Int64"), _ref("Номенклатура_Key", "Catalog_Номенклатура"),
        _ref("Упаковка_Key", "Catalog_УпаковкиЕдиницыИзмерения"), _d("КоличествоУпаковок"), _d("Количество"),
        _d("Цена"), _d("Сумма"), _s("СтавкаНДС", enum="СтавкиНДС", default="НДС22"), _d("СуммаНДС"),
        _d("СуммаСНДС"),
    ] + (extra or []))


def build_configuration(exchange_plan: str = "ОбменСB24", *, document_prefix: str = "ЦБ00-",
                        code_prefix: str = "УТ-") -> list[EntityDef]:
    """The УТ 11 / ERP 2 flavoured object set (§1.14). Order = order in $metadata."""
    org = "Catalog_Организации"
    defs = [
        EntityDef("Catalog_Организации", "Catalog", has_code=True, code_prefix="",
                  fields=[_s("НаименованиеПолное", 500), _s("ИНН", 12), _s("КПП", 9), _s("ОГРН", 15),
                          _s("Префикс", 2)]),
        EntityDef("Catalog_Валюты", "Catalog", has_code=True, code_length=3,
                  fields=[_s("НаименованиеПолное", 50)]),
        EntityDef("Catalog_Партнеры", "Catalog", has_code=True, code_length=11, code_prefix=code_prefix,
                  fields=[_s("НаименованиеПолное", 300), _b("Клиент"), _b("Поставщик"), _b("ОбслуживаетсяТорговымиПредставителями"),
                          _s("Комментарий", 1000)]),
        # §1.4 finding 3: the live УТ Catalog_Контрагенты had no Code; §1.14 UT row for the fields
        EntityDef("Catalog_Контрагенты", "Catalog", has_code=False,
                  fields=[_s("НаименованиеПолное", 500), _s("ИНН", 12), _s("КПП", 9), _s("КодПоОКПО", 10),
                          _s("ЮрФизЛицо", enum="ЮрФизЛицо", default="ЮрЛицо"), _s("РегистрационныйНомер", 50),
                          _ref("Партнер_Key", "Catalog_Партнеры"),
                          _ref("ГоловнойКонтрагент_Key", "Catalog_Контрагенты"), _s("Комментарий", 1000),
                          # ОГРН / ОГРНИП (13 / 15 digits); ИдентификаторCRM: an attribute a configuration
                          # extension adds for an integration (the spec's `link.erp`), not a standard УТ field
                          _s("ОГРН", 15), _s("ИдентификаторCRM", 50)],
                  tabular=[CONTACT_INFO]),
        # §1.14 `Catalog_БанковскиеСчета` row (confidence L): owner + account number + bank reference. Names follow
        # УТ 11 (БанковскиеСчетаКонтрагентов owned by Контрагенты, the bank from the БСП КлассификаторБанков whose
        # Code is the BIC); check them with `b24sync onec discover` on a live base.
        EntityDef("Catalog_КлассификаторБанков", "Catalog", has_code=True, code_length=9,
                  fields=[_s("КоррСчет", 20), _s("Город", 100), _s("Адрес", 500)]),
        EntityDef("Catalog_БанковскиеСчетаКонтрагентов", "Catalog", has_code=False,
                  fields=[_ref("Owner_Key", "Catalog_Контрагенты"), _s("НомерСчета", 20),
                          _ref("Банк_Key", "Catalog_КлассификаторБанков"),
                          _ref("ВалютаДенежныхСредств_Key", "Catalog_Валюты")]),
        EntityDef("Catalog_КонтактныеЛицаПартнеров", "Catalog", has_code=True, code_length=11,
                  code_prefix=code_prefix,
                  fields=[_ref("Owner_Key", "Catalog_Партнеры"), _s("Должность", 100), _s("Фамилия", 50),
                          _s("Имя", 50), _s("Отчество", 50)],
                  tabular=[CONTACT_INFO]),
        EntityDef("Catalog_ДоговорыКонтрагентов", "Catalog", has_code=True, code_length=11, code_prefix=code_prefix,
                  fields=[_ref("Контрагент_Key", "Catalog_Контрагенты"), _ref("Партнер_Key", "Catalog_Партнеры"),
                          _ref("Организация_Key", org), _s("Номер", 50), _dt("Дата"),
                          _s("ВидДоговора", enum="ВидыДоговоровСКлиентами", default="СПокупателем"),
                          _ref("ВалютаВзаиморасчетов_Key", "Catalog_Валюты"),
                          # document-flows.md B.7 (УТ 11.5): status, validity, amount
                          _s("Статус", enum="СтатусыДоговоровКонтрагентов", default="НеСогласован"),
                          _b("Согласован"), _dt("ДатаНачалаДействия"), _dt("ДатаОкончанияДействия"), _d("Сумма"),
                          _s("Комментарий", 0),
                          # document-flows.md B.7/B.8 (УТ 11.5 / ERP 2.5): the payment term and the credit limit
                          # live on the contract
                          _b("УстановленСрокОплаты"), Field("СрокОплаты", "Int64", default=0),
                          _b("ОграничиватьСуммуЗадолженности"), _d("ДопустимаяСуммаЗадолженности"),
                          _b("ЗапрещаетсяПросроченнаяЗадолженность"),
                          # ИдентификаторCRM: an attribute a configuration extension adds for the integration
                          _s("ИдентификаторCRM", 50)]),
        EntityDef("Catalog_КлассификаторЕдиницИзмерения", "Catalog", has_code=True, code_length=4,
                  fields=[_s("НаименованиеПолное", 100), _s("МеждународноеСокращение", 3)]),
        EntityDef("Catalog_УпаковкиЕдиницыИзмерения", "Catalog", has_code=True, code_length=11,
                  code_prefix=code_prefix,
                  fields=[_s("НаименованиеПолное", 100), _s("МеждународноеСокращение", 3),
                          _ref("ЕдиницаПоКлассификатору_Key", "Catalog_КлассификаторЕдиницИзмерения"),
                          _d("Числитель"), _d("Знаменатель")]),
        EntityDef("Catalog_Номенклатура", "Catalog", has_code=True, code_length=11, code_prefix=code_prefix,
                  hierarchical=True,
                  fields=[_s("НаименованиеПолное", 1000), _s("Артикул", 50),
                          _ref("ЕдиницаИзмерения_Key", "Catalog_УпаковкиЕдиницыИзмерения"),
                          _s("СтавкаНДС", enum="СтавкиНДС", default="НДС22"),
                          _s("ТипНоменклатуры", enum="ТипыНоменклатуры", default="Товар"), _s("Штрихкод", 200),
                          _s("Описание", 0)]),
        EntityDef("Catalog_ВидыЦен", "Catalog", has_code=True, code_length=9,
                  fields=[_ref("ВалютаЦены_Key", "Catalog_Валюты"), _b("ЦенаВключаетНДС"),
                          _s("ИдентификаторФормул", 100)]),
        EntityDef("Catalog_Склады", "Catalog", has_code=True, code_length=9, hierarchical=True,
                  fields=[_s("ТипСклада", 50, default="ОптовыйСклад"), _s("Адрес", 500)]),
        # document-flows.md B.1: Соглашение_Key is a Catalog_СоглашенияСКлиентами reference
        EntityDef("Catalog_СоглашенияСКлиентами", "Catalog", has_code=True, code_length=11, code_prefix=code_prefix,
                  fields=[_ref("Партнер_Key", "Catalog_Партнеры"), _ref("Контрагент_Key", "Catalog_Контрагенты"),
                          _ref("Организация_Key", org), _ref("Валюта_Key", "Catalog_Валюты"),
                          _s("Статус", 50, default="Действует")]),
        EntityDef("Document_ЗаказКлиента", "Document", number_prefix=document_prefix,
                  fields=[_ref("Организация_Key", org), _ref("Партнер_Key", "Catalog_Партнеры"),
                          _ref("Контрагент_Key", "Catalog_Контрагенты"),
                          _ref("Соглашение_Key", "Catalog_СоглашенияСКлиентами"),
                          _ref("Договор_Key", "Catalog_ДоговорыКонтрагентов"), _ref("Склад_Key", "Catalog_Склады"),
                          _ref("Валюта_Key", "Catalog_Валюты"), _ref("ВидЦены_Key", "Catalog_ВидыЦен"),
                          _s("Статус", enum="СтатусыЗаказовКлиентов", default="НеСогласован"),
                          _s("ХозяйственнаяОперация", 100, default="РеализацияКлиенту"),
                          _d("СуммаДокумента"), _b("ЦенаВключаетНДС"), _dt("ДатаОтгрузки"),
                          _s("НомерПоДаннымКлиента", 50), _s("Комментарий", 0)],
                  tabular=[_goods_rows([_s("ВариантОбеспечения", 50, default="Отгрузить"),
                                        _ref("Склад_Key", "Catalog_Склады"), _s("Содержание", 1000),
                                        _b("Отменено"),
                                        # document-flows.md B.1: the manual discount columns of УТ's Товары
                                        _d("ПроцентРучнойСкидки"), _d("СуммаРучнойСкидки")])],
                  posts_to=["AccumulationRegister_ТоварыНаСкладах"]),
        EntityDef("Document_РеализацияТоваровУслуг", "Document", number_prefix=document_prefix,
                  fields=[_ref("Организация_Key", org), _ref("Партнер_Key", "Catalog_Партнеры"),
                          _ref("Контрагент_Key", "Catalog_Контрагенты"),
                          _ref("Договор_Key", "Catalog_ДоговорыКонтрагентов"), _ref("Склад_Key", "Catalog_Склады"),
                          _ref("Валюта_Key", "Catalog_Валюты"), _ref("ЗаказКлиента_Key", "Document_ЗаказКлиента"),
                          _s("ХозяйственнаяОперация", 100, default="РеализацияКлиенту"),
                          # B.6: Статус (Enum_СтатусыРеализацийТоваровУслуг), several orders in one shipment
                          _s("Статус", enum="СтатусыРеализацийТоваровУслуг", default="Отгружено"),
                          _b("РеализацияПоЗаказам"),
                          _d("СуммаДокумента"), _b("ЦенаВключаетНДС"), _s("Комментарий", 0)],
                  tabular=[_goods_rows([_ref("ЗаказКлиента_Key", "Document_ЗаказКлиента")])],
                  posts_to=["AccumulationRegister_ТоварыНаСкладах", "AccumulationRegister_РасчетыСКлиентами",
                            "AccumulationRegister_ВыручкаИСебестоимостьПродаж",
                            "AccumulationRegister_РасчетыСКлиентамиПоСрокам"]),
        EntityDef("Document_СчетНаОплатуКлиенту", "Document", number_prefix=document_prefix,
                  fields=[_ref("Организация_Key", org), _ref("Партнер_Key", "Catalog_Партнеры"),
                          _ref("Контрагент_Key", "Catalog_Контрагенты"),
                          _ref("Договор_Key", "Catalog_ДоговорыКонтрагентов"),
                          # document-flows.md B.3: a composite basis (order, shipment, contract, …) and no goods
                          # rows — the printed lines come from the basis; only the payment schedule
                          *_composite("ДокументОснование", "Document_ЗаказКлиента", "Document_РеализацияТоваровУслуг",
                                      "Catalog_ДоговорыКонтрагентов"),
                          _ref("Валюта_Key", "Catalog_Валюты"), _d("СуммаДокумента"), _dt("СрокОплаты"),
                          _s("Комментарий", 0), _b("Аннулирован"), _b("ЧастичнаяОплата"), _s("НазначениеПлатежа", 210),
                          # ИдентификаторCRM: an attribute a configuration extension adds for the integration
                          _s("ИдентификаторCRM", 50)],
                  tabular=[TabularSection("ЭтапыГрафикаОплаты", [
                      Field("LineNumber", "Int64"), _dt("ДатаПлатежа"), _d("ПроцентПлатежа"), _d("СуммаПлатежа"),
                      _b("ЭтоЗалогЗаТару")])]),
        # document-flows.md B.4 (УТ 11.5 / ERP 2.5): the payer's incoming number and date (the dedupe key), bank
        # posting, storno and correction; rows РасшифровкаПлатежа name what they pay in the composite
        # ОснованиеПлатежа (+ _Type: an order, an invoice, a shipment) and ОбъектРасчетов_Key. 11.4's row field
        # Заказ is gone (B.4 ⚠), so it is not published.
        EntityDef("Document_ПоступлениеБезналичныхДенежныхСредств", "Document", number_prefix=document_prefix,
                  fields=[_ref("Организация_Key", org), _ref("Контрагент_Key", "Catalog_Контрагенты"),
                          _ref("Партнер_Key", "Catalog_Партнеры"), _ref("Валюта_Key", "Catalog_Валюты"),
                          _s("ХозяйственнаяОперация", 100, default="ПоступлениеОплатыОтКлиента"),
                          _d("СуммаДокумента"), _s("НазначениеПлатежа", 210), _s("НомерВходящегоДокумента", 30),
                          _dt("ДатаВходящегоДокумента"), _b("ПроведеноБанком"), _dt("ДатаПроведенияБанком"),
                          _s("ДокументОснование", 36, default=EMPTY_REF), _s("ДокументОснование_Type", 100),
                          _ref("ОбъектРасчетов_Key", "Catalog_ОбъектыРасчетов"), _b("Исправление"),
                          _ref("СторнируемыйДокумент_Key", "Document_ПоступлениеБезналичныхДенежныхСредств"),
                          _ref("ИсправляемыйДокумент_Key", "Document_ПоступлениеБезналичныхДенежныхСредств"),
                          _s("ДанныеВыписки", 0), _dt("ДатаЗагрузки")],
                  tabular=[_payment_rows()],
                  posts_to=["AccumulationRegister_РасчетыСКлиентами", "AccumulationRegister_РасчетыСКлиентамиПоСрокам"]),
        # B.5: a cash receipt has no incoming number; rows as in B.4 plus the unused 11.4 field УдалитьЗаказ
        EntityDef("Document_ПриходныйКассовыйОрдер", "Document", number_prefix=document_prefix,
                  fields=[_ref("Организация_Key", org), _ref("Контрагент_Key", "Catalog_Контрагенты"),
                          _ref("Партнер_Key", "Catalog_Партнеры"), _ref("Валюта_Key", "Catalog_Валюты"),
                          _s("ХозяйственнаяОперация", 100, default="ПоступлениеОплатыОтКлиента"),
                          _d("СуммаДокумента"), _s("ПринятоОт", 200), _s("Основание", 200),
                          _s("ДокументОснование", 36, default=EMPTY_REF), _s("ДокументОснование_Type", 100),
                          _ref("ОбъектРасчетов_Key", "Catalog_ОбъектыРасчетов"), _b("Исправление"),
                          _ref("СторнируемыйДокумент_Key", "Document_ПриходныйКассовыйОрдер")],
                  tabular=[_payment_rows([_s("УдалитьЗаказ", 36, default=EMPTY_REF)])],
                  posts_to=["AccumulationRegister_РасчетыСКлиентами", "AccumulationRegister_РасчетыСКлиентамиПоСрокам"]),
        # B.4: the settlement objects of УТ 11.5 (one per order when settlements are "by orders")
        EntityDef("Catalog_ОбъектыРасчетов", "Catalog", has_code=False, exchange=False,
                  fields=[_s("Объект", 36, default=EMPTY_REF), _s("Объект_Type", 100),
                          _s("ТипОбъектаРасчетов", 50, default="Заказ"), _s("Номер", 50), _dt("Дата"),
                          _d("Сумма"), _ref("Партнер_Key", "Catalog_Партнеры")]),
        EntityDef("Document_ПриобретениеТоваровУслуг", "Document", number_prefix=document_prefix,
                  fields=[_ref("Организация_Key", org), _ref("Контрагент_Key", "Catalog_Контрагенты"),
                          _ref("Склад_Key", "Catalog_Склады"), _d("СуммаДокумента")],
                  tabular=[_goods_rows()],
                  posts_to=["AccumulationRegister_ТоварыНаСкладах"]),
        # The supplier side (docs/flow-suppliers.md). УТ 11 has no "supplier invoice" document: the supplier's
        # invoice is registered as a supplier order, its number and date in НомерПоДаннымПоставщика /
        # ДатаПоДаннымПоставщика (document-flows.md B.10; attributes read in УТ 11.5.18 Documents/ЗаказПоставщику:
        # Статус = Enum.СтатусыЗаказовПоставщикам, rows Товары with Отменено, the payment schedule
        # ЭтапыГрафикаОплаты). Not posted to registers here [L]: only Posted is kept.
        EntityDef("Document_ЗаказПоставщику", "Document", number_prefix=document_prefix,
                  fields=[_ref("Организация_Key", org), _ref("Партнер_Key", "Catalog_Партнеры"),
                          _ref("Контрагент_Key", "Catalog_Контрагенты"),
                          _ref("Договор_Key", "Catalog_ДоговорыКонтрагентов"), _ref("Склад_Key", "Catalog_Склады"),
                          _ref("Валюта_Key", "Catalog_Валюты"),
                          _s("Статус", enum="СтатусыЗаказовПоставщикам", default="НеСогласован"), _b("Согласован"),
                          _dt("ДатаСогласования"), _s("ХозяйственнаяОперация", 100, default="ЗакупкаУПоставщика"),
                          _d("СуммаДокумента"), _b("ЦенаВключаетНДС"), _s("НомерПоДаннымПоставщика", 30),
                          _dt("ДатаПоДаннымПоставщика"), _dt("ЖелаемаяДатаПоступления"), _s("Комментарий", 0)],
                  tabular=[_goods_rows([_b("Отменено"), _d("ПроцентРучнойСкидки"), _d("СуммаРучнойСкидки")]),
                           TabularSection("ЭтапыГрафикаОплаты", [
                               Field("LineNumber", "Int64"), _dt("ДатаПлатежа"), _d("ПроцентПлатежа"),
                               _d("СуммаПлатежа")])]),
        # The payment to a supplier: УТ 11.5.18 Documents/СписаниеБезналичныхДенежныхСредств (B.10) — the payment
        # order itself (ТипПлатежногоДокумента = ПлатежноеПоручение), the bank's confirmation in ПроведеноБанком /
        # ДатаПроведенияБанком, what it pays in the **composite** header ДокументОснование (ЗаказПоставщику,
        # ПриобретениеТоваровУслуг, …; published as ДокументОснование + ДокументОснование_Type). Its rows
        # РасшифровкаПлатежа have no ОснованиеПлатежа (unlike the receipt, B.4): the settlement object
        # ОбъектРасчетов_Key. Not posted to registers here [L].
        EntityDef("Document_СписаниеБезналичныхДенежныхСредств", "Document", number_prefix=document_prefix,
                  fields=[_ref("Организация_Key", org), _ref("Контрагент_Key", "Catalog_Контрагенты"),
                          _ref("Партнер_Key", "Catalog_Партнеры"), _ref("Валюта_Key", "Catalog_Валюты"),
                          _ref("БанковскийСчетКонтрагента_Key", "Catalog_БанковскиеСчетаКонтрагентов"),
                          _s("ХозяйственнаяОперация", 100, default="ОплатаПоставщику"),
                          _s("ТипПлатежногоДокумента", enum="ТипыПлатежныхДокументов", default="ПлатежноеПоручение"),
                          _d("СуммаДокумента"), _s("НазначениеПлатежа", 210), _s("НомерВходящегоДокумента", 11),
                          _dt("ДатаВходящегоДокумента"), Field("ОчередностьПлатежа", "Int32", default=5),
                          _b("ПроведеноБанком"), _dt("ДатаПроведенияБанком"), _dt("ДатаВыгрузки"),
                          *_composite("ДокументОснование", "Document_ЗаказПоставщику",
                                      "Document_ПриобретениеТоваровУслуг"),
                          _ref("ОбъектРасчетов_Key", "Catalog_ОбъектыРасчетов"), _s("Комментарий", 0)],
                  tabular=[TabularSection("РасшифровкаПлатежа", [
                      Field("LineNumber", "Int64"), _ref("Партнер_Key", "Catalog_Партнеры"),
                      _ref("Контрагент_Key", "Catalog_Контрагенты"),
                      _ref("ОбъектРасчетов_Key", "Catalog_ОбъектыРасчетов"), _d("Сумма"),
                      _ref("ВалютаВзаиморасчетов_Key", "Catalog_Валюты"), _d("СуммаВзаиморасчетов"),
                      _s("СтавкаНДС", enum="СтавкиНДС", default="НДС22"), _d("СуммаНДС"),
                      _s("ИдентификаторСтроки", 36)])]),
        EntityDef("InformationRegister_ЦеныНоменклатуры", "InformationRegister", periodic=True,
                  dimensions=["Номенклатура_Key", "ВидЦены_Key"], resources=["Цена"],
                  fields=[_ref("Номенклатура_Key", "Catalog_Номенклатура"), _ref("ВидЦены_Key", "Catalog_ВидыЦен"),
                          _d("Цена"), _ref("Упаковка_Key", "Catalog_УпаковкиЕдиницыИзмерения")]),
        EntityDef("AccumulationRegister_ТоварыНаСкладах", "AccumulationRegister", balance=True,
                  recorder_types=["Document_ЗаказКлиента", "Document_РеализацияТоваровУслуг",
                                  "Document_ПриобретениеТоваровУслуг"],
                  dimensions=["Номенклатура_Key", "Склад_Key"], resources=["ВНаличии", "КОтгрузке"],
                  fields=[_ref("Номенклатура_Key", "Catalog_Номенклатура"), _ref("Склад_Key", "Catalog_Склады"),
                          _d("ВНаличии"), _d("КОтгрузке")]),
        # document-flows.md B.8 [H] (УТ 11.5 Catalogs/КлючиАналитикиУчетаПоПартнерам): the settlement registers are
        # keyed by an analytics key — one item per partner / organisation / counterparty / contract (/ business
        # line) combination, created by 1C when a document first posts settlements for it. Контрагент and Договор are
        # composite (+ _Type). Not exchanged, never written by an integration.
        EntityDef(ANALYTICS_KEYS, "Catalog", has_code=False, exchange=False,
                  fields=[_ref("Партнер_Key", "Catalog_Партнеры"), _ref("Организация_Key", org),
                          *_composite("Контрагент", "Catalog_Контрагенты", "Catalog_Организации"),
                          *_composite("Договор", "Catalog_ДоговорыКонтрагентов"),
                          Field("НаправлениеДеятельности_Key", "Guid", default=EMPTY_REF)]),
        # B.8 [H]: dims АналитикаУчетаПоПартнерам_Key (→ the key above), … — no Контрагент_Key dimension; the debt of
        # a counterparty is the sum over its keys (flows/settlements.py)
        EntityDef("AccumulationRegister_РасчетыСКлиентами", "AccumulationRegister", balance=True,
                  recorder_types=["Document_РеализацияТоваровУслуг", "Document_ПоступлениеБезналичныхДенежныхСредств",
                                  "Document_ПриходныйКассовыйОрдер"],
                  dimensions=["АналитикаУчетаПоПартнерам_Key", "ЗаказКлиента_Key"], resources=["Сумма"],
                  fields=[_ref("АналитикаУчетаПоПартнерам_Key", ANALYTICS_KEYS),
                          _ref("ЗаказКлиента_Key", "Document_ЗаказКлиента"), _d("Сумма")]),
        # document-flows.md B.8: settlements by payment term — dims + ДатаПлановогоПогашения, ДатаВозникновения;
        # resources Долг, Предоплата; overdue = Долг with a plan date before today. Keyed like РасчетыСКлиентами.
        EntityDef("AccumulationRegister_РасчетыСКлиентамиПоСрокам", "AccumulationRegister", balance=True,
                  recorder_types=["Document_РеализацияТоваровУслуг", "Document_ПоступлениеБезналичныхДенежныхСредств",
                                  "Document_ПриходныйКассовыйОрдер"],
                  dimensions=["АналитикаУчетаПоПартнерам_Key", "ДатаПлановогоПогашения", "ДатаВозникновения"],
                  resources=["Долг", "Предоплата"],
                  fields=[_ref("АналитикаУчетаПоПартнерам_Key", ANALYTICS_KEYS), _dt("ДатаПлановогоПогашения"),
                          _dt("ДатаВозникновения"), _d("Долг"), _d("Предоплата")]),
        # A turnover-only register: Balance on it must answer 400 code 6 "Метод не найден" (§1.7)
        EntityDef("AccumulationRegister_ВыручкаИСебестоимостьПродаж", "AccumulationRegister", balance=False,
                  recorder_types=["Document_РеализацияТоваровУслуг"],
                  dimensions=["Номенклатура_Key", "Контрагент_Key"], resources=["Количество", "Сумма"],
                  fields=[_ref("Номенклатура_Key", "Catalog_Номенклатура"),
                          _ref("Контрагент_Key", "Catalog_Контрагенты"), _d("Количество"), _d("Сумма")]),
        EntityDef(f"ExchangePlan_{exchange_plan}", "ExchangePlan", exchange=False),
        *attached_files(["Catalog_ДоговорыКонтрагентов", "Document_СчетНаОплатуКлиенту"]),
    ]
    return defs


def attached_files(owners: list[str]) -> list[EntityDef]:
    """BSP attached files (document-flows.md B.7, B.9): one ``<Owner>ПрисоединенныеФайлы`` catalog per owner
    type, the bytes in ``Catalog_ХранилищеДвоичныхДанных`` reached through ``InformationRegister_ХранилищеФайлов``
    (BSP 3.1), or on the item itself (``ФайлХранилище``, older storage), or in volumes on the server disk (not
    readable through OData). The register's composite dimension ``Файл`` appears as ``Файл`` + ``Файл_Type``."""
    defs = [EntityDef(f"Catalog_{o.split('_', 1)[1]}ПрисоединенныеФайлы", "Catalog", exchange=False, fields=[
        _ref("ВладелецФайла_Key", o), _s("Описание", 0), _s("Расширение", 10), _d("Размер"), _b("ПодписанЭП"),
        _s("ТипХраненияФайла", enum="ТипыХраненияФайлов", default="ВИнформационнойБазе"), _s("ПутьКФайлу", 0),
        _s("ФайлХранилище_Base64Data", 0), _s("ФайлХранилище_Type", 100), _dt("ДатаМодификацииУниверсальная")])
        for o in owners]
    defs += [
        EntityDef("Catalog_ХранилищеДвоичныхДанных", "Catalog", exchange=False, fields=[
            _d("Размер"), _s("Хеш", 100), _s("ДвоичныеДанные_Base64Data", 0), _s("ДвоичныеДанные_Type", 100)]),
        EntityDef("InformationRegister_ХранилищеФайлов", "InformationRegister", exchange=False,
                  dimensions=["Файл", "Файл_Type"], resources=["ХранилищеДвоичныхДанных_Key"],
                  fields=[_s("Файл", 36), _s("Файл_Type", 200),
                          _ref("ХранилищеДвоичныхДанных_Key", "Catalog_ХранилищеДвоичныхДанных")]),
    ]
    return defs

"""Configuration profiles of the 1C sandbox: which typical configuration an instance emulates.

``ut11`` (default) is the УТ 11 / ERP 2 object set of schema.py. ``bp30`` (1С:Бухгалтерия предприятия 3.0) and
``unf30`` (1С:Управление нашей фирмой 3.0) follow document-flows.md B.3–B.7 (БП 3.0.198.19 and УНФ 3.0.8.73 read
object by object) and erp-side.md §1.14 (БП rows). What differs and matters to an integration:

* БП has **no customer-order document** (B.3): the sale starts at ``Document_СчетНаОплатуПокупателю``, whose rows
  carry a **composite** ``Номенклатура`` + ``Номенклатура_Type`` (ОсновныеСредства | Номенклатура, 3.0.198), not
  ``Номенклатура_Key``; VAT is the enum ``СтавкаНДС``; the invoice is written, not posted (no register records);
  numbers look like ``0000-000001``; ``Document_ПоступлениеНаРасчетныйСчет`` has a composite ``Контрагент``
  (Контрагенты | ФизическиеЛица) and rows ``СчетНаОплату_Key`` that feed ``AccumulationRegister_ОплатаСчетов``.
* УНФ sells through ``Document_ЗаказПокупателя`` (rows ``Запасы``; its state is what УНФ 3.0.8.73 declares, docs/
  flow-orders.md "Limits": the **composite** ``СостояниеЗаказа`` + ``СостояниеЗаказа_Type`` (Catalog_
  СостоянияЗаказовПокупателей | Catalog_СостоянияЗаказНарядов), the outcome the enum ``ВариантЗавершения``
  (Успешно | Отменен), the old flag ``УдалитьЗакрыт``; the catalog has no code, ships «В работе» and the predefined
  «Завершен»; ``order_state="key"`` builds the older reading — ``СостояниеЗаказа_Key`` and ``Закрыт``) and
  invoices with ``Document_СчетНаОплату`` whose ``ДокументОснование`` is composite; VAT rates are the catalog
  ``Catalog_СтавкиНДС`` (rows ``СтавкаНДС_Key``); contracts are owned by the counterparty.

Fields the research does not name are marked ``[L]`` here (sandbox choices, check them with ``b24sync onec
discover`` on a live base). Fill checks per document: ``FILL_CHECKS`` (header fields, row fields, tabular section,
rows required) — the platform refuses ``Post`` with «Поле "…" не заполнено» (B.1 mechanism, applied per profile).
"""

from __future__ import annotations

from b24sync.sandbox.onec.schema import (
    CONTACT_INFO,
    EntityDef,
    Field,
    TabularSection,
    _b,
    _composite,
    _d,
    _dt,
    _ref,
    _s,
    build_configuration,
)

PROFILES = ("ut11", "bp30", "unf30")
ALIASES = {"ut11": "ut11", "ut": "ut11", "erp2": "ut11", "erp": "ut11", "bp30": "bp30", "bp": "bp30",
           "unf30": "unf30", "unf": "unf30"}

# document -> (header fields, row fields, tabular section, rows required)
FillChecks = dict[str, tuple[list[str], list[str], str, bool]]

UT11_FILL = {"Document_ЗаказКлиента": (["Партнер_Key", "Контрагент_Key"], ["Номенклатура_Key", "Количество"],
                                       "Товары", True)}
UT11_FULL_FILL = {"Document_ЗаказКлиента": (["Организация_Key", "Партнер_Key", "Контрагент_Key", "Соглашение_Key",
                                             "Валюта_Key", "Статус", "ХозяйственнаяОперация"],
                                            ["Номенклатура_Key", "Количество"], "Товары", True)}
BP30_FILL: FillChecks = {
    # [L] the invoice is not posted in БП; these run only with Store.check_on_write (the open item "whether
    # programmatic OData writes run fill checks", document-flows.md "Open items") — b24sync's guards come first
    "Document_СчетНаОплатуПокупателю": (["Организация_Key", "Контрагент_Key", "ВалютаДокумента_Key"],
                                        ["Номенклатура", "Количество"], "Товары", True),
    "Document_ПоступлениеНаРасчетныйСчет": (["Организация_Key", "Контрагент"], [], "РасшифровкаПлатежа", False),
    "Document_РеализацияТоваровУслуг": (["Организация_Key", "Контрагент_Key", "ДоговорКонтрагента_Key"],
                                        ["Номенклатура_Key", "Количество"], "Товары", True),
}
UNF30_FILL: FillChecks = {
    "Document_ЗаказПокупателя": (["Организация_Key", "Контрагент_Key", "Договор_Key", "СостояниеЗаказа",
                                  "ВалютаДокумента_Key"], ["Номенклатура_Key", "Количество"], "Запасы", True),
    "Document_СчетНаОплату": (["Организация_Key", "Контрагент_Key", "Договор_Key", "БанковскийСчет_Key"],
                              ["Номенклатура_Key", "Количество"], "Запасы", True),
}

# numbering (erp-side.md §10.3): БП `0000-000001`; УНФ [L] `00УН-000001`
DOCUMENT_PREFIX = {"ut11": "ЦБ00-", "bp30": "0000-", "unf30": "00УН-"}
CODE_PREFIX = {"ut11": "УТ-", "bp30": "00-", "unf30": "00-"}


def profile_name(name: str | None) -> str:
    key = (name or "ut11").lower().replace(".", "").replace("-", "").replace(" ", "")
    if key not in ALIASES:
        raise ValueError(f"unknown 1C sandbox profile {name!r}; known: {', '.join(PROFILES)}")
    return ALIASES[key]


def fill_checks(profile: str, *, order_state: str = "composite") -> tuple[FillChecks, FillChecks]:
    """(always checked, checked with full_fill_checks)."""
    if profile == "bp30":
        return BP30_FILL, BP30_FILL
    if profile == "unf30":
        fill = UNF30_FILL
        if order_state == "key":  # the older reading: a single reference
            head, rows, tab, req = fill["Document_ЗаказПокупателя"]
            fill = {**fill, "Document_ЗаказПокупателя": (
                [("СостояниеЗаказа_Key" if h == "СостояниеЗаказа" else h) for h in head], rows, tab, req)}
        return fill, fill
    return UT11_FILL, UT11_FULL_FILL


ORDER_STATES = ("composite", "key")  # УНФ order state: 3.0.8.73 as declared (default) | the older reading


def build(profile: str, exchange_plan: str = "ОбменСB24", *, document_prefix: str | None = None,
          code_prefix: str | None = None, order_state: str = "composite") -> list[EntityDef]:
    dp = DOCUMENT_PREFIX[profile] if document_prefix is None else document_prefix
    cp = CODE_PREFIX[profile] if code_prefix is None else code_prefix
    if order_state not in ORDER_STATES:
        raise ValueError(f"unknown УНФ order-state reading {order_state!r}; known: {', '.join(ORDER_STATES)}")
    if profile == "bp30":
        return _bp30(exchange_plan, dp, cp)
    if profile == "unf30":
        return _unf30(exchange_plan, dp, cp, order_state)
    return build_configuration(exchange_plan, document_prefix=dp, code_prefix=cp)


def _common(cp: str, *, legal_form: Field) -> list[EntityDef]:
    return [
        EntityDef("Catalog_Организации", "Catalog", has_code=True, code_prefix="",
                  fields=[_s("НаименованиеПолное", 500), _s("ИНН", 12), _s("КПП", 9), _s("ОГРН", 15),
                          _s("Префикс", 2), legal_form]),
        EntityDef("Catalog_Валюты", "Catalog", has_code=True, code_length=3, fields=[_s("НаименованиеПолное", 50)]),
        EntityDef("Catalog_КлассификаторЕдиницИзмерения", "Catalog", has_code=True, code_length=4,
                  fields=[_s("НаименованиеПолное", 100), _s("МеждународноеСокращение", 3)]),
        EntityDef("Catalog_КлассификаторБанков", "Catalog", has_code=True, code_length=9,
                  fields=[_s("КоррСчет", 20), _s("Город", 100), _s("Адрес", 500)]),
        # [L] БП/УНФ bank accounts: owner (counterparty or organisation) + number + bank (erp-side.md §1.14 row L)
        EntityDef("Catalog_БанковскиеСчета", "Catalog", has_code=False,
                  fields=[Field("Owner_Key", "Guid"), _s("НомерСчета", 20),
                          _ref("Банк_Key", "Catalog_КлассификаторБанков"),
                          _ref("ВалютаДенежныхСредств_Key", "Catalog_Валюты")]),
    ]


def _bp30(exchange_plan: str, dp: str, cp: str) -> list[EntityDef]:
    org = "Catalog_Организации"
    goods = TabularSection("Товары", [
        Field("LineNumber", "Int64"), *_composite("Номенклатура", "Catalog_Номенклатура", "Catalog_ОсновныеСредства"),
        _s("Содержание", 1000), _d("Количество"), _d("Цена"), _d("Сумма"), _d("ПроцентСкидки"), _d("СуммаСкидки"),
        _s("СтавкаНДС", enum="СтавкиНДС", default="НДС22"), _d("СуммаНДС"), _s("ИдентификаторСтроки", 36)])
    return _common(cp, legal_form=_s("ЮридическоеФизическоеЛицо", enum="ЮридическоеФизическоеЛицо",
                                     default="ЮридическоеЛицо")) + [
        # erp-side.md §1.14 БП row [H/M]
        EntityDef("Catalog_Контрагенты", "Catalog", has_code=True, code_length=9, code_prefix=cp, hierarchical=True,
                  fields=[_s("НаименованиеПолное", 500), _s("ИНН", 12), _s("КПП", 9), _s("КодПоОКПО", 10),
                          _s("ЮридическоеФизическоеЛицо", enum="ЮридическоеФизическоеЛицо",
                             default="ЮридическоеЛицо"),
                          _s("РегистрационныйНомер", 50), _ref("ГоловнойКонтрагент_Key", "Catalog_Контрагенты"),
                          _ref("ОсновнойБанковскийСчет_Key", "Catalog_БанковскиеСчета"),
                          _ref("ОсновнойДоговорКонтрагента_Key", "Catalog_ДоговорыКонтрагентов"),
                          _s("Комментарий", 1000), _s("ИдентификаторCRM", 50)],
                  tabular=[CONTACT_INFO]),
        EntityDef("Catalog_ФизическиеЛица", "Catalog", has_code=True, code_length=9, code_prefix=cp,
                  fields=[_s("ИНН", 12)]),
        # document-flows.md B.7 БП: owner Контрагенты
        EntityDef("Catalog_ДоговорыКонтрагентов", "Catalog", has_code=True, code_length=9, code_prefix=cp,
                  fields=[_ref("Owner_Key", "Catalog_Контрагенты"), _s("Номер", 50), _dt("Дата"),
                          _s("ВидДоговора", enum="ВидыДоговоровКонтрагентов", default="СПокупателем"),
                          _ref("Организация_Key", org), _ref("ВалютаВзаиморасчетов_Key", "Catalog_Валюты"),
                          _dt("СрокДействия"), _b("УстановленСрокОплаты"), Field("СрокОплаты", "Int32", default=0)]),
        # erp-side.md §1.14 Номенклатура БП
        EntityDef("Catalog_Номенклатура", "Catalog", has_code=True, code_length=11, code_prefix=cp, hierarchical=True,
                  fields=[_s("НаименованиеПолное", 1000), _s("Артикул", 50),
                          _ref("БазоваяЕдиницаИзмерения_Key", "Catalog_КлассификаторЕдиницИзмерения"),
                          _b("Услуга"), _s("СтавкаНДС", enum="СтавкиНДС", default="НДС22")]),
        EntityDef("Catalog_ОсновныеСредства", "Catalog", has_code=True, code_length=11, code_prefix=cp,
                  fields=[_s("НаименованиеПолное", 1000)]),
        EntityDef("Catalog_Склады", "Catalog", has_code=True, code_length=9, fields=[_s("Адрес", 500)]),
        # document-flows.md B.3 БП [H]/[M]; ИдентификаторCRM: the integration extension's attribute (as on УТ)
        EntityDef("Document_СчетНаОплатуПокупателю", "Document", number_prefix=dp, postable=False,
                  fields=[_ref("Организация_Key", org), _ref("Контрагент_Key", "Catalog_Контрагенты"),
                          _ref("ДоговорКонтрагента_Key", "Catalog_ДоговорыКонтрагентов"),
                          _ref("ВалютаДокумента_Key", "Catalog_Валюты"), _d("СуммаДокумента"),
                          _b("СуммаВключаетНДС"), _b("ДокументБезНДС"), _d("СуммаСкидки"),
                          _s("ВидОперации", 50, default="СчетНаОплату"),
                          _ref("СтруктурнаяЕдиница_Key", "Catalog_БанковскиеСчета"),
                          *_composite("ДокументОснование", "Document_РеализацияТоваровУслуг",
                                      "Document_СчетНаОплатуПокупателю"),
                          Field("Ответственный_Key", "Guid"), _s("Комментарий", 0), _s("УдалитьСтатусОплаты", 50),
                          _s("ИдентификаторCRM", 50)],
                  tabular=[goods]),
        # document-flows.md B.6 БП; rows after erp-side.md §1.14 (Номенклатура_Key there [H])
        EntityDef("Document_РеализацияТоваровУслуг", "Document", number_prefix=dp,
                  fields=[_ref("Организация_Key", org), _ref("Контрагент_Key", "Catalog_Контрагенты"),
                          _ref("ДоговорКонтрагента_Key", "Catalog_ДоговорыКонтрагентов"),
                          _ref("СчетНаОплатуПокупателю_Key", "Document_СчетНаОплатуПокупателю"),
                          _ref("Склад_Key", "Catalog_Склады"), _s("ВидОперации", 50, default="Товары"),
                          _b("ЭтоУниверсальныйДокумент"), _d("СуммаДокумента"), _b("СуммаВключаетНДС"),
                          _ref("ВалютаДокумента_Key", "Catalog_Валюты")],
                  tabular=[TabularSection("Товары", [
                      Field("LineNumber", "Int64"), _ref("Номенклатура_Key", "Catalog_Номенклатура"),
                      _d("Количество"), _d("Цена"), _d("Сумма"), _s("СтавкаНДС", enum="СтавкиНДС", default="НДС22"),
                      _d("СуммаНДС")])]),
        # document-flows.md B.4 БП [H]: composite Контрагент, rows СчетНаОплату_Key
        EntityDef("Document_ПоступлениеНаРасчетныйСчет", "Document", number_prefix=dp,
                  fields=[_s("ВидОперации", 50, default="ОплатаПокупателя"), _ref("Организация_Key", org),
                          *_composite("Контрагент", "Catalog_Контрагенты", "Catalog_ФизическиеЛица"),
                          _ref("СчетКонтрагента_Key", "Catalog_БанковскиеСчета"), _s("НомерВходящегоДокумента", 30),
                          _dt("ДатаВходящегоДокумента"), _d("СуммаДокумента"), _s("НазначениеПлатежа", 210),
                          _ref("ДоговорКонтрагента_Key", "Catalog_ДоговорыКонтрагентов"),
                          _ref("ВалютаДокумента_Key", "Catalog_Валюты"),
                          *_composite("ДокументОснование", "Document_СчетНаОплатуПокупателю",
                                      "Document_РеализацияТоваровУслуг")],
                  tabular=[TabularSection("РасшифровкаПлатежа", [
                      Field("LineNumber", "Int64"), _ref("ДоговорКонтрагента_Key", "Catalog_ДоговорыКонтрагентов"),
                      _s("СпособПогашенияЗадолженности", 50, default="Автоматически"),
                      *_composite("Сделка", "Document_СчетНаОплатуПокупателю", "Document_РеализацияТоваровУслуг"),
                      _d("СуммаПлатежа"), _d("КурсВзаиморасчетов"), _d("СуммаВзаиморасчетов"),
                      _s("СтавкаНДС", enum="СтавкиНДС", default="НДС22"), _d("СуммаНДС"),
                      _ref("СчетНаОплату_Key", "Document_СчетНаОплатуПокупателю")])],
                  posts_to=["AccumulationRegister_ОплатаСчетов"]),
        # The supplier side (docs/flow-suppliers.md; БП 3.0.198.19 Documents/СчетНаОплатуПоставщика and
        # ПлатежноеПоручение read attribute by attribute, document-flows.md B.10). The supplier's invoice: its own
        # number in НомерВходящегоДокумента / ДатаВходящегоДокумента, rows Товары with a single Номенклатура
        # reference (not composite, unlike the customer invoice). Its payment state is not an attribute: it is
        # InformationRegister_СтатусыДокументов.Статус (Enum.СтатусОплатыСчета).
        EntityDef("Document_СчетНаОплатуПоставщика", "Document", number_prefix=dp,
                  fields=[_ref("Организация_Key", org), _ref("Контрагент_Key", "Catalog_Контрагенты"),
                          _ref("ДоговорКонтрагента_Key", "Catalog_ДоговорыКонтрагентов"),
                          _ref("БанковскийСчетКонтрагента_Key", "Catalog_БанковскиеСчета"),
                          _ref("ВалютаДокумента_Key", "Catalog_Валюты"), _d("КурсВзаиморасчетов"),
                          _d("КратностьВзаиморасчетов"), _b("СуммаВключаетНДС"), _d("СуммаДокумента"),
                          _s("НомерВходящегоДокумента", 30), _dt("ДатаВходящегоДокумента"),
                          Field("Ответственный_Key", "Guid"), _s("Комментарий", 0)],
                  tabular=[TabularSection("Товары", [
                      Field("LineNumber", "Int64"), _ref("Номенклатура_Key", "Catalog_Номенклатура"),
                      _s("Содержание", 1000), _d("Количество"), _d("Цена"), _d("Сумма"),
                      _s("СтавкаНДС", enum="СтавкиНДС", default="НДС22"), _d("СуммаНДС")])]),
        # The payment order: what it pays in the composite ДокументОснование (СчетНаОплатуПоставщика,
        # ПоступлениеТоваровУслуг, СписаниеСРасчетногоСчета, …), the recipient a composite Контрагент (Контрагенты |
        # ФизическиеЛица). БП 3.0.198 has no «Оплачено» attribute: the state (Подготовлено … Оплачено, Отклонено) is
        # InformationRegister_СостоянияБанковскихДокументов.Состояние, the bank's debit a СписаниеСРасчетногоСчета.
        EntityDef("Document_ПлатежноеПоручение", "Document", number_prefix=dp,
                  fields=[*_composite("ДокументОснование", "Document_СчетНаОплатуПоставщика",
                                      "Document_ПоступлениеТоваровУслуг"),
                          _ref("Организация_Key", org), _ref("СчетОрганизации_Key", "Catalog_БанковскиеСчета"),
                          *_composite("Контрагент", "Catalog_Контрагенты", "Catalog_ФизическиеЛица"),
                          _ref("СчетКонтрагента_Key", "Catalog_БанковскиеСчета"),
                          _ref("ДоговорКонтрагента_Key", "Catalog_ДоговорыКонтрагентов"), _d("СуммаДокумента"),
                          _s("СтавкаНДС", enum="СтавкиНДС", default="НДС22"), _d("СуммаНДС"), _s("ВидПлатежа", 20),
                          _d("ОчередностьПлатежа"), _s("НазначениеПлатежа", 210),
                          _ref("ВалютаДокумента_Key", "Catalog_Валюты"), _s("ВидОперации", 50,
                                                                              default="ОплатаПоставщику"),
                          _s("ИННПолучателя", 12), _s("КПППолучателя", 9), _s("Комментарий", 0)]),
        EntityDef("InformationRegister_СостоянияБанковскихДокументов", "InformationRegister", exchange=False,
                  dimensions=["Организация_Key", "СсылкаНаОбъект", "СсылкаНаОбъект_Type"],
                  resources=["Состояние", "Согласовано"],
                  fields=[_ref("Организация_Key", org), _s("СсылкаНаОбъект", 36), _s("СсылкаНаОбъект_Type", 200),
                          _s("Состояние", enum="СостоянияБанковскихДокументов", default="Подготовлено"),
                          Field("Ответственный_Key", "Guid"), _b("Согласовано")]),
        # document-flows.md B.3 [H]: dims Организация, composite Документ; resource Статус, a composite enum
        # (Enum.СтатусОплатыСчета for invoices) → `Статус` + `Статус_Type` by the naming rule [M]; the value as the
        # member name is the sandbox's reading of the open item "exact OData JSON of composite enum resources" [L].
        # The customer invoice's record is written by the sandbox when a receipt posts or unposts (БП's
        # ЗаполнитьСтатусыОплатыСчетов; no record = НеОплачен, its default) and by set_invoice_status (Отменен).
        EntityDef("InformationRegister_СтатусыДокументов", "InformationRegister", exchange=False,
                  dimensions=["Организация_Key", "Документ", "Документ_Type"], resources=["Статус"],
                  fields=[_ref("Организация_Key", org), _s("Документ", 36), _s("Документ_Type", 200),
                          _s("Статус", 50), _s("Статус_Type", 200)]),
        # document-flows.md B.3 [H]: dims Организация, СчетНаОплату, СтавкаНДС; resources Сумма, СуммаНДС
        EntityDef("AccumulationRegister_ОплатаСчетов", "AccumulationRegister", balance=True,
                  recorder_types=["Document_ПоступлениеНаРасчетныйСчет"],
                  dimensions=["Организация_Key", "СчетНаОплату_Key", "СтавкаНДС"], resources=["Сумма", "СуммаНДС"],
                  fields=[_ref("Организация_Key", org), _ref("СчетНаОплату_Key", "Document_СчетНаОплатуПокупателю"),
                          _s("СтавкаНДС", enum="СтавкиНДС", default="НДС22"), _d("Сумма"), _d("СуммаНДС")]),
        EntityDef(f"ExchangePlan_{exchange_plan}", "ExchangePlan", exchange=False),
    ]


def _unf30(exchange_plan: str, dp: str, cp: str, order_state: str = "composite") -> list[EntityDef]:
    org = "Catalog_Организации"
    states = "Catalog_СостоянияЗаказовПокупателей"
    if order_state == "key":  # the older reading (the sandbox's first unf30 profile): one reference and a flag
        state: list[Field] = [_ref("СостояниеЗаказа_Key", states), _b("Закрыт")]
    else:  # [UNF:Documents/ЗаказПокупателя.xml] 3.0.8.73 (docs/flow-orders.md "Limits"): composite, the outcome
        # an enum, the old flag renamed «(не используется)»
        state = [*_composite("СостояниеЗаказа", states, "Catalog_СостоянияЗаказНарядов"),
                 _s("ВариантЗавершения", enum="ВариантыЗавершенияЗаказа"), _b("УдалитьЗакрыт")]

    def stock_rows() -> TabularSection:  # [L] УНФ `Запасы`: B.6 names Количество, Сумма, Всего
        return TabularSection("Запасы", [
            Field("LineNumber", "Int64"), _ref("Номенклатура_Key", "Catalog_Номенклатура"), _s("Содержание", 1000),
            _d("Количество"), _d("Цена"), _d("Сумма"), _d("ПроцентСкидкиНаценки"), _d("СуммаСкидкиНаценки"),
            _ref("СтавкаНДС_Key", "Catalog_СтавкиНДС"), _d("СуммаНДС"), _d("Всего")])

    return _common(cp, legal_form=_s("ЮрФизЛицо", enum="ЮрФизЛицо", default="ЮрЛицо")) + [
        EntityDef("Catalog_Контрагенты", "Catalog", has_code=True, code_length=9, code_prefix=cp, hierarchical=True,
                  fields=[_s("НаименованиеПолное", 500), _s("ИНН", 12), _s("КПП", 9),
                          _s("ЮрФизЛицо", enum="ЮрФизЛицо", default="ЮрЛицо"),
                          _ref("ДоговорПоУмолчанию_Key", "Catalog_ДоговорыКонтрагентов"), _b("Покупатель"),
                          _b("Поставщик"), _s("Комментарий", 1000), _s("ИдентификаторCRM", 50)],
                  tabular=[CONTACT_INFO]),
        # document-flows.md B.7 УНФ: owners Контрагенты (and Организации); НомерДоговора, ДатаДоговора, СрокДействия
        EntityDef("Catalog_ДоговорыКонтрагентов", "Catalog", has_code=True, code_length=9, code_prefix=cp,
                  fields=[_ref("Owner_Key", "Catalog_Контрагенты"), _ref("Организация_Key", org),
                          _s("НомерДоговора", 50), _dt("ДатаДоговора"), _dt("СрокДействия"),
                          _s("ВидДоговора", 50, default="СПокупателем"),
                          _ref("ВалютаРасчетов_Key", "Catalog_Валюты")]),
        # [L] the VAT-rate catalog of УНФ (connector preset: Номенклатура.СтавкаНДС_Key)
        EntityDef("Catalog_СтавкиНДС", "Catalog", has_code=False,
                  fields=[_d("Ставка"), _b("Расчетная"), _b("НеОблагается")]),
        EntityDef("Catalog_Номенклатура", "Catalog", has_code=True, code_length=11, code_prefix=cp, hierarchical=True,
                  fields=[_s("НаименованиеПолное", 1000), _s("Артикул", 50),
                          _ref("ЕдиницаИзмерения_Key", "Catalog_КлассификаторЕдиницИзмерения"),
                          _s("ТипНоменклатуры", 50, default="Запас"), _ref("СтавкаНДС_Key", "Catalog_СтавкиНДС")]),
        # document-flows.md "sandbox must reproduce": ЗаказПокупателя with catalog-based СостояниеЗаказа;
        # [UNF:Catalogs/СостоянияЗаказовПокупателей] no code, «В работе» + the predefined «Завершен» (seed_profiles)
        EntityDef(states, "Catalog", has_code=False, fields=[_s("Цвет", 50)]),
        EntityDef("Catalog_СостоянияЗаказНарядов", "Catalog", has_code=False, fields=[_s("Цвет", 50)]),
        EntityDef("Catalog_СтруктурныеЕдиницы", "Catalog", has_code=False,
                  fields=[_s("ТипСтруктурнойЕдиницы", 50, default="Склад")]),
        EntityDef("Document_ЗаказПокупателя", "Document", number_prefix=dp,
                  fields=[_s("ВидОперации", 50, default="ЗаказНаПродажу"), _ref("Организация_Key", org),
                          _ref("Контрагент_Key", "Catalog_Контрагенты"),
                          _ref("Договор_Key", "Catalog_ДоговорыКонтрагентов"),
                          _ref("ВалютаДокумента_Key", "Catalog_Валюты"), _d("СуммаДокумента"),
                          _b("СуммаВключаетНДС"), _s("НалогообложениеНДС", 50, default="ОблагаетсяНДС"),
                          *state,
                          _ref("СтруктурнаяЕдиницаРезерв_Key", "Catalog_СтруктурныеЕдиницы"), _dt("ДатаОтгрузки"),
                          Field("Ответственный_Key", "Guid"), _s("Комментарий", 0), _s("ИдентификаторCRM", 50)],
                  tabular=[stock_rows()]),
        # document-flows.md B.3 УНФ [H]
        EntityDef("Document_СчетНаОплату", "Document", number_prefix=dp,
                  fields=[_ref("Контрагент_Key", "Catalog_Контрагенты"),
                          _ref("Договор_Key", "Catalog_ДоговорыКонтрагентов"), _ref("Организация_Key", org),
                          _ref("ВалютаДокумента_Key", "Catalog_Валюты"), _d("СуммаДокумента"),
                          _b("СуммаВключаетНДС"), _s("НалогообложениеНДС", 50, default="ОблагаетсяНДС"),
                          *_composite("ДокументОснование", "Document_ЗаказПокупателя"),
                          _ref("БанковскийСчет_Key", "Catalog_БанковскиеСчета"), Field("Касса_Key", "Guid"),
                          Field("Ответственный_Key", "Guid"), _s("ИдентификаторПлатежа", 50), _s("Комментарий", 0),
                          _s("ИдентификаторCRM", 50)],
                  tabular=[stock_rows(), TabularSection("ПлатежныйКалендарь", [
                      Field("LineNumber", "Int64"), _dt("ДатаОплаты"), _d("ПроцентОплаты"), _d("СуммаОплаты")])]),
        # document-flows.md B.4 УНФ [H]: rows Заказ + _Type, СчетНаОплату + _Type
        EntityDef("Document_ПоступлениеНаСчет", "Document", number_prefix=dp,
                  fields=[_s("ВидОперации", 50, default="ОтПокупателя"), _ref("Организация_Key", org),
                          _ref("Контрагент_Key", "Catalog_Контрагенты"), _d("СуммаДокумента"),
                          _s("НомерВходящегоДокумента", 30), _dt("ДатаВходящегоДокумента"),
                          _s("НазначениеПлатежа", 210),
                          *_composite("ДокументОснование", "Document_СчетНаОплату", "Document_ЗаказПокупателя")],
                  tabular=[TabularSection("РасшифровкаПлатежа", [
                      Field("LineNumber", "Int64"), _ref("Договор_Key", "Catalog_ДоговорыКонтрагентов"),
                      _b("ПризнакАванса"), _d("СуммаРасчетов"), _d("СуммаПлатежа"),
                      _ref("СтавкаНДС_Key", "Catalog_СтавкиНДС"), _d("СуммаНДС"),
                      *_composite("Заказ", "Document_ЗаказПокупателя"),
                      *_composite("СчетНаОплату", "Document_СчетНаОплату")])]),
        EntityDef(f"ExchangePlan_{exchange_plan}", "ExchangePlan", exchange=False),
    ]

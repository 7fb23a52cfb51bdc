"""Demo data of the БП 3.0 and УНФ 3.0 profiles (profiles.py): an organisation with a bank account, the rouble,
units, the same 18 items as the УТ demo, counterparties with valid INN/KPP, their contracts and bank accounts."""

from __future__ import annotations

import random

from b24sync.sandbox.onec.seed import _CITIES, _COMPANIES, _OKEI, _PERSONS, _PRODUCTS, kpp_for, random_inn10, random_inn12
from b24sync.sandbox.onec.store import Store

ORG_INN = "7707083893"


def seed_profile(store: Store, *, counterparties: int = 12, seed: int = 1) -> dict:
    rng = random.Random(seed)
    bp = store.profile == "bp30"
    c = lambda name, data: store.create(name, data, register=False)  # noqa: E731 - seeding is not a user change
    ids: dict = {}
    legal = {"ЮридическоеФизическоеЛицо": "ЮридическоеЛицо"} if bp else {"ЮрФизЛицо": "ЮрЛицо"}
    org = c("Catalog_Организации", {"Description": "ООО \"Торговый дом\"", "НаименованиеПолное":
                                     "Общество с ограниченной ответственностью \"Торговый дом\"", "ИНН": ORG_INN,
                                     "КПП": "773601001", "Префикс": "ТД", **legal})
    rub = c("Catalog_Валюты", {"Code": "643", "Description": "руб.", "НаименованиеПолное": "Российский рубль"})
    bank = c("Catalog_КлассификаторБанков", {"Code": "044525225", "Description": "ПАО СБЕРБАНК",
                                              "КоррСчет": "30101810400000000225", "Город": "г. Москва"})
    acc = c("Catalog_БанковскиеСчета", {"Description": "Основной расчётный счёт", "Owner_Key": org["Ref_Key"],
                                         "НомерСчета": "40702810938000012345", "Банк_Key": bank["Ref_Key"],
                                         "ВалютаДенежныхСредств_Key": rub["Ref_Key"]})
    ids.update(org=org["Ref_Key"], rub=rub["Ref_Key"], bank_account=acc["Ref_Key"])
    units = {}
    for code, (short, full, intl) in _OKEI.items():
        units[code] = c("Catalog_КлассификаторЕдиницИзмерения", {
            "Code": f"{code:03d}", "Description": short, "НаименованиеПолное": full,
            "МеждународноеСокращение": intl})["Ref_Key"]
    rates: dict[str, str] = {}
    if not bp:
        for label, rate, exempt in (("22%", 22, False), ("10%", 10, False), ("0%", 0, False), ("Без НДС", 0, True)):
            rates[label] = c("Catalog_СтавкиНДС", {"Description": label, "Ставка": rate, "НеОблагается": exempt})["Ref_Key"]
        ids["vat_rates"] = rates
        # [UNF:Catalogs/СостоянияЗаказовПокупателей/Ext/ManagerModule.bsl] ships «В работе» and the predefined
        # «Завершен» (the outcome is the order's ВариантЗавершения); «Новый», «Ждёт оплаты» are this base's own —
        # other bases name theirs differently, with other GUIDs
        states = {}
        for name, predefined in (("Новый", ""), ("В работе", ""), ("Ждёт оплаты", ""), ("Завершен", "Завершен")):
            states[name] = c("Catalog_СостоянияЗаказовПокупателей", {"Description": name})["Ref_Key"]
            if predefined:  # read-only over OData: the configuration's own item
                store.objects["Catalog_СостоянияЗаказовПокупателей"][states[name]].update(
                    Predefined=True, PredefinedDataName=predefined)
        ids["order_states"] = states
        ids["warehouse"] = c("Catalog_СтруктурныеЕдиницы", {"Description": "Основной склад"})["Ref_Key"]
    else:
        ids["warehouse"] = c("Catalog_Склады", {"Description": "Основной склад"})["Ref_Key"]
    group = c("Catalog_Номенклатура", {"Description": "Товары", "IsFolder": True})
    products = []
    for name, sku, _short, okei, _price in _PRODUCTS:
        service = sku.startswith("USL")
        data = {"Description": name, "НаименованиеПолное": name, "Артикул": sku, "Parent_Key": group["Ref_Key"]}
        if bp:
            data |= {"БазоваяЕдиницаИзмерения_Key": units[okei], "Услуга": service, "СтавкаНДС": "НДС22"}
        else:
            data |= {"ЕдиницаИзмерения_Key": units[okei], "ТипНоменклатуры": "Услуга" if service else "Запас",
                     "СтавкаНДС_Key": rates["22%"]}
        products.append(c("Catalog_Номенклатура", data)["Ref_Key"])
    ids["products"] = products
    cps = []
    for i in range(counterparties):
        region, _city, _address = _CITIES[i % len(_CITIES)]
        if i % 5 == 4:
            person = _PERSONS[i % len(_PERSONS)]
            inn, kpp, short = random_inn12(rng, region), "", f"ИП {person}"
            kind = {"ЮридическоеФизическоеЛицо": "ФизическоеЛицо"} if bp else {"ЮрФизЛицо": "ФизЛицо"}
        else:
            form, name, _full = _COMPANIES[i % len(_COMPANIES)]
            inn = random_inn10(rng, region)
            kpp, short, kind = kpp_for(inn), f"{form} \"{name}\"", legal
        cp = c("Catalog_Контрагенты", {"Description": short, "НаименованиеПолное": short, "ИНН": inn, "КПП": kpp,
                                       **kind, **({} if bp else {"Покупатель": True})})
        contract = {"Description": f"Договор с покупателем № {i + 1}", "Owner_Key": cp["Ref_Key"],
                    "Организация_Key": org["Ref_Key"], "ВидДоговора": "СПокупателем"}
        if bp:
            contract |= {"Номер": f"{i + 1}-П", "Дата": "2025-12-01T00:00:00",
                         "ВалютаВзаиморасчетов_Key": rub["Ref_Key"]}
        else:
            contract |= {"НомерДоговора": f"{i + 1}-П", "ДатаДоговора": "2025-12-01T00:00:00",
                         "ВалютаРасчетов_Key": rub["Ref_Key"]}
        k = c("Catalog_ДоговорыКонтрагентов", contract)
        store.objects["Catalog_Контрагенты"][cp["Ref_Key"]][
            "ОсновнойДоговорКонтрагента_Key" if bp else "ДоговорПоУмолчанию_Key"] = k["Ref_Key"]
        cps.append(cp["Ref_Key"])
    ids["counterparties"] = cps
    return ids

"""Demo data and generated volumes. INN/KPP check digits are computed here (erp-side.md §9.1 weights)."""

from __future__ import annotations

import random
import uuid

from b24sync.sandbox.onec.schema import EMPTY_REF
from b24sync.sandbox.onec.store import Store

_W10 = (2, 4, 10, 3, 5, 9, 4, 6, 8)
_W11 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_W12 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)


def _check(digits: str, weights: tuple[int, ...]) -> str:
    return str(sum(int(c) * w for c, w in zip(digits, weights)) % 11 % 10)


def inn10(body9: str) -> str:
    """Legal-entity INN: 9 digits + check digit (§9.1)."""
    return body9 + _check(body9, _W10)


def inn12(body10: str) -> str:
    """Individual / ИП INN: 10 digits + two check digits (§9.1)."""
    d11 = body10 + _check(body10, _W11)
    return d11 + _check(d11, _W12)


def valid_inn(value: str) -> bool:
    if len(value) == 10 and value.isdigit():
        return inn10(value[:9]) == value
    if len(value) == 12 and value.isdigit():
        return inn12(value[:10]) == value
    return False


def random_inn10(rng: random.Random, region: str = "77") -> str:
    return inn10(region + f"{rng.randrange(10**7):07d}")


def random_inn12(rng: random.Random, region: str = "77") -> str:
    return inn12(region + f"{rng.randrange(10**8):08d}")


def kpp_for(inn: str, reason: str = "01", seq: int = 1) -> str:
    """КПП = tax office (first 4 INN digits) + reason code + sequence (§9.1 structure, no checksum)."""
    return inn[:4] + reason + f"{seq:03d}"


_COMPANIES = [
    ("ООО", "Ромашка", "Общество с ограниченной ответственностью"), ("АО", "Северсталь-Логистик", "Акционерное общество"),
    ("ООО", "ТехноСнаб", None), ("ООО", "Вектор Плюс", None), ("ПАО", "Уральский Завод Металлоконструкций", "Публичное акционерное общество"),
    ("ООО", "Альфа-Трейд", None), ("ООО", "СтройМаркет", None), ("АО", "Гранит", None), ("ООО", "Меридиан", None),
    ("ООО", "Сибирские Продукты", None), ("ООО", "Волга-Агро", None), ("ООО", "ИнфоСистемы", None),
    ("ООО", "ЭнергоКомплект", None), ("АО", "Балтийская Торговая Компания", None), ("ООО", "Фабрика Мебели «Уют»", None),
    ("ООО", "Логистик-Центр", None), ("ООО", "ДальОптТорг", None), ("ООО", "Кубань Фрукт", None),
    ("ООО", "Неон", None), ("АО", "ТрансСервис", None), ("ООО", "Пекарня №1", None), ("ООО", "ЛесПромИнвест", None),
]
_PERSONS = ["Иванов Иван Иванович", "Петрова Анна Сергеевна", "Сидоров Пётр Алексеевич", "Кузнецова Мария Викторовна",
            "Смирнов Алексей Дмитриевич", "Попова Елена Николаевна", "Волков Андрей Игоревич", "Фёдорова Ольга Павловна"]
_CITIES = [("77", "Москва", "г. Москва, ул. Тверская, д. 7"), ("78", "Санкт-Петербург", "г. Санкт-Петербург, Невский пр-т, д. 28"),
           ("66", "Екатеринбург", "г. Екатеринбург, ул. Малышева, д. 51"), ("54", "Новосибирск", "г. Новосибирск, Красный пр-т, д. 18"),
           ("16", "Казань", "г. Казань, ул. Баумана, д. 44"), ("23", "Краснодар", "г. Краснодар, ул. Красная, д. 122")]
_PRODUCTS = [
    ("Бумага офисная А4, 500 л.", "BUM-A4-500", "упак", 778, 420.0), ("Ручка шариковая синяя", "RUCH-SIN-01", "шт", 796, 25.0),
    ("Степлер №24/6", "STEP-24-6", "шт", 796, 310.0), ("Папка-регистратор 75 мм", "PAP-REG-75", "шт", 796, 189.0),
    ("Картридж лазерный HP 85A", "KART-HP85A", "шт", 796, 2890.0), ("Монитор 24\" IPS", "MON-24-IPS", "шт", 796, 13990.0),
    ("Клавиатура USB", "KLAV-USB", "шт", 796, 990.0), ("Кабель UTP cat.5e", "KAB-UTP5E", "м", 6, 18.5),
    ("Краска фасадная белая", "KRAS-FAS-B", "кг", 166, 245.0), ("Вода питьевая 19 л", "VODA-19", "шт", 796, 350.0),
    ("Кофе зерновой 1 кг", "KOFE-ZER-1", "кг", 166, 1650.0), ("Сахар-песок", "SAHAR", "кг", 166, 79.0),
    ("Стул офисный", "STUL-OF-01", "шт", 796, 5490.0), ("Стол письменный", "STOL-PIS", "шт", 796, 8990.0),
    ("Лампа светодиодная E27 10 Вт", "LAMP-E27-10", "шт", 796, 149.0), ("Перчатки нитриловые (пара)", "PERCH-NITR", "пар", 715, 12.0),
    ("Набор отвёрток", "NAB-OTV-12", "набор", 704, 1290.0), ("Доставка по городу", "USL-DOST", "ч", 356, 1500.0),
]
_OKEI = {796: ("шт", "Штука", "PCE"), 778: ("упак", "Упаковка", "NMP"), 6: ("м", "Метр", "MTR"),
         166: ("кг", "Килограмм", "KGM"), 715: ("пар", "Пара (2 шт.)", "NPR"), 704: ("набор", "Набор", "SET"),
         356: ("ч", "Час", "HUR")}  # §10.2


def seed_demo(store: Store, *, counterparties: int = 30, seed: int = 1) -> dict:
    """A few dozen realistic objects: organisation, units, items, prices, stock, counterparties, orders."""
    rng = random.Random(seed)
    c = lambda name, data: store.create(name, data, register=False)  # noqa: E731 - seeding is not a user change
    ids: dict = {}
    org = c("Catalog_Организации", {"Description": "ООО \"Торговый дом\"", "НаименованиеПолное":
                                     "Общество с ограниченной ответственностью \"Торговый дом\"", "ИНН": "7707083893",
                                     "КПП": "773601001", "Префикс": "ЦБ"})
    rub = c("Catalog_Валюты", {"Code": "643", "Description": "RUB", "НаименованиеПолное": "Российский рубль"})
    ids["org"], ids["rub"] = org["Ref_Key"], rub["Ref_Key"]
    units = {}
    for code, (short, full, intl) in _OKEI.items():
        okei = c("Catalog_КлассификаторЕдиницИзмерения", {"Code": f"{code:03d}", "Description": short,
                                                          "НаименованиеПолное": full, "МеждународноеСокращение": intl})
        units[code] = c("Catalog_УпаковкиЕдиницыИзмерения", {
            "Description": short, "НаименованиеПолное": full, "МеждународноеСокращение": intl,
            "ЕдиницаПоКлассификатору_Key": okei["Ref_Key"], "Числитель": 1, "Знаменатель": 1})["Ref_Key"]
    retail = c("Catalog_ВидыЦен", {"Description": "Розничная", "ВалютаЦены_Key": rub["Ref_Key"], "ЦенаВключаетНДС": True,
                                   "ИдентификаторФормул": "Розничная"})
    wholesale = c("Catalog_ВидыЦен", {"Description": "Оптовая", "ВалютаЦены_Key": rub["Ref_Key"], "ЦенаВключаетНДС": True,
                                      "ИдентификаторФормул": "Оптовая"})
    ids["price_types"] = [retail["Ref_Key"], wholesale["Ref_Key"]]
    main = c("Catalog_Склады", {"Description": "Основной склад", "Адрес": "г. Москва, ул. Складская, д. 1"})
    spb = c("Catalog_Склады", {"Description": "Склад Санкт-Петербург", "ТипСклада": "РозничныйМагазин"})
    ids["warehouses"] = [main["Ref_Key"], spb["Ref_Key"]]
    group = c("Catalog_Номенклатура", {"Description": "Товары", "IsFolder": True})
    products = []
    for i, (name, sku, _short, okei, price) in enumerate(_PRODUCTS):
        p = c("Catalog_Номенклатура", {
            "Description": name, "НаименованиеПолное": name, "Артикул": sku, "Parent_Key": group["Ref_Key"],
            "ЕдиницаИзмерения_Key": units[okei], "СтавкаНДС": "НДС22",
            "ТипНоменклатуры": "Услуга" if sku.startswith("USL") else "Товар",
            "Штрихкод": f"46{rng.randrange(10**10):010d}"[:12] + "0"})
        products.append((p["Ref_Key"], price, sku.startswith("USL")))
        for j, pt in enumerate(ids["price_types"]):
            store.write_info("InformationRegister_ЦеныНоменклатуры", {
                "Period": "2026-01-01T00:00:00", "Номенклатура_Key": p["Ref_Key"], "ВидЦены_Key": pt,
                "Цена": round(price * (1 if j == 0 else 0.85), 2), "Упаковка_Key": units[okei]}, register=False)
    ids["products"] = [p[0] for p in products]
    # stock: one posted purchase per warehouse
    supplier = _counterparty(store, rng, 0, supplier=True)
    for w in ids["warehouses"]:
        rows = [{"LineNumber": n, "Номенклатура_Key": ref, "Количество": rng.randrange(20, 200), "Цена": round(pr * 0.6, 2)}
                for n, (ref, pr, service) in enumerate([p for p in products if not p[2]], 1)]
        for r in rows:
            r["Сумма"] = round(r["Количество"] * r["Цена"], 2)
        doc = c("Document_ПриобретениеТоваровУслуг", {"Date": "2026-01-10T10:00:00", "Организация_Key": org["Ref_Key"],
                                                     "Контрагент_Key": supplier["Ref_Key"], "Склад_Key": w,
                                                     "СуммаДокумента": sum(r["Сумма"] for r in rows), "Товары": rows})
        _post_quiet(store, "Document_ПриобретениеТоваровУслуг", doc["Ref_Key"])
    customers = [_counterparty(store, rng, i + 1) for i in range(max(0, counterparties - 1))]
    ids["counterparties"] = [x["Ref_Key"] for x in customers]
    # a few orders, one shipment and one payment
    for n, cp in enumerate(customers[:6]):
        picked = rng.sample([p for p in products if not p[2]], 3)
        rows = []
        for ln, (ref, price, _s) in enumerate(picked, 1):
            qty = rng.randrange(1, 10)
            total = round(qty * price, 2)
            rows.append({"LineNumber": ln, "Номенклатура_Key": ref, "Количество": qty, "КоличествоУпаковок": qty,
                         "Цена": price, "Сумма": total, "СтавкаНДС": "НДС22",
                         "СуммаНДС": round(total * 22 / 122, 2), "СуммаСНДС": total})  # §10.1 per-line VAT
        total = round(sum(r["Сумма"] for r in rows), 2)
        order = c("Document_ЗаказКлиента", {
            "Date": f"2026-02-{n + 2:02d}T12:00:00", "Организация_Key": org["Ref_Key"], "Партнер_Key": cp["Партнер_Key"],
            "Контрагент_Key": cp["Ref_Key"], "Склад_Key": main["Ref_Key"], "Валюта_Key": rub["Ref_Key"],
            "ВидЦены_Key": retail["Ref_Key"], "Статус": "КОтгрузке" if n < 4 else "НеСогласован",
            "СуммаДокумента": total, "ЦенаВключаетНДС": True, "Товары": rows})
        if n < 4:
            _post_quiet(store, "Document_ЗаказКлиента", order["Ref_Key"])
        if n == 0:
            ship = c("Document_РеализацияТоваровУслуг", {
                "Date": "2026-02-05T15:00:00", "Организация_Key": org["Ref_Key"], "Партнер_Key": cp["Партнер_Key"],
                "Контрагент_Key": cp["Ref_Key"], "Склад_Key": main["Ref_Key"], "Валюта_Key": rub["Ref_Key"],
                "ЗаказКлиента_Key": order["Ref_Key"], "СуммаДокумента": total, "ЦенаВключаетНДС": True,
                "Товары": [dict(r, ЗаказКлиента_Key=order["Ref_Key"]) for r in rows]})
            _post_quiet(store, "Document_РеализацияТоваровУслуг", ship["Ref_Key"])
            pay = c("Document_ПоступлениеБезналичныхДенежныхСредств", {
                "Date": "2026-02-06T09:30:00", "Организация_Key": org["Ref_Key"], "Контрагент_Key": cp["Ref_Key"],
                "Валюта_Key": rub["Ref_Key"], "СуммаДокумента": total,
                "НазначениеПлатежа": f"Оплата по заказу {order['Number']}, в т.ч. НДС",
                "РасшифровкаПлатежа": [{"LineNumber": 1, "ОснованиеПлатежа": order["Ref_Key"],
                                        "ОснованиеПлатежа_Type": "StandardODATA.Document_ЗаказКлиента",
                                        "Сумма": total}]})
            _post_quiet(store, "Document_ПоступлениеБезналичныхДенежныхСредств", pay["Ref_Key"])
        ids.setdefault("orders", []).append(order["Ref_Key"])
    ids["supplier_orders"] = _seed_supplier_side(store, c, org["Ref_Key"], rub["Ref_Key"], main["Ref_Key"], supplier,
                                                 products)
    return ids


def _seed_supplier_side(store: Store, c, org: str, rub: str, wh: str, supplier: dict,  # type: ignore[no-untyped-def]
                        products: list) -> list[str]:
    """The supplier side (docs/flow-suppliers.md): two invoices registered as supplier orders — one confirmed and
    paid by a payment order the bank has debited, one still a draft (not posted)."""
    refs = []
    for n, (status, number, post) in enumerate((("Подтвержден", "СЧ-1045", True), ("НеСогласован", "СЧ-1107", False))):
        ref, price, _service = products[n]
        total = round(price * 0.6 * 10, 2)
        doc = c("Document_ЗаказПоставщику", {
            "Date": f"2026-01-{20 + n:02d}T11:00:00", "Организация_Key": org, "Контрагент_Key": supplier["Ref_Key"],
            "Партнер_Key": supplier.get("Партнер_Key") or EMPTY_REF, "Склад_Key": wh, "Валюта_Key": rub,
            "Статус": status, "Согласован": status != "НеСогласован", "НомерПоДаннымПоставщика": number,
            "ДатаПоДаннымПоставщика": f"2026-01-{19 + n:02d}T00:00:00", "СуммаДокумента": total,
            "ЦенаВключаетНДС": True,
            "Товары": [{"LineNumber": 1, "Номенклатура_Key": ref, "Количество": 10, "КоличествоУпаковок": 10,
                        "Цена": round(price * 0.6, 2), "Сумма": total, "СтавкаНДС": "НДС22",
                        "СуммаНДС": round(total * 22 / 122, 2), "СуммаСНДС": total}],
            "ЭтапыГрафикаОплаты": [{"LineNumber": 1, "ДатаПлатежа": f"2026-01-{25 + n:02d}T00:00:00",
                                    "ПроцентПлатежа": 100, "СуммаПлатежа": total}]})
        if post:
            _post_quiet(store, "Document_ЗаказПоставщику", doc["Ref_Key"])
            pay = c("Document_СписаниеБезналичныхДенежныхСредств", {
                "Date": "2026-01-24T10:00:00", "Организация_Key": org, "Контрагент_Key": supplier["Ref_Key"],
                "Валюта_Key": rub, "СуммаДокумента": total, "ПроведеноБанком": True,
                "ДатаПроведенияБанком": "2026-01-24T00:00:00",
                "НазначениеПлатежа": f"Оплата по счету № {number} от 19.01.2026, в т.ч. НДС 22%",
                "ДокументОснование": doc["Ref_Key"], "ДокументОснование_Type": "StandardODATA.Document_ЗаказПоставщику",
                "РасшифровкаПлатежа": [{"LineNumber": 1, "Контрагент_Key": supplier["Ref_Key"], "Сумма": total}]})
            _post_quiet(store, "Document_СписаниеБезналичныхДенежныхСредств", pay["Ref_Key"])
        refs.append(doc["Ref_Key"])
    return refs


def _post_quiet(store: Store, name: str, ref: str) -> None:
    saved, store.register_changes = store.register_changes, False
    listeners, store.listeners = store.listeners, []
    try:
        store.post(name, ref)
        store.get(name, ref)["__v"] = 0
    finally:
        store.register_changes, store.listeners = saved, listeners


def _counterparty(store: Store, rng: random.Random, i: int, supplier: bool = False) -> dict:
    region, city, address = _CITIES[i % len(_CITIES)]
    if i % 5 == 4:  # every fifth is an ИП: 12-digit INN, no КПП (§9.1)
        person = _PERSONS[i % len(_PERSONS)]
        inn, kpp, kind = random_inn12(rng, region), "", "ИндивидуальныйПредприниматель"
        short, full = f"ИП {person}", f"Индивидуальный предприниматель {person}"
    else:
        form, name, full_form = _COMPANIES[i % len(_COMPANIES)]
        suffix = "" if i < len(_COMPANIES) else f" {i // len(_COMPANIES) + 1}"
        inn = random_inn10(rng, region)
        kpp, kind = kpp_for(inn), "ЮрЛицо"
        short = f"{form} \"{name}{suffix}\""
        full = f"{full_form or 'Общество с ограниченной ответственностью'} \"{name}{suffix}\""
    partner = store.create("Catalog_Партнеры", {"Description": short, "НаименованиеПолное": full,
                                                "Клиент": not supplier, "Поставщик": supplier}, register=False)
    phone = f"+7 (9{rng.randrange(10, 99)}) {rng.randrange(100, 999)}-{rng.randrange(10, 99)}-{rng.randrange(10, 99)}"
    email = f"info{i}@example.ru"
    cp = store.create("Catalog_Контрагенты", {
        "Description": short, "НаименованиеПолное": full, "ИНН": inn, "КПП": kpp, "ЮрФизЛицо": kind,
        "КодПоОКПО": f"{rng.randrange(10**8):08d}", "Партнер_Key": partner["Ref_Key"],
        "КонтактнаяИнформация": [
            {"LineNumber": 1, "Тип": "Адрес", "Вид": "ЮрАдресКонтрагента", "Представление": address,
             "Страна": "РОССИЯ", "Город": city},
            {"LineNumber": 2, "Тип": "Телефон", "Вид": "ТелефонКонтрагента", "Представление": phone,
             "НомерТелефона": phone},
            {"LineNumber": 3, "Тип": "АдресЭлектроннойПочты", "Вид": "EmailКонтрагента", "Представление": email,
             "АдресЭП": email}]}, register=False)
    store.create("Catalog_ДоговорыКонтрагентов", {
        "Description": f"Договор поставки № {i + 1}-П", "Контрагент_Key": cp["Ref_Key"], "Партнер_Key": partner["Ref_Key"],
        "Номер": f"{i + 1}-П", "Дата": "2025-12-01T00:00:00",
        "ВидДоговора": "СПоставщиком" if supplier else "СПокупателем"}, register=False)
    if not supplier:  # УТ 11 sells to a partner under an agreement (Соглашение, a fill-checked order field, B.1)
        store.create("Catalog_СоглашенияСКлиентами", {
            "Description": "Основное соглашение", "Партнер_Key": partner["Ref_Key"]}, register=False)
    person = _PERSONS[(i + 3) % len(_PERSONS)].split()
    store.create("Catalog_КонтактныеЛицаПартнеров", {
        "Description": " ".join(person), "Owner_Key": partner["Ref_Key"], "Должность": "Менеджер по закупкам",
        "Фамилия": person[0], "Имя": person[1], "Отчество": person[2]}, register=False)
    return cp


def seed_volume(store: Store, n: int, *, seed: int = 7) -> None:
    """Generated counterparties (fast path: no contracts/contacts; 100 000 in a couple of seconds)."""
    rng = random.Random(seed)
    d = store.defs["Catalog_Контрагенты"]
    blank = store._blank(d)
    objs = store.objects["Catalog_Контрагенты"]
    with store.lock:
        for i in range(n):
            ref = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            region = _CITIES[i % len(_CITIES)][0]
            inn = random_inn10(rng, region)
            name = f"ООО \"Клиент {i + 1:06d}\""
            rec = dict(blank)
            rec.update({"Ref_Key": ref, "Description": name, "НаименованиеПолное": "Общество с ограниченной "
                        f"ответственностью \"Клиент {i + 1:06d}\"", "ИНН": inn, "КПП": kpp_for(inn),
                        "Партнер_Key": EMPTY_REF, "КонтактнаяИнформация": [], "__v": 0})
            objs[ref] = rec

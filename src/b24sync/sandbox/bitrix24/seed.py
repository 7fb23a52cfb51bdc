"""Generated realistic data for demos and benchmarks: Russian company names, valid INN/KPP/OGRN, phones, e-mails.
Bulk-inserted straight into the tables (no events), so 100,000 companies take seconds."""

from __future__ import annotations

import random

from .model import atom, checksum_inn, checksum_ogrn

_FORMS = ["ООО", "АО", "ПАО", "ООО", "ООО", "ЗАО"]
_ADJ = ["Северный", "Уральский", "Сибирский", "Волжский", "Балтийский", "Русский", "Первый", "Новый", "Технический",
        "Торговый", "Промышленный", "Инженерный", "Столичный", "Южный", "Восточный", "Центральный"]
_NOUN = ["Альянс", "Ресурс", "Стандарт", "Проект", "Импульс", "Вектор", "Капитал", "Континент", "Сервис", "Партнёр",
         "Монолит", "Гранит", "Логистик", "Трейд", "Снаб", "Строй", "Металл", "Агро", "Фарм", "Софт"]
_FIRST = ["Иван", "Алексей", "Сергей", "Дмитрий", "Андрей", "Ольга", "Елена", "Наталья", "Мария", "Анна", "Павел"]
_LAST = ["Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Петров", "Соколов", "Михайлов", "Новиков", "Фёдоров"]
_CITIES = [("Москва", "77"), ("Санкт-Петербург", "78"), ("Екатеринбург", "66"), ("Новосибирск", "54"),
           ("Казань", "16"), ("Нижний Новгород", "52"), ("Самара", "63"), ("Краснодар", "23")]


def inn10(rng: random.Random, region: str) -> str:
    return checksum_inn(region + "".join(str(rng.randrange(10)) for _ in range(7)))


def phone(rng: random.Random) -> str:
    return f"+7 9{rng.randrange(10)}{rng.randrange(10)} {rng.randrange(100, 1000)}-{rng.randrange(10, 100)}-{rng.randrange(10, 100)}"


def seed(portal, companies: int = 0, contacts: int = 0, deals: int = 0, products: int = 0, seed_value: int = 42,
         company_ids: list[int] | None = None) -> None:
    rng = random.Random(seed_value)
    st = portal.store
    now = portal.now()
    st.begin_bulk()
    try:
        comp_t, rq_t = portal.t("company"), portal.t("requisite")
        mf = int(st.meta.get("mf_next", 1))
        comp_ids: list[int] = [] if companies else [int(c) for c in company_ids or []]
        for i in range(companies):
            city, region = _CITIES[i % len(_CITIES)]
            title = f"{_FORMS[i % len(_FORMS)]} «{rng.choice(_ADJ)} {rng.choice(_NOUN)}»"
            ts = atom(now - rng.randrange(0, 3 * 365 * 86400))
            tel = phone(rng)
            row = {"TITLE": title, "COMPANY_TYPE": "CUSTOMER", "INDUSTRY": "OTHER", "CURRENCY_ID": "RUB",
                   "OPENED": "Y", "ASSIGNED_BY_ID": 1 + i % 3, "CREATED_BY_ID": 1, "MODIFY_BY_ID": 1,
                   "DATE_CREATE": ts, "DATE_MODIFY": ts, "IS_MY_COMPANY": "N", "ADDRESS_CITY": city,
                   "PHONE": [{"ID": mf, "VALUE_TYPE": "WORK", "VALUE": tel, "TYPE_ID": "PHONE"}],
                   "EMAIL": [{"ID": mf + 1, "VALUE_TYPE": "WORK", "VALUE": f"info{i}@company{i}.ru", "TYPE_ID": "EMAIL"}],
                   "HAS_PHONE": "Y", "HAS_EMAIL": "Y", "HAS_IMOL": "N", "REVENUE": float(rng.randrange(10**5, 10**9))}
            mf += 2
            cid = comp_t.insert(row)
            comp_ids.append(cid)
            inn = inn10(rng, region)
            rq_t.insert({"ENTITY_TYPE_ID": 4, "ENTITY_ID": cid, "PRESET_ID": 1, "NAME": "Организация", "ACTIVE": "Y",
                         "ADDRESS_ONLY": "N", "SORT": 500, "RQ_COMPANY_NAME": title, "RQ_INN": inn,
                         "RQ_KPP": region + "0" + str(rng.randrange(1, 10)) + "01001",
                         "RQ_OGRN": checksum_ogrn("1" + f"{rng.randrange(10**2):02d}" + region + f"{rng.randrange(10**7):07d}"),
                         "DATE_CREATE": ts, "DATE_MODIFY": ts, "CREATED_BY_ID": 1, "MODIFY_BY_ID": 1})
        cont_t = portal.t("contact")
        cont_ids = []
        for i in range(contacts):
            ts = atom(now - rng.randrange(0, 3 * 365 * 86400))
            company = comp_ids[i % len(comp_ids)] if comp_ids else None
            cont_ids.append(cont_t.insert({
                "NAME": rng.choice(_FIRST), "LAST_NAME": rng.choice(_LAST), "TYPE_ID": "CLIENT", "OPENED": "Y",
                "EXPORT": "Y", "ASSIGNED_BY_ID": 1, "CREATED_BY_ID": 1, "MODIFY_BY_ID": 1, "DATE_CREATE": ts,
                "DATE_MODIFY": ts, "COMPANY_ID": company, "COMPANY_IDS": [company] if company else [],
                "PHONE": [{"ID": mf, "VALUE_TYPE": "MOBILE", "VALUE": phone(rng), "TYPE_ID": "PHONE"}],
                "HAS_PHONE": "Y", "HAS_EMAIL": "N", "HAS_IMOL": "N"}))
            mf += 1
        deal_t = portal.t("deal")
        stages = ["NEW", "PREPARATION", "EXECUTING", "WON", "LOSE"]
        for i in range(deals):
            ts = atom(now - rng.randrange(0, 365 * 86400))
            stage = stages[i % len(stages)]
            sem = "S" if stage == "WON" else "F" if stage == "LOSE" else "P"
            deal_t.insert({"TITLE": f"Сделка №{i + 1}", "TYPE_ID": "SALE", "CATEGORY_ID": 0, "STAGE_ID": stage,
                           "STAGE_SEMANTIC_ID": sem, "CLOSED": "Y" if sem != "P" else "N", "CURRENCY_ID": "RUB",
                           "OPPORTUNITY": float(rng.randrange(1000, 5_000_000)), "IS_MANUAL_OPPORTUNITY": "N",
                           "COMPANY_ID": comp_ids[i % len(comp_ids)] if comp_ids else None,
                           "CONTACT_ID": cont_ids[i % len(cont_ids)] if cont_ids else None,
                           "CONTACT_IDS": [cont_ids[i % len(cont_ids)]] if cont_ids else [],
                           "OPENED": "Y", "ASSIGNED_BY_ID": 1, "CREATED_BY_ID": 1, "MODIFY_BY_ID": 1,
                           "DATE_CREATE": ts, "DATE_MODIFY": ts, "IS_NEW": "N", "IS_RECURRING": "N",
                           "IS_RETURN_CUSTOMER": "N", "IS_REPEATED_APPROACH": "N"})
        prod_t = portal.t("product")
        for i in range(products):
            prod_t.insert({"NAME": f"{rng.choice(_NOUN)} арт. {10000 + i}", "XML_ID": f"{rng.getrandbits(128):032x}",
                           "ACTIVE": "Y", "PRICE": float(rng.randrange(100, 100000)), "CURRENCY_ID": "RUB",
                           "MEASURE": 1, "VAT_ID": 4, "VAT_INCLUDED": "Y", "SORT": 500, "CATALOG_ID": 25,
                           "DATE_CREATE": atom(now), "TIMESTAMP_X": atom(now), "CREATED_BY": 1, "MODIFIED_BY": 1})
        st.meta["mf_next"] = mf
    finally:
        st.end_bulk()
    for ent in ("company", "contact"):
        for row in portal.t(ent).rows.values():
            portal.index_multifields(ent, row)

"""Static portal knowledge: entity type ids, field metadata, dictionaries, value formatting, checksums."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from importlib import resources
from typing import Any

# Dates are returned in server time regardless of the user's time zone [fact sheet §8.15, EN:api-reference/data-types.md];
# a Russian cloud portal runs on Moscow time.
PORTAL_TZ = timezone(timedelta(hours=3))

# Entity type ids [fact sheet §6.1, EN:api-reference/crm/data-types.md §CRM Object Types]
LEGACY = {"lead": 1, "deal": 2, "contact": 3, "company": 4}
ETID_NAME = {1: "LEAD", 2: "DEAL", 3: "CONTACT", 4: "COMPANY", 5: "INVOICE", 7: "QUOTE", 8: "REQUISITE", 31: "SMART_INVOICE"}
ETID_ABBR = {1: "L", 2: "D", 3: "C", 4: "CO", 7: "Q", 8: "RQ", 31: "SI"}
NAME_ETID = {v: k for k, v in ETID_NAME.items()}
UF_ENTITY = {"lead": "CRM_LEAD", "deal": "CRM_DEAL", "contact": "CRM_CONTACT", "company": "CRM_COMPANY",
             "requisite": "CRM_REQUISITE"}
MULTI = ("PHONE", "EMAIL", "WEB", "IM", "LINK")
# VALUE_TYPE per multi-field [fact sheet §6.3, EN:api-reference/crm/data-types.md#crm_multifield]
MULTI_VALUE_TYPES = {
    "PHONE": ("WORK", "MOBILE", "FAX", "HOME", "PAGER", "MAILING", "OTHER"),
    "EMAIL": ("WORK", "HOME", "MAILING", "OTHER"),
    "WEB": ("WORK", "HOME", "VK", "LIVEJOURNAL", "TWITTER", "OTHER"),
    "IM": ("TELEGRAM", "VK", "SKYPE", "VIBER", "BITRIX24", "OPENLINE", "IMOL", "ICQ", "MSN", "JABBER", "OTHER"),
    "LINK": ("USER",),
}


def load_legacy_fields() -> dict[str, dict[str, dict[str, Any]]]:
    with resources.files(__package__).joinpath("data/legacy_fields.json").open(encoding="utf-8") as fh:
        return json.load(fh)


def atom(ts: float | None) -> str | None:
    """``YYYY-MM-DDThh:mm:ss±hh:mm`` (ATOM) [fact sheet §2.2, EN:api-reference/data-types.md]."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, PORTAL_TZ).isoformat(timespec="seconds")


def to_atom(value: Any) -> str | None:
    """Normalise an incoming date/datetime value to ATOM in portal time (or None)."""
    from .query import parse_date
    ts = parse_date(value)
    return atom(ts) if ts is not None else None


def snake_to_camel(name: str) -> str:
    """Legacy UPPER_CASE → ``crm.item`` camelCase, incl. the user-field rules of
    [fact sheet §6.2, EN:api-reference/crm/universal/index.md §Field Naming Conventions]."""
    if name.startswith("UF_CRM_"):
        parts = name[7:].split("_")
        if any(re.search(r"\d", p) and re.search(r"[A-Za-z]", p) for p in parts) or (len(parts) == 1 and parts[0].isdigit()):
            return "ufCrm_" + name[7:]
        out = "ufCrm"
        for i, p in enumerate(parts):
            if p.isdigit():
                out += p if i == 0 else "_" + p
            else:
                out += p[:1].upper() + p[1:].lower()
        return out
    parts = name.lower().split("_")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


# Legacy fields whose crm.item names are not the mechanical conversion [EN:api-reference/crm/universal/crm-item-add.md]
ITEM_NAME_OVERRIDES = {"DATE_CREATE": "createdTime", "DATE_MODIFY": "updatedTime", "CREATED_BY_ID": "createdBy",
                       "MODIFY_BY_ID": "updatedBy", "MOVED_BY_ID": "movedBy", "STATUS_ID": "stageId",
                       "STATUS_SEMANTIC_ID": "stageSemanticId", "IS_RECURRING": "isRecurring"}


def checksum_inn(digits: str) -> str:
    """Append the control digit(s) of a Russian INN (10-digit legal entity / 12-digit individual)."""
    w10 = (2, 4, 10, 3, 5, 9, 4, 6, 8)
    w11 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
    w12 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
    d = [int(c) for c in digits]
    if len(d) == 9:
        return digits + str(sum(a * b for a, b in zip(w10, d)) % 11 % 10)
    if len(d) == 10:
        c1 = sum(a * b for a, b in zip(w11, d)) % 11 % 10
        d.append(c1)
        c2 = sum(a * b for a, b in zip(w12, d)) % 11 % 10
        return digits + str(c1) + str(c2)
    raise ValueError("INN body must have 9 or 10 digits")


def inn_valid(inn: str) -> bool:
    return inn.isdigit() and len(inn) in (10, 12) and checksum_inn(inn[:-1] if len(inn) == 10 else inn[:-2]) == inn


def checksum_ogrn(body12: str) -> str:
    return body12 + str(int(body12) % 11 % 10)


# Dictionaries for crm.status.list [fact sheet §6.4, EN:tutorials/crm/how-to-get-lists/how-to-get-stages-with-semantics.md]
DEAL_STAGES = [("NEW", "Новая", None, "#39A8EF"), ("PREPARATION", "Подготовка документов", None, "#2FC6F6"),
               ("PREPAYMENT_INVOICE", "Счёт на предоплату", None, "#55D0E0"), ("EXECUTING", "В работе", None, "#47E4C2"),
               ("FINAL_INVOICE", "Финальный счёт", None, "#FFA900"), ("WON", "Сделка успешна", "S", "#7BD500"),
               ("LOSE", "Сделка провалена", "F", "#FF5752"), ("APOLOGY", "Анализ причины провала", "F", "#FF5752")]
LEAD_STATUSES = [("NEW", "Не обработан", None, "#2FC6F6"), ("IN_PROCESS", "В работе", None, "#55D0E0"),
                 ("PROCESSED", "Обработан", None, "#FFA900"), ("CONVERTED", "Качественный лид", "S", "#7BD500"),
                 ("JUNK", "Некачественный лид", "F", "#FF5752")]
DYNAMIC_STAGES = [("NEW", "Начало", None, "#22B9FF"), ("PREPARATION", "Подготовка", None, "#55D0E0"),
                  ("CLIENT", "Согласование с клиентом", None, "#47E4C2"), ("SUCCESS", "Успех", "S", "#00FF00"),
                  ("FAIL", "Провал", "F", "#FF0000")]
INVOICE_STAGES = [("N", "Новый", None, "#22B9FF"), ("S", "Отправлен клиенту", None, "#55D0E0"),
                  ("P", "Оплачен", "S", "#7BD500"), ("D", "Отклонён", "F", "#FF5752")]
SIMPLE_DICTS = {
    "SOURCE": [("CALL", "Звонок"), ("EMAIL", "Электронная почта"), ("WEB", "Веб-сайт"), ("ADVERTISING", "Реклама"),
               ("PARTNER", "Существующий клиент"), ("RECOMMENDATION", "По рекомендации"), ("TRADE_SHOW", "Выставка"),
               ("OTHER", "Другое")],
    "COMPANY_TYPE": [("CUSTOMER", "Клиент"), ("SUPPLIER", "Поставщик"), ("COMPETITOR", "Конкурент"),
                     ("PARTNER", "Партнер"), ("OTHER", "Другое")],
    "CONTACT_TYPE": [("CLIENT", "Клиенты"), ("SUPPLIER", "Поставщики"), ("PARTNER", "Партнеры"), ("OTHER", "Другое")],
    "DEAL_TYPE": [("SALE", "Продажа"), ("COMPLEX", "Комплексная продажа"), ("GOODS", "Продажа товара"),
                  ("SERVICES", "Продажа услуги"), ("SERVICE", "Сервисное обслуживание")],
    "INDUSTRY": [("IT", "Информационные технологии"), ("TELECOM", "Телекоммуникации и связь"),
                 ("MANUFACTURING", "Производство"), ("BANKING", "Банковские услуги"), ("CONSULTING", "Консалтинг"),
                 ("FINANCE", "Финансы"), ("GOVERNMENT", "Правительство"), ("DELIVERY", "Доставка"),
                 ("ENTERTAINMENT", "Развлечения"), ("NOTPROFIT", "Не для получения прибыли"), ("OTHER", "Другое")],
    "EMPLOYEES": [("EMPLOYEES_1", "менее 50"), ("EMPLOYEES_2", "50-250"), ("EMPLOYEES_3", "250-500"),
                  ("EMPLOYEES_4", "более 500")],
    "HONORIFIC": [("HNR_RU_1", "г-н"), ("HNR_RU_2", "г-жа")],
}

# OKEI units for crm.measure.list (codes per the Russian classifier; 796 pcs and 166 kg appear in
# EN:api-reference/crm/deals/crm-deal-productrows-set.md)
MEASURES = [(796, "Штука", "шт", "PCE", "PCE", "Y"), (166, "Килограмм", "кг", "KGM", "KGM", "N"),
            (112, "Литр", "л", "LTR", "LTR", "N"), (6, "Метр", "м", "m", "MTR", "N"),
            (55, "Квадратный метр", "м2", "m2", "MTK", "N"), (113, "Кубический метр", "м3", "m3", "MTQ", "N"),
            (163, "Грамм", "г", "g", "GRM", "N"), (168, "Тонна", "т", "t", "TNE", "N"),
            (356, "Час", "ч", "h", "HUR", "N"), (778, "Упаковка", "упак", "NMP", "NMP", "N")]

VAT_RATES = [(1, "Без НДС", None), (2, "НДС 0%", 0.0), (3, "НДС 10%", 10.0), (4, "НДС 20%", 20.0), (5, "НДС 5%", 5.0),
             (6, "НДС 7%", 7.0)]

# Event codes the portal knows [fact sheet §7.5]
_CRUD = ("ADD", "UPDATE", "DELETE")
EVENTS = {f"ONCRM{e}{op}" for e in ("LEAD", "DEAL", "CONTACT", "COMPANY", "QUOTE", "DYNAMICITEM", "REQUISITE",
                                     "BANKDETAIL", "ACTIVITY", "TIMELINECOMMENT", "PRODUCT", "DEALUSERFIELD",
                                     "COMPANYUSERFIELD", "CONTACTUSERFIELD", "LEADUSERFIELD") for op in _CRUD}
EVENTS |= {"ONCRMDEALMOVETOCATEGORY", "ONCRMADDRESSREGISTER", "ONCRMADDRESSUNREGISTER", "ONAPPINSTALL",
           "ONAPPUNINSTALL", "ONAPPTEST", "ONOFFLINEEVENT", "ONCRMCURRENCYADD", "ONCRMCURRENCYUPDATE"}

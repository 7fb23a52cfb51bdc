"""Initial content of a fresh portal: users, departments, pipelines, stage dictionaries, requisite presets."""

from __future__ import annotations

from .model import DEAL_STAGES, DYNAMIC_STAGES, INVOICE_STAGES, LEAD_STATUSES, SIMPLE_DICTS

USERS = [
    (1, "Анна", "Титова", "anna.titova@example.ru", "Директор", True),
    (2, "Дмитрий", "Соколов", "d.sokolov@example.ru", "Менеджер по продажам", False),
    (3, "Елена", "Кузнецова", "e.kuznetsova@example.ru", "Бухгалтер", False),
]


def initialise(portal) -> None:
    st = portal.store
    st.begin_bulk()
    try:
        users = portal.t("user")
        for uid, name, last, email, pos, admin in USERS:
            users.insert({"ACTIVE": True, "NAME": name, "LAST_NAME": last, "SECOND_NAME": "", "EMAIL": email,
                          "WORK_POSITION": pos, "ADMIN": admin, "UF_DEPARTMENT": [1], "PERSONAL_GENDER": "",
                          "TIME_ZONE": "Europe/Moscow", "IS_ONLINE": "N", "USER_TYPE": "employee"}, uid)
        portal.t("department").insert({"NAME": "Компания", "SORT": 500, "PARENT": None, "UF_HEAD": "1"}, 1)
        portal.t("department").insert({"NAME": "Отдел продаж", "SORT": 500, "PARENT": "1", "UF_HEAD": "2"}, 2)
        for ent_id, items in SIMPLE_DICTS.items():
            for i, (sid, name) in enumerate(items):
                add_status(portal, ent_id, sid, name, (i + 1) * 10, None, None)
        for i, (sid, name, sem, color) in enumerate(LEAD_STATUSES):
            add_status(portal, "STATUS", sid, name, (i + 1) * 10, sem, None, color, extra=True)
        for i, (sid, name, sem, color) in enumerate(DEAL_STAGES):
            add_status(portal, "DEAL_STAGE", sid, name, (i + 1) * 10, sem, 0, color, extra=True)
        add_category(portal, 2, "Оптовые продажи", 200)
        # smart invoices (entityTypeId 31) [fact sheet §6.9]
        add_category(portal, 31, "Счета", 500, default=True)
        presets = portal.t("requisite_preset")
        # typical RU portal presets [fact sheet §6.5, RU:crm-requisite-preset-list.md]
        for pid, name, cid in ((1, "Организация", 1), (2, "ИП", 1), (3, "Физ. лицо", 1)):
            presets.insert({"ENTITY_TYPE_ID": "8", "COUNTRY_ID": str(cid), "NAME": name, "ACTIVE": "Y",
                            "XML_ID": "#CRM_REQUISITE_PRESET_DEF_RU_" + ("COMPANY" if pid == 1 else "INDIVIDUAL" if pid == 2 else "PERSON") + "#",
                            "SORT": str(500 + pid * 10)}, pid)
    finally:
        st.end_bulk()


def add_status(portal, entity_id: str, status_id: str, name: str, sort: int, semantics: str | None,
               category_id: int | None, color: str | None = None, extra: bool = False) -> dict:
    row = {"ENTITY_ID": entity_id, "STATUS_ID": status_id, "NAME": name, "NAME_INIT": name, "SORT": sort,
           "SYSTEM": "Y" if semantics or sort == 10 else "N", "CATEGORY_ID": category_id, "COLOR": color,
           "SEMANTICS": semantics}
    if extra:
        row["EXTRA"] = {"SEMANTICS": {"S": "success", "F": "failure"}.get(semantics or "", "process"), "COLOR": color}
    portal.t("status").insert(row)
    return row


def add_category(portal, entity_type_id: int, name: str, sort: int, default: bool = False) -> dict:
    cats = portal.t("category")
    cid = cats.new_id()
    row = {"entityTypeId": entity_type_id, "name": name, "sort": sort, "isDefault": "Y" if default else "N",
           "originId": "", "originatorId": ""}
    cats.insert(row, cid)
    stages_for_category(portal, entity_type_id, cid)
    return row


def stage_entity_id(entity_type_id: int, cid: int) -> str:
    # dictionary codes [fact sheet §6.4, EN:tutorials/crm/how-to-get-lists/how-to-get-stages-with-semantics.md]
    if entity_type_id == 2:
        return "DEAL_STAGE" if cid == 0 else f"DEAL_STAGE_{cid}"
    if entity_type_id == 31:
        return f"SMART_INVOICE_STAGE_{cid}"
    return f"DYNAMIC_{entity_type_id}_STAGE_{cid}"


def stage_prefix(entity_type_id: int, cid: int) -> str:
    if entity_type_id == 2:
        return "" if cid == 0 else f"C{cid}:"
    return f"DT{entity_type_id}_{cid}:"


def stages_for_category(portal, entity_type_id: int, cid: int) -> None:
    template = DEAL_STAGES if entity_type_id == 2 else INVOICE_STAGES if entity_type_id == 31 else DYNAMIC_STAGES
    ent = stage_entity_id(entity_type_id, cid)
    pre = stage_prefix(entity_type_id, cid)
    for i, (sid, name, sem, color) in enumerate(template):
        add_status(portal, ent, (pre + sid)[:21], name, (i + 1) * 10, sem, cid, color, extra=entity_type_id == 2)

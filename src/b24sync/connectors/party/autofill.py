"""From a looked-up Party to Bitrix24 requisite fields, and the "do not push to a dead company" guard.

Field names: Bitrix24 ``crm.requisite.*`` (``RQ_INN``, ``RQ_KPP``, ``RQ_OGRN``, ``RQ_OGRNIP``,
``RQ_COMPANY_NAME``, ``RQ_COMPANY_FULL_NAME``, ``RQ_COMPANY_REG_DATE`` as ``dd.mm.yyyy``, ``RQ_DIRECTOR``,
``RQ_CEO_NAME``, ``RQ_CEO_WORK_POS``, ``RQ_LAST_NAME``/``RQ_FIRST_NAME``/``RQ_SECOND_NAME``, ``RQ_NAME``) and
``crm.address.*`` (``TYPE_ID`` 6 = legal address, ``ADDRESS_1``, ``POSTAL_CODE``, ``CITY``, ``REGION``,
``COUNTRY``) — /work/shared/research/bitrix24-rest.md, requisites section. All ``RQ_*`` values are strings.
"""

from __future__ import annotations

from typing import Any

from b24sync.connectors.party.model import Party, PartyKind, PartyStatus
from b24sync.engine.errors import HoldError
from b24sync.messages import t

LEGAL_ADDRESS_TYPE_ID = 6  # crm.enum.addresstype: 6 = Legal (bitrix24-rest.md)

BLOCKING_STATUSES = frozenset({PartyStatus.LIQUIDATED, PartyStatus.LIQUIDATING})


def requisite_fields(party: Party) -> dict[str, str]:
    """``crm.requisite.add/update`` fields for this party (the caller adds ENTITY_*, PRESET_ID, NAME)."""
    f: dict[str, str] = {"RQ_INN": party.inn}
    if party.kind is PartyKind.LEGAL:
        if party.kpp:
            f["RQ_KPP"] = party.kpp
        if party.ogrn:
            f["RQ_OGRN"] = party.ogrn
        f["RQ_COMPANY_NAME"] = party.short_name
        f["RQ_COMPANY_FULL_NAME"] = party.full_name
        if party.director:
            f["RQ_DIRECTOR"] = party.director.name
            f["RQ_CEO_NAME"] = party.director.name
            if party.director.post:
                f["RQ_CEO_WORK_POS"] = party.director.post
    else:
        if party.ogrn:
            f["RQ_OGRNIP"] = party.ogrn
        f["RQ_COMPANY_NAME"] = party.short_name
        f["RQ_COMPANY_FULL_NAME"] = party.full_name
        if party.person:
            f["RQ_LAST_NAME"] = party.person.last
            f["RQ_FIRST_NAME"] = party.person.first
            if party.person.middle:
                f["RQ_SECOND_NAME"] = party.person.middle
            f["RQ_NAME"] = party.person.full
    if party.registration_date:
        f["RQ_COMPANY_REG_DATE"] = party.registration_date.strftime("%d.%m.%Y")
    return f


def legal_address_fields(party: Party) -> dict[str, Any] | None:
    """``crm.address.add`` fields for the legal address (caller adds ENTITY_TYPE_ID=8, ENTITY_ID=requisite id)."""
    a = party.legal_address
    if a is None or not a.value:
        return None
    out: dict[str, Any] = {"TYPE_ID": LEGAL_ADDRESS_TYPE_ID, "ADDRESS_1": a.value, "COUNTRY": "Россия"}
    if a.postal_code:
        out["POSTAL_CODE"] = a.postal_code
    if a.city:
        out["CITY"] = a.city
    if a.region:
        out["REGION"] = a.region
    return out


def party_who(party: Party) -> str:
    """``ООО Ромашка (ИНН 7707083893, КПП 770701001)`` — how a hold reason names the company."""
    return t("party.who", name=party.short_name, inn=party.inn, kpp=t("party.kpp", kpp=party.kpp) if party.kpp else "")


def check_can_push(party: Party, *, blocking: frozenset[PartyStatus] = BLOCKING_STATUSES) -> None:
    """Raise ``HoldError`` (the record waits for a person) if the counterparty is liquidated or liquidating."""
    if party.status not in blocking:
        return
    who = party_who(party)
    if party.status is PartyStatus.LIQUIDATED:
        since = t("party.since", date=party.liquidation_date) if party.liquidation_date else ""
        reason = t("party.liquidated", who=who, since=since)
    else:
        reason = t("party.liquidating", who=who)
    raise HoldError(reason, detail={"inn": party.inn, "kpp": party.kpp, "status": party.status.value,
                                    "status_raw": party.status_raw, "provider": party.provider})

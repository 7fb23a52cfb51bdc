"""The mapper: turns a record of one side into field values for the other, as the spec's field mappings say.

Direction conventions: transforms are written ERP -> CRM and applied in reverse, inverted, for CRM -> ERP.
Only fields owned by the source side (or by both) flow from it; ``on: create`` fields only when creating.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from collections.abc import Callable

from b24sync.engine.errors import RetryableError, ValidationError
from b24sync.messages import t as t_
from b24sync.engine.normalize import checked_inn, normalize
from b24sync.matching.fields import is_inn_part
from b24sync.store.fingerprints import canonical
from b24sync.spec.models import (
    Entity,
    FieldMapping,
    MapTransform,
    NormalizeTransform,
    RefTransform,
    ScaleTransform,
    Side,
    Spec,
    TableTransform,
    Transform,
    TypeTransform,
)


class UnresolvedRef(RetryableError):
    """A ``ref`` field points to a record of another entity that is not linked yet (a deal's company)."""

    def __init__(self, message: str, *, ref: str, side: Side, value: str, field: str, hold: str | None) -> None:
        super().__init__(message, retry_after=30.0)
        self.ref, self.side, self.value, self.field, self.hold = ref, side, value, field, hold


def other(side: Side) -> Side:
    return "erp" if side == "crm" else "crm"


def flows_from(spec: Spec, entity: Entity, side: Side) -> bool:
    return entity.direction == "both" or entity.direction == f"{side}_to_{other(side)}"


def outgoing_fields(spec: Spec, entity: Entity, side: Side) -> list[FieldMapping]:
    """Field mappings whose value flows from ``side`` to the other side."""
    if not flows_from(spec, entity, side):
        return []
    return [f for f in entity.fields if spec.owner_of(entity, f) in (side, "both")]


def edited_owned_fields(spec: Spec, entity: Entity, side: Side, values: dict[str, Any],
                        written: dict[str, Any] | None) -> list[str]:
    """Fields on ``side`` that the other side owns and that no longer hold what we last wrote there (manual edits)."""
    if not written:
        return []
    owned = [f.crm if side == "crm" else f.erp for f in outgoing_fields(spec, entity, other(side))]
    return [n for n in owned if n in written and canonical(values.get(n)) != canonical(written[n])]


def project(spec: Spec, entity: Entity, side: Side, values: dict[str, Any]) -> dict[str, Any]:
    """The values of ``side``'s fields that matter for syncing out of it (what its fingerprint covers)."""
    names = [f.crm if side == "crm" else f.erp for f in outgoing_fields(spec, entity, side)]
    if side == "erp":  # a qualified table reads a second ERP field: its change alone is a change
        names += [t.qualify for f in outgoing_fields(spec, entity, side) for t in f.transform
                  if isinstance(t, TableTransform) and t.qualify]
    for rule in entity.match:
        names += [k.crm if side == "crm" else k.erp for k in rule.keys]
    names += [g.skip_if.field for g in entity.guards if g.skip_if and g.skip_if.side == side]
    names += [g.only_if.field for g in entity.guards if g.only_if and g.only_if.side == side]
    # the fields stage triggers watch: a stage move is a change even when no mapped field moved
    obj = (entity.crm if side == "crm" else entity.erp).object
    names += [t.stage_change.field_for(obj) for t in entity.triggers
              if t.stage_change is not None and (t.side or "crm") == side]
    # the source fields a conditional header value looks at (`when`): a document marked for deletion is a change
    names += [k for h in entity.header if (h.crm if side == "erp" else h.erp) is not None for k in h.when]
    if entity.rows is not None and flows_from(spec, entity, side):
        names.append(entity.rows.crm if side == "crm" else entity.rows.erp)  # a row edit is a change
    return {n: values.get(n) for n in dict.fromkeys(names)}


Resolver = Callable[[str, Side, str], "str | None"]


def map_record(spec: Spec, entity: Entity, source: Side, values: dict[str, Any], *, for_create: bool,
               resolve: Resolver | None = None) -> dict[str, Any]:
    """Target-side values for a source record. Raises ValidationError with a readable reason.

    ``resolve(entity, side, id)`` translates ids of other entities (``ref`` transforms) through the identity map."""
    out: dict[str, Any] = {}
    for f in outgoing_fields(spec, entity, source):
        if f.on == "create" and not for_create:
            continue
        src_name, dst_name = (f.crm, f.erp) if source == "crm" else (f.erp, f.crm)
        if src_name not in values and not f.required:
            # Absent is not empty: a field the record does not carry (renamed or removed in the source system, a
            # partial record) is left alone on the target — never overwritten with None.
            continue
        value = values.get(src_name)
        if f.required and (value is None or value == ""):
            raise ValidationError(t_("sync.required_empty", title=entity.title or t_("word.record"), field=src_name,
                                     where=t_(f"side.in.{source}")))
        if f.crm_type == "money" and source == "crm" and f.currency_field and value not in (None, ""):
            out[f.currency_field] = money_parts(f, value)[1]  # the ERP field that holds the amount's currency
        out[dst_name] = convert(spec, f, value, source, resolve, record=values)
    return out


def convert(spec: Spec, f: FieldMapping, value: Any, source: Side, resolve: Resolver | None = None, *,
            record: dict[str, Any] | None = None) -> Any:
    money = f.crm_type == "money"
    if money and source == "crm":
        value = money_amount(f, value)
    chain: list[Transform] = list(f.transform) if source == "erp" else list(reversed(f.transform))
    if source == "erp" and not of_ref_type(f, chain, record or {}):
        return None  # a composite reference to another kind of document: nothing to link (RefTransform.erp_type)
    for t in chain:
        value = _apply(spec, f, t, value, to_crm=(source == "erp"), resolve=resolve, record=record)
    if money and source == "erp":
        value = money_text(f, value, record or {})
    return value


def of_ref_type(f: FieldMapping, chain: list[Transform], record: dict[str, Any]) -> bool:
    """A ``ref`` with ``erp_type``: the composite value's ``X_Type`` (``StandardODATA.Document_…``) names that set.
    Without a type on the record (a single reference) it is taken to be of that set."""
    for t in chain:
        if isinstance(t, RefTransform) and t.erp_type:
            typ = str(record.get(f"{f.erp.removesuffix('_Key')}_Type") or "")
            return not typ or typ.removeprefix("StandardODATA.") == t.erp_type.removeprefix("StandardODATA.")
    return True


# ---------------------------------------------------------------- money user fields (`crm_type: money`)
# Bitrix24 reads and writes a money user field as one string `amount|CUR` (`300|RUB`; bitrix24-rest.md "Value
# formats seen in docs"). What a portal does with a bare number written there is not documented (⚠), so the
# amount always goes out with its currency, and a value read back is split before it reaches the ERP.
DEFAULT_CURRENCY = "RUB"
_CUR = re.compile(r"^[A-Z]{3}$")


def money_parts(f: FieldMapping, value: Any) -> tuple[Decimal, str]:
    """``"1500.00|RUB"`` → (Decimal("1500.00"), "RUB"); a bare number has the field's currency."""
    from b24sync.messages import t as msg

    s = str(value).strip()
    amount, _, cur = s.partition("|")
    cur = cur.strip().upper() or (f.currency or DEFAULT_CURRENCY)
    try:
        d = Decimal(amount.strip().replace(",", "."))
        if not d.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        raise ValidationError(msg("money.not_number", field=f.crm, value=s)) from None
    if not _CUR.match(cur):
        raise ValidationError(msg("money.bad_currency", field=f.crm, value=s))
    return d, cur


def money_amount(f: FieldMapping, value: Any) -> Any:
    """CRM → ERP: the amount of ``amount|CUR``. An amount in another currency than the field's is refused (the ERP
    field holds one currency; converting is not ours to guess) — unless ``currency_field`` carries it across."""
    if value is None or value == "":
        return None
    from b24sync.messages import t as msg

    d, cur = money_parts(f, value)
    expected = f.currency or DEFAULT_CURRENCY
    if cur != expected and not f.currency_field:
        raise ValidationError(msg("money.other_currency", field=f.crm, value=str(value), currency=cur,
                                  expected=expected))
    return _number(d)


def money_text(f: FieldMapping, value: Any, record: dict[str, Any]) -> Any:
    """ERP → CRM: ``amount|CUR`` with two decimals; the currency from ``currency_field`` of the ERP record, else the
    field's ``currency:``, else RUB."""
    if value is None or value == "":
        return None
    from b24sync.messages import t as msg

    d, cur = money_parts(f, value)  # a value that already says its currency keeps it
    if f.currency_field:
        code = str(record.get(f.currency_field) or "").strip().upper()
        if code:
            if not _CUR.match(code):
                raise ValidationError(msg("money.bad_currency_field", field=f.currency_field, value=code))
            cur = code
    return f"{d.quantize(Decimal('0.01'), ROUND_HALF_UP)}|{cur}"  # kopecks, half away from zero


def _apply(spec: Spec, f: FieldMapping, t: Transform, value: Any, *, to_crm: bool,
           resolve: Resolver | None = None, record: dict[str, Any] | None = None) -> Any:
    if value is None or value == "":
        return None
    if isinstance(t, RefTransform):
        src_side: Side = "erp" if to_crm else "crm"
        if resolve is None:
            raise AssertionError("ref transform without a resolver")
        other_id = resolve(t.ref, src_side, str(value))
        if other_id is None:
            raise UnresolvedRef(f"`{f.erp if to_crm else f.crm}` refers to {t.ref} {value}, which is not synced yet — "
                                f"waiting for it", ref=t.ref, side=src_side, value=str(value),
                                field=f.erp if to_crm else f.crm, hold=t.message)
        return other_id
    if isinstance(t, NormalizeTransform):
        return normalize(t.normalize, value, field=f.crm if to_crm else f.erp)
    if isinstance(t, (MapTransform, TableTransform)):
        table = t.map if isinstance(t, MapTransform) else spec.value_maps[t.table]
        default = t.default if isinstance(t, MapTransform) else None
        qualify = t.qualify if isinstance(t, TableTransform) else None
        lookup = table if to_crm else {v: k for k, v in reversed(list(table.items()))
                                       if not (qualify and "/" in k)}  # back to the plain value, never `a/b`
        key = str(value)
        if to_crm and qualify:
            q = (record or {}).get(qualify)
            if q not in (None, "") and f"{key}/{q}" in lookup:
                return lookup[f"{key}/{q}"]  # «Завершен» with ВариантЗавершения = Отменен
        if key in lookup:
            return lookup[key]
        if default is not None and to_crm:
            return default
        side = "ERP" if to_crm else "CRM"
        name = t_("sync.table", table=t.table) if isinstance(t, TableTransform) else t_("sync.map_of", field=f.crm)
        raise ValidationError(t_("sync.not_in_table", side=side, value=key, field=f.erp if to_crm else f.crm,
                                 name=name))
    if isinstance(t, ScaleTransform):
        try:
            d = Decimal(str(value))
        except InvalidOperation:
            raise ValidationError(t_("sync.not_number", field=f.erp if to_crm else f.crm, value=value)) from None
        result = d * Decimal(str(t.scale)) if to_crm else d / Decimal(str(t.scale))
        if t.digits is not None and to_crm:
            result = round(result, t.digits)
        return _number(result)
    if isinstance(t, TypeTransform):
        return _typed(t, value, to_crm=to_crm, field=f.erp if to_crm else f.crm)
    raise AssertionError(f"unknown transform {t!r}")


def _number(d: Decimal) -> int | float:
    d = d.normalize()
    return int(d) if d == d.to_integral_value() else float(d)


_TRUE = {"y", "yes", "true", "1", "да", "истина"}
_FALSE = {"n", "no", "false", "0", "нет", "ложь", ""}


def _typed(t: TypeTransform, value: Any, *, to_crm: bool, field: str) -> Any:
    try:
        if t.type == "str":
            return str(value)
        if t.type == "int":
            return int(Decimal(str(value)))
        if t.type == "decimal":
            return _number(Decimal(str(value)))
        if t.type == "bool":
            b = value if isinstance(value, bool) else _parse_bool(str(value))
            if to_crm:
                return (t.true or "Y") if b else (t.false or "N")
            return b
        if t.type == "date":
            return (value if isinstance(value, date) else datetime.fromisoformat(str(value)[:10])).strftime("%Y-%m-%d")
        if t.type == "datetime":
            return (value if isinstance(value, datetime) else datetime.fromisoformat(str(value))).isoformat()
    except (ValueError, InvalidOperation):
        raise ValidationError(t_("sync.not_valid", field=field, value=value, type=t.type)) from None
    raise AssertionError(t.type)


def _parse_bool(s: str) -> bool:
    low = s.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(s)


def match_criteria(entity: Entity, side: Side, values: dict[str, Any], source: Side) -> list[tuple[dict[str, Any], str]]:
    """For each match rule whose parts all have values in a ``source`` record: the lookup criteria on ``side``
    (field -> normalised value) and a stable key string for the identity map. Invalid keys raise ValidationError."""
    out = []
    for rule in entity.match:
        criteria: dict[str, Any] = {}
        key_parts = []
        for part in rule.keys:
            src_field = part.crm if source == "crm" else part.erp
            dst_field = part.crm if side == "crm" else part.erp
            raw = values.get(src_field)
            if isinstance(raw, (list, tuple)):
                # A multi-valued key (all phones of a contact): the criteria carry the list and the target's
                # adapter matches a record holding ANY of the values (see flows/contacts.py).
                value = normalize(part.normalize, raw, field=src_field)
                if not value:
                    criteria = {}
                    break
                criteria[dst_field] = value
                key_parts.append(f"{part.crm}={','.join(value)}")
                continue
            if raw is None or raw == "":
                criteria = {}
                break
            if is_inn_part(part):  # RQ_INN / ИНН / inn: check-digit validated whatever `normalize` says
                value = checked_inn(raw, field=src_field)
            else:
                value = normalize(part.normalize, raw, field=src_field) if part.normalize else str(raw).strip()
            criteria[dst_field] = value
            key_parts.append(f"{part.crm}={value}")
        if criteria:
            out.append((criteria, "|".join(key_parts)))
    return out

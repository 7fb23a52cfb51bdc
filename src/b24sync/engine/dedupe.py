"""Before the engine creates a record on the other side, look there for a likely duplicate (spec ``dedupe``).

The match rules already found nothing exact (link field, INN + KPP, …). With ``dedupe.before_create: hold`` the
engine asks the target for candidates it can find by exact lookups — the same INN (another KPP: a branch, which
does not stop the create), the same phone (E.164 and as typed), the same e-mail, the same name as typed — and
scores each with :func:`b24sync.matching.compare`. A candidate at or above ``dedupe.suggest`` holds the record
with a message naming it (the manager links or merges, or sets ``confirm_field`` to say "not a duplicate"); held
records are looked at again when they change (docs/matching.md).
"""

from __future__ import annotations

from typing import Any

from b24sync.engine.errors import HoldError
from b24sync.engine.ports import ObjectRef, Record, SystemAdapter
from b24sync.matching import Policy, compare, make_card
from b24sync.matching.cards import normalize_email, normalize_phone
from b24sync.spec.models import Entity, Side

_YES = {"y", "yes", "1", "true", "да", "д"}


def _fields(entity: Entity, side: Side) -> dict[str, list[str]]:
    from b24sync.matching.fields import evidence_fields, name_fields

    ev = evidence_fields(entity, side)
    crm_name, erp_name = name_fields(entity)
    ev["name"] = [n for n in [crm_name if side == "crm" else erp_name] if n]
    return ev


def _value(values: dict[str, Any], names: list[str]) -> tuple[str | None, Any]:
    for n in names:
        v = values.get(n)
        if v not in (None, "", []):
            return n, v
    return None, None


def _card(ref: str, values: dict[str, Any], f: dict[str, list[str]]) -> Any:
    return make_card(ref, name=_value(values, f["name"])[1], inn=_value(values, f["inn"])[1],
                     kpp=_value(values, f["kpp"])[1], phones=_value(values, f["phones"])[1],
                     emails=_value(values, f["emails"])[1], address=_value(values, f["address"])[1])


async def check_before_create(entity: Entity, src: Side, src_id: str, record: Record, tgt: Side,
                              target: SystemAdapter, obj: ObjectRef, *, distinct: set[str] | None = None) -> None:
    """``distinct``: target ids a person said are *not* this record (a rejected review proposal,
    engine/review.py) — never proposed again for it."""
    dd = entity.dedupe
    if dd is None or dd.before_create != "hold":
        return
    if dd.confirm_field is not None:
        flag = record.values.get(dd.confirm_field.crm if src == "crm" else dd.confirm_field.erp)
        if str(flag or "").strip().lower() in _YES:
            return  # a manager said: not a duplicate
    fs, ft = _fields(entity, src), _fields(entity, tgt)
    mine = _card(f"{src}:{src_id}", record.values, fs)
    lookups: list[dict[str, Any]] = []
    if mine.valid_inn and ft["inn"]:
        lookups.append({ft["inn"][0]: mine.inn})
    _, raw_phone = _value(record.values, fs["phones"])
    if mine.phones and ft["phones"]:
        for p in sorted(mine.phones):
            lookups.append({ft["phones"][0]: p})
        if isinstance(raw_phone, str) and raw_phone.strip() and normalize_phone(raw_phone) not in (None, raw_phone):
            lookups.append({ft["phones"][0]: raw_phone.strip()})
    _, raw_email = _value(record.values, fs["emails"])
    if isinstance(raw_email, str) and normalize_email(raw_email) and ft["emails"]:
        lookups.append({ft["emails"][0]: raw_email.strip()})
    _, raw_name = _value(record.values, fs["name"])
    if raw_name and ft["name"]:
        lookups.append({ft["name"][0]: str(raw_name).strip()})
    policy = Policy(suggest=dd.suggest)
    seen: set[str] = set()
    hits: list[tuple[float, Record, list[str]]] = []
    for crit in lookups:
        try:
            found = await target.find(obj, crit)
        except Exception:  # noqa: BLE001 — a field the target cannot filter on is no evidence, not a failure
            continue
        for r in found:
            if r.deleted or r.id in seen or r.id in (distinct or ()):
                continue
            seen.add(r.id)
            v = compare(mine, _card(f"{tgt}:{r.id}", r.values, ft), policy)
            if v.decision == "suggest":
                hits.append((v.score, r, v.evidence))
    if not hits:
        return
    hits.sort(key=lambda h: -h[0])
    name_f = ft["name"][0] if ft["name"] else None
    listed = "; ".join(f"{r.id} «{r.values.get(name_f, '') if name_f else ''}» ({score:.2f}: {', '.join(ev)})"
                       for score, r, ev in hits[:3])
    confirm = ""
    if dd.confirm_field is not None:
        confirm = (f", или отметьте поле {dd.confirm_field.crm if src == 'crm' else dd.confirm_field.erp}, если это "
                   "другая компания")
    raise HoldError(f"Похоже, эта компания уже есть в {'CRM' if tgt == 'crm' else 'учётной системе'}: {listed}. "
                    f"Новая не создана, чтобы не было дубля — объедините карточки или укажите ИНН{confirm}.",
                    detail={"candidates": [r.id for _, r, _ in hits[:10]], "guard": "dedupe", "target": tgt,
                            "scores": [{"id": r.id, "name": str(r.values.get(name_f, "") if name_f else "")[:200],
                                        "score": round(score, 3), "evidence": list(ev)[:8]}
                                       for score, r, ev in hits[:10]],
                            "source_name": str(_value(record.values, fs["name"])[1] or "")[:200]})

"""Two cards compared: a decision, a score and the evidence a reviewer reads.

Decisions (declared per entity in the spec's ``dedupe`` block, see :class:`Policy`):

- ``same``      — exact INN (+ KPP where both have one): the only automatic link;
- ``branch``    — same INN, different KPPs: two branches of one company, never duplicates;
- ``different`` — two different valid INNs: two legal entities, never proposed whatever the names say;
- ``suggest``   — the score reaches ``Policy.suggest``: proposed to a person, never merged automatically;
- ``new``       — below it: unrelated.

The score starts from the name similarity (:func:`b24sync.matching.names.similarity`) and is raised by
independent evidence — the same phone (E.164), e-mail, corporate e-mail domain, street address, or an INN one typo
away from the other card's valid INN: ``score = 1 − (1 − name) · Π(1 − weight)``. Evidence only counts when the
names are at least ``Policy.name_floor`` alike (one shared phone does not make two unrelated names one company),
and what the name comparison holds against the pair — another number, another city, a sole trader vs a company —
caps the result below ``suggest`` whatever else agrees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from b24sync.matching.cards import Card, inn_near
from b24sync.matching.names import similarity

Decision = Literal["same", "branch", "different", "suggest", "new"]


@dataclass(frozen=True)
class Policy:
    suggest: float = 0.85
    name_floor: float = 0.5
    phone: float = 0.5
    email: float = 0.6
    domain: float = 0.35
    address: float = 0.4
    inn_typo: float = 0.5
    capped_ceiling: float = 0.8  # a pair the names speak against (number, city, ИП vs company) stays below this
    cluster_mean: float = 0.6  # two groups join only if their cards are this alike on average


@dataclass
class Verdict:
    decision: Decision
    score: float
    name_score: float
    evidence: list[str] = field(default_factory=list)
    against: list[str] = field(default_factory=list)
    reason: str = ""

    @property
    def linked(self) -> bool:
        return self.decision in ("same", "suggest")


def compare(a: Card, b: Card, policy: Policy = Policy()) -> Verdict:
    ia, ib = a.valid_inn, b.valid_inn
    if ia and ib:
        if ia != ib:
            return Verdict("different", 0.0, 0.0, against=[f"разные ИНН ({ia} и {ib}) — два юрлица"])
        if a.kpp and b.kpp and a.kpp != b.kpp:
            return Verdict("branch", 0.0, 0.0, evidence=[f"ИНН {ia}"],
                           against=[f"КПП {a.kpp} и {b.kpp} — филиалы одной организации, не дубли"])
        return Verdict("same", 1.0, 1.0, evidence=[f"ИНН {ia}" + (f", КПП {a.kpp}" if a.kpp and b.kpp else "")],
                       reason="exact INN" + (" + KPP" if a.kpp and b.kpp else ""))
    sim = similarity(a.name, b.name)
    name = sim.score
    evidence: list[str] = [f"название {name:.2f}"]
    against: list[str] = [n for n in sim.notes if n.startswith(("different",))]
    weights: list[float] = []
    phones = a.phones & b.phones
    if phones:
        weights.append(policy.phone)
        evidence.append("телефон " + ", ".join(sorted(phones)))
    emails = a.emails & b.emails
    if emails:
        weights.append(policy.email)
        evidence.append("e-mail " + ", ".join(sorted(emails)))
    domains = (a.domains & b.domains) - {e.split("@")[1] for e in emails}
    if domains:
        weights.append(policy.domain)
        evidence.append("домен почты " + ", ".join(sorted(domains)))
    if a.address and b.address and a.address.key and a.address.key == b.address.key:
        weights.append(policy.address)
        evidence.append(f"адрес {b.address.raw}")
    typo = None
    if (ia or ib) and a.inn and b.inn:
        valid, other = (ia, b.inn) if ia else (ib, a.inn)
        if inn_near(valid, other):  # type: ignore[arg-type]
            weights.append(policy.inn_typo)
            typo = valid
            evidence.append(f"ИНН отличается одной цифрой от {valid}")
    if name < policy.name_floor:
        weights = []
    rest = 1.0
    for w in weights:
        rest *= 1 - w
    score = 1 - (1 - name) * rest
    capped = any(n.startswith(("different numbers", "different cities")) for n in sim.notes) or \
        ("ИП" in (a.name.form_family ^ b.name.form_family) and a.name.forms and b.name.forms)
    if capped:
        score = min(score, policy.capped_ceiling)
    score = round(score, 4)
    decision: Decision = "suggest" if score >= policy.suggest else "new"
    reason = sim.reason
    if typo:
        reason += f"; ИНН с опечаткой рядом с {typo}"
    return Verdict(decision, score, name, evidence, against, reason)

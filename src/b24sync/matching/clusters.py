"""Suspected duplicates as clusters, not pairs.

1. **Blocking**: cards that share a key — a word's 3-letter prefix or suffix (so a typo at one end still
   meets), the joined name's ends, a sole trader's surname, a phone, an e-mail, a corporate domain, the street
   address, the INN, or the INN with one digit masked (a mistyped INN meets the valid one) — are compared;
   very common name keys (more than ``max_block`` cards) are not used alone.
2. **Scoring** every candidate pair (:func:`b24sync.matching.score.compare`).
3. **Clustering**: exact INN links first, then proposals by descending score, joined with union-find — *unless*
   the join would put two different valid INNs, or two KPPs of one INN (branches), into one cluster. Such a
   refused join is not lost: it is written on the cluster as a warning ("also resembles card X with another INN —
   accepting both would merge two legal entities"), so a reviewer sees it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from b24sync.matching.cards import Card
from b24sync.matching.names import block_keys
from b24sync.matching.score import Policy, Verdict, compare


@dataclass
class Edge:
    a: str
    b: str
    verdict: Verdict


@dataclass
class Cluster:
    refs: list[str]
    edges: list[Edge]
    warnings: list[str] = field(default_factory=list)

    @property
    def automatic(self) -> bool:
        """Every link in it is an exact INN (+KPP) match."""
        return all(e.verdict.decision == "same" for e in self.edges)

    @property
    def score(self) -> float:
        return min((e.verdict.score for e in self.edges), default=0.0)


@dataclass
class Result:
    clusters: list[Cluster]
    relations: list[Edge]  # branch and different-INN pairs found among similar names (for the report)
    compared: int


def _keys(card: Card) -> set[str]:
    keys = {f"n:{k}" for k in block_keys(card.name)}
    keys |= {f"t:{p}" for p in card.phones} | {f"e:{e}" for e in card.emails} | {f"d:{d}" for d in card.domains}
    if card.address and card.address.key:
        keys.add(f"a:{card.address.key}")
    if len(card.inn) in (10, 12):
        keys.add(f"i:{card.inn}")
        keys |= {f"m:{card.inn[:i]}_{card.inn[i + 1:]}" for i in range(len(card.inn))}
        keys |= {f"m:{card.inn[:i]}{card.inn[i + 1]}{card.inn[i]}{card.inn[i + 2:]}" for i in range(len(card.inn) - 1)}
    return keys


def candidate_pairs(cards: list[Card], *, max_block: int = 250) -> set[tuple[int, int]]:
    index: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(cards):
        for k in _keys(c):
            index[k].append(i)
    pairs: set[tuple[int, int]] = set()
    for k, members in index.items():
        if len(members) < 2:
            continue
        if len(members) > max_block and k.startswith("n:"):
            continue  # "p:стр" of every "Строй…": other keys of those cards still meet
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                pairs.add((members[x], members[y]))
    return pairs


class _Groups:
    def __init__(self, cards: list[Card]) -> None:
        self.parent = list(range(len(cards)))
        self.inns: list[dict[str, set[str]]] = [
            ({c.valid_inn: {c.kpp}} if c.valid_inn else {}) for c in cards]

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def why_not(self, a: int, b: int) -> str | None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return None
        ia, ib = self.inns[ra], self.inns[rb]
        if ia and ib and set(ia) != set(ib):
            return f"another INN ({', '.join(sorted(ib))} vs {', '.join(sorted(ia))})"
        for inn in set(ia) & set(ib):
            kpps = {k for k in ia[inn] | ib[inn] if k}
            if len(kpps) > 1:
                return f"a branch of INN {inn} (KPP {', '.join(sorted(kpps))})"
        return None

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        keep, gone = min(ra, rb), max(ra, rb)
        self.parent[gone] = keep
        merged = self.inns[keep]
        for inn, kpps in self.inns[gone].items():
            merged.setdefault(inn, set()).update(kpps)


def cluster(cards: Iterable[Card], policy: Policy = Policy(), *,
            progress: Callable[[int, int], None] | None = None) -> Result:
    """Every card in at most one cluster of two or more; pure, deterministic (input order does not matter)."""
    cards = sorted(cards, key=lambda c: c.ref)
    pairs = sorted(candidate_pairs(cards))
    edges: list[tuple[int, int, Verdict]] = []
    relations: list[Edge] = []
    for n, (i, j) in enumerate(pairs, 1):
        v = compare(cards[i], cards[j], policy)
        if v.linked:
            edges.append((i, j, v))
        elif v.decision in ("branch", "different") and _names_alike(cards[i], cards[j], policy):
            relations.append(Edge(cards[i].ref, cards[j].ref, v))
        if progress and (n % 2000 == 0 or n == len(pairs)):
            progress(n, len(pairs))
    edges.sort(key=lambda e: (e[2].decision != "same", -e[2].score, cards[e[0]].ref, cards[e[1]].ref))
    groups = _Groups(cards)
    kept: list[tuple[int, int, Verdict]] = []
    refused: list[tuple[int, int, Verdict, str]] = []
    scores = {(i, j): v.score for i, j, v in edges}
    members_of: dict[int, list[int]] = {i: [i] for i in range(len(cards))}

    def cross_mean(ra: int, rb: int) -> float:
        total = 0.0
        xs, ys = members_of[ra], members_of[rb]
        for x in xs:
            for y in ys:
                key = (min(x, y), max(x, y))
                if key not in scores:
                    scores[key] = compare(cards[key[0]], cards[key[1]], policy).score
                total += scores[key]
        return total / (len(xs) * len(ys))

    for i, j, v in edges:
        why = groups.why_not(i, j)
        ri, rj = groups.find(i), groups.find(j)
        if why is None and ri != rj and len(members_of[ri]) > 1 and len(members_of[rj]) > 1 and \
                v.decision != "same" and cross_mean(ri, rj) < policy.cluster_mean:
            continue  # one close pair must not chain two groups that are otherwise unlike (average linkage)
        if why is not None:
            refused.append((i, j, v, why))
            continue
        if ri != rj:
            groups.union(i, j)
            keep, gone = groups.find(i), (rj if groups.find(i) == ri else ri)
            members_of[keep] = members_of[ri] + members_of[rj] if keep in (ri, rj) else members_of[keep]
            members_of.pop(gone, None)
        kept.append((i, j, v))
    members: dict[int, list[int]] = defaultdict(list)
    for i in range(len(cards)):
        members[groups.find(i)].append(i)
    by_root: dict[int, Cluster] = {}
    for root, idx in members.items():
        if len(idx) > 1:
            by_root[root] = Cluster([cards[i].ref for i in idx], [])
    for i, j, v in kept:
        by_root[groups.find(i)].edges.append(Edge(cards[i].ref, cards[j].ref, v))
    for i, j, v, why in refused:
        for x, y in ((i, j), (j, i)):
            c = by_root.get(groups.find(x))
            if c is not None:
                c.warnings.append(f"{cards[x].ref} also resembles {cards[y].ref} ({v.score:.2f}), which is {why}: "
                                  f"not joined — accepting both would merge two legal entities")
    out = sorted(by_root.values(), key=lambda c: (not c.automatic, -c.score, c.refs[0]))
    return Result(out, relations, len(pairs))


def _names_alike(a: Card, b: Card, policy: Policy) -> bool:
    from b24sync.matching.names import similarity

    return similarity(a.name, b.name).score >= policy.suggest


def cluster_pairs(clusters: Iterable[Cluster]) -> set[tuple[str, str]]:
    """Every pair of refs put together (transitive closure), for precision / recall."""
    out: set[tuple[str, str]] = set()
    for c in clusters:
        refs = sorted(c.refs)
        for x in range(len(refs)):
            for y in range(x + 1, len(refs)):
                out.add((refs[x], refs[y]))
    return out

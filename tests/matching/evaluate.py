"""Score the matcher on generated cards: pairwise precision / recall after transitive closure, per pattern."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from b24sync.matching import Policy, cluster, cluster_pairs, make_card
from tests.matching.cardgen import Card, truth_pairs


def to_cards(cards: list[Card]) -> list[Any]:
    return [make_card(c.ref, name=c.name, inn=c.inn, kpp=c.kpp, phones=c.phone, emails=c.email, address=c.address)
            for c in cards]


def evaluate(cards: list[Card], policy: Policy = Policy()) -> dict[str, Any]:
    t0 = time.perf_counter()
    result = cluster(to_cards(cards), policy)
    seconds = time.perf_counter() - t0
    truth = truth_pairs(cards)
    found = cluster_pairs(result.clusters)
    hit = found & set(truth)
    auto_pairs = cluster_pairs(c for c in result.clusters if c.automatic)
    by_ref = {c.ref: c for c in cards}
    per_pattern: dict[str, list[int]] = {}
    for pair, pat in truth.items():
        s = per_pattern.setdefault(pat, [0, 0])
        s[1] += 1
        s[0] += pair in found
    wrong = found - set(truth)
    wrong_kinds = Counter((by_ref[a].group.split(":")[0] or "other") for a, b in wrong)
    branch_merged = sum(1 for a, b in wrong if by_ref[a].pattern == "branch" and by_ref[b].pattern == "branch")
    return {
        "cards": len(cards), "true_pairs": len(truth), "found_pairs": len(found),
        "precision": round(len(hit) / len(found), 4) if found else 1.0,
        "recall": round(len(hit) / len(truth), 4) if truth else 1.0,
        "auto_pairs": len(auto_pairs),
        "auto_precision": round(len(auto_pairs & set(truth)) / len(auto_pairs), 4) if auto_pairs else 1.0,
        "branches_merged": branch_merged,
        "wrong_by_kind": dict(wrong_kinds),
        "per_pattern_recall": {k: round(v[0] / v[1], 3) for k, v in sorted(per_pattern.items()) if v[1] >= 1},
        "per_pattern_pairs": {k: v[1] for k, v in sorted(per_pattern.items())},
        "clusters": len(result.clusters), "warnings": sum(len(c.warnings) for c in result.clusters),
        "compared": result.compared, "seconds": round(seconds, 2),
        "_missed": sorted(set(truth) - found), "_wrong": sorted(wrong),
    }

"""Benchmark: precision and recall of the duplicate matcher on generated company cards, tuning vs held-out.

    .venv/bin/python bench/matching.py [--scale 1.0] [--patterns]

The cards come from ``tests/matching/cardgen.py`` (fixed seeds). The *tuning* split is what the matcher's rules
and weights were fitted on; the *held-out* split draws its company words, surnames and streets from other lists,
uses another seed and variant operators the tuning split never produces (ISO 9 and chat transliteration, typos
in the first letter, two typos, dropped descriptors, glued initials, extensions in phones, …). Precision and
recall are pairwise, after transitive closure of the clusters (a cluster of n cards proposes n·(n−1)/2 pairs);
``auto_precision`` is the precision of the automatic links alone (exact INN + KPP), which must be 1.0.

Prints ONE JSON line: {"heldout": {...}, "tuning": {...}} with precision, recall, auto_precision, cards, pairs,
seconds, and (with --patterns) recall per variant pattern.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.matching.cardgen import generate  # noqa: E402
from tests.matching.evaluate import evaluate  # noqa: E402


def _summary(split: str, scale: float, patterns: bool) -> dict:
    r = evaluate(generate(split, scale=scale))
    r.pop("_missed")
    r.pop("_wrong")
    if not patterns:
        r.pop("per_pattern_recall")
        r.pop("per_pattern_pairs")
    else:  # single-operator patterns only (stacked ones are many and small)
        r["per_pattern_recall"] = {k: v for k, v in r["per_pattern_recall"].items() if "+" not in k}
        r.pop("per_pattern_pairs")
    return r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the number of companies")
    ap.add_argument("--patterns", action="store_true", help="also print recall per variant pattern")
    a = ap.parse_args()
    out = {"heldout": _summary("heldout", a.scale, a.patterns), "tuning": _summary("tuning", a.scale, a.patterns)}
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()

"""Duplicate matching of company cards (pure: no I/O).

``names`` takes a company name apart (legal form, descriptors, places, numbers, a sole trader's initials, a
transliteration-proof skeleton); ``cards`` normalises the rest of the evidence (INN/KPP and their status, E.164
phones, e-mails and corporate domains, street address); ``score`` compares two cards into a decision; ``clusters``
blocks, scores and joins cards into clusters a person reviews, refusing joins that would merge two legal entities.
Used by the go-live deduplication (``flows/initial_load.py``) and by the engine before it creates a record.
"""

from b24sync.matching.cards import Card, make_card
from b24sync.matching.clusters import Cluster, Result, cluster, cluster_pairs
from b24sync.matching.score import Policy, Verdict, compare

__all__ = ["Card", "Cluster", "Policy", "Result", "Verdict", "cluster", "cluster_pairs", "compare", "make_card"]

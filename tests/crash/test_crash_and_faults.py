"""What issue 13 must show: ``b24sync run`` as a subprocess, SIGKILLed at random points ≥ 10 times while ≥ 1,000
records sync, with a fault proxy in front of both sandboxes losing the answer of ≥ 5 % of writes after they were
applied (closed connection, reset, half an answer, HTML 504) in both directions — and at the end every record is
there exactly once with equal fields and nothing is pending. On SQLite and on PostgreSQL (a private schema).

The longer soak is ``bench/crash_soak.py``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.crash.harness import run_world

SEED = int(os.environ.get("B24SYNC_CRASH_SEED", "13"))


@pytest.mark.slow(70)
@pytest.mark.timeout(480)
def test_every_record_lands_exactly_once_under_sigkill_and_lost_answers(tmp_path: Path, store_url: str) -> None:
    rep = run_world(tmp_path, store_url, counterparties=650, products=350, kills=10, lose_rate=0.08, seed=SEED,
                    window=(0.5, 1.6), drain_timeout=300.0)
    summary = (f"{rep.records} records, {rep.kills} kills, {rep.lost_answers}/{rep.writes} write answers lost "
               f"{rep.lost_by_kind} {rep.by_direction}, {rep.seconds:.0f} s; problems: {rep.problems[:3]}")
    print(summary)
    assert rep.kills >= 10, "the sync finished before it could be killed ten times: " + summary
    assert rep.records >= 1000
    assert len(rep.lost_by_kind) == 4, summary
    for direction, (lost, writes) in rep.by_direction.items():  # both directions lose ≥ 5 % of write answers
        assert writes > 0 and lost >= 0.05 * writes, f"{direction}: {lost}/{writes} — {summary}"
    assert rep.duplicates == 0, summary
    assert rep.missing == 0 and rep.unequal == 0, summary
    assert rep.pending == 0 and rep.dead == 0, summary

"""Stages named in the spec are checked against crm.status.list at start (issue 10 governance): unknown → a problem
at its spec line with the nearest stage ids; the entity does not start."""

from __future__ import annotations

from pathlib import Path

from b24sync.engine.names import check_names
from tests.orders.harness import scenario
from tests.orders.test_orders import entities


def test_stage_names_unknown_stage_in_the_spec_is_reported_with_the_nearest_ids(tmp_path: Path) -> None:
    ents = entities(triggers=[{"poll": "1m"}, {"stage_change": {"to": ["FINAL_INVOIC"], "from": ["NEW"]}}],
                    rows={"frozen_at": ["WON", "C7:WON"]})

    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        rep = await check_names(rt, ["order"])
        probs = [p for p in rep.problems["order"] if "stage" in p.what]
        assert sorted(p.what.split("`")[1] for p in probs) == ["C7:WON", "FINAL_INVOIC"], probs
        assert any("FINAL_INVOICE" in p.fix for p in probs)
        assert "order" in rep.broken
        assert probs[0].path[:3] == ("entities", "order", "triggers") or probs[0].path[:3] == ("entities", "order", "rows")

    scenario(steps, tmp_path, ents)


def test_stage_names_known_stages_pass(tmp_path: Path) -> None:
    async def steps(rt, b24, onec, client):  # type: ignore[no-untyped-def]
        rep = await check_names(rt, ["order"])
        assert not [p for p in rep.problems["order"] if "stage" in p.what]

    scenario(steps, tmp_path, entities(rows={"frozen_at": ["WON"]}))

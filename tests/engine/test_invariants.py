"""Tier 3: the engine's invariant checker (native/src/engine_invariants.c). Every reason is
planted and seen counted (and only where it was planted); every shipped scenario holds them all."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from engine_plans import cross_thread_plan, smr_plan

from stresskit.engine import EngineError, run_replica

pytestmark = pytest.mark.tier3

REPO = Path(__file__).resolve().parents[2]
REASONS = ("queue_index", "queue_cell", "ownership_state", "owned_after_drain", "in_flight_not_owned", "limbo_bounds",
           "future_epoch", "grace_cut_short", "books_unbalanced", "unreclaimed_after_drain", "peak_below_current")
# A plant that cannot help tripping a second invariant, and why.
ALSO = {
    "peak_below_current": {"unreclaimed_after_drain"},  # the planted current value is never drained
}
NEEDS_RECLAIM = {"limbo_bounds", "grace_cut_short"}


def test_the_reasons_are_the_engine_s():
    result = run_replica(cross_thread_plan(ops=2_000))
    assert tuple(result.invariants) == REASONS
    assert not any(result.invariants.values()), result.invariants


@pytest.mark.parametrize("reason", REASONS)
def test_each_planted_violation_is_counted_under_its_reason(reason):
    plan = smr_plan(ops=4_000) if reason in NEEDS_RECLAIM else cross_thread_plan(ops=4_000)
    result = run_replica(replace(plan, extra={**plan.extra, "testing_break_invariant": reason}))
    assert result.invariants[reason] >= 1, result.invariants
    unexpected = {k: v for k, v in result.invariants.items() if v and k != reason and k not in ALSO.get(reason, ())}
    assert not unexpected, f"planting {reason} also counted {unexpected}"


def test_an_unknown_reason_is_refused_with_the_known_ones():
    with pytest.raises(EngineError, match="one of queue_index, .*got 'no_such'"):
        run_replica(replace(cross_thread_plan(ops=1_000), extra={"testing_break_invariant": "no_such"}))


@pytest.mark.parametrize("scenario", sorted(p.stem for p in (REPO / "scenarios").glob("*.toml")))
def test_every_shipped_scenario_holds_every_invariant(scenario, tmp_path):
    report = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-c", "from stresskit.cli import main; main()", "run", f"scenarios/{scenario}.toml",
                           "--ops", "20000", "--json", str(report), "-q"], cwd=REPO, capture_output=True, text=True, timeout=240)
    doc = json.loads(report.read_text())
    check = next(t for t in doc["thresholds"] if t.get("name") == "engine_invariants")
    histograms = [w["invariants"] for w in doc["workers"]]
    assert histograms and all(h and not any(h.values()) for h in histograms), histograms
    assert check["ok"] and not check["skipped"], (check, proc.stdout, proc.stderr)

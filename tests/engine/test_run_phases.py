"""The run's wall time in phases (sk_run_phases): start-up, warm-up and the measured window, and
throughput computed over the measured window only (issue 14, item 3)."""

from __future__ import annotations

import dataclasses

import pytest
from engine_plans import cross_thread_plan

from stresskit.engine import run_replica
from stresskit.metrics import aggregate


@pytest.fixture(scope="module")
def warm_run():
    """A long warm-up (200k local alloc/free per producer) before 20k measured blocks."""
    plan = dataclasses.replace(cross_thread_plan(producers=1, consumers=1, ops=20_000), warmup_ops=200_000)
    return run_replica(plan)


@pytest.mark.tier4
def test_phases_split_the_run_and_the_warm_up_is_not_measured(warm_run):
    r = warm_run
    assert r.startup_s >= 0 and r.warmup_s > 0 and r.measured_s > 0
    # the three phases are the run, from sk_run_start to the last finish
    assert r.startup_s + r.warmup_s + r.measured_s == pytest.approx(r.elapsed_s, abs=1e-6)
    # every role's own measured window lies inside the run's
    assert max(x.elapsed_s for x in r.roles) <= r.measured_s + 1e-6


@pytest.mark.tier4
def test_throughput_is_computed_over_the_measured_window(warm_run):
    m = aggregate([warm_run])
    assert m["time.warmup_s"] == pytest.approx(warm_run.warmup_s)
    assert m["throughput.ops_per_s"] == pytest.approx(m["ops.total"] / warm_run.measured_s, rel=1e-9)
    # over the whole run (the old definition) the warm-up would have diluted it
    assert m["throughput.ops_per_s"] > m["ops.total"] / warm_run.elapsed_s

"""What grows with time inside the engine is capped (issue 9.2, docs/scenarios.md#memory): the
reclaim limbo back-pressures instead of freeing early, the series keeps at most SK_SERIES_MAX
points, a duration run's ownership table stops at its tracking limit; and the Python constants
are the engine's."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from pathlib import Path

import pytest

from stresskit import _native
from stresskit.engine import run_replica
from stresskit.plan import QueuePlan, ReplicaPlan, RolePlan, SizeDistribution
from stresskit.planner import limbo_for
from stresskit.scenario import model

pytestmark = pytest.mark.tier4
HEADER = Path(__file__).resolve().parents[2] / "native" / "include" / "sk_engine.h"


def smr(grace_ns: int, limbo: int, **kw) -> ReplicaPlan:
    roles = (
        RolePlan("A", "produce", 1, sizes=SizeDistribution("fixed", (64,)), outbox="p"),
        RolePlan("B", "retire", 1, inbox="p", outbox="r"),
        RolePlan("C", "reclaim", 1, inbox="r", grace_ns=grace_ns, grace_epochs=0, limbo=limbo),
    )
    return ReplicaPlan("caps", 0, 5, roles, (QueuePlan("p", 1024), QueuePlan("r", 1024)), series_interval_ms=20, **kw)


def test_a_60s_grace_over_a_short_run_stays_within_the_limbo_cap_and_frees_nothing_early():
    plan = smr(60 * 10**9, 0, ops=None, duration_s=0.5)  # limbo 0: the engine derives 4 x 1024
    t0 = time.monotonic()
    result = run_replica(plan)
    took = time.monotonic() - t0
    cap = limbo_for(plan.roles[2], 1024)
    assert cap == 4096
    assert took < 5, f"{took:.1f} s: the end of the run waited for the grace"
    assert result.stop_reason == "duration"
    # retired and not yet freed: the retire list, the limbo, the retirer's pending block
    assert 0 < result.unreclaimed_peak_blocks <= cap + 1024 + 1, result.unreclaimed_peak_blocks
    reclaim = result.roles[2]
    assert reclaim.min_age_at_free_ns is None or reclaim.min_age_at_free_ns >= 60 * 10**9
    assert result.roles[1].full_retries > 0, "the retirer was held back, not the grace cut short"
    assert result.blocks_reaped > 0 and result.blocks_leaked == 0 and result.canary_failures == 0


def test_a_full_limbo_back_pressures_and_every_free_still_honours_the_grace():
    grace = 20_000_000  # 20 ms: 256 slots let through about 12 800 blocks/s
    result = run_replica(smr(grace, 256, ops=6_000))
    reclaim = result.roles[2]
    assert result.stop_reason == "completed"
    assert reclaim.retired_blocks == 6_000 and result.blocks_reaped == 0
    assert reclaim.min_age_at_free_ns >= grace
    assert result.unreclaimed_peak_blocks <= 256 + 1024 + 1, result.unreclaimed_peak_blocks
    assert result.roles[1].full_retries > 0
    assert result.blocks_leaked == 0 and result.canary_failures == 0 and result.double_handoffs == 0


def test_the_series_keeps_at_most_its_cap_and_always_the_latest_sample():
    ffi, lib = _native.ffi(), _native.lib()
    run = lib.sk_run_create(1, 1)
    try:
        lib.sk_run_start(run)
        calls = 3 * model.SERIES_MAX_POINTS + 77
        for _ in range(calls):
            lib.sk_run_sample(run)
        n = lib.sk_run_series(run, ffi.NULL, ffi.NULL, ffi.NULL, 0)
        ts = ffi.new(f"uint64_t[{n}]")
        lib.sk_run_sample(run)  # the very last sample must be the last point
        n2 = lib.sk_run_series(run, ts, ffi.NULL, ffi.NULL, n)
        assert model.SERIES_MAX_POINTS // 2 <= n <= model.SERIES_MAX_POINTS
        assert n2 in (n, n + 1)
        t = [ts[i] for i in range(min(n, n2))]
        assert t == sorted(t)
    finally:
        lib.sk_run_destroy(run)


def test_a_duration_run_stops_at_its_tracking_limit_as_exhausted():
    roles = (RolePlan("P", "produce", 1, outbox="q"), RolePlan("C", "consume", 1, inbox="q"))
    plan = ReplicaPlan("caps", 0, 3, roles, (QueuePlan("q", 1024),), ops=None, duration_s=5.0, tracked_max=100_000)
    t0 = time.monotonic()
    result = run_replica(plan)
    assert time.monotonic() - t0 < 4, "the producer should have stopped at its limit, long before the duration"
    assert result.stop_reason == "exhausted"
    assert result.roles[0].allocs <= 2 * 65536  # the limit rounded up to whole chunks
    assert result.blocks_leaked == 0
    assert replace(plan, tracked_max=None).tracked_max is None


def _header_enum(name: str) -> int:
    text = HEADER.read_text()
    m = re.search(rf"\b{name}\s*=\s*([^,/\n]+)", text)
    assert m, name
    return int(eval(m.group(1).strip(), {}))  # noqa: S307 - integer literals and shifts of our own header


@pytest.mark.parametrize(("py", "c"), [
    ("MAX_BATCH", "SK_MAX_BATCH"), ("MAX_CALLOC_COUNT", "SK_MAX_CALLOC_COUNT"), ("MIN_LIMBO", "SK_MIN_LIMBO"),
    ("MAX_LIMBO", "SK_MAX_LIMBO"), ("SERIES_MAX_POINTS", "SK_SERIES_MAX"), ("OOM_MAX_LEDGER", "SK_OOM_MAX_LEDGER"),
    ("MAX_LIVE_SET", "SK_MAX_LIVE_SET"), ("MAX_WRITES", "SK_MAX_WRITES"),
])
def test_the_schema_bounds_are_the_engines(py: str, c: str):
    assert getattr(model, py) == _header_enum(c)


def test_the_limits_table_in_the_docs_is_generated_from_the_code():
    from stresskit.scenario.limits import limits_markdown, splice

    doc = (HEADER.parents[2] / "docs" / "scenarios.md").read_text()
    assert limits_markdown() in doc, "regenerate: python -m stresskit.scenario.limits --write"
    assert splice(doc) == doc

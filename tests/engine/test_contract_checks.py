"""The engine's own checks of the glue: per-block contract checks, contract-edge probes, the
glue's books against the engine's ledger, mimalloc's view of what is left after the drain,
random latency sampling and stop reasons. Each check is shown to bite on a planted bug (an engine
test hook here; glue mutants in tests/mutation) and to stay quiet on the real glue."""

from __future__ import annotations

import pytest

from stresskit.checks import glue_books
from stresskit.engine import run_replica
from stresskit.plan import QueuePlan, ReplicaPlan, RolePlan, SizeDistribution
from stresskit.results import CONTRACT_VIOLATIONS as VIOLATIONS


def _alloc_free(kind: str, alignment: int, stats: bool, **role) -> ReplicaPlan:
    return ReplicaPlan(
        scenario="t", replica=0, seed=9,
        roles=(RolePlan("r", "alloc_free", 2, sizes=SizeDistribution("uniform", (1, 700)), alloc_kind=kind,
                        alignment=alignment, edge_probe_every=37, **role),),
        ops=40_000, stats=stats,
    )


@pytest.mark.tier4
@pytest.mark.parametrize(("kind", "alignment", "extra"), [
    ("plain", 0, {}), ("calloc", 0, {"calloc_count_max": 9}), ("aligned", 512, {}), ("node", 0, {}),
])
@pytest.mark.parametrize("stats", [True, False])
def test_real_glue_keeps_every_contract(kind, alignment, extra, stats):
    result = run_replica(_alloc_free(kind, alignment, stats, **extra))
    assert result.stop_reason == "completed"
    assert {c: result.checks[c] for c in VIOLATIONS} == dict.fromkeys(VIOLATIONS, 0)
    assert result.checks["probes"] >= 40_000 // 37 - 2  # every probe kind ran, on both threads
    assert result.checks["mimalloc_leaked_blocks"] == 0
    assert result.stats_mismatches == []
    assert result.stats_enabled is stats
    if stats:  # the books balance exactly, and the probes' failures were counted as failures
        assert result.glue_stats == glue_books.expected_from_ledger(result.checks)
        assert result.glue_stats["failed_count"] == result.checks["enomem_nulls"] > 0


@pytest.mark.tier4
@pytest.mark.parametrize("stats", [True, False])
def test_a_leak_the_books_cannot_see_is_found_in_mimalloc(stats):
    """The hook drops blocks the engine then counts as freed: the engine's books (and the glue's)
    balance, mimalloc's view does not."""
    plan = ReplicaPlan(
        scenario="t", replica=0, seed=4,
        roles=(RolePlan("p", "produce", 2, sizes=SizeDistribution("choice", (24, 64, 3000)), outbox="q"),
               RolePlan("c", "consume", 2, inbox="q")),
        queues=(QueuePlan("q", 256),), ops=20_000, stats=stats, extra={"testing_leak_blocks": 7},
    )
    result = run_replica(plan)
    assert result.blocks_leaked == 0  # what the engine believes
    assert result.checks["mimalloc_leaked_blocks"] == 7
    assert result.checks["mimalloc_leaked_bytes"] >= 7 * 24


@pytest.mark.tier4
def test_leaks_of_an_earlier_run_in_the_same_process_are_not_counted_again():
    run_replica(ReplicaPlan("t", 0, 1, (RolePlan("r", "alloc_free", 1),), ops=5_000, extra={"testing_leak_blocks": 3}))
    clean = run_replica(ReplicaPlan("t", 0, 2, (RolePlan("r", "alloc_free", 1),), ops=5_000))
    assert clean.checks["mimalloc_leaked_blocks"] == 0


@pytest.mark.tier4
def test_glue_books_mismatch_is_named(native):
    """A counter bumped behind the engine's back (the glue's testing hook) shows as a mismatch."""
    _, lib = native
    bumped = []

    def progress(done, target):
        if not bumped:
            lib.cc_alloc_stats_testing_bump(1)  # +1 on every counter of this thread's record
            bumped.append(True)

    plan = ReplicaPlan("t", 0, 3, (RolePlan("r", "alloc_free", 1),), ops=200_000, series_interval_ms=1)
    result = run_replica(plan, progress=progress)
    assert bumped
    names = " ".join(result.stats_mismatches)
    for field in ("alloc_count", "free_count", "alloc_bytes", "free_bytes", "failed_count"):
        assert f"glue {field} = " in names, result.stats_mismatches


@pytest.mark.tier1
def test_glue_books_compare_names_each_field():
    ledger = {"allocs": 10, "frees": 10, "usable_allocated": 640, "usable_freed": 640, "enomem_nulls": 2}
    good = glue_books.expected_from_ledger(ledger)
    assert glue_books.compare(good, ledger) == []
    bad = {**good, "alloc_bytes": 600, "current_allocated": (600 - 640) % 2**64}
    lines = glue_books.compare(bad, ledger)
    assert [line.split(" =")[0] for line in lines] == ["glue alloc_bytes", "glue current_allocated"]


@pytest.mark.tier4
@pytest.mark.parametrize("batch", [1, 16, 32, 64, 65536])
def test_latency_sampling_never_aliases_with_the_batch(batch):
    """A fixed stride of 64 over alternating alloc/free batches timed only one kind for some batch
    sizes; random gaps time both, at about the asked rate."""
    ops = 131_072
    plan = ReplicaPlan("t", 0, 5, (RolePlan("r", "alloc_free", 1, batch=batch),), ops=ops, latency_sample_every=64)
    role = run_replica(plan).roles[0]
    for op in ("alloc", "free"):
        assert abs(role.latency[op].count - ops / 64) < 0.15 * ops / 64, (op, role.latency[op].count)


@pytest.mark.tier4
def test_timer_overhead_is_calibrated_and_reported():
    result = run_replica(ReplicaPlan("t", 0, 5, (RolePlan("r", "alloc_free", 1),), ops=1_000))
    assert 0 < result.timer_overhead_ns < 10_000


@pytest.mark.tier4
def test_a_run_cut_by_its_deadline_says_so():
    plan = ReplicaPlan("t", 0, 5, (RolePlan("r", "alloc_free", 1),), ops=10, warmup_ops=10**11, deadline_s=2.0)
    result = run_replica(plan)
    assert result.stop_reason == "deadline"
    assert sum(r.ops for r in result.roles) == 0

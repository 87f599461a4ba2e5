"""Planted faults are detected and counted, never silent: a damaged block at free (canary) and a
block handed off twice (ownership table). Both through run_replica's test hooks and through the
C API directly."""

from __future__ import annotations

import threading

import pytest
from engine_plans import cross_thread_plan, smr_plan

from stresskit.engine import run_replica
from stresskit.plan import ReplicaPlan, RolePlan, SizeDistribution


@pytest.mark.tier4
def test_planted_corruption_is_counted_in_cross_thread_free():
    result = run_replica(cross_thread_plan(ops=20_000, testing_corrupt_blocks=5))
    assert result.roles[1].canary_failures == 5
    assert result.canary_failures == 5
    assert result.blocks_leaked == 0, "a damaged block is still freed"
    assert result.double_handoffs == 0


@pytest.mark.tier4
@pytest.mark.parametrize("size", [16, 24, 100, 5000, 100_000])
def test_planted_corruption_is_counted_for_every_block_size(size):
    """16 bytes: the flip lands in the header; 5000 / 100000: in the tail pattern of a large block."""
    plan = ReplicaPlan(scenario="t", replica=0, seed=5, roles=(
        RolePlan("p", "alloc_free", 1, sizes=SizeDistribution("fixed", (size,)), batch=8),),
        ops=400, extra={"testing_corrupt_blocks": 3})
    result = run_replica(plan)
    assert result.canary_failures == 3
    assert result.blocks_leaked == 0


@pytest.mark.tier4
def test_planted_double_handoff_is_counted_and_not_freed_twice():
    result = run_replica(cross_thread_plan(ops=20_000, testing_double_handoffs=4))
    prod, cons = result.roles
    assert cons.double_handoffs == 4
    assert cons.frees == 20_000, "only the first copy of each duplicated block was freed"
    assert result.blocks_leaked == 0
    assert result.canary_failures == 0
    assert result.glue_stats["free_count"] == result.glue_stats["alloc_count"]


@pytest.mark.tier4
def test_double_handoff_into_smr_is_caught_by_the_retirer():
    result = run_replica(smr_plan(ops=5_000, grace_ns=0, extra={"testing_double_handoffs": 3}))
    a, b, c = result.roles
    # The hook duplicates the next pushes, by whichever pushing role gets there first: a duplicate
    # from A is caught by the retirer, one from B by the reclaimer. Each is counted once.
    assert b.double_handoffs + c.double_handoffs == 3
    assert c.frees == 5_000
    assert result.blocks_leaked == 0 and result.canary_failures == 0


@pytest.mark.tier4
def test_c_api_detects_both_faults_with_threads_overlapping(native):
    """The engine driven through its C API alone: 2 producers, 2 consumers, faults planted."""
    ffi, lib = native
    run = lib.sk_run_create(99, 1)
    try:
        q = lib.sk_run_add_queue(run, 32)
        prod = ffi.new("sk_role_config_t *", {"action": lib.SK_ACT_PRODUCE, "kind": 0, "threads": 2,
                                              "inbox": -1, "outbox": q, "batch": 16, "size_kind": 0,
                                              "size_count": 1})
        prod.size_values[0] = 64
        cons = ffi.new("sk_role_config_t *", {"action": lib.SK_ACT_CONSUME, "threads": 2, "inbox": q,
                                              "outbox": -1, "batch": 16, "size_kind": 0, "size_count": 1})
        cons.size_values[0] = 64
        assert lib.sk_run_add_role(run, prod) == 0
        assert lib.sk_run_add_role(run, cons) == 1
        assert lib.sk_role_step(run, 0, 0, 1000) == -1, "stepping before sk_run_prepare is refused"
        assert lib.sk_run_prepare(run, 10_000, 0) == 0
        lib.sk_engine_testing_corrupt_next(run, 2)
        lib.sk_engine_testing_double_handoff_next(run, 2)
        lib.sk_run_start(run)

        def drive(role, index):
            while lib.sk_role_step(run, role, index, 5_000_000) == 0:
                pass

        threads = [threading.Thread(target=drive, args=(r, i)) for r in (0, 1) for i in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        lib.sk_run_drain(run)
        stats = ffi.new("sk_role_stats_t *")
        assert lib.sk_run_role_stats(run, 1, stats) == 0
        assert stats.canary_failures == 2
        assert stats.double_handoffs == 2
        assert stats.frees == 10_000
        assert stats.max_threads_inside == 2
        totals = ffi.new("sk_run_totals_t *")
        lib.sk_run_totals(run, totals)
        assert totals.blocks_allocated == totals.blocks_freed == 10_000
        assert totals.max_threads_inside == 4, "all four threads meet at the native start line"
        assert totals.serials_used == 10_000
        assert lib.sk_role_step(run, 5, 0, 1) == -1 and lib.sk_role_step(run, 0, 9, 1) == -1
    finally:
        lib.sk_run_destroy(run)

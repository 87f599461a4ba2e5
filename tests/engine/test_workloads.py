"""Tier 3: the canonical-workload behaviours of the engine (native/src/engine_workloads.c) really
happen, from the threads they should, and the built-in checks and the invariant checker still
hold over them: rewrites before the free (writes), live sets replaced at random (live_set),
live sets handed to the next thread (handover_every), log-uniform sizes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from stresskit.engine import run_replica
from stresskit.plan import QueuePlan, ReplicaPlan, RolePlan, SizeDistribution

pytestmark = pytest.mark.tier3

LIVE_SET, HANDOVER_EVERY, OPS = 64, 500, 20_000


def live_set_plan(*, threads: int = 2, handover_every: int = HANDOVER_EVERY, writes: int = 0, ops: int = OPS,
                  sizes: SizeDistribution = SizeDistribution("uniform", (10, 500)), **extra) -> ReplicaPlan:
    return ReplicaPlan(
        scenario="test-live-set", replica=0, seed=21,
        roles=(RolePlan("server", "alloc_free", threads, sizes=sizes, live_set=LIVE_SET,
                        handover_every=handover_every, writes=writes),),
        ops=ops, latency_sample_every=8, extra=dict(extra),
    )


def scratch_plan(*, writes: int = 7, ops: int = 4_000) -> ReplicaPlan:
    return ReplicaPlan(
        scenario="test-scratch", replica=0, seed=22,
        roles=(RolePlan("handout", "produce", 1, sizes=SizeDistribution("fixed", (8,)), outbox="q"),
               RolePlan("scratcher", "consume", 2, inbox="q", writes=writes),
               RolePlan("local", "alloc_free", 1, sizes=SizeDistribution("fixed", (8,)), batch=1, writes=writes)),
        queues=(QueuePlan("q", 256),),
        ops=ops, latency_sample_every=8,
    )


def clean(result) -> None:
    assert result.stop_reason == "completed", result.stop_reason
    assert result.blocks_leaked == 0 and result.canary_failures == 0 and result.double_handoffs == 0
    assert result.checks["mimalloc_leaked_blocks"] == 0
    assert not any(result.invariants.values()), result.invariants


@pytest.fixture(scope="module")
def handed_over():
    return run_replica(live_set_plan())


@pytest.fixture(scope="module")
def scratch():
    return run_replica(scratch_plan())


def test_live_sets_are_handed_to_the_next_thread_and_freed_there(handed_over):
    clean(handed_over)
    role = handed_over.roles[0]
    # each thread's quota is 10 000 ops: a hand-over after ops 500, 1000, ..., 9500 (none at the end)
    assert role.handovers == 2 * (OPS // 2 // HANDOVER_EVERY - 1)
    assert LIVE_SET * role.handovers >= role.handover_blocks > (LIVE_SET // 2) * role.handovers
    # the blocks of a handed-over set are freed by a thread that did not allocate them
    assert role.foreign_frees >= role.handover_blocks // 2 > 0
    assert role.max_threads_inside == 2  # the two threads really ran at once


def test_without_hand_overs_every_block_dies_in_its_thread():
    result = run_replica(live_set_plan(handover_every=0))
    clean(result)
    role = result.roles[0]
    assert role.handovers == role.handover_blocks == role.foreign_frees == 0
    assert role.allocs == role.frees == OPS  # the set is emptied by its own thread at the end


def test_one_thread_hands_its_set_to_itself():
    result = run_replica(live_set_plan(threads=1, ops=5_000))
    clean(result)
    assert result.roles[0].handovers == 5_000 // HANDOVER_EVERY - 1
    assert result.roles[0].foreign_frees == 0


def test_a_set_handed_over_twice_is_caught_by_the_ownership_check():
    result = run_replica(live_set_plan(testing_double_handoffs=1))
    role = result.roles[0]
    # the hook keeps a copy of one set: each of its blocks is freed by one thread, refused to the other
    assert 0 < role.double_handoffs <= LIVE_SET
    assert result.canary_failures == 0 and result.blocks_leaked == 0
    assert result.checks["mimalloc_leaked_blocks"] == 0  # nothing was really freed twice


def test_the_invariant_checker_looks_into_live_sets():
    result = run_replica(live_set_plan(ops=4_000, testing_break_invariant="in_flight_not_owned"))
    assert result.invariants["in_flight_not_owned"] == 1, result.invariants
    assert not {k: v for k, v in result.invariants.items() if v and k != "in_flight_not_owned"}


def test_handed_blocks_are_rewritten_by_the_other_thread(scratch):
    clean(scratch)
    by = {r.name: r for r in scratch.roles}
    assert by["scratcher"].writes == 7 * by["scratcher"].frees > 0
    assert by["scratcher"].foreign_writes == by["scratcher"].writes
    assert by["local"].writes == 7 * by["local"].frees > 0
    assert by["local"].foreign_writes == 0
    assert scratch.max_threads_inside >= 2


def test_a_rewrite_that_damages_the_block_is_a_canary_failure(scratch):
    # the rewrite happens before verification, so a byte flipped then is found at the free
    result = run_replica(replace(scratch_plan(), extra={"testing_corrupt_blocks": 3, "testing_corrupt_role": "scratcher"}))
    assert result.canary_failures == 3
    assert scratch.canary_failures == 0


def test_loguniform_sizes_weigh_each_power_of_two_class_alike():
    lo, hi = 16, 1 << 16
    result = run_replica(ReplicaPlan(
        scenario="test-loguniform", replica=0, seed=23,
        roles=(RolePlan("a", "alloc_free", 1, sizes=SizeDistribution("loguniform", (lo, hi))),), ops=40_000,
    ))
    clean(result)
    classes = [(max(1 << k, lo), min((2 << k) - 1, hi)) for k in range(lo.bit_length() - 1, hi.bit_length())]
    expected = sum((a + b) / 2 for a, b in classes) / len(classes)
    mean = result.bytes_allocated / result.blocks_allocated
    assert abs(mean - expected) < 0.06 * expected, (mean, expected)
    assert mean < 0.6 * (lo + hi) / 2  # far below a uniform draw's mean: weighted towards small sizes


def test_an_aborted_run_s_live_sets_are_freed_by_the_drain_and_named():
    # cut short by the deadline: every thread's set (held or in a mailbox) is left to the drain
    result = run_replica(replace(live_set_plan(ops=10**9), deadline_s=1.5))
    assert result.stop_reason == "deadline"
    assert result.blocks_leaked == 0 and result.checks["mimalloc_leaked_blocks"] == 0
    assert not any(result.invariants.values()), result.invariants
    assert 0 < result.blocks_reaped <= 2 * 2 * LIVE_SET  # two sets per thread at most (its own, its mailbox's)
    where = result.diagnostics["leaks"]["in_flight_at_stop"]["where"]
    assert {w["kind"] for w in where} == {"live_set"}, where
    assert sum(w["blocks"] for w in where) == result.blocks_reaped


@pytest.mark.parametrize(("action", "fields", "accepted"), [
    ("SK_ACT_ALLOC_FREE", {"writes": 3, "live_set": 8, "handover_every": 100}, True),
    ("SK_ACT_CONSUME", {"writes": 3}, True),
    ("SK_ACT_PRODUCE", {"writes": 3}, False),  # a producer frees nothing: nothing to rewrite before a free
    ("SK_ACT_CONSUME", {"live_set": 8}, False),
    ("SK_ACT_ALLOC_FREE", {"handover_every": 100}, False),  # no set to hand over
    ("SK_ACT_ALLOC_FREE", {"live_set": (1 << 20) + 1}, False),
    ("SK_ACT_ALLOC_FREE", {"writes": (1 << 16) + 1}, False),
    ("SK_ACT_ALLOC_FREE", {"size_kind": 3, "size_count": 2, "values": (64, 16)}, False),  # loguniform min > max
    ("SK_ACT_ALLOC_FREE", {"size_kind": 3, "size_count": 2, "values": (16, 64)}, True),
])
def test_the_engine_refuses_inconsistent_workload_keys(native, action, fields, accepted):
    ffi, lib = native
    run = lib.sk_run_create(1, 1)
    try:
        queue = lib.sk_run_add_queue(run, 16)
        cfg = ffi.new("sk_role_config_t *", {"action": getattr(lib, action), "threads": 1, "batch": 1, "size_count": 1,
                                             "inbox": queue if action == "SK_ACT_CONSUME" else -1,
                                             "outbox": queue if action == "SK_ACT_PRODUCE" else -1})
        values = fields.pop("values", (64,))
        for i, v in enumerate(values):
            cfg.size_values[i] = v
        for key, value in fields.items():
            setattr(cfg, key, value)
        assert (lib.sk_run_add_role(run, cfg) >= 0) is accepted
    finally:
        lib.sk_run_destroy(run)


@pytest.mark.parametrize("seed", range(5))
def test_uneven_rounds_leave_no_set_to_the_drain(seed):
    # quotas 1001, 1000, 1000, 1000: thread 0 hands its set over at op 1000, to a thread that is
    # finishing at that very op without taking it; one of the two must free it, not the drain
    result = run_replica(replace(live_set_plan(threads=4, ops=4_001, handover_every=1_000), seed=seed))
    clean(result)
    assert result.blocks_reaped == 0
    assert result.roles[0].allocs == result.roles[0].frees

"""run_replica end to end: each action runs in native code on several threads at once and
reports consistent numbers with nothing leaked and nothing damaged."""

from __future__ import annotations

import threading

import pytest
from engine_plans import cross_thread_plan, smr_plan

from stresskit.engine import EngineError, run_replica
from stresskit.plan import QueuePlan, ReplicaPlan, RolePlan, SizeDistribution


def assert_sound(result):
    """No leak, no damage, engine and glue accounting agree."""
    assert result.blocks_leaked == 0
    assert result.bytes_leaked == 0
    assert result.canary_failures == 0
    assert result.double_handoffs == 0
    assert all(r.canary_failures == 0 and r.double_handoffs == 0 for r in result.roles)
    assert result.blocks_allocated == result.blocks_freed > 0
    g = result.glue_stats
    assert g["alloc_count"] == result.blocks_allocated
    assert g["free_count"] == result.blocks_freed
    assert g["current_allocated"] == 0
    assert g["alloc_bytes"] >= result.bytes_allocated  # usable sizes >= requested


@pytest.mark.tier4
@pytest.mark.parametrize(
    ("kind", "alignment", "free_mode", "sizes"),
    [
        ("plain", 0, "sized", SizeDistribution("uniform", (1, 300))),
        ("calloc", 0, "unsized", SizeDistribution("choice", (16, 4096, 9000))),
        ("aligned", 256, "sized", SizeDistribution("fixed", (40,))),
        ("node", 0, "unsized", SizeDistribution("choice", (24, 100), (3.0, 1.0))),
    ],
)
def test_alloc_free_parallel(kind, alignment, free_mode, sizes):
    plan = ReplicaPlan(
        scenario="t", replica=0, seed=3,
        roles=(RolePlan("par", "alloc_free", 2, sizes=sizes, alloc_kind=kind, alignment=alignment,
                        free_mode=free_mode, batch=32),),
        ops=60_000, warmup_ops=100, latency_sample_every=4,
    )
    result = run_replica(plan)
    assert_sound(result)
    (role,) = result.roles
    assert role.ops == 60_000
    assert role.allocs == role.frees == 60_000 + 2 * 100  # warm-up allocates too, untimed
    assert role.warmup_ops == 200
    assert role.elapsed_s > 0
    assert role.max_threads_inside == 2, "the two threads never ran native chunks at the same time"
    # one op in 4 is timed, at random: about 15 000 of each kind (sd ~90), never one kind only
    for op in ("alloc", "free"):
        assert abs(role.latency[op].count - 60_000 // 4) < 750, (op, role.latency[op].count)
    assert 0 < role.latency["alloc"].p50_ns <= role.latency["alloc"].p99_ns <= role.latency["alloc"].max_ns


@pytest.mark.tier4
def test_cross_thread_free_through_a_small_queue():
    result = run_replica(cross_thread_plan(ops=50_000, capacity=16))
    assert_sound(result)
    prod, cons = result.roles
    assert prod.ops == prod.allocs == 50_000
    assert cons.ops == cons.frees == 50_000
    assert prod.bytes_allocated == cons.bytes_freed
    assert prod.max_threads_inside == 2 and cons.max_threads_inside == 2
    assert result.max_threads_inside >= 3
    assert prod.latency["handoff"].count > 0 and cons.latency["free"].count > 0
    # every sampled allocation's block is freed by a consumer, which records its lifetime
    assert cons.latency["lifetime"].count == prod.latency["alloc"].count > 0
    assert result.stop_reason == "completed"


@pytest.mark.tier4
def test_many_threads_share_two_cores():
    """16 producers and 16 consumers on a 2-core machine: back-off must keep everyone moving."""
    result = run_replica(cross_thread_plan(producers=16, consumers=16, capacity=64, ops=64_000))
    assert_sound(result)
    prod, cons = result.roles
    assert cons.frees == 64_000
    assert prod.max_threads_inside >= 2 and cons.max_threads_inside >= 2


@pytest.mark.tier4
def test_smr_frees_only_after_the_grace():
    grace_ns, grace_epochs = 300_000, 3
    result = run_replica(smr_plan(grace_ns=grace_ns, grace_epochs=grace_epochs, ops=20_000, threads=2))
    assert_sound(result)
    a, b, c = result.roles
    assert a.allocs == b.retired_blocks == c.retired_blocks == c.frees == 20_000
    assert c.min_age_at_free_ns is not None and c.min_age_at_free_ns >= grace_ns
    assert c.min_epochs_at_free is not None and c.min_epochs_at_free >= grace_epochs
    life = c.latency["lifetime"]
    assert life.count > 0
    assert life.p50_ns >= grace_ns * 15 / 16, "a block lives at least its grace (bucket error <= 1/16)"
    assert result.epochs > 20_000 // 32 // 2  # the retirers advanced it
    assert result.unreclaimed_peak_blocks > 0 and result.unreclaimed_peak_bytes > 0
    assert 0 < result.unreclaimed_avg_bytes <= result.unreclaimed_peak_bytes
    # exact integral: each of the 20000 blocks stayed unreclaimed for at least grace_ns
    assert result.unreclaimed_avg_blocks * result.elapsed_s >= 20_000 * grace_ns / 1e9
    assert result.unreclaimed_avg_blocks <= result.unreclaimed_peak_blocks
    series = result.unreclaimed_series
    assert len(series) >= 2
    assert all(t1 >= t0 for (t0, _, _), (t1, _, _) in zip(series, series[1:]))
    assert series[-1][1:] == (0, 0), "everything retired was reclaimed by the end"
    assert max(b for _, _, b in series) <= result.unreclaimed_peak_bytes


@pytest.mark.tier4
def test_reclaimers_advance_the_epoch_when_retirers_do_not():
    """epoch_every=0: only idle reclaimers move the epoch; the run must still finish."""
    base = smr_plan(ops=2_000, grace_epochs=2, grace_ns=0)
    roles = (base.roles[0], RolePlan("B", "retire", 1, inbox="published", outbox="retired", epoch_every=0), base.roles[2])
    result = run_replica(ReplicaPlan(**{**base.__dict__, "roles": roles}))
    assert_sound(result)
    assert result.roles[2].min_epochs_at_free >= 2


@pytest.mark.tier4
def test_duration_bounds_the_run_and_still_drains():
    plan = ReplicaPlan(**{**cross_thread_plan().__dict__, "ops": None, "duration_s": 0.3})
    result = run_replica(plan)
    assert_sound(result)
    assert result.stop_reason == "duration"
    assert result.roles[0].ops > 0
    assert result.blocks_reaped == 0, "a graceful stop drains through the consumers"


@pytest.mark.tier4
def test_stop_event_and_progress():
    stop = threading.Event()
    seen = []

    def progress(done, target):
        seen.append((done, target))
        if len(seen) == 3:
            stop.set()

    plan = ReplicaPlan(**{**smr_plan().__dict__, "ops": 10**9, "series_interval_ms": 10})
    result = run_replica(plan, progress=progress, stop_event=stop)
    assert_sound(result)
    assert result.stop_reason == "interrupted"
    assert all(t == 10**9 for _, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert seen[-1][0] == result.roles[0].ops


@pytest.mark.tier4
def test_deadline_aborts_and_the_engine_reaps_what_was_in_flight():
    base = smr_plan(grace_ns=50_000_000)  # 50 ms grace: blocks are waiting when the abort comes
    plan = ReplicaPlan(**{**base.__dict__, "ops": None, "deadline_s": 1.0})
    result = run_replica(plan)
    assert result.stop_reason == "deadline"
    assert result.blocks_reaped > 0
    assert result.blocks_leaked == 0 and result.bytes_leaked == 0
    assert result.canary_failures == 0 and result.double_handoffs == 0


@pytest.mark.tier4
def test_interrupt_releases_everything():
    before = threading.active_count()

    def progress(done, target):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_replica(cross_thread_plan(ops=10**9), progress=progress)
    assert threading.active_count() == before, "role threads outlived the interrupted run"
    assert_sound(run_replica(cross_thread_plan(ops=1_000)))  # the engine is usable again


@pytest.mark.tier4
def test_sizes_are_deterministic_per_seed():
    def bytes_for(seed):
        plan = ReplicaPlan(scenario="t", replica=0, seed=seed, roles=(
            RolePlan("p", "alloc_free", 2, sizes=SizeDistribution("uniform", (16, 10_000))),), ops=5_000)
        return run_replica(plan).bytes_allocated

    assert bytes_for(1) == bytes_for(1)
    assert bytes_for(1) != bytes_for(2)


@pytest.mark.tier1
@pytest.mark.parametrize(
    ("roles", "queues", "needle"),
    [
        ((RolePlan("p", "produce", 1, outbox="nowhere"),), (), "'nowhere' is not a declared queue"),
        ((RolePlan("p", "produce", 1, outbox="q"),), (QueuePlan("q", 100),), "power of two"),
        ((RolePlan("r", "retire", 1, inbox="q"),), (QueuePlan("q", 8),), "needs an inbox and a different outbox"),
        ((RolePlan("p", "alloc_free", 1, batch=0),), (), "role 'p'"),
        ((RolePlan("p", "alloc_free", 1, alloc_kind="aligned", alignment=24),), (), "power-of-two alignment"),
        ((RolePlan("o", "oom", 1),), (), "memory_limit_bytes > 0"),
    ],
)
def test_plans_the_engine_cannot_run_are_rejected_with_a_reason(roles, queues, needle):
    plan = ReplicaPlan(scenario="t", replica=0, seed=0, roles=roles, queues=queues, ops=10)
    with pytest.raises(EngineError, match=needle):
        run_replica(plan)


@pytest.mark.tier1
def test_zero_ops_is_rejected_not_run_forever():
    plan = ReplicaPlan(scenario="t", replica=0, seed=0, roles=(RolePlan("p", "alloc_free", 1),), ops=0)
    with pytest.raises(EngineError, match="ops"):
        run_replica(plan)


@pytest.mark.tier1
def test_worker_environment_only_for_rlimit_oom_plans():
    """The exclusive-arena bound needs nothing from the environment; RLIMIT_AS counts reserved
    address space, so its workers start with a small MIMALLOC_ARENA_RESERVE."""
    from stresskit.engine import OOM_WORKER_ENV, worker_environment

    roles = (RolePlan("o", "oom", 1, memory_limit_bytes=1 << 26),)
    arena = ReplicaPlan(scenario="t", replica=0, seed=0, roles=roles)
    rlimit = ReplicaPlan(scenario="t", replica=0, seed=0, roles=roles, extra={"oom_mechanism": "rlimit-as"})
    assert worker_environment(arena) == {}
    assert worker_environment(rlimit) == OOM_WORKER_ENV and "MIMALLOC_ARENA_RESERVE" in OOM_WORKER_ENV
    assert worker_environment(cross_thread_plan()) == {}

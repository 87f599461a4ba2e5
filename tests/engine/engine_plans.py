"""Plan builders shared by the engine tests."""

from __future__ import annotations

from stresskit.plan import QueuePlan, ReplicaPlan, RolePlan, SizeDistribution


def cross_thread_plan(*, producers=2, consumers=2, capacity=64, ops=40_000, seed=7, **extra) -> ReplicaPlan:
    return ReplicaPlan(
        scenario="test-cross-thread",
        replica=0,
        seed=seed,
        roles=(
            RolePlan("producer", "produce", producers, sizes=SizeDistribution("uniform", (8, 512)), outbox="q"),
            RolePlan("consumer", "consume", consumers, inbox="q", free_mode="unsized"),
        ),
        queues=(QueuePlan("q", capacity),),
        ops=ops,
        latency_sample_every=8,
        extra=dict(extra),
    )


def smr_plan(*, grace_ns=200_000, grace_epochs=2, ops=30_000, seed=11, threads=1, **kw) -> ReplicaPlan:
    return ReplicaPlan(
        scenario="test-smr",
        replica=0,
        seed=seed,
        roles=(
            RolePlan("A", "produce", threads, sizes=SizeDistribution("choice", (16, 48, 64, 200), (4, 2, 2, 1)),
                     alloc_kind="node", outbox="published"),
            RolePlan("B", "retire", threads, inbox="published", outbox="retired", epoch_every=32),
            RolePlan("C", "reclaim", threads, inbox="retired", grace_epochs=grace_epochs, grace_ns=grace_ns, batch=32),
        ),
        queues=(QueuePlan("published", 256), QueuePlan("retired", 256)),
        ops=ops,
        series_interval_ms=5,
        **kw,
    )

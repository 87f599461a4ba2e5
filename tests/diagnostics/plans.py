"""Plans for the diagnostics tests. Roles of one thread each where a test must know the culprit:
each producing role has its own block size, so a block's size says which thread allocated it and
a report naming another thread is wrong."""

from __future__ import annotations

from stresskit.plan import QueuePlan, ReplicaPlan, RolePlan, SizeDistribution

SMALL, BIG = 100, 3000  # sizes of the two producers of two_producers()


def two_producers(*, ops: int = 20_000, consumers: int = 2, capacity: int = 64, **extra) -> ReplicaPlan:
    return ReplicaPlan(
        scenario="diag-two-producers",
        replica=0,
        seed=3,
        roles=(
            RolePlan("small", "produce", 1, sizes=SizeDistribution("fixed", (SMALL,)), outbox="q"),
            RolePlan("big", "produce", 1, sizes=SizeDistribution("fixed", (BIG,)), outbox="q"),
            RolePlan("consumer", "consume", consumers, inbox="q", free_mode="unsized"),
        ),
        queues=(QueuePlan("q", capacity),),
        ops=ops,
        extra=dict(extra),
    )


def local(*, size: int = 64, ops: int = 2_000, **extra) -> ReplicaPlan:
    return ReplicaPlan(
        scenario="diag-local",
        replica=0,
        seed=5,
        roles=(RolePlan("local", "alloc_free", 1, sizes=SizeDistribution("fixed", (size,)), batch=8),),
        ops=ops,
        extra=dict(extra),
    )


def smr(*, size: int = 200, ops: int = 5_000, **extra) -> ReplicaPlan:
    return ReplicaPlan(
        scenario="diag-smr",
        replica=0,
        seed=11,
        roles=(
            RolePlan("A", "produce", 1, sizes=SizeDistribution("fixed", (size,)), outbox="published"),
            RolePlan("B", "retire", 1, inbox="published", outbox="retired", epoch_every=32),
            RolePlan("C", "reclaim", 1, inbox="retired", grace_epochs=1, grace_ns=0, batch=32),
        ),
        queues=(QueuePlan("published", 256), QueuePlan("retired", 256)),
        ops=ops,
        extra=dict(extra),
    )


def by_size(size: int) -> str:
    """The producing role of two_producers() that allocates blocks of this size."""
    return {SMALL: "small", BIG: "big"}[size]

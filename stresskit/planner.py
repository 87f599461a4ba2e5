"""Checked scenario -> one fully resolved ReplicaPlan per replica (the engine's input).

Every default is applied here, once; the engine never sees an unset choice. CLI overrides
(--seed, --ops, --duration) are applied here too, so the report shows what actually ran.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from stresskit.plan import QueuePlan, ReplicaPlan, RolePlan, SizeDistribution
from stresskit.scenario.model import Role, Sizes
from stresskit.scenario.validation import CheckedScenario

DEFAULT_OPS = 100_000
DEFAULT_EPOCH_EVERY = 64
DEFAULT_GRACE_EPOCHS = 2
DEFAULT_OOM_FREE_FRACTION = 0.5
_MASK64 = (1 << 64) - 1


@dataclass(frozen=True)
class Overrides:
    seed: int | None = None
    ops: int | None = None
    duration_s: float | None = None


@dataclass(frozen=True)
class RunPlan:
    scenario: CheckedScenario
    seed: int  # the base seed: report it, rerun with --seed to reproduce
    replicas: tuple[ReplicaPlan, ...]
    workers: int  # worker processes at once
    profile: bool


def replica_seed(base: int, replica: int) -> int:
    """splitmix64 of base+replica: replicas get unrelated streams, all derived from one seed."""
    z = (base + 0x9E3779B97F4A7C15 * (replica + 1)) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def _sizes(s: Sizes) -> SizeDistribution:
    if s.dist == "fixed":
        return SizeDistribution("fixed", (int(s.size),))  # type: ignore[arg-type]
    if s.dist == "uniform":
        return SizeDistribution("uniform", (int(s.min), int(s.max)))  # type: ignore[arg-type]
    return SizeDistribution("choice", tuple(s.values or ()), tuple(s.weights or ()))


def _role(name: str, role: Role, inbox: str | None, outbox: str | None) -> RolePlan:
    return RolePlan(
        name=name,
        action=role.action,
        threads=role.threads,
        sizes=_sizes(role.sizes),
        alloc_kind=role.alloc,
        alignment=role.alignment or 0,
        free_mode=role.free,
        batch=role.batch,
        inbox=inbox,
        outbox=outbox,
        epoch_every=role.epoch_every or DEFAULT_EPOCH_EVERY,
        grace_epochs=DEFAULT_GRACE_EPOCHS if role.grace_epochs is None else role.grace_epochs,
        grace_ns=int(round((role.grace or 0.0) * 1e9)),
        memory_limit_bytes=role.memory_limit or 0,
        oom_free_fraction=role.free_fraction or DEFAULT_OOM_FREE_FRACTION,
    )


def plan(checked: CheckedScenario, overrides: Overrides = Overrides(), workers: int | None = None, profile: bool = False) -> RunPlan:
    s = checked.model
    load = s.load
    seed = overrides.seed if overrides.seed is not None else load.seed
    if seed is None:
        seed = int.from_bytes(os.urandom(8), "little") >> 1  # reported, so any run can be repeated
    ops, duration = load.ops, load.duration
    if overrides.ops is not None or overrides.duration_s is not None:
        ops, duration = overrides.ops, overrides.duration_s
    if ops is None and duration is None:
        ops = DEFAULT_OPS
    g = checked.graph
    roles = tuple(_role(n, r, g.inbox.get(n), g.outbox.get(n)) for n, r in s.roles.items())
    queues = tuple(QueuePlan(q.name, q.capacity) for q in g.queues.values())
    replicas = tuple(
        ReplicaPlan(
            scenario=checked.name,
            replica=i,
            seed=replica_seed(seed, i),
            roles=roles,
            queues=queues,
            ops=ops,
            duration_s=duration,
            warmup_ops=load.warmup_ops,
            latency_sample_every=load.latency_sample_every,
            series_interval_ms=max(1, round(load.series_interval * 1000)),
            deadline_s=load.deadline,
            stats=load.stats,
            extra=s.extra.model_dump(exclude_none=True),
        )
        for i in range(load.replicas)
    )
    n_workers = workers or load.workers or min(load.replicas, os.cpu_count() or 1)
    return RunPlan(scenario=checked, seed=seed, replicas=replicas, workers=max(1, min(n_workers, load.replicas)), profile=profile or s.profile)

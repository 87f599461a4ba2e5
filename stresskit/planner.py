"""Checked scenario -> one fully resolved ReplicaPlan per replica (the engine's input).

Every default is applied here, once; the engine never sees an unset choice. CLI overrides
(--seed, --ops, --duration) are applied here too, so the report shows what actually ran.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from stresskit.plan import QueuePlan, ReplicaPlan, RolePlan, SizeDistribution, duration_fits
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
        edge_probe_every=role.edge_probes or 0,
        calloc_count_max=role.calloc_count or 1,
    )


class PlanError(ValueError):
    """A command-line override contradicts the scenario (one line: which option, what was expected)."""


def stats_for_replica(mode: bool | str, replica: int) -> bool:
    """load.stats: true, false, or 'alternate' (even replicas on, odd off: both the glue's
    counting path and its production fast path get stressed by one scenario)."""
    if mode == "alternate":
        return replica % 2 == 0
    return bool(mode)


# RSS budget of a worker (the bounded_rss built-in check). The interpreter, the native library and
# mimalloc's first arena take a fixed amount; the scenario's live blocks at most what its structure
# can hold at once. Twice that covers size-class rounding and pages mimalloc keeps for reuse; a
# glue that never frees (or leaks a fraction of a long run) passes it.
RSS_BASE_BYTES = 384 << 20
RSS_FACTOR = 2


def rss_budget(roles: tuple[RolePlan, ...], queues: tuple[QueuePlan, ...], ops: int | None) -> int | None:
    """Most memory the plan can hold at once, or None when it cannot be bounded in advance (a
    duration-bound run whose reclaim roles hold blocks for a grace period)."""
    def largest(r: RolePlan) -> int:
        return max(r.sizes.values) * max(1, r.calloc_count_max)

    producers = {q.name: max((largest(r) for r in roles if r.outbox == q.name), default=0) for q in queues}
    # a retire role passes blocks on: its outbox holds what its producers made
    for r in roles:
        if r.action == "retire" and r.inbox in producers and r.outbox in producers:
            producers[r.outbox] = max(producers[r.outbox], producers[r.inbox])
    held = sum(q.capacity * producers[q.name] for q in queues)
    for r in roles:
        if r.action == "alloc_free":
            held += r.threads * r.batch * largest(r)
        elif r.action in ("produce", "retire"):
            held += r.threads * max(producers.values(), default=0)
        elif r.action == "oom":
            held += r.memory_limit_bytes
    if any(r.action == "reclaim" and (r.grace_ns > 0 or r.grace_epochs > 0) for r in roles):
        if ops is None:
            return None
        held += ops * max((largest(r) for r in roles if r.action in ("produce", "alloc_free")), default=0)
    return RSS_BASE_BYTES + RSS_FACTOR * held


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
    if overrides.duration_s is not None and not duration_fits(overrides.duration_s, load.deadline):
        from stresskit.scenario.validation import duration_message

        raise PlanError(f"--duration: expected {duration_message(load.deadline)} (got {overrides.duration_s:g} s)")
    g = checked.graph
    roles = tuple(_role(n, r, g.inbox.get(n), g.outbox.get(n)) for n, r in s.roles.items())
    queues = tuple(QueuePlan(q.name, q.capacity) for q in g.queues.values())
    budget = rss_budget(roles, queues, ops)
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
            stats=stats_for_replica(load.stats, i),
            rss_budget_bytes=budget,
            extra=s.extra.model_dump(exclude_none=True),
        )
        for i in range(load.replicas)
    )
    n_workers = workers or load.workers or min(load.replicas, os.cpu_count() or 1)
    return RunPlan(scenario=checked, seed=seed, replicas=replicas, workers=max(1, min(n_workers, load.replicas)), profile=profile or s.profile)

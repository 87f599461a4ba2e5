"""Checked scenario -> one fully resolved ReplicaPlan per replica (the engine's input).

Every default is applied here, once; the engine never sees an unset choice. CLI overrides
(--seed, --ops, --duration) are applied here too, so the report shows what actually ran.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from stresskit.plan import QueuePlan, ReplicaPlan, RolePlan, SizeDistribution, duration_fits, stall_timeout_s
from stresskit.scenario.model import MAX_LIMBO, MIN_LIMBO, OOM_MAX_LEDGER, SERIES_MAX_POINTS, Role, Sizes
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
    if s.dist in ("uniform", "loguniform"):
        return SizeDistribution(s.dist, (int(s.min), int(s.max)))  # type: ignore[arg-type]
    return SizeDistribution("choice", tuple(s.values or ()), tuple(s.weights or ()))


def _role(name: str, role: Role, inbox: str | None, outbox: str | None, limbo: int = 0) -> RolePlan:
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
        limbo=limbo if role.action == "reclaim" else 0,
        writes=role.writes or 0,
        live_set=role.live_set or 0,
        handover_every=role.handover_every or 0,
    )


class PlanError(ValueError):
    """A command-line override contradicts the scenario (one line: which option, what was expected)."""


def stats_for_replica(mode: bool | str, replica: int) -> bool:
    """load.stats: true, false, or 'alternate' (even replicas on, odd off: both the glue's
    counting path and its production fast path get stressed by one scenario)."""
    if mode == "alternate":
        return replica % 2 == 0
    return bool(mode)


# RSS budget of a worker: the bounded_rss built-in check, the supervisor's kill threshold and the
# estimate `validate` prints and --max-memory refuses. The interpreter, the native library and
# mimalloc's first arena take a fixed amount; the blocks the plan can hold at once count twice
# (size-class rounding, pages mimalloc keeps for reuse); the engine's own bookkeeping (queue
# cells, limbo rings, the ownership table, ledgers, histograms, the series) counts once. Every
# term is bounded by the plan: nothing in a worker grows with the run's length without a cap
# (docs/scenarios.md, Memory).
RSS_BASE_BYTES = 384 << 20
RSS_FACTOR = 2
ENTRY_BYTES = 56  # sk_entry_t: a queue entry, a limbo slot, an oom ledger slot
CELL_BYTES = 64  # sk_cell_t: one queue slot, a cache line
HIST_BYTES_PER_THREAD = 4 * (512 + 2) * 8  # SK_OP_COUNT histograms of SK_HIST_BUCKETS
SERIES_POINT_BYTES = 24 + 176  # sk_sample_t, plus the point as a Python tuple in the result
OWN_CHUNK = 1 << 16  # serials per ownership-table chunk (2 bits each)
SERIAL_CAPACITY = 2**32  # the engine's most tracked serials per run
# A duration-bound run has no op count: its ownership table (2 bits per handed-off block) is
# bounded by this rate per producing thread, passed to the engine as its tracking limit. About 4x
# the fastest hand-off measured (12 M/s per producer on a 2-core VM); a run that reaches it ends
# with stop_reason "exhausted" (exit 3) rather than grow past its budget.
HANDOFF_RATE_MAX = 50_000_000
# An oom role's blocks: its limit plus what mimalloc may hand out beyond it (one arena slice).
OOM_SLACK_BYTES = 64 << 20


def limbo_for(role: Role | RolePlan, inbox_capacity: int) -> int:
    """The limbo cap of one reclaim thread: the scenario's `limbo`, else 4 x its inbox's capacity
    within [MIN_LIMBO, MAX_LIMBO] (the engine derives the same when given 0)."""
    explicit = role.limbo or None
    if explicit:
        return int(explicit)
    return min(max(4 * inbox_capacity, MIN_LIMBO), MAX_LIMBO)


def tracking_threads(roles: tuple[RolePlan, ...]) -> int:
    """Threads whose blocks go into the ownership table: producers, and live-set threads that hand
    their sets over."""
    return sum(r.threads for r in roles if r.action == "produce" or r.handover_every)


def tracked_max(roles: tuple[RolePlan, ...], ops: int | None, duration_s: float | None) -> int | None:
    """Handed-off blocks the run may track: None (the engine's 2^32) when `ops` bounds them."""
    producers = tracking_threads(roles)
    if ops is not None or duration_s is None or producers == 0:
        return None
    return min(SERIAL_CAPACITY, math.ceil(duration_s * HANDOFF_RATE_MAX) * producers)


def _smallest(r: RolePlan) -> int:
    return max(min(r.sizes.values), 16)


def memory_parts(roles: tuple[RolePlan, ...], queues: tuple[QueuePlan, ...], ops: int | None,
                 duration_s: float | None = None) -> dict[str, int]:
    """The worst-case memory of one worker, by part (bytes); rss_budget is their sum."""
    def largest(r: RolePlan) -> int:
        return max(r.sizes.values) * max(1, r.calloc_count_max)

    capacity = {q.name: q.capacity for q in queues}
    producers = {q.name: max((largest(r) for r in roles if r.outbox == q.name), default=0) for q in queues}
    # a retire role passes blocks on: its outbox holds what its producers made
    for r in roles:
        if r.action == "retire" and r.inbox in producers and r.outbox in producers:
            producers[r.outbox] = max(producers[r.outbox], producers[r.inbox])
    blocks = sum(q.capacity * producers[q.name] for q in queues)
    book = sum(q.capacity * CELL_BYTES for q in queues)
    for r in roles:
        if r.action == "alloc_free" and r.live_set:
            # each thread's set, and with hand-overs one more per thread in the mailboxes
            sets = r.threads * r.live_set * (2 if r.handover_every else 1)
            blocks += sets * largest(r)
            book += sets * ENTRY_BYTES
        elif r.action == "alloc_free":
            blocks += r.threads * r.batch * largest(r)
            book += r.threads * r.batch * ENTRY_BYTES
        elif r.action in ("produce", "retire"):
            blocks += r.threads * max(producers.values(), default=0)
        elif r.action == "reclaim" and r.inbox is not None:
            limbo = r.limbo or limbo_for(r, capacity.get(r.inbox, 0))
            blocks += r.threads * limbo * producers.get(r.inbox, 0)
            book += r.threads * limbo * ENTRY_BYTES * 3 // 2  # while it grows, old and new ring
        elif r.action == "oom":
            bound = r.memory_limit_bytes + OOM_SLACK_BYTES
            blocks += bound
            book += min(OOM_MAX_LEDGER, bound // _smallest(r) + 64) * ENTRY_BYTES * 3 // 2
    threads = sum(r.threads for r in roles)
    book += threads * HIST_BYTES_PER_THREAD + SERIES_MAX_POINTS * SERIES_POINT_BYTES
    producing = tracking_threads(roles)
    if producing:
        limit = tracked_max(roles, ops, duration_s)
        serials = min(SERIAL_CAPACITY, (ops if ops is not None else (limit or SERIAL_CAPACITY)) + OWN_CHUNK * producing)
        table = serials // 4 + (1 << 16) * 8  # 2 bits a block, and the chunk directory
    else:
        table = 0
    return {"base": RSS_BASE_BYTES, "blocks": RSS_FACTOR * blocks, "bookkeeping": book, "ownership": table}


def rss_budget(roles: tuple[RolePlan, ...], queues: tuple[QueuePlan, ...], ops: int | None, duration_s: float | None = None) -> int:
    """Most memory one worker running the plan can hold at once (bytes). Always bounded: a long
    grace is capped by the reclaim threads' limbo, a long run by the series and tracking caps."""
    return sum(memory_parts(roles, queues, ops, duration_s).values())


# --max-memory's default: this share of physical RAM, divided among the workers running at once.
DEFAULT_MEMORY_SHARE = 0.5


def physical_memory() -> int | None:
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def default_max_memory(workers: int) -> tuple[int | None, str]:
    """(bytes per worker, how it was derived), or (None, why) where RAM cannot be read."""
    ram = physical_memory()
    if not ram or ram <= 0:
        return None, "physical memory unknown"
    share = int(ram * DEFAULT_MEMORY_SHARE) // max(1, workers)
    return share, f"{DEFAULT_MEMORY_SHARE:.0%} of {format_bytes(ram)} RAM / {workers} worker{'s' if workers != 1 else ''} at once"


def format_bytes(n: int | float) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


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
    queues = tuple(QueuePlan(q.name, q.capacity) for q in g.queues.values())
    capacity = {q.name: q.capacity for q in queues}
    roles = tuple(
        _role(n, r, g.inbox.get(n), g.outbox.get(n), limbo_for(r, capacity.get(g.inbox.get(n) or "", 0)))
        for n, r in s.roles.items()
    )
    budget = rss_budget(roles, queues, ops, duration)
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
            stall_timeout_s=stall_timeout_s(load.stall_timeout, load.deadline),
            stats=stats_for_replica(load.stats, i),
            rss_budget_bytes=budget,
            tracked_max=tracked_max(roles, ops, duration),
            extra=s.extra.model_dump(exclude_none=True),
        )
        for i in range(load.replicas)
    )
    n_workers = workers or load.workers or min(load.replicas, os.cpu_count() or 1)
    return RunPlan(scenario=checked, seed=seed, replicas=replicas, workers=max(1, min(n_workers, load.replicas)), profile=profile or s.profile)

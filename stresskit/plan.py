"""The run plan: what one replica of a scenario does, fully resolved (no defaults left, no TOML).

This is the contract between the scenario layer (parse -> validate -> plan) and the engine
(stresskit.engine.run_replica). The scenario model may be richer; by the time it reaches the
engine every choice is explicit here, and the plan pickles cleanly to a worker process.

Roles and flows:
  * ``alloc_free``  - allocate a batch, verify, free it locally (parallel alloc / mixed sizes).
  * ``produce``     - allocate and push each block to ``outbox`` (a bounded lock-free queue).
  * ``consume``     - pop from ``inbox`` and free (cross-thread free).
  * ``retire``      - pop from ``inbox`` and retire: stamp the block with the current epoch and
                      push it to ``outbox`` (the retire list). Advances the global epoch every
                      ``epoch_every`` retirements (SMR's epoch/age).
  * ``reclaim``     - pop retired blocks from ``inbox`` and free each only once it is older than
                      ``grace_epochs`` epochs and ``grace_ns`` nanoseconds (an SMR poll).
  * ``oom``         - under ``memory_limit_bytes``, allocate until NULL, record what was obtained,
                      free ``oom_free_fraction`` of it and prove allocation works again.
  ``writes`` (alloc_free, consume) rewrites each block before its free; ``live_set`` turns
  alloc_free into random replacement in a set of live blocks, ``handover_every`` hands that set
  to the role's next thread every N ops (native/src/engine_workloads.c).
Roles that free run until every upstream role has finished and their inbox is drained.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Action = Literal["alloc_free", "produce", "consume", "retire", "reclaim", "oom"]
AllocKind = Literal["plain", "calloc", "aligned", "node"]
FreeMode = Literal["sized", "unsized"]


@dataclass(frozen=True)
class SizeDistribution:
    """Block sizes in bytes. ``fixed``: always values[0]; ``uniform``: integer uniform in
    [values[0], values[1]]; ``choice``: one of values, with ``weights`` (same length) if given;
    ``loguniform``: in [values[0], values[1]], each power-of-two class equally likely."""

    kind: Literal["fixed", "uniform", "choice", "loguniform"]
    values: tuple[int, ...]
    weights: tuple[float, ...] = ()


@dataclass(frozen=True)
class RolePlan:
    name: str
    action: Action
    threads: int
    sizes: SizeDistribution = SizeDistribution("fixed", (64,))
    alloc_kind: AllocKind = "plain"
    alignment: int = 0  # only for alloc_kind == "aligned"
    free_mode: FreeMode = "sized"
    batch: int = 64  # blocks per native call / per queue burst
    inbox: str | None = None
    outbox: str | None = None
    epoch_every: int = 64  # retire
    grace_epochs: int = 2  # reclaim
    grace_ns: int = 0  # reclaim
    memory_limit_bytes: int = 0  # oom
    oom_free_fraction: float = 0.5  # oom
    edge_probe_every: int = 0  # allocating roles: probe a contract edge every N ops (0 = never)
    calloc_count_max: int = 1  # calloc: count factor of cc_calloc(count, size) uniform in [1, N]
    limbo: int = 0  # reclaim: most blocks a thread holds in its grace period (0: 4 x inbox capacity)
    # canonical workloads (docs/scenarios.md, Canonical workloads)
    writes: int = 0  # alloc_free, consume: rewrite each block this many times before freeing it
    live_set: int = 0  # alloc_free: blocks each thread keeps live, one replaced per op (0: batches)
    handover_every: int = 0  # live_set: ops between hand-overs of the set to the next thread (0: never)


@dataclass(frozen=True)
class QueuePlan:
    name: str
    capacity: int  # power of two


@dataclass(frozen=True)
class ReplicaPlan:
    scenario: str
    replica: int
    seed: int
    roles: tuple[RolePlan, ...]
    queues: tuple[QueuePlan, ...] = ()
    # Stop rule for allocating roles (produce, alloc_free): ``ops`` allocations in total, split
    # evenly over their threads, or ``duration_s`` seconds, whichever comes first (None = unused).
    ops: int | None = 100_000
    duration_s: float | None = None
    warmup_ops: int = 0  # per allocating thread, excluded from latency and throughput
    latency_sample_every: int = 64  # time one op in N into the histograms
    series_interval_ms: int = 50  # unreclaimed time series resolution
    deadline_s: float = 120.0  # the worker is killed past this
    stall_timeout_s: float = 10.0  # a role without progress this long (nothing upstream moving): a stall
    stats: bool = True  # glue statistics on (the glue's books are checked against the engine's)
    rss_budget_bytes: int | None = None  # the worker's peak RSS must stay below (None: no bound)
    tracked_max: int | None = None  # handed-off blocks the run may track (None: the engine's 2^32)
    extra: dict[str, object] = field(default_factory=dict)


def engine_deadline_s(deadline_s: float) -> float:
    """When the driver aborts a replica: its deadline minus max(1 s, 5 %) (but at least half of
    it), so the result is collected before the supervisor's kill at the deadline itself."""
    return max(deadline_s - max(1.0, 0.05 * deadline_s), 0.5 * deadline_s)


def duration_fits(duration_s: float, deadline_s: float) -> bool:
    """A duration must end before the driver's abort, with a second for the roles to drain."""
    return duration_s + 1.0 <= engine_deadline_s(deadline_s)


DEFAULT_STALL_TIMEOUT_S = 10.0


def stall_timeout_s(configured: float | None, deadline_s: float) -> float:
    """load.stall_timeout, or 10 s capped at half the driver's deadline so a short run's stall is
    still diagnosed before the deadline ends it."""
    if configured is not None:
        return configured
    return min(DEFAULT_STALL_TIMEOUT_S, 0.5 * engine_deadline_s(deadline_s))

"""What a replica returns (engine -> collector). Plain dataclasses: they pickle across processes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Histogram:
    """Latency samples in nanoseconds, log-bucketed in native memory, summarised here."""

    count: int = 0
    p50_ns: float = 0.0
    p90_ns: float = 0.0
    p99_ns: float = 0.0
    p999_ns: float = 0.0
    max_ns: float = 0.0
    # The non-empty log buckets: (lower_ns, upper_ns, count), for the report's latency_histograms
    buckets: list[tuple[int, int, int]] = field(default_factory=list)


@dataclass
class RoleResult:
    name: str
    action: str
    threads: int
    ops: int = 0  # the role's own unit: allocations, frees, retirements...
    allocs: int = 0
    frees: int = 0
    failed_allocs: int = 0
    bytes_allocated: int = 0
    bytes_freed: int = 0
    canary_failures: int = 0  # damaged fill pattern seen at free
    double_handoffs: int = 0  # a block seen twice in hand-offs (or freed twice)
    elapsed_s: float = 0.0  # wall time of the measured part (warm-up excluded)
    max_threads_inside: int = 0  # overlap evidence: most of this role's threads in native code at once
    latency: dict[str, Histogram] = field(default_factory=dict)  # "alloc", "free", "handoff", ...
    # Added by the engine (all optional for other producers of results):
    full_retries: int = 0  # pushes that found the outbox full (back-pressure)
    empty_retries: int = 0  # pops that found the inbox empty while upstream still ran
    warmup_ops: int = 0  # warm-up allocations done (not in ops, elapsed_s or latency)
    retired_blocks: int = 0  # retire: blocks stamped; reclaim: blocks freed after their grace
    checks: dict[str, int] = field(default_factory=dict)  # contract counters (CONTRACT_CHECKS), this role
    threads_done: int = 0  # threads that finished their work (not aborted)
    min_age_at_free_ns: int | None = None  # reclaim: youngest retired block freed (>= grace_ns)
    min_epochs_at_free: int | None = None  # reclaim: fewest epochs elapsed at a free (>= grace_epochs)
    # canonical workloads (RolePlan.writes, live_set, handover_every)
    writes: int = 0  # rewrite passes over blocks before their free
    foreign_writes: int = 0  # ... over blocks another thread allocated
    handovers: int = 0  # live sets handed to the role's next thread
    handover_blocks: int = 0  # blocks in those sets
    foreign_frees: int = 0  # live-set blocks freed by a thread other than their allocator


@dataclass
class OomResult:
    null_returns: int = 0
    bytes_before_null: int = 0
    blocks_before_null: int = 0
    recovered: bool = False
    limit_bytes: int = 0
    mechanism: str = ""  # "mimalloc-arena" or "rlimit-as"
    limit_applied: bool = False  # the bound could be installed
    hit_safety_cap: bool = False  # stopped at 4 x limit + 2 GiB without a NULL: the bound did not take
    bound_reached: bool = False  # some allocation returned NULL under the bound (else nothing was tested)
    peak_bytes: int = 0  # most usable bytes the oom threads held at once
    note: str = ""  # why the bound may be looser than limit_bytes, when the engine knows


@dataclass
class ReplicaResult:
    scenario: str
    replica: int
    seed: int
    roles: list[RoleResult] = field(default_factory=list)
    blocks_leaked: int = 0  # allocated minus freed, engine accounting, after drain
    bytes_leaked: int = 0
    glue_stats: dict[str, int] = field(default_factory=dict)  # cc_alloc_stats snapshot at end
    unreclaimed_peak_bytes: int = 0
    unreclaimed_avg_bytes: float = 0.0
    unreclaimed_peak_blocks: int = 0
    unreclaimed_series: list[tuple[float, int, int]] = field(default_factory=list)  # (t_s, blocks, bytes)
    oom: OomResult | None = None
    elapsed_s: float = 0.0
    max_threads_inside: int = 0  # across all roles
    # Added by the engine:
    canary_failures: int = 0  # all roles plus blocks verified by the final drain
    double_handoffs: int = 0  # all roles plus leftovers found by the final drain
    blocks_allocated: int = 0  # engine accounting, warm-up included
    blocks_freed: int = 0
    bytes_allocated: int = 0  # requested sizes (rounded up to 16), not usable sizes
    bytes_freed: int = 0
    blocks_reaped: int = 0  # in flight when the run stopped early, freed by the engine's drain
    bytes_reaped: int = 0
    epochs: int = 0  # global SMR epoch reached
    unreclaimed_avg_blocks: float = 0.0  # time-weighted, like unreclaimed_avg_bytes
    # Why the replica stopped (STOP_REASONS). Only "completed" and "duration" (a time bound the
    # user asked for) mean the planned work was done; anything else is not a PASS.
    stop_reason: str = "completed"
    planned_ops: int | None = None  # measured allocations the plan asked for (None: time-bound)
    stats_enabled: bool = True  # the glue's statistics were on (else: the production fast path)
    checks: dict[str, int] = field(default_factory=dict)  # contract counters, whole replica
    # The glue's books against the engine's ledger: one line per field that disagrees.
    stats_mismatches: list[str] = field(default_factory=list)
    timer_overhead_ns: int = 0  # median cost of the two clock reads around a timed op
    # The engine's wall time split (sk_run_phases): threads reaching the start line, warm-up, and
    # the measured window (first measured op to last finish), which throughput is computed over.
    startup_s: float = 0.0
    warmup_s: float = 0.0
    measured_s: float = 0.0
    rss_budget_bytes: int | None = None
    serials_exhausted: bool = False  # the run's 2^32 handed-off-block capacity ran out
    # The engine's invariant checker: a count per reason (sk_invariant_t names), all 0 when it holds
    invariants: dict[str, int] = field(default_factory=dict)
    # What the worker found out about failures (stresskit/diagnostics/): "leaks", "corruption"...
    diagnostics: dict[str, Any] = field(default_factory=dict)


# sk_checks_t counters that are violations of the glue's contract (each must stay 0).
CONTRACT_VIOLATIONS = (
    "misaligned", "short_blocks", "calloc_dirty", "bad_errno", "size0_blocks", "invalid_accepted", "overflow_accepted",
)

# Stop reasons a replica can report. "completed": every role did its planned work;
# "duration": allocating roles stopped at load.duration, as asked; "interrupted": a stop request
# (Ctrl-C); "deadline": aborted at load.deadline; "exhausted": the run's block-tracking capacity
# (2^32 handed-off blocks) ran out; "short": the roles finished with less work than planned.
STOP_REASONS = ("completed", "duration", "interrupted", "deadline", "exhausted", "short")
FULL_RUN_STOPS = ("completed", "duration")

"""Replica results -> one flat map of dotted metric names, aggregated over replicas.

METRICS is the registry of every name this module can emit; docs/metrics.md documents each one
(a test keeps the two in step) and threshold expressions are checked against it, so a typo in a
threshold is an input error, not a silently failing check.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from stresskit.results import CONTRACT_VIOLATIONS, FULL_RUN_STOPS, Histogram, ReplicaResult
from stresskit.runner.records import WorkerRecord

MetricValue = float | int | bool | None

PERCENTILES = ("p50_ns", "p90_ns", "p99_ns", "p999_ns", "max_ns")
# Latency histogram names the engine reports (RoleResult.latency keys).
LATENCY_OPS = ("alloc", "free", "handoff", "lifetime")
GLUE_STATS = ("alloc_count", "free_count", "alloc_bytes", "free_bytes", "current_allocated", "failed_count")
ROLE_COUNTERS = ("ops", "allocs", "frees", "failed_allocs", "canary_failures", "double_handoffs")
# Canonical workloads (docs/scenarios.md): what the writes / live_set / handover_every keys did.
# Each group is reported only for roles where it happened (other roles would carry zeros).
WRITE_COUNTERS = (
    ("writes", "passes", "rewrite passes over blocks before their free (writes; only roles that rewrote)"),
    ("foreign_writes", "passes", "of those, over blocks another thread allocated (only roles that rewrote)"),
)
HANDOVER_COUNTERS = (
    ("handovers", "sets", "live sets handed to the role's next thread (handover_every; only roles that did)"),
    ("handover_blocks", "blocks", "blocks in those sets (only roles that handed sets over)"),
    ("foreign_frees", "blocks", "live-set blocks freed by a thread other than their allocator (only roles that handed sets over)"),
)
WORKLOAD_COUNTERS = WRITE_COUNTERS + HANDOVER_COUNTERS
_MASK64 = (1 << 64) - 1


@dataclass(frozen=True)
class MetricSpec:
    pattern: str  # placeholders: <op> (LATENCY_OPS), <role> (scenario role names), <stat> (GLUE_STATS)
    unit: str
    aggregation: str  # how replicas combine
    description: str


_LAT = [
    MetricSpec(f"latency.<op>.{p}", "ns", "max over replicas and roles", f"{p[:-3]} latency of sampled <op> operations")
    for p in PERCENTILES
]
_ROLE_LAT = [
    MetricSpec(f"roles.<role>.latency.<op>.{p}", "ns", "max over replicas", f"{p[:-3]} latency of <op> in this role")
    for p in PERCENTILES
]

METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("ops.total", "ops", "sum", "allocations plus frees done by every role, warm-up excluded"),
    MetricSpec("allocs.total", "ops", "sum", "successful allocations"),
    MetricSpec("frees.total", "ops", "sum", "frees"),
    MetricSpec("throughput.ops_per_s", "ops/s", "mean over replicas", "ops.total of a replica / its measured window (time.measured_s; warm-up and start-up excluded)"),
    MetricSpec("blocks.leaked", "blocks", "sum", "blocks allocated and never freed, after every role drained"),
    MetricSpec("bytes.leaked", "bytes", "sum", "usable bytes of the leaked blocks"),
    MetricSpec("canary.failures", "blocks", "sum", "blocks whose fill pattern was damaged when freed"),
    MetricSpec("handoff.doubles", "blocks", "sum", "blocks handed off or freed twice"),
    MetricSpec("alloc.failed", "ops", "sum", "allocations that returned NULL outside OOM roles"),
    MetricSpec("blocks.reaped", "blocks", "sum", "blocks in flight when a run stopped early, freed by the engine's final drain"),
    MetricSpec("smr.epochs", "epochs", "max", "global SMR epoch reached by the retiring roles"),
    MetricSpec("unreclaimed.peak_bytes", "bytes", "max", "most bytes retired and not yet freed at once"),
    MetricSpec("unreclaimed.peak_blocks", "blocks", "max", "most blocks retired and not yet freed at once"),
    MetricSpec("unreclaimed.avg_bytes", "bytes", "mean", "time-averaged bytes retired and not yet freed"),
    *_LAT,
    MetricSpec("latency.<op>.count", "samples", "sum", "latency samples taken of <op>"),
    MetricSpec("oom.null_returns", "ops", "sum", "allocations that returned NULL under the memory bound"),
    MetricSpec("oom.bytes_before_null", "bytes", "min", "usable bytes all oom threads of a worker held when the first NULL came (only when every worker reached its bound)"),
    MetricSpec("oom.peak_bytes", "bytes", "max", "most usable bytes the oom threads of a worker held at once"),
    MetricSpec("oom.blocks_before_null", "blocks", "min", "blocks obtained before the first NULL"),
    MetricSpec("oom.recovered", "bool", "all", "allocation worked again after freeing part of the memory"),
    MetricSpec("oom.limit_bytes", "bytes", "max", "the memory bound applied"),
    MetricSpec("oom.limit_applied", "bool", "all", "the memory bound could be installed in every worker"),
    MetricSpec("oom.bound_reached", "bool", "all", "every worker saw NULL under its bound (else the OOM path was not tested)"),
    MetricSpec("concurrency.max_threads_inside", "threads", "max", "most role threads seen in native code at once"),
    MetricSpec("cpu.utilisation", "cores", "mean over workers", "worker CPU time (user+sys) / wall time during the replica"),
    MetricSpec("workers.total", "processes", "count", "worker processes started"),
    MetricSpec("workers.failed", "processes", "count", "workers that crashed, timed out or raised"),
    MetricSpec("workers.peak_rss_bytes", "bytes", "max", "largest peak resident set of a worker"),
    MetricSpec("replicas.completed", "replicas", "count", "replicas that delivered a result"),
    MetricSpec("elapsed.max_s", "s", "max", "longest replica wall time"),
    MetricSpec("time.startup_s", "s", "max", "engine start to the last role thread at the native start line"),
    MetricSpec("time.warmup_s", "s", "max", "start line to the first measured operation (warm-up)"),
    MetricSpec("time.measured_s", "s", "max", "first measured operation to the last thread's finish: the window throughput is computed over"),
    MetricSpec("glue.<stat>", "count/bytes", "sum mod 2^64", "cc_alloc_stats field <stat> at the end of a stats-on replica (counters wrap modulo 2^64, as in the glue)"),
    *(MetricSpec(f"contract.{c}", "blocks", "sum", d) for c, d in (
        ("misaligned", "blocks not aligned as their kind promises (16 plain/calloc, the alignment asked, the cache line for nodes)"),
        ("short_blocks", "blocks whose usable size is below the request (nodes: below the request rounded to whole lines)"),
        ("calloc_dirty", "cc_calloc blocks with a non-zero byte (every byte up to 4 KiB, head, tail and sampled words beyond)"),
        ("bad_errno", "NULL returns with an errno other than the contract's (ENOMEM, EINVAL), or size 0 that changed errno"),
        ("size0_blocks", "requests for 0 bytes that returned a block (contract: NULL)"),
        ("invalid_accepted", "invalid alignments that returned a block (contract: NULL, EINVAL)"),
        ("overflow_accepted", "overflowing or oversized requests that returned a block (contract: NULL, ENOMEM)"),
    )),
    MetricSpec("contract.violations", "blocks", "sum", "all contract.* violations above together"),
    MetricSpec("contract.probes", "ops", "sum", "contract-edge probes made (roles with edge_probes)"),
    MetricSpec("contract.stats_mismatch", "fields", "sum", "glue statistics that disagree with the engine's ledger, or a reset that left a counter (stats-on replicas)"),
    MetricSpec("engine.invariant_violations", "violations", "sum", "the engine's own invariants that failed (tier 3 checker; per reason in the report's workers[i].invariants): a bug of stresskit's engine, not of the glue"),
    MetricSpec("leak.mimalloc_blocks", "blocks", "sum", "blocks of the run mimalloc still holds after the engine freed everything: leaks inside the glue"),
    MetricSpec("leak.mimalloc_bytes", "bytes", "sum", "requested bytes of those blocks"),
    MetricSpec("latency.timer_overhead_ns", "ns", "max", "median cost of the two clock reads around a timed op; latency percentiles include it"),
    MetricSpec("replicas.stats_on", "replicas", "count", "replicas that ran with the glue's statistics on"),
    MetricSpec("replicas.stats_off", "replicas", "count", "replicas that ran the glue's production fast path (statistics off)"),
    MetricSpec("replicas.incomplete", "replicas", "count", "replicas that stopped before their planned work for a reason other than load.duration"),
    MetricSpec("memory.rss_budget_bytes", "bytes", "max", "peak RSS a worker may reach: a base plus twice the most memory the plan can hold at once"),
    *(MetricSpec(f"roles.<role>.{c}", "ops", "sum", f"{c.replace('_', ' ')} of the role") for c in ROLE_COUNTERS),
    MetricSpec("roles.<role>.ops_per_s", "ops/s", "mean over replicas", "the role's ops / its measured wall time"),
    MetricSpec("roles.<role>.threads", "threads", "max", "threads in the role"),
    MetricSpec("roles.<role>.full_retries", "ops", "sum", "pushes that found the outbox full (back-pressure)"),
    MetricSpec("roles.<role>.empty_retries", "ops", "sum", "pops that found the inbox empty while upstream still ran"),
    MetricSpec("roles.<role>.min_age_at_free_ns", "ns", "min", "reclaim: age of the youngest retired block freed (>= grace)"),
    MetricSpec("roles.<role>.min_epochs_at_free", "epochs", "min", "reclaim: fewest epochs elapsed at a free (>= grace_epochs)"),
    MetricSpec("roles.<role>.max_threads_inside", "threads", "max", "most of the role's threads in native code at once"),
    *(MetricSpec(f"roles.<role>.{c}", unit, "sum", what) for c, unit, what in WORKLOAD_COUNTERS),
    *_ROLE_LAT,
)


def _expand(pattern: str, roles: Iterable[str]) -> list[str]:
    names = [pattern]
    for placeholder, choices in (("<op>", LATENCY_OPS), ("<stat>", GLUE_STATS), ("<role>", tuple(roles))):
        if placeholder in pattern:
            names = [n.replace(placeholder, c) for n in names for c in choices]
    return names


def known_metrics(roles: Iterable[str]) -> frozenset[str]:
    """Every name a run of a scenario with these role names can report."""
    roles = tuple(roles)
    return frozenset(name for spec in METRICS for name in _expand(spec.pattern, roles))


def spec_for(name: str) -> MetricSpec | None:
    """The registry entry a concrete name comes from (role names are free-form)."""
    parts = name.split(".")
    for spec in METRICS:
        pat = spec.pattern.split(".")
        if len(pat) != len(parts):
            continue
        if all(
            p == n
            or (p == "<op>" and n in LATENCY_OPS)
            or (p == "<stat>" and n in GLUE_STATS)
            or p == "<role>"
            for p, n in zip(pat, parts, strict=True)
        ):
            return spec
    return None


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _rate(ops: int, elapsed: float) -> float | None:
    return ops / elapsed if elapsed > 0 else None


def _merge_latency(out: dict[str, MetricValue], prefix: str, hists: Iterable[tuple[str, Histogram]]) -> None:
    for op, hist in hists:
        if hist.count <= 0:
            continue
        for p in PERCENTILES:
            key = f"{prefix}{op}.{p}"
            value = float(getattr(hist, p))
            out[key] = max(value, float(out.get(key) or 0.0))


def aggregate(results: Sequence[ReplicaResult], workers: Sequence[WorkerRecord] = ()) -> dict[str, MetricValue]:
    """Flat metrics over the replicas that delivered a result; worker metrics over all workers."""
    m: dict[str, MetricValue] = {}
    workers = list(workers)
    m["workers.total"] = len(workers)
    m["workers.failed"] = sum(1 for w in workers if w.status not in ("ok", "not_started"))
    rss = [w.peak_rss_bytes for w in workers if w.peak_rss_bytes is not None]
    if rss:
        m["workers.peak_rss_bytes"] = max(rss)
    util = [u for w in workers if (u := w.cpu_utilisation) is not None]
    if util:
        m["cpu.utilisation"] = statistics.fmean(util)
    m["replicas.completed"] = len(results)
    if not results:
        return m

    def per_replica(fn) -> list:  # noqa: ANN001 - small local helper
        return [fn(r) for r in results]

    allocs = per_replica(lambda r: sum(x.allocs for x in r.roles))
    frees = per_replica(lambda r: sum(x.frees for x in r.roles))
    m["allocs.total"] = sum(allocs)
    m["frees.total"] = sum(frees)
    # Warm-up allocations are freed locally and are not part of the measured time.
    measured = [a + f - 2 * sum(getattr(x, "warmup_ops", 0) for x in r.roles) for a, f, r in zip(allocs, frees, results, strict=True)]
    m["ops.total"] = sum(measured)
    # Over the measured window (start line and warm-up excluded) where the engine reports one.
    rates = [x for n, r in zip(measured, results, strict=True)
             if (x := _rate(n, getattr(r, "measured_s", 0.0) or r.elapsed_s)) is not None]
    if rates:
        m["throughput.ops_per_s"] = statistics.fmean(rates)
    m["blocks.leaked"] = sum(r.blocks_leaked for r in results)
    m["bytes.leaked"] = sum(r.bytes_leaked for r in results)
    # The engine's replica totals also count what its final drain found; other result producers
    # may only fill the per-role counters.
    m["canary.failures"] = sum(max(getattr(r, "canary_failures", 0), sum(x.canary_failures for x in r.roles)) for r in results)
    m["handoff.doubles"] = sum(max(getattr(r, "double_handoffs", 0), sum(x.double_handoffs for x in r.roles)) for r in results)
    m["blocks.reaped"] = sum(getattr(r, "blocks_reaped", 0) for r in results)
    m["smr.epochs"] = max(getattr(r, "epochs", 0) for r in results)
    m["alloc.failed"] = sum(x.failed_allocs for r in results for x in r.roles if x.action != "oom")
    m["unreclaimed.peak_bytes"] = max(r.unreclaimed_peak_bytes for r in results)
    m["unreclaimed.peak_blocks"] = max(r.unreclaimed_peak_blocks for r in results)
    m["unreclaimed.avg_bytes"] = statistics.fmean(float(r.unreclaimed_avg_bytes) for r in results)
    m["concurrency.max_threads_inside"] = max(
        [r.max_threads_inside for r in results] + [x.max_threads_inside for r in results for x in r.roles]
    )
    m["elapsed.max_s"] = max(r.elapsed_s for r in results)
    for phase in ("startup", "warmup", "measured"):
        m[f"time.{phase}_s"] = max(float(getattr(r, f"{phase}_s", 0.0)) for r in results)

    _merge_latency(m, "latency.", ((op, h) for r in results for x in r.roles for op, h in x.latency.items() if op in LATENCY_OPS))
    for r in results:
        for x in r.roles:
            for op, h in x.latency.items():
                if op in LATENCY_OPS and h.count > 0:
                    key = f"latency.{op}.count"
                    m[key] = int(m.get(key) or 0) + h.count

    ooms = [r.oom for r in results if r.oom is not None]
    if ooms:
        m["oom.null_returns"] = sum(o.null_returns for o in ooms)
        m["oom.limit_bytes"] = max(o.limit_bytes for o in ooms)
        m["oom.limit_applied"] = all(getattr(o, "limit_applied", True) for o in ooms)
        m["oom.bound_reached"] = all(o.null_returns > 0 for o in ooms)
        m["oom.peak_bytes"] = max(getattr(o, "peak_bytes", 0) for o in ooms)
        # What happened at the bound means something only if every worker reached it: otherwise
        # these are not produced, and a threshold on them fails as such.
        if m["oom.bound_reached"]:
            m["oom.bytes_before_null"] = min(o.bytes_before_null for o in ooms)
            m["oom.blocks_before_null"] = min(o.blocks_before_null for o in ooms)
            m["oom.recovered"] = all(o.recovered for o in ooms)

    for stat in GLUE_STATS:
        values = [r.glue_stats[stat] for r in results if stat in r.glue_stats]
        if values:
            m[f"glue.{stat}"] = sum(int(v) for v in values) & _MASK64

    checks = [getattr(r, "checks", {}) for r in results]
    for name in CONTRACT_VIOLATIONS:
        m[f"contract.{name}"] = sum(int(c.get(name, 0)) for c in checks)
    m["contract.violations"] = sum(int(m[f"contract.{name}"] or 0) for name in CONTRACT_VIOLATIONS)
    m["contract.probes"] = sum(int(c.get("probes", 0)) for c in checks)
    m["contract.stats_mismatch"] = sum(len(getattr(r, "stats_mismatches", ())) for r in results)
    m["engine.invariant_violations"] = sum(sum(getattr(r, "invariants", {}).values()) for r in results)
    # Only when mimalloc's heap could be visited in every replica (see engine._os_threads_gone).
    if all(c.get("mimalloc_scanned", 1) for c in checks):
        m["leak.mimalloc_blocks"] = sum(int(c.get("mimalloc_leaked_blocks", 0)) for c in checks)
        m["leak.mimalloc_bytes"] = sum(int(c.get("mimalloc_leaked_bytes", 0)) for c in checks)
    overheads = [r.timer_overhead_ns for r in results if getattr(r, "timer_overhead_ns", 0)]
    if overheads:
        m["latency.timer_overhead_ns"] = max(overheads)
    m["replicas.stats_on"] = sum(1 for r in results if getattr(r, "stats_enabled", True))
    m["replicas.stats_off"] = len(results) - int(m["replicas.stats_on"])
    m["replicas.incomplete"] = sum(1 for r in results if getattr(r, "stop_reason", "completed") not in FULL_RUN_STOPS)
    budgets = [b for r in results if (b := getattr(r, "rss_budget_bytes", None)) is not None]
    if budgets:
        m["memory.rss_budget_bytes"] = max(budgets)

    role_names = list(dict.fromkeys(x.name for r in results for x in r.roles))
    for name in role_names:
        mine = [x for r in results for x in r.roles if x.name == name]
        prefix = f"roles.{name}."
        for counter in ROLE_COUNTERS:
            m[prefix + counter] = sum(int(getattr(x, counter)) for x in mine)
        role_rates = [v for x in mine if (v := _rate(x.ops, x.elapsed_s)) is not None]
        if role_rates:
            m[prefix + "ops_per_s"] = statistics.fmean(role_rates)
        m[prefix + "threads"] = max(x.threads for x in mine)
        for counter in ("full_retries", "empty_retries"):
            m[prefix + counter] = sum(int(getattr(x, counter, 0)) for x in mine)
        for group, trigger in ((WRITE_COUNTERS, "writes"), (HANDOVER_COUNTERS, "handovers")):
            if any(getattr(x, trigger, 0) for x in mine):
                for counter, _, _ in group:
                    m[prefix + counter] = sum(int(getattr(x, counter, 0)) for x in mine)
        for low in ("min_age_at_free_ns", "min_epochs_at_free"):
            values = [v for x in mine if (v := getattr(x, low, None)) is not None]
            if values:
                m[prefix + low] = min(values)
        m[prefix + "max_threads_inside"] = max(x.max_threads_inside for x in mine)
        _merge_latency(m, prefix + "latency.", ((op, h) for x in mine for op, h in x.latency.items() if op in LATENCY_OPS))
    return m

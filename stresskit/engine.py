"""Python driver of the native stress engine (native/include/sk_engine.h).

``run_replica(plan)`` builds a native run from a :class:`~stresskit.plan.ReplicaPlan`, starts one
Python thread per role thread, lets them all go at once (a barrier), and has each call
``sk_role_step`` in a loop: every call does about ``chunk_ms`` of work in C with the GIL released,
so the threads run in parallel and a profiler sees ``role thread -> sk_role_step -> step_<action>
-> cc_* -> mi_*``. Every allocation, hand-off, retire and free happens in C. The calling thread
is the conductor: every ``plan.series_interval_ms`` it samples the unreclaimed counters, reports
progress and enforces ``duration_s``, ``stop_event`` and the deadline. When the role threads are
done it drains what is still in flight, reads counters and histograms out of native memory and
releases the run — also on exceptions and KeyboardInterrupt.

Mapping of the plan to the engine:
  * queues by name -> ``sk_run_add_queue(capacity)``; ``inbox``/``outbox`` names -> indices;
  * each role -> ``sk_role_config_t`` (sizes as values/weights, kind, alignment, free mode,
    batch, SMR grace, OOM limit); ``plan.extra["oom_mechanism"]`` picks ``"mimalloc-arena"``
    (default) or ``"rlimit-as"``;
  * ``plan.ops`` measured allocations in total, split evenly over every ``produce`` and
    ``alloc_free`` thread (``None``: no limit, then ``duration_s`` or a stop ends the run);
    ``plan.warmup_ops`` local alloc/free pairs per such thread first, counted in the block totals
    but not in ops, elapsed time or latency;
  * PRNG of each thread seeded from ``plan.seed``, role index and thread index (sizes are
    deterministic per seed; interleavings are not).

The OOM role's bound is one per run, shared by all its oom threads (native/src/engine_oom.c).
The default mechanism, an exclusive mimalloc arena of exactly the limit that the oom threads'
default heap allocates from, is exact whatever the process reserved before. The alternative,
``extra.oom_mechanism = "rlimit-as"``, bounds the whole process's address space: memory mimalloc
reserved earlier stays usable under it, so such a worker should start with
:func:`worker_environment` (a small MIMALLOC_ARENA_RESERVE, read when the library loads).

Test hooks (plan.extra, for tests of the detection path only): ``testing_corrupt_blocks`` N
flips a byte in the next N blocks before they are verified; ``testing_double_handoffs`` N pushes
the next N blocks twice (a live-set role: keeps a copy of its next N sets handed over); ``testing_leak_blocks`` N drops the next N blocks instead of freeing
them (the engine's books say freed). They must show up in canary_failures / double_handoffs /
the mimalloc-side leak count. ``testing_corrupt_role`` / ``testing_leak_role`` (the role that
frees) and ``testing_double_handoff_role`` (the role that pushes) aim them at one role by name.
Watchdog hooks (docs/diagnostics.md): ``testing_hold_role`` ROLE[@SECONDS] stops that role's
threads (a planted stall), ``testing_crash_role`` ROLE[@SECONDS] makes its thread 0 dereference
NULL inside its step function (a planted crash), ``testing_recirculate`` 1 lets retire roles
pass retired blocks on (two retire roles feeding each other then deadlock).
``testing_seed_filter`` M/R plants the other hooks only in a replica whose seed % M == R: a
failure that only some seeds hit (tests of `run --until-failure`, docs/scale.md).

The watchdog: every conductor tick reads each thread's state and heartbeat
(``sk_run_thread_states``); a role with no progress for ``plan.stall_timeout_s`` and nothing
upstream moving, or the driver's deadline, hands the engine's view to ``watch.on_stall`` (the
worker asks the supervisor for stacks and waits) before the run is aborted with stop_reason
``stalled`` (or ``deadline``); the diagnosis is in ``result.diagnostics["stall"]``.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from stresskit import _native
from stresskit.checks import glue_books
from stresskit.diagnostics import corruption, engine_records, leaks, stalls
from stresskit.diagnostics.layout import RunLayout
from stresskit.plan import ReplicaPlan, RolePlan, engine_deadline_s
from stresskit.results import CONTRACT_VIOLATIONS, Histogram, OomResult, ReplicaResult, RoleResult

ACTIONS = {"alloc_free": 0, "produce": 1, "consume": 2, "retire": 3, "reclaim": 4, "oom": 5}
KINDS = {"plain": 0, "calloc": 1, "aligned": 2, "node": 3}
SIZE_KINDS = {"fixed": 0, "uniform": 1, "choice": 2, "loguniform": 3}
OOM_MECHANISMS = {"mimalloc-arena": 0, "rlimit-as": 1}
OPS = {"alloc": 0, "free": 1, "handoff": 2, "lifetime": 3}
HIST_BUCKETS = 512
MAX_SIZE_VALUES = 64
DEFAULT_CHUNK_MS = 20

# Which latency histograms each action reports. "lifetime": a handed-off block's time from its
# allocation (by the producer) to its free (by this role): queueing, retirement and grace.
_ROLE_OPS = {
    "alloc_free": ("alloc", "free"),
    "produce": ("alloc", "handoff"),
    "consume": ("free", "lifetime"),
    "retire": ("handoff",),
    "reclaim": ("free", "lifetime"),
    "oom": ("alloc", "free"),
}
_ALLOCATING = ("produce", "alloc_free")

Progress = Callable[[int, int], None]


class WatchHooks(Protocol):
    """What the conductor tells the process around it (stresskit/runner/worker.py)."""

    def on_threads(self, names: dict[int, str]) -> None: ...  # threading ident -> thread name
    def on_view(self, view: dict[str, Any]) -> None: ...  # the engine's view, every tick
    def on_stall(self, view: dict[str, Any], stalled: list[str], trigger: str) -> None: ...  # blocks

# sk_checks_t fields: contract violations seen on blocks and probes (each must stay 0), the
# ledger the glue's statistics are compared with, and mimalloc's view after the drain.
CONTRACT_CHECKS = (*CONTRACT_VIOLATIONS, "probes")
LEDGER_FIELDS = ("allocs", "frees", "usable_allocated", "usable_freed", "enomem_nulls")
MIMALLOC_VIEW = ("mimalloc_leaked_blocks", "mimalloc_leaked_bytes")
SERIAL_CAPACITY = 2**32  # handed-off blocks one run can track (sk_engine.h, ownership table)
_OWN_CHUNK = 1 << 16  # serials a producing thread claims at a time
# Public structs in sk_engine_abi_sizeof's order: their sizes are checked against the library.
ABI_STRUCTS = ("sk_role_config_t", "sk_role_stats_t", "sk_run_totals_t", "sk_checks_t", "sk_leak_record_t",
               "sk_leak_group_t", "sk_damage_t", "sk_double_t")

# mimalloc reads this when the library loads: arenas are then reserved on demand instead of 1 GiB
# up front, so an RLIMIT_AS bound (which counts reserved address space) is close to its limit.
OOM_WORKER_ENV = {"MIMALLOC_ARENA_RESERVE": "4MiB"}


def worker_environment(plan: ReplicaPlan) -> dict[str, str]:
    """Environment variables a worker process should have, before it loads the native library,
    to run ``plan`` as intended (empty unless an oom role uses the rlimit-as mechanism)."""
    rlimit = _oom_mechanism(plan) == "rlimit-as"
    return dict(OOM_WORKER_ENV) if rlimit and any(r.action == "oom" for r in plan.roles) else {}


class EngineError(ValueError):
    """The plan asks for something the engine cannot run (it names the role or queue)."""


def _lib():
    lib = _native.lib()
    ffi = _native.ffi()
    try:
        abi_sizeof = lib.sk_engine_abi_sizeof
    except AttributeError:
        raise _native.NativeLibraryError(
            f"{_native.load().path} predates the stress engine (no sk_* engine symbols): rebuild "
            f"the native library (pip install .) or point {_native.ENV_VAR} at a current build"
        ) from None
    try:
        lib.sk_run_thread_states  # noqa: B018 - the newest symbol: a library without it is stale
    except AttributeError:
        raise _native.NativeLibraryError(
            f"{_native.load().path} predates the engine's watchdog (no sk_run_thread_states): rebuild the "
            f"native library (pip install .) or point {_native.ENV_VAR} at a current build"
        ) from None
    for which, name in enumerate(ABI_STRUCTS):
        native = abi_sizeof(which)
        if native != ffi.sizeof(name):
            raise _native.NativeLibraryError(
                f"{name} is {native} bytes in the loaded library but {ffi.sizeof(name)} in "
                f"stresskit/_cdefs_engine.py: library and Python package are out of step"
            )
    return ffi, lib


def _role_config(ffi, role: RolePlan, queues: dict[str, int], plan: ReplicaPlan):
    where = f"role {role.name!r}"
    cfg = ffi.new("sk_role_config_t *")
    try:
        cfg.action = ACTIONS[role.action]
        cfg.kind = KINDS[role.alloc_kind]
        cfg.size_kind = SIZE_KINDS[role.sizes.kind]
    except KeyError as exc:
        raise EngineError(f"{where}: unknown {exc.args[0]!r}") from None
    cfg.threads = role.threads
    for attr, name in (("inbox", role.inbox), ("outbox", role.outbox)):
        if name is None:
            setattr(cfg, attr, -1)
        elif name not in queues:
            raise EngineError(f"{where}: {attr} {name!r} is not a declared queue")
        else:
            setattr(cfg, attr, queues[name])
    cfg.free_unsized = 1 if role.free_mode == "unsized" else 0
    cfg.alignment = role.alignment
    cfg.batch = role.batch
    values = role.sizes.values
    if not 1 <= len(values) <= MAX_SIZE_VALUES:
        raise EngineError(f"{where}: sizes must list 1..{MAX_SIZE_VALUES} values, got {len(values)}")
    cfg.size_count = len(values)
    for i, v in enumerate(values):
        cfg.size_values[i] = v
    if role.sizes.weights:
        if len(role.sizes.weights) != len(values):
            raise EngineError(f"{where}: {len(role.sizes.weights)} weights for {len(values)} sizes")
        for i, w in enumerate(role.sizes.weights):
            cfg.size_weights[i] = w
    cfg.epoch_every = role.epoch_every
    cfg.grace_epochs = role.grace_epochs
    cfg.grace_ns = role.grace_ns
    cfg.memory_limit_bytes = role.memory_limit_bytes
    cfg.oom_free_fraction = role.oom_free_fraction
    cfg.edge_probe_every = role.edge_probe_every
    cfg.calloc_count_max = role.calloc_count_max
    cfg.limbo_max = role.limbo if role.action == "reclaim" else 0
    cfg.writes = role.writes
    cfg.live_set = role.live_set
    cfg.handover_every = role.handover_every
    mechanism = _oom_mechanism(plan)
    if mechanism not in OOM_MECHANISMS:
        raise EngineError(f"extra.oom_mechanism: expected one of {sorted(OOM_MECHANISMS)}, got {mechanism!r}")
    cfg.oom_mechanism = OOM_MECHANISMS[mechanism]
    return cfg


def _percentile_values(buckets, count: int, max_ns: int, lowers: list[int]) -> dict[str, float]:
    """p50..p999 from log buckets: the midpoint of the bucket holding the rank, capped at the max
    (error within half a bucket: <= 6.25% of the value)."""
    out = {}
    if count == 0:
        return {k: 0.0 for k in ("p50_ns", "p90_ns", "p99_ns", "p999_ns")}
    targets = [("p50_ns", 0.5), ("p90_ns", 0.9), ("p99_ns", 0.99), ("p999_ns", 0.999)]
    ranks = [(name, max(1, math.ceil(q * count))) for name, q in targets]
    cum = 0
    it = iter(ranks)
    name, rank = next(it)
    for i in range(HIST_BUCKETS):
        cum += buckets[i]
        while cum >= rank:
            lo = lowers[i]
            hi = lowers[i + 1] if i + 1 < HIST_BUCKETS else lo
            value = float(lo) if hi - lo <= 1 else (lo + hi - 1) / 2.0
            out[name] = min(value, float(max_ns))
            nxt = next(it, None)
            if nxt is None:
                return out
            name, rank = nxt
    return out


_LOWERS: list[int] | None = None


def _bucket_lowers(lib) -> list[int]:
    global _LOWERS
    if _LOWERS is None:
        _LOWERS = [int(lib.sk_hist_bucket_lower(i)) for i in range(HIST_BUCKETS)]
    return _LOWERS


def _histogram(ffi, lib, run, role_index: int, op: str) -> Histogram:
    buckets = ffi.new(f"uint64_t[{HIST_BUCKETS}]")
    max_ns = ffi.new("uint64_t *")
    count = int(lib.sk_run_role_hist(run, role_index, OPS[op], buckets, max_ns))
    lowers = _bucket_lowers(lib)
    values = _percentile_values(buckets, count, int(max_ns[0]), lowers)
    sparse = [(lowers[i], lowers[i + 1] if i + 1 < HIST_BUCKETS else lowers[i], int(buckets[i])) for i in range(HIST_BUCKETS) if buckets[i]]
    return Histogram(count=count, max_ns=float(max_ns[0]), buckets=sparse, **values)


def _time_weighted_average(series: list[tuple[float, int, int]]) -> float:
    """Average of a step function: each sample's bytes hold until the next sample."""
    if not series:
        return 0.0
    if len(series) == 1 or series[-1][0] <= series[0][0]:
        return float(series[-1][2])
    area = 0.0
    for (t0, _, b0), (t1, _, _) in zip(series, series[1:]):
        area += b0 * (t1 - t0)
    return area / (series[-1][0] - series[0][0])


@dataclass
class _Threads:
    threads: list[threading.Thread]
    barrier: threading.Barrier
    all_done: threading.Event
    errors: list[str]


def _role_thread(lib, run, role_index: int, thread_index: int, budget_ns: int, shared: _Threads,
                 finished: list[int], lock: threading.Lock) -> None:
    """One role thread: wait for everyone, then run native chunks until the thread is done."""
    try:
        try:
            shared.barrier.wait()
        except threading.BrokenBarrierError:
            return
        step = lib.sk_role_step
        while True:
            rc = step(run, role_index, thread_index, budget_ns)  # GIL released for the chunk
            if rc != 0:
                break
        if rc < 0:
            shared.errors.append(f"sk_role_step({role_index}, {thread_index}) rejected its arguments")
    finally:
        with lock:
            finished[0] += 1
            if finished[0] == len(shared.threads):
                shared.all_done.set()


def run_replica(
    plan: ReplicaPlan,
    progress: Progress | None = None,
    stop_event: threading.Event | None = None,
    *,
    chunk_ms: float | None = None,
    watch: WatchHooks | None = None,
) -> ReplicaResult:
    """Run one replica of ``plan`` in this process and return what the engine measured.

    ``progress(ops_done, ops_target)`` is called from this thread about every
    ``series_interval_ms`` (ops_target is 0 when the run is bounded by time only). Setting
    ``stop_event`` stops allocating roles gracefully (consumers still drain: nothing leaks).
    Past ``plan.deadline_s`` (minus a margin) the run is aborted and in-flight blocks are freed
    by the engine (counted as reaped). Raises EngineError for a plan the engine rejects.
    """
    ffi, lib = _lib()
    chunk_ms = float(plan.extra.get("chunk_ms", DEFAULT_CHUNK_MS)) if chunk_ms is None else chunk_ms
    budget_ns = max(1, int(chunk_ms * 1e6))
    run = lib.sk_run_create(plan.seed & (2**64 - 1), max(1, plan.latency_sample_every))
    if run == ffi.NULL:
        raise MemoryError("sk_run_create: out of memory")
    stats_were_on = bool(lib.cc_alloc_stats_enabled())
    shared: _Threads | None = None
    started = False
    try:
        queues: dict[str, int] = {}
        for q in plan.queues:
            idx = lib.sk_run_add_queue(run, q.capacity)
            if idx < 0:
                raise EngineError(f"queue {q.name!r}: capacity must be a power of two in [2, 2^24], got {q.capacity}")
            queues[q.name] = idx
        for role in plan.roles:
            cfg = _role_config(ffi, role, queues, plan)
            if lib.sk_run_add_role(run, cfg) < 0:
                raise EngineError(
                    f"role {role.name!r}: the engine rejected it (action {role.action!r} needs "
                    f"{_needs(role.action)}; threads 1..4096, batch 1..65536, sizes 1..2^40, limbo 0..2^24, "
                    f"aligned kinds need a power-of-two alignment in [8, 2^20])"
                )
        if plan.tracked_max is not None and lib.sk_run_limit_tracked(run, max(1, plan.tracked_max)) != 0:
            raise EngineError(f"tracked_max: expected a positive number of blocks, got {plan.tracked_max}")
        if plan.ops is not None and plan.ops < 1:
            raise EngineError(f"ops: expected a positive number of allocations or None, got {plan.ops}")
        ops_target = int(plan.ops) if plan.ops is not None else 0
        if lib.sk_run_prepare(run, ops_target, max(0, plan.warmup_ops)) != 0:
            raise MemoryError("sk_run_prepare: out of memory")

        hooks = _for_this_seed({**plan.extra, **_hooks_from_environment()}, plan.seed)
        _aim_hooks(lib, run, hooks, plan)
        corrupt = int(hooks.get("testing_corrupt_blocks", 0) or 0)
        duplicate = int(hooks.get("testing_double_handoffs", 0) or 0)
        leak = int(hooks.get("testing_leak_blocks", 0) or 0)
        if leak > 0:
            lib.sk_engine_testing_leak_next(run, leak)
        if corrupt > 0:
            lib.sk_engine_testing_corrupt_next(run, corrupt)
        if duplicate > 0:
            lib.sk_engine_testing_double_handoff_next(run, duplicate)
        planted = _watch_hooks(lib, plan, hooks)
        _plant_due(run, planted, 0.0)
        if int(hooks.get("testing_recirculate", 0) or 0):
            lib.sk_engine_testing_recirculate(run)

        stats_problems: list[str] = []
        if plan.stats:
            stats_problems += glue_books.lifecycle_check(ffi, lib)
            lib.cc_alloc_stats_enable(True)
            lib.cc_alloc_stats_reset()
        else:
            lib.cc_alloc_stats_enable(False)  # the production fast path

        lock = threading.Lock()
        finished = [0]
        total_threads = sum(r.threads for r in plan.roles)
        shared = _Threads([], threading.Barrier(total_threads + 1), threading.Event(), [])
        for ri, role in enumerate(plan.roles):
            for ti in range(role.threads):
                th = threading.Thread(
                    target=_role_thread,
                    args=(lib, run, ri, ti, budget_ns, shared, finished, lock),
                    name=f"sk-{role.name}-{ti}",
                    daemon=True,
                )
                shared.threads.append(th)
        if not shared.threads:
            shared.all_done.set()
        started = True
        for th in shared.threads:
            th.start()
        if watch is not None:
            watch.on_threads({th.ident: th.name for th in threading.enumerate() if th.ident is not None})
        lib.sk_run_start(run)
        lib.sk_run_sample(run)
        shared.barrier.wait()
        t_start = time.monotonic()
        dog = _watchdog(plan)
        states = _StateReader(ffi, lib, run, total_threads)
        stall_diag: dict[str, Any] | None = None

        interval = max(plan.series_interval_ms, 1) / 1000.0
        deadline = engine_deadline_s(plan.deadline_s)
        stop_reason = "completed"
        stopping = False
        while not shared.all_done.wait(interval):
            lib.sk_run_sample(run)
            elapsed = time.monotonic() - t_start
            if progress is not None:
                progress(int(lib.sk_run_progress(run)), ops_target)
            if not stopping and stop_event is not None and stop_event.is_set():
                lib.sk_run_request_stop(run)
                stopping, stop_reason = True, "interrupted"
            if not stopping and plan.duration_s is not None and elapsed >= plan.duration_s:
                lib.sk_run_request_stop(run)
                stopping, stop_reason = True, "duration"
            _plant_due(run, planted, elapsed)
            view = dog.view(time.monotonic(), *states.read())
            if watch is not None:
                watch.on_view(view)
            stalled = dog.stalled(view)
            if stalled or elapsed >= deadline:
                trigger = "stall_timeout" if stalled else "deadline"
                if watch is not None:  # stacks are taken while the threads are still stuck
                    watch.on_stall(view, stalled, trigger)
                stall_diag = stalls.diagnose(view, trigger, stalled, None)
                lib.sk_run_abort(run)
                stop_reason = "stalled" if stalled else "deadline"
                shared.all_done.wait()
                break
        for th in shared.threads:
            th.join()
        lib.sk_run_sample(run)
        if progress is not None:
            progress(int(lib.sk_run_progress(run)), ops_target)
        if shared.errors:
            raise RuntimeError("; ".join(shared.errors))
        broken = hooks.get("testing_break_invariant")
        if broken is not None and lib.sk_engine_testing_break_invariant(run, _invariant_index(ffi, lib, str(broken))) != 0:
            raise EngineError(f"testing_break_invariant: this run has nothing to break as {broken!r}")
        in_flight = _invariants(ffi, lib, run, drained=False)
        lib.sk_run_drain(run)
        invariants = _invariants(ffi, lib, run, drained=True)
        scanned = _os_threads_gone([th.native_id for th in shared.threads])
        if scanned:
            lib.sk_run_mimalloc_leaks(run)
        result = _collect(ffi, lib, run, plan)
        result.stop_reason = _stop_reason(stop_reason, result, plan)
        if stall_diag is not None:
            result.diagnostics["stall"] = stall_diag
        result.planned_ops = plan.ops
        # The same structure may be seen twice (before and after the drain): count it once.
        result.invariants = {k: max(in_flight[k], invariants[k]) for k in invariants}
        result.checks["mimalloc_scanned"] = int(scanned)
        result.stats_enabled = plan.stats
        if plan.stats:
            result.glue_stats = glue_books.snapshot(lib)
            stats_problems += glue_books.compare(result.glue_stats, result.checks)
            stats_problems += glue_books.reset_check(lib, "after the run")
        result.stats_mismatches = stats_problems
        _diagnose(ffi, lib, run, plan, result, scanned)
        return result
    finally:
        interrupted: BaseException | None = None
        if shared is not None and started:
            lib.sk_run_abort(run)
            shared.barrier.abort()  # threads still waiting at the barrier return at once
            for th in shared.threads:
                # Only started threads (a failed start leaves the others at the barrier, aborted
                # above). A second Ctrl-C must not skip the join: the run would be freed under
                # threads still using it. Aborted threads return within one chunk anyway.
                while th.ident is not None and th.is_alive():
                    try:
                        th.join()
                    except KeyboardInterrupt as exc:
                        interrupted = exc
        if plan.stats:
            lib.cc_alloc_stats_enable(stats_were_on)
        lib.sk_run_destroy(run)
        if interrupted is not None:
            raise interrupted


def install_crash_handler(fd: int) -> bool:
    """The engine's fatal-signal handler: the faulting thread's native backtrace goes to ``fd``
    (open for the life of the process), then the signal goes on to the handler before it
    (faulthandler). False where the platform has no backtrace()."""
    _, lib = _lib()
    return lib.sk_crash_handler_install(fd) == 0


def _invariant_names(ffi, lib) -> list[str]:
    names = []
    while (name := lib.sk_invariant_name(len(names))) != ffi.NULL:
        names.append(ffi.string(name).decode())
    return names


def _invariant_index(ffi, lib, name: str) -> int:
    names = _invariant_names(ffi, lib)
    if name not in names:
        raise EngineError(f"testing_break_invariant: one of {', '.join(names)} (got {name!r})")
    return names.index(name)


def _invariants(ffi, lib, run, *, drained: bool) -> dict[str, int]:
    """The engine's invariant checker (tier 3): a count per reason, zero when all hold."""
    names = _invariant_names(ffi, lib)
    counts = ffi.new(f"uint64_t[{len(names)}]")
    lib.sk_run_invariants(run, 1 if drained else 0, counts)
    return {name: int(counts[i]) for i, name in enumerate(names)}


def _os_threads_gone(native_ids: list[int | None], timeout_s: float = 10.0) -> bool:
    """Wait until the role threads have really ended. Thread.join() returns when the Python side
    of a thread is done, but the OS thread still runs its thread-exit destructors after that
    (mimalloc abandons the thread's heap pages there): visiting mimalloc's heap meanwhile races
    with them, which was seen to hang the visit. Linux: /proc/self/task lists live threads; where
    that is missing the joins are all there is. False if they did not end in time."""
    task = "/proc/self/task"
    if not os.path.isdir(task):
        return True
    end = time.monotonic() + timeout_s
    pending = {str(i) for i in native_ids if i is not None}
    while pending:
        pending &= set(os.listdir(task))
        if not pending:
            return True
        if time.monotonic() > end:
            return False
        time.sleep(0.001)
    return True


class _StateReader:
    """sk_run_thread_states into reusable buffers (the conductor reads it every tick)."""

    def __init__(self, ffi, lib, run, n: int) -> None:
        self.lib, self.run, self.n = lib, run, n
        self.words = ffi.new(f"uint32_t[{max(n, 1)}]")
        self.beats = ffi.new(f"uint64_t[{max(n, 1)}]")

    def read(self) -> tuple[list[int], list[int]]:
        self.lib.sk_run_thread_states(self.run, self.words, self.beats, self.n)
        return list(self.words[0:self.n]), list(self.beats[0:self.n])


def _watchdog(plan: ReplicaPlan) -> stalls.Watchdog:
    roles = [(r.name, r.action, r.threads, r.inbox, r.outbox, r.grace_ns / 1e9) for r in plan.roles]
    return stalls.Watchdog(roles, [q.name for q in plan.queues], plan.stall_timeout_s)


@dataclass
class _Planted:
    """A watchdog test hook to plant once the run has gone ``after_s`` seconds ("ROLE@SECONDS"):
    a crash or stall after some progress, so the last progress reported is not zero."""

    plant: Callable[[Any, int], int]
    role: int
    after_s: float


def _watch_hooks(lib, plan: ReplicaPlan, hooks: dict[str, Any]) -> list[_Planted]:
    names = [r.name for r in plan.roles]
    out = []
    for key, plant in (("testing_hold_role", lib.sk_engine_testing_hold_role),
                       ("testing_crash_role", lib.sk_engine_testing_crash_role)):
        spec = hooks.get(key)
        if spec is None:
            continue
        role, _, after = str(spec).partition("@")
        try:
            after_s = float(after) if after else 0.0
        except ValueError:
            raise EngineError(f"{key}: expected ROLE or ROLE@SECONDS (got {spec!r})") from None
        if role not in names:
            raise EngineError(f"{key}: expected one of the roles {', '.join(names)} (got {role!r})")
        out.append(_Planted(plant, names.index(role), after_s))
    return out


def _plant_due(run, planted: list[_Planted], elapsed: float) -> None:
    for p in [p for p in planted if elapsed >= p.after_s]:
        p.plant(run, p.role)
        planted.remove(p)


HOOKS_ENV = "STRESSKIT_TEST_ENGINE_HOOKS"
_COUNT_HOOKS = ("testing_corrupt_blocks", "testing_double_handoffs", "testing_leak_blocks", "testing_recirculate")
# their values are names: an invariant's, a role's (ROLE or ROLE@SECONDS for the watchdog's hooks)
_NAME_HOOKS = ("testing_break_invariant", "testing_hold_role", "testing_crash_role", "testing_seed_filter")
# Aim a hook at one role's threads (sk_engine_testing_hook_role): the value is a role name.
# corrupt and leak fire in the role that verifies and frees; double hand-off in the role that pushes.
HOOK_ROLES = {"testing_corrupt_role": 0, "testing_double_handoff_role": 1, "testing_leak_role": 2}


def _hooks_from_environment() -> dict[str, int | str]:
    """STRESSKIT_TEST_ENGINE_HOOKS="testing_leak_blocks=5,testing_leak_role=consumer" plants the
    engine's test hooks in a worker from outside (end-to-end tests of the CLI's verdicts);
    unknown names and malformed values are ignored."""
    out: dict[str, int | str] = {}
    for item in os.environ.get(HOOKS_ENV, "").split(","):
        name, _, value = (part.strip() for part in item.partition("="))
        if name in _COUNT_HOOKS and value.isdigit():
            out[name] = int(value)
        elif (name in HOOK_ROLES or name in _NAME_HOOKS) and value:
            out[name] = value
    return out


def _for_this_seed(hooks: dict[str, Any], seed: int) -> dict[str, Any]:
    """``testing_seed_filter`` "M/R": the hooks apply only to a replica whose seed % M == R
    (a planted failure that some seeds hit and others do not); malformed, it plants nothing."""
    spec = hooks.get("testing_seed_filter")
    if spec is None:
        return hooks
    modulus, _, residue = str(spec).partition("/")
    if modulus.isdigit() and residue.isdigit() and int(modulus) > 0 and seed % int(modulus) == int(residue):
        return hooks
    return {k: v for k, v in hooks.items() if not k.startswith("testing_")}


def _aim_hooks(lib, run, hooks: dict, plan: ReplicaPlan) -> None:
    roles = [r.name for r in plan.roles]
    for name, hook in HOOK_ROLES.items():
        role = hooks.get(name)
        if role is None:
            continue
        if role not in roles:
            raise EngineError(f"{name}: {role!r} is not a role of this plan (roles: {', '.join(roles)})")
        lib.sk_engine_testing_hook_role(run, hook, roles.index(role))


def _diagnose(ffi, lib, run, plan: ReplicaPlan, result: ReplicaResult, scanned: bool) -> None:
    """The leak ledger and the corruption report, when there is something to report."""
    records = engine_records.read(ffi, lib, run, scanned=scanned)
    layout = RunLayout.from_plan(plan)
    ledger = leaks.build(
        records, layout,
        mimalloc_blocks=result.checks.get("mimalloc_leaked_blocks", 0),
        mimalloc_bytes=result.checks.get("mimalloc_leaked_bytes", 0),
        engine_blocks=result.blocks_leaked, engine_bytes=result.bytes_leaked,
        end_ns=int(result.elapsed_s * 1e9), stop_reason=result.stop_reason,
    )
    if ledger is not None:
        result.diagnostics["leaks"] = ledger
    damage = corruption.build(records, layout)
    if damage is not None:
        result.diagnostics["corruption"] = damage


def _stop_reason(driver_reason: str, result: ReplicaResult, plan: ReplicaPlan) -> str:
    """The driver knows why it stopped waiting; the counters say whether the work was done."""
    if driver_reason != "completed":
        return driver_reason
    if any(r.threads_done < r.threads for r in result.roles):
        return "short"
    if result.serials_exhausted:  # producers stopped early, even in a run bounded by time
        return "exhausted"
    if plan.ops is not None and any(r.action in _ALLOCATING for r in plan.roles):
        done = sum(r.ops for r, p in zip(result.roles, plan.roles, strict=True) if p.action in _ALLOCATING)
        if done < plan.ops:
            return "short"
    return "completed"


def _needs(action: str) -> str:
    return {
        "alloc_free": "no inbox and no outbox",
        "produce": "an outbox and no inbox",
        "consume": "an inbox and no outbox",
        "retire": "an inbox and a different outbox",
        "reclaim": "an inbox and no outbox",
        "oom": "memory_limit_bytes > 0, oom_free_fraction in [0, 1], no queues",
    }.get(action, "a known action")


def _oom_mechanism(plan: ReplicaPlan) -> str:
    return str(plan.extra.get("oom_mechanism", "mimalloc-arena"))


def _oom_note(applied: bool, hit_cap: bool, mechanism: str) -> str:
    if not applied:
        return "the memory bound could not be installed (see native/src/engine_oom.c)"
    if hit_cap:
        return "no NULL before the safety cap (4 x limit + 2 GiB): the bound did not take"
    if mechanism == "rlimit-as" and not any(k in os.environ for k in OOM_WORKER_ENV):
        return (
            "MIMALLOC_ARENA_RESERVE was not set when the library loaded: mimalloc's startup arena "
            "(1 GiB) was usable too, so NULL came after up to limit + 1 GiB; start the worker "
            "with stresskit.engine.worker_environment(plan) for a tight bound"
        )
    return ""


def _collect(ffi, lib, run, plan: ReplicaPlan) -> ReplicaResult:
    totals = ffi.new("sk_run_totals_t *")
    lib.sk_run_totals(run, totals)
    t = totals[0]
    result = ReplicaResult(scenario=plan.scenario, replica=plan.replica, seed=plan.seed)
    stats = ffi.new("sk_role_stats_t *")
    checks = ffi.new("sk_checks_t *")
    none = 2**64 - 1
    canary = int(t.reap_canary_failures)
    double = int(t.reap_double_handoffs)
    for ri, role in enumerate(plan.roles):
        lib.sk_run_role_stats(run, ri, stats)
        s = stats[0]
        rr = RoleResult(
            name=role.name,
            action=role.action,
            threads=role.threads,
            ops=int(s.ops),
            allocs=int(s.allocs),
            frees=int(s.frees),
            failed_allocs=int(s.failed_allocs),
            bytes_allocated=int(s.bytes_allocated),
            bytes_freed=int(s.bytes_freed),
            canary_failures=int(s.canary_failures),
            double_handoffs=int(s.double_handoffs),
            elapsed_s=int(s.elapsed_ns) / 1e9,
            max_threads_inside=int(s.max_threads_inside),
            full_retries=int(s.full_retries),
            empty_retries=int(s.empty_retries),
            warmup_ops=int(s.warmup_ops),
            retired_blocks=int(s.retired_blocks),
            min_age_at_free_ns=None if s.min_age_at_free_ns == none else int(s.min_age_at_free_ns),
            min_epochs_at_free=None if s.min_epochs_at_free == none else int(s.min_epochs_at_free),
            writes=int(s.writes),
            foreign_writes=int(s.foreign_writes),
            handovers=int(s.handovers),
            handover_blocks=int(s.handover_blocks),
            foreign_frees=int(s.foreign_frees),
        )
        rr.threads_done = int(s.threads_done)
        lib.sk_run_role_checks(run, ri, checks)
        rr.checks = {name: int(getattr(checks[0], name)) for name in CONTRACT_CHECKS}
        for op in _ROLE_OPS[role.action]:
            rr.latency[op] = _histogram(ffi, lib, run, ri, op)
        canary += rr.canary_failures
        double += rr.double_handoffs
        result.roles.append(rr)
        if role.action == "oom":
            result.oom = OomResult(
                null_returns=int(s.oom_null_returns),
                bytes_before_null=int(s.oom_bytes_before_null),
                blocks_before_null=int(s.oom_blocks_before_null),
                recovered=bool(s.oom_recovered),
                limit_bytes=role.memory_limit_bytes,
                mechanism=_oom_mechanism(plan),
                limit_applied=bool(s.oom_limit_applied),
                hit_safety_cap=bool(s.oom_hit_safety_cap),
                bound_reached=int(s.oom_null_returns) > 0,
                peak_bytes=int(s.oom_peak_bytes),
                note=_oom_note(bool(s.oom_limit_applied), bool(s.oom_hit_safety_cap), _oom_mechanism(plan)),
            )

    n = lib.sk_run_series(run, ffi.NULL, ffi.NULL, ffi.NULL, 0)
    ts, blocks, nbytes = (ffi.new(f"uint64_t[{max(n, 1)}]") for _ in range(3))
    n = min(n, lib.sk_run_series(run, ts, blocks, nbytes, n))
    series = [(ts[i] / 1e9, int(blocks[i]), int(nbytes[i])) for i in range(n)]

    result.blocks_allocated = int(t.blocks_allocated)
    result.blocks_freed = int(t.blocks_freed)
    result.bytes_allocated = int(t.bytes_allocated)
    result.bytes_freed = int(t.bytes_freed)
    result.blocks_leaked = result.blocks_allocated - result.blocks_freed
    result.bytes_leaked = result.bytes_allocated - result.bytes_freed
    result.blocks_reaped = int(t.blocks_reaped)
    result.bytes_reaped = int(t.bytes_reaped)
    result.canary_failures = canary
    result.double_handoffs = double
    result.unreclaimed_series = series
    result.unreclaimed_peak_bytes = max(int(t.unreclaimed_peak_bytes), max((b for _, _, b in series), default=0))
    result.unreclaimed_peak_blocks = max(int(t.unreclaimed_peak_blocks), max((k for _, k, _ in series), default=0))
    # Exact: every retired block's size x unreclaimed time, over the run's duration. The series
    # (sampled) is for plotting; its own average is only the fallback for a zero-length run.
    if t.elapsed_ns > 0:
        result.unreclaimed_avg_bytes = float(t.unreclaimed_byte_ns) / int(t.elapsed_ns)
        result.unreclaimed_avg_blocks = float(t.unreclaimed_block_ns) / int(t.elapsed_ns)
    else:
        result.unreclaimed_avg_bytes = _time_weighted_average(series)
    result.epochs = int(t.epoch)
    result.elapsed_s = int(t.elapsed_ns) / 1e9
    phases = ffi.new("uint64_t[3]")
    lib.sk_run_phases(run, phases, phases + 1, phases + 2)
    result.startup_s, result.warmup_s, result.measured_s = (int(x) / 1e9 for x in phases)
    result.max_threads_inside = int(t.max_threads_inside)
    # A producer that found no chunk left stops; the others' claimed chunks may be partly unused,
    # so "spent" is: within one chunk per producing thread of the capacity.
    capacity = min(SERIAL_CAPACITY, -(-(plan.tracked_max or SERIAL_CAPACITY) // _OWN_CHUNK) * _OWN_CHUNK)
    producing = sum(r.threads for r in plan.roles if r.action == "produce" or r.handover_every)
    result.serials_exhausted = producing > 0 and int(t.serials_used) + _OWN_CHUNK * producing > capacity
    lib.sk_run_checks(run, checks)
    c = checks[0]
    result.checks = {name: int(getattr(c, name)) for name in (*CONTRACT_CHECKS, *LEDGER_FIELDS, *MIMALLOC_VIEW)}
    result.timer_overhead_ns = int(c.timer_overhead_ns)
    result.rss_budget_bytes = plan.rss_budget_bytes
    return result

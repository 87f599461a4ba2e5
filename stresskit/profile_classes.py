"""Which samples of a worker are work: start-up and idle back-off kept apart from the hotspots.

A profile of a stress run is mostly the harness waiting (an smr run spent 88 % of its samples in
``sched_yield``), so hotspots over all samples hide the glue. Each collapsed stack (root first,
frames as ``frame_key`` writes them) falls in one category:
  * ``idle``: the engine backing off (``sk_backoff``, ``sk_cpu_relax``, ``sched_yield`` anywhere
    on the stack, or ``pop_or_wait``/``push_pending`` as the leaf: they are polling a queue), or a
    thread blocked in a wait or sleep (the start line barrier, the conductor and listener threads);
  * ``startup``: the worker outside the replica: interpreter start, imports, loading the library,
    spawn bootstrap, teardown (none of ``run_replica``, ``_role_thread``, ``sk_role_step`` on the
    stack), or an import/dlopen anywhere;
  * ``work``: a role thread inside ``sk_role_step`` doing anything else;
  * ``harness``: the rest (Python between chunks, the conductor's ticks, GC).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

CATEGORIES = ("work", "idle", "startup", "harness")

_BACKOFF = frozenset({"sk_backoff", "sk_cpu_relax", "sched_yield"})
_POLLING_LEAVES = frozenset({"pop_or_wait", "push_pending"})
# Leaves (Python or native) of a thread that is blocked, not computing.
_BLOCKING = frozenset({
    "wait", "sleep", "acquire", "select", "poll", "epoll_wait", "nanosleep", "clock_nanosleep",
    "futex_wait", "__futex_abstimed_wait_common", "pthread_cond_wait", "pthread_cond_timedwait",
    "sem_wait", "sem_timedwait", "lock_PyThread_acquire_lock", "PyThread_acquire_lock_timed",
    "time_sleep", "pysleep", "_wait_for_tstate_lock", "recv_bytes", "_recv", "_poll",
})
_IMPORTING = frozenset({"_find_and_load", "_load_unlocked", "exec_module", "dlopen", "_dl_open", "_dl_map_object", "_dl_relocate_object"})
_ENGINE_ENTRY = "sk_role_step"
_IN_REPLICA = frozenset({_ENGINE_ENTRY, "run_replica", "_role_thread"})


def function(frame: str) -> str:
    """'Condition.wait (threading.py)' -> 'wait'; '[unknown] (libc.so.6)' -> '[unknown]'."""
    name = frame.rsplit(" (", 1)[0] if frame.endswith(")") else frame
    return name.rsplit(".", 1)[-1]


def _blocked(funcs: list[str]) -> bool:
    """The innermost named frame (unsymbolised libc frames under a wait are skipped) blocks."""
    for name in reversed(funcs):
        if name == "[unknown]":
            continue
        return name in _BLOCKING
    return False


def classify(stack: tuple[str, ...]) -> str:
    funcs = [function(f) for f in stack]
    named = set(funcs)
    if named & _BACKOFF or (funcs and funcs[-1] in _POLLING_LEAVES):
        return "idle"
    if named & _IMPORTING:
        return "startup"
    # Blocked before start-up so that the role threads' start line (a barrier outside
    # run_replica's own stack) and a worker waiting for its go-ahead count as idle.
    if _blocked(funcs):
        return "idle"
    if not named & _IN_REPLICA:
        return "startup"
    if _ENGINE_ENTRY in named:
        return "work"
    return "harness"


def split(stacks: Counter[tuple[str, ...]]) -> dict[str, Counter[tuple[str, ...]]]:
    out: dict[str, Counter[tuple[str, ...]]] = {c: Counter() for c in CATEGORIES}
    for stack, n in stacks.items():
        out[classify(stack)][stack] += n
    return out


def shares(parts: dict[str, Counter[tuple[str, ...]]]) -> dict[str, dict[str, float | int]]:
    total = sum(sum(c.values()) for c in parts.values())
    return {
        name: {"samples": sum(c.values()), "pct": round(100 * sum(c.values()) / total, 2) if total else 0.0}
        for name, c in parts.items()
    }


FAMILIES = {"cc": ("cc_",), "mi": ("mi_", "_mi_"), "engine": ("sk_", "step_")}


def family(frame: str) -> str | None:
    name = function(frame)
    for fam, prefixes in FAMILIES.items():
        if name.startswith(prefixes):
            return fam
    return None


# The glue's own static functions (native/src/alloc.c, stats.c, info.c; a test keeps this list
# equal to the sources). Its exported cc_* entry points mostly tail-call into mimalloc or into
# these slow paths, so py-spy seldom sees a frame named cc_*: the glue shows up under these names
# (cc_alloc_slow and cc_free_slow, which the assembly entry points share, are cc_* by name).
GLUE_HELPERS = frozenset({
    "add_classes", "aligned_slow", "alignment_is_valid", "alloc_counted", "alloc_precounted",
    "at_least_min_block", "calloc_slow", "claim_free_record", "count_alloc",
    "count_free", "finish_aligned", "finish_alloc", "fls_release", "lock_baseline",
    "make_exit_key", "new_record", "no_precount", "node_slow", "on_mimalloc_error",
    "probe_classes", "probe_umalloc", "raw_sums", "release_record", "undo_precount",
    "unlock_baseline", "watch_thread_exit",
})
GLUE_LIBRARY = "libstresskit_native"


def glue_frames(frames: Iterable[str]) -> set[str]:
    """Frames that are the glue: cc_* by name, or one of its helpers in the stresskit library
    (a helper's name alone could be anyone's static function)."""
    return {f for f in frames if family(f) == "cc" or (function(f) in GLUE_HELPERS and GLUE_LIBRARY in f)}


def by_family(frames: Iterable[str], glue: set[str] = frozenset()) -> dict[str, list[str]]:
    """FRAMES (kept in order) sorted into cc (the glue), mi and engine; others dropped."""
    out: dict[str, list[str]] = {f: [] for f in FAMILIES}
    for frame in frames:
        fam = "cc" if frame in glue else family(frame)
        if fam is not None:
            out[fam].append(frame)
    return out

"""Which profile samples are work (stresskit/profile_classes.py), on hand-written folded stacks."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from stresskit.profile_classes import GLUE_HELPERS, classify, glue_frames, shares, split
from stresskit.profiling import ProfileReport, summarise

pytestmark = pytest.mark.tier1

LIB = "(libstresskit_native.so)"
ROLE = ("[unknown] (libc.so.6)", "Thread._bootstrap (threading.py)", "Thread.run (threading.py)",
        "_role_thread (stresskit/engine.py)", "cdata_call (_cffi_backend.so)", f"sk_role_step {LIB}")
MAIN = ("<module> (<string>)", "spawn_main (multiprocess/spawn.py)", "worker_main (stresskit/runner/worker.py)")


def s(*frames: str) -> tuple[str, ...]:
    return tuple(frames)


@pytest.mark.parametrize(("stack", "category"), [
    (ROLE + (f"step_produce {LIB}", f"sk_block_new {LIB}", f"node_slow {LIB}", f"_mi_malloc_generic {LIB}"), "work"),
    (ROLE + (f"step_retire {LIB}", f"verify_and_free {LIB}", f"mi_free {LIB}"), "work"),
    (ROLE + (f"step_reclaim {LIB}", "sched_yield (libc.so.6)"), "idle"),
    (ROLE + (f"step_produce {LIB}", f"push_pending {LIB}", f"sk_backoff {LIB}", f"sk_cpu_relax {LIB}"), "idle"),
    (ROLE + (f"step_consume {LIB}", f"pop_or_wait {LIB}"), "idle"),  # polling an empty queue
    (ROLE + (f"step_produce {LIB}", f"push_pending {LIB}", f"sk_queue_try_push {LIB}"), "work"),
    (ROLE[:4] + ("Barrier.wait (threading.py)", "Condition.wait (threading.py)", "[unknown] (libc.so.6)"), "idle"),  # start line
    (MAIN + ("run_replica (stresskit/engine.py)", "Event.wait (threading.py)", "PyThread_acquire_lock_timed (libpython3.11.so)",
             "[unknown] (libc.so.6)"), "idle"),  # the conductor sleeping between ticks
    (MAIN + ("_find_and_load (<frozen importlib._bootstrap>)", "exec_module (<frozen importlib._bootstrap_external>)"), "startup"),
    (MAIN + ("run_replica (stresskit/engine.py)", "_lib (stresskit/engine.py)", "dlopen (libc.so.6)"), "startup"),  # library load
    (("[unknown] (python3.11)", "Py_RunMain (libpython3.11.so)"), "startup"),  # interpreter start
    (MAIN + ("run_replica (stresskit/engine.py)", "_collect (stresskit/engine.py)"), "harness"),
])
def test_classify(stack: tuple[str, ...], category: str) -> None:
    assert classify(stack) == category


def test_hotspots_are_over_work_only_and_idle_has_its_share() -> None:
    work = ROLE + (f"step_produce {LIB}", f"sk_block_new {LIB}", f"node_slow {LIB}", f"mi_page_free_list_extend {LIB}")
    stacks = Counter({
        work: 6,
        ROLE + (f"step_retire {LIB}", f"cc_free {LIB}", f"mi_free {LIB}"): 2,
        ROLE + (f"step_reclaim {LIB}", "sched_yield (libc.so.6)"): 88,
        MAIN + ("_find_and_load (<frozen importlib._bootstrap>)",): 4,
    })
    report = ProfileReport()
    summarise(stacks, report)
    assert report.samples == 100 and report.work_samples == 8
    assert report.categories["idle"] == {"samples": 88, "pct": 88.0}
    assert report.categories["startup"] == {"samples": 4, "pct": 4.0}
    assert report.categories["work"]["pct"] == 8.0
    frames = {h.frame for h in report.hotspots}
    assert "sched_yield (libc.so.6)" not in frames and not any("_find_and_load" in f for f in frames)
    assert report.hotspots[0].frame == f"mi_page_free_list_extend {LIB}" and report.hotspots[0].self_pct == 75.0
    top = {fam: [h.frame for h in hs] for fam, hs in report.top_frames.items()}
    assert top["cc"] == [f"node_slow {LIB}", f"cc_free {LIB}"]  # neither a leaf: ranked by inclusive share
    assert top["mi"][0] == f"mi_page_free_list_extend {LIB}"
    assert f"sk_role_step {LIB}" in top["engine"] and f"step_reclaim {LIB}" not in top["engine"]  # only idle there
    node = next(h for h in report.top_frames["cc"] if h.frame == f"node_slow {LIB}")
    assert node.self_pct == 0.0 and node.inclusive_pct == 75.0


def test_shares_of_nothing_are_zero() -> None:
    assert shares(split(Counter())) == {c: {"samples": 0, "pct": 0.0} for c in ("work", "idle", "startup", "harness")}


def test_a_helper_name_outside_the_library_is_not_the_glue() -> None:
    assert glue_frames([f"node_slow {LIB}", "node_slow (other.so)", f"cc_alloc {LIB}"]) == {f"node_slow {LIB}", f"cc_alloc {LIB}"}


def test_glue_helpers_match_the_glue_sources() -> None:
    src = Path(__file__).resolve().parents[2] / "native" / "src"
    if not src.is_dir():
        pytest.skip("no native sources next to the tests (installed package)")
    defined = set()
    for name in ("alloc.c", "stats.c", "info.c"):
        text = (src / name).read_text()
        defined |= set(re.findall(r"^static\b[^=;{]*?\b([a-z_][a-z_0-9]*)\s*\([^;]*?\)\s*\{", text, re.M))
    assert defined == GLUE_HELPERS

"""Shipped scenarios under ThreadSanitizer with the REAL glue: native/src/alloc.c and stats.c
(the statistics' per-thread records, their hand-back at thread exit, snapshot and reset) and the
engine's hand-off paths, built with -fsanitize=thread over a C-library stand-in for mimalloc
(tests/engine/native/mimalloc_libc.c: the sanitizer must see every access, which it cannot inside
an uninstrumented mimalloc). A lost-update race in the statistics then fails every run: a
ThreadSanitizer report, or the lost updates in the books where TSAN's history misses it.

Each shipped scenario's plan (replica 0, statistics on) is given to
tests/engine/native/scenario_driver.c with its ops capped (a sanitizer run is 5-15x slower);
the driver also checks the glue's books against the engine's ledger."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from stresskit.engine import ACTIONS, KINDS, SIZE_KINDS
from stresskit.planner import plan
from stresskit.scenario import load

pytestmark = pytest.mark.native_only  # version-independent: run once by tests/run_tests.py --version both

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent / "native"
SCENARIOS = sorted(p for p in (ROOT / "scenarios").glob("*.toml") if p.stem != "oom")  # oom: mimalloc's bound
GLUE = ("alloc.c", "entry_x86_64.c", "stats.c", "info.c")
MAX_OPS = 300_000
# The planted race: every thread counts into one shared record with a plain read-modify-write
# (lost updates, a data race in C11's terms).
RACY_STATS = {
    """static inline cc_stats_record_t *cc_stats_self(void) {
    cc_stats_record_t *r = cc_stats_tls;
    return r != NULL ? r : cc_stats_claim();
}""": """static inline cc_stats_record_t *cc_stats_self(void) {
    static cc_stats_record_t *shared;
    if (shared == NULL) shared = cc_stats_claim();
    return shared;
}""",
    """static inline void cc_stats_add(_Atomic uint64_t *counter, uint64_t delta) {
    atomic_store_explicit(counter, atomic_load_explicit(counter, memory_order_relaxed) + delta,
                          memory_order_relaxed);
}""": """static inline void cc_stats_add(_Atomic uint64_t *counter, uint64_t delta) {
    *(uint64_t *)counter += delta;
}""",
}


def mimalloc_include() -> Path:
    import importlib.metadata

    prefix = Path(str(importlib.metadata.distribution("cmeel-mimalloc").locate_file("cmeel.prefix")))
    return prefix / "include" / "mimalloc-3.4"


def plan_text(path: Path, max_ops: int = MAX_OPS) -> str:
    """The driver's input: replica 0 of the scenario's plan, ops capped (also used by
    tests/platforms for the aarch64 run under qemu)."""
    rp = plan(load(path)).replicas[0]
    queues = {q.name: i for i, q in enumerate(rp.queues)}
    lines = [f"seed {rp.seed}", f"ops {min(rp.ops or max_ops, max_ops)}", f"warmup {min(rp.warmup_ops, 100)}",
             f"sample {rp.latency_sample_every}"]
    lines += [f"queue {q.capacity}" for q in rp.queues]
    for r in rp.roles:
        fields = [ACTIONS[r.action], KINDS[r.alloc_kind], r.threads, queues.get(r.inbox, -1), queues.get(r.outbox, -1),
                  r.batch, r.alignment, int(r.free_mode == "unsized"), SIZE_KINDS[r.sizes.kind], r.epoch_every,
                  r.grace_epochs, r.grace_ns, r.edge_probe_every, r.calloc_count_max, 0, len(r.sizes.values), *r.sizes.values]
        lines.append("role " + " ".join(str(int(f)) for f in fields))
        if r.writes or r.live_set or r.handover_every:
            lines.append(f"workload {r.writes} {r.live_set} {r.handover_every}")
    return "\n".join(lines) + "\n"


def build(tmp: Path, glue_dir: Path) -> Path:
    clang = shutil.which("clang")
    if clang is None:
        pytest.skip("clang is not installed (apt-get install clang libclang-rt-14-dev); CI installs it")
    exe = tmp / "scenario_driver"
    sources = [str(p) for p in sorted((ROOT / "native" / "src").glob("engine_*.c"))] + [str(glue_dir / f) for f in GLUE]
    run = subprocess.run(
        [clang, "-std=c11", "-D_POSIX_C_SOURCE=200809L", "-D_GNU_SOURCE", "-O1", "-g", "-fsanitize=thread",
         "-Wall", "-Wextra", f"-I{ROOT / 'native' / 'include'}", f"-I{glue_dir}", f"-I{mimalloc_include()}",
         *sources, str(HERE / "mimalloc_libc.c"), str(HERE / "scenario_driver.c"), "-lpthread", "-o", str(exe)],
        capture_output=True, text=True, timeout=300,
    )
    if run.returncode != 0 and "cannot find" in run.stderr and "clang_rt" in run.stderr:
        pytest.skip("clang's thread sanitizer runtime is missing (apt-get install libclang-rt-14-dev)")
    assert run.returncode == 0, run.stderr[-3000:]
    return exe


def drive(exe: Path, path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TSAN_OPTIONS": "halt_on_error=1 allocator_may_return_null=1"}
    return subprocess.run([str(exe)], input=plan_text(path), capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def driver(tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("tsan"), ROOT / "native" / "src")


@pytest.mark.tier4
@pytest.mark.slow
@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_shipped_scenario_is_race_free_with_the_real_glue(driver, path):
    run = drive(driver, path)
    assert "WARNING: ThreadSanitizer" not in run.stderr, run.stderr[-6000:]
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    assert "scenario_driver: ok" in run.stdout


@pytest.mark.tier4
@pytest.mark.slow
def test_a_racy_statistics_counter_is_reported_by_thread_sanitizer(tmp_path):
    """The planted race (a record shared by every thread, updated without synchronisation) in the
    first shipped multi-thread scenario: ThreadSanitizer reports it (and halts the run) in most
    runs whatever the scheduling; its bounded shadow history misses some (measured here: none of
    3 on an idle machine, 1-2 of 5 with the machine loaded by other test runs). Where it misses,
    lost updates usually show in the glue's books, which the driver checks. The shipped scenarios
    kill the same bug on real mimalloc in every pass (tests/mutation, racy_shared_counter)."""
    glue = tmp_path / "glue"
    shutil.copytree(ROOT / "native" / "src", glue)
    internal = glue / "stats_internal.h"
    text = internal.read_text()
    for old, new in RACY_STATS.items():
        assert text.count(old) == 1, f"the glue changed: update the planted race ({old.splitlines()[0]})"
        text = text.replace(old, new)
    internal.write_text(text)
    exe = build(tmp_path, glue)
    outcomes = []
    for _ in range(4):
        run = drive(exe, ROOT / "scenarios" / "parallel_alloc.toml")
        outcomes.append("tsan" if "WARNING: ThreadSanitizer: data race" in run.stderr else "books" if run.returncode else "missed")
    assert "tsan" in outcomes, outcomes
    assert outcomes.count("missed") <= 2, outcomes

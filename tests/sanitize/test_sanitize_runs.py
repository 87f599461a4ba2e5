"""`stresskit run --sanitize KIND` end to end, with the real runtimes, the real glue and mimalloc
built from its source: every shipped scenario is clean under ASAN, TSAN and UBSAN at reduced ops
(three of them under valgrind's memcheck), a planted race in the glue's statistics is reported by
TSAN, a planted use-after-free by ASAN and memcheck and a planted signed overflow by UBSAN, each as
a failed run (exit 1) whose report carries the stack.

The libraries are cached by source hash (stresskit/sanitize/build.py): a cold run builds four
libraries and four planted variants (~1.5 min on 2 cores); a warm one only runs."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mutation.build import apply
from mutation.mutants import _C_ENTRIES, BY_NAME, Mutant
from stresskit.sanitize import KINDS, SourceUnavailable, ToolMissing, mimalloc_source, native_source
from stresskit.sanitize.build import check_tools
from stresskit.sanitize.reports import summary_lines

pytestmark = pytest.mark.native_only  # version-independent: run once by tests/run_tests.py --version both

ROOT = Path(__file__).resolve().parents[2]
# Two canonical workloads take no engine path the others do not (xmalloc: produce -> consume as in
# cross_thread_free; rptest: a live set without hand-overs and produce -> consume, as mstress and
# cross_thread_free): sanitizing them again would cost ~23 s of CI and find nothing new.
SAME_PATHS_AS_OTHERS = {"xmalloc", "rptest"}
SCENARIOS = sorted(p.stem for p in (ROOT / "scenarios").glob("*.toml") if p.stem not in SAME_PATHS_AS_OTHERS)
# Under valgrind (~20 s a run on a loaded 2-core machine), three scenarios that between them take
# every path the other three do: SMR hand-off and reclaim, cross-thread frees, every allocation
# kind with the edge probes. `stresskit run --sanitize memcheck` itself runs any scenario.
MEMCHECK_SCENARIOS = ("cross_thread_free", "mixed_sizes", "smr")
CLEAN = [(k, s) for k in KINDS if k != "memcheck" for s in SCENARIOS] + [("memcheck", s) for s in MEMCHECK_SCENARIOS]
# Per replica (the scenarios ship 4-20x more): every role and path runs, 1-4 s each sanitized. Under
# valgrind fewer, but enough for mixed_sizes' edge probes (2000 ops make none).
OPS = {"address": "100000", "thread": "100000", "undefined": "100000", "memcheck": "5000"}

# Reads the first byte of a block just after cc_free handed it back to mimalloc (the fast path: no
# statistics; the C entry points, where a sanitizer can see it), every 64th free: a
# use-after-free that a release build survives unnoticed.
_FAST_FREE = """    if (CC_LIKELY(!cc_stats_active())) {
        mi_free(ptr);
        return;
    }
#endif"""
USE_AFTER_FREE = Mutant(
    "use_after_free", "cc_free reads the block after mi_free, every 64th call (fast path)", "--sanitize address",
    (("alloc.c", _FAST_FREE, _FAST_FREE.replace(
        "        mi_free(ptr);\n        return;",
        "        static _Thread_local unsigned n_;\n        mi_free(ptr);\n"
        "        if (ptr != NULL && ++n_ % 64 == 0) (void)*(volatile char *)ptr;\n        return;")), _C_ENTRIES),
)
# A signed int counter that overflows on the 4th cc_free (fast path): undefined behaviour that a
# release build wraps silently.
SIGNED_OVERFLOW = Mutant(
    "signed_overflow", "cc_free overflows a signed counter (fast path)", "--sanitize undefined",
    (("alloc.c", _FAST_FREE, _FAST_FREE.replace(
        "        mi_free(ptr);\n        return;",
        "        static _Thread_local int n_ = 0x7ffffffd;\n        n_ += ptr != NULL;\n        mi_free(ptr);\n        return;")), _C_ENTRIES),
)
# Every thread counts into one shared statistics record with a plain read-modify-write.
STATS_RACE = BY_NAME["racy_shared_counter"]


def stresskit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from stresskit.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=600, cwd=ROOT, stdin=subprocess.DEVNULL,
                          env={**os.environ, **(env or {})})


def require(kind: str) -> None:
    """Skip (saying what to install) where gcc, the runtime or valgrind, cmake or mimalloc's source
    is missing."""
    try:
        check_tools(kind)
        mimalloc_source()
    except (ToolMissing, SourceUnavailable) as exc:
        pytest.skip(str(exc))


def planted(tmp_path: Path, mutant: Mutant) -> dict[str, str]:
    """The environment that makes `run --sanitize` build from a copy of native/ with the bug."""
    copy = tmp_path / "native"
    shutil.copytree(native_source(), copy, ignore=shutil.ignore_patterns("tests"))
    apply(mutant, copy / "src")
    return {"STRESSKIT_NATIVE_SOURCE": str(copy)}


def sanitized_run(tmp_path: Path, kind: str, scenario: str, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], dict]:
    report = tmp_path / f"{kind}-{scenario}.json"
    require(kind)
    proc = stresskit("run", scenario, "--ops", OPS[kind], "--sanitize", kind, "--json", str(report), env=env)
    assert report.is_file(), proc.stderr[-3000:]
    return proc, json.loads(report.read_text())


def diagnoses(report: dict) -> list[dict]:
    return [w["diagnostics"]["sanitizer"] for w in report["workers"] if "sanitizer" in w.get("diagnostics", {})]


def caught(tmp_path: Path, kind: str, mutant: Mutant) -> tuple[subprocess.CompletedProcess[str], dict, dict]:
    """Run parallel_alloc on the planted bug under ``kind``: it must fail (exit 1) with a diagnosis
    that the console names; returns the run, its report and the first diagnosis."""
    proc, report = sanitized_run(tmp_path, kind, "parallel_alloc", planted(tmp_path, mutant))
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert report["status"] == "fail"
    found = diagnoses(report)
    assert found, proc.stderr[-3000:]
    why = proc.stdout.split("why it failed:", 1)[-1]  # the console's block (stresskit/diagnostics/why.py)
    assert f"{'valgrind memcheck' if kind == 'memcheck' else kind + ' sanitizer'}: {found[0]['error']}" in why, proc.stdout[-3000:]
    assert Path(found[0]["log"]).is_file()
    return proc, report, found[0]


def frames(diag: dict) -> list[str]:
    return [f["function"] for s in diag["stacks"] for f in s["frames"]]


@pytest.mark.tier4
@pytest.mark.slow
@pytest.mark.parametrize(("kind", "scenario"), CLEAN, ids=[f"{k}-{s}" for k, s in CLEAN])
def test_shipped_scenario_is_clean_under_the_sanitizer(tmp_path, kind, scenario):
    proc, report = sanitized_run(tmp_path, kind, scenario)
    assert diagnoses(report) == [], "\n".join(line for d in diagnoses(report) for line in summary_lines(d))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert report["status"] == "pass"
    assert f"--sanitize {kind}: " in proc.stderr  # the library it ran on is named
    # the speed thresholds are reported as not judged, never silently dropped
    for t in report["thresholds"]:
        if t["expression"].startswith("throughput."):
            assert t["skipped"] is True and "not judged under --sanitize" in t["reason"]


@pytest.mark.tier4
@pytest.mark.slow
def test_planted_statistics_race_is_reported_by_thread_sanitizer(tmp_path):
    _, _, diag = caught(tmp_path, "thread", STATS_RACE)
    assert diag["sanitizer"] == "thread" and diag["error"] == "data race"
    assert len(diag["stacks"]) >= 2  # the access and the previous, conflicting one
    assert any("stats_internal.h" in f["location"] for s in diag["stacks"][:2] for f in s["frames"]), diag["stacks"]


@pytest.mark.tier4
@pytest.mark.slow
def test_planted_use_after_free_is_reported_by_address_sanitizer(tmp_path):
    proc, report, diag = caught(tmp_path, "address", USE_AFTER_FREE)
    # mimalloc's MI_TRACK_ASAN poisons a freed block: ASAN calls the read use-after-poison
    assert diag["sanitizer"] == "address" and diag["error"] == "use-after-poison", diag
    top = diag["stacks"][0]["frames"][0]
    assert top["function"] == "cc_free" and re.search(r"/src/alloc\.c:\d+$", top["location"]), diag["stacks"][0]
    worker = next(w for w in report["workers"] if "sanitizer" in w.get("diagnostics", {}))
    assert worker["status"] == "crashed" and "stopped by address sanitizer: use-after-poison" in worker["error"]
    assert "        cc_free src/alloc.c:" in proc.stdout  # the top frame in the console's "why it failed" block


@pytest.mark.tier4
@pytest.mark.slow
def test_planted_use_after_free_is_reported_by_valgrind_memcheck(tmp_path):
    _, report, diag = caught(tmp_path, "memcheck", USE_AFTER_FREE)
    assert diag["sanitizer"] == "memcheck" and diag["message"] == "Invalid read of size 1", diag
    assert frames(diag)[0] == "cc_free" and re.search(r"/src/alloc\.c:\d+$", diag["stacks"][0]["frames"][0]["location"])
    # memcheck also knows where mimalloc freed the block (MI_TRACK_VALGRIND) and where it was allocated
    assert "free'd" in diag["stacks"][1]["title"] and "cc_free" in [f["function"] for f in diag["stacks"][1]["frames"]]
    worker = next(w for w in report["workers"] if "sanitizer" in w.get("diagnostics", {}))
    assert worker["status"] == "ok"  # valgrind does not stop the worker: the log decides


@pytest.mark.tier4
@pytest.mark.slow
def test_planted_signed_overflow_is_reported_by_undefined_sanitizer(tmp_path):
    _, _, diag = caught(tmp_path, "undefined", SIGNED_OVERFLOW)
    assert diag["sanitizer"] == "undefined" and diag["error"] == "signed integer overflow", diag
    assert re.search(r"/src/alloc\.c:\d+:\d+$", diag["where"]) and frames(diag)[0] == "cc_free", diag


@pytest.mark.tier4
def test_missing_compiler_is_one_line_naming_what_to_install(tmp_path):
    proc = stresskit("run", "parallel_alloc", "--sanitize", "thread", env={"PATH": str(Path(sys.executable).parent)})
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "stresskit: --sanitize thread needs gcc, which is not installed; install it with: apt-get install gcc libtsan2"]

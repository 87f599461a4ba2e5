"""tools/check_perf_goals.py on synthetic runs (no timing): its exit status follows the goals
recomputed from the rows, not the file's own `goals` block."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stresskit.bench import engine_row, stats
from stresskit.bench.harness import Impl, Op, Sample
from stresskit.bench.runner import Measured, RowKey

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "check_perf_goals.py"


def _samples(op: Op, value: float) -> list[Sample]:
    """Three identical samples: `value` is ns per op for latency ops, ops/s for throughput."""
    per_s = value if op is Op.THROUGHPUT else 1e9 / value
    return [Sample(ops=1000, elapsed_ns=1, ns_per_op=1e9 / per_s, ops_per_s=per_s, failures=0, max_inside=1)] * 3


def _engine_section(loop_checks_ratio: float) -> dict:
    """An engine section whose loop-checks variant runs at `loop_checks_ratio` x the loop."""
    def same(rate: float) -> list[engine_row.Sample]:
        return [engine_row.Sample(1000, int(1e12 / rate), rate, 1e9 / rate, 0, 0, 0, 2)] * 3
    samples = {v.name: same(100.0 * loop_checks_ratio if v is engine_row.LOOP_CHECKS else
                            100.0 if v is engine_row.LOOP else 50.0) for v in engine_row.variants()}
    return engine_row.summarise(samples, 1000)


def _run(tmp_path: Path, cc_free_ns: float, stats_ops: float, *, goals_block: list | None = None,
         engine_ratio: float = 0.85) -> Path:
    """A run with every goal's rows: raw mimalloc 2 ns per op / 100 ops/s, cc at the bounds."""
    measured = []
    for op, size, alignment, threads, cc in (
        (Op.ALLOC, 64, None, 1, 2.0),
        (Op.FREE, 64, None, 1, cc_free_ns),
        (Op.ALIGNED_ALLOC, 64, 64, 1, 2.1),
        (Op.CROSS_THREAD_FREE, 64, None, 2, 2.2),
    ):
        per = {Impl.CC: cc, Impl.CC_STATS: cc * 2, Impl.MIMALLOC: 2.0, Impl.SYSTEM: 9.0}
        measured.append(Measured(RowKey(op, threads, size, alignment), {i: _samples(op, v) for i, v in per.items()}))
    for threads in (1, 2, 4):
        per = {Impl.CC: 95.0, Impl.CC_STATS: stats_ops, Impl.MIMALLOC: 100.0, Impl.SYSTEM: 50.0}
        measured.append(Measured(RowKey(Op.THROUGHPUT, threads, None, None),
                                 {i: _samples(Op.THROUGHPUT, v) for i, v in per.items()}))
    rows = stats.rows_from(measured)
    path = tmp_path / "bench.json"
    path.write_text(json.dumps({"results": rows, "goals": goals_block if goals_block is not None else stats.goals(rows),
                                "engine": _engine_section(engine_ratio)}))
    return path


def _check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.tier2
def test_all_goals_met_exits_0(tmp_path):
    proc = _check(str(_run(tmp_path, cc_free_ns=2.2, stats_ops=80.0)))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all goals met" in proc.stdout and "MISSED" not in proc.stdout


@pytest.mark.tier2
def test_a_missed_row_exits_1_even_if_the_file_claims_success(tmp_path):
    # free at 2.3 / 2.0 = 1.15x (bound 1.10x); stats 70 / 95 = 0.74x (bound 0.8x). The file's own
    # goals block says everything passed: the tool must not believe it.
    path = _run(tmp_path, cc_free_ns=2.3, stats_ops=70.0, goals_block=[{"name": "x", "met": True}],
                engine_ratio=0.75)
    proc = _check(str(path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    missed = {line.split()[0] for line in proc.stdout.splitlines() if "MISSED" in line}
    assert missed == {"cc_free_ratio", "cc_stats_throughput_vs_cc", "engine_vs_loop"}


@pytest.mark.tier2
def test_the_engine_goal_is_recomputed_from_its_samples(tmp_path):
    """An edited ratio in the engine section does not pass a run whose samples miss."""
    path = _run(tmp_path, cc_free_ns=2.2, stats_ops=80.0, engine_ratio=0.7)
    doc = json.loads(path.read_text())
    doc["engine"]["ratio_loop_checks"] = 0.99
    path.write_text(json.dumps(doc))
    proc = _check(str(path))
    assert proc.returncode == 1 and "engine_vs_loop" in proc.stdout and "0.700" in proc.stdout, proc.stdout


@pytest.mark.tier2
def test_unmeasured_goals_fail_unless_allowed(tmp_path):
    rows = [r for r in json.loads(_run(tmp_path, 2.0, 90.0).read_text())["results"] if r["op"] == "throughput"]
    path = tmp_path / "tp.json"
    path.write_text(json.dumps({"results": rows}))
    assert _check(str(path)).returncode == 1
    proc = _check(str(path), "--allow-unmeasured")
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.count("not measured (allowed)") == 5  # the engine row too


@pytest.mark.tier2
def test_unreadable_run_exits_2_with_one_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{}")
    proc = _check(str(path))
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "bad.json" in proc.stderr


@pytest.mark.tier2
def test_a_multi_process_run_is_checked_like_a_single_process_one(tmp_path):
    path = _run(tmp_path, cc_free_ns=2.1, stats_ops=90.0)
    doc = json.loads(path.read_text())
    for row in doc["results"]:
        row["process_medians"] = [row["median"], row["median"] * 1.3]
    path.write_text(json.dumps(doc))
    result = _check(str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    row = doc["results"][0]
    row["process_medians"] = "fast"
    path.write_text(json.dumps(doc))
    result = _check(str(path))
    assert result.returncode == 2 and "process_medians" in result.stderr, result.stdout + result.stderr


@pytest.mark.tier2
@pytest.mark.parametrize("before,after,untrusted", [(70.0, 80.0, False), (70.0, 402.0, True), (402.0, 70.0, True)])
def test_a_run_the_host_changed_under_cannot_meet_its_hand_off_goals(tmp_path, before, after, untrusted):
    """Every goal met on paper; the cross-thread and engine rows ran on two machines when the
    round trip moved more than 2x between the probes before and after (seen: 70 -> 402 ns)."""
    path = _run(tmp_path, cc_free_ns=2.2, stats_ops=80.0)
    doc = json.loads(path.read_text())
    doc["machine"] = {"handoff_before": {"round_trip_ns": before}, "handoff_after": {"round_trip_ns": after}}
    path.write_text(json.dumps(doc))
    proc = _check(str(path))
    flagged = {line.split()[0] for line in proc.stdout.splitlines() if "UNTRUSTED" in line}
    if untrusted:
        assert proc.returncode == 1, proc.stdout
        assert flagged == {"cc_cross_thread_free_ratio", "engine_vs_loop"}, proc.stdout
        assert f"({before:.0f} ns before, {after:.0f} ns after)" in proc.stdout
    else:
        assert proc.returncode == 0 and not flagged, proc.stdout

"""End to end: `stresskit run` on the shipped scenarios with the real native engine, crash
containment (SIGKILL, SIGSEGV, abort, a Python exception, a hang past the deadline), Ctrl-C,
and py-spy hotspots. Each run is a few seconds; the file stays well under a minute on 2 cores."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scenario_helpers import REPO, SHIPPED, read_json, stresskit

pytestmark = pytest.mark.tier4

REQUIRED = (
    "ops.total", "throughput.ops_per_s", "blocks.leaked", "bytes.leaked", "canary.failures",
    "unreclaimed.peak_bytes", "unreclaimed.avg_bytes",
)
SMALL = """
name = "small"
[load]
ops = 200_000
replicas = 2
workers = 2
seed = 1
deadline = "{deadline}"
[roles.p]
action = "produce"
threads = 2
[roles.c]
action = "consume"
[[flows]]
from = "p"
to = "c"
[thresholds]
checks = ["bytes.leaked == 0", "canary.failures == 0"]
"""


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenario_passes(path: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = stresskit("run", str(path), "--json", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    report = read_json(out)
    assert report["status"] == "pass" and report["complete"] is True
    m = report["metrics"]
    for name in REQUIRED:
        assert name in m, name
    assert m["bytes.leaked"] == 0 and m["canary.failures"] == 0
    assert any(k.startswith("latency.") and k.endswith(".p99_ns") for k in m)
    assert all(t["ok"] for t in report["thresholds"]) and report["thresholds"]
    assert all(w["status"] == "ok" and w["peak_rss_bytes"] > 0 for w in report["workers"])
    if path.stem == "oom":
        assert m["oom.null_returns"] > 0 and m["oom.recovered"] is True
    if path.stem == "smr":
        assert m["unreclaimed.peak_bytes"] > 0
        assert report["unreclaimed_series"] and len(report["unreclaimed_series"][0]["points"]) > 2


def test_shipped_scenario_by_name_from_elsewhere(tmp_path: Path) -> None:
    result = stresskit("run", "parallel_alloc", "--quiet", "--ops", "100000", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    # A pass under -q is its one status line: nothing failed, so nothing is listed under it.
    assert re.fullmatch(r"parallel_alloc: PASS \((\d+)/\1 thresholds passed, (\d+)/\2 checks passed\)", result.stdout.strip()), result.stdout


def test_threshold_failure_exits_1(tmp_path: Path) -> None:
    scenario = tmp_path / "strict.toml"
    scenario.write_text(SMALL.format(deadline="60s").replace('"canary.failures == 0"', '"throughput.ops_per_s > 1e15"'))
    out = tmp_path / "r.json"
    result = stresskit("run", str(scenario), "--json", str(out))
    assert result.returncode == 1, result.stdout + result.stderr
    report = read_json(out)
    assert report["status"] == "fail"
    assert [t["ok"] for t in report["thresholds"] if not t.get("builtin")] == [True, False]
    assert all(t["ok"] for t in report["thresholds"] if t.get("builtin"))


def test_sigkilled_worker_gives_exit_3_and_survivors_report(tmp_path: Path) -> None:
    scenario = tmp_path / "small.toml"
    scenario.write_text(SMALL.format(deadline="20s"))
    out = tmp_path / "r.json"
    start = time.monotonic()
    result = stresskit("run", str(scenario), "--json", str(out), "--duration", "3s", env={"STRESSKIT_TEST_CRASH": "1:kill:0.3"})
    elapsed = time.monotonic() - start
    assert result.returncode == 3, result.stdout + result.stderr
    assert elapsed < 20, elapsed  # within the deadline: nobody waited for the dead worker
    report = read_json(out)
    assert report["status"] == "error"
    by_replica = {w["replica"]: w for w in report["workers"]}
    assert by_replica[1]["status"] == "crashed" and by_replica[1]["signal"] == "SIGKILL"
    assert by_replica[1]["peak_rss_bytes"] > 0  # from /proc while it lived
    assert by_replica[0]["status"] == "ok"
    assert report["metrics"]["replicas.completed"] == 1
    assert report["metrics"]["ops.total"] > 0 and report["metrics"]["bytes.leaked"] == 0
    assert all(t["ok"] for t in report["thresholds"])  # the survivor's results were evaluated
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("mode", "signal_name", "status"), [("segv", "SIGSEGV", "crashed"), ("abort", "SIGABRT", "crashed"), ("raise", None, "failed")])
def test_other_worker_deaths_are_contained(tmp_path: Path, mode: str, signal_name: str | None, status: str) -> None:
    scenario = tmp_path / "small.toml"
    scenario.write_text(SMALL.format(deadline="20s"))
    out = tmp_path / "r.json"
    result = stresskit("run", str(scenario), "--json", str(out), "--duration", "1s", env={"STRESSKIT_TEST_CRASH": f"0:{mode}:0.2"})
    assert result.returncode == 3, result.stdout + result.stderr
    workers = {w["replica"]: w for w in read_json(out)["workers"]}
    assert workers[0]["status"] == status and workers[0]["signal"] == signal_name
    assert workers[1]["status"] == "ok"
    if mode == "raise":
        assert "RuntimeError" in workers[0]["error"]


def test_hung_worker_is_killed_at_the_deadline(tmp_path: Path) -> None:
    scenario = tmp_path / "small.toml"
    scenario.write_text(SMALL.format(deadline="2s"))
    out = tmp_path / "r.json"
    start = time.monotonic()
    result = stresskit("run", str(scenario), "--json", str(out), env={"STRESSKIT_TEST_CRASH": "0:hang:0"})
    assert result.returncode == 3, result.stdout + result.stderr
    assert time.monotonic() - start < 15
    workers = {w["replica"]: w for w in read_json(out)["workers"]}
    assert workers[0]["status"] == "timeout" and workers[0]["signal"] == "SIGKILL"
    assert "deadline" in workers[0]["error"]
    assert workers[1]["status"] == "ok"


def test_ctrl_c_stops_workers_writes_report_exits_130(tmp_path: Path) -> None:
    scenario = tmp_path / "small.toml"
    scenario.write_text(SMALL.format(deadline="60s"))
    out = tmp_path / "r.json"
    proc = subprocess.Popen(
        [sys.executable, "-c", "from stresskit.cli import main; main()", "run", str(scenario), "--json", str(out), "--duration", "30s"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, stdin=subprocess.DEVNULL,
        # a test run started in the background (`cmd &` in a script) ignores SIGINT, and children
        # inherit that; a user's terminal does not
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # Wait until both workers have started their replicas (the plain progress lines say so).
    deadline = time.monotonic() + 30
    seen = ""
    assert proc.stdout is not None
    while time.monotonic() < deadline and seen.count("started") < 2:
        seen += proc.stdout.readline()
    time.sleep(1.0)
    during = read_json(out)  # written at the start and kept valid while the run goes on
    assert during["complete"] is False and during["status"] == "error"
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, seen + stdout + stderr
    assert time.monotonic() - start < 15
    report = read_json(out)
    assert report["interrupted"] == "SIGINT" and report["status"] == "error"
    assert report["metrics"]["replicas.completed"] == 2  # the engine honoured the stop and delivered
    assert report["metrics"]["ops.total"] > 0 and report["metrics"]["bytes.leaked"] == 0
    assert "Traceback" not in stderr


def test_profile_names_native_frames(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    prof_dir = tmp_path / "prof"
    result = stresskit("run", "smr", "--profile", "--profile-dir", str(prof_dir), "--duration", "2s", "--json", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    report = read_json(out)
    assert report["profile"]["problems"] == []
    frames = [h["frame"] for h in report["hotspots"]]
    native_engine = [f for f in frames if f.startswith(("mi_", "_mi_", "step_", "sk_role_step", "sk_"))]
    assert native_engine, frames
    assert all(h["native"] for h in report["hotspots"] if h["frame"] in native_engine)
    assert Path(report["profile"]["flamegraph_svg"]).read_text().startswith("<svg")
    speedscope = read_json(Path(report["profile"]["speedscope_json"]))
    assert speedscope["profiles"] and speedscope["shared"]["frames"]
    assert report["profile"]["samples"] > 50


def test_sixteen_threads_keep_more_than_one_core_busy(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    load_before = os.getloadavg()[0]
    # One worker at a time: two replicas side by side on 2 cores get one core each, and a
    # worker's share could never show the second core its 16 threads keep busy.
    result = stresskit("run", "cross_thread_stress", "--workers", "1", "--json", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    m = read_json(out)["metrics"]
    assert m["concurrency.max_threads_inside"] >= 2
    assert m["roles.producer.threads"] + m["roles.consumer.threads"] == 16
    cpus = os.cpu_count() or 1
    busy = max(load_before, os.getloadavg()[0])
    if m["cpu.utilisation"] <= 1.2 and (cpus < 2 or busy > cpus):
        pytest.skip(f"cpu.utilisation {m['cpu.utilisation']:.2f} is a share of a contended machine "
                    f"(load average {busy:.1f} on {cpus} CPUs): it cannot show a second free core here")
    assert m["cpu.utilisation"] > 1.2


def test_list_shows_every_shipped_scenario(tmp_path: Path) -> None:
    result = stresskit("list", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    names = {line.split()[0] for line in result.stdout.splitlines() if line and not line.startswith("run one")}
    assert names == {p.stem for p in SHIPPED}


def test_doctor_reports_library_versions_and_py_spy_attach() -> None:
    result = stresskit("doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for key in ("native library:", "glue version:", "mimalloc version:", "cache line size:", "engine:", "py-spy:", "py-spy attach:"):
        assert key in out, out
    assert "py-spy attach:         yes" in out
    assert "(found via: " in out


def test_profile_without_attach_rights_still_completes(tmp_path: Path) -> None:
    # A py-spy that fails the way it does without ptrace rights.
    fake = tmp_path / "py-spy"
    fake.write_text("#!/bin/sh\necho 'Error: Permission Denied: Try running again with elevated permissions' >&2\nexit 1\n")
    fake.chmod(0o755)
    out = tmp_path / "r.json"
    result = stresskit("run", "parallel_alloc", "--ops", "200000", "--profile", "--profile-dir", str(tmp_path / "p"),
                       "--json", str(out), env={"STRESSKIT_PY_SPY": str(fake)})
    assert result.returncode == 0, result.stdout + result.stderr
    report = read_json(out)
    assert report["status"] == "pass"
    assert report["hotspots"] == []
    assert any("could not attach" in p and "Permission Denied" in p for p in report["profile"]["problems"]), report["profile"]
    assert "could not attach" in result.stdout


def test_profile_without_py_spy_still_completes(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    result = stresskit("run", "parallel_alloc", "--ops", "200000", "--profile", "--json", str(out),
                       env={"STRESSKIT_PY_SPY": str(tmp_path / "missing")}, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert any("not an executable" in p for p in read_json(out)["profile"]["problems"])


def test_several_files_in_one_report(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    result = stresskit("run", "parallel_alloc", "mixed_sizes", "--ops", "100000", "--json", str(out), "--seed", "9")
    assert result.returncode == 0, result.stdout + result.stderr
    doc = read_json(out)
    assert doc["status"] == "pass"
    assert [r["scenario"]["name"] for r in doc["reports"]] == ["parallel_alloc", "mixed_sizes"]
    assert all(r["seed"] == 9 and r["plan"]["ops"] == 100000 for r in doc["reports"])


def test_first_example_of_the_docs_runs_as_documented(tmp_path: Path) -> None:
    import re

    block = re.findall(r"```toml\n(.*?)```", (REPO / "docs" / "scenarios.md").read_text(), flags=re.S)[0]
    path = tmp_path / "handoff.toml"
    path.write_text(block)
    out = tmp_path / "r.json"
    result = stresskit("run", str(path), "--json", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    report = read_json(out)
    assert report["scenario"]["name"] == "handoff" and report["seed"] == 42
    assert report["metrics"]["roles.consumer.ops"] == report["metrics"]["roles.producer.ops"] == 200_000


def test_a_run_cut_short_is_not_a_pass(tmp_path: Path) -> None:
    """Warm-up that cannot finish before the deadline: no measured op, stop_reason deadline, exit 3."""
    scenario = tmp_path / "short.toml"
    scenario.write_text('[load]\nops = 10\nwarmup_ops = 100_000_000_000\ndeadline = "3s"\n\n[roles.a]\naction = "alloc_free"\n')
    out = tmp_path / "r.json"
    result = stresskit("run", str(scenario), "--json", str(out))
    assert result.returncode == 3, result.stdout + result.stderr
    report = read_json(out)
    assert report["status"] == "error"
    assert report["workers"][0]["stop_reason"] == "deadline"
    assert any("stopped early (deadline)" in e for e in report["errors"]), report["errors"]
    did_work = next(t for t in report["thresholds"] if t.get("name") == "did_work")
    assert did_work["ok"] is False


def test_a_duration_the_deadline_would_cut_is_refused(tmp_path: Path) -> None:
    result = stresskit("run", "parallel_alloc", "--duration", "130s")
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and "--duration" in result.stderr and "deadline" in result.stderr
    scenario = tmp_path / "long.toml"
    scenario.write_text('[load]\nduration = "70s"\ndeadline = "60s"\n\n[roles.a]\naction = "alloc_free"\n')
    result = stresskit("validate", str(scenario))
    assert result.returncode == 2 and "load.duration" in result.stderr, result.stderr


def test_a_scenario_without_thresholds_still_fails_a_leak(tmp_path: Path) -> None:
    """The built-in checks apply to every run; a planted leak (engine hook) fails it with exit 1,
    and checks.skip turns a check off only by name, reported as skipped."""
    from stresskit.checks.builtin import NAMES, evaluate_builtin

    leaking = {"ops.total": 10, "blocks.leaked": 0, "leak.mimalloc_blocks": 3, "canary.failures": 0, "handoff.doubles": 0,
               "alloc.failed": 0, "contract.violations": 0, "contract.stats_mismatch": 0, "engine.invariant_violations": 0,
               "workers.peak_rss_bytes": 1, "memory.rss_budget_bytes": 2}
    results = {r.name: r for r in evaluate_builtin(leaking, has_oom=False)}
    assert set(results) == set(NAMES) - {"oom_bound"}
    assert [n for n, r in results.items() if not r.ok] == ["no_glue_leak"]
    assert "never reached mimalloc" in results["no_glue_leak"].reason
    skipped = {r.name: r for r in evaluate_builtin(leaking, has_oom=True, skip=["no_glue_leak"])}
    assert skipped["no_glue_leak"].ok and skipped["no_glue_leak"].skipped
    assert not skipped["oom_bound"].ok  # no oom.bound_reached metric: not produced, so it fails

    scenario = tmp_path / "bare.toml"
    scenario.write_text('[load]\nops = 20_000\n\n[roles.a]\naction = "alloc_free"\nthreads = 2\n')
    assert stresskit("run", str(scenario), "-q").returncode == 0
    out = tmp_path / "r.json"
    leak = stresskit("run", str(scenario), "--json", str(out), env={"STRESSKIT_TEST_ENGINE_HOOKS": "testing_leak_blocks=5"})
    assert leak.returncode == 1, leak.stdout + leak.stderr
    failed = [t["name"] for t in read_json(out)["thresholds"] if not t["ok"]]
    # mimalloc still holds the dropped blocks; the stats-on replica's glue also never saw their free
    assert failed == ["no_glue_leak", "glue_books"], failed

"""Soaks (stresskit/soak): a planted failure that only some seeds hit stops `--until-failure`,
the reported seed reproduces it (`replay --replica K` and `run --seed S`), `--repeat N` runs N
replicas, and the report on disk survives a kill -9 of the supervisor and ends on Ctrl-C."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stresskit.report.model import read_reports

# The engine's corruption hook, planted only in replicas whose seed % 3 == 0 (testing_seed_filter).
PLANTED = {"STRESSKIT_TEST_ENGINE_HOOKS": "testing_corrupt_blocks=1,testing_seed_filter=3/0"}
OPS = ["--ops", "20000"]
RUN_SEED = "6"  # its soak passes two replicas (seeds % 3 != 0) before the third hits the hook
STRESSKIT = [sys.executable, "-c", "from stresskit.cli import main; main()"]


def _stresskit(*args: str, env: dict[str, str] | None = None, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*STRESSKIT, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def planted_soak(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict[str, Any], Path]:
    report = tmp_path_factory.mktemp("soak") / "soak.json"
    done = _stresskit("run", "parallel_alloc", *OPS, "--until-failure", "--max-time", "2min", "--seed", RUN_SEED, "-w", "1",
                      "--json", str(report), env=PLANTED)
    return done, json.loads(report.read_text()), report


@pytest.mark.tier4
def test_soak_stops_at_the_first_replica_whose_seed_hits_the_planted_failure(planted_soak: Any) -> None:
    done, doc, _ = planted_soak
    assert done.returncode == 1, done.stdout + done.stderr
    soak = doc["soak"]
    assert soak["stopped"] == "failure" and doc["status"] == "fail" and doc["complete"] is True
    replicas = soak["replicas"]
    assert [r["replica"] for r in replicas] == list(range(len(replicas))) and len(replicas) >= 2
    *passed, failed = replicas
    assert all(r["status"] == "pass" and r["replica_seed"] % 3 != 0 for r in passed)
    assert failed["status"] == "fail" and failed["replica_seed"] % 3 == 0
    assert set(failed["failed"]) >= {"canary.failures == 0", "no_corruption"}
    assert soak["first_failure"]["replica"] == failed["replica"] and soak["first_failure"]["seed"] == failed["seed"]
    assert len({r["seed"] for r in replicas}) == len(replicas)  # a new seed per replica
    # the failing replica is kept whole (its replay plan), the passing ones only as summaries
    assert [w["replica"] for w in doc["workers"]] == [failed["replica"]]
    assert doc["workers"][0]["replay"]["seed"] == failed["replica_seed"]
    assert f"--seed {failed['seed']}" in done.stdout and f"--replica {failed['replica']}" in done.stdout


@pytest.mark.tier4
def test_the_reported_replica_replays_and_its_seed_reruns_it(planted_soak: Any, tmp_path: Path) -> None:
    _, doc, report = planted_soak
    first = doc["soak"]["first_failure"]
    replay = _stresskit("replay", str(report), "--replica", str(first["replica"]), "--runs", "1", env=PLANTED)
    assert replay.returncode == 1, replay.stdout + replay.stderr
    assert "reproduced in 1/1 runs" in replay.stdout
    rerun = tmp_path / "rerun.json"
    run = _stresskit("run", "parallel_alloc", *OPS, "--seed", str(first["seed"]), "--json", str(rerun), "-q", env=PLANTED)
    assert run.returncode == 1, run.stdout + run.stderr
    worker = next(w for w in json.loads(rerun.read_text())["workers"] if w["replica"] == first["run_replica"])
    failed_replica = next(r for r in doc["soak"]["replicas"] if r["replica"] == first["replica"])
    assert worker["seed"] == failed_replica["replica_seed"]
    assert worker["replay"]["signature"]["failed"] == doc["workers"][0]["replay"]["signature"]["failed"]
    assert worker["replay"]["plan"] == {**doc["workers"][0]["replay"]["plan"], "replica": first["run_replica"]}


@pytest.mark.tier4
def test_repeat_runs_n_replicas_that_pass(tmp_path: Path) -> None:
    """cross_thread_free alternates the glue's statistics on and off between replicas and has a
    threshold over glue.* figures only stats-on replicas produce: each replica is judged on what
    it can produce (a stats-off replica once failed its soak for lacking them)."""
    report = tmp_path / "r.json"
    done = _stresskit("run", "cross_thread_free", *OPS, "--repeat", "3", "-w", "2", "--json", str(report), "-q")
    assert done.returncode == 0, done.stdout + done.stderr
    soak = json.loads(report.read_text())["soak"]
    assert (soak["replicas_run"], soak["passed"], soak["stopped"]) == (3, 3, "repeat")
    assert [r["replica"] for r in soak["replicas"]] == [0, 1, 2]
    assert len({r["replica_seed"] for r in soak["replicas"]}) == 3
    [typed] = read_reports(report)
    assert typed.soak is not None and typed.status == "pass"


@contextlib.contextmanager
def _soak_running(report: Path, replicas_on_disk: int) -> Iterator[subprocess.Popen[str]]:
    """A long soak, handed over once ``replicas_on_disk`` replicas are in its report; whatever
    is left of its process group (an orphaned worker) is killed on the way out."""
    proc = subprocess.Popen([*STRESSKIT, "run", "parallel_alloc", *OPS, "--repeat", "500", "-w", "1", "--json", str(report), "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _wait_for(report, replicas_on_disk, proc)
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def _finished_on_disk(report: Path) -> list[dict[str, Any]]:
    try:
        return json.loads(report.read_text())["soak"]["replicas"]
    except (OSError, ValueError, KeyError):
        return []


def _wait_for(report: Path, replicas: int, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while len(_finished_on_disk(report)) < replicas:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "the soak wrote no replicas in time"
        time.sleep(0.1)


@pytest.mark.tier4
def test_the_report_keeps_every_finished_replica_through_a_kill_9_of_the_supervisor(tmp_path: Path) -> None:
    report = tmp_path / "soak.json"
    with _soak_running(report, 3) as proc:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    doc = json.loads(report.read_text())
    replicas = doc["soak"]["replicas"]
    assert proc.returncode == -signal.SIGKILL
    assert len(replicas) >= 3 and [r["replica"] for r in replicas] == list(range(len(replicas)))
    assert all(r["status"] == "pass" and isinstance(r["replica_seed"], int) for r in replicas)
    assert doc["complete"] is False and doc["soak"]["stopped"] is None


@pytest.mark.tier4
def test_ctrl_c_ends_the_soak_with_what_it_has(tmp_path: Path) -> None:
    report = tmp_path / "soak.json"
    with _soak_running(report, 2) as proc:
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    doc = json.loads(report.read_text())
    assert doc["soak"]["stopped"] == "interrupted" and doc["status"] == "error"
    assert doc["soak"]["replicas_run"] >= 2 and "Traceback" not in err


def _batch_report(replicas: list[int], failing: set[int]) -> dict[str, Any]:
    """A run report as session.execute hands it to the writer, with heavy per-replica data."""
    def worker(k: int) -> dict[str, Any]:
        verdict = "fail" if k in failing else "pass"
        return {"replica": k, "status": "ok", "seed": k, "elapsed_s": 0.1, "metrics": {"throughput.ops_per_s": 1e6 + k},
                "replay": {"seed": k, "plan": {"replica": k}, "environment": {},
                           "signature": {"status": verdict, "failed": ["no_corruption"] if verdict == "fail" else []}}}
    return {"schema_version": 1, "scenario": {"name": "s"}, "status": "pass", "complete": True, "interrupted": False,
            "metrics": {}, "thresholds": [], "errors": [], "plan": {"roles": [], "replicas": len(replicas)},
            "workers": [worker(k) for k in replicas],
            "latency_histograms": [{"replica": k, "buckets": [[1, 2, 3]] * 500} for k in replicas]}


@pytest.mark.tier1
def test_a_long_soak_keeps_passing_replicas_as_bounded_summaries(monkeypatch: pytest.MonkeyPatch) -> None:
    from stresskit.plan import ReplicaPlan
    from stresskit.soak import stream
    from stresskit.soak.seeds import SoakReplica

    monkeypatch.setattr(stream, "MAX_PASSING_SUMMARIES", 20)
    writer = stream.SoakWriter(None, run_seed=1, limits={})
    for start in range(0, 200, 2):  # 200 replicas in batches of two; replica 51 fails
        ks = [start, start + 1]
        writer.begin([SoakReplica(ReplicaPlan(scenario="s", replica=k, seed=k, roles=()), base_seed=1000 + k, run_replica=0) for k in ks])
        writer.end(_batch_report(ks, failing={51}))
    doc = writer.finish("repeat")
    soak = doc["soak"]
    assert (soak["passed"], soak["failed"], soak["passing_summaries_dropped"]) == (199, 1, 179)
    assert [r["replica"] for r in soak["replicas"]] == [51, *range(180, 200)]
    assert [w["replica"] for w in doc["workers"]] == [51]  # kept whole, with its replay plan
    assert doc["workers"][0]["replay"]["soak"] == {"base_seed": 1051, "replica": 0}
    assert {h["replica"] for h in doc["latency_histograms"]} == {50, 51}  # the failing batch's detail only
    assert doc["status"] == "fail" and doc["complete"] is True

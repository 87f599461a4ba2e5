"""Bounded memory (issue 9.2): a plan's worst case is known before it runs (`validate` prints it,
`--max-memory` refuses it, exit 2) and a worker that passes it while running is killed and
reported (exit 3), never the machine."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path

import pytest

from conftest import leftovers, scenario, start, stresskit, temp_files, wait_running

pytestmark = [pytest.mark.tier5, pytest.mark.faults]

ESTIMATE = re.compile(r"worst-case memory per worker: (\d+(?:\.\d)?) (B|KiB|MiB|GiB|TiB)")


def test_validate_prints_the_worst_case_memory_per_worker(tmp_path: Path) -> None:
    run = stresskit("validate", str(scenario(tmp_path)), "smr")
    assert run.returncode == 0, run.stderr
    found = ESTIMATE.findall(run.stdout)
    assert len(found) == 2, run.stdout
    assert all(unit in ("MiB", "GiB") for _, unit in found)


@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_plan_above_max_memory_is_refused_before_anything_runs(tmp_path: Path, command: str) -> None:
    sc = scenario(tmp_path)
    out = tmp_path / "r.json"
    extra = ("--json", str(out)) if command == "run" else ()
    run = stresskit(command, str(sc), "--max-memory", "64MiB", *extra, cwd=tmp_path)
    assert run.returncode == 2, run.stdout + run.stderr
    (line,) = run.lines()
    assert line.startswith(f"{sc}: worst-case memory per worker ") and "is above --max-memory 64.0 MiB" in line, line
    assert not out.exists() and temp_files(tmp_path) == []


def test_the_default_limit_is_a_share_of_the_machines_memory(tmp_path: Path) -> None:
    # hidden variant: no option given; a limbo of 2^24 one-GiB blocks cannot fit any machine
    sc = tmp_path / "huge.toml"
    sc.write_text("""
[roles.a]
action = "produce"
sizes = "1GiB"
[roles.b]
action = "retire"
[roles.c]
action = "reclaim"
grace = "60s"
limbo = 16777216
[[flows]]
from = "a"
to = "b"
[[flows]]
from = "b"
to = "c"
""")
    run = stresskit("validate", str(sc), "smr")
    assert run.returncode == 2
    (line,) = run.lines()
    assert "huge.toml" in line and re.search(r"above --max-memory [\d.]+ GiB \(50% of [\d.]+ GiB RAM / \d+ workers? at once\)", line), line
    assert len(ESTIMATE.findall(run.stdout)) == 1, "the other file is still reported"


def test_an_oom_limit_its_ledger_cannot_reach_is_refused(tmp_path: Path) -> None:
    sc = tmp_path / "oom.toml"
    sc.write_text('[roles.hog]\naction = "oom"\nsizes = 16\nmemory_limit = "1GiB"\n')  # within RAM, beyond the ledger
    run = stresskit("validate", str(sc))
    assert run.returncode == 2
    (line,) = run.lines()
    assert line.startswith(f"{sc}: roles.hog.memory_limit: at most 8,388,608 blocks of the smallest size (16 B)"), line


def test_a_worker_past_its_budget_is_killed_and_reported_the_others_kept(tmp_path: Path) -> None:
    sc = scenario(tmp_path, timed=True).read_text().replace('duration = "30s"', 'duration = "4s"')
    path = tmp_path / "s.toml"
    path.write_text(sc)
    out = tmp_path / "r.json"
    run = stresskit("run", str(path), "--json", str(out), "-q", cwd=tmp_path, env={"STRESSKIT_TEST_CRASH": "1:grow:0.2"}, timeout=60)
    assert run.returncode == 3, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    doc = json.loads(out.read_text())
    ok, over = doc["workers"]
    assert ok["status"] == "ok" and ok["stop_reason"] == "duration"
    budget = doc["metrics"]["memory.rss_budget_bytes"]
    assert over["status"] == "over_budget" and over["signal"] == "SIGKILL", over
    assert re.fullmatch(r"RSS [\d.]+ MiB passed its budget [\d.]+ MiB; killed \(docs/scenarios.md, Memory\)", over["error"]), over["error"]
    # sampled every 0.25 s while growing 512 MiB/s: caught within about a second of passing it
    assert budget < over["peak_rss_bytes"] <= budget + (512 << 20), (over["peak_rss_bytes"], budget)
    assert over["elapsed_s"] < 4, "killed before its duration ended"
    assert doc["complete"] is True and doc["status"] == "error"
    assert leftovers(run.tag) == [] and temp_files(tmp_path) == []


@pytest.mark.parametrize("stop", [None, "SIGTERM"])
def test_a_profile_directory_the_run_made_and_left_empty_is_removed(tmp_path: Path, stop: str | None) -> None:
    sc = scenario(tmp_path, timed=stop is not None)
    prof = tmp_path / "prof" / "deeper"
    env = {"STRESSKIT_PY_SPY": str(tmp_path / "no-py-spy")}  # nothing is sampled, nothing written
    if stop is None:
        run = stresskit("run", str(sc), "--profile", "--profile-dir", str(prof), "-q", cwd=tmp_path, env=env)
        assert run.returncode == 0, run.stderr
    else:
        sup, tag = start("run", str(sc), "--profile", "--profile-dir", str(prof), cwd=tmp_path, env=env)
        try:
            wait_running(sup, 2)
            time.sleep(0.3)
            sup.send_signal(signal.SIGTERM)
            sup.communicate(timeout=30)
        finally:
            if sup.poll() is None:
                sup.kill()
        assert sup.returncode == 143
        assert leftovers(tag) == []
    assert not prof.exists(), sorted(p.name for p in prof.iterdir())
    kept = tmp_path / "kept"
    kept.mkdir()  # the user's own directory stays, even empty
    assert stresskit("run", str(scenario(tmp_path)), "--profile", "--profile-dir", str(kept), "-q", cwd=tmp_path, env=env).returncode == 0
    assert kept.is_dir()

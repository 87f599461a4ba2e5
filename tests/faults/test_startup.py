"""Start-up failures fail fast with their real cause (issue 9.3)."""

from __future__ import annotations

import json
import resource
from pathlib import Path

import pytest

from conftest import leftovers, scenario, stresskit

pytestmark = [pytest.mark.tier5, pytest.mark.faults]


@pytest.mark.parametrize("kind", ["file-as-parent", "file-as-grandparent"])
def test_unwritable_profile_dir_exits_2_within_a_second(tmp_path: Path, kind: str) -> None:
    sc = scenario(tmp_path)
    (tmp_path / "afile").write_text("x")
    where = tmp_path / "afile" / "prof" if kind == "file-as-parent" else tmp_path / "afile" / "a" / "b"
    run = stresskit("run", str(sc), "--profile", "--profile-dir", str(where), "--json", str(tmp_path / "r.json"))
    assert run.returncode == 2, run.stderr
    assert len(run.lines()) == 1 and "--profile-dir" in run.stderr and f"{tmp_path / 'afile'} is not a directory" in run.stderr
    assert run.elapsed < 3, f"took {run.elapsed:.1f} s"
    assert not (tmp_path / "r.json").exists(), "nothing may run"


def test_profiler_failure_never_holds_back_the_workers(tmp_path: Path) -> None:
    """A py-spy that cannot run (here: not executable) is a problem in the report, not a wait."""
    sc = scenario(tmp_path)
    fake = tmp_path / "py-spy"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    out = tmp_path / "r.json"
    run = stresskit("run", str(sc), "--profile", "--profile-dir", str(tmp_path / "prof"), "--json", str(out), "--quiet",
                    env={"STRESSKIT_PY_SPY": str(fake)})
    assert run.returncode == 0, run.stderr
    assert run.elapsed < 15
    doc = json.loads(out.read_text())
    assert doc["profile"]["problems"] and all(w["status"] == "ok" for w in doc["workers"])


@pytest.mark.parametrize("nofile", [20, 12])
def test_spawn_failure_under_ulimit_n_names_the_cause(tmp_path: Path, nofile: int) -> None:
    sc = scenario(tmp_path, replicas=6, workers=6)
    out = tmp_path / "r.json"
    run = stresskit("run", str(sc), "--json", str(out), limits={resource.RLIMIT_NOFILE: nofile})
    assert run.returncode == 3, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    cause = [ln for ln in run.lines() if "Too many open files" in ln]
    assert cause and "could not start its worker process" in cause[0], run.stderr
    assert "--json" not in run.stderr and "--profile-dir" not in run.stderr, "blamed on an output path"
    doc = json.loads(out.read_text())
    assert doc["complete"] is True
    started = [w for w in doc["workers"] if w["pid"] is not None]
    assert all(w["status"] == "ok" for w in started), doc["workers"]  # started workers stay in the report
    assert any("Too many open files" in w["error"] for w in doc["workers"])
    if started:
        assert doc["metrics"]["ops.total"] > 0
    assert leftovers(run.tag) == []

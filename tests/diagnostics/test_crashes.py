"""Crashes: a worker that dies of a signal inside the engine reports the signal, every thread's
Python stack (faulthandler) with the role threads named, the faulting thread's native backtrace
with the engine's frames, and each role's last progress; the crash files are cleaned up."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scenario_helpers import read_json, stresskit
from stresskit.diagnostics import crashes

pytestmark = pytest.mark.tier4

def _crash(tmp_path: Path, scenario: Path, env: dict[str, str]) -> tuple[dict, str]:
    """Run the scenario with a crash planted; the report's crash diagnosis and the console."""
    out = tmp_path / "r.json"
    result = stresskit("run", str(scenario), "--json", str(out), env=env)
    assert result.returncode == 3, result.stdout + result.stderr
    return read_json(out)["workers"][0], result.stdout


def _leftover_dirs(tmp: Path) -> set[str]:
    return {d for d in os.listdir(tmp) if d.startswith("stresskit-replica")}


def test_segfault_in_a_role_thread_names_signal_thread_frames_and_progress(tmp_path: Path, pipe_scenario) -> None:
    tmp = tmp_path / "tmp"  # the run's own temporary directory: other runs on the machine leave theirs in /tmp
    tmp.mkdir()
    worker, console = _crash(tmp_path, pipe_scenario(), {"STRESSKIT_TEST_ENGINE_HOOKS": "testing_crash_role=consumer@0.6", "TMPDIR": str(tmp)})
    assert worker["status"] == "crashed" and worker["signal"] == "SIGSEGV"
    diag = worker["diagnostics"]["crash"]
    assert diag["signal"] == "SIGSEGV"
    # Python: faulthandler's dump of every thread, the faulting one named after its role
    assert diag["faulting_thread"] == "sk-consumer-0"
    threads = {t["name"]: t for t in diag["python_stacks"]["threads"]}
    assert {"sk-consumer-0", "sk-consumer-1", "sk-producer-0"} <= set(threads)
    assert threads["sk-consumer-0"]["current"] and threads["sk-consumer-0"]["frames"][0].startswith("_role_thread ")
    # native: the engine's handler, symbolised, with the step function under sk_role_step
    native = diag["native_backtrace"]
    assert native["ok"] and native["header"].startswith("fatal signal 11 (SIGSEGV) in thread ")
    names = [f["function"] for f in native["frames"]]
    assert "<signal frame>" in names
    after = names[names.index("<signal frame>") + 1:]
    assert after[:4] == ["planted_fault", "sk_watch_hooks", "step_consume", "sk_role_step"]
    # the last progress each role reported before the crash (0.6 s of work: far from zero)
    assert diag["last_progress"]["producer"] > 1000 and diag["last_progress"]["consumer"] > 1000
    lines = crashes.summary_lines(diag)
    assert lines[0] == "crash: SIGSEGV in thread sk-consumer-0"
    assert lines[1].startswith("native: sk_watch_hooks <- step_consume <- sk_role_step")
    assert "crash: SIGSEGV in thread sk-consumer-0" in console
    assert not _leftover_dirs(tmp)  # the supervisor removed the replica's crash directory


def test_sigkill_says_why_there_are_no_stacks(tmp_path: Path, pipe_scenario) -> None:
    diag = _crash(tmp_path, pipe_scenario(), {"STRESSKIT_TEST_CRASH": "0:kill:0.5"})[0]["diagnostics"]["crash"]
    assert diag["signal"] == "SIGKILL"
    assert diag["python_stacks"] == {"ok": False, "error": "faulthandler wrote nothing: SIGKILL cannot be caught "
                                     "(the OOM killer, kill -9)"}
    assert diag["native_backtrace"]["ok"] is False
    assert diag["last_progress"]["producer"] > 0


def test_abort_from_a_timer_thread_is_caught_by_both_handlers(tmp_path: Path, pipe_scenario) -> None:
    """The older hook (STRESSKIT_TEST_CRASH, a timer thread): SIGABRT outside the engine still
    leaves both files, the native one showing the raising thread's frames."""
    diag = _crash(tmp_path, pipe_scenario(), {"STRESSKIT_TEST_CRASH": "0:abort:0.5"})[0]["diagnostics"]["crash"]
    assert diag["signal"] == "SIGABRT"
    assert diag["native_backtrace"]["ok"] and "(SIGABRT)" in diag["native_backtrace"]["header"]
    names = {t["name"] for t in diag["python_stacks"]["threads"]}
    assert diag["python_stacks"]["ok"] and diag["faulting_thread"] in names

"""Signals (issue 9.4): SIGTERM and SIGHUP end a run like Ctrl-C, with a stopped worker among
the workers; a SIGKILLed supervisor leaves no worker behind."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from conftest import SIGNALS, leftovers, scenario, start, temp_files, wait_running, workers_of

pytestmark = [pytest.mark.tier5, pytest.mark.faults]


@pytest.mark.parametrize(("name", "code"), [("SIGTERM", 143), ("SIGHUP", 129)])
def test_stop_signal_with_a_stopped_worker_keeps_every_result(tmp_path: Path, name: str, code: int) -> None:
    sc = scenario(tmp_path, timed=True)
    out = tmp_path / "r.json"
    sup, tag = start("run", str(sc), "--json", str(out), cwd=tmp_path)
    try:
        pids = wait_running(sup, 2)
        os.kill(pids[0], signal.SIGSTOP)  # it can hear "stop" only once continued
        time.sleep(0.3)
        t0 = time.monotonic()
        sup.send_signal(SIGNALS[name])
        stdout, stderr = sup.communicate(timeout=30)
        took = time.monotonic() - t0
    finally:
        if sup.poll() is None:
            sup.kill()
    assert sup.returncode == code, stdout + stderr
    assert f"interrupted by {name}" in stdout + stderr
    assert "Traceback" not in stderr
    doc = json.loads(out.read_text())
    assert doc["complete"] is True and doc["interrupted"] == name and doc["status"] == "error"
    assert [w["status"] for w in doc["workers"]] == ["ok", "ok"], doc["workers"]
    assert doc["metrics"]["replicas.completed"] == 2 and doc["metrics"]["ops.total"] > 0
    assert took < 3, f"{took:.1f} s: the stopped worker was not continued (it waited for the kill)"
    assert leftovers(tag) == [] and temp_files(tmp_path) == []


def test_stop_signal_with_a_hung_worker_kills_it_and_keeps_the_other(tmp_path: Path) -> None:
    sc = scenario(tmp_path, timed=True)
    out = tmp_path / "r.json"
    sup, tag = start("run", str(sc), "--json", str(out), cwd=tmp_path, env={"STRESSKIT_TEST_CRASH": "1:hang:0"})
    try:
        pids = wait_running(sup, 2, running=1)
        time.sleep(0.5)
        sup.send_signal(signal.SIGTERM)
        stdout, stderr = sup.communicate(timeout=30)
    finally:
        if sup.poll() is None:
            sup.kill()
    assert sup.returncode == 143, stderr
    doc = json.loads(out.read_text())
    statuses = {w["replica"]: w["status"] for w in doc["workers"]}
    assert statuses == {0: "ok", 1: "interrupted"}, doc["workers"]
    assert "stopped by SIGTERM" in doc["workers"][1]["error"]
    assert leftovers(tag) == [] and pids


@pytest.mark.parametrize("stopped", [True, False], ids=["stopped-worker", "running-workers"])
def test_workers_do_not_outlive_a_sigkilled_supervisor(tmp_path: Path, stopped: bool) -> None:
    sc = scenario(tmp_path, timed=True)
    sup, tag = start("run", str(sc), "--json", str(tmp_path / "r.json"), cwd=tmp_path)
    try:
        pids = wait_running(sup, 2)
        if stopped:
            os.kill(pids[0], signal.SIGSTOP)
        sup.kill()
        sup.wait(timeout=10)
    finally:
        if sup.poll() is None:
            sup.kill()
    survivors = leftovers(tag, grace_s=5)
    for pid in survivors:  # never leave them to the next test
        os.kill(pid, signal.SIGKILL)
    assert survivors == [], "workers outlived their supervisor"
    assert workers_of(sup.pid) == []
    json.loads((tmp_path / "r.json").read_text())  # the report on disk is still a whole document

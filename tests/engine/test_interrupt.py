"""A real Ctrl-C (SIGINT) in the middle of a run: the engine stops its threads, frees its native
run and lets KeyboardInterrupt through — no crash, no hang, no thread left behind."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

CHILD = r"""
import faulthandler, signal, sys, threading
faulthandler.register(signal.SIGUSR1, all_threads=True)  # the test asks for stacks if it hangs
# A test run started in the background (`cmd &` in a script) ignores SIGINT and so would we.
signal.signal(signal.SIGINT, signal.default_int_handler)
from stresskit.engine import run_replica
from stresskit.plan import QueuePlan, ReplicaPlan, RolePlan
plan = ReplicaPlan(scenario="sigint", replica=0, seed=1, ops=None, duration_s=60, roles=(
    RolePlan("A", "produce", 2, outbox="pub"),
    RolePlan("B", "retire", 1, inbox="pub", outbox="ret"),
    RolePlan("C", "reclaim", 1, inbox="ret", grace_ns=5_000_000)),
    queues=(QueuePlan("pub", 64), QueuePlan("ret", 64)))
started = threading.Event()
def progress(done, target):
    if done > 0 and not started.is_set():
        started.set()
        print("running", flush=True)
try:
    run_replica(plan, progress=progress)
except KeyboardInterrupt:
    print("interrupted", threading.active_count(), flush=True)
    sys.exit(0)
print("finished without interrupt", flush=True)
sys.exit(1)
"""


@pytest.mark.tier5
def test_sigint_mid_run_is_clean():
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "running", proc.stderr.read()
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGUSR1)  # every thread's Python stack, for the failure message
            time.sleep(1)
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"the interrupted run did not end within 30 s; its threads:\n{err[-6000:]}")
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-3000:]
    assert out.strip() == "interrupted 1", "role threads outlived the interrupted run"

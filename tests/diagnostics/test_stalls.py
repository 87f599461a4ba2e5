"""Stalls: a planted stall and a planted deadlock cycle must be found by the worker's watchdog,
reported with every thread's Python + native stack (py-spy dump --native), the engine's view of
each role, the wait-for graph and the right sentence; a deadline kill dumps stacks first."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import plant_deadlock
from scenario_helpers import read_json, stresskit
from stresskit.diagnostics import stalls, waitgraph
from stresskit.plan import QueuePlan, ReplicaPlan, RolePlan
from stresskit.report.json_report import _replica
from stresskit.runner.pool import run_replicas

pytestmark = pytest.mark.tier4

def _stacks_or_skip(diag: dict) -> str:
    stacks = diag["stacks"]
    assert stacks["command"].startswith("py-spy dump --native --pid")
    if not stacks["ok"]:
        # The report must say why in one line; only then may the test stop here.
        assert stacks["error"] and "\n" not in stacks["error"]
        pytest.skip(f"py-spy could not dump the worker: {stacks['error']}")
    return stacks["text"]


def test_planted_stall_names_the_held_role_queue_and_stacks(tmp_path: Path, pipe_scenario) -> None:
    scenario = pipe_scenario(stall_timeout="0.5s", capacity=16)
    out = tmp_path / "r.json"
    start = time.monotonic()
    result = stresskit("run", str(scenario), "--json", str(out),
                       env={"STRESSKIT_TEST_ENGINE_HOOKS": "testing_hold_role=consumer@0.3"})
    assert time.monotonic() - start < 30
    assert result.returncode == 3, result.stdout + result.stderr
    worker = read_json(out)["workers"][0]
    assert worker["status"] == "stalled" and worker["stop_reason"] == "stalled"
    diag = worker["diagnostics"]["stall"]
    assert diag["trigger"] == "stall_timeout" and diag["stall_timeout_s"] == 0.5
    assert "consumer" in diag["stalled_roles"]
    roles = {r["name"]: r for r in diag["roles"]}
    assert {t["state"] for t in roles["consumer"]["threads"]} == {"held"}
    assert roles["producer"]["threads"][0] == {**roles["producer"]["threads"][0], "state": "wait_full",
                                               "queue": "producer_to_consumer"}
    assert roles["producer"]["progress"] > 0  # it worked until the consumer stopped
    assert diag["wait_for"] == [{"from": "producer", "to": "consumer", "queue": "producer_to_consumer", "why": "full"}]
    assert diag["cycles"] == []
    assert diag["sentence"].startswith("stall: consumer made no progress")
    assert "deadlock" not in diag["sentence"]
    assert "producer waits for consumer (queue producer_to_consumer full)" in diag["sentence"]
    assert "stall: consumer made no progress" in result.stdout  # the "why it failed" block
    text = _stacks_or_skip(diag)
    # py-spy names the threads and shows the native frames under sk_role_step
    assert '"sk-consumer-0"' in text and '"sk-producer-0"' in text
    assert "step_consume" in text and "sk_watch_hooks" in text
    assert "push_pending" in text and "step_produce" in text


def _deadlock_plan(stall_s: float) -> ReplicaPlan:
    # retire_a: q1 -> q2 and retire_b: q2 -> q1 is a cycle the scenario validator rejects; with
    # the recirculate hook every block stays in the loop and the small queues fill for good.
    return plant_deadlock.deadlock_plan(stall_s)


STARVED = "stall: producer made no progress for {:.1f} s (waits on its full outbox q1); producer waits for retire_a (queue q1 full)"


def _deadlocked_worker(attempts: int = 3) -> dict:
    """The planted loop is racy: before it fills, the two retire roles may pass the few blocks
    already in it back and forth so fast that the producer cannot get one more into q1 (a
    livelock that starves it). The watchdog must then report exactly that starvation, with no
    cycle; the next attempt usually deadlocks (about 1 run in 5 starves at a 0.5 s timeout,
    none of 8 at 1.5 s)."""
    for _ in range(attempts):
        rec = run_replicas([_deadlock_plan(1.0)], workers=1)[0]
        assert rec.status == "stalled", rec.error
        worker = _replica(rec)  # what the JSON report holds for this worker
        diag = worker["diagnostics"]["stall"]
        if diag["cycles"]:
            return worker
        idle = {r["name"]: r["idle_s"] for r in diag["roles"]}["producer"]
        assert diag["sentence"] == STARVED.format(idle), diag["sentence"]
    pytest.fail(f"no deadlock in {attempts} attempts (each starved the producer instead)")


def test_planted_deadlock_is_a_cycle_in_the_wait_for_graph() -> None:
    start = time.monotonic()
    worker = _deadlocked_worker()
    assert time.monotonic() - start < 60
    diag = worker["diagnostics"]["stall"]
    assert worker["stop_reason"] == "stalled"
    roles = {r["name"]: r for r in diag["roles"]}
    assert roles["retire_a"]["threads"][0]["state"] == "wait_full" and roles["retire_a"]["threads"][0]["queue"] == "q2"
    assert roles["retire_b"]["threads"][0]["state"] == "wait_full" and roles["retire_b"]["threads"][0]["queue"] == "q1"
    assert diag["cycles"] == [[
        {"from": "retire_a", "to": "retire_b", "queue": "q2", "why": "full"},
        {"from": "retire_b", "to": "retire_a", "queue": "q1", "why": "full"},
    ]]
    assert diag["sentence"] == ("deadlock: retire_a waits for retire_b (queue q2 full), "
                                "retire_b waits for retire_a (queue q1 full)")
    assert {"from": "producer", "to": "retire_a", "queue": "q1", "why": "full"} in diag["wait_for"]
    assert stalls.summary_lines(diag)[1] == "wait-for cycle: retire_a -> retire_b -> retire_a"
    text = _stacks_or_skip(diag)
    assert '"sk-retire_a-0"' in text and "step_retire" in text


def test_the_loop_without_the_hook_deadlocks_on_completion() -> None:
    """Why the validator rejects cyclic flows, shown by the graph: without the hook a block is
    retired once (retire_b counts the second retire as a double hand-off and drops it), so the
    loop drains, but each retire role waits for the other to finish before its inbox counts as
    drained for good: once the producer is done, both wait on an empty inbox for ever."""
    rec = run_replicas([plant_deadlock.deadlock_plan(0.5, recirculate=False, ops=2_000)], workers=1)[0]
    assert rec.status == "stalled", rec.error
    diag = rec.diagnostics["stall"]
    assert diag["sentence"] == ("deadlock: retire_a waits for retire_b (queue q1 empty), "
                                "retire_b waits for retire_a (queue q2 empty)")
    roles = {r["name"]: r for r in diag["roles"]}
    assert {t["state"] for t in roles["producer"]["threads"]} == {"finished"}


def test_a_healthy_run_is_not_a_stall() -> None:
    """The control: a short timeout on a run that works reports nothing."""
    roles = (RolePlan("producer", "produce", 1, outbox="q"), RolePlan("consumer", "consume", 2, inbox="q"),
             RolePlan("local", "alloc_free", 1))
    plan = ReplicaPlan("healthy", 0, 9, roles, (QueuePlan("q", 16),), ops=None, duration_s=2.0, deadline_s=60,
                       stall_timeout_s=0.3)
    rec = run_replicas([plan], workers=1)[0]
    assert rec.status == "ok", rec.error
    assert rec.result is not None and rec.result.stop_reason == "duration"
    assert "stall" not in rec.diagnostics and "stall" not in rec.result.diagnostics


def test_hung_worker_stacks_are_dumped_before_the_deadline_kill(tmp_path: Path, pipe_scenario) -> None:
    scenario = pipe_scenario(deadline="3s", stall_timeout="1s")
    out = tmp_path / "r.json"
    result = stresskit("run", str(scenario), "--json", str(out), env={"STRESSKIT_TEST_CRASH": "0:hang:0"})
    assert result.returncode == 3, result.stdout + result.stderr
    worker = read_json(out)["workers"][0]
    assert worker["status"] == "timeout" and worker["signal"] == "SIGKILL"
    diag = worker["diagnostics"]["stall"]
    assert diag["trigger"] == "deadline"
    text = _stacks_or_skip(diag)
    assert "_arm_crash_hook" in text  # where the hung main thread sleeps


def test_wait_for_graph_units() -> None:
    roles = [
        {"name": "a", "inbox": "q3", "outbox": "q1", "waits": [{"state": "wait_full", "queue": "q1"}]},
        {"name": "b", "inbox": "q1", "outbox": "q2", "waits": [{"state": "wait_full", "queue": "q2"}]},
        {"name": "c", "inbox": "q2", "outbox": "q3", "waits": [{"state": "wait_full", "queue": "q3"}]},
        {"name": "d", "inbox": "q3", "outbox": None, "waits": [{"state": "wait_empty", "queue": "q3"}]},
    ]
    edges = waitgraph.edges(roles)
    loops = waitgraph.cycles(edges)
    assert [[(e.waiter, e.waits_for) for e in loop] for loop in loops] == [[("a", "b"), ("b", "c"), ("c", "a")]]
    # d waits for c (the pusher of q3) but is not part of the cycle
    assert ("d", "c") in [(e.waiter, e.waits_for) for e in edges]
    assert waitgraph.cycles([e for e in edges if e.waiter != "c"]) == []


def test_stall_timeout_the_deadline_would_cut_is_refused(pipe_scenario) -> None:
    scenario = pipe_scenario(deadline="10s", stall_timeout="20s")
    result = stresskit("validate", str(scenario))
    assert result.returncode == 2, result.stdout + result.stderr
    assert (result.stdout + result.stderr).strip().splitlines() == [
        f"{scenario}: load.stall_timeout: a timeout below the engine's stop at 9 s (load.deadline 10 s minus "
        "max(1 s, 5 %)), or the deadline ends the replica first (got 20 s)"
    ]


def _view_role(name: str, inbox: str | None, outbox: str | None, idle_s: float, state: str, queue: str | None) -> dict:
    waits = [{"state": state, "queue": queue}] if queue else []
    return {"name": name, "action": "x", "inbox": inbox, "outbox": outbox, "idle_s": idle_s, "progress": 1,
            "threads": [{"thread": 0, "state": state, **({"queue": queue} if queue else {}), "heartbeat": 1,
                         "idle_s": idle_s}], "waits": waits, "grace_s": 0.0}


def test_a_role_blocked_by_stuck_roles_is_in_the_graph_even_if_it_moved_last() -> None:
    """The planted deadlock's race, without the race: the producer got its last block into q1 a
    moment after the loop's roles stopped, so at the timeout its own idle time is just short of
    it. It still waits on q1, whose only popper is stuck: its edge belongs in the graph. A role
    waiting on a queue whose other side still moves does not."""
    roles = [
        _view_role("producer", None, "q1", 0.98, "wait_full", "q1"),
        _view_role("retire_a", "q1", "q2", 1.2, "wait_full", "q2"),
        _view_role("retire_b", "q2", "q1", 1.2, "wait_full", "q1"),
        _view_role("side", "q3", None, 0.1, "wait_empty", "q3"),
        _view_role("feeder", None, "q3", 0.0, "running", None),
    ]
    diag = stalls.diagnose({"roles": roles, "queues": ["q1", "q2", "q3"], "stall_timeout_s": 1.0},
                           "stall_timeout", ["retire_a", "retire_b"], None)
    assert {"from": "producer", "to": "retire_a", "queue": "q1", "why": "full"} in diag["wait_for"]
    assert not any(e["from"] == "side" for e in diag["wait_for"]), diag["wait_for"]
    assert [[(e["from"], e["to"]) for e in loop] for loop in diag["cycles"]] == [[("retire_a", "retire_b"), ("retire_b", "retire_a")]]

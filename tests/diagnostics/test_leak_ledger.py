"""The leak ledger names what leaked and where it was last seen: planted leaks through the
engine's hook (aimed at one role) and through a real glue mutant, checked against what the plan
makes certain (each producing role has its own size, so the size says who allocated a block)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys

import pytest

from stresskit.diagnostics import leaks
from stresskit.engine import run_replica
from stresskit.plan import ReplicaPlan

from .plans import by_size, local, smr, two_producers

pytestmark = pytest.mark.tier4
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _ledger(plan: ReplicaPlan) -> dict:
    result = run_replica(plan)
    assert result.checks["mimalloc_scanned"] == 1, "mimalloc's heap must have been visited"
    return result.diagnostics["leaks"]


def test_hook_leak_in_consumers_is_traced_to_its_allocator_and_freer():
    ledger = _ledger(two_producers(testing_leak_blocks=6, testing_leak_role="consumer"))
    assert ledger["blocks"] == 6
    assert len(ledger["first_blocks"]) == 6
    for block in ledger["first_blocks"]:
        assert block["allocated_by"]["role"] == by_size(block["size"]), block
        assert block["allocated_by"]["thread"] == 0
        assert block["freed_by"]["role"] == "consumer"
        assert block["state"] == "freed" and block["handed_off"]
        assert block["last_seen"] == f"handed off, then given to cc_free_unsized by {block['freed_by']['label']}"
        assert block["born_at_ns"] <= block["freed_at_ns"] + 2**20, "allocated before it was freed"
        assert block["age_ns"] >= 0
    assert sum(g["blocks"] for g in ledger["by_role"]) == 6
    assert {g["role"] for g in ledger["by_role"]} <= {"small", "big"}
    assert sum(g["bytes"] for g in ledger["by_thread"]) == ledger["bytes"]
    assert ledger["by_kind"] == [{"kind": "plain", "blocks": 6, "bytes": ledger["bytes"]}]
    assert all(g["last_seen"].endswith(("consumer[0]", "consumer[1]")) for g in ledger["by_last_seen"])
    classes = {g["size_class"] for g in ledger["by_size_class"]}
    assert classes <= {"<= 128 B", "<= 4096 B"}, classes


def test_leak_aimed_at_a_local_role_gives_the_allocation_order():
    """alloc_free frees a batch of 8 in allocation order: the first three frees are blocks 0..2."""
    ledger = _ledger(local(testing_leak_blocks=3, testing_leak_role="local"))
    assert sorted(b["alloc_index"] for b in ledger["first_blocks"]) == [0, 1, 2]
    for block in ledger["first_blocks"]:
        assert not block["handed_off"]
        assert block["last_seen"] == "never handed off; given to cc_free by local[0]"
    assert ledger["by_thread"] == [{"role": "local", "thread": 0, "blocks": 3, "bytes": 3 * 64}]


def test_leaked_retired_block_keeps_its_retirer_and_epoch():
    ledger = _ledger(smr(testing_leak_blocks=4, testing_leak_role="C"))
    assert ledger["blocks"] == 4
    for block in ledger["first_blocks"]:
        assert block["state"] == "freed_retired"
        assert block["allocated_by"]["label"] == "A[0]"
        assert block["retired_by"]["label"] == "B[0]"
        assert block["freed_by"]["label"] == "C[0]"
        assert block["retire_epoch"] is not None and block["retire_epoch"] >= 1
        assert block["retired_at_ns"] is not None
        assert block["last_seen"] == "retired, then given to cc_free by C[0]"


def test_hook_aimed_elsewhere_does_not_fire_in_other_roles():
    """Aimed at the retirer, which frees nothing: the leak hook must never fire."""
    result = run_replica(smr(ops=2_000, testing_leak_blocks=4, testing_leak_role="B"))
    assert result.checks["mimalloc_leaked_blocks"] == 0
    assert "leaks" not in result.diagnostics


def test_an_unknown_role_for_a_hook_is_refused():
    from stresskit.engine import EngineError

    with pytest.raises(EngineError, match="testing_leak_role: 'nobody' is not a role"):
        run_replica(local(testing_leak_blocks=1, testing_leak_role="nobody"))


def test_aborted_run_reports_what_was_in_flight_and_where():
    """No op limit and a deadline: the driver aborts with blocks still in the queue."""
    plan = dataclasses.replace(two_producers(consumers=1, capacity=1024), ops=None, deadline_s=2.0)
    result = run_replica(plan)
    assert result.stop_reason == "deadline"
    flight = result.diagnostics["leaks"]["in_flight_at_stop"]
    assert flight["blocks"] == result.blocks_reaped > 0
    labels = {w["label"] for w in flight["where"]}
    assert labels <= {"waiting in queue 'q'", "waiting to be pushed by small", "waiting to be pushed by big"}
    assert result.diagnostics["leaks"]["blocks"] == 0, "the drain freed them: no glue leak"


def test_clean_runs_have_no_leak_or_corruption_diagnosis():
    for plan in (two_producers(ops=5_000), smr(ops=2_000), local(ops=500)):
        result = run_replica(plan)
        assert result.checks["mimalloc_scanned"] == 1
        assert "leaks" not in result.diagnostics, plan.scenario
        assert "corruption" not in result.diagnostics, plan.scenario


def _cli(tmp_path, env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, "-c", "from stresskit.cli import main; main()", "run", "scenarios/cross_thread_free.toml",
         "--ops", "100000", "--json", str(out), *args],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, **env}, timeout=240, check=False,
    )
    return proc, json.loads(out.read_text())


def test_cli_report_and_console_carry_the_ledger(tmp_path):
    env = {"STRESSKIT_TEST_ENGINE_HOOKS": "testing_leak_blocks=3,testing_leak_role=consumer"}
    proc, report = _cli(tmp_path, env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for worker in report["workers"]:
        ledger = worker["diagnostics"]["leaks"]
        assert ledger["blocks"] == 3
        assert all(b["freed_by"]["role"] == "consumer" for b in ledger["first_blocks"])
        assert all(b["allocated_by"]["role"] == "producer" for b in ledger["first_blocks"])
    why = proc.stdout.split("why it failed:\n", 1)[1]
    for replica in (0, 1):
        section = why.split(f"  replica {replica}:\n", 1)[1]
        assert section.startswith("    leak ledger: 3 blocks"), why
        # the hook drops the role's next 3 blocks, whichever of its 2 threads frees them: the line
        # names each thread with its count ("2 handed off, ... consumer[0]; 1 handed off, ...")
        last_seen = next(line for line in section.split("details:")[0].splitlines() if line.startswith("      last seen: "))
        parts = re.findall(r"(\d+) handed off, then given to cc_free_unsized by consumer\[\d+\]", last_seen)
        assert parts and sum(int(n) for n in parts) == 3, why
        assert f"details: {tmp_path}" in section and f"workers[{replica}].diagnostics.leaks" in section, why


@pytest.fixture(scope="module")
def leaky_glue(tmp_path_factory, cache_lock):
    """A real glue bug: cc_free counts the free but skips mi_free every 4096th call."""
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from mutation.build import Workspace
    from mutation.mutants import MUTANTS

    mutant = next(m for m in MUTANTS if m.name == "counted_not_freed")
    with cache_lock("mutants") as root:
        return Workspace(tmp_path_factory.mktemp("mutants") / "ws").library(mutant, root / "mutants")


def test_glue_mutant_leak_is_traced_to_the_freeing_consumers(tmp_path, leaky_glue):
    proc, report = _cli(tmp_path, {"STRESSKIT_NATIVE_LIB": str(leaky_glue)})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    found = 0
    # the mutant skips frees on the statistics path only: replicas alternate stats on and off
    for worker in (w for w in report["workers"] if w["stats"]):
        ledger = worker["diagnostics"]["leaks"]
        found += ledger["blocks"]
        # every 4096th cc_free of a thread: the consumers free 50,000 blocks each, the producers
        # only their warm-up and probes, so every leaked block was handed off to a consumer
        for block in ledger["first_blocks"]:
            assert block["allocated_by"]["role"] == "producer"
            assert block["freed_by"]["role"] == "consumer", block
            assert block["last_seen"].startswith("handed off, then given to cc_free_unsized by consumer[")
        assert sum(g["blocks"] for g in ledger["by_last_seen"]) == ledger["blocks"]
    assert found > 0


def test_aborted_smr_run_finds_blocks_on_the_reclaimers_retire_list():
    """A grace far longer than the run: every retired block still waits in C's limbo at the abort."""
    plan = dataclasses.replace(smr(), ops=None, deadline_s=2.0)
    plan = dataclasses.replace(plan, roles=(*plan.roles[:2], dataclasses.replace(plan.roles[2], grace_ns=60 * 10**9)))
    result = run_replica(plan)
    assert result.stop_reason == "deadline"
    where = {w["label"]: w for w in result.diagnostics["leaks"]["in_flight_at_stop"]["where"]}
    assert where["on C's retire list"]["kind"] == "retire_list"
    assert where["on C's retire list"]["blocks"] > 0
    assert sum(w["blocks"] for w in where.values()) == result.blocks_reaped
    lines = leaks.summary_lines(result.diagnostics["leaks"])
    assert len(lines) == 1 and lines[0].startswith(f"in flight at stop (deadline): {result.blocks_reaped:,} blocks: ")
    assert "on C's retire list" in lines[0]

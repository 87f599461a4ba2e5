"""The oom role under a real memory bound. The bound is process-wide, so each case runs in a
fresh interpreter (also needed for MIMALLOC_ARENA_RESERVE, read when the library loads)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from stresskit.engine import OOM_WORKER_ENV

LIMIT = 64 << 20

CHILD = r"""
import json, sys
from dataclasses import asdict
from stresskit.engine import run_replica
from stresskit.plan import ReplicaPlan, RolePlan, SizeDistribution
from stresskit.allocator import Allocator
plan = ReplicaPlan(scenario="oom", replica=0, seed=1, ops=None, roles=(
    RolePlan("oom", "oom", 1, sizes=SizeDistribution("uniform", (64, 1 << 20)),
             memory_limit_bytes=int(sys.argv[1]), oom_free_fraction=0.5),),
    extra={"oom_mechanism": sys.argv[2]})
result = run_replica(plan)
Allocator().alloc(8 << 20).free()  # the bound is lifted afterwards: a large block works again
print(json.dumps(asdict(result)))
"""


def run_child(mechanism: str) -> dict:
    env = {**os.environ, **OOM_WORKER_ENV}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(LIMIT), mechanism], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.tier4
@pytest.mark.parametrize("mechanism", ["mimalloc-arena", "rlimit-as"])
def test_oom_gets_null_then_recovers(mechanism):
    result = run_child(mechanism)
    oom = result["oom"]
    assert oom["limit_applied"] and oom["mechanism"] == mechanism
    assert oom["note"] == "", "the worker environment was set: the bound is tight"
    assert not oom["hit_safety_cap"]
    assert oom["null_returns"] > 1, "several NULLs are counted, none aborts"
    assert oom["recovered"] is True
    # The bound holds: at least half the limit, at most the limit plus mimalloc's first 64 MiB arena.
    assert LIMIT // 2 <= oom["bytes_before_null"] <= LIMIT + (80 << 20)
    assert oom["blocks_before_null"] > 0
    assert result["blocks_leaked"] == 0 and result["bytes_leaked"] == 0
    assert result["canary_failures"] == 0
    (role,) = result["roles"]
    assert role["failed_allocs"] == oom["null_returns"]
    assert result["glue_stats"]["failed_count"] == oom["null_returns"]
    assert result["glue_stats"]["current_allocated"] == 0

"""The oom role under a real memory bound: one bound per run, shared by every oom thread, exact
to the page (an exclusive mimalloc arena of the limit). Each case runs in a fresh interpreter:
a real worker runs one replica, and the RLIMIT_AS mechanism reads MIMALLOC_ARENA_RESERVE when the
library loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from stresskit.engine import OOM_WORKER_ENV

MiB = 1 << 20

CHILD = r"""
import json, sys
from stresskit.runner.worker import peak_rss_bytes
from dataclasses import asdict
from stresskit.engine import run_replica
from stresskit.plan import ReplicaPlan, RolePlan, SizeDistribution
from stresskit.allocator import Allocator
limit, lo, hi, threads, mechanism = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
sizes = SizeDistribution("fixed", (lo,)) if lo == hi else SizeDistribution("uniform", (lo, hi))
plan = ReplicaPlan(scenario="oom", replica=0, seed=1, ops=None, roles=(
    RolePlan("oom", "oom", threads, sizes=sizes, memory_limit_bytes=limit, oom_free_fraction=0.5),),
    extra={"oom_mechanism": mechanism})
result = run_replica(plan)
peak_rss = peak_rss_bytes()  # the replica's, as a worker measures it
Allocator().alloc(limit + (8 << 20)).free()  # the bound is lifted afterwards: more than it works again
out = asdict(result)
out["peak_rss"] = peak_rss
print(json.dumps(out))
"""


def run_child(limit: int, sizes: tuple[int, int], threads: int = 1, mechanism: str = "mimalloc-arena") -> dict:
    env = {**os.environ, **OOM_WORKER_ENV} if mechanism == "rlimit-as" else dict(os.environ)
    proc = subprocess.run([sys.executable, "-c", CHILD, str(limit), str(sizes[0]), str(sizes[1]), str(threads), mechanism],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def assert_sound(result: dict) -> None:
    assert result["blocks_leaked"] == 0 and result["bytes_leaked"] == 0
    assert result["canary_failures"] == 0
    assert result["checks"]["mimalloc_leaked_blocks"] == 0
    assert result["stop_reason"] == "completed"


@pytest.mark.tier4
@pytest.mark.parametrize("mechanism", ["mimalloc-arena", "rlimit-as"])
def test_oom_gets_null_then_recovers(mechanism):
    limit = 64 * MiB
    result = run_child(limit, (64, 1 << 20), mechanism=mechanism)
    oom = result["oom"]
    assert oom["limit_applied"] and oom["mechanism"] == mechanism and oom["bound_reached"]
    assert oom["note"] == ""
    assert not oom["hit_safety_cap"]
    assert oom["null_returns"] > 1, "several NULLs are counted, none aborts"
    assert oom["recovered"] is True
    assert oom["blocks_before_null"] > 0
    if mechanism == "mimalloc-arena":  # exact: never above the limit (mixed sizes fragment below it)
        assert limit // 4 <= oom["bytes_before_null"] <= oom["peak_bytes"] <= limit
    else:  # the whole address space: looser, documented
        assert limit // 4 <= oom["bytes_before_null"] <= limit + 80 * MiB
    assert_sound(result)
    (role,) = result["roles"]
    assert role["failed_allocs"] == oom["null_returns"]
    assert result["glue_stats"]["failed_count"] == oom["null_returns"]
    assert result["glue_stats"]["current_allocated"] == 0


@pytest.mark.tier4
def test_four_oom_threads_share_one_bound():
    """The issue's reproduction: 4 threads at 64 MiB ran to 9.6 GiB. Now the worker stays under
    limit + 64 MiB of RSS, and every thread sees NULL."""
    limit = 64 * MiB
    result = run_child(limit, (64, 64), threads=4)
    oom = result["oom"]
    assert oom["bound_reached"] and oom["recovered"]
    assert oom["null_returns"] == 4 * 9, "every thread hit the bound, and its 8 probes at the bound failed too"
    assert limit * 0.95 <= oom["bytes_before_null"] <= limit
    assert result["peak_rss"] < limit + 64 * MiB, "the bound, the interpreter and the engine's bookkeeping"
    assert_sound(result)


# A sample of tools/oom_grid.py's grid (docs/scenarios.md): the first NULL within max(4 MiB, 5 %)
# of the limit, from below (an exclusive arena cannot be exceeded) for one-size blocks.
@pytest.mark.tier4
@pytest.mark.parametrize(("limit_mib", "block", "threads"), [(32, 16, 8), (64, 4096, 2), (256, 65536, 4), (32, 1 << 20, 1)])
def test_precision_grid_sample(limit_mib, block, threads):
    limit = limit_mib * MiB
    oom = run_child(limit, (block, block), threads=threads)["oom"]
    assert oom["bound_reached"]
    assert limit - max(4 * MiB, limit // 20) <= oom["bytes_before_null"] <= limit, oom


@pytest.mark.tier1
def test_schema_floor_is_the_native_floor(native):
    from stresskit.scenario.model import MIN_MEMORY_LIMIT

    _, lib = native
    assert lib.sk_oom_min_limit() == MIN_MEMORY_LIMIT


@pytest.mark.tier1
@pytest.mark.parametrize(("limit", "expected"), [
    ('"16MiB"', "at least 32MiB"), ('"48MiB"', "a multiple of 32MiB, e.g. 32MiB or 64MiB"),
    ('"1TiB"', "half of this machine's RAM"), ('"1e400"', "a byte size"),
])
def test_limits_the_bound_cannot_honour_are_refused(tmp_path, limit, expected):
    path = tmp_path / "o.toml"
    path.write_text(f'[roles.h]\naction = "oom"\nmemory_limit = {limit}\n')
    proc = subprocess.run([sys.executable, "-c", "from stresskit.cli import main; main()", "validate", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "roles.h.memory_limit" in proc.stderr and expected in proc.stderr, proc.stderr

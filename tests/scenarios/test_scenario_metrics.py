"""Metric aggregation over replicas, from hand-built results (no engine)."""

from __future__ import annotations

import pytest

from stresskit.metrics import METRICS, aggregate, known_metrics, spec_for
from stresskit.results import Histogram, OomResult, ReplicaResult, RoleResult
from stresskit.runner.records import WorkerRecord

pytestmark = pytest.mark.tier1


def _replica(i: int, leaked: int, p99: float, oom: OomResult | None = None) -> ReplicaResult:
    roles = [
        RoleResult("A", "produce", 2, ops=1000, allocs=1010, frees=10, elapsed_s=0.5, max_threads_inside=2, warmup_ops=10,
                   latency={"alloc": Histogram(100, 10, 20, p99, 2 * p99, 3 * p99)}),
        RoleResult("B", "consume", 1, ops=1000, frees=1000, elapsed_s=0.5, canary_failures=i,
                   latency={"free": Histogram(100, 5, 6, 7, 8, 9)}),
    ]
    return ReplicaResult("s", i, i, roles=roles, blocks_leaked=leaked, bytes_leaked=64 * leaked, elapsed_s=1.0,
                         unreclaimed_peak_bytes=100 * (i + 1), unreclaimed_avg_bytes=10.0 * (i + 1), oom=oom)


def test_aggregates_over_replicas() -> None:
    results = [_replica(0, 0, 50.0), _replica(1, 2, 80.0)]
    workers = [WorkerRecord(0, "ok", peak_rss_bytes=10, cpu_s=1.5, elapsed_s=1.0), WorkerRecord(1, "crashed", peak_rss_bytes=30)]
    m = aggregate(results, workers)
    assert m["ops.total"] == 2 * (1010 + 10 + 1000 - 2 * 10)
    assert m["throughput.ops_per_s"] == pytest.approx(2000.0)
    assert m["blocks.leaked"] == 2 and m["bytes.leaked"] == 128
    assert m["canary.failures"] == 1
    assert m["latency.alloc.p99_ns"] == 80.0 and m["latency.alloc.max_ns"] == 240.0
    assert m["latency.free.p50_ns"] == 5
    assert m["latency.alloc.count"] == 200
    assert m["unreclaimed.peak_bytes"] == 200 and m["unreclaimed.avg_bytes"] == pytest.approx(15.0)
    assert m["roles.A.ops_per_s"] == pytest.approx(2000.0) and m["roles.B.ops"] == 2000
    assert m["workers.failed"] == 1 and m["workers.peak_rss_bytes"] == 30
    assert m["cpu.utilisation"] == pytest.approx(1.5)
    assert "oom.null_returns" not in m


def test_oom_metrics() -> None:
    oom = [OomResult(5, 100 << 20, 10, True, 256 << 20, "mimalloc-arena"), OomResult(7, 90 << 20, 9, False, 256 << 20, "mimalloc-arena")]
    m = aggregate([_replica(0, 0, 1, oom[0]), _replica(1, 0, 1, oom[1])])
    assert m["oom.null_returns"] == 12
    assert m["oom.bytes_before_null"] == 90 << 20
    assert m["oom.recovered"] is False


def test_every_emitted_name_is_registered() -> None:
    oom = OomResult(1, 1, 1, True, 1, "x")
    m = aggregate([_replica(0, 1, 1, oom)], [WorkerRecord(0, "ok", peak_rss_bytes=1, cpu_s=1, elapsed_s=1)])
    unregistered = [name for name in m if spec_for(name) is None]
    assert not unregistered
    assert set(m) <= known_metrics(["A", "B"])


def test_registry_patterns_are_unique() -> None:
    patterns = [s.pattern for s in METRICS]
    assert len(patterns) == len(set(patterns))


def test_glue_counters_sum_modulo_2_64() -> None:
    """A replica whose current_allocated went below zero wraps like the glue's counter; the sum
    over replicas wraps too and never exceeds 2^64 - 1."""
    a, b = _replica(0, 0, 1.0), _replica(1, 0, 1.0)
    a.glue_stats = {"current_allocated": 2**64 - 35_218_109, "alloc_count": 2**64 - 1}
    b.glue_stats = {"current_allocated": 35_218_109, "alloc_count": 2}
    m = aggregate([a, b])
    assert m["glue.current_allocated"] == 0
    assert m["glue.alloc_count"] == 1


def test_contract_and_mimalloc_metrics_and_incomplete_replicas() -> None:
    a, b = _replica(0, 0, 1.0), _replica(1, 0, 1.0)
    a.checks = {"misaligned": 2, "calloc_dirty": 1, "probes": 10, "mimalloc_leaked_blocks": 4, "mimalloc_leaked_bytes": 256}
    b.checks = {"bad_errno": 3, "probes": 5}
    b.stats_enabled, b.stop_reason = False, "deadline"
    a.stats_mismatches = ["glue free_count = 1 but the engine's ledger says 2"]
    m = aggregate([a, b])
    assert (m["contract.misaligned"], m["contract.calloc_dirty"], m["contract.bad_errno"]) == (2, 1, 3)
    assert m["contract.violations"] == 6 and m["contract.probes"] == 15
    assert m["contract.stats_mismatch"] == 1
    assert (m["leak.mimalloc_blocks"], m["leak.mimalloc_bytes"]) == (4, 256)
    assert (m["replicas.stats_on"], m["replicas.stats_off"], m["replicas.incomplete"]) == (1, 1, 1)

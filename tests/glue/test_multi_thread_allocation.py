"""Concurrency tests — multi-thread allocation: 8 and 16 threads allocating and freeing natively
at the same time; statistics stay exact under concurrency."""

from __future__ import annotations

import time

import pytest

from stresskit import StatsSnapshot, counting

from .helpers import (
    KINDS,
    alloc_batch,
    assert_disjoint,
    ffi,
    lib,
    new_probe,
    rendezvous,
    run_threads,
)

pytestmark = pytest.mark.tier4


def test_parallel_alloc(record_info):
    threads, rounds, n = 8, 5, 20_000
    start, work, held = new_probe(), new_probe(), new_probe()
    kinds = list(KINDS)

    def role(i: int):
        rendezvous(start, threads)
        mine = [
            alloc_batch(
                n,
                size=24 + 8 * i,
                kind=kinds[(i + r) % 4],
                alignment=32,
                seed=i * 100 + r,
                probe=work,
            )
            for r in range(rounds)
        ]
        # Each batch call is ~0.1 ms, too short to be sure two overlap on 2 cores; this second
        # rendezvous proves every thread was in native code at once with all its blocks live.
        rendezvous(held, threads)
        return mine

    batches = [b for per_thread in run_threads(threads, role) for b in per_thread]
    assert start.max_inside == held.max_inside == threads
    record_info("max_threads_inside_alloc_batches", int(work.max_inside))
    assert [b.allocated for b in batches] == [n] * threads * rounds
    # No two threads (or batches) were handed the same memory.
    assert_disjoint([(a, b.size) for b in batches for a in b.addresses()])
    assert [b.free() for b in batches] == [0] * threads * rounds, (
        "a block was overwritten while all were live"
    )


def test_parallel_alloc_free():
    threads, iterations, batch = 8, 150, 1000
    start, work = new_probe(), new_probe()

    def role(i: int) -> int:
        rendezvous(start, threads)
        return lib.sk_alloc_free_loop(
            iterations, batch, 16 + 48 * i, i % 4, 64, i, work
        )

    with counting() as stats:
        assert run_threads(threads, role) == [0] * threads, (
            "failed allocations or damaged blocks"
        )
        snap = stats.take()
    assert start.max_inside == threads and work.max_inside >= 2
    assert snap.alloc_count == snap.free_count == threads * iterations * batch
    assert snap.current_allocated == 0 and snap.failed_count == 0


def test_parallel_stats():
    """8 threads count at once; after join the totals are exact (bytes: the blocks' usable sizes)."""
    threads, n, iterations, batch, loop_size = 8, 20_000, 100, 1000, 64
    loop_usable = usable_of_plain(loop_size)
    start, work, swap = new_probe(), new_probe(), new_probe()
    lib.cc_alloc_stats_enable(True)
    lib.cc_alloc_stats_reset()

    def phase1(i: int):
        rendezvous(start, threads)
        sizes = [1 + (i * 131 + k * 29) % 700 for k in range(n)]
        b = alloc_batch(
            n, sizes=sizes, kind=list(KINDS)[i % 4], alignment=16, seed=i, probe=work
        )
        bad = lib.sk_alloc_free_loop(
            iterations, batch, loop_size, lib.SK_KIND_PLAIN, 0, i, work
        )
        return b, bad

    results = run_threads(threads, phase1)
    assert [bad for _, bad in results] == [0] * threads
    batches = [b for b, _ in results]
    live_bytes = sum(b.usable_total() for b in batches)
    loop_ops = threads * iterations * batch
    mid = StatsSnapshot.take()
    assert mid.alloc_count == threads * n + loop_ops
    assert mid.free_count == loop_ops
    assert mid.alloc_bytes == live_bytes + loop_ops * loop_usable
    assert mid.free_bytes == loop_ops * loop_usable
    assert mid.current_allocated == live_bytes and mid.failed_count == 0

    def phase2(
        i: int,
    ) -> int:  # each thread frees its neighbour's blocks: counted by the freer
        rendezvous(swap, threads)
        return batches[(i + 1) % threads].free(unsized=i % 2 == 1, probe=work)

    assert run_threads(threads, phase2) == [0] * threads
    end = StatsSnapshot.take()
    assert start.max_inside == swap.max_inside == threads and work.max_inside >= 2
    assert end.alloc_count == end.free_count == threads * n + loop_ops
    assert end.alloc_bytes == end.free_bytes == live_bytes + loop_ops * loop_usable
    assert end.current_allocated == 0 and end.failed_count == 0


def usable_of_plain(size: int) -> int:
    p = lib.cc_alloc(size)
    try:
        return lib.cc_usable_size(p)
    finally:
        lib.cc_free(p, size)


def test_no_contention_bottleneck(record_info):
    """16 threads on thread-local heaps: all work is correct, counted exactly, and overlapped.
    The throughput ratio to one thread is recorded as information, never asserted (a noisy
    2-core machine; speed belongs to the benchmarks)."""
    threads, iterations, batch, size = 16, 150, 1000, 48
    start, work = new_probe(), new_probe()
    spans: list[tuple[float, float]] = []

    def role(i: int) -> int:
        rendezvous(start, threads)
        kind = lib.SK_KIND_NODE if i % 2 else lib.SK_KIND_PLAIN
        t0 = time.perf_counter()
        bad = lib.sk_alloc_free_loop(iterations, batch, size, kind, 0, i, work)
        spans.append((t0, time.perf_counter()))
        return bad

    alone = []
    for rep in range(3):
        t0 = time.perf_counter()
        assert lib.sk_alloc_free_loop(iterations, batch, size, 0, 0, rep, ffi.NULL) == 0
        alone.append(time.perf_counter() - t0)
    with counting() as stats:
        assert run_threads(threads, role) == [0] * threads
        snap = stats.take()
    assert start.max_inside == threads, "all 16 threads were in native code at once"
    assert work.max_inside >= 2, "the 16 loops never overlapped"
    ops = threads * iterations * batch
    assert snap.alloc_count == snap.free_count == ops
    assert snap.current_allocated == 0 and snap.failed_count == 0
    wall = max(end for _, end in spans) - min(begin for begin, _ in spans)
    one_rate = iterations * batch / min(alone)
    record_info("alloc_free_pairs_per_s_1_thread", round(one_rate))
    record_info("alloc_free_pairs_per_s_16_threads", round(ops / wall))
    record_info("throughput_ratio_16_to_1", round(ops / wall / one_rate, 2))

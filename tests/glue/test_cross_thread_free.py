"""Concurrency tests — cross-thread free: blocks allocated natively by one thread are handed to
another, which verifies their pattern and frees them natively. Threads prove they overlapped."""

from __future__ import annotations

import queue
import random

import pytest

from stresskit import counting

from .helpers import alloc_batch, new_probe, rendezvous, run_threads

pytestmark = pytest.mark.tier4

DONE = None


def pairs(
    threads: int,
    rounds: int,
    batch: int,
    size: int,
    *,
    kinds=("plain",),
    unsized_every: int = 2,
):
    """threads/2 producers, each feeding its own consumer through a queue. Returns the probe of
    the batches and the statistics delta."""
    assert threads % 2 == 0
    producers = threads // 2
    queues = [queue.Queue(maxsize=4) for _ in range(producers)]
    start, work = new_probe(), new_probe()

    def role(i: int) -> int:
        rendezvous(start, threads)
        if i < producers:
            q = queues[i]
            for r in range(rounds):
                kind = kinds[(i + r) % len(kinds)]
                b = alloc_batch(
                    batch,
                    size=size + 8 * (r % 5),
                    kind=kind,
                    alignment=64,
                    seed=i * 7919 + r,
                    probe=work,
                )
                assert b.allocated == batch
                q.put(b)
            q.put(DONE)
            return 0
        q, damaged, r = queues[i - producers], 0, 0
        while (b := q.get(timeout=60)) is not DONE:
            damaged += b.free(unsized=r % unsized_every == 1, probe=work)
            r += 1
        assert r == rounds
        return damaged

    with counting() as stats:
        damaged = run_threads(threads, role)
        snap = stats.take()
    assert damaged == [0] * threads, (
        f"damaged blocks found by the freeing threads: {damaged}"
    )
    assert start.max_inside == threads
    assert work.max_inside >= 2, (
        "allocating and freeing threads never ran native code at the same time"
    )
    total = producers * rounds * batch
    assert snap.alloc_count == snap.free_count == total
    assert (
        snap.alloc_bytes == snap.free_bytes
        and snap.current_allocated == 0
        and snap.failed_count == 0
    )


def test_cross_thread_free_basic():
    pairs(2, rounds=12, batch=100_000, size=64)


def test_cross_thread_free_many():
    pairs(
        4,
        rounds=16,
        batch=50_000,
        size=48,
        kinds=("plain", "node", "aligned", "calloc"),
    )


def test_cross_thread_free_random():
    # 8 threads, each allocating and freeing: every batch goes to a randomly chosen other thread.
    threads, rounds, batch = 8, 12, 25_000
    rng = random.Random(8)
    plan = [
        [rng.choice([t for t in range(threads) if t != i]) for _ in range(rounds)]
        for i in range(threads)
    ]
    expected = [sum(row.count(t) for row in plan) for t in range(threads)]
    inboxes = [queue.Queue() for _ in range(threads)]
    start, work = new_probe(), new_probe()

    def role(i: int) -> int:
        rendezvous(start, threads)
        damaged = received = 0
        for r, target in enumerate(plan[i]):
            b = alloc_batch(
                batch,
                size=16 + rng_size(i, r),
                kind="plain",
                seed=i * 1000 + r,
                probe=work,
            )
            assert b.allocated == batch
            inboxes[target].put(b)
            while not inboxes[
                i
            ].empty():  # free what has arrived so far, interleaved with allocating
                damaged += inboxes[i].get().free(unsized=received % 2 == 0, probe=work)
                received += 1
        while received < expected[i]:
            damaged += inboxes[i].get(timeout=60).free(probe=work)
            received += 1
        return damaged

    with counting() as stats:
        assert run_threads(threads, role) == [0] * threads
        snap = stats.take()
    assert start.max_inside == threads and work.max_inside >= 2
    assert (
        snap.alloc_count == snap.free_count == threads * rounds * batch
        and snap.current_allocated == 0
    )


def rng_size(i: int, r: int) -> int:
    return (i * 37 + r * 11) % 200


def test_cross_thread_free_stress():
    pairs(
        16,
        rounds=16,
        batch=50_000,
        size=32,
        kinds=("plain", "node", "aligned", "calloc"),
    )

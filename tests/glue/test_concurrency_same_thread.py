"""Concurrency tests — same thread (1 thread): many blocks, alloc/free cycles, mixed sizes, all
allocated and verified by native batches."""

from __future__ import annotations

import random

import pytest

from stresskit import counting

from .helpers import KINDS, alloc_batch, assert_disjoint, ffi, lib

pytestmark = pytest.mark.tier4

SIZES = [1, 8, 16, 64, 128, 256, 1024, 4096, 65536, 1048576]


def test_single_thread_many_allocs():
    n = 10_000
    with counting() as stats:
        batches = [
            alloc_batch(n, size=40, kind=kind, alignment=64, seed=i)
            for i, kind in enumerate(KINDS)
        ]
        for b in batches:
            assert b.allocated == n
        blocks = [(a, 40) for b in batches for a in b.addresses()]
        assert len({a for a, _ in blocks}) == len(blocks) == 4 * n
        assert_disjoint(blocks)
        live = stats.take()
        assert live.alloc_count == 4 * n and live.current_allocated == sum(
            b.usable_total() for b in batches
        )
        assert [b.free() for b in batches] == [0, 0, 0, 0], (
            "a block was damaged while 40000 were live"
        )
        assert stats.take().current_allocated == 0


def test_single_thread_alloc_free_cycle():
    with counting() as stats:
        for kind, code in KINDS.items():
            # 200 rounds of alloc 256 / verify + free (alternating sized and unsized).
            assert lib.sk_alloc_free_loop(200, 256, 72, code, 32, 9, ffi.NULL) == 0, (
                kind
            )
        snap = stats.take()
        assert snap.alloc_count == snap.free_count == 4 * 200 * 256
        assert snap.current_allocated == 0 and snap.failed_count == 0
    # A batch larger than the loop's on-stack slot array is honoured in full, not cut short.
    with counting() as stats:
        assert (
            lib.sk_alloc_free_loop(3, 5000, 64, lib.SK_KIND_PLAIN, 0, 4, ffi.NULL) == 0
        )
        assert stats.take().alloc_count == 3 * 5000
    # alloc - free - alloc through the Python-visible pointers: the second block is usable and
    # the first one's pattern does not leak into the check of the second.
    first = alloc_batch(64, size=100, seed=1)
    assert first.free() == 0
    second = alloc_batch(64, size=100, seed=2)
    assert second.allocated == 64 and second.free() == 0


def test_single_thread_mixed_sizes():
    rng = random.Random(1234)
    n = 3000
    sizes = [rng.choice(SIZES[:-1]) for _ in range(n)] + [SIZES[-1]] * 8
    rng.shuffle(sizes)
    with counting() as stats:
        batch = alloc_batch(len(sizes), sizes=sizes, kind="plain", seed=77)
        assert batch.allocated == len(sizes)
        assert_disjoint(
            [
                (batch.ptrs[i] and int(ffi.cast("uintptr_t", batch.ptrs[i])), sizes[i])
                for i in range(len(sizes))
            ]
        )
        # Free in a shuffled order: interleave the size classes on the way out as well.
        order = list(range(len(sizes)))
        rng.shuffle(order)
        shuffled = ffi.new("void *[]", [batch.ptrs[i] for i in order])
        shuffled_sizes = ffi.new("size_t[]", [sizes[i] for i in order])
        half = len(order) // 2
        assert (
            lib.sk_batch_free(shuffled, half, shuffled_sizes, 0, False, 77, ffi.NULL)
            == 0
        )
        assert (
            lib.sk_batch_free(
                shuffled + half,
                len(order) - half,
                shuffled_sizes + half,
                0,
                True,
                77,
                ffi.NULL,
            )
            == 0
        )
        snap = stats.take()
        assert (
            snap.alloc_count == snap.free_count == len(sizes)
            and snap.current_allocated == 0
        )

"""Unit tests — free: NULL is a no-op, memory really returns to the allocator, sized and unsized
frees of every kind and size."""

from __future__ import annotations

import pytest

from stresskit import Allocator, counting
from stresskit.allocator import BlockFreedError

from .helpers import alloc_batch, ffi, lib

pytestmark = pytest.mark.tier1

SIZES = [1, 8, 16, 64, 128, 256, 1024, 4096, 65536, 1048576]


def test_free_null_is_safe():
    with counting() as stats:
        lib.cc_free(ffi.NULL, 0)
        lib.cc_free(ffi.NULL, 64)
        lib.cc_free_unsized(ffi.NULL)
        snap = stats.take()
    assert snap.free_count == 0 and snap.free_bytes == 0, (
        "freeing NULL must not be counted"
    )
    assert lib.cc_usable_size(ffi.NULL) == 0


def test_free_returns_memory():
    # A leaking free would hand out 3 x 4096 distinct addresses over three rounds; a working one
    # reuses the blocks just freed.
    n, seen = 4096, []
    for round_ in range(3):
        batch = alloc_batch(n, size=64, seed=round_)
        assert batch.allocated == n
        seen.append(set(batch.addresses()))
        assert batch.free() == 0
    distinct = len(set().union(*seen))
    assert distinct < 2 * n, (
        f"{distinct} distinct addresses over 3 rounds of {n}: freed blocks not reused"
    )
    assert len(seen[1] & seen[2]) > n // 2


def test_free_unsized_works():
    alloc = Allocator()
    with counting() as stats:
        blocks = [
            alloc.alloc(100),
            alloc.calloc(3, 33),
            alloc.alloc_aligned(100, 256),
            alloc.alloc_node(100),
        ]
        usable = sum(b.usable_size for b in blocks)
        for b in blocks:
            b.free(sized=False)
        snap = stats.take()
    assert (snap.free_count, snap.free_bytes, snap.current_allocated) == (4, usable, 0)
    with pytest.raises(BlockFreedError):
        blocks[0].free(sized=False)
    # Unsized frees release memory as well as sized ones, for every kind.
    for kind, alignment in (("plain", 0), ("calloc", 0), ("aligned", 128), ("node", 0)):
        batch = alloc_batch(2048, size=48, kind=kind, alignment=alignment, seed=5)
        first = set(batch.addresses())
        assert batch.free(unsized=True) == 0
        again = alloc_batch(2048, size=48, kind=kind, alignment=alignment, seed=6)
        assert len(first & set(again.addresses())) > 0, (
            f"{kind}: unsized free did not return memory"
        )
        assert again.free(unsized=True) == 0


def test_free_different_sizes():
    sizes = [SIZES[i % len(SIZES)] for i in range(200)]
    with counting() as stats:
        for kind, alignment in (
            ("plain", 0),
            ("calloc", 0),
            ("aligned", 64),
            ("node", 0),
        ):
            batch = alloc_batch(
                len(sizes), sizes=sizes, kind=kind, alignment=alignment, seed=11
            )
            assert batch.allocated == len(sizes)
            usable = batch.usable_total()
            before = stats.take()
            assert (
                batch.free(unsized=False) == 0
            )  # cc_free(ptr, requested size) for each
            after = stats.take()
            assert after.free_count - before.free_count == len(sizes)
            assert after.free_bytes - before.free_bytes == usable
        assert stats.take().current_allocated == 0

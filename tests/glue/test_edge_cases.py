"""Edge cases of the seed's table: 1 byte, SIZE_MAX, free(NULL), statistics wrap-around."""

from __future__ import annotations

import errno

import pytest

from stresskit import Allocator, StatsSnapshot

from .helpers import SIZE_MAX, address, ffi, lib

pytestmark = pytest.mark.tier1

WRAP = 2**64


def test_alloc_one_byte():
    # Works and returns memory aligned like malloc's (alignof(max_align_t) = 16), even though
    # mimalloc's own smallest size class is only 8-aligned.
    for allocate in (lambda: lib.cc_alloc(1), lambda: lib.cc_calloc(1, 1)):
        ptrs = [allocate() for _ in range(64)]
        try:
            for p in ptrs:
                assert p != ffi.NULL
                assert address(p) % 16 == 0, (
                    f"1-byte block at {address(p):#x} is not 16-aligned"
                )
                assert lib.cc_usable_size(p) >= 1
            assert len({address(p) for p in ptrs}) == 64
        finally:
            for p in ptrs:
                lib.cc_free(p, 1)
    for p in (lib.cc_alloc_aligned(1, 4096), lib.cc_alloc_node(1)):
        assert p != ffi.NULL and address(p) % 64 == 0
        lib.cc_free_unsized(p)
    block = Allocator().alloc(1)
    block.write(b"\x7f")
    assert block.read() == b"\x7f" and block.address % 16 == 0
    block.free()


def test_alloc_max_size():
    for name, call in (
        ("cc_alloc", lambda: lib.cc_alloc(SIZE_MAX)),
        ("cc_calloc", lambda: lib.cc_calloc(1, SIZE_MAX)),
        ("cc_alloc_aligned", lambda: lib.cc_alloc_aligned(SIZE_MAX, 64)),
        ("cc_alloc_node", lambda: lib.cc_alloc_node(SIZE_MAX)),
    ):
        ffi.errno = 0
        assert call() == ffi.NULL, name
        assert ffi.errno == errno.ENOMEM, f"{name}(SIZE_MAX) left errno {ffi.errno}"
    with pytest.raises(MemoryError):
        Allocator().alloc_aligned(SIZE_MAX, 64)
    with pytest.raises(MemoryError):
        Allocator().alloc_node(SIZE_MAX)


def test_free_null():
    lib.cc_alloc_stats_enable(True)
    for size in (0, 1, 64, SIZE_MAX):  # the size hint of a NULL free is never looked at
        lib.cc_free(ffi.NULL, size)
    lib.cc_free_unsized(ffi.NULL)
    assert lib.cc_alloc_stats_snapshot().free_count == 0


def test_stats_overflow():
    lib.cc_alloc_stats_testing_bump(10)  # while off: does nothing
    assert StatsSnapshot.take().alloc_count == 0
    lib.cc_alloc_stats_enable(True)
    lib.cc_alloc_stats_testing_bump(WRAP - 3)
    near = StatsSnapshot.take()
    assert (
        near.alloc_count,
        near.free_count,
        near.alloc_bytes,
        near.free_bytes,
        near.failed_count,
    ) == (WRAP - 3,) * 5
    assert near.current_allocated == 0
    ptrs = [lib.cc_alloc(64) for _ in range(5)]
    usable = sum(lib.cc_usable_size(p) for p in ptrs)
    wrapped = StatsSnapshot.take()
    assert wrapped.alloc_count == 2, "uint64 counters wrap modulo 2**64"
    assert wrapped.alloc_bytes == (WRAP - 3 + usable) % WRAP
    assert wrapped.current_allocated == usable, "current stays exact across the wrap"
    assert wrapped.live_blocks == 5
    for p in ptrs:
        lib.cc_free(p, 64)
    done = StatsSnapshot.take()
    assert (done.free_count, done.current_allocated) == (2, 0)
    lib.cc_alloc_stats_reset()
    assert StatsSnapshot.take() == StatsSnapshot(0, 0, 0, 0, 0, 0), (
        "reset works past the wrap"
    )

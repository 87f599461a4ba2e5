"""Unit tests — basic allocation: the C contract of cc_alloc / cc_calloc (NULL + errno), and the
Pythonic layer's exceptions on top of it."""

from __future__ import annotations

import errno

import pytest

from stresskit import Allocator, counting

from .helpers import SIZE_MAX, address, ffi, lib

pytestmark = pytest.mark.tier1

SIZES = [1, 8, 16, 64, 128, 256, 1024, 4096, 65536, 1048576]  # the seed's generator
MAX_ALIGN = 16  # alignof(max_align_t) on the 64-bit platforms we build for


def test_alloc_returns_non_null():
    for size in SIZES:
        p = lib.cc_alloc(size)
        assert p != ffi.NULL, f"cc_alloc({size}) returned NULL"
        try:
            assert address(p) % MAX_ALIGN == 0
            assert lib.cc_usable_size(p) >= size
            buf = ffi.buffer(p, size)
            buf[:] = bytes([size % 251]) * size
            assert buf[:] == bytes([size % 251]) * size
        finally:
            lib.cc_free(p, size)
    block = Allocator().alloc(64)
    try:
        block.write(b"x" * 64)
        assert block.read() == b"x" * 64 and block.usable_size >= 64
    finally:
        block.free()


def test_alloc_zero_size_returns_null():
    ffi.errno = errno.EDOM  # a sentinel: the contract says errno is left untouched
    assert lib.cc_alloc(0) == ffi.NULL
    assert ffi.errno == errno.EDOM
    with counting() as stats:
        assert lib.cc_alloc(0) == ffi.NULL
        assert lib.cc_calloc(0, 8) == ffi.NULL and lib.cc_calloc(8, 0) == ffi.NULL
        assert (
            lib.cc_alloc_node(0) == ffi.NULL and lib.cc_alloc_aligned(0, 64) == ffi.NULL
        )
        snap = stats.take()
    assert (snap.alloc_count, snap.failed_count) == (0, 0), (
        "size 0 is not a failed allocation"
    )
    for bad in (0, -1):
        with pytest.raises(ValueError, match="positive"):
            Allocator().alloc(bad)


def test_alloc_large_size():
    size = 1 << 20
    p = lib.cc_alloc(size)
    assert p != ffi.NULL
    try:
        assert lib.cc_usable_size(p) >= size
        ffi.memmove(p, b"\xa5" * size, size)  # every byte of the megabyte is writable
        assert (
            ffi.buffer(p, size)[size - 1 :] == b"\xa5"
            and ffi.buffer(p, 1)[:] == b"\xa5"
        )
    finally:
        lib.cc_free(p, size)


def test_alloc_very_large_fails_gracefully():
    with counting() as stats:
        for size in (SIZE_MAX, SIZE_MAX // 2 + 1):  # SIZE_MAX and PTRDIFF_MAX + 1
            ffi.errno = 0
            assert lib.cc_alloc(size) == ffi.NULL
            assert ffi.errno == errno.ENOMEM, f"cc_alloc({size}) left errno {ffi.errno}"
        assert stats.take().failed_count == 2
    with pytest.raises(MemoryError):
        Allocator().alloc(SIZE_MAX)
    with pytest.raises(OverflowError):
        Allocator().alloc(SIZE_MAX + 1)


def test_calloc_returns_zeroed():
    # Dirty memory first, so calloc has to zero reused blocks, not only fresh OS pages.
    for size in SIZES:
        dirty = [lib.cc_alloc(size) for _ in range(32)]
        for p in dirty:
            ffi.memmove(p, b"\xff" * size, size)
        for p in dirty:
            lib.cc_free(p, size)
        fresh = [lib.cc_calloc(1, size) for _ in range(32)]
        try:
            for p in fresh:
                assert p != ffi.NULL
                assert ffi.buffer(p, size)[:] == bytes(size), (
                    f"cc_calloc(1, {size}) not zeroed"
                )
        finally:
            for p in fresh:
                lib.cc_free_unsized(p)
    p = lib.cc_calloc(100, 24)
    assert ffi.buffer(p, 2400)[:] == bytes(2400)
    lib.cc_free(p, 2400)
    block = Allocator().calloc(10, 10)
    assert block.read() == bytes(100) and block.size == 100
    block.free()


def test_calloc_overflow_returns_null():
    with counting() as stats:
        for count, size in ((SIZE_MAX, 2), (2**63, 2), (2, 2**63), (2**32, 2**32)):
            ffi.errno = 0
            assert lib.cc_calloc(count, size) == ffi.NULL, f"cc_calloc({count}, {size})"
            assert ffi.errno == errno.ENOMEM
        assert stats.take().failed_count == 4
    with pytest.raises(MemoryError, match="overflow"):
        Allocator().calloc(2**63, 2)

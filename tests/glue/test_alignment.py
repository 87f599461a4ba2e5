"""Unit tests — alignment: cc_alloc_aligned for each power of two, cc_alloc_node's cache lines,
and what happens with an alignment that is not a power of two (documented: NULL + EINVAL in C,
ValueError in Python)."""

from __future__ import annotations

import errno
import itertools

import pytest

from stresskit import CACHE_LINE_SIZE, Allocator

from .helpers import PTR_SIZE, SIZE_MAX, address, ffi, lib

pytestmark = pytest.mark.tier1

SIZES = [1, 7, 24, 100, 4096, 65536]


def check_aligned(alignment: int) -> None:
    for size in SIZES:
        blocks = [lib.cc_alloc_aligned(size, alignment) for _ in range(8)]
        try:
            for p in blocks:
                assert p != ffi.NULL, (
                    f"cc_alloc_aligned({size}, {alignment}) returned NULL"
                )
                assert address(p) % alignment == 0, (
                    f"{address(p):#x} not {alignment}-aligned"
                )
                assert lib.cc_usable_size(p) >= size
                ffi.memmove(p, b"\x5a" * size, size)
        finally:
            for p in blocks:
                lib.cc_free(p, size)
    block = Allocator().alloc_aligned(33, alignment)
    assert block.address % alignment == 0 and block.alignment == alignment
    block.free()


def test_alloc_aligned_8():
    check_aligned(8)


def test_alloc_aligned_16():
    check_aligned(16)


def test_alloc_aligned_64():
    check_aligned(64)


def test_alloc_aligned_4096():
    check_aligned(4096)


def test_alloc_node_cache_aligned():
    line = lib.cc_cache_line_size()
    assert line == CACHE_LINE_SIZE and line in (64, 128)
    for size in (1, 24, line - 1, line, line + 1, 1000):
        nodes = [lib.cc_alloc_node(size) for _ in range(16)]
        try:
            rounded = -(-size // line) * line
            for p in nodes:
                assert address(p) % line == 0
                # Rounded to whole lines: the next node can never start inside this one's last line.
                assert lib.cc_usable_size(p) >= rounded
            starts = sorted(address(p) for p in nodes)
            assert all(b - a >= rounded for a, b in itertools.pairwise(starts)), (
                "two nodes share a cache line"
            )
        finally:
            for p in nodes:
                lib.cc_free(p, size)
    ffi.errno = 0
    assert (
        lib.cc_alloc_node(SIZE_MAX - 3) == ffi.NULL and ffi.errno == errno.ENOMEM
    )  # rounding overflows
    node = Allocator().alloc_node(24)
    assert node.address % line == 0 and node.alignment == line
    node.free()


def test_alloc_alignment_is_power_of_2():
    # Documented behaviour for a bad alignment: NULL with errno = EINVAL (mimalloc alone would
    # return NULL with errno 0), checked before the size; never a block with a weaker alignment.
    for alignment in (0, 1, 2, 4, 3, 12, 48, 96, 4095, 4097, 2**63 + 1, SIZE_MAX):
        if alignment >= PTR_SIZE and alignment & (alignment - 1) == 0:
            continue
        for size in (64, 48, 0):
            ffi.errno = 0
            assert lib.cc_alloc_aligned(size, alignment) == ffi.NULL, (size, alignment)
            assert ffi.errno == errno.EINVAL, (
                f"cc_alloc_aligned({size}, {alignment}): errno {ffi.errno}"
            )
    # Every power of two from the pointer size up to 1 MiB is accepted.
    for shift in range(PTR_SIZE.bit_length() - 1, 21):
        p = lib.cc_alloc_aligned(48, 1 << shift)
        assert p != ffi.NULL and address(p) % (1 << shift) == 0
        lib.cc_free(p, 48)
    with pytest.raises(ValueError, match="power of two") as info:
        Allocator().alloc_aligned(64, 48)
    assert "round up to 64" in str(info.value)
    with pytest.raises(ValueError, match="power of two"):
        Allocator().alloc_aligned(64, 4)

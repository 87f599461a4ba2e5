"""What calling the glue from Python costs (pytest-benchmark).

The default test run passes --benchmark-disable (pyproject addopts): each benchmark then runs its
function once, as a plain test, and the assertions check the result. Measure for real with
    pytest tests/bench/test_binding_bench.py --benchmark-enable
(compare runs with --benchmark-autosave / --benchmark-compare). No timing is asserted anywhere:
a Python loop around the glue measures the interpreter (~100-300 ns), not the allocator (~2-3 ns,
see `stresskit bench`).
"""

from __future__ import annotations

import pytest

from stresskit import _native
from stresskit.allocator import Allocator, StatsSnapshot, counting

pytestmark = pytest.mark.tier1


@pytest.fixture(scope="module")
def ffi_lib():
    loaded = _native.load()
    return loaded.ffi, loaded.lib


def test_allocator_alloc_free_pair(benchmark):
    allocator = Allocator()

    def pair():
        block = allocator.alloc(64)
        address = block.address
        block.free()
        return block, address

    block, address = benchmark(pair)
    assert block.freed
    assert address % 16 == 0 and address != 0


def test_raw_cffi_cc_alloc_cc_free_pair(benchmark, ffi_lib):
    ffi, lib = ffi_lib

    def pair():
        p = lib.cc_alloc(64)
        usable = lib.cc_usable_size(p)
        lib.cc_free(p, 64)
        return p, usable

    p, usable = benchmark(pair)
    assert p != ffi.NULL
    assert usable >= 64


def test_raw_cffi_cc_alloc_aligned_pair(benchmark, ffi_lib):
    ffi, lib = ffi_lib

    def pair():
        p = lib.cc_alloc_aligned(64, 4096)
        address = int(ffi.cast("uintptr_t", p))
        lib.cc_free(p, 64)
        return address

    address = benchmark(pair)
    assert address != 0 and address % 4096 == 0


def test_block_write_read_round_trip(benchmark):
    allocator = Allocator()
    payload = bytes(range(64))

    def round_trip():
        block = allocator.alloc(64)
        try:
            block.write(payload)
            return block.read()
        finally:
            block.free()

    assert benchmark(round_trip) == payload


def test_alloc_free_with_statistics_on(benchmark):
    allocator = Allocator()
    with counting() as stats:
        benchmark(lambda: allocator.alloc(64).free())
        snap = stats.take()
    assert snap.alloc_count >= 1
    assert snap.alloc_count == snap.free_count
    assert snap.current_allocated == 0
    assert snap.alloc_bytes >= 64 * snap.alloc_count


def test_stats_snapshot(benchmark):
    with counting():
        Allocator().alloc(32).free()
        snap = benchmark(StatsSnapshot.take)
    assert snap.alloc_count == 1 and snap.free_count == 1

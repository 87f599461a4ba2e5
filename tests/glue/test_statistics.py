"""Unit tests — statistics: off by default, counted only while on, bytes are usable sizes,
current = alloc - free, reset, and what a snapshot guarantees."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from stresskit import Allocator, StatsSnapshot, counting
from stresskit.allocator import enable_stats, reset_stats

from .helpers import SIZE_MAX, alloc_batch, ffi, lib, new_probe, rendezvous, run_threads

FIELDS = (
    "alloc_count",
    "free_count",
    "alloc_bytes",
    "free_bytes",
    "current_allocated",
    "failed_count",
)


def raw(snapshot) -> tuple[int, ...]:
    return tuple(int(getattr(snapshot, f)) for f in FIELDS)


@pytest.mark.tier1
def test_stats_disabled_by_default():
    # A fresh process: nothing (not even this test suite's fixtures) has touched the switch.
    script = textwrap.dedent(
        """
        import json
        from stresskit import _native
        lib, ffi = _native.lib(), _native.ffi()
        enabled = bool(lib.cc_alloc_stats_enabled())
        ptrs = [lib.cc_alloc(64), lib.cc_calloc(4, 4), lib.cc_alloc_aligned(10, 256), lib.cc_alloc_node(8)]
        lib.cc_alloc(2**64 - 1)
        for p in ptrs:
            lib.cc_free_unsized(p)
        s = lib.cc_alloc_stats_snapshot()
        print(json.dumps({"enabled": enabled, "snapshot": [int(getattr(s, f)) for f in FIELDS]}))
        """
    ).replace("FIELDS", repr(FIELDS))
    proc = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["enabled"] is False
    assert out["snapshot"] == [0] * len(FIELDS)


@pytest.mark.tier1
def test_stats_enable_disable():
    alloc = Allocator()
    assert not lib.cc_alloc_stats_enabled()
    alloc.alloc(64).free()
    assert raw(lib.cc_alloc_stats_snapshot()) == (0,) * 6, "counted while off"
    lib.cc_alloc_stats_enable(True)
    assert lib.cc_alloc_stats_enabled()
    alloc.alloc(64).free()
    on = StatsSnapshot.take()
    assert (on.alloc_count, on.free_count) == (1, 1)
    lib.cc_alloc_stats_enable(False)
    assert not lib.cc_alloc_stats_enabled()
    alloc.alloc(64).free()
    assert StatsSnapshot.take() == on, (
        "counters must keep their values, unchanged, while off"
    )
    enable_stats(True)
    alloc.alloc(64).free()
    assert StatsSnapshot.take().alloc_count == 2
    # counting() restores the previous state
    enable_stats(False)
    with counting():
        assert lib.cc_alloc_stats_enabled()
    assert not lib.cc_alloc_stats_enabled()


@pytest.mark.tier1
def test_stats_alloc_count_increments():
    lib.cc_alloc_stats_enable(True)
    live = []
    calls = [
        lambda: lib.cc_alloc(10),
        lambda: lib.cc_calloc(2, 10),
        lambda: lib.cc_alloc_aligned(10, 64),
        lambda: lib.cc_alloc_node(10),
    ]
    for i, call in enumerate(calls * 3, start=1):
        live.append(call())
        snap = lib.cc_alloc_stats_snapshot()
        assert snap.alloc_count == i and snap.failed_count == 0
    # Failed requests count as failures, not allocations; size 0 as neither.
    assert lib.cc_alloc(SIZE_MAX) == ffi.NULL and lib.cc_calloc(SIZE_MAX, 3) == ffi.NULL
    assert lib.cc_alloc_node(SIZE_MAX) == ffi.NULL
    assert lib.cc_alloc(0) == ffi.NULL
    snap = lib.cc_alloc_stats_snapshot()
    assert (snap.alloc_count, snap.failed_count) == (12, 3)
    for p in live:
        lib.cc_free_unsized(p)


@pytest.mark.tier1
def test_stats_free_count_increments():
    ptrs = [lib.cc_alloc(32) for _ in range(6)]
    lib.cc_alloc_stats_enable(True)
    for i, p in enumerate(ptrs, start=1):
        if i % 2:
            lib.cc_free(p, 32)
        else:
            lib.cc_free_unsized(p)
        assert lib.cc_alloc_stats_snapshot().free_count == i
    lib.cc_free(ffi.NULL, 32)
    lib.cc_free_unsized(ffi.NULL)
    snap = lib.cc_alloc_stats_snapshot()
    assert (snap.free_count, snap.alloc_count) == (6, 0)


@pytest.mark.tier1
def test_stats_bytes_tracked():
    lib.cc_alloc_stats_enable(True)
    ptrs = [
        lib.cc_alloc(1),
        lib.cc_alloc(100),
        lib.cc_calloc(7, 9),
        lib.cc_alloc_aligned(5000, 4096),
        lib.cc_alloc_node(65),
        lib.cc_alloc(1 << 20),
    ]
    usable = [lib.cc_usable_size(p) for p in ptrs]
    assert all(u >= r for u, r in zip(usable, (1, 100, 63, 5000, 65, 1 << 20)))
    snap = lib.cc_alloc_stats_snapshot()
    assert snap.alloc_bytes == sum(usable)
    lib.cc_free(ptrs[0], 1)
    lib.cc_free_unsized(ptrs[1])
    assert lib.cc_alloc_stats_snapshot().free_bytes == usable[0] + usable[1]
    for p in ptrs[2:]:
        lib.cc_free_unsized(p)
    snap = lib.cc_alloc_stats_snapshot()
    assert snap.free_bytes == snap.alloc_bytes == sum(usable)
    # Natively allocated batches count the same way.
    batch = alloc_batch(1000, sizes=[1 + 37 * i % 3000 for i in range(1000)], seed=3)
    assert (
        lib.cc_alloc_stats_snapshot().alloc_bytes - snap.alloc_bytes
        == batch.usable_total()
    )
    assert batch.free() == 0


@pytest.mark.tier1
def test_stats_bytes_exact_on_every_path():
    # Each allocation path takes its byte count from a different place (the block size mimalloc
    # returns with a plain or zeroed block, a lookup for aligned ones), and every free looks it
    # up: whatever the path and whichever free, the books must equal cc_usable_size exactly.
    lib.cc_alloc_stats_enable(True)
    sizes = [1, 8, 15, 16, 17, 63, 64, 65, 100, 129, 1000, 1024, 1025, 5000, 70000]
    made = []
    for size in sizes:
        made += [(lib.cc_alloc(size), size), (lib.cc_calloc(1, size), size), (lib.cc_alloc_node(size), size)]
        made += [(lib.cc_alloc_aligned(size, a), size) for a in (8, 16, 32, 64, 256, 4096)]
    assert all(p != ffi.NULL for p, _ in made)
    usable = [int(lib.cc_usable_size(p)) for p, _ in made]
    assert all(u >= size for u, (_, size) in zip(usable, made))
    snap = lib.cc_alloc_stats_snapshot()
    assert (snap.alloc_count, snap.alloc_bytes) == (len(made), sum(usable))
    for i, (p, size) in enumerate(made):
        if i % 2:
            lib.cc_free(p, size)
        else:
            lib.cc_free_unsized(p)
    snap = lib.cc_alloc_stats_snapshot()
    assert (snap.free_count, snap.free_bytes, snap.current_allocated) == (len(made), sum(usable), 0)


@pytest.mark.tier1
def test_stats_current_allocated():
    lib.cc_alloc_stats_enable(True)
    live = {}
    for size in (8, 64, 200, 3000, 70000):
        p = lib.cc_alloc(size)
        live[size] = (p, lib.cc_usable_size(p))
        snap = lib.cc_alloc_stats_snapshot()
        assert (
            snap.current_allocated
            == snap.alloc_bytes - snap.free_bytes
            == sum(u for _, u in live.values())
        )
    for size in list(live):
        p, _ = live.pop(size)
        lib.cc_free(p, size)
        snap = lib.cc_alloc_stats_snapshot()
        assert (
            snap.current_allocated
            == snap.alloc_bytes - snap.free_bytes
            == sum(u for _, u in live.values())
        )
    # Documented: a block allocated while off and freed while on is only a free; current wraps.
    lib.cc_alloc_stats_enable(False)
    p = lib.cc_alloc(64)
    u = lib.cc_usable_size(p)
    lib.cc_alloc_stats_enable(True)
    lib.cc_free(p, 64)
    assert lib.cc_alloc_stats_snapshot().current_allocated == 2**64 - u


@pytest.mark.tier1
def test_stats_reset():
    lib.cc_alloc_stats_enable(True)
    keep = lib.cc_alloc(64)
    lib.cc_free_unsized(lib.cc_alloc(128))
    lib.cc_alloc(SIZE_MAX)
    assert all(v != 0 for v in raw(lib.cc_alloc_stats_snapshot()))
    lib.cc_alloc_stats_reset()
    assert raw(lib.cc_alloc_stats_snapshot()) == (0,) * 6
    lib.cc_free(lib.cc_alloc(16), 16)
    snap = lib.cc_alloc_stats_snapshot()
    assert (snap.alloc_count, snap.free_count, snap.current_allocated) == (1, 1, 0), (
        "counting resumes from zero"
    )
    # Reset works while off too, and counts of threads that have exited are reset as well.
    run_threads(2, lambda i: alloc_batch(10, seed=i).free())
    assert lib.cc_alloc_stats_snapshot().alloc_count == 21
    lib.cc_alloc_stats_enable(False)
    reset_stats()
    assert raw(lib.cc_alloc_stats_snapshot()) == (0,) * 6
    lib.cc_free(keep, 64)


@pytest.mark.tier4
def test_stats_snapshot_consistency():
    lib.cc_alloc_stats_enable(True)
    p = lib.cc_alloc(64)
    taken = lib.cc_alloc_stats_snapshot()  # a struct returned by value: a copy
    frozen = StatsSnapshot.take()
    via_get = ffi.new("cc_alloc_stats_t *")
    lib.cc_alloc_stats_get(via_get)
    usable = lib.cc_usable_size(p)
    assert raw(via_get) == raw(taken) == (1, 0, usable, 0, usable, 0)
    lib.cc_free(p, 64)
    lib.cc_free_unsized(lib.cc_alloc(4096))
    assert raw(taken) == raw(frozen) == raw(via_get) == (1, 0, usable, 0, usable, 0), (
        "a taken snapshot changed"
    )
    assert raw(StatsSnapshot.take()) != raw(taken)

    # Snapshots taken while 4 threads allocate natively are bounded by the ones before and after,
    # and each counter never goes backwards from one snapshot to the next.
    # Each worker's native loop lasts tens of milliseconds, far longer than the interpreter's
    # switch interval, so the workers overlap even though the snapshot loop competes for the GIL.
    threads, rounds = 4, 1500
    start, work = new_probe(), new_probe()

    def worker(i: int) -> int:
        rendezvous(start, threads)
        return lib.sk_alloc_free_loop(rounds, 512, 48 + 16 * i, i % 4, 64, i, work)

    before = StatsSnapshot.take()
    results: list = []
    runner = threading.Thread(
        target=lambda: results.extend(run_threads(threads, worker))
    )
    runner.start()
    series = []
    while runner.is_alive() or not series:
        series.append(StatsSnapshot.take())
        time.sleep(0.0002)  # let the workers take the GIL back between their native calls
    runner.join()
    after = StatsSnapshot.take()
    assert results == [0] * threads
    for f in ("alloc_count", "free_count", "alloc_bytes", "free_bytes"):
        values = (
            [getattr(before, f)] + [getattr(s, f) for s in series] + [getattr(after, f)]
        )
        assert values == sorted(values), f"{f} went backwards between snapshots"
    assert after.alloc_count - before.alloc_count == threads * rounds * 512
    assert after.alloc_count == after.free_count and after.current_allocated == 0, (
        "exact once quiescent"
    )
    assert work.max_inside >= 2, "the workers never ran native code at the same time"


@pytest.mark.tier4
def test_stats_survive_thread_exit():
    """Counts of exited threads stay in the totals (their records are handed back and reused by
    later threads): 6 waves of 8 short-lived threads, then frees on the main thread of blocks
    those threads allocated."""
    lib.cc_alloc_stats_enable(True)
    waves, threads, n = 6, 8, 500
    kept = []
    for wave in range(waves):
        probe = new_probe()

        def role(i: int, wave=wave, probe=probe):
            rendezvous(probe, threads)
            assert (
                lib.sk_alloc_free_loop(4, 250, 32, lib.SK_KIND_PLAIN, 0, i, ffi.NULL)
                == 0
            )
            return alloc_batch(n, size=32 + i, seed=wave * 100 + i)

        kept += run_threads(threads, role)
    snap = StatsSnapshot.take()
    total_loop = waves * threads * 4 * 250
    assert snap.alloc_count == total_loop + waves * threads * n
    assert snap.free_count == total_loop
    assert snap.current_allocated == sum(b.usable_total() for b in kept)
    assert [b.free() for b in kept] == [0] * len(kept)
    end = StatsSnapshot.take()
    assert end.alloc_count == end.free_count and end.current_allocated == 0

"""Memory tests — no leaks (the glue's own statistics, and the RSS of a process doing many
cycles), and the sanitizers: ASAN must report use-after-free and double free of glue blocks,
MSAN must find cc_calloc memory initialised. The sanitizer programs are built once and cached
(tests/glue/sanitizers.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from stresskit import Allocator, counting

from .helpers import KINDS, alloc_batch, ffi, lib
from .sanitizers import assert_clean, assert_double_free_caught, describe, run_sanitized


@pytest.mark.tier4
def test_no_leak_simple():
    alloc = Allocator()
    with counting() as stats:
        start = stats.take().current_allocated
        for make in (
            lambda: alloc.alloc(64),
            lambda: alloc.calloc(8, 8),
            lambda: alloc.alloc_aligned(64, 512),
            lambda: alloc.alloc_node(64),
        ):
            block = make()
            assert stats.take().current_allocated == start + block.usable_size
            block.free()
            snap = stats.take()
            assert (
                snap.current_allocated == start and snap.alloc_count == snap.free_count
            )


@pytest.mark.tier4
@pytest.mark.parametrize("stats", [False, True], ids=["fast-path", "counting"])
def test_no_leak_inside_the_glue(stats):
    """mimalloc's own count of live blocks, not the glue's books: a free the glue counts (or
    does not count) but never passes to mimalloc leaves a block behind here, on either path."""
    lib.cc_alloc_stats_enable(stats)
    try:
        # this thread's statistics record is a (lasting) mimalloc block: claim it before counting
        lib.cc_free_unsized(lib.cc_alloc(8))
        before = lib.sk_mimalloc_live_blocks(ffi.NULL)
        for kind, code in KINDS.items():
            assert lib.sk_alloc_free_loop(40, 512, 72, code, 128, 3, ffi.NULL) == 0, kind
            b = alloc_batch(9000, size=40, kind=kind, alignment=64)
            assert b.free(unsized=True) == 0
        after = lib.sk_mimalloc_live_blocks(ffi.NULL)
    finally:
        lib.cc_alloc_stats_enable(False)
        lib.cc_alloc_stats_reset()
    assert after == before, f"{after - before} blocks freed through the glue are still allocated in mimalloc"


LEAK_SCRIPT = textwrap.dedent(
    """
    import json, os, random, threading
    from stresskit import _native
    lib, ffi = _native.lib(), _native.ffi()
    page = os.sysconf("SC_PAGE_SIZE")

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * page

    rng = random.Random(7)
    n = 4000
    ptrs = ffi.new("void *[]", n)
    sizes = ffi.new("size_t[]", [rng.choice([16, 64, 200, 1000, 4000]) for _ in range(n)])

    def cycle(c):
        kind = c % 4
        assert lib.sk_batch_alloc(ptrs, n, sizes, 0, kind, 64, c, ffi.NULL) == n
        # the second half is freed by another thread: cross-thread frees must not leak either
        damaged = []
        half = n // 2
        t = threading.Thread(target=lambda: damaged.append(
            lib.sk_batch_free(ptrs + half, n - half, sizes + half, 0, False, c, ffi.NULL)))
        t.start()
        assert lib.sk_batch_free(ptrs, half, sizes, 0, True, c, ffi.NULL) == 0
        t.join()
        assert damaged == [0]
        assert lib.sk_alloc_free_loop(5, 1000, 48, kind, 64, c, ffi.NULL) == 0

    lib.cc_alloc_stats_enable(True)
    for c in range(CYCLES // 10):
        cycle(c)
    warm = rss()
    for c in range(CYCLES):
        cycle(c)
    s = lib.cc_alloc_stats_snapshot()
    print(json.dumps({"warm": warm, "end": rss(), "bytes_allocated": s.alloc_bytes,
                      "alloc_count": s.alloc_count, "free_count": s.free_count,
                      "current": s.current_allocated}))
    """
)


@pytest.mark.tier4
def test_no_leak_stress(record_info):
    if not os.path.exists("/proc/self/statm"):
        pytest.skip(
            "RSS is read from /proc/self/statm (Linux); the statistics half is checked below"
        )
    with (
        counting() as stats
    ):  # in-process: many cycles of every kind leave nothing behind
        for kind, code in KINDS.items():
            assert lib.sk_alloc_free_loop(100, 500, 100, code, 128, 1, ffi.NULL) == 0, (
                kind
            )
            b = alloc_batch(3000, size=300, kind=kind, alignment=128)
            assert b.free(unsized=True) == 0
        snap = stats.take()
        assert (
            snap.current_allocated == 0
            and snap.alloc_count == snap.free_count == 4 * (100 * 500 + 3000)
        )
    cycles = 300
    proc = subprocess.run(
        [sys.executable, "-c", LEAK_SCRIPT.replace("CYCLES", str(cycles))],
        check=False,
        capture_output=True,
        text=True,
        timeout=240,
        env=os.environ.copy(),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    growth = out["end"] - out["warm"]
    record_info("rss_warm_mib", round(out["warm"] / 2**20, 1))
    record_info("rss_growth_mib", round(growth / 2**20, 2))
    record_info("gib_allocated", round(out["bytes_allocated"] / 2**30, 2))
    assert out["current"] == 0 and out["alloc_count"] == out["free_count"]
    # Each cycle allocates ~5 MiB; a leak of even 1% of it would add ~15 MiB over the run.
    assert out["bytes_allocated"] > 1 << 30
    assert growth < 8 * 2**20, (
        f"RSS grew by {growth / 2**20:.1f} MiB over {cycles} alloc/free cycles"
    )


@pytest.mark.tier4
@pytest.mark.slow
def test_asan_no_use_after_free(asan_program):
    # The glue's own use of its blocks (every function, threads, cross-thread frees) is clean...
    assert_clean(asan_program)
    # ...and a read after cc_free is reported (mimalloc poisons freed blocks: use-after-poison).
    proc = run_sanitized(asan_program, "use-after-free")
    assert proc.returncode != 0, "ASAN did not stop a use after free:\n" + describe(
        proc
    )
    assert "ERROR: AddressSanitizer" in proc.stderr, describe(proc)
    assert any(k in proc.stderr for k in ("use-after-poison", "heap-use-after-free")), (
        describe(proc)
    )
    assert "in use_after_free" in proc.stderr, (
        "the report must point at the faulty read:\n" + describe(proc)
    )
    assert "not detected" not in proc.stdout


@pytest.mark.tier4
@pytest.mark.slow
def test_asan_no_double_free(asan_program):
    assert_clean(asan_program)
    assert_double_free_caught(asan_program, "double-free")


@pytest.mark.tier4
@pytest.mark.slow
def test_msan_no_uninitialized(msan_program):
    assert_clean(msan_program)
    # Blocks are dirtied, marked uninitialised and freed; cc_calloc hands them back and the
    # program branches on every byte: MSAN stays silent only if calloc really zeroed them.
    proc = run_sanitized(msan_program, "calloc-reuse")
    assert proc.returncode == 0 and "calloc-reuse ok: 0 dirty blocks" in proc.stdout, (
        describe(proc)
    )
    assert "MemorySanitizer" not in proc.stderr, describe(proc)
    # Control: the same with cc_alloc must be reported. This proves MSAN is active in this build
    # and that the reused blocks really were the poisoned ones (otherwise the check above is empty).
    control = run_sanitized(msan_program, "alloc-reuse")
    assert control.returncode != 0, (
        "MSAN missed uninitialised cc_alloc memory:\n" + describe(control)
    )
    assert "WARNING: MemorySanitizer: use-of-uninitialized-value" in control.stderr, (
        describe(control)
    )

"""Error paths of the seed's table: out of memory, zero size, invalid alignment (documented in
test_alignment), double free (caught by ASAN / mimalloc's check in the sanitizer build)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap

import pytest

from stresskit import Allocator

from .helpers import ffi, lib
from .sanitizers import assert_clean, assert_double_free_caught

OOM_SCRIPT = textwrap.dedent(
    """
    import json, os, resource
    from stresskit import Allocator, _native
    lib, ffi = _native.lib(), _native.ffi()
    MiB = 1 << 20
    slots = ffi.new("void *[]", 4096)   # everything Python needs, made before the limit
    small = ffi.new("void *[]", 1 << 16)
    with open("/proc/self/statm") as f:
        vm = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = vm + 512 * MiB
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    out = {}
    n = 0
    ffi.errno = 0
    while n < 4096:   # statistics off: the glue's fast path
        p = lib.cc_alloc(MiB)
        if p == ffi.NULL:
            break
        slots[n] = p
        n += 1
    out["n"], out["errno_fast"] = n, ffi.errno
    for name, call in (("aligned", lambda: lib.cc_alloc_aligned(MiB, 4096)),
                       ("node", lambda: lib.cc_alloc_node(MiB)),
                       ("calloc", lambda: lib.cc_calloc(1024, 1024))):
        ffi.errno = 0
        out[name] = [call() == ffi.NULL, ffi.errno]
    lib.cc_alloc_stats_enable(True)   # statistics on: the counting path
    ffi.errno = 0
    out["null_counted"] = lib.cc_alloc(MiB) == ffi.NULL
    out["errno_counted"] = ffi.errno
    s = lib.cc_alloc_stats_snapshot()
    out["failed"], out["allocs"] = s.failed_count, s.alloc_count
    # A class-sized request is counted before mimalloc is called; its failure must be taken back.
    k, usable = 0, 0
    ffi.errno = 0
    while k < len(small):
        p = lib.cc_alloc(1000)
        if p == ffi.NULL:
            break
        small[k] = p
        usable += lib.cc_usable_size(p)
        k += 1
    t = lib.cc_alloc_stats_snapshot()
    out["small"] = [k, ffi.errno, t.alloc_count - s.alloc_count, t.failed_count - s.failed_count,
                    t.alloc_bytes - s.alloc_bytes, usable]
    for i in range(k):
        lib.cc_free(small[i], 1000)
    try:
        Allocator().alloc(64 * MiB)
        out["python"] = "no error"
    except MemoryError:
        out["python"] = "MemoryError"
    for i in range(n):
        lib.cc_free(slots[i], MiB)
    again = lib.cc_alloc(MiB)
    out["again"] = again != ffi.NULL
    print(json.dumps(out))
    """
)


@pytest.mark.tier4
def test_oom_handling():
    """Address space capped (RLIMIT_AS, allocator-independent) in a child process: the glue
    returns NULL with ENOMEM, counts the failure, prints nothing, and recovers after frees."""
    if not os.path.exists("/proc/self/statm") or sys.platform != "linux":
        pytest.skip(
            "the child caps its address space relative to /proc/self/statm (Linux only)"
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIMALLOC_")}
    proc = subprocess.run(
        [sys.executable, "-c", OOM_SCRIPT],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr == "", f"the glue must never print: {proc.stderr[-500:]!r}"
    out = json.loads(proc.stdout)
    assert 0 < out["n"] < 4096, f"never ran out of memory under a 512 MiB cap: {out}"
    assert out["errno_fast"] == errno.ENOMEM, out
    for kind in ("aligned", "node", "calloc"):
        assert out[kind] == [True, errno.ENOMEM], f"cc_{kind} under OOM: {out}"
    assert out["null_counted"] and out["errno_counted"] == errno.ENOMEM, out
    assert out["failed"] == 1 and out["allocs"] == 0, (
        "failures are counted, not allocations"
    )
    k, err, allocs, failed, alloc_bytes, usable = out["small"]
    assert 0 < k < 1 << 16 and err == errno.ENOMEM, f"1000-byte blocks never ran out: {out}"
    assert (allocs, failed, alloc_bytes) == (k, 1, usable), (
        "a failed class-sized cc_alloc must count as a failure, not as an allocation"
    )
    assert out["python"] == "MemoryError"
    assert out["again"], "memory freed after the failure must be allocatable again"


@pytest.mark.tier1
def test_zero_size():
    for name, call in (
        ("cc_alloc", lambda: lib.cc_alloc(0)),
        ("cc_calloc(0, 8)", lambda: lib.cc_calloc(0, 8)),
        ("cc_calloc(8, 0)", lambda: lib.cc_calloc(8, 0)),
        ("cc_alloc_aligned", lambda: lib.cc_alloc_aligned(0, 64)),
        ("cc_alloc_node", lambda: lib.cc_alloc_node(0)),
    ):
        ffi.errno = errno.ERANGE
        assert call() == ffi.NULL, name
        assert ffi.errno == errno.ERANGE, f"{name} changed errno for a size-0 request"
    lib.cc_alloc_stats_enable(True)
    lib.cc_alloc(0)
    snap = lib.cc_alloc_stats_snapshot()
    assert (snap.alloc_count, snap.failed_count) == (0, 0)
    alloc = Allocator()
    for call in (
        lambda: alloc.alloc(0),
        lambda: alloc.calloc(0, 4),
        lambda: alloc.calloc(4, 0),
        lambda: alloc.alloc_aligned(0, 64),
        lambda: alloc.alloc_node(0),
        lambda: alloc.alloc(-5),
    ):
        with pytest.raises(ValueError):
            call()


@pytest.mark.tier4
@pytest.mark.slow
def test_asan_double_free(asan_program):
    """The unsized free path, on a cache-line node block: a second cc_free_unsized is stopped."""
    assert_clean(asan_program)
    assert_double_free_caught(asan_program, "double-free-unsized")

"""The native harness itself: declarations, spec validation, every op x impl, and that each
implementation really drives the allocator it names."""

from __future__ import annotations

import errno
import re
from pathlib import Path

import pytest

from stresskit import _native
from stresskit._cdefs_bench import BENCH_CDEF
from stresskit.bench.harness import IMPLS, HarnessError, Impl, Op, Spec, build_info, run

HEADER = Path(__file__).resolve().parents[2] / "native" / "include" / "sk_bench.h"


@pytest.fixture(scope="module")
def lib():
    return _native.load().lib


def _raw_spec(**fields):
    ffi = _native.ffi()
    s = ffi.new("sk_bench_spec_t *")
    defaults = {"op": 0, "impl": 0, "threads": 1, "size": 64, "alignment": 0, "ops": 100,
                "duration_ms": 0, "warmup_ops": 0, "seed": 1}
    defaults.update(fields)
    for k, v in defaults.items():
        setattr(s, k, v)
    return s


def _tiny(op: Op, impl: Impl, **kw) -> Spec:
    if op is Op.THROUGHPUT:
        return Spec(op=op, impl=impl, threads=kw.get("threads", 1), duration_ms=kw.get("ms", 5),
                    warmup_ops=500)
    return Spec(op=op, impl=impl, threads=2 if op is Op.CROSS_THREAD_FREE else 1,
                size=kw.get("size", 64), alignment=64 if op is Op.ALIGNED_ALLOC else None,
                ops=kw.get("ops", 2000), warmup_ops=200)


@pytest.mark.tier1
def test_every_exported_function_is_declared_for_cffi():
    exported = re.findall(r"CC_API\s+[\w\s\*]*?\b(sk_bench_\w+)\s*\(", HEADER.read_text())
    assert exported, "no CC_API functions found in sk_bench.h"
    for name in exported:
        assert re.search(rf"\b{name}\s*\(", BENCH_CDEF), f"{name} missing from BENCH_CDEF"


@pytest.mark.tier1
@pytest.mark.parametrize(
    "fields",
    [
        {"ops": 0},
        {"impl": 7},
        {"op": 9},
        {"size": 0},
        {"threads": 2},  # latency ops run on one thread
        {"op": 2, "alignment": 3},  # not a power of two
        {"op": 2, "alignment": 4},  # below sizeof(void *)
        {"op": 3, "threads": 3},  # cross-thread free is one producer, one consumer
        {"op": 4, "threads": 0, "duration_ms": 5},
        {"op": 4, "threads": 2, "duration_ms": 0},
    ],
)
def test_bad_specs_are_refused_with_einval(lib, fields):
    out = _native.ffi().new("sk_bench_result_t *")
    out.ops = 12345  # must be cleared, not left half-written
    assert lib.sk_bench_run(_raw_spec(**fields), out) == errno.EINVAL
    assert out.ops == 0


@pytest.mark.tier1
def test_null_arguments_are_refused(lib):
    ffi = _native.ffi()
    assert lib.sk_bench_run(ffi.NULL, ffi.new("sk_bench_result_t *")) == errno.EINVAL
    assert lib.sk_bench_run(_raw_spec(), ffi.NULL) == errno.EINVAL


@pytest.mark.tier1
def test_bad_spec_from_python_raises_harness_error():
    with pytest.raises(HarnessError, match="Invalid argument"):
        run(Spec(op=Op.ALLOC, impl=Impl.CC, size=0, ops=10))


@pytest.mark.tier1
@pytest.mark.parametrize("impl", IMPLS, ids=lambda i: i.value)
@pytest.mark.parametrize("op", list(Op), ids=lambda o: o.value)
def test_every_op_runs_for_every_impl(op, impl):
    s = run(_tiny(op, impl))
    assert s.failures == 0
    assert s.elapsed_ns > 0
    if op is Op.THROUGHPUT:
        assert s.ops >= 64  # at least one chunk
    else:
        assert s.ops == 2000
    assert s.ns_per_op == pytest.approx(s.elapsed_ns / s.ops)
    assert s.ops_per_s == pytest.approx(s.ops * 1e9 / s.elapsed_ns)


@pytest.mark.tier1
@pytest.mark.parametrize("size", [8, 4096, 1 << 20])
def test_size_sweep_extremes(size):
    for impl in IMPLS:
        assert run(_tiny(Op.ALLOC, impl, size=size, ops=100)).failures == 0
        assert run(_tiny(Op.FREE, impl, size=size, ops=100)).failures == 0


@pytest.mark.tier3
def test_cc_stats_counts_and_cc_does_not(lib):
    """cc+stats really turns counting on for its run (and back off after); cc runs uncounted."""
    was = bool(lib.cc_alloc_stats_enabled())
    lib.cc_alloc_stats_enable(False)
    try:
        before = lib.cc_alloc_stats_snapshot()
        run(Spec(op=Op.ALLOC, impl=Impl.CC, size=64, ops=3000, warmup_ops=100))
        mid = lib.cc_alloc_stats_snapshot()
        assert mid.alloc_count == before.alloc_count
        run(Spec(op=Op.ALLOC, impl=Impl.CC_STATS, size=64, ops=3000, warmup_ops=100))
        after = lib.cc_alloc_stats_snapshot()
        assert after.alloc_count - mid.alloc_count == 3100
        assert after.free_count - mid.free_count == 3100
        assert not lib.cc_alloc_stats_enabled(), "the previous (off) state was not restored"
        lib.cc_alloc_stats_enable(True)
        run(Spec(op=Op.ALLOC, impl=Impl.CC, size=64, ops=100, warmup_ops=0))
        assert lib.cc_alloc_stats_enabled(), "the previous (on) state was not restored"
    finally:
        lib.cc_alloc_stats_enable(was)


@pytest.mark.tier3
def test_mimalloc_and_system_runs_do_not_touch_the_glue(lib):
    was = bool(lib.cc_alloc_stats_enabled())
    lib.cc_alloc_stats_enable(True)
    try:
        before = lib.cc_alloc_stats_snapshot()
        for impl in (Impl.MIMALLOC, Impl.SYSTEM):
            for op in (Op.ALLOC, Op.CROSS_THREAD_FREE):
                run(_tiny(op, impl, ops=500))
        after = lib.cc_alloc_stats_snapshot()
        assert after.alloc_count == before.alloc_count
    finally:
        lib.cc_alloc_stats_enable(was)


@pytest.mark.tier1
def test_system_is_the_process_allocator_not_our_mimalloc():
    info = build_info()
    path = info["system_allocator"]
    assert path != "unresolved"
    assert Path(path).name != Path(info["library"]).name, "system would be mimalloc again"
    assert info["compiler"] and info["mimalloc_version"].count(".") == 2


@pytest.mark.tier4
@pytest.mark.parametrize("impl", IMPLS, ids=lambda i: i.value)
def test_throughput_threads_overlap_in_native_code(impl):
    s = run(Spec(op=Op.THROUGHPUT, impl=impl, threads=2, duration_ms=50, warmup_ops=200))
    assert s.max_inside >= 2
    assert s.failures == 0


@pytest.mark.tier4
def test_cross_thread_producer_and_consumer_overlap():
    s = run(_tiny(Op.CROSS_THREAD_FREE, Impl.CC, ops=20000))
    assert s.max_inside == 2

"""The Python face of the native harness: one call = one sample, measured entirely in C."""

from __future__ import annotations

import enum
import errno
import os
import sys
from dataclasses import dataclass

from stresskit import _native


class Impl(str, enum.Enum):
    """The four implementations, by their names in tables and JSON."""

    CC = "cc"
    CC_STATS = "cc+stats"
    MIMALLOC = "mimalloc"
    SYSTEM = "system"

    @property
    def native(self) -> int:
        return _IMPL_CODES[self]


class Op(str, enum.Enum):
    ALLOC = "alloc"
    FREE = "free"
    ALIGNED_ALLOC = "aligned_alloc"
    CROSS_THREAD_FREE = "cross_thread_free"
    THROUGHPUT = "throughput"

    @property
    def native(self) -> int:
        return _OP_CODES[self]

    @property
    def is_throughput(self) -> bool:
        return self is Op.THROUGHPUT


_IMPL_CODES = {Impl.CC: 0, Impl.CC_STATS: 1, Impl.MIMALLOC: 2, Impl.SYSTEM: 3}
_OP_CODES = {
    Op.ALLOC: 0,
    Op.FREE: 1,
    Op.ALIGNED_ALLOC: 2,
    Op.CROSS_THREAD_FREE: 3,
    Op.THROUGHPUT: 4,
}

IMPLS: tuple[Impl, ...] = (Impl.CC, Impl.CC_STATS, Impl.MIMALLOC, Impl.SYSTEM)


class HarnessError(RuntimeError):
    """sk_bench_run refused a spec or could not run it."""


@dataclass(frozen=True)
class Spec:
    op: Op
    impl: Impl
    threads: int = 1
    size: int | None = None
    alignment: int | None = None
    ops: int = 0  # latency ops: operations timed
    duration_ms: int = 0  # throughput: the window
    warmup_ops: int = 0
    seed: int = 1


@dataclass(frozen=True)
class Sample:
    """What one sk_bench_run saw."""

    ops: int
    elapsed_ns: int
    ns_per_op: float
    ops_per_s: float
    failures: int
    max_inside: int

    def value(self, op: Op) -> float:
        """The number a row aggregates: ops/s for throughput, ns/op otherwise."""
        return self.ops_per_s if op.is_throughput else self.ns_per_op


def _load():
    """The loaded library, checked to contain the harness (an older build would not)."""
    loaded = _native.load()
    try:
        loaded.lib.sk_bench_run  # noqa: B018 - cffi resolves the symbol on first access
    except AttributeError:
        raise HarnessError(
            f"the native library {loaded.path} ({loaded.origin}) has no sk_bench_run: it was built "
            f"before the benchmark harness; rebuild it (pip install .) or point "
            f"{_native.ENV_VAR} at a fresh build"
        ) from None
    return loaded


def run(spec: Spec) -> Sample:
    """Run one measurement in native code (the GIL is released for its whole duration)."""
    loaded = _load()
    ffi, lib = loaded.ffi, loaded.lib
    s = ffi.new("sk_bench_spec_t *")
    s.op = spec.op.native
    s.impl = spec.impl.native
    s.threads = spec.threads
    s.size = spec.size or 0
    s.alignment = spec.alignment or 0
    s.ops = spec.ops
    s.duration_ms = spec.duration_ms
    s.warmup_ops = spec.warmup_ops
    s.seed = spec.seed
    out = ffi.new("sk_bench_result_t *")
    rc = lib.sk_bench_run(s, out)
    if rc != 0:
        if rc == errno.ENOSYS and sys.platform == "win32":
            raise HarnessError("the benchmark harness is not available on Windows "
                               "(it is built on POSIX threads, mmap and dlsym)")
        raise HarnessError(f"sk_bench_run({spec}) failed: {os.strerror(rc)} (errno {rc})")
    return Sample(
        ops=int(out.ops),
        elapsed_ns=int(out.elapsed_ns),
        ns_per_op=float(out.ns_per_op),
        ops_per_s=float(out.ops_per_s),
        failures=int(out.failures),
        max_inside=int(out.max_inside),
    )


def build_info() -> dict:
    """What the loaded library says about itself: versions, compiler, the system allocator."""
    loaded = _load()
    ffi, lib = loaded.ffi, loaded.lib
    v = int(lib.cc_mimalloc_version())
    return {
        "mimalloc_version": f"{v // 10000}.{(v // 100) % 100}.{v % 100}",
        "glue_version": ffi.string(lib.cc_glue_version()).decode(),
        "compiler": ffi.string(lib.sk_bench_compiler()).decode(),
        "optimized": bool(lib.sk_bench_optimized()),
        "system_allocator": ffi.string(lib.sk_bench_system_allocator()).decode(),
        "library": str(loaded.path),
    }

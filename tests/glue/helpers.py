"""Native batches and thread plumbing for the glue tests.

All allocation work of the concurrency tests happens inside sk_* calls (C, GIL released by cffi);
Python only starts threads, hands pointer arrays around and checks results.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from stresskit import _native

ffi = _native.ffi()
lib = _native.lib()

SIZE_MAX = 2 ** (8 * ffi.sizeof("size_t")) - 1
PTR_SIZE = ffi.sizeof("void *")
KINDS = {
    "plain": lib.SK_KIND_PLAIN,
    "calloc": lib.SK_KIND_CALLOC,
    "aligned": lib.SK_KIND_ALIGNED,
    "node": lib.SK_KIND_NODE,
}
# Generous: only a wedged thread ever gets near it. Rendezvous spin in C, so 16 threads on 2 cores
# all arrive within scheduler time slices.
RENDEZVOUS_MS = 30_000
JOIN_S = 120.0


def address(ptr) -> int:
    return int(ffi.cast("uintptr_t", ptr))


def new_probe():
    """A zeroed sk_overlap_t: one per rendezvous, or one shared by the batches of a test."""
    return ffi.new("sk_overlap_t *")


def rendezvous(probe, parties: int) -> None:
    """Wait in native code until `parties` threads are there; fail if they never all are."""
    if not lib.sk_rendezvous(probe, parties, RENDEZVOUS_MS):
        raise AssertionError(
            f"only {probe.arrived} of {parties} threads reached the rendezvous: they did not run "
            "native code at the same time"
        )


@dataclass
class Batch:
    """Blocks allocated by one sk_batch_alloc call; free() verifies their fill pattern natively."""

    ptrs: object  # cdata void *[n]
    n: int
    sizes: object  # cdata size_t[n] or ffi.NULL
    size: int
    seed: int
    allocated: int

    def free(self, *, unsized: bool = False, probe=None) -> int:
        """Free every block; returns the number whose pattern was damaged."""
        return lib.sk_batch_free(
            self.ptrs,
            self.n,
            self.sizes,
            self.size,
            unsized,
            self.seed,
            probe if probe is not None else ffi.NULL,
        )

    def addresses(self) -> list[int]:
        return [address(self.ptrs[i]) for i in range(self.n)]

    def size_of(self, i: int) -> int:
        return self.sizes[i] if self.sizes != ffi.NULL else self.size

    def usable_total(self) -> int:
        return sum(lib.cc_usable_size(self.ptrs[i]) for i in range(self.n))


def alloc_batch(
    n: int,
    *,
    size: int = 64,
    sizes: Sequence[int] | None = None,
    kind: str = "plain",
    alignment: int = 0,
    seed: int = 1,
    probe=None,
) -> Batch:
    ptrs = ffi.new("void *[]", n)
    csizes = ffi.new("size_t[]", list(sizes)) if sizes is not None else ffi.NULL
    ok = lib.sk_batch_alloc(
        ptrs,
        n,
        csizes,
        size,
        KINDS[kind],
        alignment,
        seed,
        probe if probe is not None else ffi.NULL,
    )
    return Batch(ptrs, n, csizes, size, seed, ok)


def run_threads(
    count: int, target: Callable[[int], object], *, timeout: float = JOIN_S
) -> list[object]:
    """Run target(i) for i in range(count) on `count` threads; return their results in order.
    An exception in any thread fails the caller; so does a thread still running after `timeout`."""
    results: list[object] = [None] * count
    errors: list[BaseException] = []

    def body(i: int) -> None:
        try:
            results[i] = target(i)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            errors.append(exc)

    threads = [
        threading.Thread(target=body, args=(i,), name=f"glue-test-{i}")
        for i in range(count)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    stuck = [t.name for t in threads if t.is_alive()]
    assert not stuck, f"threads still running after {timeout} s: {stuck}"
    if errors:
        raise errors[0]
    return results


def assert_disjoint(blocks: Sequence[tuple[int, int]]) -> None:
    """(address, size) pairs must not overlap: no two live blocks share a byte."""
    ordered = sorted(blocks)
    for (a, sa), (b, _) in itertools.pairwise(ordered):
        assert a + sa <= b, f"blocks overlap: {a:#x}+{sa} reaches {b:#x}"

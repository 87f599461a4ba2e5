"""Integration tests — the safe-memory-reclamation pattern of lock-free structures: a node is
allocated, used, unlinked and retired, and freed only later (after a grace period), possibly by
another thread. Retired blocks must stay intact until freed, whatever else is allocated meanwhile."""

from __future__ import annotations

import queue
import time

import pytest

from stresskit import Allocator, counting

from .helpers import alloc_batch, ffi, lib, new_probe, rendezvous, run_threads

pytestmark = pytest.mark.tier4


def test_smr_retire_pattern():
    alloc = Allocator()
    with counting() as stats:
        retired = []
        for epoch in range(50):
            node = alloc.alloc_node(40)  # alloc
            payload = epoch.to_bytes(8, "little") * 5
            node.write(payload)  # use
            retired.append(
                (node, payload)
            )  # unlink + retire: no longer reachable, not yet freed
            churn = alloc_batch(
                256, size=40, kind="node", seed=epoch
            )  # other nodes come and go
            assert churn.free() == 0
        # Grace period over: every retired node still holds what was written, then it is freed.
        for node, payload in retired:
            assert node.read() == payload
            node.free()
        snap = stats.take()
    assert (
        snap.alloc_count == snap.free_count == 50 + 50 * 256
        and snap.current_allocated == 0
    )


def test_smr_delayed_free():
    retired = alloc_batch(20_000, size=56, kind="node", seed=42)
    assert retired.allocated == 20_000
    retired_at = set(retired.addresses())
    probe = new_probe()
    # The delay: wall-clock time plus heavy churn of the same size class on this and other
    # threads, which would recycle the retired memory if it had been released early.
    time.sleep(0.2)
    assert run_threads(
        2,
        lambda i: lib.sk_alloc_free_loop(100, 1000, 56, lib.SK_KIND_NODE, 0, i, probe),
    ) == [0, 0]
    live = alloc_batch(20_000, size=56, kind="node", seed=43)
    assert not retired_at & set(live.addresses()), (
        "a retired, not yet freed block was handed out again"
    )
    assert retired.free() == 0, "retired blocks changed during the grace period"
    assert live.free() == 0


def test_smr_batch_free():
    n = 50_000
    sizes = [24 + 8 * (i % 5) for i in range(n)]
    with counting() as stats:
        retired = alloc_batch(
            n, sizes=sizes, kind="node", seed=5
        )  # nodes retired over time...
        assert retired.allocated == n
        usable = retired.usable_total()
        churn = alloc_batch(n, size=40, kind="node", seed=6)
        assert churn.free() == 0
        before = stats.take()
        # ...freed all at once when the grace period ends: one native call, every node verified.
        assert retired.free(unsized=True) == 0
        after = stats.take()
    assert all(retired.ptrs[i] == ffi.NULL for i in range(0, n, 997)), (
        "sk_batch_free clears the slots"
    )
    assert after.free_count - before.free_count == n
    assert (
        after.free_bytes - before.free_bytes == usable and after.current_allocated == 0
    )


def test_smr_cross_thread_retire():
    """Thread A allocates nodes, B unlinks + retires them (and allocates replacements), C frees
    the retired nodes two epochs later.

    Whether two threads' batches overlap is up to the scheduler: on a loaded 2-core machine a
    whole round can run one batch at a time (seen about once in ten runs). Every round must keep
    the books; the overlap must be seen in at least one of up to five rounds."""
    overlaps = []
    for _ in range(5):
        overlaps.append(_smr_cross_thread_round())
        if overlaps[-1] >= 2:
            break
    assert max(overlaps) >= 2, f"the threads' batches never overlapped in {len(overlaps)} rounds"


def _smr_cross_thread_round() -> int:
    epochs, n = 8, 60_000
    to_b: queue.Queue = queue.Queue(maxsize=3)
    to_c: queue.Queue = queue.Queue()
    start, work = new_probe(), new_probe()

    def role(i: int) -> int:
        rendezvous(start, 3)
        if i == 0:  # A
            for e in range(epochs):
                b = alloc_batch(n, size=48, kind="node", seed=1000 + e, probe=work)
                assert b.allocated == n
                to_b.put(b)
            to_b.put(None)
            return 0
        if (
            i == 1
        ):  # B: retire what A published, allocate replacements, retire those later too
            replacements = []
            while (b := to_b.get(timeout=60)) is not None:
                replacements.append(
                    alloc_batch(
                        n // 4,
                        size=48,
                        kind="node",
                        seed=2000 + len(replacements),
                        probe=work,
                    )
                )
                to_c.put(b)
            for r in replacements:
                to_c.put(r)
            to_c.put(None)
            return 0
        # C: a grace period of two epochs: only free what was retired at least two epochs ago.
        pending, damaged = [], 0
        while (b := to_c.get(timeout=60)) is not None:
            pending.append(b)
            while len(pending) > 2:
                damaged += pending.pop(0).free(
                    unsized=len(pending) % 2 == 0, probe=work
                )
        for b in pending:
            damaged += b.free(probe=work)
        return damaged

    with counting() as stats:
        assert run_threads(3, role) == [0, 0, 0], (
            "a retired node was damaged before C freed it"
        )
        snap = stats.take()
    assert start.max_inside == 3, "A, B and C were in native code at the same time"
    total = epochs * n + epochs * (n // 4)
    assert snap.alloc_count == snap.free_count == total and snap.current_allocated == 0
    return int(work.max_inside)

"""The machine's hand-off probe (sk_bench_handoff, stresskit.bench.machine.handoff_latency): what it
refuses, that it really passes a line between two pinned CPUs and gives the caller's affinity
back, and that a one-CPU process gets a reason instead of a number."""

from __future__ import annotations

import errno
import os
import threading
import time

import pytest

from stresskit import _native
from stresskit.bench import machine
from stresskit.bench.output import handoff_line

needs_affinity = pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="thread affinity is Linux-only")


@pytest.fixture(scope="module")
def native():
    loaded = _native.load()
    return loaded.ffi, loaded.lib


@pytest.mark.tier1
@pytest.mark.parametrize("round_trips,batches", [(0, 9), (1_000_001, 1), (10, 0), (10, 102)])
def test_bad_arguments_are_refused(native, round_trips, batches):
    ffi, lib = native
    out = ffi.new("sk_handoff_result_t *")
    out.round_trip_ns = 5.0
    assert lib.sk_bench_handoff(round_trips, batches, out) == errno.EINVAL
    assert out.round_trip_ns == 0 and out.cpu_a == out.cpu_b == -1


def _in_thread(fn):
    """Run fn in a fresh thread (affinity is per thread on Linux: the test's own stays as it was)."""
    box: dict = {}
    t = threading.Thread(target=lambda: box.setdefault("value", fn()))
    t.start()
    t.join()
    return box["value"]


@pytest.mark.tier4
@needs_affinity
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2 if hasattr(os, "sched_getaffinity") else True,
                    reason="the probe needs two usable CPUs")
def test_two_pinned_cpus_pass_the_line_and_the_caller_keeps_its_affinity(native):
    ffi, lib = native

    def probe():
        before = os.sched_getaffinity(0)
        out = ffi.new("sk_handoff_result_t *")
        rc = lib.sk_bench_handoff(500, 5, out)
        return rc, before, os.sched_getaffinity(0), out

    rc, before, after, out = _in_thread(probe)
    assert rc == 0
    assert after == before, "the caller's affinity is restored"
    assert out.cpu_a != out.cpu_b and {out.cpu_a, out.cpu_b} <= before
    # 2500 round trips returned: each needed the other thread's store, so both ran at once
    assert 0 < out.min_round_trip_ns <= out.round_trip_ns <= out.max_round_trip_ns
    measured = machine.handoff_latency(round_trips=200, batches=3)
    assert measured["round_trip_ns"] > 0 and len(set(measured["cpus"])) == 2, measured


@pytest.mark.tier4
@needs_affinity
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2 if hasattr(os, "sched_getaffinity") else True,
                    reason="the probe needs two usable CPUs")
def test_a_probe_that_cannot_finish_gives_up_after_its_deadline(native):
    """10^8 round trips take seconds on any machine: the probe stops at 250 ms instead (it runs
    before every `stresskit run`, so busy CPUs must never hold a run up)."""
    ffi, lib = native

    def probe():
        before = os.sched_getaffinity(0)
        out = ffi.new("sk_handoff_result_t *")
        t0 = time.monotonic()
        rc = lib.sk_bench_handoff(1_000_000, 101, out)
        return rc, time.monotonic() - t0, before, os.sched_getaffinity(0), out.cpu_a

    rc, elapsed, before, after, cpu_a = _in_thread(probe)
    assert rc == errno.ETIMEDOUT and cpu_a == -1
    assert elapsed < 5.0, f"gave up after {elapsed:.2f} s"
    assert after == before


@pytest.mark.tier4
@needs_affinity
def test_one_usable_cpu_gives_a_reason_not_a_number():
    def probe():
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        return machine.handoff_latency(round_trips=10, batches=1)

    got = _in_thread(probe)
    assert got == {"error": "needs two usable CPUs that threads can be pinned to"}


@pytest.mark.tier1
def test_the_bench_line_reads_both_probes_and_old_documents_print_none():
    doc_machine = {"handoff_before": {"round_trip_ns": 93.4, "min_ns": 90.0, "max_ns": 99.0, "cpus": [0, 1]},
                   "handoff_after": {"error": "needs two usable CPUs that threads can be pinned to"}}
    assert handoff_line(doc_machine) == ("cross-core hand-off round trip: 93 ns before (CPUs 0, 1); "
                                         "not measured after: needs two usable CPUs that threads can be pinned to")
    assert handoff_line({"cores": 2}) is None
    moved = {"handoff_before": {"round_trip_ns": 70.0, "cpus": [0, 1]}, "handoff_after": {"round_trip_ns": 402.0, "cpus": [0, 1]}}
    assert handoff_line(moved).endswith("CHANGED during the run: the rows that hand blocks between cores "
                                        "(cross-thread free, the engine row) straddle two machines, rerun them")

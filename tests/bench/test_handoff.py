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
from stresskit.bench.machine import handoff_line

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


def _topology(tmp_path, siblings: dict[int, str]):
    for cpu, text in siblings.items():
        d = tmp_path / f"cpu{cpu}" / "topology"
        d.mkdir(parents=True)
        (d / "thread_siblings_list").write_text(text + "\n")
    return tmp_path


@pytest.mark.tier1
@pytest.mark.parametrize("text,cpus", [("0", {0}), ("0-3,8,10-11", {0, 1, 2, 3, 8, 10, 11}), ("0,64", {0, 64})])
def test_kernel_cpu_lists_parse(text, cpus):
    assert machine.parse_cpu_list(text) == cpus


@pytest.mark.tier1
@pytest.mark.parametrize("text", ["", "a", "3-1", "-1", "0,,1"])
def test_a_cpu_list_that_is_not_one_is_refused(text):
    with pytest.raises(ValueError):
        machine.parse_cpu_list(text)


@pytest.mark.tier1
def test_the_probe_takes_two_cores_over_two_smt_threads_of_one(tmp_path):
    # CPUs 0 and 1 are one core's two threads (as some machines number them), 2 and 3 another's
    root = _topology(tmp_path, {0: "0-1", 1: "0-1", 2: "2-3", 3: "2-3"})
    assert machine.probe_cpus({0, 1, 2, 3}, root) == ([0, 2], False)
    assert machine.probe_cpus({1, 3}, root) == ([1, 3], False)
    # the usual numbering (siblings N apart): the first two are on two cores already
    assert machine.probe_cpus({0, 1, 2, 3}, _topology(tmp_path / "b", {0: "0,2"})) == ([0, 1], False)
    # only one core usable: its two threads, and the record says so
    assert machine.probe_cpus({0, 1}, root) == ([0, 1], True)
    # no topology to read (a container without sysfs): the first two, not claimed to share a core
    assert machine.probe_cpus({5, 7}, tmp_path / "missing") == ([5, 7], False)
    assert machine.probe_cpus({0}, root) is None


@pytest.mark.tier1
def test_the_record_says_whether_its_two_cpus_share_a_core():
    got = _in_thread(lambda: machine.handoff_latency(round_trips=200, batches=3))
    if "error" in got:
        pytest.skip(f"the probe could not run here: {got['error']}")
    a, b = got["cpus"]
    assert got["same_core"] is (b in machine.core_siblings(a)), got


@pytest.mark.tier1
def test_the_probe_narrows_the_thread_to_the_chosen_pair_and_restores_it(monkeypatch, tmp_path):
    """Choosing a pair other than the first two CPUs needs three or more (this VM and CI have two),
    so the affinity calls are recorded instead of made; the native probe then runs on the real
    affinity, which is all this test needs of it."""
    calls: list[set[int]] = []
    monkeypatch.setattr(machine, "SYSFS_CPU", _topology(tmp_path, {0: "0-1"}))
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(os, "sched_setaffinity", lambda pid, cpus: calls.append(set(cpus)))
    machine.handoff_latency(round_trips=50, batches=1)
    assert calls == [{0, 2}, {0, 1, 2, 3}], "narrowed to two cores for the probe, then given back"

    calls.clear()
    def refused(pid, cpus):
        calls.append(set(cpus))
        raise OSError(22, "Invalid argument")

    monkeypatch.setattr(os, "sched_setaffinity", refused)  # a cpuset that changed under us
    got = machine.handoff_latency(round_trips=50, batches=1)
    assert calls == [{0, 2}], "no restore of what was never changed"
    assert got.get("same_core") in (True, None), "the first two (0 and 1, one core here) were probed"

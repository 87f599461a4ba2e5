"""The engine's bounded lock-free MPMC queue (native/src/engine_queue.c), driven natively."""

from __future__ import annotations

import threading

import pytest

SENTINEL = 2**64 - 1


@pytest.fixture
def make_queue(native):
    ffi, lib = native
    made = []

    def make(capacity):
        q = lib.sk_queue_create(capacity)
        if q != ffi.NULL:
            made.append(q)
        return q

    yield make
    for q in made:
        lib.sk_queue_destroy(q)


@pytest.mark.tier1
@pytest.mark.parametrize("capacity", [0, 1, 3, 6, 100, 2**24 + 1, 2**25])
def test_capacity_must_be_a_power_of_two_in_range(native, make_queue, capacity):
    ffi, _ = native
    assert make_queue(capacity) == ffi.NULL


@pytest.mark.tier1
@pytest.mark.parametrize("capacity", [2, 8, 1024])
def test_holds_exactly_capacity_in_fifo_order_across_laps(native, make_queue, capacity):
    ffi, lib = native
    q = make_queue(capacity)
    assert lib.sk_queue_capacity(q) == capacity
    out = ffi.new("uint64_t *")
    value = 0
    for _lap in range(3):  # the sequence numbers must keep working after wrapping around
        first = value
        for _ in range(capacity):
            assert lib.sk_queue_push(q, value)
            value += 1
        assert not lib.sk_queue_push(q, 999), "a full queue must refuse a push"
        for expected in range(first, value):
            assert lib.sk_queue_pop(q, out)
            assert out[0] == expected
        assert not lib.sk_queue_pop(q, out), "an empty queue must refuse a pop"


@pytest.mark.tier1
def test_interleaved_push_pop_keeps_order(native, make_queue):
    ffi, lib = native
    q = make_queue(4)
    out = ffi.new("uint64_t *")
    expected = 0
    pushed = 0
    for step in range(1000):
        for _ in range(step % 3 + 1):
            if lib.sk_queue_push(q, pushed):
                pushed += 1
        if lib.sk_queue_pop(q, out):
            assert out[0] == expected
            expected += 1
    while lib.sk_queue_pop(q, out):
        assert out[0] == expected
        expected += 1
    assert expected == pushed > 500


@pytest.mark.tier4
def test_mpmc_every_value_once_and_per_producer_order(native, make_queue):
    """2 producers and 2 consumers on a small ring, all in native code at once: every value
    arrives exactly once, and each consumer sees each producer's values in push order."""
    ffi, lib = native
    producers, consumers, per_producer = 2, 2, 100_000
    total = producers * per_producer
    q = make_queue(64)  # small: producers hit "full" and consumers "empty" often
    probe = ffi.new("sk_overlap_t *")
    outs = [ffi.new(f"uint64_t[{total}]") for _ in range(consumers)]
    counts = [0] * consumers
    retries = [0] * producers

    def produce(p):
        retries[p] = lib.sk_queue_test_produce(q, p << 32, per_producer, probe)

    def consume(c):
        counts[c] = lib.sk_queue_test_consume(q, outs[c], total, SENTINEL, probe)

    ps = [threading.Thread(target=produce, args=(p,)) for p in range(producers)]
    cs = [threading.Thread(target=consume, args=(c,)) for c in range(consumers)]
    for t in cs + ps:
        t.start()
    for t in ps:
        t.join()
    for _ in range(consumers):
        while not lib.sk_queue_push(q, SENTINEL):
            pass
    for t in cs:
        t.join(timeout=60)
        assert not t.is_alive()

    seen = []
    for c in range(consumers):
        values = [outs[c][i] for i in range(counts[c])]
        last = {}
        for v in values:
            p = v >> 32
            assert v > last.get(p, -1), "a consumer saw one producer's values out of order"
            last[p] = v
        seen.extend(values)
    assert len(seen) == total
    assert sorted(seen) == sorted((p << 32) + i for p in range(producers) for i in range(per_producer))
    assert probe.max_inside >= 2, "producers and consumers never ran native code at the same time"


@pytest.mark.tier3
def test_queue_matches_a_bounded_deque_model(native):
    """Any sequence of pushes and pops behaves like a bounded FIFO (hypothesis-generated)."""
    from collections import deque

    from hypothesis import given, settings
    from hypothesis import strategies as st

    ffi, lib = native

    @settings(max_examples=150, deadline=None)
    @given(capacity_log2=st.integers(1, 5), ops=st.lists(st.one_of(st.none(), st.integers(0, 2**64 - 2)), max_size=200))
    def check(capacity_log2, ops):
        capacity = 1 << capacity_log2
        q = lib.sk_queue_create(capacity)
        try:
            model: deque[int] = deque()
            out = ffi.new("uint64_t *")
            for op in ops:
                if op is None:
                    got = lib.sk_queue_pop(q, out)
                    assert got == bool(model)
                    if got:
                        assert out[0] == model.popleft()
                else:
                    pushed = lib.sk_queue_push(q, op)
                    assert pushed == (len(model) < capacity)
                    if pushed:
                        model.append(op)
        finally:
            lib.sk_queue_destroy(q)

    check()

"""The single-producer single-consumer path of the engine's queue (a Lamport ring: no CAS, the
popper never writes a slot back): every block moves once, with the two threads overlapping, and
the invariant checker still catches a broken index or slot on it."""

from __future__ import annotations

from dataclasses import replace

import pytest
from engine_plans import cross_thread_plan

from stresskit.engine import run_replica


def _spsc(**extra):
    # capacity 8: the ring wraps thousands of times, full and empty both happen
    return cross_thread_plan(producers=1, consumers=1, capacity=8, ops=30_000, **extra)


@pytest.mark.tier4
def test_every_block_moves_once_with_both_threads_inside():
    result = run_replica(_spsc())
    prod, cons = result.roles
    assert prod.ops == cons.frees == 30_000
    assert result.canary_failures == 0 and result.double_handoffs == 0 and result.blocks_leaked == 0
    assert result.max_threads_inside == 2
    assert not any(result.invariants.values()), result.invariants


@pytest.mark.tier3
@pytest.mark.parametrize("reason", ["queue_index", "queue_cell"])
def test_a_planted_break_of_the_spsc_ring_is_counted(reason):
    result = run_replica(replace(_spsc(), extra={"testing_break_invariant": reason}))
    assert result.invariants[reason] >= 1, result.invariants


@pytest.mark.tier4
def test_a_planted_double_handoff_on_the_spsc_ring_is_caught():
    result = run_replica(_spsc(testing_double_handoffs=3))
    assert result.roles[1].double_handoffs == 3 and result.blocks_leaked == 0

"""Hypothesis strategies and a state machine for testing a glue wrapper (docs/workflow.md).

* ``scenarios()``: valid scenario dicts for ``stresskit.run``/``load``, bounded by cost
  (threads, allocations per replica, block sizes), in the three shapes the engine runs:
  local alloc/free, a producer -> consumer hand-off, and SMR (produce -> retire -> reclaim).
* ``GlueMachine``: a rule-based state machine over an allocator (by default stresskit's own
  ``Allocator``): allocate, write, verify, free, with the glue's statistics as the model's
  check. Subclass it and override ``make_allocator`` to test your own wrapper; Hypothesis
  finds a sequence that breaks it and shrinks it to the shortest.

Needs hypothesis (the ``test`` extra).
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

SIZES = st.sampled_from([1, 8, 16, 24, 64, 100, 256, 1000, 4096])


def _sizes() -> st.SearchStrategy[Any]:
    return st.one_of(SIZES, st.lists(SIZES, min_size=1, max_size=4, unique=True))


@st.composite
def scenarios(draw: st.DrawFn, max_threads: int = 4, max_ops: int = 20_000, replicas: int = 1) -> dict[str, Any]:
    """A valid scenario dict; its cost is at most ``max_threads`` threads per role and
    ``max_ops`` allocations per replica."""
    threads = st.integers(1, max_threads)
    load = {"ops": draw(st.integers(100, max_ops)), "replicas": replicas, "seed": draw(st.integers(0, 2**32 - 1))}
    shape = draw(st.sampled_from(["alloc_free", "handoff", "smr"]))
    flows: list[dict[str, Any]] = []
    capacity = st.sampled_from([64, 256, 1024])
    if shape == "alloc_free":
        roles = {"worker": {"action": "alloc_free", "threads": draw(threads), "sizes": draw(_sizes())}}
    elif shape == "handoff":
        roles = {"producer": {"action": "produce", "threads": draw(threads), "sizes": draw(_sizes())},
                 "consumer": {"action": "consume", "threads": draw(threads)}}
        flows = [{"from": "producer", "to": "consumer", "capacity": draw(capacity)}]
    else:
        roles = {"A": {"action": "produce", "threads": draw(threads), "sizes": draw(_sizes())},
                 "B": {"action": "retire", "threads": 1},
                 "C": {"action": "reclaim", "threads": 1}}
        flows = [{"from": "A", "to": "B", "capacity": draw(capacity)}, {"from": "B", "to": "C", "capacity": draw(capacity)}]
    doc = {"name": f"generated_{shape}", "load": load, "roles": roles, "thresholds": {"checks": ["bytes.leaked == 0"]}}
    if flows:
        doc["flows"] = flows
    return doc


class GlueMachine(RuleBasedStateMachine):
    """Allocate, fill, verify and free blocks in any order; after every step the glue's
    statistics must count exactly the live blocks. Override ``make_allocator`` (an object with
    ``alloc(size) -> block``, block ``write``/``read``/``free``) to test your own wrapper."""

    blocks = Bundle("blocks")

    def make_allocator(self) -> Any:
        from stresskit.allocator import Allocator

        return Allocator()

    def __init__(self) -> None:
        from stresskit.allocator import enable_stats, reset_stats

        super().__init__()
        enable_stats(True)
        reset_stats()
        self.allocator = self.make_allocator()
        self.live: dict[int, tuple[Any, bytes]] = {}
        self.next_id = 0

    @rule(target=blocks, size=st.integers(1, 4096), seed=st.integers(0, 2**16))
    def alloc(self, size: int, seed: int) -> int:
        block = self.allocator.alloc(size)
        data = random.Random(seed).randbytes(size)
        block.write(data)
        self.next_id += 1
        self.live[self.next_id] = (block, data)
        return self.next_id

    @rule(key=blocks)
    def verify(self, key: int) -> None:
        if key in self.live:
            block, data = self.live[key]
            assert block.read(len(data)) == data, f"block {key} ({len(data)} bytes) was overwritten"

    @rule(key=consumes(blocks))
    def free(self, key: int) -> None:
        block, data = self.live.pop(key)
        assert block.read(len(data)) == data, f"block {key} ({len(data)} bytes) was overwritten before its free"
        block.free()

    @invariant()
    def statistics_count_the_live_blocks(self) -> None:
        from stresskit.allocator import StatsSnapshot

        live = StatsSnapshot.take().live_blocks
        assert live == len(self.live), f"the glue counts {live} live block(s), the test holds {len(self.live)}"

    def teardown(self) -> None:
        from stresskit.allocator import enable_stats

        for block, _ in self.live.values():
            block.free()
        self.live.clear()
        enable_stats(False)


__all__ = ["GlueMachine", "scenarios"]

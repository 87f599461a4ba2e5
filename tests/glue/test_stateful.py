"""Stateful property test of the glue: random sequences of every allocation kind, sized and
unsized frees, and statistics switching, checked against a Python model after every step.

The model: a block's bytes are its usable size (cc_usable_size) and are counted only while
statistics are on; reset zeroes everything; all counters wrap modulo 2**64. Every live block
keeps the pattern written into it, its alignment, and calloc blocks start zeroed.

The machine is parameterised by its backend so that test_machine_catches_* can run it against
deliberately broken shims and prove it finds (and shrinks) their bugs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
    run_state_machine_as_test,
)

from . import strategies as gs
from .helpers import address, ffi, lib

pytestmark = pytest.mark.tier3

WRAP = 2**64
FIELDS = ("alloc_count", "free_count", "alloc_bytes", "free_bytes", "failed_count")


def pattern(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


@dataclass
class Live:
    ptr: object
    size: int
    kind: str
    alignment: int
    data: bytes


class GlueMachine(RuleBasedStateMachine):
    make_backend = staticmethod(lambda: lib)  # the broken shims below replace it
    last_run_steps = (
        0  # steps of the most recent run: after a failure, the shrunk example's
    )

    blocks = Bundle("blocks")

    def __init__(self) -> None:
        super().__init__()
        self.g = self.make_backend()
        self.g.cc_alloc_stats_enable(False)
        self.g.cc_alloc_stats_reset()
        self.enabled = False
        self.model = dict.fromkeys(FIELDS, 0)
        self.live: dict[int, Live] = {}
        self.steps = 0
        type(self).last_run_steps = 0

    def _step(self) -> None:
        self.steps += 1
        type(self).last_run_steps = self.steps

    def _allocated(self, ptr, size: int, kind: str, alignment: int, seed: int) -> Live:
        self._step()
        assert ptr != ffi.NULL, f"{kind} allocation of {size} bytes failed"
        usable = self.g.cc_usable_size(ptr)
        assert usable >= size
        if kind == "calloc":
            # Only the first dirty offset in the message: pytest's diff of two large byte strings
            # (untruncated when CI is set) under Hypothesis' tracing took minutes per failure.
            got = ffi.buffer(ptr, size)[:]
            dirty = next((i for i, b in enumerate(got) if b), None) if got.count(0) != size else None
            assert dirty is None, f"cc_calloc returned dirty memory (first non-zero byte at offset {dirty} of {size})"
        data = pattern(seed, size)
        ffi.memmove(ptr, data, size)
        if self.enabled:
            self.model["alloc_count"] += 1
            self.model["alloc_bytes"] += usable
        block = Live(ptr, size, kind, alignment, data)
        self.live[address(ptr)] = block
        return block

    @rule(target=blocks, size=gs.sizes, seed=gs.pattern_seeds)
    def alloc_plain(self, size, seed):
        return self._allocated(self.g.cc_alloc(size), size, "plain", 16, seed)

    @rule(
        target=blocks,
        count=gs.calloc_counts,
        size=gs.calloc_sizes,
        seed=gs.pattern_seeds,
    )
    def alloc_calloc(self, count, size, seed):
        return self._allocated(
            self.g.cc_calloc(count, size), count * size, "calloc", 16, seed
        )

    @rule(target=blocks, size=gs.sizes, alignment=gs.alignments, seed=gs.pattern_seeds)
    def alloc_aligned(self, size, alignment, seed):
        return self._allocated(
            self.g.cc_alloc_aligned(size, alignment), size, "aligned", alignment, seed
        )

    @rule(target=blocks, size=gs.sizes, seed=gs.pattern_seeds)
    def alloc_node(self, size, seed):
        line = lib.cc_cache_line_size()
        return self._allocated(self.g.cc_alloc_node(size), size, "node", line, seed)

    @rule(size=gs.impossible_sizes)
    def alloc_impossible(self, size):
        self._step()
        assert self.g.cc_alloc(size) == ffi.NULL
        if self.enabled:
            self.model["failed_count"] += 1

    def _free(self, block: Live, sized: bool) -> None:
        self._step()
        usable = self.g.cc_usable_size(block.ptr)
        del self.live[address(block.ptr)]
        if sized:
            self.g.cc_free(block.ptr, block.size)
        else:
            self.g.cc_free_unsized(block.ptr)
        if self.enabled:
            self.model["free_count"] += 1
            self.model["free_bytes"] += usable

    @rule(block=consumes(blocks))
    def free_sized(self, block):
        self._free(block, sized=True)

    @rule(block=consumes(blocks))
    def free_unsized(self, block):
        self._free(block, sized=False)

    @rule(on=st.booleans())
    def switch_stats(self, on):
        self._step()
        self.g.cc_alloc_stats_enable(on)
        self.enabled = on

    @rule()
    def reset_stats(self):
        self._step()
        self.g.cc_alloc_stats_reset()
        self.model = dict.fromkeys(FIELDS, 0)

    @invariant()
    def stats_match_model(self):
        snap = self.g.cc_alloc_stats_snapshot()
        expected = {k: v % WRAP for k, v in self.model.items()}
        expected["current_allocated"] = (
            self.model["alloc_bytes"] - self.model["free_bytes"]
        ) % WRAP
        got = {k: int(getattr(snap, k)) for k in expected}
        assert got == expected
        assert bool(self.g.cc_alloc_stats_enabled()) == self.enabled

    @invariant()
    def live_blocks_intact_and_aligned(self):
        for block in self.live.values():
            assert address(block.ptr) % block.alignment == 0, (
                f"{block.kind} block misaligned"
            )
            assert ffi.buffer(block.ptr, block.size)[:] == block.data, (
                f"{block.kind} block changed"
            )

    def teardown(self):
        for block in self.live.values():
            lib.cc_free_unsized(block.ptr)
        self.live.clear()
        lib.cc_alloc_stats_enable(False)
        lib.cc_alloc_stats_reset()


TestGlueStateful = GlueMachine.TestCase
TestGlueStateful.settings = settings(
    max_examples=100,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# ---- teeth: the same machine against deliberately broken glues ---------------------------------


class Shim:
    """Passes everything to the real library; subclasses break one thing."""

    def __getattr__(self, name):
        return getattr(lib, name)


class SnapshotMisreportsFreeBytes(Shim):
    """After its second free, the snapshot claims 16 more bytes freed than really were."""

    def __init__(self):
        self.frees = 0

    def _counted(self):
        self.frees += 1

    def cc_free(self, ptr, size):
        self._counted()
        lib.cc_free(ptr, size)

    def cc_free_unsized(self, ptr):
        self._counted()
        lib.cc_free_unsized(ptr)

    def cc_alloc_stats_snapshot(self):
        s = lib.cc_alloc_stats_snapshot()
        fields = {k: int(getattr(s, k)) for k in (*FIELDS, "current_allocated")}
        if self.frees >= 2:
            fields["free_bytes"] += 16
            fields["current_allocated"] = (fields["current_allocated"] - 16) % WRAP
        return SimpleNamespace(**fields)


class UnsizedFreeForgetsCounting(Shim):
    """cc_free_unsized frees without counting (a glue whose unsized path skipped the stats)."""

    def cc_free_unsized(self, ptr):
        was = lib.cc_alloc_stats_enabled()
        lib.cc_alloc_stats_enable(False)
        lib.cc_free_unsized(ptr)
        lib.cc_alloc_stats_enable(was)


class CallocDoesNotZero(Shim):
    """cc_calloc hands out recycled bytes, as a calloc that skipped zeroing would."""

    def cc_calloc(self, count, size):
        p = lib.cc_calloc(count, size)
        if p != ffi.NULL:
            ffi.memmove(p, b"\xab" * (count * size), count * size)
        return p


@pytest.mark.parametrize(
    ("shim", "symptom", "max_steps"),
    [
        (SnapshotMisreportsFreeBytes, "free_bytes", 6),
        (UnsizedFreeForgetsCounting, "free_count", 4),
        (CallocDoesNotZero, "dirty memory", 2),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else None,
)
def test_machine_catches_broken_glue(shim, symptom, max_steps):
    class Broken(GlueMachine):
        make_backend = shim  # a fresh shim per example

    with pytest.raises(AssertionError, match=symptom):
        run_state_machine_as_test(
            Broken,
            settings=settings(
                max_examples=300,
                stateful_step_count=30,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
                print_blob=False,
            ),
        )
    # The last run is Hypothesis replaying its shrunk counterexample: it must be minimal-ish.
    assert 1 <= Broken.last_run_steps <= max_steps, (
        f"shrunk to {Broken.last_run_steps} steps"
    )
    print(f"{shim.__name__}: caught, shrunk to {Broken.last_run_steps} steps")

"""stresskit.strategies: generated scenarios are valid and runnable; the glue state machine
passes on the real allocator and finds, then shrinks, a bug planted in a wrapper."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import run_state_machine_as_test

import stresskit
from stresskit.strategies import GlueMachine, scenarios

pytestmark = pytest.mark.tier3


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(max_threads=3, max_ops=5_000))
def test_every_generated_scenario_is_valid(scenario: dict[str, Any]) -> None:
    checked = stresskit.validate(scenario)
    assert sum(r.threads for r in checked.scenario.model.roles.values()) <= 3 + 3
    assert checked.plan.replicas[0].ops <= 5_000


def test_a_generated_scenario_runs_and_passes() -> None:
    scenario = find(scenarios(max_threads=2, max_ops=3_000), lambda s: "B" in s["roles"])  # the SMR shape, shrunk
    report = stresskit.run(scenario)
    assert report.passed, report.failed


def test_the_machine_holds_on_the_real_glue() -> None:
    run_state_machine_as_test(GlueMachine, settings=settings(max_examples=30, stateful_step_count=20, deadline=None))


class ForgetfulBlock:
    """A planted bug: the wrapper's free() skips blocks above 1000 bytes."""

    def __init__(self, block: Any) -> None:
        self.block = block

    def write(self, data: bytes) -> None:
        self.block.write(data)

    def read(self, n: int) -> bytes:
        return self.block.read(n)

    def free(self) -> None:
        if self.block.usable_size <= 1000:
            self.block.free()


class ForgetfulWrapper:
    def alloc(self, size: int) -> ForgetfulBlock:
        from stresskit import Allocator

        return ForgetfulBlock(Allocator().alloc(size))


def _smallest_size_freed_wrongly() -> int:
    from stresskit import Allocator

    for size in range(1, 4097):
        block = Allocator().alloc(size)
        usable = block.usable_size
        block.free()
        if usable > 1000:
            return size
    raise AssertionError("no size up to 4096 has a usable size above 1000")


class ForgetfulMachine(GlueMachine):
    def make_allocator(self) -> Any:
        return ForgetfulWrapper()


def test_the_machine_finds_and_shrinks_a_planted_wrapper_bug() -> None:
    with pytest.raises(AssertionError, match="the glue counts 1 live block") as failure:
        run_state_machine_as_test(ForgetfulMachine, settings=settings(max_examples=200, stateful_step_count=10, deadline=None, print_blob=False,
                                                                     derandomize=True, database=None))
    notes = getattr(failure.value, "__notes__", [])  # where Hypothesis reports the shrunk steps
    steps = [line.strip() for note in notes for line in note.splitlines() if "state." in line and "(" in line and "teardown" not in line and "statistics_count" not in line]
    # shrunk to the two steps that matter: one large allocation, and its free
    assert len(steps) == 2 and steps[0].startswith("blocks_0 = state.alloc(") and steps[1].startswith("state.free("), steps
    size = int(steps[0].split("size=")[1].split(",")[0].rstrip(")"))
    assert size == _smallest_size_freed_wrongly(), steps  # shrunk to the edge of the bug

"""The goldens' normalisation of what the host decides: `stresskit run`'s machine line reads the
same whether the probe ran fast, slow, changed mid-run or gave up, so a golden cannot flake on it."""

from __future__ import annotations

import pytest

import normalise

pytestmark = pytest.mark.tier1


@pytest.mark.parametrize("line", [
    "cross-core hand-off round trip: 79 ns before (CPUs 0, 1); 129 ns after (CPUs 0, 1)",
    "cross-core hand-off round trip: 70 ns before (CPUs 0, 1); 402 ns after (CPUs 0, 1); CHANGED during the run: "
    "the rates of roles that hand blocks between threads straddle two machines, compare this run's rates with care",
    "cross-core hand-off round trip: not measured before: gave up after 250 ms: the two CPUs were busy with other work; "
    "88 ns after (CPUs 0, 2, SMT siblings of one core)",
])
def test_the_machine_line_is_one_placeholder(line: str) -> None:
    got = normalise.text(f"threshold pass: x\n{line}\nreport: r.json\n")
    assert got == "threshold pass: x\ncross-core hand-off round trip: <MACHINE>\nreport: r.json\n"

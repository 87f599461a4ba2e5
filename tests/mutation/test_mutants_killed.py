"""The mutation tier: every planted glue bug (mutants.py) must be killed by the shipped scenarios,
run exactly as shipped, in every one of several passes (no luck), and by the unit tests.

Builds each variant once (cached, see build.py); `STRESSKIT_MUTATION_PASSES` (default 3) sets the
passes. docs/mutation-matrix.md has the full matrix (tools/mutation_matrix.py)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from mutation.build import ROOT, Workspace, apply
from mutation.killers import first_kill, run_scenario, run_unit_tests
from mutation.mutants import MUTANTS

pytestmark = [pytest.mark.mutation, pytest.mark.slow, pytest.mark.native_only]

# The unit-test file that kills each mutant first (from docs/mutation-matrix.md); the whole
# directories are in the matrix, these keep CI's share of the tier short.
UNIT_KILLERS: dict[str, str] = {}


@pytest.fixture(scope="session")
def libraries(tmp_path_factory, cache_lock) -> dict[str, Path]:
    ws = Workspace(tmp_path_factory.mktemp("mutants") / "ws")
    with cache_lock("mutants") as root:
        return {m.name: ws.library(m, root / "mutants") for m in MUTANTS}


@pytest.mark.tier1
@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_every_mutant_still_applies_to_the_glue(mutant, tmp_path):
    """A refactor of the glue that moves a mutant's text must fail here, loudly, not turn the
    mutant into a silent no-op."""
    src = tmp_path / "src"
    shutil.copytree(ROOT / "native" / "src", src)
    apply(mutant, src)
    assert any((src / f).read_text() != (ROOT / "native" / "src" / f).read_text() for f, _, _ in mutant.edits)


@pytest.mark.tier4
@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_shipped_scenarios_kill_the_mutant_in_every_pass(mutant, libraries):
    passes = int(os.environ.get("STRESSKIT_MUTATION_PASSES", "3"))
    for attempt in range(1, passes + 1):
        outcome = first_kill(libraries[mutant.name])
        assert outcome is not None, f"pass {attempt}/{passes}: {mutant.name} ({mutant.description}) survived every shipped scenario"


@pytest.mark.tier4
@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_unit_tests_kill_the_mutant(mutant, libraries):
    target = UNIT_KILLERS.get(mutant.name, "tests/glue")
    outcome = run_unit_tests(libraries[mutant.name], target)
    assert outcome.killed, f"{mutant.name} survived {target}: {outcome.tail}"


@pytest.mark.tier4
def test_a_scenario_without_thresholds_fails_against_a_leaking_glue(libraries, tmp_path):
    """Issue 8's acceptance: no [thresholds] at all and a glue that leaks on its fast path (odd
    replicas run it): the built-in checks fail the run, exit 1."""
    scenario = tmp_path / "bare.toml"
    scenario.write_text('[load]\nops = 200_000\nreplicas = 2\n\n[roles.a]\naction = "alloc_free"\nthreads = 2\n')
    assert run_scenario(libraries["leak_fast_path"], scenario).returncode == 1
    assert run_scenario(libraries["leak_slow_path"], scenario).returncode == 1

"""`stresskit shrink` (stresskit/diagnostics/shrink.py, shrink_steps.py): a planted glue bug is
reduced to a strictly smaller scenario that still fails; bad input is one line, exit 2."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from .cli_helpers import one_line, stresskit
from stresskit.diagnostics.shrink_steps import Measure, candidates, measure
from stresskit.scenario import load

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# Three roles in two groups, six threads, two replicas, mixed sizes: much more than the bug needs.
SCENARIO = """\
[load]
ops = 64_000
replicas = 2
stats = true

[roles.p]
action = "produce"
threads = 2
sizes = [16, 64, 256]

[roles.c]
action = "consume"
threads = 2

[roles.a]
action = "alloc_free"
threads = 2
sizes = [32, 128]

[[flows]]
from = "p"
to = "c"
capacity = 1024
"""


@pytest.mark.tier4
def test_a_mutant_leak_shrinks_to_a_strictly_smaller_scenario_that_still_fails(tmp_path: Path, mutant_library: Path) -> None:
    source = tmp_path / "busy.toml"
    source.write_text(SCENARIO)
    env = {"STRESSKIT_NATIVE_LIB": str(mutant_library)}
    proc = stresskit("shrink", str(source), "--until", "leak.mimalloc_blocks > 0", "--runs", "2", "-o", "small.toml",
                     cwd=tmp_path, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    before, after = measure(load(source).model), measure(load(tmp_path / "small.toml").model)
    assert after.smaller_than(before)
    assert after.roles < before.roles and after.threads < before.threads and after.ops < before.ops
    assert after.replicas == 1
    header = (tmp_path / "small.toml").read_text().splitlines()[:3]
    assert header[2].startswith("# leak.mimalloc_blocks > 0: held in ") and "/2 runs of this scenario" in header[2]
    assert "wrote small.toml: leak.mimalloc_blocks > 0 held in " in proc.stdout
    # still fails, as an ordinary run, with the built-in check the bug breaks
    run = stresskit("run", "small.toml", "-q", cwd=tmp_path, env=env)
    assert run.returncode == 1 and "check no_glue_leak FAIL" in run.stdout, run.stdout + run.stderr
    # and the same scenario passes on the real glue: the shrunk file is about the bug
    assert stresskit("run", "small.toml", "-q", cwd=tmp_path).returncode == 0


@pytest.mark.tier4
def test_a_scenario_that_never_fails_is_exit_1_and_writes_nothing(tmp_path: Path) -> None:
    source = tmp_path / "fine.toml"
    source.write_text('[load]\nops = 2000\n\n[roles.a]\naction = "alloc_free"\n')
    proc = stresskit("shrink", str(source), "--until", "canary.failures > 0", "--runs", "2", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "never held in 2 run(s)" in proc.stdout and not (tmp_path / "fine.shrunk.toml").exists()


@pytest.mark.tier4
def test_nothing_smaller_is_exit_5_and_writes_nothing(tmp_path: Path) -> None:
    """Already minimal in every dimension (one role, one thread, one op, 1-byte blocks, batch 1):
    the failure holds, yet no candidate is smaller."""
    source = tmp_path / "tiny.toml"
    source.write_text('[load]\nops = 1\n\n[roles.a]\naction = "alloc_free"\nsizes = 1\nbatch = 1\n')
    proc = stresskit("shrink", str(source), "--until", "ops.total > 0", "--runs", "1", cwd=tmp_path)
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert "nothing smaller was found" in proc.stdout and not (tmp_path / "tiny.shrunk.toml").exists()


@pytest.mark.tier5
@pytest.mark.parametrize(("until", "expected"), [
    ("canary.failures >", "stresskit: --until: expected a threshold expression"),
    ("canary.failurs > 0", "stresskit: --until: expected a known metric name (see docs/metrics.md), e.g. canary.failures (got canary.failurs)"),
    ("roles.zz.ops > 0", "stresskit: --until: expected a known metric name"),
    ("__import__('os')", "stresskit: --until: expected a comparison"),
])
def test_a_bad_until_is_one_line_before_any_run(tmp_path: Path, until: str, expected: str) -> None:
    source = tmp_path / "s.toml"
    source.write_text('[roles.a]\naction = "alloc_free"\n')
    proc = stresskit("shrink", str(source), "--until", until, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert one_line(proc).startswith(expected)


@pytest.mark.tier5
def test_the_output_may_not_be_the_scenario(tmp_path: Path) -> None:
    source = tmp_path / "s.toml"
    source.write_text('[roles.a]\naction = "alloc_free"\n')
    proc = stresskit("shrink", str(source), "--until", "ops.total > 0", "-o", str(source), cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert one_line(proc) == f"stresskit: -o {source}: expected a path other than {source}, which this command reads"
    assert source.read_text() == '[roles.a]\naction = "alloc_free"\n'


@pytest.mark.tier1
def test_smaller_means_no_dimension_larger_and_one_strictly_smaller() -> None:
    base = Measure(3, 6, 1000, 0, 0, 2, 5, 384, 192, 1024, 0, 0)
    assert Measure(2, 6, 1000, 0, 0, 2, 5, 384, 192, 1024, 0, 0).smaller_than(base)
    assert not base.smaller_than(base)
    assert not Measure(2, 7, 500, 0, 0, 1, 1, 1, 1, 1, 0, 0).smaller_than(base)  # one dimension grew


@pytest.mark.tier1
@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[2] / "scenarios").glob("*.toml")), ids=lambda p: p.stem)
def test_every_valid_candidate_of_a_shipped_scenario_is_smaller(path: Path, tmp_path: Path) -> None:
    """Candidates are only proposals; those the validator accepts must be strictly smaller
    (shrink also checks), and most must be accepted or the search has nothing to try."""
    from stresskit.scenario import ScenarioError
    from stresskit.scenario.loading import scenario_from_document
    from stresskit.scenario.validation import check

    checked = load(path)
    doc = checked.model.model_dump(mode="json", by_alias=True, exclude_unset=True)
    size = measure(checked.model)
    valid = 0
    for what, cand in candidates(doc):
        try:
            model = check(str(path), scenario_from_document(str(path), cand), checked.name).model
        except ScenarioError:
            continue
        valid += 1
        assert measure(model).smaller_than(size), what
        assert tomllib.loads(__import__("tomli_w").dumps(cand)) == cand  # writable as TOML as it is
    assert valid >= 3


@pytest.mark.tier1
def test_the_steps_table_merges_runs_of_one_knob() -> None:
    from stresskit.diagnostics.shrink import Step, merged

    m = Measure(*[1] * 12)
    steps = [Step("replicas 2 -> 1", m, 1, True), Step("ops 64,000 -> 32,000", m, 2, True), Step("ops 32,000 -> 16,000", m, 3, True),
             Step("ops 16,000 -> 8,000", m, 6, False), Step("p: batch 4 -> 2", m, 7, True), Step("p: batch 2 -> 1", m, 8, True),
             Step("c: batch 2 -> 1", m, 9, True), Step("drop roles a", m, 10, True)]
    assert [what for what, _ in merged(steps)] == [
        "replicas 2 -> 1", "ops 64,000 -> 16,000 (2 steps)", "p: batch 4 -> 1 (2 steps)", "c: batch 2 -> 1", "drop roles a"]


@pytest.mark.tier4
def test_max_time_ends_the_search_and_says_so(tmp_path: Path) -> None:
    """A planted deterministic leak (the engine's hook, not a mutant) holds on any candidate; a
    1 ms budget is spent by the first run, so no candidate is tried: exit 5, and the line says
    why nothing smaller was found."""
    source = tmp_path / "busy.toml"
    source.write_text(SCENARIO)
    proc = stresskit("shrink", str(source), "--until", "leak.mimalloc_blocks > 0", "--runs", "1", "--max-time", "1ms",
                     cwd=tmp_path, env={"STRESSKIT_TEST_ENGINE_HOOKS": "testing_leak_blocks=1"})
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert "nothing smaller was found before --max-time (0.001 s) that still meets leak.mimalloc_blocks > 0" in proc.stdout
    assert "kept" not in proc.stdout and not (tmp_path / "busy.shrunk.toml").exists()

"""Every class of invalid scenario gets one line `FILE: key.path: expected (got X)`, exit 2,
no traceback; a file with several independent problems gets one line for each, and every file of
the command line is reported; valid ones (the shipped scenarios) pass."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from stresskit.cli import main
from stresskit.scenario import ScenarioError, load

from scenario_helpers import SHIPPED

pytestmark = pytest.mark.tier1

BASE = """
[roles.A]
action = "produce"
[roles.B]
action = "consume"
[[flows]]
from = "A"
to = "B"
"""


def validate(path: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def one_error(path: Path) -> str:
    code, out, err = validate(path)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err + out
    assert lines[0].startswith(f"{path}: ")
    return lines[0]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenarios_are_valid(path: Path) -> None:
    code, out, err = validate(path)
    assert code == 0, err
    assert f"{path}: ok" in out


# (class, TOML text, substrings the one line must hold)
CASES = [
    ("toml_syntax", 'name = "unterminated\n[roles.A]\naction = "produce"\n', ["line 1, column", "valid TOML"]),
    ("toml_duplicate_key", BASE + "[roles.A]\naction = 'consume'\n", ["line", "valid TOML"]),
    ("unknown_key", BASE + "[load]\nopz = 5\n", ["load.opz: unknown key", "ops, duration"]),
    ("unknown_top_level", BASE + "[tresholds]\nchecks = []\n", ["tresholds: unknown key", "thresholds"]),
    ("wrong_type", BASE + '[load]\nops = "many"\n', ['load.ops: an integer (got "many")']),
    ("bool_as_number", BASE.replace('action = "produce"', 'action = "produce"\nthreads = true'), ["roles.A.threads", "(got true)"]),
    ("zero_size", '[roles.A]\naction = "alloc_free"\nsizes = 0\n', ["roles.A.sizes: a number greater than 0 (got 0)"]),
    ("negative_size", '[roles.A]\naction = "alloc_free"\nsizes = { dist = "uniform", min = -5, max = 10 }\n', ["roles.A.sizes.min", "greater than 0", "(got -5)"]),
    ("bad_size_unit", '[roles.A]\naction = "alloc_free"\nsizes = "12 parsecs"\n', ["roles.A.sizes", "byte size", '(got "12 parsecs")']),
    ("alignment_not_power_of_two", '[roles.A]\naction = "alloc_free"\nalloc = "aligned"\nalignment = 48\n', ["roles.A.alignment: a power of two >= 8 (got 48)"]),
    ("alignment_missing", '[roles.A]\naction = "alloc_free"\nalloc = "aligned"\n', ["roles.A.alignment", "alloc = 'aligned'"]),
    ("flow_to_undefined_role", BASE + '[[flows]]\nfrom = "A"\nto = "Z"\n', ["flows[1].to: a role defined under [roles] (A, B)", '(got "Z")']),
    ("flow_from_undefined_role", BASE + '[[flows]]\nfrom = "Q"\nto = "B"\n', ["flows[1].from", '(got "Q")']),
    ("cycle_without_freeing_role",
     '[roles.A]\naction = "retire"\n[roles.B]\naction = "retire"\n[[flows]]\nfrom = "A"\nto = "B"\n[[flows]]\nfrom = "B"\nto = "A"\n',
     ["flows[1]", "A -> B -> A", "never freed"]),
    ("queue_without_consumer", '[roles.A]\naction = "produce"\n', ["roles.A.action", "no consumer"]),
    ("consumer_without_input", '[roles.A]\naction = "consume"\n', ["roles.A.action", "a flow into role A"]),
    ("flow_from_non_handing_role", '[roles.A]\naction = "alloc_free"\n[roles.B]\naction = "consume"\n[[flows]]\nfrom = "A"\nto = "B"\n', ["flows[0].from", "alloc_free"]),
    ("flow_into_allocating_role", '[roles.A]\naction = "produce"\n[roles.B]\naction = "alloc_free"\n[[flows]]\nfrom = "A"\nto = "B"\n', ["flows[0].to", "alloc_free"]),
    ("queue_capacity_not_power_of_two", BASE.replace('to = "B"', 'to = "B"\ncapacity = 1000'), ["flows[0].capacity: a power of two (try 1024) (got 1000)"]),
    ("threads_per_role_cap", '[roles.A]\naction = "alloc_free"\nthreads = 100000\n', ["roles.A.threads: a number less than or equal to 256 (got 100000)"]),
    ("threads_total_cap", "".join(f'[roles.R{i}]\naction = "alloc_free"\nthreads = 200\n' for i in range(6)), ["roles: at most 1024 threads over all roles (got 1200)"]),
    ("threshold_unparseable", BASE + '[thresholds]\nchecks = ["bytes.leaked =="]\n', ["thresholds.checks[0]", "could not parse"]),
    ("threshold_not_a_comparison", BASE + '[thresholds]\nchecks = ["__import__(\'os\')"]\n', ["thresholds.checks[0]", "a comparison"]),
    ("threshold_unknown_metric", BASE + '[thresholds]\nchecks = ["bytes.leakd == 0"]\n', ["thresholds.checks[0]", "known metric", "bytes.leaked", "(got bytes.leakd)"]),
    ("threshold_unknown_role", BASE + '[thresholds]\nchecks = ["roles.Z.ops > 0"]\n', ["thresholds.checks[0]", "(got roles.Z.ops)"]),
    ("threshold_bad_unit", BASE + '[thresholds]\nchecks = ["bytes.leaked < 5parsecs"]\n', ["thresholds.checks[0]", "known unit"]),
    ("key_on_wrong_action", '[roles.A]\naction = "alloc_free"\ngrace = "1ms"\n', ["roles.A.grace", "reclaim", "action 'alloc_free'"]),
    ("bad_action", '[roles.A]\naction = "allocate"\n', ["roles.A.action: one of 'alloc_free'", '(got "allocate")']),
    ("bad_role_name", '[roles."a-b"]\naction = "alloc_free"\n', ["roles.a-b:", "letters, digits", '(got "a-b")']),
    ("oom_mixed_with_other_roles", '[roles.A]\naction = "oom"\nmemory_limit = "64MiB"\n[roles.B]\naction = "alloc_free"\n', ["roles.B.action", "oom"]),
    ("no_roles", 'name = "x"\n', ["roles: this key, which is required"]),
    ("nan_duration", BASE + "[load]\nduration = nan\n", ["load.duration", "finite"]),
    ("not_utf8", None, ["line 1: UTF-8 text (got byte 0xff)"]),
]


@pytest.mark.parametrize(("kind", "text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_invalid_scenario_gets_one_line(tmp_path: Path, kind: str, text: str | None, expected: list[str]) -> None:
    path = tmp_path / f"{kind}.toml"
    if text is None:
        path.write_bytes(b"\xff\xfe[roles]\n")
    else:
        path.write_text(text)
    line = one_error(path)
    for fragment in expected:
        assert fragment in line, line
    with pytest.raises(ScenarioError) as info:
        load(path)
    assert info.value.line() == line


def test_missing_file_and_directory(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "nope.toml"), str(tmp_path)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2
    assert "no such file" in lines[0] and "stresskit list" in lines[0]
    assert "not a directory" in lines[1]


def test_run_with_invalid_scenario_exits_2_without_running(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[roles.A]\naction = "alloc_free"\nsizes = -1\n')
    result = CliRunner().invoke(main, ["run", str(path)])
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and "roles.A.sizes" in result.stderr


# Three problems the model finds (types and bounds, each at its own key) ...
THREE_TYPED = BASE.replace('action = "produce"', 'action = "produce"\nthreads = 0') + '[load]\nopz = 5\nops = "many"\n'
TYPED_LINES = ["load.ops: an integer (got \"many\")", "load.opz: unknown key", "roles.A.threads: a number greater than or equal to 1 (got 0)"]
# ... and three only the cross-key checks find, in three different groups of checks.
THREE_CROSS = (
    BASE.replace('action = "produce"', 'action = "produce"\nalloc = "aligned"\nalignment = 48').replace('to = "B"', 'to = "B"\ncapacity = 1000')
    + '[thresholds]\nchecks = ["bytes.leakd == 0"]\n'
)
CROSS_LINES = ["roles.A.alignment: a power of two >= 8 (got 48)", "flows[0].capacity: a power of two (try 1024) (got 1000)",
               "thresholds.checks[0]: a known metric name (see docs/metrics.md), e.g. bytes.leaked (got bytes.leakd)"]


@pytest.mark.parametrize(("text", "expected"), [(THREE_TYPED, TYPED_LINES), (THREE_CROSS, CROSS_LINES)], ids=["typed", "cross_key"])
def test_every_problem_of_a_file_gets_its_own_line(write_scenario, text: str, expected: list[str]) -> None:
    path = write_scenario(text)
    code, out, err = validate(path)
    assert code == 2 and "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 3, err
    for fragment in expected:
        assert [line for line in lines if line.startswith(f"{path}: {fragment}")], (fragment, err)
    with pytest.raises(ScenarioError) as info:
        load(path)
    assert info.value.lines() == lines


def test_run_refuses_with_every_problem_listed(write_scenario) -> None:
    path = write_scenario(THREE_CROSS)
    result = CliRunner().invoke(main, ["run", str(path)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith(f"{path}: ") for line in lines), result.stderr
    assert result.stdout == ""  # nothing ran


def test_every_file_of_the_command_line_is_reported(tmp_path: Path) -> None:
    good = [tmp_path / "a.toml", tmp_path / "c.toml"]
    for path in good:
        path.write_text(BASE)
    bad = tmp_path / "bad.toml"
    bad.write_text(THREE_CROSS)
    worse = tmp_path / "worse.toml"
    worse.write_text(THREE_TYPED)
    result = CliRunner().invoke(main, ["validate", str(good[0]), str(bad), str(good[1]), str(worse)])
    assert result.exit_code == 2
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == [str(p) for p in good]
    errors = result.stderr.strip().splitlines()
    assert [line.split(": ")[0] for line in errors] == [str(bad)] * 3 + [str(worse)] * 3, result.stderr


def test_a_problem_that_hides_others_is_reported_alone(write_scenario) -> None:
    # Flow to a misspelt role: "B takes no flow in" and "A sends nowhere" are the same typo.
    path = write_scenario(BASE.replace('to = "B"', 'to = "b"'))
    line = one_error(path)
    assert 'flows[0].to: a role defined under [roles] (A, B) (got "b")' in line
    # A key on the wrong action is to be removed: its value is not also judged.
    path = write_scenario('[roles.A]\naction = "consume"\nalloc = "aligned"\nalignment = 3\n[roles.P]\naction = "produce"\n'
                          '[[flows]]\nfrom = "P"\nto = "A"\n', name="misplaced.toml")
    code, _, err = validate(path)
    assert code == 2
    assert [line.split(": ")[1] for line in err.strip().splitlines()] == ["roles.A.alignment", "roles.A.alloc"], err


def test_a_value_no_member_of_a_union_accepts_is_one_line(write_scenario) -> None:
    line = one_error(write_scenario(BASE + "[load]\nstats = 5\n"))
    assert line.endswith("load.stats: true or false, or 'alternate' (got 5)"), line


def test_a_file_with_very_many_problems_is_cut_short(write_scenario) -> None:
    roles = "".join(f'[roles.R{i}]\naction = "alloc_free"\nthreads = 0\n' for i in range(150))
    code, _, err = validate(write_scenario(roles))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 101, len(lines)
    assert lines[-1].endswith("50 more problem(s) not shown; fix the ones above first")


def test_usage_errors_exit_2() -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["run"]).exit_code == 2
    assert runner.invoke(main, ["run", "smr", "--workers", "0"]).exit_code == 2
    assert runner.invoke(main, ["run", "smr", "--duration", "soon"]).exit_code == 2
    assert runner.invoke(main, ["frobnicate"]).exit_code == 2


def test_shorthands_and_units_resolve(write_scenario) -> None:
    path = write_scenario(
        '[load]\nduration = "250ms"\nseed = 1\n[roles.A]\naction = "alloc_free"\nsizes = [16, "1KiB"]\n'
        '[roles.B]\naction = "alloc_free"\nsizes = "4KiB"\nalloc = "aligned"\nalignment = 64\n'
    )
    s = load(path)
    assert s.model.load.duration == pytest.approx(0.25)
    assert s.model.roles["A"].sizes.values == [16, 1024]
    assert s.model.roles["B"].sizes.size == 4096
    assert s.name == "s"

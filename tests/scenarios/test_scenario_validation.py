"""Every class of invalid scenario gets one line `FILE: key.path: expected (got X)`, exit 2,
no traceback; valid ones (the shipped scenarios) pass."""

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
    ("flow_into_allocating_role", '[roles.A]\naction = "alloc_free"\n[roles.B]\naction = "alloc_free"\n[[flows]]\nfrom = "A"\nto = "B"\n', ["flows[0].from", "alloc_free"]),
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

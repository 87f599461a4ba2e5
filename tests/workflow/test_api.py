"""stresskit.load/validate/run: every kind of scenario argument, errors carrying the CLI's lines,
and the Report being the document the CLI writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import stresskit
from stresskit.cli import main
from stresskit.report.model import Report, read_reports
from stresskit.scenario import Scenario

pytestmark = pytest.mark.tier2

REPO = Path(__file__).resolve().parents[2]
SMR = REPO / "scenarios" / "smr.toml"


def test_load_accepts_a_path_a_name_a_dict_and_a_model() -> None:
    from stresskit.scenario.loading import read_toml

    by_path = stresskit.load(SMR)
    by_name = stresskit.load("smr")
    raw = read_toml(SMR)
    by_dict = stresskit.load(raw)
    by_model = stresskit.load(Scenario.model_validate(raw))
    assert by_path.name == by_name.name == by_dict.name == by_model.name == "smr"
    assert by_path.model == by_dict.model == by_model.model
    assert stresskit.load(by_path) is by_path


def test_errors_carry_the_lines_the_cli_prints(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "b"\n[roles.w]\naction = "juggle"\nthreads = 0\n')
    with pytest.raises(stresskit.ScenarioInvalid) as err:
        stresskit.load(bad)
    cli = CliRunner().invoke(main, ["validate", str(bad)])
    assert cli.exit_code == err.value.exit_code == 2
    assert cli.stderr.strip().splitlines() == err.value.lines and len(err.value.lines) >= 2
    assert str(err.value) == "\n".join(err.value.lines)


def test_validate_refuses_what_the_cli_refuses() -> None:
    with pytest.raises(stresskit.ScenarioInvalid) as err:
        stresskit.validate("smr", max_memory=1024)
    cli = CliRunner().invoke(main, ["validate", "smr", "--max-memory", "1KiB"])
    assert cli.exit_code == 2 and cli.stderr.strip().splitlines() == err.value.lines
    with pytest.raises(stresskit.ScenarioInvalid, match="duration"):
        stresskit.validate("smr", duration="soon")
    ok = stresskit.validate("smr", ops=1000)
    assert ok.plan.replicas[0].ops == 1000 and ok.memory.startswith("worst-case memory per worker")


def test_run_returns_the_report_it_writes(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    # no throughput threshold: this machine is shared, the test is about the API
    scenario = {"name": "two", "load": {"ops": 3000, "replicas": 2}, "roles": {"w": {"action": "alloc_free", "threads": 2, "sizes": 64}}}
    report = stresskit.run(scenario, seed=5, json_path=path)
    assert isinstance(report, Report) and report.passed and report.exit_code == 0 and report.seed == 5
    assert json.loads(path.read_text()) == report.data
    assert [r.model_dump() for r in read_reports(path)] == [report.model_dump()]
    assert len(report.replicas) == 2 and all(r.status == "ok" and r.stop_reason == "completed" for r in report.replicas)
    assert report.metrics["ops.total"] == report.data["metrics"]["ops.total"] > 0
    assert {t.name for t in report.thresholds if t.builtin} >= {"no_leak", "no_corruption"}
    assert report.failed == [] and report.diagnostics == {}


def test_a_failing_threshold_is_a_fail_report_not_an_exception() -> None:
    scenario = {"name": "strict", "load": {"ops": 2000, "replicas": 1},
                "roles": {"w": {"action": "alloc_free", "threads": 1, "sizes": 64}},
                "thresholds": {"checks": ["throughput.ops_per_s > 1e15"]}}
    report = stresskit.run(scenario)
    assert report.status == "fail" and report.exit_code == 1
    assert [t.expression for t in report.failed] == ["throughput.ops_per_s > 1e15"]

"""CI output of `stresskit run`: --junit, the heartbeat of a non-terminal stdout, and the
report's environment (machine, OS, Python, library, git commit, command line)."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from stresskit.cli import main
from stresskit.diagnostics.why import why_lines
from stresskit.report.console import threshold_line

pytestmark = pytest.mark.tier2

REPO = Path(__file__).resolve().parents[2]
ONE_TO_ONE = REPO / "tests" / "golden" / "scenarios" / "one_to_one.toml"
HOOKS = "STRESSKIT_TEST_ENGINE_HOOKS"


def test_junit_has_a_case_per_check_and_threshold_and_the_diagnosis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HOOKS, "testing_leak_blocks=2")  # a planted leak: the leak checks fail
    report, junit = tmp_path / "r.json", tmp_path / "junit.xml"
    result = CliRunner().invoke(main, ["run", str(ONE_TO_ONE), "--json", str(report), "--junit", str(junit), "-q"])
    assert result.exit_code == 1, result.output + result.stderr
    doc = json.loads(report.read_text())
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("name") == "stresskit.one_to_one"
    cases = suite.findall("testcase")
    assert len(cases) == len(doc["thresholds"]) == int(suite.get("tests", "0"))
    failed = [t for t in doc["thresholds"] if not t["ok"]]
    assert failed and int(suite.get("failures", "0")) == len(failed)
    messages = [f.get("message") for c in cases if (f := c.find("failure")) is not None]
    assert messages == [threshold_line(t) for t in failed]
    text = next(c.find("failure").text for c in cases if c.find("failure") is not None)
    assert text == "\n".join(why_lines(doc, str(report))) and "no_glue_leak" in text
    names = {c.get("name") for c in cases if c.get("classname", "").endswith(".checks")}
    assert {"no_leak", "no_glue_leak"} <= names


def test_junit_path_is_checked_before_the_run(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")  # a regular file where a directory should be
    result = CliRunner().invoke(main, ["run", "smr", "--junit", str(tmp_path / "file" / "j.xml"), "--ops", "1000"])
    assert result.exit_code == 2 and "--junit" in result.stderr and "replica 0" not in result.output, result.output + result.stderr


def test_heartbeat_lines_when_stdout_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRESSKIT_HEARTBEAT_S", "0.3")
    out = CliRunner().invoke(main, ["run", "smr", "--duration", "1.5s"]).output
    beats = [line for line in out.splitlines() if line.startswith("stresskit: smr: ") and "replicas finished" in line]
    assert len(beats) >= 2, out
    assert any(" ops" in b and "replica 0" in b for b in beats), beats
    quiet = CliRunner().invoke(main, ["run", "smr", "--duration", "1s", "-q"]).output
    assert "replicas finished" not in quiet
    monkeypatch.setenv("STRESSKIT_HEARTBEAT_S", "0")
    assert "replicas finished" not in CliRunner().invoke(main, ["run", "smr", "--duration", "1s"]).output


def test_environment_in_the_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stresskit.report import environment

    monkeypatch.chdir(REPO)
    environment.current.cache_clear()
    report = tmp_path / "r.json"
    assert CliRunner().invoke(main, ["run", "smr", "--ops", "2000", "--json", str(report), "-q"]).exit_code == 0
    env = json.loads(report.read_text())["environment"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    assert env["git_commit"] == (head or None)
    assert Path(env["native"]["path"]).is_file() and env["native"]["mimalloc_version"].startswith("3.")
    assert len(env["native"]["sha256"]) == 64 and env["machine"]["cores"] >= 1 and env["stresskit"]
    for probe in (env["machine"]["handoff_before"], env["machine"]["handoff_after"]):  # before and after the run
        assert {"round_trip_ns", "cpus"} <= probe.keys() or "error" in probe, probe
    assert "tool" not in json.loads(report.read_text())  # one record: the library, Python and version live here
    assert env["python"]["version"] and env["os"]["system"] and isinstance(env["command_line"], list)
    assert environment.git_commit(str(tmp_path)) is None  # not a repository
    environment.current.cache_clear()

"""The pytest plugin as a user meets it: a fresh pytest (subprocess, its own rootdir) with the
installed entry point, scenario files and a test file using the fixtures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.tier2

SCENARIO = """name = "{name}"
[load]
ops = 2_000
replicas = 1
[roles.w]
action = "alloc_free"
threads = 1
sizes = 64
[thresholds]
checks = ["{check}"]
"""

FIXTURES = '''
from stresskit import Allocator


def test_run_fixture(stresskit_run):
    report = stresskit_run({"name": "inline", "load": {"ops": 1000, "replicas": 1},
                            "roles": {"w": {"action": "alloc_free", "threads": 1, "sizes": 64}}})
    assert report.passed


def test_freed_everything(stresskit_no_leaks):
    Allocator().alloc(64).free()
    assert stresskit_no_leaks.take().alloc_count == 1


KEEP = []


def test_forgets_a_block(stresskit_no_leaks):
    KEEP.append(Allocator().alloc(100))
'''


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("project")
    (root / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    scen = root / "scenarios"
    scen.mkdir()
    (scen / "fine.toml").write_text(SCENARIO.format(name="fine", check="bytes.leaked == 0"))
    (scen / "impossible.toml").write_text(SCENARIO.format(name="impossible", check="throughput.ops_per_s > 1e15"))
    (scen / "broken.toml").write_text('name = "broken"\n[roles.w]\naction = "juggle"\n')
    (scen / "pyproject.toml").write_text('[project]\nname = "x"\n')  # not a scenario: never collected
    (root / "test_fixtures.py").write_text(FIXTURES)
    return root


def _pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", *args], cwd=project, capture_output=True, text=True, timeout=300)


def test_scenarios_are_tests_only_when_asked(project: Path) -> None:
    off = _pytest(project, "scenarios")
    assert off.returncode == 5, off.stdout  # pytest's "no tests collected"
    on = _pytest(project, "--stresskit", "scenarios")
    assert on.returncode == 1, on.stdout + on.stderr
    out = on.stdout
    assert "PASSED scenarios/fine.toml::fine" in out
    assert "FAILED scenarios/impossible.toml::impossible" in out and "FAILED scenarios/broken.toml::broken" in out
    assert "threshold FAIL: throughput.ops_per_s > 1e15" in out  # the failing threshold, not a traceback
    assert "roles.w.action" in out and "juggle" in out  # the validate line of the invalid file
    assert "scenarios/pyproject.toml" not in out and "2 failed, 1 passed" in out
    selected = _pytest(project, "--stresskit", "scenarios", "-k", "fine")
    assert selected.returncode == 0 and "1 passed" in selected.stdout, selected.stdout


def test_fixtures(project: Path) -> None:
    done = _pytest(project, "test_fixtures.py")
    out = done.stdout
    assert "PASSED test_fixtures.py::test_run_fixture" in out and "PASSED test_fixtures.py::test_freed_everything" in out, out + done.stderr
    assert "test_forgets_a_block" in out and "1 block(s)" in out and "still allocated at teardown" in out, out
    assert done.returncode == 1

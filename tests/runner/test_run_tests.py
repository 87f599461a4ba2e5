"""tests/run_tests.py (the tier runner) and the rule it relies on: one tier marker per test."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.tier1


def _runner():
    spec = importlib.util.spec_from_file_location("run_tests", ROOT / "tests" / "run_tests.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_tests"] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def test_runner_runs_one_tier_and_reports_it(capsys):
    run_tests = _runner()
    # one known test of the tier: the runner is under test here, not the whole tier
    code = run_tests.main(["--tier", "3", "--", "-q", "tests/engine/test_invariants.py", "-k", "reasons_are_the_engine"])
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("3 "))
    assert code == 0, out[-2000:]
    assert row.split()[1] == "current" and int(row.split()[2]) == 1 and row.endswith("ok")


def test_runner_reports_a_failing_tier(capsys):
    run_tests = _runner()
    # -k with no match inside the tier: pytest exits 5, which the table must not show as "ok"
    code = run_tests.main(["--tier", "3", "--", "-q", "-k", "no_such_test_name_anywhere"])
    out = capsys.readouterr().out
    assert code == run_tests.EXIT_FAILED
    assert "no tests in this tier" in out


def test_runner_rejects_bad_arguments():
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "run_tests.py"), "--tier", "9"], capture_output=True, text=True)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr and "Traceback" not in proc.stderr


def test_both_means_the_oldest_and_newest_found():
    run_tests = _runner()
    found = [v for v in run_tests.SUPPORTED if run_tests.find_interpreter(v) is not None]
    if not found:
        pytest.skip("no CPython 3.10-3.13 on PATH or under pyenv on this machine")
    assert run_tests.resolve_versions("both") == sorted({found[0], found[-1]}, key=run_tests.SUPPORTED.index)


@pytest.mark.parametrize("markers, ok", [("", False), ("@pytest.mark.tier1\n@pytest.mark.tier4\n", False), ("@pytest.mark.tier2\n", True)])
def test_every_test_needs_exactly_one_tier(tmp_path, markers, ok):
    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_sample.py").write_text(f"import pytest\n\n{markers}def test_sample():\n    pass\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-c", "/dev/null",
                           "--rootdir", str(tmp_path), str(tmp_path)], capture_output=True, text=True, cwd=tmp_path)
    if ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    else:
        assert proc.returncode != 0 and "exactly one of the markers" in proc.stdout + proc.stderr

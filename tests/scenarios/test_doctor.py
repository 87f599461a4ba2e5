"""`stresskit doctor` tells "cannot run" (exit 3) from "cannot profile" (exit 4), and a machine that
can do both exits 0 (tests/scenarios/test_scenario_runs.py checks that case on this machine)."""

from __future__ import annotations

import importlib.machinery
import sys
import types
from pathlib import Path

import pytest
from click.testing import CliRunner

import stresskit as stresskit_package
from stresskit.cli import main

from scenario_helpers import stresskit

pytestmark = pytest.mark.tier5

NO_LIB = {"STRESSKIT_NATIVE_LIB": "/nonexistent/libstresskit_native.so"}


def _verdict(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("verdict:"))


def test_py_spy_missing_is_cannot_profile_exit_4(tmp_path: Path) -> None:
    result = stresskit("doctor", env={"STRESSKIT_PY_SPY": str(tmp_path / "missing")})
    assert result.returncode == 4, result.stdout + result.stderr
    assert "py-spy:" in result.stdout and "<- cannot profile" in result.stdout
    assert "<- cannot run" not in result.stdout
    assert _verdict(result.stdout).endswith("can run scenarios, cannot profile them (py-spy): exit 4")


def test_py_spy_that_cannot_attach_is_cannot_profile_exit_4(tmp_path: Path) -> None:
    # A py-spy that fails the way it does without ptrace rights.
    fake = tmp_path / "py-spy"
    fake.write_text('#!/bin/sh\nif [ "$1" = --version ]; then echo "py-spy 0.0-fake"; exit 0; fi\n'
                    "echo 'Error: Permission Denied: Try running again with elevated permissions' >&2\nexit 1\n")
    fake.chmod(0o755)
    result = stresskit("doctor", env={"STRESSKIT_PY_SPY": str(fake)})
    assert result.returncode == 4, result.stdout + result.stderr
    assert "py-spy attach:         no: Error: Permission Denied" in result.stdout
    assert _verdict(result.stdout).endswith("cannot profile them (py-spy attach): exit 4")


def test_cannot_run_wins_over_cannot_profile_exit_3(tmp_path: Path) -> None:
    result = stresskit("doctor", env={**NO_LIB, "STRESSKIT_PY_SPY": str(tmp_path / "missing")})
    assert result.returncode == 3, result.stdout + result.stderr
    assert "native library:" in result.stdout and "<- cannot run" in result.stdout
    assert _verdict(result.stdout).endswith("cannot run scenarios (native library): exit 3")
    assert "Traceback" not in result.stdout + result.stderr


def test_engine_missing_is_cannot_run_exit_3(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = types.ModuleType("stresskit.engine")
    broken.__file__ = "/nowhere/engine.py"
    broken.__spec__ = importlib.machinery.ModuleSpec("stresskit.engine", None)
    monkeypatch.setitem(sys.modules, "stresskit.engine", broken)
    # `import stresskit.engine` may answer from the package's attribute (an earlier import) before
    # looking at sys.modules, depending on the Python version: replace both.
    monkeypatch.setattr(stresskit_package, "engine", broken, raising=False)
    result = CliRunner().invoke(main, ["doctor", "--no-attach"])
    assert result.exit_code == 3, result.output
    assert "run_replica MISSING   <- cannot run" in result.stdout
    assert _verdict(result.stdout).endswith("cannot run scenarios (engine): exit 3")


def test_help_documents_the_exit_codes() -> None:
    result = CliRunner().invoke(main, ["doctor", "--help"])
    text = " ".join(result.output.split())
    assert "Exit 3: it cannot run scenarios" in text and "Exit 4: it can run but cannot profile" in text

"""Run the shipped scenarios (exactly as shipped) and the unit tests against a mutant library."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
# Tried in this order, cheapest and broadest first: the kill test stops at the first kill.
SCENARIO_ORDER = ("mixed_sizes", "parallel_alloc", "smr", "cross_thread_free", "cross_thread_stress", "oom")
UNIT_TEST_DIRS = ("tests/glue", "tests/engine", "tests/scenarios")


@dataclass(frozen=True)
class Outcome:
    target: str
    returncode: int
    tail: str

    @property
    def killed(self) -> bool:
        return self.returncode != 0


def _env(library: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["STRESSKIT_NATIVE_LIB"] = str(library)
    return env


def _run(cmd: list[str], library: Path, target: str, timeout: float) -> Outcome:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env(library), cwd=ROOT,
                              stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        return Outcome(target, -999, "timed out")
    return Outcome(target, proc.returncode, (proc.stdout + proc.stderr)[-800:])


def run_scenario(library: Path, scenario: str | Path, timeout: float = 300) -> Outcome:
    """A shipped scenario by name, or any scenario file by path."""
    path = scenario if isinstance(scenario, Path) else SCENARIOS / f"{scenario}.toml"
    cmd = [sys.executable, "-c", "from stresskit.cli import main; main()", "run", str(path), "-q"]
    return _run(cmd, library, path.stem, timeout)


def first_kill(library: Path, order: tuple[str, ...] = SCENARIO_ORDER) -> Outcome | None:
    for name in order:
        outcome = run_scenario(library, name)
        if outcome.killed:
            return outcome
    return None


def run_unit_tests(library: Path, target: str, timeout: float = 900) -> Outcome:
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
           "-m", "not mutation", target]
    return _run(cmd, library, target, timeout)

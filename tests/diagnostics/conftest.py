"""Fixtures of the diagnostics tests: the real CLI run as the scenario tests run it (stalls,
crashes), and the mutant library (replay, shrink)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _load(name: str, path: Path) -> None:
    """Import `path` as `name`, without putting its directory on sys.path (tests/scenarios'
    conftest would then shadow the other directories' `from conftest import ...`)."""
    if name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sys.modules[name])


_load("scenario_helpers", REPO / "tests" / "scenarios" / "scenario_helpers.py")
_load("plant_deadlock", REPO / "tools" / "plant_deadlock.py")  # the plan docs/diagnostics.md runs


# A producer handing blocks to two consumers through a small queue: enough work that a planted
# failure always strikes mid-run.
PIPE = """
name = "pipe"
[load]
ops = {ops}
seed = 3
deadline = "{deadline}"
{stall}
[roles.producer]
action = "produce"
[roles.consumer]
action = "consume"
threads = 2
[[flows]]
from = "producer"
to = "consumer"
capacity = {capacity}
"""


@pytest.fixture
def pipe_scenario(tmp_path: Path) -> Callable[..., Path]:
    def write(deadline: str = "60s", stall_timeout: str | None = None, ops: int = 50_000_000, capacity: int = 64) -> Path:
        path = tmp_path / "pipe.toml"
        stall = f'stall_timeout = "{stall_timeout}"' if stall_timeout else ""
        path.write_text(PIPE.format(ops=ops, deadline=deadline, stall=stall, capacity=capacity))
        return path

    return write


@pytest.fixture(scope="session")
def mutant_library(tmp_path_factory, cache_lock) -> Path:
    """The mutation tier's `leak_slow_path` glue (cc_free skips every 4096th free of a thread,
    statistics on), built once and cached like the mutation tier's (tests/mutation/build.py)."""
    from mutation.build import BuildError, Workspace
    from mutation.mutants import MUTANTS

    mutant = next(m for m in MUTANTS if m.name == "leak_slow_path")
    with cache_lock("mutants") as root:
        try:
            return Workspace(tmp_path_factory.mktemp("mutants") / "ws").library(mutant, root / "mutants")
        except BuildError as exc:  # no cmake: the other diagnostics tests still run
            pytest.skip(f"cannot build the leak_slow_path mutant: {exc}")

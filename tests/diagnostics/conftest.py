"""Fixtures for the diagnosis tests (tier 4): the real CLI, run as the scenario tests run it."""

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

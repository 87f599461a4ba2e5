"""Fixtures for the diagnosis tests (tier 4): the real CLI, run as the scenario tests run it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

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

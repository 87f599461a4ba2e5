"""Fixtures for the diagnosis tests (tier 4): the real CLI, run as the scenario tests run it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

# tests/scenarios/scenario_helpers.py under its own name, without putting tests/scenarios on
# sys.path (its conftest would then shadow the others' `from conftest import ...`).
if "scenario_helpers" not in sys.modules:
    _spec = importlib.util.spec_from_file_location(
        "scenario_helpers", Path(__file__).resolve().parents[1] / "scenarios" / "scenario_helpers.py")
    assert _spec is not None and _spec.loader is not None
    sys.modules["scenario_helpers"] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules["scenario_helpers"])

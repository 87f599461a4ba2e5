"""Scenario files: the typed model, loading (TOML), cross-key validation, schema export.

    load(path) -> CheckedScenario   (raises ScenarioError: ``lines()``, one per problem of the file)
"""

from __future__ import annotations

from pathlib import Path

from stresskit.scenario.errors import ScenarioError
from stresskit.scenario.loading import load_scenario
from stresskit.scenario.model import Scenario
from stresskit.scenario.validation import CheckedScenario, check

__all__ = ["CheckedScenario", "Scenario", "ScenarioError", "load"]


def load(path: Path | str) -> CheckedScenario:
    path = Path(path)
    model, _raw = load_scenario(path)
    return check(str(path), model, default_name=path.stem)

"""Fixtures for the diagnosis tests (tier 4): the real CLI, as the scenario tests run it."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scenarios"))  # scenario_helpers

"""Helpers for the scenario-layer tests: run the real `stresskit` CLI as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "scenarios"
SHIPPED = sorted(SCENARIOS.glob("*.toml"))


def stresskit(*args: str, env: dict[str, str] | None = None, timeout: float = 120, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m stresskit.cli` (the console script's target) in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", "from stresskit.cli import main; main()", *args],
        capture_output=True, text=True, timeout=timeout, env=full_env, cwd=cwd or REPO, stdin=subprocess.DEVNULL,
    )


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())

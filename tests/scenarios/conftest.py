"""Fixtures for the scenario-layer tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def write_scenario(tmp_path: Path):
    def write(text: str, name: str = "s.toml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write

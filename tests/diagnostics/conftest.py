"""Fixtures of the diagnostics tests (replay, shrink)."""

from __future__ import annotations

from pathlib import Path

import pytest


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

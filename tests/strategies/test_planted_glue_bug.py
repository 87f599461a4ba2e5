"""docs/workflow.md's "planted glue bug" example, run exactly as written: Hypothesis generates
scenarios with stresskit.strategies.scenarios(), runs them in-process (stresskit.run(...,
isolate=False)) against the mutation tier's `short_block` glue, finds a failing one and shrinks it
to one thread of 100-byte blocks. The same block against the real glue finds nothing, so the
example cannot pass vacuously.

Each run is a fresh interpreter whose STRESSKIT_NATIVE_LIB names the library: the native library
is loaded once per process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.tier4, pytest.mark.native_only]

DOC = Path(__file__).resolve().parents[2] / "docs" / "workflow.md"
BLOCK = re.compile(r"```python planted-bug\n(.*?)```", re.S)
BUDGET_S = 30.0  # the brief for the example: under ~30 s on a loaded 2-core machine


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    blocks = BLOCK.findall(DOC.read_text())
    assert len(blocks) == 1, "docs/workflow.md must hold exactly one ```python planted-bug block"
    path = tmp_path_factory.mktemp("planted") / "planted_bug.py"
    path.write_text(blocks[0])
    return path


@pytest.fixture(scope="module")
def short_block(tmp_path_factory: pytest.TempPathFactory, cache_lock) -> Path:  # noqa: ANN001 - conftest fixture
    from mutation.build import BuildError, Workspace
    from mutation.mutants import BY_NAME

    with cache_lock("mutants") as root:
        try:
            return Workspace(tmp_path_factory.mktemp("mutants") / "ws").library(BY_NAME["short_block"], root / "mutants")
        except BuildError as exc:
            pytest.skip(f"cannot build the short_block mutant: {exc}")


def _run(example: Path, library: Path | None) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {k: v for k, v in os.environ.items() if k != "STRESSKIT_NATIVE_LIB"}
    if library is not None:
        env["STRESSKIT_NATIVE_LIB"] = str(library)
    began = time.monotonic()
    done = subprocess.run([sys.executable, str(example)], cwd=example.parent, env=env, capture_output=True, text=True, timeout=300)
    return done, time.monotonic() - began


def test_hypothesis_finds_and_shrinks_the_planted_glue_bug(example: Path, short_block: Path) -> None:
    done, took = _run(example, short_block)
    assert done.returncode == 0, done.stdout + done.stderr  # the block's own asserts: the shrunk shape
    assert "'sizes': 100" in done.stdout and "'threads': 1" in done.stdout, done.stdout
    assert took < BUDGET_S, f"the example took {took:.1f} s"


def test_the_same_search_finds_nothing_on_the_real_glue(example: Path) -> None:
    done, took = _run(example, None)
    assert done.returncode != 0 and "NoSuchExample" in done.stderr, done.stdout + done.stderr
    assert took < BUDGET_S, f"the search over the real glue took {took:.1f} s"

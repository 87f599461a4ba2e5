"""Tier 5: a real report, damaged the ways tests/faults/corrupt.py damages every input (truncated,
zeroed, bits flipped, values of the wrong type, keys missing), through `stresskit replay`: exit
0, 1 or 2 — a damage that leaves a replayable report reruns it — never a traceback, never a hang,
and a refusal is one line naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from .cli_helpers import stresskit
from faults.corrupt import byte_damage, json_damage
from stresskit.engine import HOOKS_ENV

pytestmark = pytest.mark.tier5

# Small, and a short deadline: a damage that still replays ends within seconds whatever it changed.
SCENARIO = """\
[load]
ops = 4_000
seed = 5
deadline = "10s"

[roles.p]
action = "produce"

[roles.c]
action = "consume"

[[flows]]
from = "p"
to = "c"
capacity = 64
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> bytes:
    where = tmp_path_factory.mktemp("report")
    (where / "s.toml").write_text(SCENARIO)
    proc = stresskit("run", "s.toml", "--json", "r.json", "-q", cwd=where, env={HOOKS_ENV: "testing_corrupt_blocks=1"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    return (where / "r.json").read_bytes()




@pytest.mark.parametrize("seed", range(2))
def test_a_damaged_report_never_gives_a_traceback(tmp_path: Path, report: bytes, seed: int) -> None:
    variants = byte_damage(report, seed=seed, flips=6) + json_damage(report, seed=seed, count=8)
    for name, data in variants:
        path = tmp_path / f"{seed}.json"
        path.write_bytes(data)
        proc = stresskit("replay", str(path), "--runs", "1", cwd=tmp_path, timeout=60)
        assert proc.returncode in (0, 1, 2), (name, proc.returncode, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stdout + proc.stderr, (name, proc.stderr)
        if proc.returncode == 2:
            lines = proc.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith(f"stresskit: {path}: "), (name, proc.stderr)

"""Tier 5: every file stresskit reads, damaged (tests/faults/corrupt.py), gives exit 0 or 2 —
never a traceback, never a hang — and a refusal is one line naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from stresskit.cli import main

from corrupt import byte_damage, json_damage

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.tier5, pytest.mark.faults]

BENCH_JSON = REPO / "docs" / "performance-run.json"


def _variants(source: Path) -> list[tuple[str, bytes]]:
    data = source.read_bytes()
    return byte_damage(data) + json_damage(data)


def _check(args: list[str], path: Path, allowed: tuple[int, ...] = (0, 2)) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in allowed, (result.exit_code, result.output, result.stderr)
    assert "Traceback" not in result.output + result.stderr
    if result.exit_code == 2:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and str(path) in lines[0], result.stderr


@pytest.mark.parametrize(("name", "data"), _variants(BENCH_JSON), ids=lambda v: v if isinstance(v, str) else "")
def test_damaged_bench_baseline(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / "bench.json"
    path.write_bytes(data)
    _check(["bench", "--input", str(path)], path)

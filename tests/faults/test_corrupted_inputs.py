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


def _check(args: list[str], path: Path, allowed: tuple[int, ...] = (0, 2), one_line: bool = True) -> None:
    """``one_line``: a refusal is one line; else (validate lists every problem) every line names
    the file."""
    result = CliRunner().invoke(main, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in allowed, (result.exit_code, result.output, result.stderr)
    assert "Traceback" not in result.output + result.stderr
    if result.exit_code == 2:
        lines = result.stderr.strip().splitlines()
        assert lines and (len(lines) == 1 or not one_line), result.stderr
        assert all(line.startswith(f"{path}: ") or str(path) in line for line in lines), result.stderr


@pytest.mark.parametrize(("name", "data"), _variants(BENCH_JSON), ids=lambda v: v if isinstance(v, str) else "")
def test_damaged_bench_baseline(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / "bench.json"
    path.write_bytes(data)
    _check(["bench", "--input", str(path)], path)


SHIPPED = sorted((REPO / "scenarios").glob("*.toml"))


@pytest.mark.parametrize("source", SHIPPED, ids=lambda p: p.stem)
def test_damaged_scenario_files(tmp_path: Path, source: Path) -> None:
    """Truncated, zeroed and bit-flipped copies of every shipped scenario (the Hypothesis test in
    tests/scenarios/test_scenario_mutations.py edits keys and values; this is damage)."""
    for name, data in byte_damage(source.read_bytes(), seed=len(source.name)):
        path = tmp_path / f"{name}.toml"
        path.write_bytes(data)
        _check(["validate", str(path)], path, one_line=False)


@pytest.fixture(scope="module")
def run_report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.json"
    result = CliRunner().invoke(main, ["run", str(REPO / "scenarios" / "cross_thread_free.toml"), "--ops", "20000", "--json", str(out), "-q"])
    assert result.exit_code == 0 and out.exists(), result.output + result.stderr
    return out


def test_damaged_run_reports_given_to_compare(tmp_path: Path, run_report: Path) -> None:
    """compare reads two reports: a damaged one on either side is refused in one line naming it
    (exit 2), or compared (exit 0, or 1 when the damage reads as a regression)."""
    for name, data in _variants(run_report):
        path = tmp_path / f"{abs(hash(name))}.json"
        path.write_bytes(data)
        _check(["compare", str(run_report), str(path)], path, allowed=(0, 1, 2))
        _check(["compare", str(path), str(run_report)], path, allowed=(0, 1, 2))

"""bench shares the CLI's error handling (issue 9.6): usage errors exit 2 before measuring; a
failed write after measuring prints the table and exits 3, never 1, never a traceback."""

from __future__ import annotations

import os
import resource
from pathlib import Path

import pytest

from conftest import fill, stresskit, temp_files

pytestmark = [pytest.mark.tier5, pytest.mark.faults]

TINY = ["bench", "--quick", "--scale", "0.001", "--threads", "1,2", "--repeats", "1"]


@pytest.mark.parametrize("kind", ["plot-bogus", "seed-negative", "json-directory", "json-empty", "json-file-as-parent",
                                  "plot-fifo", "markdown-is-input", "json-is-compare-baseline"])
def test_usage_errors_exit_2_before_measuring(tmp_path: Path, kind: str) -> None:
    baseline = tmp_path / "base.json"
    baseline.write_text('{"results": []}')
    (tmp_path / "afile").write_text("x")
    os.mkfifo(tmp_path / "pipe.svg")
    args = {
        "plot-bogus": ["--plot", str(tmp_path / "x.bogus")],
        "seed-negative": ["--seed", "-1"],
        "json-directory": ["--json", str(tmp_path)],
        "json-empty": ["--json", ""],
        "json-file-as-parent": ["--json", str(tmp_path / "afile" / "b.json")],
        "plot-fifo": ["--plot", str(tmp_path / "pipe.svg")],
        "markdown-is-input": ["--input", str(baseline), "--markdown", str(baseline)],
        "json-is-compare-baseline": ["--compare", str(baseline), "--json", str(baseline)],
    }[kind]
    run = stresskit(*TINY, *args)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "Traceback" not in run.stderr and "measured in" not in run.stdout
    assert baseline.read_text() == '{"results": []}'


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "deep-json", "oversize"])
def test_hostile_bench_inputs_exit_2(tmp_path: Path, kind: str) -> None:
    if kind == "dev-zero":
        path = Path("/dev/zero")
    elif kind == "fifo":
        path = tmp_path / "pipe.json"
        os.mkfifo(path)
    elif kind == "deep-json":
        path = tmp_path / "deep.json"
        path.write_text("[" * 200_000 + "]" * 200_000)
    else:
        path = tmp_path / "big.json"
        with open(path, "wb") as fh:
            fh.truncate(32 << 30)
    for option in ("--input", "--compare"):
        run = stresskit(*TINY, option, str(path), limits={resource.RLIMIT_AS: 1 << 30}, timeout=30)
        assert run.returncode == 2, run.stderr
        assert len(run.lines()) == 1 and str(path) in run.stderr and "Traceback" not in run.stderr
        assert run.elapsed < 10


def test_write_failure_after_measuring_prints_the_table_and_exits_3(tmp_path: Path, tmpfs) -> None:
    disk = tmpfs(64 << 10)
    fill(disk, 2 << 10)
    run = stresskit(*TINY, "--json", str(disk / "b.json"))
    assert run.returncode == 3, run.stdout + run.stderr
    assert "measured in" in run.stdout and "throughput" in run.stdout, "the measurement is lost"
    assert len(run.lines()) == 1 and str(disk / "b.json") in run.stderr and "No space left on device" in run.stderr
    assert temp_files(disk) == [] and "Traceback" not in run.stderr


def test_write_failure_variant_file_size_limit(tmp_path: Path) -> None:
    run = stresskit(*TINY, "--json", str(tmp_path / "b.json"), limits={resource.RLIMIT_FSIZE: 2000})
    assert run.returncode == 3, run.stdout + run.stderr
    assert "measured in" in run.stdout and "File too large" in run.stderr
    assert temp_files(tmp_path) == []

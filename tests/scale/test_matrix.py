"""Matrices (stresskit/matrix): a 2x2 sweep of a shipped scenario end to end, and bad matrices
refused with one line before anything runs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from stresskit.cli import main
from stresskit.report.model import MatrixReport, read_reports

THREADS, SIZES = "roles.worker.threads", "roles.worker.sizes"
# parallel_alloc holds "concurrency.max_threads_inside >= 2": its threads=1 cells must fail, a
# real failure planted by the sweep itself (and the matrix's exit code must say so).
SWEEP = ["--matrix", f"{THREADS}=1,2", "--matrix", f"{SIZES}=64,4KiB", "--matrix", "load.replicas=1"]


@pytest.fixture(scope="module")
def matrix_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("matrix")
    report, plot = out / "m.json", out / "m.svg"
    result = CliRunner().invoke(main, ["run", "parallel_alloc", "--ops", "20000", *SWEEP, "--json", str(report), "--plot", str(plot),
                                       "--junit", str(out / "m.xml")])
    return result, json.loads(report.read_text()), plot


@pytest.mark.tier4
def test_every_cell_runs_with_its_values_and_a_failing_cell_fails_the_matrix(matrix_run: tuple[Any, dict[str, Any], Path]) -> None:
    result, doc, _ = matrix_run
    assert result.exit_code == 1, result.output + result.stderr
    assert doc["matrix"] == {"keys": [THREADS, SIZES, "load.replicas"], "cells": 4}
    cells = doc["reports"]
    assert [c["cell"]["params"][THREADS] for c in cells] == [1, 1, 2, 2]
    assert [c["cell"]["params"][SIZES] for c in cells] == [64, "4KiB", 64, "4KiB"]
    for cell in cells:
        threads = cell["cell"]["params"][THREADS]
        assert cell["plan"]["roles"][0]["threads"] == threads and cell["plan"]["replicas"] == 1
        sizes = cell["scenario"]["definition"]["roles"]["worker"]["sizes"]
        assert sizes == {"dist": "fixed", "size": 64 if cell["cell"]["params"][SIZES] == 64 else 4096}
        failing = [t["expression"] for t in cell["thresholds"] if not t["ok"]]
        # the throughput threshold depends on the shared machine's load; the concurrency one does not
        assert ("concurrency.max_threads_inside >= 2" in failing) == (threads == 1), failing
        assert cell["status"] == "fail" if threads == 1 else set(failing) <= {"throughput.ops_per_s > 1M"}
    assert len({c["seed"] for c in cells}) == 1  # cells differ in what they sweep, not in their seeds
    assert doc["status"] == "fail"


@pytest.mark.tier4
def test_console_table_has_a_row_per_cell(matrix_run: tuple[Any, dict[str, Any], Path]) -> None:
    result, doc, _ = matrix_run
    lines = result.output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("cell ") and "verdict" in line)
    assert all(col in lines[header] for col in ("verdict", "ops/s", "alloc.p99", "failing checks"))
    rows = [line.split() for line in lines[header + 1: header + 5]]
    assert [r[0] for r in rows] == ["0", "1", "2", "3"]
    assert [r[4] for r in rows] == [c["status"].upper() for c in doc["reports"]] and rows[0][4] == rows[1][4] == "FAIL"
    assert "concurrency.max_threads_inside" in lines[header + 1]
    assert [line.endswith("-") for line in lines[header + 1: header + 5]] == [c["status"] == "pass" for c in doc["reports"]]
    passed = sum(c["status"] == "pass" for c in doc["reports"])
    assert f"matrix of 4 cells: FAIL ({passed}/4 cells passed)" in result.output


@pytest.mark.tier4
def test_plot_junit_and_typed_reading(matrix_run: tuple[Any, dict[str, Any], Path], tmp_path: Path) -> None:
    _, doc, plot = matrix_run
    svg = plot.read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert svg.count('id="line2d_') >= 4  # two lines (one per size) on each of the two axes
    typed = MatrixReport.from_dict(doc)
    assert typed.exit_code == 1 and [c.cell.params[THREADS] for c in typed.cells] == [1, 1, 2, 2]
    report = tmp_path / "m.json"
    report.write_text(json.dumps(doc))
    assert [r.cell.index for r in read_reports(report)] == [0, 1, 2, 3]
    suites = ET.parse(plot.with_suffix(".xml")).getroot().findall("testsuite")
    assert [s.get("name") for s in suites] == [f'stresskit.parallel_alloc [{THREADS}={t} {SIZES}={z} load.replicas=1]'
                                               for t in (1, 2) for z in (64, "4KiB")]
    refused = CliRunner().invoke(main, ["compare", str(report), str(report)])
    assert refused.exit_code == 2 and refused.stderr.count("\n") == 1 and "matrix" in refused.stderr


def _refused(args: list[str], tmp_path: Path) -> str:
    report = tmp_path / "r.json"
    result = CliRunner().invoke(main, ["run", *args, "--json", str(report)])
    assert result.exit_code == 2, result.output + result.stderr
    assert not report.exists()  # refused before anything ran
    assert "Traceback" not in result.stderr
    return result.stderr.strip()


@pytest.mark.tier1
@pytest.mark.parametrize(("args", "expected"), [
    (["--matrix", "roles.nope.threads=1,2"], "parallel_alloc.toml: --matrix roles.nope.threads: a key of roles: one of worker"),
    (["--matrix", "load.opz=1"], "--matrix load.opz: a scenario key: load has ops,"),
    (["--matrix", "roles.worker.threads"], "--matrix: KEY=V1,V2,..."),
    (["--matrix", "roles.worker.threads=2,,4"], "--matrix: roles.worker.threads: comma-separated values, none empty"),
    (["--matrix", "roles.worker.threads=2,0"], "matrix cell 1 (roles.worker.threads=0): roles.worker.threads: a number greater than or equal to 1 (got 0)"),
    (["--matrix", "roles.worker.sizes=64,12XB"], 'matrix cell 1 (roles.worker.sizes="12XB"): roles.worker.sizes: a byte size'),
    (["--matrix", "roles.worker.threads=1,2", "--repeat", "2"], "cannot soak a matrix"),
    (["--plot", "p.svg"], "--plot: expected a matrix to plot"),
    (["--matrix", "roles.worker.threads=1,2", "--profile"], "--profile: not with a matrix"),
    (["--matrix", "roles.worker.threads=1,2", "--baseline", "b.json"], "--baseline: cannot gate a matrix"),
    (["--matrix", "roles.worker.threads=1,2", "--plot", "p.pdf"], "--plot p.pdf: expected a file name ending in .svg or .png"),
])
def test_bad_matrix_is_one_line_before_anything_runs(args: list[str], expected: str, tmp_path: Path) -> None:
    line = _refused(["parallel_alloc", *args], tmp_path)
    assert "\n" not in line and expected in line, line


@pytest.mark.tier1
def test_plot_without_matplotlib_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    line = _refused(["parallel_alloc", "--matrix", "roles.worker.threads=1,2", "--plot", str(tmp_path / "p.png")], tmp_path)
    assert line == "stresskit: --plot: matplotlib is not installed (pip install 'stresskit[plot]')"


@pytest.mark.tier1
def test_matrix_table_in_a_file_is_validated_like_every_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[roles.A]\naction = "alloc_free"\n[matrix]\nroles.A.threads = [1, 300]\nload.seed = 5\n')
    result = CliRunner().invoke(main, ["validate", str(bad)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"{bad}: matrix.load.seed: a non-empty array of the values to sweep (got 5)"]
    bad.write_text('[roles.A]\naction = "alloc_free"\n[matrix]\nroles.A.threads = [1, 300]\n')
    result = CliRunner().invoke(main, ["validate", str(bad)])
    assert result.stderr.splitlines() == [f"{bad}: matrix cell 1 (roles.A.threads=300): roles.A.threads: a number less than or equal to 256 (got 300)"]


@pytest.mark.tier4
def test_the_matrix_report_holds_every_finished_cell_through_a_kill_9(tmp_path: Path) -> None:
    report = tmp_path / "m.json"
    proc = subprocess.Popen([sys.executable, "-c", "from stresskit.cli import main; main()", "run", "parallel_alloc", "--ops", "20000",
                             "--matrix", "roles.worker.threads=2,3,4,5,6,7,8", "--matrix", "load.replicas=1", "--json", str(report), "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)

    def finished_cells() -> list[dict[str, Any]]:
        try:
            return [r for r in json.loads(report.read_text())["reports"] if r["complete"]]
        except (OSError, ValueError, KeyError):
            return []

    try:
        end = time.monotonic() + 120
        while len(finished_cells()) < 2:
            assert proc.poll() is None and time.monotonic() < end, proc.communicate()
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    doc = json.loads(report.read_text())
    assert doc["matrix"] == {"keys": ["roles.worker.threads", "load.replicas"], "cells": 7}
    done = [r for r in doc["reports"] if r["complete"]]
    assert 2 <= len(done) < 7 and [r["cell"]["params"]["roles.worker.threads"] for r in done] == list(range(2, 2 + len(done)))
    assert all(r["workers"] and r["status"] in ("pass", "fail") for r in done)


@pytest.mark.tier1
def test_every_cell_is_planned_before_anything_runs_and_the_largest_decides(tmp_path: Path) -> None:
    scenario = tmp_path / "grow.toml"
    scenario.write_text('[roles.A]\naction = "alloc_free"\n[matrix]\nroles.A.batch = [64, 65536]\nroles.A.sizes = [64, "1MiB"]\n')
    checked = CliRunner().invoke(main, ["validate", str(scenario), "--max-memory", "1GiB"])
    assert checked.exit_code == 2 and len(checked.stderr.splitlines()) == 1
    assert checked.stderr.startswith(f"{scenario}: worst-case memory per worker 128.4 GiB is above --max-memory 1.0 GiB")
    assert checked.stderr.rstrip().endswith('[matrix cell 3 (roles.A.batch=65536 roles.A.sizes="1MiB")]')
    line = _refused([str(scenario), "--max-memory", "1GiB"], tmp_path)
    assert line.endswith('[matrix cell 3 (roles.A.batch=65536 roles.A.sizes="1MiB")]') and "\n" not in line
    scenario.write_text('[roles.A]\naction = "alloc_free"\n[matrix]\nroles.A.batch = [64, 128]\n')
    fits = CliRunner().invoke(main, ["validate", str(scenario)])
    assert fits.exit_code == 0 and "matrix of 2 cells" in fits.output and "in its largest cell, 1 (roles.A.batch=128)" in fits.output

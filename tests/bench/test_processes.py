"""Latency rows over several processes (stresskit.bench.processes), with fake processes: the
split of repeats, the pooled medians, the per-process medians and their JSON, and --input's
check of a malformed multi-process run."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner

from stresskit.bench import processes, stats
from stresskit.bench.command import bench
from stresskit.bench.harness import IMPLS, Impl, Op, Sample, Spec
from stresskit.bench.runner import Config, Measured, measure, plan


def _sample(ns: float) -> Sample:
    return Sample(ops=1000, elapsed_ns=1, ns_per_op=ns, ops_per_s=1e9 / ns, failures=0, max_inside=1)


class _BimodalProcesses:
    """Each fake process is one draw of the mode: cc costs `modes[i]` x mimalloc (2 ns) in the
    i-th process, every sample of a process alike (as observed: within a process they agree)."""

    def __init__(self, modes: Sequence[float]) -> None:
        self.modes = list(modes)
        self.configs: list[Config] = []

    def __call__(self, cfg: Config, impls: Sequence[Impl]) -> list[Measured]:
        mode = self.modes[len(self.configs)]
        self.configs.append(cfg)

        def run(spec: Spec) -> Sample:
            return _sample(2.0 * mode if spec.impl is Impl.CC else 2.0)

        return measure(cfg, impls, runner=run)[0]


@pytest.fixture(scope="module")
def bimodal():
    fake = _BimodalProcesses([1.0, 1.4, 1.0])
    cfg = Config.make(quick=True, repeats=7, ops=[Op.ALLOC, Op.FREE], scale=0.01, processes=3)
    measured, _ = processes.measure_all(cfg, measure_one=fake)
    return cfg, fake, measured, stats.rows_from(measured)


@pytest.mark.tier1
def test_repeats_are_split_over_fresh_processes_of_latency_rows_only(bimodal):
    cfg, fake, measured, _ = bimodal
    assert len(fake.configs) == 3
    assert {(c.repeats, c.processes, c.ops) for c in fake.configs} == {(3, 1, (Op.ALLOC, Op.FREE))}
    assert [m.key for m in measured] == plan(cfg)


@pytest.mark.tier1
def test_row_median_pools_all_processes_and_keeps_each_median(bimodal):
    _, _, _, rows = bimodal
    cc = stats.find(rows, "alloc", "cc", size=8)[0]
    # 3 samples per process: 1.0x, 1.4x, 1.0x -> 9 samples, median 2.0 ns; each mode kept.
    assert cc["repeats"] == 9
    assert cc["process_medians"] == [2.0, 2.8, 2.0]
    assert cc["ratio_to_mimalloc"] == 1.0
    assert stats.find(rows, "alloc", "mimalloc", size=8)[0]["process_medians"] == [2.0, 2.0, 2.0]


@pytest.mark.tier1
def test_one_process_rows_have_no_process_medians():
    cfg = Config.make(quick=True, repeats=2, ops=[Op.ALLOC], scale=0.01, processes=1)
    measured, _ = measure(cfg, runner=lambda s: _sample(2.0))
    assert all("process_medians" not in r for r in stats.rows_from(measured))


@pytest.mark.tier1
def test_processes_that_measured_different_rows_are_refused():
    cfg = Config.make(quick=True, repeats=1, ops=[Op.ALLOC], scale=0.01)
    a = measure(cfg, runner=lambda s: _sample(2.0))[0]
    with pytest.raises(ValueError, match="different rows"):
        processes.merge([a, list(reversed(a))])


@pytest.mark.tier1
@pytest.mark.parametrize(("repeats", "n", "each"), [(11, 3, 4), (7, 2, 4), (2, 3, 1), (1, 1, 1)])
def test_share(repeats, n, each):
    assert processes.share(repeats, n) == each


def _run_json(tmp_path: Path, process_medians: str) -> Path:
    path = tmp_path / "run.json"
    path.write_text('{"results": [{"op": "alloc", "impl": "cc", "threads": 1, "size": 64, "alignment": null,'
                    ' "ratio_to_mimalloc": 1.0, "median": 2.0, "min": 2.0, "max": 2.0, "unit": "ns/op",'
                    f' "process_medians": {process_medians}}}]}}')
    return path


@pytest.mark.tier2
@pytest.mark.parametrize("value", ['"2.0"', "[]", '["fast"]', "2.0"])
def test_malformed_process_medians_given_to_input_exit_2_in_one_line(tmp_path, value):
    path = _run_json(tmp_path, value)
    result = CliRunner().invoke(bench, ["--input", str(path)])
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1
    assert result.output.startswith(f"stresskit bench: bad input: {path}: results[0]")
    assert "process_medians" in result.output


@pytest.mark.tier2
def test_well_formed_process_medians_are_read_back(tmp_path):
    result = CliRunner().invoke(bench, ["--input", str(_run_json(tmp_path, "[2.0, 2.5]"))])
    assert result.exit_code == 0, result.output


@pytest.mark.tier1
@pytest.mark.skipif(Path("/proc/sys/kernel/randomize_va_space").exists()
                    and Path("/proc/sys/kernel/randomize_va_space").read_text().strip() == "0",
                    reason="ASLR is off on this machine: every process gets the same layout")
def test_each_process_is_a_fresh_interpreter_with_its_own_layout():
    """The point of the split is a new draw of the layout; a forked child would inherit ours.
    id(None) is an address inside the (position-independent) interpreter image."""
    assert processes.in_fresh_process(id, None) != id(None)

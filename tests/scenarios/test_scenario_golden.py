"""Golden checks: the scenario schema file is current, docs cover every metric, the examples in
docs/scenarios.md are valid, and the JSON report's key set is the documented contract."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import jsonschema
import pytest

from stresskit.metrics import METRICS
from stresskit.report.json_report import REPORT_KEYS, SCHEMA_VERSION
from stresskit.scenario import load
from stresskit.scenario.loading import read_toml
from stresskit.scenario.schema import schema_text

from scenario_helpers import REPO, SHIPPED

pytestmark = pytest.mark.tier2

DOCS = REPO / "docs"


def test_schema_file_is_up_to_date() -> None:
    on_disk = (DOCS / "scenario.schema.json").read_text()
    assert on_disk == schema_text(), "regenerate: python -m stresskit.scenario.schema > docs/scenario.schema.json"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenarios_match_the_schema(path: Path) -> None:
    jsonschema.validate(read_toml(path), json.loads((DOCS / "scenario.schema.json").read_text()))


def test_every_metric_is_documented() -> None:
    doc = (DOCS / "metrics.md").read_text()
    missing = [s.pattern for s in METRICS if f"`{s.pattern}`" not in doc]
    assert not missing, f"docs/metrics.md lacks {missing}"


def test_metric_names_in_shipped_thresholds_are_documented() -> None:
    doc = (DOCS / "metrics.md").read_text()
    for path in SHIPPED:
        for t in load(path).thresholds:
            for name in t.metrics:
                pattern = re.sub(r"^roles\.[^.]+\.", "roles.<role>.", name)
                pattern = re.sub(r"^latency\.(alloc|free|handoff|lifetime)\.", "latency.<op>.", pattern)
                assert f"`{pattern}`" in doc, (path.name, name)


def _toml_blocks(markdown: str) -> list[str]:
    return re.findall(r"```toml\n(.*?)```", markdown, flags=re.S)


def test_scenario_examples_in_docs_are_valid(tmp_path: Path) -> None:
    blocks = [b for b in _toml_blocks((DOCS / "scenarios.md").read_text()) if "[roles." in b]
    assert len(blocks) >= 2
    for i, block in enumerate(blocks):
        path = tmp_path / f"example{i}.toml"
        path.write_text(block)
        load(path)  # raises ScenarioError with the line if the documented example is wrong


def test_report_keys_are_documented() -> None:
    doc = (DOCS / "metrics.md").read_text()
    missing = [k for k in REPORT_KEYS if f"`{k}`" not in doc]
    assert not missing


def test_exit_codes_are_documented() -> None:
    doc = (DOCS / "exit-codes.md").read_text()
    for code in ("**0**", "**1**", "**2**", "**3**", "**130**"):
        assert code in doc
    assert "STRESSKIT_TEST_CRASH" in doc


def test_report_key_set() -> None:
    # The report's top-level keys are a contract: changing them needs a SCHEMA_VERSION bump
    # and an update of this list and of the docs.
    assert SCHEMA_VERSION == 2
    assert REPORT_KEYS == (
        "schema_version", "scenario", "status", "complete", "interrupted", "seed", "started_at",
        "elapsed_s", "plan", "metrics", "thresholds", "workers", "unreclaimed_series", "hotspots", "profile", "errors",
        "environment", "latency_histograms", "throughput_series",
    )


def test_built_report_has_exactly_the_documented_keys() -> None:
    from stresskit.metrics import aggregate
    from stresskit.planner import plan
    from stresskit.report.json_report import build
    from stresskit.results import ReplicaResult, RoleResult
    from stresskit.runner.records import WorkerRecord

    run = plan(load(REPO / "scenarios" / "smr.toml"))
    result = ReplicaResult("smr", 0, 1, roles=[RoleResult("A", "produce", 2, ops=5, allocs=5)], unreclaimed_series=[(0.0, 1, 64)])
    rec = WorkerRecord(0, "ok", pid=1, exitcode=0, result=result, cpu_s=1.0, elapsed_s=1.0, peak_rss_bytes=1)
    doc = build(run, [rec], aggregate([result], [rec]), [], started_at=0.0, complete=True)
    assert tuple(doc) == REPORT_KEYS
    assert set(doc["workers"][0]) == {"replica", "pid", "status", "exitcode", "signal", "error", "peak_rss_bytes", "cpu_s", "cpu_utilisation",
                                      "elapsed_s", "stop_reason", "seed", "stats", "stats_mismatches", "contract", "timer_overhead_ns", "invariants",
                                      "metrics"}
    assert doc["unreclaimed_series"] == [{"replica": 0, "columns": ["t_s", "blocks", "bytes"], "points": [[0.0, 1, 64]]}]
    assert doc["latency_histograms"] == []  # the fake result above records no latency
    assert doc["throughput_series"] == []  # nor progress
    assert build(run, [rec], {}, [], started_at=0.0, complete=True, progress={0: [(0.5, 100), (1.0, 300)]})["throughput_series"] == [
        {"replica": 0, "columns": ["t_s", "ops", "ops_per_s"], "points": [[0.5, 100, 200.0], [1.0, 300, 400.0]]}]
    assert set(doc["environment"]) == {"machine", "os", "python", "stresskit", "native", "git_commit", "command_line"}
    assert set(doc["environment"]["native"]) >= {"path", "origin", "sha256", "glue_version", "mimalloc_version", "compiler"}
    assert len(doc["environment"]["native"]["sha256"]) == 64
    json.dumps(doc, allow_nan=False)
    assert sys.modules["stresskit.report.json_report"].status_of([rec], [], False) == "pass"


def test_every_replica_carries_its_replay_record() -> None:
    """`stresskit replay` reads these keys (stresskit/diagnostics/replay_report.py); they are as much a
    contract as the top-level ones. environment.native (the library) and scenario.definition
    are the run-wide part of the record."""
    from stresskit.diagnostics import replay_record as replay
    from stresskit.metrics import aggregate
    from stresskit.plan_codec import plan_from_dict
    from stresskit.planner import plan
    from stresskit.report.json_report import build
    from stresskit.results import ReplicaResult, RoleResult
    from stresskit.runner.records import WorkerRecord
    from stresskit.session import judge

    run = plan(load(REPO / "scenarios" / "smr.toml"))
    result = ReplicaResult("smr", 0, run.replicas[0].seed, roles=[RoleResult("A", "produce", 2, ops=5, allocs=5)])
    rec = WorkerRecord(0, "ok", pid=1, exitcode=0, result=result, cpu_s=1.0, elapsed_s=1.0, peak_rss_bytes=1)
    replays = {0: replay.record(run.replicas[0], rec, judge(run, [rec])[1])}
    doc = build(run, [rec], aggregate([result], [rec]), [], started_at=0.0, complete=True,
                environment={"stresskit": "0.x", "python": {"version": "3.x"}, "native": {"path": "/lib.so", "sha256": "0" * 64}},
                replays=replays)
    assert tuple(doc) == REPORT_KEYS
    assert doc["environment"]["native"] == {"path": "/lib.so", "sha256": "0" * 64}
    assert set(doc["scenario"]) == {"name", "file", "description", "definition"}
    worker = doc["workers"][0]
    assert set(worker["replay"]) == {"seed", "plan", "environment", "signature"}
    assert set(worker["replay"]["signature"]) == {"status", "failed", "worker_status", "stop_reason", "signal"}
    assert plan_from_dict(json.loads(json.dumps(worker["replay"]["plan"]))) == run.replicas[0]
    assert worker["replay"]["seed"] == worker["seed"] == run.replicas[0].seed

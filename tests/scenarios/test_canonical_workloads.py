"""Tier 3: the shipped canonical workloads (mimalloc-bench's shapes, docs/scenarios.md) validate and
pass at a small --ops, run as a user runs them (one `stresskit run` of all six), and each shows
the behaviour it exists for in its metrics."""

from __future__ import annotations

from pathlib import Path

import pytest
from scenario_helpers import SCENARIOS, read_json, stresskit

pytestmark = pytest.mark.tier3

WORKLOADS = ("larson", "xmalloc", "mstress", "cache_thrash", "cache_scratch", "rptest")
SMALL_OPS = "20000"


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, dict]:
    out = tmp_path_factory.mktemp("workloads") / "r.json"
    result = stresskit("run", *WORKLOADS, "--ops", SMALL_OPS, "--json", str(out), "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    return {r["scenario"]["name"]: r for r in read_json(out)["reports"]}


def test_each_workload_validates_with_its_header_saying_what_it_cannot_express():
    result = stresskit("validate", *(str(SCENARIOS / f"{name}.toml") for name in WORKLOADS))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": ok (") == len(WORKLOADS)
    for name in WORKLOADS:
        header = (SCENARIOS / f"{name}.toml").read_text().split("\nname = ")[0]
        assert "mimalloc-bench" in header and "cannot yet express" in header, name


@pytest.mark.parametrize("name", WORKLOADS)
def test_each_workload_passes_at_a_small_ops(reports, name):
    report = reports[name]
    assert report["status"] == "pass" and report["complete"] is True
    assert report["plan"]["ops"] == int(SMALL_OPS)
    assert all(t["ok"] for t in report["thresholds"]) and len(report["thresholds"]) > 10  # builtins + its own
    assert report["metrics"]["concurrency.max_threads_inside"] >= 2  # its threads really overlapped


def test_larson_and_mstress_hand_live_sets_over(reports):
    for name, role in (("larson", "server"), ("mstress", "worker")):
        m = reports[name]["metrics"]
        assert m[f"roles.{role}.handovers"] > 0 and m[f"roles.{role}.foreign_frees"] > 0, name
        assert m[f"roles.{role}.handover_blocks"] >= m[f"roles.{role}.handovers"]


def test_the_cache_workloads_write_from_the_threads_they_model(reports):
    thrash = reports["cache_thrash"]["metrics"]
    assert thrash["roles.thrasher.writes"] == 200 * thrash["roles.thrasher.frees"] > 0
    assert thrash["roles.thrasher.foreign_writes"] == 0
    scratch = reports["cache_scratch"]["metrics"]
    assert scratch["roles.scratcher.foreign_writes"] == scratch["roles.scratcher.writes"] == 200 * scratch["roles.scratcher.frees"] > 0


def test_rptest_sizes_are_weighted_towards_small_ones(reports):
    m = reports["rptest"]["metrics"]
    mean = m["glue.alloc_bytes"] / m["glue.alloc_count"]  # usable bytes, from the replica with statistics on
    # log-uniform over 16 B .. 64 KiB averages ~15 KiB requested; a uniform draw over the same range ~32 KiB
    assert 10_000 < mean < 22_000, mean


def test_every_workload_is_documented():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "scenarios.md").read_text()
    section = doc.split("## Canonical workloads", 1)[1].split("\n## ", 1)[0]
    for name in WORKLOADS:
        assert f"| `{name}` |" in section, name

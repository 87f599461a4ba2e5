"""What a person reads: every value with its unit and separators (never a Python repr), `-q`
naming the failing thresholds and checks, built-in checks labelled "check"."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from stresskit.metrics import METRICS
from stresskit.report import units
from stresskit.report.console import Display, threshold_line

pytestmark = pytest.mark.tier1


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("throughput.ops_per_s", 85285149.72543618, "85.3 M ops/s"),
        ("roles.A.ops_per_s", 950.0, "950 ops/s"),
        ("bytes.leaked", 2411724, "2.3 MiB"),
        ("bytes.leaked", 1000, "1,000 B"),
        ("unreclaimed.peak_bytes", 3 << 30, "3.0 GiB"),
        ("latency.alloc.p99_ns", 1234.0, "1,234 ns"),
        ("latency.alloc.p99_ns", 45_600.0, "45.6 µs"),
        ("roles.A.latency.free.max_ns", 2.5e9, "2.5 s"),
        ("oom.recovered", True, "true"),
        ("oom.limit_applied", False, "false"),
        ("blocks.leaked", 1234567, "1,234,567 blocks"),
        ("blocks.leaked", 1, "1 block"),
        ("workers.total", 1, "1 process"),
        ("cpu.utilisation", 1.8734, "1.87 cores"),
        ("elapsed.max_s", 0.0042, "4.2 ms"),
        ("glue.alloc_count", 123456, "123,456"),
        ("glue.alloc_bytes", 4096, "4.0 KiB"),
        ("ops.total", None, "-"),
        ("no.such.metric", 1234567.891, "1,234,568"),  # not in the registry: a bare number
    ],
)
def test_values_carry_their_unit(name: str, value: object, shown: str) -> None:
    assert units.metric(name, value) == shown


def _looks_raw(text: str) -> bool:
    """A Python repr slipped through: a long digit run without separators, an exponent, True/False, a dict."""
    return bool(re.search(r"\d{5,}|\de[+-]?\d|\bTrue\b|\bFalse\b|[{}]|\.\d{4,}", text))


@pytest.mark.parametrize("spec", METRICS, ids=lambda s: s.pattern)
@pytest.mark.parametrize("value", [0, 1, 85285149.72543618, 123456789012, 1234.5678, 0.5, True])
def test_every_registered_metric_prints_with_separators_and_its_unit(spec, value) -> None:
    name = spec.pattern.replace("<role>", "A").replace("<op>", "alloc").replace("<stat>", "alloc_count")
    text = units.metric(name, value)
    assert not _looks_raw(text), (name, value, text)
    if spec.unit not in ("count/bytes", "bool") and not isinstance(value, bool):
        assert re.search(r"[A-Za-zµ]", text), f"{name}: {text} has no unit"


THRESHOLDS = [
    {"expression": "ops.total > 0", "value": 400000, "ok": True, "builtin": True, "name": "did_work", "skipped": False},
    {"expression": "blocks.leaked == 0", "value": 3, "ok": False, "reason": "blocks the engine allocated were never freed",
     "builtin": True, "name": "no_leak", "skipped": False},
    {"expression": "workers.peak_rss_bytes <= memory.rss_budget_bytes", "value": None, "ok": True, "builtin": True,
     "name": "bounded_rss", "skipped": True, "reason": "skipped by checks.skip in the scenario"},
    {"expression": "throughput.ops_per_s > 90M", "value": 85285149.72543618, "ok": False},
    {"expression": "roles.A.ops == roles.B.ops and unreclaimed.peak_bytes < 1MiB",
     "value": {"roles.A.ops": 10, "roles.B.ops": 12, "unreclaimed.peak_bytes": 2411724}, "ok": False},
    {"expression": "oom.recovered == true", "value": True, "ok": True},
    {"expression": "latency.free.p99_ns < 100", "value": None, "ok": False, "reason": "metric 'latency.free.p99_ns' was not produced by this run"},
]


def _report(status: str = "fail") -> dict:
    return {
        "status": status, "scenario": {"name": "demo"}, "seed": 7, "errors": [], "workers": [], "profile": None,
        "plan": {"roles": [{"name": "A", "action": "produce", "threads": 2}, {"name": "B", "action": "consume", "threads": 1}]},
        "metrics": {"ops.total": 400000, "throughput.ops_per_s": 85285149.72543618, "bytes.leaked": 0, "blocks.leaked": 3,
                    "unreclaimed.peak_bytes": 2411724, "oom.recovered": True, "roles.A.ops": 10, "roles.A.ops_per_s": 1234567.8,
                    "roles.A.latency.alloc.p50_ns": 31.0, "roles.A.latency.alloc.p99_ns": 1234.0, "roles.A.latency.alloc.max_ns": 45600.0},
        "thresholds": THRESHOLDS,
    }


def test_threshold_lines() -> None:
    lines = [threshold_line(t) for t in THRESHOLDS]
    assert lines[0] == "check did_work pass: ops.total > 0 (value 400,000 ops)"
    assert lines[1] == "check no_leak FAIL: blocks.leaked == 0 (value 3 blocks) (blocks the engine allocated were never freed)"
    assert lines[2] == "check bounded_rss skipped: workers.peak_rss_bytes <= memory.rss_budget_bytes (skipped by checks.skip in the scenario)"
    assert lines[3] == "threshold FAIL: throughput.ops_per_s > 90M (value 85.3 M ops/s)"
    assert lines[4].endswith("(value roles.A.ops=10 ops, roles.B.ops=12 ops, unreclaimed.peak_bytes=2.3 MiB)")
    assert lines[5] == "threshold pass: oom.recovered == true (value true)"
    assert lines[6] == "threshold FAIL: latency.free.p99_ns < 100 (no value) (metric 'latency.free.p99_ns' was not produced by this run)"


def test_plain_summary_has_no_raw_values(capsys) -> None:
    Display(force_plain=True).summary(_report(), None)
    out = capsys.readouterr().out
    assert "85.3 M ops/s" in out and "2.3 MiB" in out and "1.23 M ops/s" in out and "1,234 ns" in out and "45.6 µs" in out
    for line in out.splitlines():
        assert not _looks_raw(line.replace("seed 7", "")), line
    assert out.splitlines()[-1] == "demo: FAIL (1/4 thresholds passed, 1/2 checks passed, 1 skipped, seed 7)"


def test_quiet_names_every_failing_threshold_and_check(capsys) -> None:
    Display(quiet=True, force_plain=True).summary(_report(), None)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "demo: FAIL (1/4 thresholds passed, 1/2 checks passed, 1 skipped)"
    assert lines[1:] == ["  " + threshold_line(t) for t in THRESHOLDS if not t["ok"]]
    assert [line.split(":")[0].strip() for line in lines[1:]] == ["check no_leak FAIL", "threshold FAIL", "threshold FAIL", "threshold FAIL"]


def test_quiet_pass_is_one_line(capsys) -> None:
    report = _report("pass")
    report["thresholds"] = [t for t in THRESHOLDS if t["ok"]]
    Display(quiet=True, force_plain=True).summary(report, None)
    assert capsys.readouterr().out.splitlines() == ["demo: PASS (1/1 thresholds passed, 1/1 checks passed, 1 skipped)"]


def test_quiet_error_says_why(capsys) -> None:
    report = _report("error")
    report["errors"] = ["replica 1: crashed (SIGKILL)"]
    Display(quiet=True, force_plain=True).summary(report, None)
    assert "  error: replica 1: crashed (SIGKILL)" in capsys.readouterr().out.splitlines()


def test_rich_tables_use_units_and_label_checks() -> None:
    display = Display(force_plain=False)
    buf = io.StringIO()
    display.console = Console(file=buf, width=200, highlight=False, color_system=None)
    display.summary(_report(), None)
    out = buf.getvalue()
    assert "85.3 M ops/s" in out and "2.3 MiB" in out and "1,234 ns" in out and "true" in out
    assert re.search(r"FAIL\s+│ check no_leak\s+│ blocks\.leaked == 0", out), out
    assert re.search(r"skipped\s+│ check bounded_rss", out), out
    assert "roles.A.ops=10 ops, roles.B.ops=12 ops" in out
    for row in out.splitlines():
        assert "85285149" not in row and "True" not in row and "{" not in row, row


def _probe(ns: float) -> dict:
    return {"round_trip_ns": ns, "min_ns": ns - 3, "max_ns": ns + 9, "cpus": [0, 1]}


def test_summary_shows_the_machines_round_trip_and_says_when_it_changed(capsys) -> None:
    report = _report("pass")
    report["environment"] = {"machine": {"handoff_before": _probe(93.4), "handoff_after": _probe(88.0)}}
    Display(force_plain=True).summary(report, None)
    lines = capsys.readouterr().out.splitlines()
    assert "cross-core hand-off round trip: 93 ns before (CPUs 0, 1); 88 ns after (CPUs 0, 1)" in lines

    report["environment"]["machine"]["handoff_after"] = _probe(402.0)  # the host moved a vCPU mid-run
    Display(force_plain=True).summary(report, None)
    changed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("cross-core")]
    assert changed == ["cross-core hand-off round trip: 93 ns before (CPUs 0, 1); 402 ns after (CPUs 0, 1); "
                       "CHANGED during the run: the rates of roles that hand blocks between threads straddle two "
                       "machines, compare this run's rates with care"]

    report["environment"]["machine"]["handoff_after"] = {"error": "needs two usable CPUs that threads can be pinned to"}
    Display(quiet=True, force_plain=True).summary(report, None)  # quiet: the verdict line only
    assert not any(line.startswith("cross-core") for line in capsys.readouterr().out.splitlines())

    del report["environment"]  # a report from before the probe: nothing to say, nothing raised
    Display(force_plain=True).summary(report, None)
    assert not any(line.startswith("cross-core") for line in capsys.readouterr().out.splitlines())

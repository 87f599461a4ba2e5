"""Threshold expressions: the grammar accepts what docs/scenarios.md shows, rejects anything that
is not a comparison of metrics and numbers, and never evaluates Python."""

from __future__ import annotations

import pytest

from stresskit.thresholds import ThresholdSyntaxError, evaluate, parse

pytestmark = pytest.mark.tier1

METRICS = {
    "bytes.leaked": 0,
    "throughput.ops_per_s": 6e6,
    "latency.alloc.p99_ns": 1500.0,
    "unreclaimed.peak_bytes": 60 * 2**20,
    "oom.recovered": True,
    "oom.null_returns": 3,
    "roles.A.ops": 10,
    "roles.B.ops": 10,
}


@pytest.mark.parametrize(
    ("expression", "ok"),
    [
        ("bytes.leaked == 0", True),
        ("throughput.ops_per_s > 5e6", True),
        ("throughput.ops_per_s > 5M", True),
        ("throughput.ops_per_s > 7_000_000", False),
        ("latency.alloc.p99_ns < 2000", True),
        ("latency.alloc.p99_ns < 1k", False),
        ("unreclaimed.peak_bytes < 64MiB", True),
        ("unreclaimed.peak_bytes < 60MiB", False),
        ("unreclaimed.peak_bytes <= 60MiB", True),
        ("oom.recovered == true and oom.null_returns > 0", True),
        ("oom.recovered == false or bytes.leaked != 0", False),
        ("not (bytes.leaked > 0)", True),
        ("0 <= bytes.leaked < 1", True),
        ("roles.A.ops == roles.B.ops", True),
        ("bytes.leaked >= -1", True),
    ],
)
def test_evaluates(expression: str, ok: bool) -> None:
    result = evaluate(parse(expression), METRICS)
    assert result.ok is ok
    assert result.expression == expression


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "bytes.leaked",
        "bytes.leaked = 0",
        "bytes.leaked ==",
        "__import__('os').system('true') == 0",
        "bytes.leaked + 1 == 1",
        "bytes.leaked in (0, 1)",
        "bytes.leaked is 0",
        'bytes.leaked == "0"',
        "bytes.leaked[0] == 0",
        "f(x) > 1",
        "lambda: 1",
        "1 < 2",
        "bytes.leaked < 5parsecs",
        "bytes.leaked == 0\x00",
        "(" * 300 + "bytes.leaked == 0" + ")" * 300,
    ],
)
def test_rejects_outside_the_grammar(expression: str) -> None:
    with pytest.raises(ThresholdSyntaxError) as info:
        parse(expression)
    assert str(info.value)  # a message for the user


def test_missing_metric_fails_with_reason() -> None:
    result = evaluate(parse("latency.free.p99_ns < 100"), METRICS)
    assert not result.ok
    assert result.value is None
    assert "latency.free.p99_ns" in result.reason


def test_value_is_the_metric_or_a_map() -> None:
    assert evaluate(parse("bytes.leaked == 0"), METRICS).value == 0
    assert evaluate(parse("roles.A.ops == roles.B.ops"), METRICS).value == {"roles.A.ops": 10, "roles.B.ops": 10}

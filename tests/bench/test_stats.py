"""Aggregation, ratios, targets, goals and the regression rule, on synthetic samples (no timing)."""

from __future__ import annotations

import pytest

from stresskit.bench import compare as cmp
from stresskit.bench import stats
from stresskit.bench.harness import IMPLS, Impl, Op, Sample
from stresskit.bench.runner import Config, Measured, RowKey, measure, plan


def _sample(value: float, op: Op) -> Sample:
    if op is Op.THROUGHPUT:
        return Sample(ops=1000, elapsed_ns=1, ns_per_op=1e9 / value, ops_per_s=value, failures=0,
                      max_inside=1)
    return Sample(ops=1000, elapsed_ns=1, ns_per_op=value, ops_per_s=1e9 / value, failures=0,
                  max_inside=1)


def _measured(key: RowKey, per_impl: dict[Impl, list[float]]) -> Measured:
    return Measured(key, {i: [_sample(v, key.op) for v in vs] for i, vs in per_impl.items()})


@pytest.mark.tier2
def test_latency_row_median_spread_and_ratio():
    key = RowKey(Op.ALLOC, 1, 64, None)
    rows = stats.rows_from([_measured(key, {
        Impl.CC: [3.0, 2.0, 9.0],
        Impl.CC_STATS: [4.0, 4.0, 4.0],
        Impl.MIMALLOC: [1.0, 2.0, 2.5],
        Impl.SYSTEM: [10.0, 10.0, 10.0],
    })])
    cc = next(r for r in rows if r["impl"] == "cc")
    assert (cc["median"], cc["min"], cc["max"]) == (3.0, 2.0, 9.0)
    assert cc["ns_per_op"] == 3.0 and "ops_per_s" not in cc
    assert cc["ratio_to_mimalloc"] == pytest.approx(1.5)  # median 3 / median 2: above 1 = slower
    assert cc["best_ratio_to_mimalloc"] == pytest.approx(2.0)  # fastest 2 / fastest 1
    assert next(r for r in rows if r["impl"] == "mimalloc")["ratio_to_mimalloc"] == 1.0


@pytest.mark.tier2
def test_throughput_ratio_is_impl_over_mimalloc():
    key = RowKey(Op.THROUGHPUT, 4, None, None)
    rows = stats.rows_from([_measured(key, {Impl.CC: [90e6], Impl.MIMALLOC: [100e6]})])
    cc = next(r for r in rows if r["impl"] == "cc")
    assert cc["ops_per_s"] == 90e6 and "ns_per_op" not in cc
    assert cc["ratio_to_mimalloc"] == pytest.approx(0.9)  # below 1 = slower
    rows = stats.rows_from([_measured(key, {Impl.CC: [90e6, 50e6, 95e6], Impl.MIMALLOC: [100e6, 10e6, 20e6]})])
    cc = next(r for r in rows if r["impl"] == "cc")
    assert cc["best_ratio_to_mimalloc"] == pytest.approx(0.95)  # best of throughput is the max


def _rows_for_goals(cc_alloc: float, cc_tp: float, stats_tp: float) -> list[dict]:
    ms = [
        _measured(RowKey(Op.ALLOC, 1, 64, None), {Impl.CC: [cc_alloc], Impl.MIMALLOC: [1.0]}),
        _measured(RowKey(Op.THROUGHPUT, 1, None, None),
                  {Impl.CC: [cc_tp], Impl.CC_STATS: [stats_tp], Impl.MIMALLOC: [100.0]}),
        _measured(RowKey(Op.THROUGHPUT, 2, None, None),
                  {Impl.CC: [cc_tp], Impl.CC_STATS: [stats_tp], Impl.MIMALLOC: [100.0]}),
    ]
    return stats.rows_from(ms)


@pytest.mark.tier2
def test_goals_met_and_missed():
    met = {g["name"]: g for g in stats.goals(_rows_for_goals(1.05, 95.0, 90.0))}
    assert met["cc_alloc_ratio"]["met"] is True
    assert met["cc_throughput_ratio"]["met"] is True
    assert met["cc_stats_throughput_vs_cc"]["value"] == pytest.approx(90 / 95, abs=1e-4)
    assert met["cc_stats_throughput_vs_cc"]["met"] is True
    assert met["cc_free_ratio"]["met"] is None  # not measured: neither met nor missed
    missed = {g["name"]: g for g in stats.goals(_rows_for_goals(1.2, 80.0, 40.0))}
    assert missed["cc_alloc_ratio"]["met"] is False
    assert missed["cc_alloc_ratio"]["value"] == pytest.approx(1.2)
    assert missed["cc_throughput_ratio"]["value"] == pytest.approx(0.8)
    assert missed["cc_stats_throughput_vs_cc"]["met"] is False
    # Only 2+ threads count for the statistics goal.
    assert [p["threads"] for p in missed["cc_stats_throughput_vs_cc"]["points"]] == [2]


@pytest.mark.tier2
def test_targets_pass_and_fail():
    rows = _rows_for_goals(60.0, 5e6, 5e6)  # 60 ns alloc, 5 M ops/s: both fail the seed targets
    by = {t["name"]: t for t in stats.targets(rows)}
    assert by["perf_alloc_latency"]["passed"] is False
    assert by["perf_throughput_single_thread"]["passed"] is False
    assert by["perf_free_latency"]["passed"] is None
    rows = _rows_for_goals(4.0, 50e6, 50e6)
    by = {t["name"]: t for t in stats.targets(rows)}
    assert by["perf_alloc_latency"]["passed"] is True
    assert by["perf_throughput_single_thread"]["passed"] is True


@pytest.mark.tier2
def test_regression_rule_direction():
    base = [
        {"op": "alloc", "impl": "cc", "threads": 1, "size": 64, "alignment": None, "ratio_to_mimalloc": 1.0},
        {"op": "throughput", "impl": "cc", "threads": 2, "size": None, "alignment": None, "ratio_to_mimalloc": 1.0},
    ]
    # Latency ratio up 20% and throughput ratio down 20%: both regressions at a 10% bound.
    cur = [dict(base[0], ratio_to_mimalloc=1.2), dict(base[1], ratio_to_mimalloc=0.8)]
    res = cmp.compare(cur, base, 0.10)
    assert res.compared == 2 and len(res.regressions) == 2
    # Improvements never fail; a 5% change is within 10%.
    cur = [dict(base[0], ratio_to_mimalloc=0.5), dict(base[1], ratio_to_mimalloc=0.95)]
    assert not cmp.compare(cur, base, 0.10).failed
    # mimalloc rows are the reference and are not gated.
    mi = [dict(base[0], impl="mimalloc", ratio_to_mimalloc=9.0)]
    assert cmp.compare(mi, [dict(base[0], impl="mimalloc")], 0.10).compared == 0


@pytest.mark.tier2
@pytest.mark.parametrize("text,value", [("10%", 0.10), ("10", 0.10), ("2.5%", 0.025), (" 0% ", 0.0)])
def test_parse_bound(text, value):
    assert cmp.parse_bound(text) == pytest.approx(value)


@pytest.mark.tier5
@pytest.mark.parametrize("text", ["", "ten", "-5%", "10%%", "1e3"])
def test_parse_bound_rejects(text):
    with pytest.raises(ValueError, match="expected a percentage"):
        cmp.parse_bound(text)


@pytest.mark.tier2
def test_measure_interleaves_and_rotates_implementations():
    cfg = Config.make(quick=True, repeats=3, ops=[Op.ALLOC], scale=0.01)
    order: list[tuple[int, Impl]] = []

    def fake(spec):
        order.append((spec.size, spec.impl))
        return _sample(1.0, spec.op)

    measured, _ = measure(cfg, runner=fake)
    assert len(measured) == len(plan(cfg)) == len(cfg.sizes)
    first_row = [impl for size, impl in order if size == cfg.sizes[0]]
    # Every repeat runs all four back to back (A B C D), the start rotating between repeats.
    assert [set(first_row[i:i + 4]) for i in (0, 4, 8)] == [set(IMPLS)] * 3
    assert first_row[0] != first_row[4] != first_row[8]


@pytest.mark.tier2
def test_wide_rows_get_settle_passes_and_tight_rows_do_not():
    """A row whose samples spread wide (here: mimalloc alternating 1 and 3 ns on the first size)
    is measured again, every implementation, up to half the repeats more; the others are not."""
    cfg = Config.make(quick=True, repeats=7, ops=[Op.ALLOC], scale=0.01)
    noisy_size = cfg.sizes[0]
    calls = {"n": 0}

    def fake(spec):
        calls["n"] += 1
        noisy = spec.size == noisy_size and spec.impl is Impl.MIMALLOC
        return _sample(3.0 if noisy and calls["n"] % 2 else 1.0, spec.op)

    measured, _ = measure(cfg, runner=fake)
    counts = {m.key.size: {impl: len(v) for impl, v in m.samples.items()} for m in measured}
    assert counts[noisy_size] == {impl: 7 + 3 for impl in IMPLS}
    assert all(c == {impl: 7 for impl in IMPLS} for size, c in counts.items() if size != noisy_size)

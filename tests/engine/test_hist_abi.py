"""Histogram buckets, percentile extraction, and the engine's binding declarations."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stresskit import engine
from stresskit._cdefs_engine import ENGINE_CDEF

HEADER = Path(__file__).resolve().parents[2] / "native" / "include" / "sk_engine.h"


@pytest.mark.tier1
def test_struct_layouts_match_the_library(native):
    ffi, lib = native
    for which, name in enumerate(engine.ABI_STRUCTS):
        assert ffi.sizeof(name) == lib.sk_engine_abi_sizeof(which), name
    assert lib.sk_engine_abi_sizeof(99) == 0


@pytest.mark.tier1
def test_every_exported_function_is_declared_for_cffi():
    exported = set(re.findall(r"CC_API\s+[^;(]*?\b(\w+)\s*\(", HEADER.read_text()))
    assert len(exported) > 20
    missing = {name for name in exported if not re.search(rf"\b{name}\s*\(", ENGINE_CDEF)}
    assert not missing


@pytest.mark.tier1
@pytest.mark.parametrize("value", [0, 1, 7, 8, 9, 15, 16, 17, 100, 1000, 12345, 10**6, 10**9, 2**40 + 3, 2**63, 2**64 - 1])
def test_bucket_bounds_enclose_the_value(native, value):
    _, lib = native
    i = lib.sk_hist_bucket_index(value)
    assert 0 <= i < engine.HIST_BUCKETS
    assert lib.sk_hist_bucket_lower(i) <= value
    if value < 15 << 60:
        upper = lib.sk_hist_bucket_lower(i + 1)
        assert value < upper
        assert upper - lib.sk_hist_bucket_lower(i) <= max(1, value // 8 + 1), "bucket wider than 12.5%"


@pytest.mark.tier1
def test_bucket_lower_bounds_increase(native):
    _, lib = native
    lowers = [lib.sk_hist_bucket_lower(i) for i in range(engine.HIST_BUCKETS)]
    used = lowers[:496]
    assert all(a < b for a, b in zip(used, used[1:]))
    assert used[:8] == list(range(8))
    assert used[-1] == 15 << 60  # the last used bucket starts at 2^63 + 7/8 * 2^63
    assert set(lowers[496:]) == {2**64 - 1}


@pytest.mark.tier1
def test_percentiles_from_buckets(native):
    _, lib = native
    lowers = [lib.sk_hist_bucket_lower(i) for i in range(engine.HIST_BUCKETS)]
    buckets = [0] * engine.HIST_BUCKETS
    # 900 samples of 5 ns, 98 of ~1000 ns, 2 of ~1e6 ns
    buckets[lib.sk_hist_bucket_index(5)] = 900
    buckets[lib.sk_hist_bucket_index(1000)] = 98
    buckets[lib.sk_hist_bucket_index(10**6)] = 2
    p = engine._percentile_values(buckets, 1000, 10**6, lowers)
    assert p["p50_ns"] == 5
    assert p["p90_ns"] == 5
    assert 1000 * 0.93 <= p["p99_ns"] <= 1000 * 1.07
    assert 10**6 * 0.93 <= p["p999_ns"] <= 10**6
    assert engine._percentile_values(buckets, 0, 0, lowers)["p99_ns"] == 0


@pytest.mark.tier1
def test_time_weighted_average():
    assert engine._time_weighted_average([]) == 0
    assert engine._time_weighted_average([(0.0, 1, 100)]) == 100
    # 100 bytes for 1 s, then 300 bytes for 3 s -> (100 + 900) / 4
    assert engine._time_weighted_average([(0.0, 1, 100), (1.0, 3, 300), (4.0, 0, 0)]) == 250

"""The engine row: sk_bench_spsc (the engine and a minimal C loop, 1 -> 1, 64 B), the switches that
turn the engine's checks off (each proven by what it stops seeing), and the row's summary."""

from __future__ import annotations

import errno
import json
import re
import threading
from pathlib import Path

import pytest

from stresskit import _native
from stresskit._cdefs_bench_engine import BENCH_ENGINE_CDEF
from stresskit.bench import engine_row
from stresskit.engine import _os_threads_gone

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def native():
    loaded = _native.load()
    return loaded.ffi, loaded.lib


def _spec(ffi, **fields):
    s = ffi.new("sk_spsc_spec_t *")
    values = {"mode": 0, "checks_off": 0, "invariants": 0, "latency_sample_every": 64, "blocks": 20_000,
              "warmup_blocks": 100, "size": 64, "capacity": 1024, "budget_ns": 20_000_000, "seed": 3}
    values.update(fields)
    for k, v in values.items():
        setattr(s, k, v)
    return s


@pytest.mark.tier1
def test_declarations_match_the_headers():
    header = (ROOT / "native" / "include" / "sk_bench_engine.h").read_text()
    for name in re.findall(r"CC_API\s+[\w\s\*]*?\b(sk_\w+)\s*\(", header):
        assert re.search(rf"\b{name}\s*\(", BENCH_ENGINE_CDEF), name
    engine_h = (ROOT / "native" / "include" / "sk_engine.h").read_text()
    bits = dict(re.findall(r"SK_OFF_(\w+) = 1u << (\d)", engine_h))
    assert {k.lower(): 1 << int(v) for k, v in bits.items()} == engine_row.CHECKS


@pytest.mark.tier1
@pytest.mark.parametrize("fields", [{"mode": 2}, {"blocks": 0}, {"size": 8}, {"size": 5000}, {"capacity": 3},
                                    {"capacity": 1}, {"checks_off": 0x40}, {"latency_sample_every": 0},
                                    {"budget_ns": 0}])
def test_bad_specs_are_refused(native, fields):
    ffi, lib = native
    out = ffi.new("sk_spsc_result_t *")
    assert lib.sk_bench_spsc(_spec(ffi, **fields), out) == errno.EINVAL
    assert out.blocks == 0


@pytest.mark.tier4
@pytest.mark.parametrize("mode,checks_off,invariants", [(0, 0, 0), (1, 0x3F, 0), (1, 0, 1)])
def test_each_way_moves_every_block_with_both_threads_inside(native, mode, checks_off, invariants):
    ffi, lib = native
    out = ffi.new("sk_spsc_result_t *")
    assert lib.sk_bench_spsc(_spec(ffi, mode=mode, checks_off=checks_off, invariants=invariants), out) == 0
    assert out.blocks == 20_000 and out.bad_blocks == 0
    assert out.max_inside == 2, "producer and consumer ran at the same time"
    assert out.elapsed_ns > 0 and out.blocks_per_s == pytest.approx(out.blocks * 1e9 / out.elapsed_ns, rel=1e-6)


def _run_1_to_1(ffi, lib, checks_off: int, *, corrupt: int = 0, leak: int = 0, blocks: int = 5_000):
    """A 1 -> 1 run through the C API with `checks_off`; returns (consumer stats, totals, hist
    samples of the producer's allocations, heartbeats)."""
    run = lib.sk_run_create(11, 1)
    try:
        assert lib.sk_run_checks_off(run, checks_off) == 0
        q = lib.sk_run_add_queue(run, 64)
        cfg = {"kind": 0, "threads": 1, "batch": 1, "size_kind": 0, "size_count": 1}
        prod = ffi.new("sk_role_config_t *", {**cfg, "action": lib.SK_ACT_PRODUCE, "inbox": -1, "outbox": q})
        cons = ffi.new("sk_role_config_t *", {**cfg, "action": lib.SK_ACT_CONSUME, "inbox": q, "outbox": -1})
        prod.size_values[0] = cons.size_values[0] = 64
        assert lib.sk_run_add_role(run, prod) == 0 and lib.sk_run_add_role(run, cons) == 1
        assert lib.sk_run_prepare(run, blocks, 0) == 0
        assert lib.sk_run_checks_off(run, 0) == -1, "switches are fixed once the run is prepared"
        lib.sk_engine_testing_corrupt_next(run, corrupt)
        lib.sk_engine_testing_leak_next(run, leak)
        lib.sk_run_start(run)
        def drive(role: int) -> None:
            while lib.sk_role_step(run, role, 0, 2_000_000) == 0:
                pass

        threads = [threading.Thread(target=drive, args=(r,)) for r in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        beats = ffi.new("uint64_t[2]")
        lib.sk_run_thread_states(run, ffi.NULL, beats, 2)
        lib.sk_run_drain(run)
        if leak:
            assert _os_threads_gone([t.native_id for t in threads])
            assert lib.sk_run_mimalloc_leaks(run) == leak
            records = ffi.new("sk_leak_record_t[4]")
            n = lib.sk_run_leak_records(run, records, 4)
            return [(int(records[i].state), int(records[i].freer)) for i in range(n)]
        stats, totals = ffi.new("sk_role_stats_t *"), ffi.new("sk_run_totals_t *")
        assert lib.sk_run_role_stats(run, 1, stats) == 0
        lib.sk_run_totals(run, totals)
        timed = lib.sk_run_role_hist(run, 0, lib.SK_OP_ALLOC, ffi.NULL, ffi.NULL)
        return stats, totals, timed, list(beats)
    finally:
        lib.sk_run_destroy(run)


@pytest.mark.tier4
def test_every_switch_turns_off_exactly_what_it_names(native):
    """Defaults: a planted one-byte overrun in the body is caught, every block tracked, timed and
    heartbeats move. Each switch stops one of these; the identity word stays checked regardless."""
    ffi, lib = native
    stats, totals, timed, beats = _run_1_to_1(ffi, lib, 0, corrupt=3)
    assert stats.canary_failures == 3 and totals.serials_used == 5_000 and timed > 0 and min(beats) > 0
    assert stats.frees == 5_000 and totals.blocks_allocated == totals.blocks_freed
    assert lib.sk_run_checks_off(ffi.NULL, 0) == -1

    stats, *_ = _run_1_to_1(ffi, lib, engine_row.CHECKS["pattern"], corrupt=3)
    assert stats.canary_failures == 0, "the body pattern is off: a tail overrun goes unseen"
    _, totals, _, _ = _run_1_to_1(ffi, lib, engine_row.CHECKS["ownership"])
    assert totals.serials_used == 0, "ownership off: no block is tracked"
    _, _, timed, _ = _run_1_to_1(ffi, lib, engine_row.CHECKS["latency"])
    assert timed == 0, "latency sampling off: nothing timed"
    _, _, _, beats = _run_1_to_1(ffi, lib, engine_row.CHECKS["heartbeat"])
    assert beats == [0, 0], "heartbeats off: the watchdog sees none"
    freed, dropped = 2, 0  # sk_block_state_t: FREED (stamped), LIVE (never stamped)
    stamped = _run_1_to_1(ffi, lib, 0, leak=1)
    assert stamped and all(state == freed and freer != 0 for state, freer in stamped), stamped
    unstamped = _run_1_to_1(ffi, lib, engine_row.CHECKS["leak_stamps"], leak=1)
    assert unstamped and all(state == dropped and freer == 0 for state, freer in unstamped), \
        "stamps off: the leaked block is found but no longer says who gave it to the glue"
    stats, totals, *_ = _run_1_to_1(ffi, lib, engine_row.ALL_OFF)
    assert stats.frees == 5_000 and totals.blocks_allocated == totals.blocks_freed
    unknown = lib.sk_run_create(1, 1)
    try:
        assert lib.sk_run_checks_off(unknown, 0x40) == -1, "unknown bits are refused"
    finally:
        lib.sk_run_destroy(unknown)


def _fake(rate_by_variant: dict[str, float]) -> dict[str, list[engine_row.Sample]]:
    return {name: [engine_row.Sample(1000, int(1e12 / r), r, 1e9 / r, 0, 0, 0, 2)] * 3
            for name, r in rate_by_variant.items()}


@pytest.mark.tier1
def test_summary_ratios_and_check_costs():
    rates = {v.name: 40e6 for v in engine_row.variants()}
    rates.update({"loop": 50e6, "engine_loop_checks": 45e6, "engine_default": 20e6, "engine_no_pattern": 25e6})
    section = engine_row.summarise(_fake(rates), 1000)
    assert section["ratio_loop_checks"] == pytest.approx(0.9) and section["ratio_default_checks"] == pytest.approx(0.4)
    costs = {c["check"]: c for c in section["check_costs"]}
    assert costs["pattern"]["ns_per_block"] == pytest.approx(50.0 - 40.0)  # 1e9/20e6 - 1e9/25e6
    assert costs["pattern"]["share"] == pytest.approx(0.2)
    assert section["best_ratio_loop_checks"] == pytest.approx(0.9, abs=1e-3)
    goal, = engine_row.goals(section)
    assert goal["met"] is True and goal["value"] == pytest.approx(0.9)
    assert engine_row.goals(None)[0]["met"] is None
    rates["engine_loop_checks"] = 35e6
    assert engine_row.goals(engine_row.summarise(_fake(rates), 1000))[0]["met"] is False


@pytest.mark.tier5
def test_a_malformed_engine_section_in_input_is_one_line_exit_2(tmp_path):
    from click.testing import CliRunner

    from stresskit.bench.command import bench

    path = tmp_path / "run.json"
    path.write_text(json.dumps({"results": [], "engine": {"rows": [{"variant": "loop"}]}}))
    result = CliRunner().invoke(bench, ["--input", str(path)], catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert "engine" in result.output and "Traceback" not in result.output


@pytest.mark.tier1
def test_measure_interleaves_every_variant():
    seen: list[str] = []

    def runner(v, blocks, warmup, seed):
        seen.append(v.name)
        return engine_row.Sample(blocks, 1000, 1e9, 1.0, 0, 0, 0, 2)

    out = engine_row.measure(3, 500, runner=runner)
    n = len(engine_row.variants())
    assert all(len(v) == 3 for v in out.values()) and len(seen) == 3 * n
    assert seen[0] != seen[n], "the starting variant rotates between passes"


def _spread(ns_per_block: list[float]) -> list[engine_row.Sample]:
    return [engine_row.Sample(1000, int(ns * 1000), 1e9 / ns, ns, 0, 0, 0, 2) for ns in ns_per_block]


@pytest.mark.tier1
def test_a_check_cost_within_its_noise_bound_is_marked_so():
    samples = {v.name: _spread([30.0, 31.0, 33.0]) for v in engine_row.variants()}
    samples["engine_default"] = _spread([40.0, 40.5, 44.0])        # best gap 0.5
    samples["engine_no_pattern"] = _spread([35.0, 35.4, 36.0])     # best gap 0.4: cost 5.0, noise 0.9
    samples["engine_no_latency"] = _spread([39.8, 41.0, 42.0])     # best gap 1.2: cost 0.2, noise 1.7
    section = engine_row.summarise(samples, 1000)
    costs = {c["check"]: c for c in section["check_costs"]}
    assert costs["pattern"]["ns_per_block"] == pytest.approx(5.0)
    assert costs["pattern"]["noise_ns"] == pytest.approx(0.9) and costs["pattern"]["within_noise"] is False
    assert costs["latency"]["noise_ns"] == pytest.approx(1.7) and costs["latency"]["within_noise"] is True
    lines = engine_row.table_lines(section)
    assert "| pattern | 5.0 | 12.5% | +-0.9 |" in lines
    assert "| latency | 0.2 | 0.5% | +-1.7 (within the noise) |" in lines
    # the noise survives --input (recompute), and one sample per variant has no bound to give
    assert engine_row.recompute(section)["check_costs"] == section["check_costs"]
    single = engine_row.summarise({name: ss[:1] for name, ss in samples.items()}, 1000)
    assert all(c["noise_ns"] is None and c["within_noise"] is None for c in single["check_costs"])
    assert "| pattern | 5.0 | 12.5% | - |" in engine_row.table_lines(single)


@pytest.mark.tier1
def test_an_old_section_without_noise_still_reads_and_a_bad_noise_is_refused():
    samples = {v.name: _spread([30.0, 31.0]) for v in engine_row.variants()}
    section = engine_row.summarise(samples, 1000)
    old = {**section, "check_costs": [{k: c[k] for k in ("check", "ns_per_block", "share")} for c in section["check_costs"]]}
    assert all(line.endswith("| - |") for line in engine_row.table_lines(engine_row.recompute(old))[-7:])
    bad = {**section, "check_costs": [{**section["check_costs"][0], "noise_ns": "1.0"}, *section["check_costs"][1:]]}
    with pytest.raises(engine_row.SectionError, match="noise_ns"):
        engine_row.recompute(bad)

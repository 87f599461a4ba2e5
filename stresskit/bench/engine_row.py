"""The engine row of `stresskit bench`: the engine against a minimal C loop of the same shape.

Shape: 1 producer -> bounded queue (1024) -> 1 consumer, 64-byte blocks, one flow: the simplest
scenario stresskit ships. Both sides run in native code (native/src/bench_engine.c); samples of
every variant are interleaved and repeated like the allocator rows, so drift lands on all alike.

Variants: `loop` (the hand-written loop: first word written and checked), `engine_loop_checks`
(the engine with every optional check off: the loop's checks), `engine_default` (every default
check, as `stresskit run` runs it), and one `engine_no_<check>` per check, which is how the
per-check cost is measured (default minus default-without-it, on the best samples). The goal: engine_loop_checks >=
0.8x the loop's blocks/s. Turning checks off is the harness's business only: scenarios cannot.
"""

from __future__ import annotations

import errno
import os
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console

from stresskit import _native

GOAL_NAME = "engine_vs_loop"
GOAL_BOUND = 0.8
BLOCK_SIZE = 64
CAPACITY = 1024
BUDGET_NS = 20_000_000  # a scenario's default chunk (stresskit/engine.py)
LATENCY_SAMPLE_EVERY = 64  # a scenario's default

# sk_check_off_t (native/include/sk_engine.h): name -> bit
CHECKS = {
    "pattern": 1 << 0,
    "contract": 1 << 1,
    "ownership": 1 << 2,
    "latency": 1 << 3,
    "leak_stamps": 1 << 4,
    "heartbeat": 1 << 5,
}
ALL_OFF = sum(CHECKS.values())
INVARIANTS = "invariants"  # not a per-block switch: the checks after the run, timed with it


@dataclass(frozen=True)
class Variant:
    name: str
    engine: bool
    checks_off: int = 0
    invariants: bool = False


LOOP = Variant("loop", engine=False)
LOOP_CHECKS = Variant("engine_loop_checks", engine=True, checks_off=ALL_OFF)
DEFAULT = Variant("engine_default", engine=True, invariants=True)


def variants() -> tuple[Variant, ...]:
    without = tuple(Variant(f"engine_no_{name}", True, bit, True) for name, bit in CHECKS.items())
    return (LOOP, LOOP_CHECKS, DEFAULT, *without, Variant(f"engine_no_{INVARIANTS}", True, 0, False))


@dataclass(frozen=True)
class Sample:
    blocks: int
    elapsed_ns: int
    blocks_per_s: float
    ns_per_block: float
    bad_blocks: int
    empty_retries: int
    full_retries: int
    max_inside: int


class EngineRowError(RuntimeError):
    """sk_bench_spsc refused a spec or failed."""


def run_one(variant: Variant, blocks: int, warmup: int, seed: int, capacity: int = CAPACITY) -> Sample:
    """One sample, measured in native code (``capacity``: the queue's, a power of two; the row's
    is CAPACITY, tools/engine_regimes.py sweeps it)."""
    loaded = _native.load()
    ffi, lib = loaded.ffi, loaded.lib
    try:
        fn = lib.sk_bench_spsc
    except AttributeError:
        raise EngineRowError(f"the native library {loaded.path} has no sk_bench_spsc: rebuild it") from None
    spec = ffi.new("sk_spsc_spec_t *")
    spec.mode = 1 if variant.engine else 0
    spec.checks_off = variant.checks_off
    spec.invariants = 1 if variant.invariants else 0
    spec.latency_sample_every = LATENCY_SAMPLE_EVERY
    spec.blocks = blocks
    spec.warmup_blocks = warmup
    spec.size = BLOCK_SIZE
    spec.capacity = capacity
    spec.budget_ns = BUDGET_NS
    spec.seed = seed
    out = ffi.new("sk_spsc_result_t *")
    rc = fn(spec, out)
    if rc != 0:
        if rc == errno.ENOSYS and sys.platform == "win32":
            raise EngineRowError("the engine row is not available on Windows (POSIX threads)")
        raise EngineRowError(f"sk_bench_spsc({variant.name}) failed: {os.strerror(rc)} (errno {rc})")
    return Sample(int(out.blocks), int(out.elapsed_ns), float(out.blocks_per_s), float(out.ns_per_block),
                  int(out.bad_blocks), int(out.empty_retries), int(out.full_retries), int(out.max_inside))


def measure(repeats: int, blocks: int, seed: int = 1,
            runner: Callable[[Variant, int, int, int], Sample] = run_one) -> dict[str, list[Sample]]:
    """Every variant `repeats` times, interleaved, the starting variant rotating per pass."""
    vs = variants()
    out: dict[str, list[Sample]] = {v.name: [] for v in vs}
    warmup = min(blocks, 1000)
    for rep in range(repeats):
        shift = rep % len(vs)
        for v in vs[shift:] + vs[:shift]:
            out[v.name].append(runner(v, blocks, warmup, seed))
    return out


def best_gap(samples: list[Sample]) -> float | None:
    """How far a variant's median sample is from its best, in ns/block: how well this run
    reproduces its best (None with a single sample). The gap to the second-best sample alone was
    tried and is too small a bound: it called a check's cost of -2.6 ns real."""
    ns = [s.ns_per_block for s in samples]
    return statistics.median(ns) - min(ns) if len(ns) >= 2 else None


def cost_noise(default: list[Sample], without: list[Sample]) -> float | None:
    """The noise bound of a check's cost (a difference of two best samples): the sum of the two
    variants' best gaps. A cost within it is not told apart from zero by this run."""
    a, b = best_gap(default), best_gap(without)
    return None if a is None or b is None else a + b


def summarise(samples: dict[str, list[Sample]], blocks: int) -> dict:
    """The JSON section: a row per variant (median blocks/s, ratio to the loop) and the cost of
    each check (ns/block and share of the default's time per block)."""
    rows = []
    loop_median = statistics.median(s.blocks_per_s for s in samples[LOOP.name])
    for name, ss in samples.items():
        rates = [s.blocks_per_s for s in ss]
        med = statistics.median(rates)
        rows.append({
            "variant": name,
            "blocks_per_s": round(med, 1),
            "min": round(min(rates), 1),
            "max": round(max(rates), 1),
            "ns_per_block": round(statistics.median(s.ns_per_block for s in ss), 2),
            "best_ns_per_block": round(min(s.ns_per_block for s in ss), 2),
            "ratio_to_loop": round(med / loop_median, 4) if loop_median else None,
            "samples": [round(r, 1) for r in rates],
            "bad_blocks": sum(s.bad_blocks for s in ss),
            "empty_retries_median": int(statistics.median(s.empty_retries for s in ss)),
            "full_retries_median": int(statistics.median(s.full_retries for s in ss)),
            "max_threads_inside": max(s.max_inside for s in ss),
        })
    by_name = {r["variant"]: r for r in rows}
    # Costs from the best samples: noise on a shared machine only adds time, and a difference of
    # two medians taken minutes apart on a loaded machine is mostly that noise.
    default_ns = by_name[DEFAULT.name]["best_ns_per_block"]
    costs = []
    for check in (*CHECKS, INVARIANTS):
        without_name = f"engine_no_{check}"
        cost = default_ns - by_name[without_name]["best_ns_per_block"]
        noise = cost_noise(samples[DEFAULT.name], samples[without_name])
        costs.append({"check": check, "ns_per_block": round(cost, 2),
                      "share": round(cost / default_ns, 4) if default_ns else None,
                      "noise_ns": None if noise is None else round(noise, 2),
                      "within_noise": None if noise is None else abs(cost) <= noise})
    return {
        "shape": {"producers": 1, "consumers": 1, "block_size": BLOCK_SIZE, "capacity": CAPACITY,
                  "blocks_per_sample": blocks, "latency_sample_every": LATENCY_SAMPLE_EVERY},
        "rows": rows,
        "check_costs": costs,
        "ratio_loop_checks": by_name[LOOP_CHECKS.name]["ratio_to_loop"],
        "ratio_default_checks": by_name[DEFAULT.name]["ratio_to_loop"],
        "best_ratio_loop_checks": round(by_name[LOOP.name]["best_ns_per_block"] / by_name[LOOP_CHECKS.name]["best_ns_per_block"], 4),
        "best_ratio_default_checks": round(by_name[LOOP.name]["best_ns_per_block"] / default_ns, 4),
    }


class SectionError(ValueError):
    """An engine section that is not what `stresskit bench` writes; str() is one line."""


_ROW_NUMBERS = ("blocks_per_s", "min", "max", "ns_per_block", "best_ns_per_block", "ratio_to_loop")


def _optional(cost: dict, key: str, kinds: tuple[type, ...] | type) -> object:
    """An optional field of a check's cost (absent in documents older than it): None or `kinds`."""
    value = cost.get(key)
    if value is not None and not isinstance(value, kinds):
        raise TypeError(f"check_costs {key}")
    return value


def recompute(section: dict) -> dict:
    """The section checked, with its ratios recomputed from its samples (a stale or edited ratio
    cannot pass a goal). Raises SectionError."""
    try:
        rows = {r["variant"]: r for r in section["rows"]}
        for name in (v.name for v in variants()):
            row = rows[name]
            if not all(isinstance(row[k], (int, float)) for k in _ROW_NUMBERS) or not row["samples"]:
                raise TypeError(name)
        medians = {name: statistics.median(float(x) for x in r["samples"]) for name, r in rows.items()}
        loop = medians[LOOP.name]
        costs = [{"check": c["check"], "ns_per_block": float(c["ns_per_block"]), "share": c["share"],
                  "noise_ns": _optional(c, "noise_ns", (int, float)), "within_noise": _optional(c, "within_noise", bool)}
                 for c in section["check_costs"]]
        return {**section, "check_costs": costs,
                "ratio_loop_checks": round(medians[LOOP_CHECKS.name] / loop, 4),
                "ratio_default_checks": round(medians[DEFAULT.name] / loop, 4),
                "best_ratio_loop_checks": float(section["best_ratio_loop_checks"]),
                "best_ratio_default_checks": float(section["best_ratio_default_checks"])}
    except (KeyError, TypeError, ValueError, ZeroDivisionError, statistics.StatisticsError) as exc:
        raise SectionError(f"expected the section `stresskit bench` writes (rows of every variant with "
                           f"{', '.join(_ROW_NUMBERS)} and samples; check_costs); failed at {exc!s}") from None


def goals(section: dict | None) -> list[dict]:
    """The engine's goal, in the shape of stats.goals' entries (None section: not measured)."""
    value = None if not section else section.get("ratio_loop_checks")
    return [{
        "name": GOAL_NAME,
        "description": "engine (the loop's checks) blocks/s / minimal C loop blocks/s, 1 -> 1, 64 B",
        "bound": GOAL_BOUND,
        "condition": f">= {GOAL_BOUND:g}",
        "value": value,
        "worst_row": {"variant": LOOP_CHECKS.name} if value is not None else None,
        "met": None if value is None else value >= GOAL_BOUND,
        "points": [],
    }]


def _fmt_rate(x: float) -> str:
    return f"{x / 1e6:.2f}M"


def table_lines(section: dict) -> list[str]:
    """Markdown: the variants, then the per-check costs."""
    lines = ["| engine row (1 -> 1, 64 B) | blocks/s | min | max | ns/block | best ns/block | x loop |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in section["rows"]:
        lines.append(f"| {r['variant']} | {_fmt_rate(r['blocks_per_s'])} | {_fmt_rate(r['min'])} | "
                     f"{_fmt_rate(r['max'])} | {r['ns_per_block']:.1f} | {r['best_ns_per_block']:.1f} | "
                     f"{r['ratio_to_loop']:.2f} |")
    lines += ["", "| check (default on; best samples) | ns/block | % of the default's time per block | noise (ns/block) |",
              "|---|---:|---:|---|"]
    for c in section["check_costs"]:
        share = "-" if c["share"] is None else f"{c['share'] * 100:.1f}%"
        noise = c.get("noise_ns")  # absent in documents from before it was recorded
        noise_text = "-" if noise is None else f"+-{noise:.1f}" + (" (within the noise)" if c.get("within_noise") else "")
        lines.append(f"| {c['check']} | {c['ns_per_block']:.1f} | {share} | {noise_text} |")
    return lines


def render(section: dict, console: Console) -> None:
    """Plain tables (the markdown ones) on the console: short, greppable."""
    console.print("# engine vs minimal C loop (blocks/s; x loop = ratio)")
    for line in table_lines(section):
        console.print(line, highlight=False, soft_wrap=True)
    console.print(f"engine with the loop's checks: {section['ratio_loop_checks']:.2f}x the loop "
                  f"(best samples {section['best_ratio_loop_checks']:.2f}x); with the default checks: "
                  f"{section['ratio_default_checks']:.2f}x (best {section['best_ratio_default_checks']:.2f}x)",
                  highlight=False)


def measure_section(repeats: int, quick: bool, scale: float, seed: int) -> dict:
    blocks = max(1000, int((300_000 if quick else 2_000_000) * scale))
    return summarise(measure(repeats, blocks, seed), blocks)


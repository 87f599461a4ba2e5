"""From samples to rows: medians and spread, ratios to raw mimalloc, the seed's absolute targets
and the issue's ratio goals."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from stresskit.bench.harness import Impl, Op
from stresskit.bench.runner import Measured


def _round(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(x, digits)


def rows_from(measured: Sequence[Measured]) -> list[dict]:
    """One JSON row per (op, impl, threads, size, alignment).

    Latency rows carry `ns_per_op` (= median ns per operation), throughput rows `ops_per_s`
    (= median operations per second); `median`, `min`, `max` are in the same unit.
    `ratio_to_mimalloc` is this implementation's median over raw mimalloc's median in the same
    row: for latency > 1 means slower than mimalloc, for throughput < 1 means slower.
    """
    rows: list[dict] = []
    for m in measured:
        key = m.key
        values = {
            impl: [s.value(key.op) for s in samples] for impl, samples in m.samples.items() if samples
        }
        medians = {impl: statistics.median(v) for impl, v in values.items()}
        reference = medians.get(Impl.MIMALLOC)
        # Noise on a shared machine only ever makes a sample worse, so the best samples are the
        # steadiest estimate of the uncontended cost: their ratio is reported too (diagnostic;
        # the goals and --compare use the ratio of medians).
        best = {impl: (max(v) if key.op.is_throughput else min(v)) for impl, v in values.items()}
        best_reference = best.get(Impl.MIMALLOC)
        for impl, v in values.items():
            med = medians[impl]
            ratio = med / reference if reference else None
            samples = m.samples[impl]
            row = {
                "op": key.op.value,
                "impl": impl.value,
                "threads": key.threads,
                "size": key.size,
                "alignment": key.alignment,
            }
            unit_key = "ops_per_s" if key.op.is_throughput else "ns_per_op"
            digits = 1 if key.op.is_throughput else 3
            row[unit_key] = round(med, digits)
            row.update(
                {
                    "median": round(med, digits),
                    "min": round(min(v), digits),
                    "max": round(max(v), digits),
                    "unit": "ops/s" if key.op.is_throughput else "ns/op",
                    "ratio_to_mimalloc": _round(ratio),
                    "best_ratio_to_mimalloc": _round(best[impl] / best_reference)
                    if best_reference else None,
                    "repeats": len(v),
                    "ops_per_sample": [s.ops for s in samples],
                    "samples": [round(x, digits) for x in v],
                    "failures": sum(s.failures for s in samples),
                    "max_threads_inside": max(s.max_inside for s in samples),
                }
            )
            if m.process_medians.get(impl):
                # Several processes: the spread of these is the between-process (mode) spread.
                row["process_medians"] = [round(x, digits) for x in m.process_medians[impl]]
            if key.op.is_throughput:
                row["block_sizes"] = "16-79"
            rows.append(row)
    return rows


def find(rows: Sequence[dict], op: str, impl: str, **match) -> list[dict]:
    return [
        r
        for r in rows
        if r["op"] == op and r["impl"] == impl and all(r.get(k) == v for k, v in match.items())
    ]


# ---- the seed's absolute targets (informative: mimalloc is an order of magnitude faster) ----

@dataclass(frozen=True)
class Target:
    name: str
    op: Op
    bound: float
    below: bool  # True: the value must be < bound (latency); False: > bound (throughput)
    match: tuple[tuple[str, object], ...]
    worst_over_rows: bool = False  # judge the worst matching row (aligned: every alignment)


TARGETS = (
    Target("perf_alloc_latency", Op.ALLOC, 50.0, True, (("size", 64),)),
    Target("perf_free_latency", Op.FREE, 50.0, True, (("size", 64),)),
    Target("perf_cross_thread_free_latency", Op.CROSS_THREAD_FREE, 200.0, True, (("size", 64),)),
    Target("perf_aligned_alloc_latency", Op.ALIGNED_ALLOC, 100.0, True, (("size", 64),), True),
    Target("perf_throughput_single_thread", Op.THROUGHPUT, 10e6, False, (("threads", 1),)),
    Target("perf_throughput_multi_thread", Op.THROUGHPUT, 50e6, False, (("threads", 8),)),
)


def targets(rows: Sequence[dict], impl: str = Impl.CC.value) -> list[dict]:
    """Each seed target with the measured value for `impl` (cc) and pass/fail.

    A target whose row was not measured (e.g. `--op` left it out) has value null and passed null.
    """
    out = []
    for t in TARGETS:
        matching = find(rows, t.op.value, impl, **dict(t.match))
        entry = {
            "name": t.name,
            "impl": impl,
            "op": t.op.value,
            "bound": t.bound,
            "condition": f"{'<' if t.below else '>'} {t.bound:g} {'ns/op' if t.below else 'ops/s'}",
            "value": None,
            "row": None,
            "passed": None,
        }
        if matching:
            pick = max if t.below else min
            worst = pick(matching, key=lambda r: r["median"]) if t.worst_over_rows else matching[0]
            entry["value"] = worst["median"]
            entry["row"] = {k: worst[k] for k in ("op", "threads", "size", "alignment")}
            entry["passed"] = worst["median"] < t.bound if t.below else worst["median"] > t.bound
        out.append(entry)
    return out


# ---- the ratio goals ----

def _goal(name: str, description: str, bound: float, at_most: bool, points: list[dict]) -> dict:
    """`points` are {row..., value}; the goal is met when every point is within the bound."""
    entry = {
        "name": name,
        "description": description,
        "bound": bound,
        "condition": f"{'<=' if at_most else '>='} {bound:g}",
        "value": None,
        "worst_row": None,
        "met": None,
        "points": points,
    }
    if points:
        worst = (max if at_most else min)(points, key=lambda p: p["value"])
        entry["value"] = worst["value"]
        entry["worst_row"] = {k: v for k, v in worst.items() if k != "value"}
        entry["met"] = all((p["value"] <= bound) if at_most else (p["value"] >= bound) for p in points)
    return entry


def _ratio_points(rows: Sequence[dict], op: Op, impl: str = Impl.CC.value) -> list[dict]:
    return [
        {
            "op": r["op"],
            "threads": r["threads"],
            "size": r["size"],
            "alignment": r["alignment"],
            "value": r["ratio_to_mimalloc"],
        }
        for r in rows
        if r["op"] == op.value and r["impl"] == impl and r["ratio_to_mimalloc"] is not None
    ]


def goals(rows: Sequence[dict]) -> list[dict]:
    """The issue's goals, each judged on every row it covers (value = the worst of them)."""
    stats_points = []
    for r in rows:
        if r["op"] != Op.THROUGHPUT.value or r["impl"] != Impl.CC_STATS.value or r["threads"] < 2:
            continue
        base = find(rows, Op.THROUGHPUT.value, Impl.CC.value, threads=r["threads"])
        if base and base[0]["median"]:
            stats_points.append(
                {
                    "op": r["op"],
                    "threads": r["threads"],
                    "size": None,
                    "alignment": None,
                    "value": round(r["median"] / base[0]["median"], 4),
                }
            )
    return [
        _goal("cc_alloc_ratio", "cc alloc latency / raw mimalloc, every size", 1.10, True,
              _ratio_points(rows, Op.ALLOC)),
        _goal("cc_free_ratio", "cc free latency / raw mimalloc, every size", 1.10, True,
              _ratio_points(rows, Op.FREE)),
        _goal("cc_aligned_alloc_ratio", "cc aligned_alloc latency / raw mimalloc, every alignment",
              1.10, True, _ratio_points(rows, Op.ALIGNED_ALLOC)),
        _goal("cc_cross_thread_free_ratio", "cc cross-thread free latency / raw mimalloc", 1.15,
              True, _ratio_points(rows, Op.CROSS_THREAD_FREE)),
        _goal("cc_throughput_ratio", "cc throughput / raw mimalloc throughput, every thread count",
              0.90, False, _ratio_points(rows, Op.THROUGHPUT)),
        _goal("cc_stats_throughput_vs_cc", "cc+stats throughput / cc throughput at 2+ threads",
              0.80, False, stats_points),
    ]

"""Compare two reports of the same scenario metric by metric, with the replicas as the noise.

For each metric both reports hold: old, new, the relative change, and the spread of the
per-replica values (``workers[i].metrics``) on each side. A metric regresses when it got worse
by more than the bound *and* even the nearest replicas of the two sides (the worst old one, the
best new one) are more than the bound apart: a change inside the replicas' own scatter is
reported as "noise".
With one replica a side has no spread and the bound alone decides. Safety counters (leaks,
corruption...) regress on any rise from zero.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from stresskit.bench.machine import apart, round_trips
from stresskit.compare.directions import Direction, direction, is_safety
from stresskit.report.model import Report

Verdict = Literal["regression", "improvement", "noise", "ungated", "same", "info"]

# Shown with their direction, never failing the gate ("not gated"): tail latencies come from the
# few slowest samples of a replica, and unreclaimed memory from how the OS schedules the retiring
# and reclaiming threads; on one build both scatter 2-10x from run to run (measured on a loaded
# 2-core machine). The scenario's own thresholds bound them. A hand-off's p90 too: it includes
# waiting for room in a full queue, so it follows when the OS runs the consumer (smr's producer:
# 30 ns in both replicas of one run, 136-168 ns in the next run of the same build); its p50 is gated.
UNGATED = ("*.p99_ns", "*.p999_ns", "*.max_ns", "*.handoff.p90_ns", "unreclaimed.*")


@dataclass(frozen=True)
class Row:
    metric: str
    better: Direction
    old: float
    new: float
    change: float | None  # (new - old) / old; None when old is 0
    old_range: tuple[float, float] | None  # min, max over replicas
    new_range: tuple[float, float] | None
    verdict: Verdict


@dataclass(frozen=True)
class Comparison:
    scenario: str
    bound: float
    rows: list[Row]
    only_old: list[str]
    only_new: list[str]
    machine_note: str | None = None  # the two runs' machines differ in a way the rates follow

    @property
    def regressions(self) -> list[Row]:
        return [r for r in self.rows if r.verdict == "regression"]

    @property
    def failed(self) -> bool:
        return bool(self.regressions)

    def to_json(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "fail_above": self.bound, "verdict": "regression" if self.failed else "ok",
                "regressions": [r.metric for r in self.regressions], "metrics": [asdict(r) for r in self.rows],
                "only_in_old": self.only_old, "only_in_new": self.only_new, "machine_note": self.machine_note}


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def _range(report: Report, metric: str) -> tuple[float, float] | None:
    values = [x for w in report.workers if (x := _number((w.model_extra or {}).get("metrics", {}).get(metric))) is not None] \
        if all(isinstance((w.model_extra or {}).get("metrics", {}), dict) for w in report.workers) else []
    return (min(values), max(values)) if len(values) >= 2 else None


def _gap(better: Direction, worse: bool, old_r: tuple[float, float], new_r: tuple[float, float]) -> float:
    """How far apart the two replica ranges are, relative, in the direction of the change:
    the worst old replica against the best new one (or the reverse for an improvement).
    Negative when the ranges overlap."""
    if (better == "lower") == worse:  # new values went up
        a, b = old_r[1], new_r[0]
    else:  # new values went down
        a, b = new_r[1], old_r[0]
    base = abs(a) if a else abs(b)
    return (b - a) / base if base else 0.0


def _verdict(metric: str, better: Direction, old: float, new: float, change: float | None, bound: float,
             old_r: tuple[float, float] | None, new_r: tuple[float, float] | None, floor: float = 0.0) -> Verdict:
    if better == "neutral":
        return "info"
    if old == new or abs(new - old) <= floor:
        return "same"
    worse = new > old if better == "lower" else new < old
    if old == 0:
        return ("regression" if is_safety(metric) or new > 0 else "same") if worse else "improvement"
    size = abs(change or 0.0)
    if worse and is_safety(metric):
        return "regression"
    if size <= bound:
        return "same"
    if old_r is not None and new_r is not None and _gap(better, worse, old_r, new_r) <= bound:
        return "noise"  # the nearest replicas of the two sides are within the bound of each other
    if any(fnmatch.fnmatchcase(metric, p) for p in UNGATED):
        return "ungated"
    return "regression" if worse else "improvement"


def _timer_floor(*reports: Report) -> float:
    """A latency difference within twice the cost of the clock reads around each timed op is
    noise: every sample carries that cost, and the cost itself scatters by as much between runs
    (a 30 ns hand-off read as 61 ns on a loaded machine, with 20 ns clock reads)."""
    return 2 * max((_number(r.metrics.get("latency.timer_overhead_ns")) or 0.0 for r in reports), default=0.0)


def machine_note(old: Report, new: Report) -> str | None:
    """Why rates may differ for a reason that is not the code: the cross-core hand-off round trip
    (environment.machine.handoff_before and handoff_after) moved by more than
    stresskit.bench.machine.HANDOFF_APART x, between the two reports or during one of them."""
    a, b = round_trips(old.environment.machine), round_trips(new.environment.machine)
    if not a or not b:
        return None
    shown = {side: " / ".join(f"{v:.0f}" for v in values) for side, values in (("A", a), ("B", b))}
    where = [side for side, values in (("A", a), ("B", b)) if apart(values)]
    if where:
        what = f"changed during run {' and '.join(where)}"
    elif apart([max(a), max(b)]):
        what = "differs between the two runs"
    else:
        return None
    return (f"the machine's cross-core hand-off round trip {what} ({shown['A']} ns in A, {shown['B']} ns in B, "
            f"before / after): every rate that moves blocks between threads follows it, so part of any change "
            f"here is the machine, not the code; compare runs measured at similar round trips "
            f"(docs/metrics.md, environment)")


def compare(old: Report, new: Report, bound: float) -> Comparison:
    rows = []
    for metric in sorted(set(old.metrics) & set(new.metrics)):
        a, b = _number(old.metrics[metric]), _number(new.metrics[metric])
        if a is None or b is None:
            continue
        better = direction(metric)
        change = (b - a) / abs(a) if a else None
        old_r, new_r = _range(old, metric), _range(new, metric)
        floor = _timer_floor(old, new) if metric.endswith("_ns") else 0.0
        rows.append(Row(metric, better, a, b, change, old_r, new_r, _verdict(metric, better, a, b, change, bound, old_r, new_r, floor)))
    return Comparison(new.name, bound, rows, sorted(set(old.metrics) - set(new.metrics)), sorted(set(new.metrics) - set(old.metrics)),
                      machine_note(old, new))


def pair_up(old: list[Report], new: list[Report]) -> tuple[list[tuple[Report, Report]], list[str]]:
    """Reports matched by scenario name; the names found on one side only."""
    by_name = {r.name: r for r in old}
    pairs = [(by_name[r.name], r) for r in new if r.name in by_name]
    unmatched = sorted(set(by_name) ^ {r.name for r in new})
    return pairs, unmatched

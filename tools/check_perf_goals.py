#!/usr/bin/env python3
"""Check a `stresskit bench --json` run against issue 14's ratio goals; exit non-zero on a miss.

    stresskit bench --json bench.json && python tools/check_perf_goals.py bench.json

The goals are recomputed from the run's rows (stresskit.bench.stats.goals, the same code that
writes the JSON's `goals`), so a stale or edited `goals` block cannot pass a run whose rows miss.
Each is judged on the medians of interleaved repeats, as ratios measured in that one run:
cc alloc / free / aligned_alloc latency <= 1.10x raw mimalloc at every size, cross-thread free
<= 1.15x, cc throughput >= 0.9x raw mimalloc at every thread count, and cc+stats throughput
>= 0.8x cc at 2+ threads, and the engine with the loop's checks >= 0.8x a minimal C loop of the
same shape (1 producer -> 1 consumer, 64 B; recomputed from the engine section's samples). A goal whose rows the run did not measure (e.g. `--op throughput`
only) counts as missed unless --allow-unmeasured is given.

The goals whose rows move blocks between cores (cross-thread free, the engine row) follow the
machine's hand-off round trip. When the run's `machine.handoff_before` and `handoff_after` are
more than 2x apart, the host changed it mid-run, and those goals are reported UNTRUSTED and
count as missed: rerun on a steady machine.

Exit status: 0 every goal met; 1 a goal missed (or not measured, or untrusted); 2 the file cannot
be read as a bench run. This is a benchmark check, not a unit test: run it on a quiet machine, and read the
ratios with the noise of the machine in mind (docs/performance.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


# Goals measured by rows that hand blocks from one core to another.
HANDOFF_BOUND_GOALS = ("cc_cross_thread_free_ratio", "engine_vs_loop")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="JSON written by `stresskit bench --json`")
    parser.add_argument("--allow-unmeasured", action="store_true",
                        help="a goal with no rows in the run passes instead of failing")
    args = parser.parse_args(argv)

    from stresskit.bench import compare, engine_row, machine, stats

    try:
        rows, rest = compare.load_run(args.run)
    except compare.BaselineError as exc:
        print(f"check_perf_goals: {exc}", file=sys.stderr)
        return 2
    missed = 0
    engine = rest.get("engine") if isinstance(rest.get("engine"), dict) else None
    try:
        engine_goals = engine_row.goals(engine_row.recompute(engine) if engine else None)
    except engine_row.SectionError as exc:
        print(f"check_perf_goals: {args.run}: engine: {exc}", file=sys.stderr)
        return 2
    changed = machine.handoff_changed(rest.get("machine"))
    for goal in stats.goals(rows) + engine_goals:
        if changed and goal["name"] in HANDOFF_BOUND_GOALS and goal["met"] is not None:
            missed += 1
            print(f"{goal['name']:<28} {goal['condition']:<8} {goal['value']:>7.3f}  UNTRUSTED  ({changed})")
            continue
        if goal["met"] is None:
            verdict = "not measured" + (" (allowed)" if args.allow_unmeasured else "")
            missed += not args.allow_unmeasured
            print(f"{goal['name']:<28} {goal['condition']:<8} {'-':>7}  {verdict}")
            continue
        where = ", ".join(f"{k}={v}" for k, v in (goal["worst_row"] or {}).items() if v is not None)
        verdict = "met" if goal["met"] else "MISSED"
        missed += not goal["met"]
        print(f"{goal['name']:<28} {goal['condition']:<8} {goal['value']:>7.3f}  {verdict}  (worst: {where})")
    print(f"{'all goals met' if missed == 0 else f'{missed} goal(s) missed'}: {args.run}")
    return 0 if missed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

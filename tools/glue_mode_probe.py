"""Show the small-block "slow mode" of the glue's entry points (docs/performance.md, "The goals,
honestly"): cc_alloc against mi_malloc (or cc_free against mi_free), 16 B, before and after
statistics-on samples, with the process pinned to one core and then moved to the other.

    python tools/glue_mode_probe.py                 # 6 samples per phase, 150k allocations each
    python tools/glue_mode_probe.py --op free       # the frees instead
    STRESSKIT_NATIVE_LIB=/path/to/lib.so python tools/glue_mode_probe.py   # another build

Each line is a phase: cc and mimalloc medians (and minima) in ns per allocation. On this 2-vCPU
machine cc equals mimalloc (1.21-1.25 ns) until a statistics-on sample has run on the core, then
often reads ~0.23 ns more on that core only. A busy machine blurs every phase; run it quiet.
"""

from __future__ import annotations

import argparse
import os
import statistics

from stresskit.bench.harness import Impl, Op, Spec, run


def sample(op: Op, impl: Impl, size: int, ops: int) -> float:
    return run(Spec(op=op, impl=impl, size=size, ops=ops, warmup_ops=ops // 10)).ns_per_op


def phase(name: str, op: Op, samples: int, size: int, ops: int) -> None:
    cc, mi = [], []
    for _ in range(samples):
        cc.append(sample(op, Impl.CC, size, ops))
        mi.append(sample(op, Impl.MIMALLOC, size, ops))
    print(f"{name:>34}: cc {statistics.median(cc):.2f} (min {min(cc):.2f})  "
          f"mimalloc {statistics.median(mi):.2f} (min {min(mi):.2f})  "
          f"ratio {statistics.median(cc) / statistics.median(mi):.2f}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=6)
    ap.add_argument("--size", type=int, default=16)
    ap.add_argument("--ops", type=int, default=150_000)
    ap.add_argument("--op", choices=["alloc", "free"], default="alloc", help="the operation timed")
    args = ap.parse_args()
    op = Op(args.op)
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        ap.error("needs two usable cores (it moves itself from one to the other)")
    first, other = cores[-1], cores[0]
    pin = os.sched_setaffinity
    pin(0, {first})
    phase(f"core {first}, statistics never on", op, args.samples, args.size, args.ops)
    sample(op, Impl.CC_STATS, args.size, args.ops)
    phase(f"core {first}, after a statistics sample", op, args.samples, args.size, args.ops)
    pin(0, {other})
    phase(f"core {other} (statistics never ran here)", op, args.samples, args.size, args.ops)
    pin(0, {first})
    phase(f"core {first} again", op, args.samples, args.size, args.ops)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

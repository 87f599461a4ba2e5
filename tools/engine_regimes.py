"""The engine row's shape at several queue capacities: which regime each side runs in.

    python tools/engine_regimes.py                          # 64 .. 16384, 5 rounds of 2M blocks
    python tools/engine_regimes.py --capacities 64,1024 --rounds 9

For each capacity, the minimal C loop (`loop`) and the engine with the loop's checks
(`engine_loop_checks`) run interleaved (stresskit/bench/engine_row.py, the same samples as
`stresskit bench --op engine`, whose row is the 1024 one). Printed per capacity: the medians of
blocks/s, the engine's ratio to the loop, and the median full and empty retries per 1000 blocks.
Those say which regime a side ran in: a producer that keeps the queue full (full retries, few
empty ones) runs up to a queue's length ahead of its consumer; a queue that stays empty (empty
retries) keeps the consumer right behind the producer. A consumer right behind its producer frees
into the mimalloc page the producer allocates from, and the producer's mimalloc calls then miss
on that page's lines (measured with perf: docs/performance.md, "What binds the engine's
producer"); at 256-1024 blocks of 64 B the loop's threads work up to a page apart, at 64 on one
page. Why the loop slows again at 4096 and beyond is not measured. The machine's hand-off round trip is measured
before and after (stresskit.bench.machine.handoff_latency, printed as `stresskit bench` prints it):
every rate here scales with it.
Exit status: 0 done, 2 bad option, 3 a sample failed.
"""

from __future__ import annotations

import argparse
import statistics
import sys

from stresskit import _native
from stresskit.bench import engine_row, machine
from toolargs import capacities, positive

VARIANTS = (engine_row.LOOP, engine_row.LOOP_CHECKS)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--capacities", type=capacities, default=[64, 256, 1024, 4096, 16384])
    ap.add_argument("--rounds", type=positive, default=5)
    ap.add_argument("--blocks", type=positive, default=2_000_000)
    args = ap.parse_args()
    before = machine.handoff_latency()
    samples: dict[tuple[int, str], list[engine_row.Sample]] = {}
    warmup = min(args.blocks, 1000)
    try:
        for rnd in range(args.rounds):  # interleaved: drift lands on every capacity and both sides
            for i, cap in enumerate(args.capacities):
                order = VARIANTS if (rnd + i) % 2 == 0 else VARIANTS[::-1]
                for v in order:
                    samples.setdefault((cap, v.name), []).append(engine_row.run_one(v, args.blocks, warmup, 1, cap))
    except (engine_row.EngineRowError, _native.NativeLibraryError) as exc:
        print(f"engine_regimes: {exc}", file=sys.stderr)
        return 3
    after = machine.handoff_latency()
    print(machine.handoff_line({"handoff_before": before, "handoff_after": after}))
    print("| capacity | loop blocks/s | full/1000 | empty/1000 | engine blocks/s | full/1000 | empty/1000 | engine x loop |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for cap in args.capacities:
        cells = []
        rates = {}
        for v in VARIANTS:
            ss = samples[(cap, v.name)]
            rates[v.name] = statistics.median(s.blocks_per_s for s in ss)
            full = statistics.median(s.full_retries * 1000 / s.blocks for s in ss)
            empty = statistics.median(s.empty_retries * 1000 / s.blocks for s in ss)
            cells += [f"{rates[v.name] / 1e6:.1f}M", f"{full:.1f}", f"{empty:.1f}"]
        ratio = rates[engine_row.LOOP_CHECKS.name] / rates[engine_row.LOOP.name]
        print(f"| {cap} | " + " | ".join(cells) + f" | {ratio:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where the engine row's two threads spend their time per block, next to the minimal C loop's.

    python tools/engine_profile.py                                # capacity 1024, 4 samples of 5 M blocks a side
    python tools/engine_profile.py --capacity 4096 --rounds 2 --blocks 2000000

The row's shape (stresskit/bench/engine_row.py: 1 -> 1, 64 B, the loop's checks for the engine)
runs under `perf record -e cpu-clock`, perf's software clock, which samples where hardware
counters are missing (VMs): one recording per sample, the loop's and the engine's alternating, so
a recording's variant is known. Its two threads are told apart by what they spent most samples in:
allocating (the producer: its step, `mi_malloc`, `_mi_page_free_collect`) or freeing (the
consumer: its step, `mi_free`); a thread with neither (the interpreter, the hand-off probe) is
left out. A side's own step can have no samples at all in a short run (its time is in the
allocator and the waits), so it is not what identifies the side. A function's time
per block is its samples x the sampling period / the blocks that side moved (warm-up included), so
a side's total includes its waiting (pauses, sched_yield). mimalloc's entry points are named as
mimalloc names them even where perf shows one of their aliases (`operator delete[]`, `malloc`).
docs/performance.md ("What binds the engine's producer") quotes its output. The machine's
hand-off round trip is printed before and after: every number here scales with it.
Exit status: 0 done, 2 bad option, 3 perf missing or failed, or a sample failed.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from toolargs import capacity, positive

FREQUENCY = 10_000  # samples per second and thread: one per 100 us
STEPS = {"producer": ("step_produce", "spsc_loop_producer"), "consumer": ("step_consume", "spsc_loop_consumer")}
# What only one side does: allocate (the producer) or free (the consumer).
MARKS = {"producer": frozenset({*STEPS["producer"], "mi_malloc", "_mi_page_free_collect", "cc_alloc"}),
         "consumer": frozenset({*STEPS["consumer"], "mi_free", "cc_free"})}
VARIANTS = {"engine": "engine_loop_checks", "loop": "loop"}  # as shown -> stresskit/bench/engine_row.py
# Where perf names one of mimalloc's aliases (the archive's override symbols share the address).
MIMALLOC_ALIASES = {"operator delete[]": "mi_free", "operator delete": "mi_free", "free": "mi_free",
                    "cfree": "mi_free", "__libc_free": "mi_free", "malloc": "mi_malloc", "__libc_malloc": "mi_malloc"}


def worker(variant_name: str, capacity: int, blocks: int) -> int:
    """One sample of one variant in this (profiled) process."""
    from stresskit import _native
    from stresskit.bench import engine_row

    variant = {v.name: v for v in (engine_row.LOOP, engine_row.LOOP_CHECKS)}[variant_name]
    try:
        engine_row.run_one(variant, blocks, min(blocks, 1000), 1, capacity)
    except (engine_row.EngineRowError, _native.NativeLibraryError) as exc:
        print(f"engine_profile: {exc}", file=sys.stderr)
        return 3
    return 0


_LINE = re.compile(r"^\s*(\d+)\s+[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$")


def attribute(script: str) -> dict[str, collections.Counter[str]]:
    """One recording's perf script lines (``tid ip symbol+off (dso)``) -> samples per function for
    each side; threads that neither allocate nor free are left out."""
    per_thread: dict[int, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for line in script.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        tid, sym, dso = int(m.group(1)), re.sub(r"\+0x[0-9a-f]+$", "", m.group(2)), m.group(3)
        if "stresskit_native" in dso:
            sym = MIMALLOC_ALIASES.get(sym, sym)
        per_thread[tid][sym] += 1
    out: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for counts in per_thread.values():
        marks = {side: sum(n for sym, n in counts.items() if sym in names) for side, names in MARKS.items()}
        side = max(marks, key=lambda k: marks[k])
        if marks[side] > 0:
            out[side].update(counts)
    return out


def table(side: str, found: dict, moved: dict[str, int], top: int) -> list[str]:
    ns = {v: {sym: n * 1e9 / FREQUENCY / moved[v] for sym, n in found.get((v, side), {}).items()} if moved[v] else {}
          for v in moved}
    names = list(STEPS[side])  # each variant's own step, always shown
    for v in ("engine", "loop"):
        for sym, _ in sorted(ns[v].items(), key=lambda kv: -kv[1])[:top]:
            if sym not in names:
                names.append(sym)
    lines = [f"| {side}: ns per block | engine | loop |", "|---|---:|---:|"]
    for sym in names:
        lines.append(f"| {sym} | {ns['engine'].get(sym, 0.0):.2f} | {ns['loop'].get(sym, 0.0):.2f} |")
    lines.append(f"| all (waiting included) | {sum(ns['engine'].values()):.2f} | {sum(ns['loop'].values()):.2f} |")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--capacity", type=capacity, default=1024)
    ap.add_argument("--rounds", type=positive, default=4)
    ap.add_argument("--blocks", type=positive, default=5_000_000)
    ap.add_argument("--top", type=positive, default=6, help="functions shown per side and variant")
    ap.add_argument("--worker", choices=sorted(VARIANTS.values()), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker, args.capacity, args.blocks)
    perf = shutil.which("perf")
    if perf is None:
        print("engine_profile: perf not found: install it (Debian: apt-get install linux-perf)", file=sys.stderr)
        return 3
    from stresskit.bench import machine

    before = machine.handoff_latency()
    found: dict[tuple[str, str], collections.Counter[str]] = collections.defaultdict(collections.Counter)
    moved = {v: 0 for v in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        data = str(Path(tmp) / "perf.data")
        for rnd in range(args.rounds):
            for shown in (("loop", "engine") if rnd % 2 == 0 else ("engine", "loop")):  # interleaved
                got = profile_one(perf, data, VARIANTS[shown], args.capacity, args.blocks)
                if isinstance(got, str):
                    print(f"engine_profile: {got}", file=sys.stderr)
                    return 3
                for side, counts in got.items():
                    found[(shown, side)].update(counts)
                moved[shown] += args.blocks + min(args.blocks, 1000)
    after = machine.handoff_latency()
    print(machine.handoff_line({"handoff_before": before, "handoff_after": after},
                               "this profile straddles two machines, rerun it"))
    print(f"capacity {args.capacity}, {args.rounds} x {args.blocks} blocks a side, cpu-clock at {FREQUENCY} Hz")
    for side in ("producer", "consumer"):
        print()
        print("\n".join(table(side, found, moved, args.top)))
    return 0


def profile_one(perf: str, data: str, variant: str, capacity: int, blocks: int) -> dict | str:
    """One sample of `variant` recorded by perf: samples per function for each side, or why not."""
    rec = subprocess.run([perf, "record", "-q", "-e", "cpu-clock", "-F", str(FREQUENCY), "-o", data, "--",
                          sys.executable, __file__, "--worker", variant, "--capacity", str(capacity),
                          "--blocks", str(blocks)], capture_output=True, text=True, check=False,
                         stdin=subprocess.DEVNULL)
    if rec.returncode != 0:
        last = (rec.stderr.strip().splitlines() or [f"exit status {rec.returncode}"])[-1]
        return last.removeprefix("engine_profile: ") if last.startswith("engine_profile: ") else f"perf record failed: {last}"
    script = subprocess.run([perf, "script", "-i", data, "-F", "tid,ip,sym,dso"], capture_output=True,
                            text=True, check=False, env={**os.environ, "PAGER": "cat"})
    if script.returncode != 0:
        return f"perf script failed: {(script.stderr.strip().splitlines() or ['no output'])[-1]}"
    return attribute(script.stdout)


if __name__ == "__main__":
    sys.exit(main())

"""Where the engine row's two threads spend their time per block, next to the minimal C loop's.

    python tools/engine_profile.py                                # capacity 1024, 4 samples of 5 M blocks a side
    python tools/engine_profile.py --capacity 4096 --rounds 2 --blocks 2000000

The row's shape (stresskit/bench/engine_row.py: 1 -> 1, 64 B, the loop's checks for the engine)
runs under `perf record -e cpu-clock`, perf's software clock, which samples where hardware
counters are missing (VMs). Each sample's two threads are told apart by the functions they ran
(`step_produce` / `spsc_loop_producer`, `step_consume` / `spsc_loop_consumer`). A function's time
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
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from toolargs import capacity, positive

FREQUENCY = 10_000  # samples per second and thread: one per 100 us
SIDES = {"step_produce": "producer", "spsc_loop_producer": "producer",
         "step_consume": "consumer", "spsc_loop_consumer": "consumer"}
# Where perf names one of mimalloc's aliases (the archive's override symbols share the address).
MIMALLOC_ALIASES = {"operator delete[]": "mi_free", "operator delete": "mi_free", "free": "mi_free",
                    "cfree": "mi_free", "__libc_free": "mi_free", "malloc": "mi_malloc", "__libc_malloc": "mi_malloc"}


def worker(capacity: int, rounds: int, blocks: int) -> int:
    """The samples, loop and engine alternating, in this (profiled) process; prints what moved."""
    from stresskit import _native
    from stresskit.bench import engine_row, machine

    before = machine.handoff_latency()
    moved = {"loop": 0, "engine": 0}
    warmup = min(blocks, 1000)
    try:
        for _ in range(rounds):
            for name, variant in (("loop", engine_row.LOOP), ("engine", engine_row.LOOP_CHECKS)):
                engine_row.run_one(variant, blocks, warmup, 1, capacity)
                moved[name] += blocks + warmup
    except (engine_row.EngineRowError, _native.NativeLibraryError) as exc:
        print(f"engine_profile: {exc}", file=sys.stderr)
        return 3
    print(json.dumps({"moved": moved, "handoff_before": before, "handoff_after": machine.handoff_latency()}))
    return 0


_LINE = re.compile(r"^\s*(\d+)\s+[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$")


def attribute(script: str) -> dict[tuple[str, str], collections.Counter[str]]:
    """perf script lines (``tid ip symbol+off (dso)``) -> samples per function for each
    (variant, side); threads that ran neither side's step (the interpreter) are left out."""
    per_thread: dict[int, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for line in script.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        tid, sym, dso = int(m.group(1)), re.sub(r"\+0x[0-9a-f]+$", "", m.group(2)), m.group(3)
        if "stresskit_native" in dso:
            sym = MIMALLOC_ALIASES.get(sym, sym)
        per_thread[tid][sym] += 1
    out: dict[tuple[str, str], collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for counts in per_thread.values():
        side = next((SIDES[s] for s in counts if s in SIDES), None)
        if side is None:
            continue
        variant = "engine" if any(s.startswith("step_") for s in counts) else "loop"
        out[(variant, side)].update(counts)
    return out


def table(side: str, found: dict, moved: dict[str, int], top: int) -> list[str]:
    ns = {v: {sym: n * 1e9 / FREQUENCY / moved[v] for sym, n in found.get((v, side), {}).items()} for v in moved}
    names = [step for step, s in SIDES.items() if s == side]  # each variant's own step, always shown
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
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args.capacity, args.rounds, args.blocks)
    perf = shutil.which("perf")
    if perf is None:
        print("engine_profile: perf not found: install it (Debian: apt-get install linux-perf)", file=sys.stderr)
        return 3
    with tempfile.TemporaryDirectory() as tmp:
        data = str(Path(tmp) / "perf.data")
        rec = subprocess.run([perf, "record", "-q", "-e", "cpu-clock", "-F", str(FREQUENCY), "-o", data, "--",
                              sys.executable, __file__, "--worker", "--capacity", str(args.capacity),
                              "--rounds", str(args.rounds), "--blocks", str(args.blocks)],
                             capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
        if rec.returncode != 0:
            last = (rec.stderr.strip().splitlines() or [f"exit status {rec.returncode}"])[-1]
            print(last if last.startswith("engine_profile: ") else f"engine_profile: perf record failed: {last}",
                  file=sys.stderr)
            return 3
        script = subprocess.run([perf, "script", "-i", data, "-F", "tid,ip,sym,dso"], capture_output=True,
                                text=True, check=False, env={**os.environ, "PAGER": "cat"})
        if script.returncode != 0:
            last = (script.stderr.strip().splitlines() or ["no output"])[-1]
            print(f"engine_profile: perf script failed: {last}", file=sys.stderr)
            return 3
    try:
        result = json.loads(rec.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        print("engine_profile: the profiled samples printed no result", file=sys.stderr)
        return 3
    from stresskit.bench import output

    found = attribute(script.stdout)
    print(output.handoff_line({"handoff_before": result["handoff_before"], "handoff_after": result["handoff_after"]}))
    print(f"capacity {args.capacity}, {args.rounds} x {args.blocks} blocks a side, cpu-clock at {FREQUENCY} Hz")
    for side in ("producer", "consumer"):
        print()
        print("\n".join(table(side, found, result["moved"], args.top)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

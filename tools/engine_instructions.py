"""Instructions per block of the engine row's shape (docs/performance.md, "The per-block path,
reworked"): the minimal loop, the engine with the loop's checks and the engine with the default
checks, each counted by valgrind's callgrind inside the two hand-off threads only.

    python tools/engine_instructions.py                 # 200k blocks each, ~1 min
    python tools/engine_instructions.py --blocks 50000
    STRESSKIT_NATIVE_LIB=/path/to/lib.so python tools/engine_instructions.py   # another build

Instruction counts do not depend on what else the machine is doing, so two builds compare
exactly where their timings on this shared machine would not. The count covers both threads'
loops (the producer's and the consumer's, mimalloc's calls included), warm-up blocks included,
divided by all the blocks they moved; not the set-up, the drain or the invariant checks after the
run. Under callgrind the threads run one at a time, so waiting (back-off) is counted too, and it
depends on how the scheduler interleaved them: it stays a few percent of the total, read the
numbers to +-2 %.
Exit status: 0 done, 2 bad option, 3 valgrind is missing or a run failed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# The functions each hand-off thread runs: counting starts and stops with them.
THREAD_FUNCTIONS = ("spsc_loop_producer", "spsc_loop_consumer", "spsc_engine_thread")
VARIANTS = ("loop", "engine_loop_checks", "engine_default")


def _worker(name: str, blocks: int) -> int:
    from stresskit.bench import engine_row

    variant = {v.name: v for v in engine_row.variants()}[name]
    sample = engine_row.run_one(variant, blocks, warmup=min(blocks, 1000), seed=1)
    if sample.bad_blocks:
        print(f"{name}: {sample.bad_blocks} bad blocks", file=sys.stderr)
        return 1
    return 0


def _count(name: str, blocks: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
               *(f"--toggle-collect={f}" for f in THREAD_FUNCTIONS),
               sys.executable, __file__, "--worker", name, "--blocks", str(blocks)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
        if proc.returncode != 0 or not out.is_file():
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"{name} under callgrind failed (exit {proc.returncode}): {tail}")
        totals = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.M)
        if totals is None:
            raise RuntimeError(f"{name}: callgrind wrote no totals to {out}")
        return int(totals.group(1))


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=200_000, help="measured blocks per variant (default 200000)")
    ap.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if not 1 <= args.blocks <= 10_000_000:
        ap.error("--blocks must be in 1..10000000")
    if args.worker:
        return _worker(args.worker, args.blocks)
    if shutil.which("valgrind") is None:
        print("engine_instructions: valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 3
    moved = args.blocks + min(args.blocks, 1000)
    lib = os.environ.get("STRESSKIT_NATIVE_LIB", "the installed library")
    print(f"instructions per block, {args.blocks} blocks (+ warm-up), both hand-off threads; {lib}")
    per_block: dict[str, float] = {}
    try:
        for name in VARIANTS:
            per_block[name] = _count(name, args.blocks) / moved
            print(f"{name:<20} {per_block[name]:8.0f}", flush=True)
    except RuntimeError as exc:
        print(f"engine_instructions: {exc}", file=sys.stderr)
        return 3
    print(f"x loop: loop's checks {per_block['engine_loop_checks'] / per_block['loop']:.2f}, "
          f"default checks {per_block['engine_default'] / per_block['loop']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

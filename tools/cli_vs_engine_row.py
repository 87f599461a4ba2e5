"""What `stresskit run` adds to the engine: the engine row's shape (tools/shapes/engine_row.toml: 1
producer -> queue of 1024 -> 1 consumer, 64 B, statistics off, default checks) run through the CLI,
interleaved with the engine row's own samples of the same shape (`engine_default`: the engine driven
from C, every default check on) and the minimal C loop (`loop`).

    python tools/cli_vs_engine_row.py                # 5 rounds of 2M blocks each
    python tools/cli_vs_engine_row.py --rounds 9 --blocks 4000000

Prints each round and the medians: blocks/s of the three, the CLI's rate over the engine row's, and
both ratios to the loop. The CLI's rate is the consumer's blocks over its measured window
(`roles.consumer.ops_per_s`; start-up and warm-up are reported apart, `time.*`). Exit 0 when the
CLI's ratio to the loop is within +-15 % of the engine row's, 1 when it is not, 2 on a failed run.
Noise on a shared machine moves all three; run it quiet (docs/performance.md has a run).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stresskit.bench import engine_row
from toolargs import positive

SHAPE = Path(__file__).resolve().parent / "shapes" / "engine_row.toml"
TOLERANCE = 0.15


def cli_sample(blocks: int, out: Path) -> dict:
    """One `stresskit run` of the shape; its consumer's rate and the report's time split."""
    cmd = [sys.executable, "-c", "from stresskit.cli import main; main()", "run", str(SHAPE),
           "--json", str(out), "-q", "--ops", str(blocks)]
    proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {(proc.stdout + proc.stderr).strip()[-2000:]}")
    doc = json.loads(out.read_text())
    m = doc["metrics"]
    machine = doc.get("environment", {}).get("machine", {})
    return {"blocks_per_s": m["roles.consumer.ops_per_s"], "startup_s": m["time.startup_s"],
            "warmup_s": m["time.warmup_s"], "measured_s": m["time.measured_s"],
            "handoff_ns": (machine.get("handoff_before") or {}).get("round_trip_ns"),
            "handoff_after_ns": (machine.get("handoff_after") or {}).get("round_trip_ns")}


def _ns(value: float | None) -> str:
    return "not measured" if value is None else f"{value:.0f} ns"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=positive, default=5)
    ap.add_argument("--blocks", type=positive, default=2_000_000)
    args = ap.parse_args()
    rates: dict[str, list[float]] = {"loop": [], "engine_default": [], "cli": []}
    warmup = min(args.blocks, 1000)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run.json"
        for r in range(args.rounds):
            t0 = time.monotonic()
            try:
                loop = engine_row.run_one(engine_row.LOOP, args.blocks, warmup, 1 + r)
                engine = engine_row.run_one(engine_row.DEFAULT, args.blocks, warmup, 1 + r)
                cli = cli_sample(args.blocks, out)
            except (RuntimeError, engine_row.EngineRowError) as exc:
                print(f"cli_vs_engine_row: {exc}", file=sys.stderr)
                return 2
            rates["loop"].append(loop.blocks_per_s)
            rates["engine_default"].append(engine.blocks_per_s)
            rates["cli"].append(cli["blocks_per_s"])
            print(f"round {r + 1}: loop {loop.blocks_per_s / 1e6:6.2f} M  engine row {engine.blocks_per_s / 1e6:6.2f} M  "
                  f"cli {cli['blocks_per_s'] / 1e6:6.2f} M blocks/s  (cli start-up {cli['startup_s'] * 1e3:.1f} ms, "
                  f"warm-up {cli['warmup_s'] * 1e3:.2f} ms, measured {cli['measured_s']:.3f} s; "
                  f"hand-off {_ns(cli['handoff_ns'])} before, {_ns(cli['handoff_after_ns'])} after; "
                  f"round {time.monotonic() - t0:.1f} s)",
                  flush=True)
    med = {k: statistics.median(v) for k, v in rates.items()}
    engine_ratio = med["engine_default"] / med["loop"]
    cli_ratio = med["cli"] / med["loop"]
    print(f"medians: loop {med['loop'] / 1e6:.2f} M, engine row {med['engine_default'] / 1e6:.2f} M, "
          f"cli {med['cli'] / 1e6:.2f} M blocks/s")
    print(f"cli / engine row: {med['cli'] / med['engine_default']:.3f}; x loop: engine row {engine_ratio:.3f}, "
          f"cli {cli_ratio:.3f}")
    lo, hi = min(rates["cli"]) / med["cli"] - 1, max(rates["cli"]) / med["cli"] - 1
    print(f"cli runs: {lo:+.0%} .. {hi:+.0%} of their median (the machine's hand-off round trip is in each round: "
          f"runs are comparable at similar round trips)")
    same = abs(cli_ratio / engine_ratio - 1) <= TOLERANCE
    print(f"the CLI's ratio to the loop is {'within' if same else 'NOT within'} +-{TOLERANCE:.0%} of the engine row's")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())

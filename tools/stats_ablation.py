"""Where statistics-on throughput goes (docs/performance.md, "The goals, honestly"; issue 14 item 1):
the bench's throughput loop (1 thread, random 16-79 B, free + allocate per op) with statistics on
and off, on the shipped glue and on builds with parts of the counting taken out.

    python tools/stats_ablation.py                  # 7 rounds, ~1 min (first run: ~1 min of builds)
    python tools/stats_ablation.py --rounds 11 --duration-ms 200

Variants (each a patched copy of native/, built and cached like the mutation tier's libraries):
  shipped              the glue as it is
  free_by_size_hint    a counted free counts the class of its size argument: no mi_usable_size
                       (what trusting cc_free's size would cost; wrong for cc_free_unsized)
  free_uncounted       a free while statistics are on is routed to the slow path and not counted
  alloc_uncounted      the same for allocations (frees counted as shipped)
  routing_only         neither counted: what is left is the statistics path's jumps

Every variant is measured in its own process pinned to one core (the cross-core hand-off of a
shared VM is not what this measures), statistics-on and -off samples interleaved, variants
interleaved round by round. The ratio is on/off in the same process, median over the rounds.
The variants are measurement builds only: their statistics are wrong by construction.
Exit status: 0 done, 2 bad option, 3 a build or a measurement failed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import _cache_lock  # noqa: E402  (tests/conftest.py: the shared cache and its lock)
from mutation.build import BuildError, Workspace  # noqa: E402
from mutation.mutants import Mutant  # noqa: E402

_COUNTED_FREE = "    if (cc_stats_active()) count_free(ptr);\n    mi_free(ptr);"
_ALLOC_SLOW = "CC_NOINLINE void *cc_alloc_slow(size_t size) {\n    if (size == 0) return NULL;\n"
_NOT_COUNTED_ALLOC = _ALLOC_SLOW + "    return mi_malloc(at_least_min_block(size));\n"
_HINT_FREE = """    if (cc_stats_active() && size - 1 < CC_STATS_CLASS_MAX) {
        cc_stats_record_t *r = cc_stats_self();
        if (r != NULL) cc_stats_add(&r->free_class[cc_stats_class_of(size)], 1);
    }
    mi_free(ptr);"""


def _variant(name: str, description: str, *edits: tuple[str, str, str]) -> Mutant:
    return Mutant(name=name, description=description, oracle="", edits=tuple(edits))


VARIANTS = (
    _variant("free_by_size_hint", "free counts its size argument's class", ("alloc.c", _COUNTED_FREE, _HINT_FREE)),
    _variant("free_uncounted", "frees not counted", ("alloc.c", _COUNTED_FREE, "    mi_free(ptr);")),
    _variant("alloc_uncounted", "allocations not counted", ("alloc.c", _ALLOC_SLOW, _NOT_COUNTED_ALLOC)),
    _variant("routing_only", "nothing counted", ("alloc.c", _COUNTED_FREE, "    mi_free(ptr);"),
             ("alloc.c", _ALLOC_SLOW, _NOT_COUNTED_ALLOC)),
)


def _worker(duration_ms: int) -> int:
    """One round in this process (its library comes from STRESSKIT_NATIVE_LIB): off, on, off, on."""
    from stresskit.bench.harness import Impl, Op, Spec, run

    out: dict[str, list[float]] = {"off": [], "on": []}
    for impl, key in ((Impl.CC, "off"), (Impl.CC_STATS, "on")) * 2:
        spec = Spec(op=Op.THROUGHPUT, impl=impl, threads=1, duration_ms=duration_ms, warmup_ops=10_000, seed=7)
        out[key].append(run(spec).ops_per_s)
    print(json.dumps({k: max(v) for k, v in out.items()}))
    return 0


def _measure(lib: Path | None, duration_ms: int, core: int) -> dict[str, float]:
    env = dict(os.environ)
    if lib is not None:
        env["STRESSKIT_NATIVE_LIB"] = str(lib)
    cmd = ["taskset", "-c", str(core), sys.executable, __file__, "--worker", "--duration-ms", str(duration_ms)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"measurement with {lib or 'the shipped library'} failed: {tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7, help="measurement rounds (default 7)")
    ap.add_argument("--duration-ms", type=int, default=100, help="throughput window per sample (default 100)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.rounds < 1 or not 1 <= args.duration_ms <= 10_000:
        ap.error("--rounds must be >= 1 and --duration-ms in 1..10000")
    if args.worker:
        return _worker(args.duration_ms)
    libs: dict[str, Path | None] = {"shipped": None}
    with tempfile.TemporaryDirectory() as tmp, _cache_lock("mutants") as root:
        try:
            workspace = Workspace(Path(tmp) / "ws")
            for v in VARIANTS:
                libs[v.name] = workspace.library(v, root / "mutants")
        except BuildError as exc:
            print(f"stats_ablation: {str(exc).splitlines()[0]}", file=sys.stderr)
            return 3
    core = sorted(os.sched_getaffinity(0))[-1]
    ratios: dict[str, list[float]] = {name: [] for name in libs}
    on: dict[str, list[float]] = {name: [] for name in libs}
    off: dict[str, list[float]] = {name: [] for name in libs}
    try:
        for _ in range(args.rounds):
            for name, lib in libs.items():
                m = _measure(lib, args.duration_ms, core)
                on[name].append(m["on"])
                off[name].append(m["off"])
                ratios[name].append(m["on"] / m["off"])
    except RuntimeError as exc:
        print(f"stats_ablation: {exc}", file=sys.stderr)
        return 3
    removed = {"shipped": "-", **{v.name: v.description for v in VARIANTS}}
    print(f"throughput, 1 thread pinned to core {core}, {args.rounds} rounds; M ops/s are medians")
    print(f"{'variant':<20} {'stats on':>9} {'stats off':>9} {'on/off':>7}  {'min..max':>11}  removed")
    for name in libs:
        r = ratios[name]
        print(f"{name:<20} {statistics.median(on[name]) / 1e6:>9.1f} {statistics.median(off[name]) / 1e6:>9.1f} "
              f"{statistics.median(r):>7.3f}  {min(r):.3f}..{max(r):.3f}  {removed[name]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

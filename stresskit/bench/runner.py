"""What to measure and in which order: the row plan, interleaving and repeats.

Order matters on a shared machine: every repeat is a pass over all rows, and within a row all
implementations run back to back (A B C D, then B C D A, ...), so slow drift (another process,
frequency changes) lands on all of them alike and the ratios stay meaningful. The starting
implementation rotates so none always runs first (or right after the previous row's last one).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from stresskit.bench.harness import IMPLS, Impl, Op, Sample, Spec, run

LATENCY_SIZES_FULL = (8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384, 65536, 262144, 1 << 20)
LATENCY_SIZES_QUICK = (8, 64, 512, 4096, 65536, 1 << 20)
ALIGNMENTS_FULL = (8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
ALIGNMENTS_QUICK = (8, 64, 512, 4096)
THREADS = (1, 2, 4, 8, 16)
ALIGNED_SIZE = 64  # the block size of the aligned_alloc sweep
CROSS_THREAD_SIZE = 64

# Rows whose samples spread this wide (interquartile range over median, any implementation) get
# extra passes after the main ones, up to half the repeats again: on a shared machine a few rows
# (the 2048/4096 alignments, 25-200 ns) spread 3-8x while their neighbours stay tight, and their
# medians then decided goals by noise. Judged only from SETTLE_MIN_REPEATS samples up.
WIDE_SPREAD = 0.2
SETTLE_MIN_REPEATS = 5


@dataclass(frozen=True)
class Config:
    """Everything that decides how long a run takes and what it covers."""

    quick: bool
    repeats: int
    latency_ops: int  # timed operations per latency sample at sizes <= 4 KiB
    min_latency_ops: int  # floor for the big sizes, whose op count shrinks with the size
    window_ms: int  # throughput window per sample
    warmup_fraction: float
    sizes: tuple[int, ...]
    alignments: tuple[int, ...]
    threads: tuple[int, ...]
    ops: tuple[Op, ...]
    seed: int = 1
    processes: int = 1  # fresh processes the latency rows are split over (stresskit.bench.processes)

    @classmethod
    def make(
        cls,
        quick: bool,
        repeats: int | None = None,
        scale: float = 1.0,
        threads: Sequence[int] | None = None,
        ops: Sequence[Op] | None = None,
        seed: int = 1,
        processes: int | None = None,
    ) -> Config:
        base_ops, window, default_repeats = (20_000, 30, 7) if quick else (150_000, 120, 11)
        default_processes = 2 if quick else 3
        return cls(
            quick=quick,
            repeats=repeats if repeats is not None else default_repeats,
            latency_ops=max(64, int(base_ops * scale)),
            min_latency_ops=max(32, int((400 if quick else 2000) * scale)),
            window_ms=max(1, int(window * scale)),
            warmup_fraction=0.1,
            sizes=LATENCY_SIZES_QUICK if quick else LATENCY_SIZES_FULL,
            alignments=ALIGNMENTS_QUICK if quick else ALIGNMENTS_FULL,
            threads=tuple(sorted(set(threads))) if threads else THREADS,
            # Repeating an --op (or a thread count) must not measure its rows twice.
            ops=tuple(o for o in Op if o in set(ops)) if ops else tuple(Op),
            seed=seed,
            processes=processes if processes is not None else default_processes,
        )

    def as_dict(self) -> dict:
        return {
            "quick": self.quick,
            "repeats": self.repeats,
            "latency_ops": self.latency_ops,
            "min_latency_ops": self.min_latency_ops,
            "window_ms": self.window_ms,
            "warmup_fraction": self.warmup_fraction,
            "sizes": list(self.sizes),
            "alignments": list(self.alignments),
            "threads": list(self.threads),
            "ops": [o.value for o in self.ops],
            "seed": self.seed,
            "processes": self.processes,
        }


@dataclass(frozen=True)
class RowKey:
    """Identifies a row across runs: what `--compare` matches on."""

    op: Op
    threads: int
    size: int | None
    alignment: int | None

    def spec(self, impl: Impl, cfg: Config) -> Spec:
        if self.op.is_throughput:
            return Spec(
                op=self.op,
                impl=impl,
                threads=self.threads,
                duration_ms=cfg.window_ms,
                warmup_ops=max(1000, int(cfg.latency_ops * cfg.warmup_fraction)),
                seed=cfg.seed,
            )
        ops = cfg.latency_ops
        size = self.size or 1
        if size > 4096:
            # Big blocks cost microseconds each (the OS is involved); keep samples short.
            ops = max(cfg.min_latency_ops, ops * 4096 // size)
        return Spec(
            op=self.op,
            impl=impl,
            threads=self.threads,
            size=self.size,
            alignment=self.alignment,
            ops=ops,
            # At least one full batch (up to 1024 blocks): a sample runs on a fresh thread whose
            # heap starts empty, and the first batch pays for claiming pages.
            warmup_ops=max(int(ops * cfg.warmup_fraction), min(ops, 1024)),
            seed=cfg.seed,
        )


def plan(cfg: Config) -> list[RowKey]:
    """The rows of a run, in the order they are measured."""
    keys: list[RowKey] = []
    for op in cfg.ops:
        if op in (Op.ALLOC, Op.FREE):
            keys += [RowKey(op, 1, s, None) for s in cfg.sizes]
        elif op is Op.ALIGNED_ALLOC:
            keys += [RowKey(op, 1, ALIGNED_SIZE, a) for a in cfg.alignments]
        elif op is Op.CROSS_THREAD_FREE:
            keys.append(RowKey(op, 2, CROSS_THREAD_SIZE, None))
        else:
            keys += [RowKey(op, t, None, None) for t in cfg.threads]
    return keys


@dataclass
class Measured:
    """All samples of one row, per implementation."""

    key: RowKey
    samples: dict[Impl, list[Sample]] = field(default_factory=dict)
    # Each process's own median per impl, when the row was measured in several processes.
    process_medians: dict[Impl, list[float]] = field(default_factory=dict)


Progress = Callable[[RowKey, int, int], None]


def measure(
    cfg: Config,
    impls: Sequence[Impl] = IMPLS,
    on_step: Progress | None = None,
    runner: Callable[[Spec], Sample] = run,
) -> tuple[list[Measured], float]:
    """Measure every row of the plan; returns the rows and the wall time it took (s).

    The repeat loop is the outermost: each pass measures every row once, each row running all
    implementations back to back. So a row's samples are spread over the whole run, and a busy
    minute on a shared machine lands on every row and every implementation, not on the one that
    happened to be measured then (which would bend the throughput-vs-threads curve).
    """
    started = time.perf_counter()
    keys = plan(cfg)
    out = [Measured(key, {impl: [] for impl in impls}) for key in keys]
    steps = cfg.repeats * len(keys)

    def one_row(rep: int, index: int, m: Measured, step: int) -> None:
        if on_step is not None:
            on_step(m.key, step, steps)
        shift = (rep + index) % len(impls)
        for impl in tuple(impls[shift:]) + tuple(impls[:shift]):
            m.samples[impl].append(runner(m.key.spec(impl, cfg)))

    for rep in range(cfg.repeats):
        for index, m in enumerate(out):
            one_row(rep, index, m, rep * len(keys) + index)
    # Settle passes: the wide rows again, interleaved and rotated as before, until they tighten.
    done = steps
    for rep in range(cfg.repeats, cfg.repeats + settle_passes(cfg.repeats)):
        wide = [(index, m) for index, m in enumerate(out) if is_wide(m)]
        if not wide:
            break
        steps += len(wide)
        for index, m in wide:
            one_row(rep, index, m, done)
            done += 1
    return out, time.perf_counter() - started


def settle_passes(repeats: int) -> int:
    """How many extra passes a wide row may get after `repeats` main ones."""
    return repeats // 2 if repeats >= SETTLE_MIN_REPEATS else 0


def is_wide(m: Measured) -> bool:
    """Whether any implementation's samples in the row spread wider than WIDE_SPREAD."""
    for samples in m.samples.values():
        values = [s.value(m.key.op) for s in samples]
        if len(values) < SETTLE_MIN_REPEATS:
            continue
        q1, _, q3 = statistics.quantiles(values, n=4)
        median = statistics.median(values)
        if median > 0 and (q3 - q1) / median > WIDE_SPREAD:
            return True
    return False

"""Latency rows measured in several fresh processes, so a run's ratio is not one draw.

The small-block latency rows (8-256 B) are bimodal *between* processes: the same library gave
free 8 B at 1.01x raw mimalloc in one process and 1.38x in the next, while the samples within
one process agree (docs/performance.md, "Several processes"). A mode, once drawn, holds for the
rest of the process (for cc_alloc it was traced to the core's branch predictor after statistics
samples; mimalloc's own rows still vary between processes), so more repeats in one process
cannot average it out; more processes can. The latency passes are therefore split over
`cfg.processes` freshly *spawned* interpreters (a fork would inherit the parent's state, i.e. the
same draw), run one after another (never at
once: they would time each other on 2 cores), each interleaved and rotated as before. A row's
median is over all samples of all processes; each process's own median is kept beside it.
Throughput and cross-thread rows stay in this process: they are not bimodal.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import get_context
from typing import TypeVar

from stresskit.bench.harness import IMPLS, Impl, Op
from stresskit.bench.runner import Config, Measured, Progress, measure, plan

LATENCY_OPS = (Op.ALLOC, Op.FREE, Op.ALIGNED_ALLOC)

T = TypeVar("T")
MeasureOne = Callable[[Config, Sequence[Impl]], list[Measured]]


def _measure_here(cfg: Config, impls: Sequence[Impl]) -> list[Measured]:
    """What a spawned process runs: the plain interleaved measurement of its share."""
    return measure(cfg, impls)[0]


def in_fresh_process(fn: Callable[..., T], *args: object) -> T:
    """fn(*args) in a brand-new interpreter: spawn, not fork, so the layout is drawn anew."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def spawned(cfg: Config, impls: Sequence[Impl]) -> list[Measured]:
    return in_fresh_process(_measure_here, cfg, tuple(impls))


def share(repeats: int, processes: int) -> int:
    """Repeats per process: the run's repeats split, so N processes cost about what 1 did."""
    return max(1, math.ceil(repeats / processes))


def merge(per_process: Sequence[Sequence[Measured]]) -> list[Measured]:
    """One Measured per row: all processes' samples, and each process's median per impl.

    Every process measured the same plan, so rows line up by position; a mismatch is a bug."""
    merged: list[Measured] = []
    for rows in zip(*per_process, strict=True):
        key = rows[0].key
        if any(r.key != key for r in rows):
            raise ValueError(f"processes measured different rows: {[r.key for r in rows]}")
        m = Measured(key, {impl: [] for impl in rows[0].samples}, {impl: [] for impl in rows[0].samples})
        for row in rows:
            for impl, samples in row.samples.items():
                m.samples[impl].extend(samples)
                if samples:
                    m.process_medians[impl].append(statistics.median(s.value(key.op) for s in samples))
        merged.append(m)
    return merged


def measure_all(
    cfg: Config,
    impls: Sequence[Impl] = IMPLS,
    on_step: Progress | None = None,
    measure_one: MeasureOne = spawned,
) -> tuple[list[Measured], float]:
    """The whole plan: latency rows over `cfg.processes` processes, the rest in this one.

    Rows come back in plan order (latency ops first as planned, then the others)."""
    if cfg.processes <= 1:
        return measure(cfg, impls, on_step)
    started = time.perf_counter()
    latency_ops = tuple(o for o in cfg.ops if o in LATENCY_OPS)
    other_ops = tuple(o for o in cfg.ops if o not in LATENCY_OPS)
    latency: list[Measured] = []
    if latency_ops:
        child = replace(cfg, ops=latency_ops, repeats=share(cfg.repeats, cfg.processes), processes=1)
        latency = merge([measure_one(child, impls) for _ in range(cfg.processes)])
    others: list[Measured] = []
    if other_ops:
        others = measure(replace(cfg, ops=other_ops, processes=1), impls, on_step)[0]
    by_key = {m.key: m for m in latency + others}
    return [by_key[key] for key in plan(cfg)], time.perf_counter() - started

"""Which way is better, per metric (docs/workflow.md, "Comparing runs", lists these rules).

"higher": more is better (throughput); "lower": less is better (latency, memory held, every
safety counter); "neutral": reported, never a regression (work done, configuration, counts
that follow from the plan). The first matching pattern wins.
"""

from __future__ import annotations

import fnmatch
from typing import Literal

Direction = Literal["higher", "lower", "neutral"]

RULES: tuple[tuple[str, Direction], ...] = (
    ("throughput.ops_per_s", "higher"),
    ("roles.*.ops_per_s", "higher"),
    ("latency.timer_overhead_ns", "neutral"),  # the machine's clock, not the glue
    ("latency.*.count", "neutral"),
    # a block's lifetime (alloc to free) follows the queues' depth and the grace period: the
    # scenario's shape, not the glue's speed
    ("latency.lifetime.*", "neutral"),
    ("roles.*.latency.lifetime.*", "neutral"),
    ("roles.*.latency.*.count", "neutral"),
    ("latency.*_ns", "lower"),
    ("roles.*.latency.*_ns", "lower"),
    ("roles.*.min_age_at_free_ns", "neutral"),
    ("unreclaimed.*", "lower"),
    ("workers.peak_rss_bytes", "lower"),
    ("blocks.leaked", "lower"),
    ("bytes.leaked", "lower"),
    ("leak.*", "lower"),
    ("canary.failures", "lower"),
    ("handoff.doubles", "lower"),
    ("alloc.failed", "lower"),
    ("contract.violations", "lower"),
    ("contract.stats_mismatch", "lower"),
    ("engine.invariant_violations", "lower"),
    ("workers.failed", "lower"),
    ("replicas.incomplete", "lower"),
)

# Lower-is-better counters where any rise from zero is a regression whatever the bound: a
# leak or a corrupted block is never noise.
SAFETY = ("blocks.leaked", "bytes.leaked", "leak.*", "canary.failures", "handoff.doubles", "alloc.failed",
          "contract.violations", "contract.stats_mismatch", "engine.invariant_violations", "workers.failed", "replicas.incomplete")


def direction(metric: str) -> Direction:
    for pattern, way in RULES:
        if fnmatch.fnmatchcase(metric, pattern):
            return way
    return "neutral"


def is_safety(metric: str) -> bool:
    return any(fnmatch.fnmatchcase(metric, p) for p in SAFETY)

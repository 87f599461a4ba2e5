"""The built-in safety checks: invariants every run is held to, with or without [thresholds].

A scenario that forgets to ask for `blocks.leaked == 0` must not pass a leaking glue. Each check
is a threshold expression over the run's metrics, with a name; a scenario may turn one off only
by naming it in `checks.skip` (reported as skipped, never silently). docs/scenarios.md lists them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from stresskit.thresholds import ThresholdResult, evaluate, parse


@dataclass(frozen=True)
class BuiltinCheck:
    name: str
    expression: str
    why: str  # shown when it fails: what it means for the glue
    only_with_oom: bool = False  # applies only to scenarios with an oom role


BUILTIN_CHECKS: tuple[BuiltinCheck, ...] = (
    BuiltinCheck("did_work", "ops.total > 0", "the run did no measured work, so it proves nothing"),
    BuiltinCheck("no_leak", "blocks.leaked == 0", "blocks the engine allocated were never freed"),
    BuiltinCheck("no_glue_leak", "leak.mimalloc_blocks == 0",
                 "mimalloc still holds blocks the engine freed through the glue: a free that never reached mimalloc"),
    BuiltinCheck("no_corruption", "canary.failures == 0", "a block's header or fill pattern was damaged"),
    BuiltinCheck("no_double_handoff", "handoff.doubles == 0", "a block was handed off or freed twice"),
    BuiltinCheck("no_unexpected_null", "alloc.failed == 0", "an allocation returned NULL outside an oom role"),
    BuiltinCheck("contract", "contract.violations == 0",
                 "the glue broke its contract (alignment, usable size, calloc zeroing, errno, size 0, overflow)"),
    BuiltinCheck("glue_books", "contract.stats_mismatch == 0",
                 "the glue's statistics disagree with what the engine did, or a reset left a counter"),
    BuiltinCheck("engine_invariants", "engine.invariant_violations == 0",
                 "stresskit's engine broke one of its own invariants (the report's workers[i].invariants names which): "
                 "its verdict on the glue cannot be trusted; please report it"),
    BuiltinCheck("bounded_rss", "workers.peak_rss_bytes <= memory.rss_budget_bytes",
                 "a worker's peak RSS passed what the plan can hold at once: memory the glue never gave back"),
    BuiltinCheck("oom_bound", "oom.bound_reached == true",
                 "the memory bound was never reached, so the out-of-memory path was not tested", only_with_oom=True),
)
NAMES = tuple(c.name for c in BUILTIN_CHECKS)

# Metrics a check may need that a run legitimately does not produce; the check is then reported
# as not applicable (skipped, with the reason) rather than failed: no RSS figure from a worker, or
# no mimalloc view because a role thread's OS thread had not ended within 10 s of its join.
_OPTIONAL = {"bounded_rss": ("memory.rss_budget_bytes", "workers.peak_rss_bytes"), "no_glue_leak": ("leak.mimalloc_blocks",)}


def applicable(has_oom: bool) -> list[BuiltinCheck]:
    return [c for c in BUILTIN_CHECKS if has_oom or not c.only_with_oom]


def evaluate_builtin(metrics: Mapping[str, object], has_oom: bool, skip: Iterable[str] = ()) -> list[ThresholdResult]:
    skip = set(skip)
    out = []
    for check in applicable(has_oom):
        base = ThresholdResult(check.expression, None, True, name=check.name, builtin=True)
        if check.name in skip:
            out.append(replace(base, skipped=True, reason="skipped by checks.skip in the scenario"))
            continue
        missing = [m for m in _OPTIONAL.get(check.name, ()) if metrics.get(m) is None]
        if missing:
            out.append(replace(base, skipped=True, reason=f"not applicable: {missing[0]} was not produced"))
            continue
        result = evaluate(parse(check.expression), dict(metrics))
        if not result.ok and not result.reason:
            result = replace(result, reason=check.why)
        out.append(replace(result, name=check.name, builtin=True))
    return out

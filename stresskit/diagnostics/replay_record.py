"""What every replica records so that `stresskit replay` can rerun it (docs/diagnostics.md,
Replay): ``workers[i].replay`` (seed, the whole ReplicaPlan, the test hooks in force, the failure
signature); the library it ran with is the report's ``environment.native``
(stresskit/report/environment.py). session.py calls ``record`` per replica.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from stresskit.plan import ReplicaPlan
from stresskit.plan_codec import plan_to_dict
from stresskit.runner.records import WorkerRecord
from stresskit.thresholds import NOT_PRODUCED, ThresholdResult

# Environment variables that change what a worker does: the engine's and the worker's test hooks
# (a planted failure must replay) and mimalloc's options (read when the library loads).
HOOK_VARIABLES = ("STRESSKIT_TEST_ENGINE_HOOKS", "STRESSKIT_TEST_CRASH")
MIMALLOC_PREFIX = "MIMALLOC_"
NATIVE_ENV = "STRESSKIT_NATIVE_LIB"

def recordable(name: str) -> bool:
    return name in HOOK_VARIABLES or name.startswith(MIMALLOC_PREFIX)


def test_environment() -> dict[str, str]:
    return {k: v for k, v in sorted(os.environ.items()) if recordable(k)}



def failed_names(thresholds: Sequence[ThresholdResult]) -> list[str]:
    """What failed on a value. A check over a metric the replica never produced (it crashed, it
    was killed) is left out: the worker's status and signal already say why, and the list of
    every check would hide it."""
    return sorted(t.name if t.builtin else t.expression for t in thresholds if not t.ok and not t.reason.endswith(NOT_PRODUCED))


def signature(status: str, thresholds: Sequence[ThresholdResult], rec: WorkerRecord) -> dict[str, Any]:
    """What makes two failures the same: the verdict, what failed, how the worker ended."""
    return {"status": status, "failed": failed_names(thresholds), "worker_status": rec.status,
            "stop_reason": rec.result.stop_reason if rec.result is not None else None, "signal": rec.signal}


def record(plan: ReplicaPlan, rec: WorkerRecord, thresholds: Sequence[ThresholdResult]) -> dict[str, Any]:
    """``workers[i].replay``: ``thresholds`` are the scenario's checks over this replica alone."""
    from stresskit.report.json_report import status_of

    return {"seed": plan.seed, "plan": plan_to_dict(plan), "environment": test_environment(),
            "signature": signature(status_of([rec], thresholds, False), thresholds, rec)}

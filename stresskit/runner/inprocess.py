"""Replicas run in this process, one after another (``stresskit.run(..., isolate=False)``).

The same engine call a worker makes (stresskit.engine.run_replica: role threads calling the
native engine with the GIL released), without the worker process around it: a run costs
milliseconds instead of a process start, which is what Hypothesis needs to shrink a failing
scenario through hundreds of runs. It returns the Supervisor's WorkerRecords, so the metrics,
checks, thresholds and report that judge it are the same code (stresskit/session.py).

What is lost without a process around the replica (docs/workflow.md, "In-process runs"):
no crash containment (a glue that crashes kills the caller), no RSS budget and no OOM bound
(both process-wide: scenarios with an ``oom`` role are refused by ``refusal``), peak RSS and
CPU time are the whole process's. The engine's own deadline and watchdog still stop a stuck
replica, and its drain frees every block the run allocated.
"""

from __future__ import annotations

import os
import resource
import threading
import time
import traceback
from collections.abc import Callable, Sequence

from stresskit.plan import ReplicaPlan
from stresskit.runner.records import WorkerRecord
from stresskit.runner.worker import peak_rss_bytes

EventFn = Callable[[str, WorkerRecord], None]
PROGRESS_INTERVAL_S = 0.2


def refusal(plans: Sequence[ReplicaPlan], profile: bool) -> str | None:
    """Why these replicas cannot run in this process, as the end of a one-line message, or None."""
    oom = sorted({r.name for p in plans for r in p.roles if r.action == "oom"})
    if oom:
        return (f"role {oom[0]!r} has action \"oom\": its memory bound is process-wide in mimalloc and would "
                "bound the caller too; run it isolated (isolate=True)")
    if profile:
        return "profile: py-spy attaches to a worker process; run it isolated (isolate=True)"
    return None


class InProcess:
    """Runs each replica in turn in this process; the interface stresskit.session uses of the
    Supervisor (``run()``, ``problems``, ``start_failures``)."""

    def __init__(self, plans: Sequence[ReplicaPlan], on_event: EventFn | None = None) -> None:
        self.plans = list(plans)
        self.on_event = on_event or (lambda kind, rec: None)
        self.problems: list[str] = []
        self.start_failures: list[str] = []

    def run(self) -> list[WorkerRecord]:
        return [self._one(plan) for plan in self.plans]

    def _one(self, plan: ReplicaPlan) -> WorkerRecord:
        from stresskit.engine import run_replica

        rec = WorkerRecord(replica=plan.replica, status="ok", pid=os.getpid())
        self.on_event("started", rec)
        last = [0.0]

        def progress(done: int, target: int) -> None:
            now = time.monotonic()
            if now - last[0] < PROGRESS_INTERVAL_S:
                return
            last[0] = now
            rec.progress = {"ops": done, **({"fraction": min(1.0, done / target)} if target else {})}
            self.on_event("progress", rec)

        before, began = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        try:
            rec.result = run_replica(plan, progress=progress, stop_event=threading.Event())
            if rec.result.stop_reason == "stalled":
                rec.status, rec.error = "stalled", "a role made no progress; stopped by the watchdog"
        except (KeyboardInterrupt, SystemExit):
            raise  # the engine has stopped and joined its threads; the caller owns Ctrl-C
        except Exception as exc:  # noqa: BLE001 - reported as the replica's error, as a worker's would be
            rec.status = "failed"
            rec.error = "the replica raised " + "".join(traceback.format_exception_only(type(exc), exc)).strip()
        after = resource.getrusage(resource.RUSAGE_SELF)
        rec.elapsed_s = time.monotonic() - began
        rec.cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        rec.peak_rss_bytes = peak_rss_bytes()  # the whole process's, the caller included
        self.on_event("finished", rec)
        return rec

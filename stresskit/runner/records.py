"""What the runner knows about each worker process once it is over (runner -> collector/report)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from stresskit.results import ReplicaResult

WorkerStatus = Literal["ok", "failed", "crashed", "timeout", "stalled", "over_budget", "interrupted", "not_started"]


@dataclass
class WorkerRecord:
    replica: int
    status: WorkerStatus = "not_started"
    pid: int | None = None
    exitcode: int | None = None  # the process's exit status when it exited
    signal: str | None = None  # e.g. "SIGKILL" when a signal ended it
    error: str = ""  # why it did not deliver a result (Python exception in the worker, deadline...)
    peak_rss_bytes: int | None = None  # getrusage in the worker, else the last /proc VmHWM sample
    cpu_s: float | None = None  # user + system CPU time of the worker during the replica
    elapsed_s: float = 0.0  # wall time of the replica inside the worker (start-up excluded when known)
    result: ReplicaResult | None = None
    progress: dict[str, float] = field(default_factory=dict)  # last progress message, for display
    # What the supervisor found out (stresskit/diagnostics/): "stall", "crash"
    diagnostics: dict[str, Any] = field(default_factory=dict)
    # Where it ran when not on this machine (stresskit/executors/dask.py): the Dask workers'
    # addresses it was given to, in order (more than one: a worker died and it was retried).
    executor_workers: list[str] = field(default_factory=list)
    attempts: int = 1  # how many times it was given to an executor's worker (a dead one's task is retried once)

    @property
    def cpu_utilisation(self) -> float | None:
        """CPU seconds per wall second: above 1 means more than one core was busy."""
        if self.cpu_s is None or self.elapsed_s <= 0:
            return None
        return self.cpu_s / self.elapsed_s

    def to_json(self) -> dict[str, object]:
        return {
            "replica": self.replica,
            "pid": self.pid,
            "status": self.status,
            "exitcode": self.exitcode,
            "signal": self.signal,
            "error": self.error,
            "peak_rss_bytes": self.peak_rss_bytes,
            "cpu_s": self.cpu_s,
            "cpu_utilisation": self.cpu_utilisation,
            "elapsed_s": self.elapsed_s,
            **({"dask": {"worker": self.executor_workers[-1], "attempts": self.attempts,
                         "workers": list(self.executor_workers)}} if self.executor_workers else {}),
        }

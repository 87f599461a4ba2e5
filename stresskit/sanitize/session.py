"""One `stresskit run --sanitize KIND`: the sanitized library, the workers' environment, their
plans loosened for a sanitizer's cost, and the sanitizer's reports turned into diagnoses.

The supervisor (stresskit/runner/pool.py) calls worker_env() before it starts a worker and
collect() once the worker is over; stresskit/session.py calls adapt() and judge().
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stresskit.sanitize import reports, runtime
from stresskit.sanitize.build import VALGRIND, SanitizedLibrary

if TYPE_CHECKING:
    from stresskit.plan import ReplicaPlan
    from stresskit.runner.records import WorkerRecord
    from stresskit.thresholds import ThresholdResult

# A sanitized worker runs 2-20x slower and its RSS includes shadow memory and (ASAN) a quarantine
# of freed memory: deadlines and RSS budgets are scaled, and thresholds on speed or RSS are not
# judged (they would measure the sanitizer, not the glue).
DEADLINE_FACTOR = {"address": 20.0, "thread": 20.0, "undefined": 20.0, "memcheck": 100.0}
RSS_FACTOR = {"address": 4.0, "thread": 6.0, "undefined": 1.5, "memcheck": 3.0}
RSS_SLACK = 512 << 20
SPEED_AND_RSS = ("throughput.", "cpu.", "workers.peak_rss_bytes", "elapsed.")
UNJUDGED_CHECKS = ("bounded_rss",)
# mimalloc pads every block when it tracks for ASAN (MI_PADDING is forced on), so fewer requested
# bytes fit an oom role's bound: the bound still holds, the bytes before the first NULL shrink.
PADDED = {"address": ("oom.bytes_before_null",), "memcheck": ("oom.bytes_before_null",)}


def unjudged(kind: str, metric: str) -> str | None:
    """Why a threshold on ``metric`` is not judged under ``kind``, or None."""
    if metric.startswith(SPEED_AND_RSS) or (metric.startswith("latency.") and metric.endswith("_ns")):
        return f"not judged under --sanitize {kind}: it measures the sanitizer's cost"
    if metric in PADDED.get(kind, ()):
        return f"not judged under --sanitize {kind}: mimalloc pads every block for the sanitizer"
    return None


@dataclass
class SanitizedRun:
    built: SanitizedLibrary
    log_dir: Path

    @classmethod
    def start(cls, built: SanitizedLibrary) -> SanitizedRun:
        return cls(built, Path(tempfile.mkdtemp(prefix=f"stresskit-{built.kind}-san-")))

    @property
    def kind(self) -> str:
        return self.built.kind

    def executable(self, plan: ReplicaPlan) -> Path | None:
        """What the worker's process runs instead of this interpreter (valgrind), or None."""
        if self.kind not in VALGRIND:
            return None
        return runtime.valgrind_wrapper(self.built.runtime, self.log_dir, plan.replica)

    def worker_env(self, plan: ReplicaPlan) -> dict[str, str]:
        return runtime.worker_env(self.kind, self.built.library, self.built.runtime, self.log_dir, plan.replica)

    def adapt(self, plans: Sequence[ReplicaPlan]) -> list[ReplicaPlan]:
        out = []
        for p in plans:
            budget = None if p.rss_budget_bytes is None else int(p.rss_budget_bytes * RSS_FACTOR[self.kind]) + RSS_SLACK
            out.append(dataclasses.replace(p, deadline_s=p.deadline_s * DEADLINE_FACTOR[self.kind], rss_budget_bytes=budget))
        return out

    def judge(self, thresholds: Sequence[ThresholdResult]) -> list[ThresholdResult]:
        from stresskit.thresholds import parse

        out = []
        for t in thresholds:
            if t.builtin:
                why = unjudged(self.kind, "workers.peak_rss_bytes") if t.name in UNJUDGED_CHECKS else None
            else:
                why = next((w for m in parse(t.expression).metrics if (w := unjudged(self.kind, m))), None)
            if why is not None:
                t = dataclasses.replace(t, ok=True, skipped=True, reason=why)
            out.append(t)
        return out

    def collect(self, rec: WorkerRecord) -> None:
        """Read the worker's sanitizer log(s); a report makes the replica fail with its diagnosis."""
        pattern = f"{runtime.log_prefix(self.log_dir, rec.replica).name}.{rec.pid if rec.pid else '*'}"
        diag = reports.diagnose(self.kind, sorted(self.log_dir.glob(pattern)), self.built.sources)
        if diag is None:
            return
        rec.diagnostics["sanitizer"] = diag
        if rec.status != "ok":  # it halted on the report: say so instead of "crashed"
            how = f"killed by {rec.signal}" if rec.signal else f"exit {rec.exitcode}"
            rec.error = f"stopped by {reports.summary_lines(diag)[0]} ({how})"
